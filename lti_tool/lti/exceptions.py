"""Errors raised while talking LTI, each with a reason code for the log and a message a
person can act on. :mod:`lti_tool.errors` turns them into 4xx pages or JSON."""

from __future__ import annotations

from flask_babel import lazy_gettext


class ToolError(Exception):
    """A refusal the user should see in plain English.

    ``reason`` is a short stable code written to the log (never the token itself).
    """

    status = 400
    title = lazy_gettext("Something went wrong")

    def __init__(self, reason: str, message: str, *, status: int | None = None,
                 title: str | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title


class LaunchError(ToolError):
    """A login or launch from a platform was refused."""

    title = lazy_gettext("This launch could not be completed")


class RegistrationError(ToolError):
    """Dynamic Registration could not be completed."""

    title = lazy_gettext("Registration could not be completed")


class AccessDenied(ToolError):
    status = 403
    title = lazy_gettext("You can't open this page")


class ServiceError(ToolError):
    """A call to a platform service (token, AGS, NRPS) failed."""

    status = 502
    title = lazy_gettext("Moodle did not answer as expected")


# Messages shared by several checks.
EXPIRED = lazy_gettext("This launch has expired. Reload the page in Moodle to start again.")
NOT_REGISTERED = lazy_gettext(
    "This Moodle site is not registered with the tool. Ask your Moodle administrator to "
    "register it (Site administration > Plugins > External tool > Manage tools)."
)
