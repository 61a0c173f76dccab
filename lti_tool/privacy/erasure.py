"""A learner's request to erase their data, as an administrator carries it out.

Everything about them is checked against the legal holds and the schedule: what a hold
keeps stays, and so do the kinds of record the schedule keeps for their full period even on
request (``RETENTION_KEPT_ON_ERASURE``: upheld cases and cases reported to an awarding body,
needed for the awarding body and for legal claims). The rest is erased now; their name and
email are removed too once nothing kept needs them. The learner is emailed (through the
outbox) what was erased and what was kept, and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from lti_tool.audit import service as audit
from lti_tool.dbtypes import utcnow
from lti_tool.extensions import db
from lti_tool.people.models import Person
from lti_tool.privacy import retention, schedule
from lti_tool.privacy.models import ErasureRequest

PROFILE = "Your name, email address and Moodle user id"


@dataclass(frozen=True)
class Kept:
    what: str
    why: str


@dataclass(frozen=True)
class Plan:
    erase: list[retention.Candidate]
    keep: list[tuple[retention.Candidate, str]]
    profile_kept: bool

    def erased_lines(self) -> list[str]:
        return _group(self.erase)

    def kept_lines(self) -> list[Kept]:
        lines: dict[str, Kept] = {}
        for candidate, why in self.keep:
            label = schedule.RULES_BY_KEY[candidate.record_type].label
            key = f"{label}|{why}"
            lines.setdefault(key, Kept(label, why))
        if self.profile_kept:
            lines[PROFILE] = Kept(PROFILE, "The records kept above name you, so your name "
                                  "stays with them; it is removed when they are.")
        return list(lines.values())


def _group(candidates: list[retention.Candidate]) -> list[str]:
    counts: dict[str, int] = {}
    for c in candidates:
        label = schedule.RULES_BY_KEY[c.record_type].label
        counts[label] = counts.get(label, 0) + len(c.record_ids)
    return [f"{label} ({n})" for label, n in counts.items()]


def plan(person: Person) -> Plan:
    """What an erasure of ``person`` would erase now, and what it would keep and why."""
    now = utcnow()
    keep_kinds = schedule.kept_on_erasure()
    erase: list[retention.Candidate] = []
    keep: list[tuple[retention.Candidate, str]] = []
    for candidate in retention.candidates(now, person_id=person.id, everything=True):
        if candidate.held:
            keep.append((candidate, "Held: " + "; ".join(candidate.held_by) + "."))
        elif candidate.record_type in keep_kinds and candidate.due_at > now:
            keep.append((candidate, f"Kept until {candidate.due_at:%d %B %Y} under the "
                         "retention schedule: the centre must keep it for the awarding body "
                         "and in case of a legal claim."))
        else:
            erase.append(candidate)
    # Records about other people that name this person as the one who acted (a staff
    # member's cases) are not theirs to erase, and keep the name with them.
    return Plan(erase, keep,
                profile_kept=bool(keep) or retention.still_needed_as_actor(person.id))


def carry_out(person: Person, actor: Person, received_on: date) -> ErasureRequest:
    """Erase what :func:`plan` says (flushes; the caller commits), record the request and
    email the learner what was kept and why."""
    from lti_tool.notifications.service import send_email

    chosen = plan(person)
    address, given = person.email, person.given_name or person.display_name
    for candidate in chosen.erase:
        retention.dispose(candidate, rule="erasure")
    if not chosen.profile_kept and not retention.still_needed(person.id):
        retention.anonymise(person, rule="erasure")
    erased = chosen.erased_lines() + ([] if chosen.profile_kept else [PROFILE])
    kept = chosen.kept_lines()
    request = ErasureRequest(platform_id=person.platform_id, person_id=person.id,
                             received_on=received_on, handled_by_id=actor.id,
                             erased=json.dumps(erased),
                             kept=json.dumps([{"what": k.what, "why": k.why} for k in kept]))
    message = send_email(address, "Your request to erase your data in AIU", "erasure_done",
                         platform_id=person.platform_id, given_name=given, erased=erased,
                         kept=kept, received_on=received_on)
    request.emailed = message is not None
    db.session.add(request)
    db.session.flush()
    audit.record(f"person:{actor.id}", "privacy.erasure", "person", person.id,
                 {"erasure_request_id": request.id, "erased": len(chosen.erase),
                  "kept": len(chosen.keep), "profile_kept": chosen.profile_kept})
    return request
