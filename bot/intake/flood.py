"""Flood control at the door (issue 18): one person, or one group, cannot slow everyone.

Every update that asks the bot for something (bot/intake/poller.py says which) draws on two
token buckets before it is stored: the sender's and, in a group, the group's. An update that finds either empty is the last one taken for a while:
it is stored and answered with one notice, and its bucket is muted for `mute_seconds`, during
which nothing from that person (or group) is stored or handled at all. So 300 fast messages
make about `burst` rows and answers and one notice, not 300, and the others' answers never
queue behind them.

The buckets live in the process that takes updates in (the poller, or the webhook server):
flood control is about that process's work. Real time (monotonic), not the bot's clock: a
test that freezes the bot's day still floods in real seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

# Idle senders' buckets are forgotten every this many updates (they are full again anyway).
PRUNE_EVERY = 4096
# The verdicts of this many recent updates, for an update that comes again.
REMEMBERED_VERDICTS = 10_000


class FloodScope(StrEnum):
    PERSON = "person"
    CHAT = "chat"


@dataclass
class _Bucket:
    tokens: float
    updated: float
    muted_until: float = 0.0


@dataclass(frozen=True)
class Limit:
    burst: int
    per_minute: float


@dataclass(frozen=True)
class Admission:
    """`admit`: store and handle it. `notice`: store it, and answer it with the notice of
    this scope instead of handling it. Neither: drop it (muted)."""

    admit: bool
    notice: FloodScope | None = None


ADMIT = Admission(admit=True)
DROP = Admission(admit=False)


class FloodGuard:
    def __init__(
        self, *, person: Limit, chat: Limit, mute_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = {FloodScope.PERSON: person, FloodScope.CHAT: chat}
        self.mute_seconds = mute_seconds
        self.clock = clock
        self._buckets: dict[tuple[FloodScope, int], _Bucket] = {}
        self._calls = 0
        self._verdicts: OrderedDict[int, Admission] = OrderedDict()
        self.dropped = 0

    def admit(self, *, sender: int | None, group: int | None, update_id: int | None = None) -> Admission:
        """Whether an update from `sender` (in the group chat `group`, if any) is taken. An
        update seen again (its batch could not be stored and came back) gets the same verdict
        without drawing again: a database outage must not mute anyone."""
        if update_id is not None and (known := self._verdicts.get(update_id)) is not None:
            return known
        verdict = self._judge(sender=sender, group=group)
        if update_id is not None:
            self._verdicts[update_id] = verdict
            if len(self._verdicts) > REMEMBERED_VERDICTS:
                self._verdicts.popitem(last=False)
        return verdict

    def _judge(self, *, sender: int | None, group: int | None) -> Admission:
        now = self.clock()
        self._prune(now)
        keys = [(FloodScope.PERSON, sender)] if sender is not None else []
        if group is not None:
            keys.append((FloodScope.CHAT, group))
        buckets = [(scope, self._refilled(scope, key, now)) for scope, key in keys]
        if any(bucket.muted_until > now for _scope, bucket in buckets):
            self.dropped += 1
            return DROP
        for scope, bucket in buckets:
            if bucket.tokens < 1:
                bucket.muted_until = now + self.mute_seconds
                return Admission(admit=True, notice=scope)
        for _scope, bucket in buckets:
            bucket.tokens -= 1
        return ADMIT

    def _refilled(self, scope: FloodScope, key: int, now: float) -> _Bucket:
        limit = self.limits[scope]
        bucket = self._buckets.get((scope, key))
        if bucket is None:
            bucket = self._buckets[(scope, key)] = _Bucket(tokens=float(limit.burst), updated=now)
        elif bucket.muted_until and bucket.muted_until <= now:
            # The mute is over: a clean slate, not the little a full minute of refill left.
            bucket.tokens, bucket.muted_until = float(limit.burst), 0.0
        else:
            bucket.tokens = min(
                float(limit.burst), bucket.tokens + (now - bucket.updated) * limit.per_minute / 60
            )
        bucket.updated = now
        return bucket

    def _refill_seconds(self, scope: FloodScope) -> float:
        limit = self.limits[scope]
        return limit.burst * 60 / limit.per_minute

    def _prune(self, now: float) -> None:
        self._calls += 1
        if self._calls % PRUNE_EVERY:
            return
        idle = [
            key
            for key, bucket in self._buckets.items()
            if bucket.muted_until <= now and now - bucket.updated > self._refill_seconds(key[0])
        ]
        for key in idle:
            del self._buckets[key]
