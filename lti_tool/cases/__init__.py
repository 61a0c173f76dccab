"""Cases of suspected AI misuse (the policy's "Misuse of AI" section), split by step.

Raising and disclosure (:mod:`.raising`), evidence (:mod:`.evidence`), authenticity checks
(:mod:`.checks`), the learner's answer (:mod:`.answers`), decisions (:mod:`.decisions`),
letters (:mod:`.letters`), the stage ledger (:mod:`.ledger`, :mod:`.standing`) and the
case's record (:mod:`.records`), on shared rules (:mod:`.access`, :mod:`.events`,
:mod:`.errors`) and models (:mod:`.models`; the tables keep their ``incident_*`` names).
Imports point one way: views -> these steps -> models, ``lti/``, ``outbox/`` and
``gradesync`` (which owns the gradebook's wording).
"""
