"""docs/methods.md split into its language sections and topics, each with a stable anchor.

Pure text handling (no Dash), so the anchors other pages link to are tested without a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from portal.settings import PROJECT_ROOT

METHODS_FILE = PROJECT_ROOT / "docs" / "methods.md"
ANCHORS: dict[str, tuple[str, ...]] = {
    "interval": ("konfidensintervall", "interval"),
    "achievement": ("måloppnåelse", "achievement"),
    "coverage": ("dekningsgrad", "coverage"),
    "oe-ratio": ("observert og forventet", "observed/expected"),
    "risk-standardised": ("risikostandardisert", "risk-standardised"),
    "funnel": ("trakt", "funnel"),
    "suppression": ("prikking", "suppression"),
}
"""The anchors other pages link to, and the words of the headings that carry them. A
heading may also name its anchor itself, as `### Title {#anchor}`."""
EXPLICIT_ANCHOR = re.compile(r"\s*\{#([a-z0-9-]+)\}\s*$")


@dataclass(frozen=True)
class Topic:
    anchor: str
    title: str
    body: str


@dataclass(frozen=True)
class MethodsText:
    nb: tuple[Topic, ...]
    en: tuple[Topic, ...]
    developers_title: str
    developers: str


@cache
def methods_text(path: Path, _modified: int) -> MethodsText:
    """The file split into its language sections and topics (cached per modification time)."""
    sections: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            current = _section_kind(title)
            titles[current] = title
            sections[current] = []
        elif current:
            sections[current].append(line)
    return MethodsText(
        nb=_topics(sections.get("nb", [])),
        en=_topics(sections.get("en", [])),
        developers_title=titles.get("developers", ""),
        developers="\n".join(sections.get("developers", [])).strip(),
    )


def _section_kind(title: str) -> str:
    lowered = title.lower()
    if "bokmål" in lowered or "norsk" in lowered:
        return "nb"
    if lowered.startswith("english"):
        return "en"
    return "developers"


def _topics(lines: list[str]) -> tuple[Topic, ...]:
    topics: list[Topic] = []
    title: str | None = None
    body: list[str] = []
    used: set[str] = set()

    def close() -> None:
        if title is not None:
            anchor = _anchor(title, used)
            used.add(anchor)
            clean = EXPLICIT_ANCHOR.sub("", title)
            topics.append(Topic(anchor, clean, "\n".join(body).strip()))

    for line in lines:
        if line.startswith("### "):
            close()
            title, body = line[4:].strip(), []
        elif title is not None:
            body.append(line)
    close()
    return tuple(topics)


def _anchor(title: str, used: set[str]) -> str:
    explicit = EXPLICIT_ANCHOR.search(title)
    if explicit:
        return explicit.group(1)
    lowered = title.lower()
    for anchor, words in ANCHORS.items():
        if anchor not in used and any(word in lowered for word in words):
            return anchor
    slug = re.sub(
        r"[^a-z0-9]+", "-", lowered.replace("å", "a").replace("ø", "o").replace("æ", "ae")
    )
    return f"methods-{slug.strip('-')}"
