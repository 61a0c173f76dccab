"""Errors the case steps raise: a rule broken by the input, a step no longer possible, a
refused link, a conflict of interest."""

from __future__ import annotations

from flask_babel import gettext, lazy_gettext

from lti_tool.lti.exceptions import ToolError


class IncidentError(ValueError):
    """The input breaks a rule; ``field`` names the form field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class IncidentConflict(ToolError):
    """The step is no longer possible (already decided, already answered...)."""

    status = 409
    title = lazy_gettext("This has changed since you opened the page")


class StageChanged(IncidentConflict):
    """Another upheld incident was recorded for the learner meanwhile: the stage the marker
    saw is no longer the one this decision would give."""

    def __init__(self, stage: int) -> None:
        super().__init__("stage_changed", gettext(
            "Another marker has just recorded a decision for this learner, so upholding this "
            "incident would now give Stage %(stage)s. Reload the page, check, and decide again.",
            stage=stage))
        self.stage = stage


class LinkRefused(ToolError):
    """An answer link that is unknown, used, expired or not this person's."""

    title = lazy_gettext("This link cannot be used")


class ConflictOfInterest(ToolError):
    """The person may not take this part in the case (see :func:`conflict_of_interest`)."""

    status = 403
    title = lazy_gettext("You cannot act on this case")
