"""Incidents of suspected AI misuse: evidence, authenticity checks, the learner's answer, the
marker's decision and the learner's stage across the whole platform (the policy's
"Misuse of AI" section)."""
