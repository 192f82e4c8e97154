"""How people name topics and urgent matters: topics are numbered 1, 2, 3… and urgent
matters K1, K2, K3… (K for khẩn), each kind counted on its own, so the month's topics
have no gaps where urgent matters came between them. On Zalo, where there is no reply and
no button, the tag is what people type: "#3 …" or "#K2 đã nhận" in a group, "báo cáo 3"
to the bot. The tag is also the deep link's payload on Telegram ("r3", "rK2")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.models import Topic, TopicKind

URGENT_PREFIX = "K"
TAG = re.compile(r"^#?\s*(k)?\s*([0-9]{1,9})$", re.IGNORECASE)
# A link to a topic's report form: "r3" / "rK2"; links sent before tags held the topic's id.
REPORT_PAYLOAD = re.compile(r"^(?:r(K?[0-9]{1,9})|report_([0-9]{1,12}))$")


@dataclass(frozen=True)
class Tag:
    urgent: bool
    number: int

    def __str__(self) -> str:
        return f"{URGENT_PREFIX}{self.number}" if self.urgent else str(self.number)

    @property
    def kind(self) -> TopicKind:
        return TopicKind.URGENT if self.urgent else TopicKind.MONTHLY


def tag_of(topic: Topic) -> Tag:
    return Tag(urgent=topic.kind == TopicKind.URGENT, number=topic.number)


def parse_tag(text: str) -> Tag | None:
    """ "3", "#3", "K2", "#k2", "# K 2" → a tag; anything else None."""
    match = TAG.match(text.strip())
    if match is None:
        return None
    return Tag(urgent=match.group(1) is not None, number=int(match.group(2)))


def report_payload(topic: Topic) -> str:
    return f"r{tag_of(topic)}"


@dataclass(frozen=True)
class ReportLink:
    """What a report link names: a tag, or (links sent before tags) a topic's id."""

    tag: Tag | None = None
    topic_id: int | None = None


def read_report_payload(payload: str) -> ReportLink | None:
    match = REPORT_PAYLOAD.match(payload)
    if match is None:
        return None
    if match.group(1) is not None:
        return ReportLink(tag=parse_tag(match.group(1)))
    return ReportLink(topic_id=int(match.group(2)))
