"""Teams' documented send limits, kept before each send.

Per conversation: 7 messages per 1 s, 8 per 2 s, 60 per 30 s, 1800 per hour. Per app per
tenant: 50 per second (configurable). A send reserves the earliest moment every window allows
and sleeps until then; reservations are made without awaiting, so concurrent senders never
overbook a window. When the send is over, the windows count it from the moment it ended
rather than the one reserved: the connector saw it somewhere in between, so however long a
request took on its way, the next ones keep their distance from it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

Windows = tuple[tuple[int, float], ...]
CONVERSATION_WINDOWS: Windows = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))


class SlidingWindows:
    def __init__(self, windows: Windows, margin: float = 0.0) -> None:
        # The margin widens each window so jitter on the way to the connector cannot squeeze
        # two sends closer together than Teams allows.
        self.windows = tuple((count, width + margin) for count, width in windows)
        self._keep = max(n for n, _ in windows)
        self._log: dict[object, deque[float]] = {}

    def earliest(self, key: object, at: float) -> float:
        log = self._log.get(key)
        if not log:
            return at
        at = max(at, log[-1])
        for count, width in self.windows:
            if len(log) >= count:
                at = max(at, log[-count] + width)
        return at

    def record(self, key: object, at: float) -> None:
        """Note a send; sends older than the widest window no longer count and are dropped, so
        a conversation holds at most its sends of the last hour (not 1800 stamps however old:
        a chat told once every half hour kept its stamps for 37 days)."""
        log = self._log.setdefault(key, deque(maxlen=self._keep))
        log.append(at)
        horizon = at - max(width for _, width in self.windows)
        while log[0] < horizon:
            log.popleft()

    def latest(self) -> float | None:
        """The latest send noted (reserved) for any key."""
        return max((log[-1] for log in self._log.values() if log), default=None)

    def held(self) -> int:
        """Send stamps held, over every key (what this costs in memory)."""
        return sum(len(log) for log in self._log.values())

    def settle(self, key: object, reserved: float, ended: float) -> None:
        """The send reserved for `reserved` ended at `ended`: count it from then."""
        log = self._log.get(key)
        if not log or ended <= reserved:
            return
        for index in range(len(log) - 1, -1, -1):  # it is nearly always the newest
            if log[index] == reserved:
                del log[index]
                break
        else:
            return  # forgotten meanwhile
        index = len(log)
        while index > 0 and log[index - 1] > ended:
            index -= 1
        log.insert(index, ended)

    def forget_idle(self, now: float) -> None:
        horizon = max(width for _, width in self.windows)
        for key in [k for k, log in self._log.items() if log and log[-1] < now - horizon]:
            del self._log[key]


class DeliveryLimiter:
    def __init__(self, tenant_per_second: float = 50.0,
                 conversation_windows: Windows = CONVERSATION_WINDOWS,
                 clock: Callable[[], float] = time.monotonic, margin: float = 0.05) -> None:
        self._conversations = SlidingWindows(conversation_windows, margin)
        self._tenants = (SlidingWindows(((max(1, int(tenant_per_second)), 1.0),), margin)
                         if tenant_per_second > 0 else None)
        self._tenant_cap = tenant_per_second
        self._margin = margin
        self._clock = clock
        self._sends = 0

    @property
    def tenant_share(self) -> float:
        """Messages per second per tenant this process keeps to (0 = no cap)."""
        return float(self._tenants.windows[0][0]) if self._tenants is not None else 0.0

    def share(self, replicas: int) -> float:
        """Teams' per-tenant cap is for the app as a whole: with `replicas` processes sending,
        each keeps to its share. Returns this process's per-second share (0 = no cap)."""
        if self._tenants is None:
            return 0.0
        share = max(1, int(self._tenant_cap / max(1, replicas)))
        self._tenants.windows = ((share, 1.0 + self._margin),)
        return float(share)

    def reserve(self, tenant_id: str, conversation_id: str) -> float:
        """The moment this send may go; recorded at once."""
        now = self._clock()
        conversation = (tenant_id, conversation_id)
        at = now
        while True:  # each pass only moves `at` later; it stops once both limits agree
            at = self._conversations.earliest(conversation, at)
            tenant_at = self._tenants.earliest(tenant_id, at) if self._tenants else at
            if tenant_at == at:
                break
            at = tenant_at
        if self._tenants is not None:
            self._tenants.record(tenant_id, at)
        self._conversations.record(conversation, at)
        self._sends += 1
        if self._sends % 1000 == 0:
            self._conversations.forget_idle(now)
        return at

    def ahead(self) -> float:
        """Seconds of sends already reserved beyond now under the tenant cap (0 without one):
        a send reserved now would wait about this long."""
        latest = self._tenants.latest() if self._tenants is not None else None
        return max(0.0, latest - self._clock()) if latest is not None else 0.0

    def held(self) -> int:
        """Send stamps held by the windows: at most the sends of the last hour (plus those of
        conversations idle since, until the next `forget_idle`)."""
        return self._conversations.held() + (self._tenants.held() if self._tenants else 0)

    @asynccontextmanager
    async def slot(self, tenant_id: str, conversation_id: str) -> AsyncIterator[None]:
        """Wait until this send may go; the send runs inside. However the send ends, the
        windows then count it from that moment."""
        reserved = self.reserve(tenant_id, conversation_id)
        delay = reserved - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            yield
        finally:
            ended = self._clock()
            self._conversations.settle((tenant_id, conversation_id), reserved, ended)
            if self._tenants is not None:
                self._tenants.settle(tenant_id, reserved, ended)
