"""Deterministic Batch data: N profiles and a clock of events, generated on demand.

Profile i is a pure function of i. The events of an hour are a pure function of the absolute hour
(hours since the Unix epoch), so the same hour yields the same events whichever day the simulator
starts, and an export of [from, to) holds exactly the events stamped inside it. Events added by a
test live in a small overlay. Row shapes are this simulator's reading of seed 002 and vendor-apis.md
2.2; Batch does not document the file rows (2.8), so values a profile lacks are omitted, not null.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

Row = Dict[str, Any]

# The 19 native attributes of seed 002, in its order.
NATIVE_ATTRIBUTES = (
    "$city", "$creation_date", "$email_address", "$email_marketing", "$language", "$last_activity",
    "$last_email_marketing_click", "$last_email_marketing_open", "$last_email_transactional_click",
    "$last_email_transactional_open", "$last_visit_date", "$phone_number", "$region", "$sms_marketing",
    "$timezone", "$push_subscriptions", "$install_date", "$email_open_tracking_consent", "$topic_preferences",
)
# Project-specific attributes of several JSON types; exported only when named (vendor-apis.md 2.2).
CUSTOM_ATTRIBUTES = ("plan", "visit_count", "lifetime_value", "beta_tester", "interests")
# The identifier enums differ by export type (vendor-apis.md 2.7.1).
ATTRIBUTE_IDENTIFIERS = ("custom_id", "installation_ids")
EVENT_IDENTIFIERS = ("custom_id", "installation_id")
EVENT_KINDS = (
    "email_bounced", "email_click", "email_delivered", "email_open", "email_sent", "email_spam_complaint",
    "email_unsubscribed", "sms_sent", "sms_bounced", "sms_delivered", "sms_unsubscribed", "push_sent",
    "push_bounced", "push_open",
)

_LOCALES = [("fr", "FR", "Europe/Paris"), ("en", "US", "America/New_York"), ("de", "DE", "Europe/Berlin"),
            ("ja", "JP", "Asia/Tokyo"), ("pt", "BR", "America/Sao_Paulo")]
_CITIES = ["Paris", "New York", "Berlin", "東京", "São Paulo", "Saint-Étienne"]
_TOPICS = ["news", "offers", "product_updates", "events"]
_PLANS = ["free", "pro", "enterprise"]
_EPOCH = datetime(2022, 1, 1, tzinfo=timezone.utc)


def _digest(*parts: Any) -> str:
    return hashlib.md5(":".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def _number(*parts: Any) -> int:
    return int(_digest(*parts)[:12], 16)


def _uuid(*parts: Any) -> str:
    h = _digest(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def rfc3339(moment: datetime) -> str:
    """UTC, whole seconds, `Z` (seed 002: `2024-02-28T16:28:42Z`)."""
    return moment.astimezone(timezone.utc).isoformat()[:19] + "Z"  # isoformat: 4x faster than strftime


@dataclass(frozen=True)
class RawEvent:
    timestamp: datetime  # whole seconds, UTC
    kind: str
    profile: int
    orchestration_id: str
    message_id: str


class BatchDataset:
    def __init__(self, profiles: int = 200, events_per_hour: int = 12) -> None:
        self.profiles = profiles
        self.events_per_hour = events_per_hour
        self._extra_events: List[RawEvent] = []
        self._lock = threading.Lock()

    # -- profiles ---------------------------------------------------------------------------
    def identity(self, i: int) -> Tuple[Optional[str], List[str]]:
        """(custom_id, installation ids); every 7th profile is installation-only (no custom_id)."""
        custom_id = None if i % 7 == 3 else (f"ünï-{i}@example.com" if i % 11 == 0 else f"user-{i:05d}")
        count = i % 3 if custom_id is not None else 1 + i % 2
        return custom_id, [_uuid("installation", i, j) for j in range(count)]

    def attributes(self, i: int, identity: Optional[Tuple[Optional[str], List[str]]] = None) -> Row:
        """Every attribute profile i has; absent ones are simply missing."""
        custom_id, installations = identity or self.identity(i)
        language, region, zone = _LOCALES[i % len(_LOCALES)]
        created = _EPOCH + timedelta(hours=i * 7)
        active = created + timedelta(days=1 + i % 300, seconds=i * 37 % 86_400)
        has_email = i % 9 != 4 and custom_id is not None
        has_phone = i % 4 != 1 and custom_id is not None
        values: Row = {
            "$creation_date": rfc3339(created),
            "$language": language,
            "$last_activity": rfc3339(active),
            "$last_visit_date": rfc3339(active - timedelta(hours=i % 48)),
            "$region": region,
            "$timezone": zone,
            "$topic_preferences": [t for n, t in enumerate(_TOPICS) if (i >> n) & 1],
            "plan": _PLANS[i % len(_PLANS)],
            "visit_count": i * 13 % 500,
            "lifetime_value": round(i * 7.31 % 1000, 2),
            "beta_tester": i % 5 == 0,
        }
        if i % 5:
            values["$city"] = _CITIES[i % len(_CITIES)]
        if i % 8:
            values["interests"] = [_TOPICS[i % 4], _CITIES[i % 3]]
        if has_email:
            values["$email_address"] = f"user{i}@example.com"
            values["$email_marketing"] = "subscribed" if i % 3 else "unsubscribed"
            values["$email_open_tracking_consent"] = "granted" if i % 2 else "denied"
            for name, every in (("$last_email_marketing_click", 4), ("$last_email_marketing_open", 2),
                                ("$last_email_transactional_click", 6), ("$last_email_transactional_open", 3)):
                if i % every == 0:
                    values[name] = rfc3339(active - timedelta(minutes=every * 11))
        if has_phone:
            values["$phone_number"] = f"+336{i:08d}"
            values["$sms_marketing"] = "subscribed" if i % 2 else "unsubscribed"
        if installations:
            values["$install_date"] = rfc3339(created + timedelta(minutes=5))
            values["$push_subscriptions"] = [
                {"installation_id": inst, "platform": ("ios", "android", "web")[(i + j) % 3],
                 "status": "subscribed" if (i + j) % 4 else "unsubscribed"}
                for j, inst in enumerate(installations)
            ]
        return values

    def profile_row(self, i: int, attributes: Optional[Sequence[str]], identifiers: Sequence[str]) -> Row:
        """One ATTRIBUTES export row: the requested identifiers and attributes that profile i has."""
        custom_id, installations = self.identity(i)
        ids: Row = {}
        if "custom_id" in identifiers and custom_id is not None:
            ids["custom_id"] = custom_id
        if "installation_ids" in identifiers:
            ids["installation_ids"] = installations
        values = self.attributes(i, (custom_id, installations))
        wanted = NATIVE_ATTRIBUTES if attributes is None else attributes
        return {"identifiers": ids, "attributes": {name: values[name] for name in wanted if name in values}}

    # -- events -----------------------------------------------------------------------------
    def event(self, hour: int, k: int) -> RawEvent:
        """Event k of an absolute hour; offsets grow with k, so each hour is in time order."""
        n = self.events_per_hour
        key = _number("event", hour, k)
        offset = min(3599, k * 3600 // n + key % max(1, 3600 // n))
        return self._raw(key, datetime.fromtimestamp(hour * 3600 + offset, timezone.utc), f"{hour}:{k}")

    def _raw(self, key: int, moment: datetime, salt: str) -> RawEvent:
        kind = EVENT_KINDS[key % len(EVENT_KINDS)]
        profile = (key >> 8) % max(1, self.profiles)
        if kind.startswith("push_"):
            # A push goes to an installation: move on to the next profile that has one.
            for step in range(self.profiles):
                if self.identity((profile + step) % self.profiles)[1]:
                    profile = (profile + step) % self.profiles
                    break
        orchestration = "orch_" + _digest("orchestration", (key >> 20) % 6)[:20]
        return RawEvent(moment, kind, profile, orchestration, "msg_" + _digest("message", salt)[:24])

    def add_events(self, count: int, at: datetime) -> List[RawEvent]:
        moment = at.astimezone(timezone.utc).replace(microsecond=0)
        with self._lock:
            first = len(self._extra_events)
            added = [self._raw(_number("extra", first + j), moment, f"extra:{first + j}") for j in range(count)]
            self._extra_events.extend(added)
        return added

    def extra_events(self, start: datetime, end: datetime) -> Tuple[RawEvent, ...]:
        with self._lock:
            return tuple(e for e in self._extra_events if start <= e.timestamp < end)

    def event_row(self, event: RawEvent, identifiers: Sequence[str]) -> Row:
        custom_id, installations = self.identity(event.profile)
        ids: Row = {}
        if "custom_id" in identifiers and custom_id is not None:
            ids["custom_id"] = custom_id
        # Only pushes concern an installation; emails and SMS reach the profile.
        if "installation_id" in identifiers and event.kind.startswith("push_") and installations:
            ids["installation_id"] = installations[_number(event.message_id) % len(installations)]
        return {"identifiers": ids, "event": event.kind, "timestamp": rfc3339(event.timestamp),
                "orchestration_id": event.orchestration_id, "message_id": event.message_id}


@dataclass(frozen=True)
class ProfileSnapshot:
    """What an ATTRIBUTES export saw: positions are profile indexes."""

    dataset: BatchDataset
    profiles: int
    attributes: Optional[Tuple[str, ...]]
    identifiers: Tuple[str, ...]

    def rows(self, start: int = 0) -> Iterator[Tuple[int, Row]]:
        for i in range(start, self.profiles):
            yield i, self.dataset.profile_row(i, self.attributes, self.identifiers)


@dataclass(frozen=True)
class EventSnapshot:
    """What an EVENTS export saw: [start, end) with its filters and the added events frozen.

    Positions count the candidate events of every hour touching the window, then the added ones,
    so a file part can resume at any position without generating what precedes it.
    """

    dataset: BatchDataset
    start: datetime
    end: datetime
    kinds: FrozenSet[str]
    identifiers: Tuple[str, ...]
    orchestration_ids: Optional[FrozenSet[str]]
    extras: Tuple[RawEvent, ...]

    def rows(self, start: int = 0) -> Iterator[Tuple[int, Row]]:
        n = self.dataset.events_per_hour
        first_hour = math.floor(self.start.timestamp() / 3600)
        generated = max(0, math.ceil(self.end.timestamp() / 3600) - first_hour) * n
        for position in range(start, generated):
            event = self.dataset.event(first_hour + position // n, position % n)
            if self.start <= event.timestamp < self.end and self._keeps(event):
                yield position, self.dataset.event_row(event, self.identifiers)
        for j in range(max(0, start - generated), len(self.extras)):
            if self._keeps(self.extras[j]):
                yield generated + j, self.dataset.event_row(self.extras[j], self.identifiers)

    def _keeps(self, event: RawEvent) -> bool:
        return event.kind in self.kinds and (self.orchestration_ids is None or event.orchestration_id in self.orchestration_ids)
