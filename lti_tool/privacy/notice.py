"""The privacy notice (``/privacy``), built from the configuration: who the controller is
(``PRIVACY_CONTROLLER``, else ``CENTRE_NAME``), how to reach them (``PRIVACY_CONTACT``,
``PRIVACY_DPO_CONTACT``), and the retention schedule in force."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from lti_tool.privacy import schedule

PURPOSES = (
    "To show you the Learner AI Usage Policy for each assignment and record that you saw it.",
    "To record your AI use declarations and your declaration that submitted work is your own.",
    "To consider your requests to use an AI tool, and record the ALS team's decisions "
    "(these can include information about a disability or a reasonable adjustment).",
    "To handle concerns that AI was misused in an assignment, fairly: the evidence, your "
    "answer, the decision and its reasons, any appeal, and your stage under the policy.",
    "To report to the awarding body ({bodies}) when the policy requires it.",
    "To keep a tamper-evident record of who did what (the audit trail).",
)
LAWFUL_BASES = (
    ("Public task or legitimate interests (UK GDPR Article 6(1)(e) or (f))",
     "running assessments fairly and protecting the integrity of qualifications."),
    ("Legal obligation (Article 6(1)(c))",
     "where an awarding body's rules require the centre to keep or report records."),
    ("Substantial public interest and equality of opportunity (Article 9(2)(g); Data "
     "Protection Act 2018, Schedule 1)",
     "for information about a disability or reasonable adjustment in an AI-tool request."),
)
WHO_SEES = (
    ("You", "everything about you, in the tool and in your data export."),
    ("Your course's staff", "your declarations and the status of your requests, and "
     "incidents about your work in their course; not the reasons you gave the ALS team."),
    ("The ALS team", "AI-tool requests with your reasons, and the report pack for the "
     "awarding body."),
    ("Tool administrators", "what is needed to run the tool, answer data requests and keep "
     "records only as long as the schedule says."),
    ("The awarding body", "a Stage-3 report, only when the policy requires one."),
    ("Moodle", "your declaration grade and its feedback line; nothing else."),
)
RIGHTS = (
    "Get a copy of your data: use \u201cDownload my data\u201d on this page after opening the "
    "tool from Moodle, or ask the contact below (we answer within one month).",
    "Have inaccurate data corrected: a correction is added as a new record, so the history "
    "stays honest.",
    "Ask for your data to be erased: we erase what we are not required to keep, and tell you "
    "what we kept and why.",
    "Object to, or ask us to restrict, how your data is used.",
    "Complain to the Information Commissioner's Office (ico.org.uk, 0303 123 1113).",
)
NEVER_STORED = (
    "Moodle's session key (sesskey) in clear, your Moodle password, or the tokens Moodle "
    "signs launches with.",
    "The body or links of an email once it has been sent (only its subject, your masked "
    "address and the times).",
    "The links emailed to you in clear (only a hash, until the link is used or expires).",
)


@dataclass(frozen=True)
class Notice:
    controller: str
    contact: str
    dpo_contact: str
    extra: str
    purposes: tuple[str, ...]
    lawful_bases: tuple[tuple[str, str], ...]
    who_sees: tuple[tuple[str, str], ...]
    retention: list[schedule.ScheduleLine]
    rights: tuple[str, ...]
    never_stored: tuple[str, ...]


def _awarding_bodies() -> str:
    """The awarding bodies of the policies the tool holds, as the policies name them."""
    from lti_tool.policy import service as policies

    names = list(dict.fromkeys(b.short_name for p in policies.published_policies()
                               for b in p.rules.awarding_bodies))
    if not names:
        names = [b.short_name for b in policies.current_or_bundled().rules.awarding_bodies]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def notice() -> Notice:
    cfg = current_app.config
    contact = (str(cfg.get("PRIVACY_CONTACT") or "") or str(cfg.get("ALS_CONTACT_EMAIL") or "")
               or "your centre's data protection contact")
    return Notice(
        controller=str(cfg.get("PRIVACY_CONTROLLER") or cfg.get("CENTRE_NAME") or "Your centre"),
        contact=contact, dpo_contact=str(cfg.get("PRIVACY_DPO_CONTACT") or ""),
        extra=str(cfg.get("PRIVACY_EXTRA") or ""),
        purposes=tuple(p.format(bodies=_awarding_bodies()) for p in PURPOSES),
        lawful_bases=LAWFUL_BASES, who_sees=WHO_SEES, retention=schedule.describe(),
        rights=RIGHTS, never_stored=NEVER_STORED)
