"""Learners read the tool as the policy: every sentence they see about the rules (the policy
card, the full policy, the comprehension check's reasons, the declaration form's quote) must
be the policy's own words. What is not the policy is marked ``data-not-policy`` (a
teacher's rule for one assignment, the learner's own authorisations, how to reach the ALS
team) and is shown apart from it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from lti_tool.policy import service as policies
from tests.declarations.test_declarations import deep_link
from tests.support.browser import FormBrowser, launch
from tests.support.pages import post_form

POLICY_TEXT = (Path(__file__).resolve().parents[1] / "data" / "policy"
               / "learner-ai-usage-policy-v1.0.txt")
BLOCKS = {"p", "li", "dd", "dt", "blockquote", "td", "th"}
SKIPPED = {"h1", "h2", "h3", "h4", "summary", "legend", "script", "style", "a"}
VOID = {"br", "img", "input", "meta", "link", "hr"}


def normalise(sentence: str) -> str:
    sentence = " ".join(sentence.replace("“", "").replace("”", "").split())
    # The tool ends "including." and "could be." with a colon before the list that follows.
    return re.sub(r"(including|could be):$", r"\1.", sentence)


POLICY = normalise(" ".join(POLICY_TEXT.read_text("utf-8").split()))


class RuleSentences(HTMLParser):
    """The sentences of ``root`` (an element with that class or id), outside elements marked
    data-not-policy, headings, legends and links; one chunk per block element."""

    def __init__(self, root: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = root
        self.stack: list[tuple[str, bool, bool]] = []  # tag, inside root, skipped
        self.chunks: list[str] = []
        self.current: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        inside, skipped = self.stack[-1][1:] if self.stack else (False, False)
        is_root = self.root in a.get("class", "").split() or a.get("id") == self.root
        if tag in BLOCKS:
            self._flush()
        if tag in VOID:
            return
        self.stack.append((tag, inside or is_root,
                           skipped or "data-not-policy" in a or tag in SKIPPED))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        while self.stack:
            top = self.stack.pop()
            if top[0] == tag:
                break
        if tag in BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][1] and not self.stack[-1][2]:
            self.current.append(data)

    def _flush(self) -> None:
        chunk = " ".join("".join(self.current).split())
        if chunk:
            self.chunks.append(chunk)
        self.current = []

    def sentences(self, html: str) -> list[str]:
        self.feed(html)
        self.close()
        self._flush()
        found: list[str] = []
        for chunk in self.chunks:
            chunk = re.sub(r"^\d+\.\s+", "", chunk)  # a question's number
            found += [s for s in re.split(r"(?<=[.:])\s+(?=[A-Z“])", chunk) if s]
        return found


def assert_policy_words(html: str, root: str, *, at_least: int) -> list[str]:
    sentences = RuleSentences(root).sentences(html)
    assert len(sentences) >= at_least, sentences
    for sentence in sentences:
        assert normalise(sentence) in POLICY, f"not the policy's words: {sentence!r}"
    return sentences


@pytest.fixture
def narrowed(registered: Any, moodle: Any) -> Any:
    """An assignment whose teacher allows only one of the policy's permitted uses."""
    with FormBrowser() as teacher:
        return deep_link(teacher, moodle, uses=["planning"])


def test_the_card_quotes_the_policy_and_shows_the_teachers_rule_apart(
        app: Flask, narrowed: Any, moodle: Any, browser: FormBrowser) -> None:
    page = launch(browser, moodle, "learner1", narrowed.id)
    card = page.text.split('class="card policy-card"', 1)[1].split("</section>", 1)[0]
    sentences = assert_policy_words(page.text, "policy-card", at_least=15)
    assert "Permitted uses (examples)" in card and "Prohibited uses (examples)" in card
    assert "AI should only be used before starting your assignment." in sentences
    assert "Sourcing recommendations for wider academic reading." in sentences  # an example
    # Nothing made stricter, nothing invented (both were on the card before issue 11).
    assert "must not be used to write any part" not in page.text
    assert "you may use AI only to" not in page.text
    teacher = card.split("Your teacher's rule for this assignment", 1)[1].split("</div>", 1)[0]
    assert "your teacher allows only this for this assignment: plan the layout" in teacher
    assert "The ALS team can authorise a specific AI tool" in card


def test_the_full_policy_page_renders_every_section(app: Flask, narrowed: Any, moodle: Any,
                                                    browser: FormBrowser) -> None:
    page = launch(browser, moodle, "learner1", narrowed.id)
    full = browser.open(page.url + "/policy")
    assert full.status_code == 200
    sentences = assert_policy_words(full.text, "full-policy", at_least=40)
    for heading in ("Policy Statement", "Policy Purpose", "Scope", "What is AI?",
                    "AI Usage Policy", "Permitted vs Prohibited Use of AI",
                    "Permitted uses (examples)", "Prohibited uses (examples)",
                    "Assessment Integrity and Authenticity", "Misuse of AI"):
        assert f">{heading}</h" in full.text, heading
    data = json.loads(policies.BUNDLED.read_text("utf-8"))
    shown = " ".join(sentences)
    for value in (*data["policy_statement"], *data["purpose"], data["scope"],
                  *data["what_is_ai"], *data["principles"], data["permitted_intro"],
                  *(u["text"] for u in data["permitted_uses"]),
                  *(u["text"] for u in data["prohibited_uses"]), *data["authenticity"],
                  *data["marker_responsibilities"], data["detection"], data["misuse"],
                  *(s["text"] for s in data["stages"])):
        assert " ".join(value.split()) in shown, value


def test_the_comprehension_reasons_and_the_form_quote_the_policy(
        app: Flask, registered: Any, moodle: Any, browser: FormBrowser) -> None:
    with FormBrowser() as teacher:
        form = launch(teacher, moodle, "marker1", message_type="LtiDeepLinkingRequest")
        post_form(teacher, form, {"title": "Checked", "assignment_name": "Unit 2",
                                  "qualification": "CMI", "permitted_uses": ["planning"],
                                  "comprehension_check": "y"})
        activity = moodle.activities[moodle.deep_link_results[-1].activity_ids[0]]
    page = launch(browser, moodle, "learner1", activity.id)
    check = browser.open(page.url + "/check")
    wrong = post_form(browser, check, {"q_spelling_after": "yes", "q_reading_before": "no",
                                       "q_company_data": "yes"})
    quotes = re.findall(r"<li>“([^”]+)”</li>", wrong.text)
    assert len(quotes) >= 4
    for words in quotes:
        assert normalise(words) in POLICY, words
    right = post_form(browser, wrong, {"q_spelling_after": "no", "q_reading_before": "yes",
                                       "q_company_data": "no"})
    (quoted,) = re.findall(r"says: “([^”]+)”", right.text)
    assert normalise(quoted) in POLICY
