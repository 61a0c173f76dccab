"""Deep-linking responses: pylti1p3 builds the message, the tool's key store signs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem

from lti_tool.lti.keys import KeyStore
from lti_tool.platforms.models import Platform


@dataclass(frozen=True)
class LineItemSpec:
    score_maximum: float
    label: str
    resource_id: str = ""
    tag: str = ""
    # Moodle keeps submissionReview only when it arrives in a deep-linking response.
    submission_review: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ResourceLinkItem:
    title: str
    url: str
    custom: Mapping[str, str] | None = None
    line_item: LineItemSpec | None = None


class _Registration:
    """The two things pylti1p3's DeepLink reads from a registration."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    def get_issuer(self) -> str:
        return self._platform.issuer

    def get_client_id(self) -> str:
        return self._platform.client_id


def response_jwt(platform: Platform, deployment_id: str, settings: Mapping[str, Any],
                 items: list[ResourceLinkItem], keys: KeyStore) -> str:
    """The signed ``LtiDeepLinkingResponse`` (``iss`` = client_id, ``aud`` = issuer, ``kid``)."""
    link = DeepLink(_Registration(platform), deployment_id, dict(settings))  # type: ignore[arg-type]
    resources = []
    for item in items:
        resource = DeepLinkResource().set_url(item.url).set_title(item.title)
        if item.custom:
            resource.set_custom_params(dict(item.custom))
        if item.line_item:
            spec = item.line_item
            line_item = LineItem().set_score_maximum(spec.score_maximum).set_label(spec.label)
            if spec.resource_id:
                line_item.set_resource_id(spec.resource_id)
            if spec.tag:
                line_item.set_tag(spec.tag)
            if spec.submission_review:
                line_item.set_submission_review(**_review_kwargs(spec.submission_review))
            resource.set_lineitem(line_item)
        resources.append(resource)
    return keys.sign(link.get_message_jwt(resources))


def _review_kwargs(review: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "reviewable_status": list(review.get("reviewableStatus", [])),
        "label": review.get("label"),
        "url": review.get("url"),
        "custom": review.get("custom"),
    }

