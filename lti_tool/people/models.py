"""People, courses (LTI contexts), placements (resource links) and course roles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lti_tool.dbtypes import UTCDateTime, utcnow
from lti_tool.extensions import db
from lti_tool.platforms.models import Platform


class Person(db.Model):  # type: ignore[name-defined,misc]
    """A platform user, identified by the launch's ``sub`` (Moodle's user id)."""

    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("platform_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    sub: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    given_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    family_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    email: Mapped[str] = mapped_column(String(320), nullable=False, default="")
    username: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    sourcedid: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    is_platform_admin: Mapped[bool] = mapped_column(nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_launch_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    platform: Mapped[Platform] = relationship()

    @property
    def display_name(self) -> str:
        return self.name or " ".join(p for p in (self.given_name, self.family_name) if p) or (
            f"User {self.sub}"
        )

    def __repr__(self) -> str:
        return f"<Person {self.id} sub={self.sub}>"


class Course(db.Model):  # type: ignore[name-defined,misc]
    """An LTI context (a Moodle course)."""

    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), nullable=False)
    context_id: Mapped[str] = mapped_column(String(255), nullable=False)
    label: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    title: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    roster_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    platform: Mapped[Platform] = relationship()

    @property
    def display_name(self) -> str:
        return self.title or self.label or f"Course {self.context_id}"

    def __repr__(self) -> str:
        return f"<Course {self.id} context={self.context_id}>"


class Placement(db.Model):  # type: ignore[name-defined,misc]
    """A resource link: one place the tool sits in a course (a Moodle activity)."""

    __tablename__ = "placement"
    __table_args__ = (UniqueConstraint("course_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), nullable=False)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), nullable=False)
    resource_link_id: Mapped[str] = mapped_column(String(255), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    lineitems_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    lineitem_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    memberships_url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    course: Mapped[Course] = relationship()

    @property
    def display_name(self) -> str:
        """The activity's title: the one set in the tool (its settings) when there is one,
        else Moodle's resource link title (Moodle's placeholder, such as "Sample Tool
        Activity", only when the tool has none)."""
        binding = getattr(self, "binding", None)
        if binding is not None and binding.settings.title:
            return str(binding.settings.title)
        return self.title or f"Activity {self.resource_link_id}"

    def __repr__(self) -> str:
        return f"<Placement {self.id} link={self.resource_link_id}>"


class CourseRole(db.Model):  # type: ignore[name-defined,misc]
    """The role (learner, staff or admin) a person holds in a course as Moodle last said:
    written by their latest launch there, confirmed or ended by a Names and Roles refresh.

    It counts only while current (:func:`lti_tool.people.service.is_current`): not ended by
    a roster that no longer lists the person, and confirmed within
    ``COURSE_ROLE_MAX_AGE_HOURS``.
    """

    __tablename__ = "course_role"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # When Moodle last confirmed the role (a launch in the course, or a roster listing it).
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Set when a roster refresh no longer lists the person (or lists them as inactive).
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:
        return f"<CourseRole person={self.person_id} course={self.course_id} {self.role}>"


class CourseMember(db.Model):  # type: ignore[name-defined,misc]
    """A member of a course as Names and Roles last listed them (a cache, refreshable)."""

    __tablename__ = "course_member"
    __table_args__ = (UniqueConstraint("course_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), nullable=False, index=True)
    sub: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    email: Mapped[str] = mapped_column(String(320), nullable=False, default="")
    roles: Mapped[str] = mapped_column(Text, nullable=False, default="")
    is_learner: Mapped[bool] = mapped_column(nullable=False, default=False)
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"<CourseMember course={self.course_id} sub={self.sub}>"
