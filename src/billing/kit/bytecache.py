"""A per-process memo of encoded JSON, bounded by size.

List pages render the same documents again and again (the first page of a popular query, every few seconds). A
renderer that can name *everything* its output depends on (the stored row as read, the rows it embeds, the
reference objects it quotes) in a key lets the page reuse the encoded item instead of decoding, rendering and
encoding it again. The key is a pure function of the inputs, so an entry can never be stale: any write changes the
inputs read with the page and therefore the key, whichever code path (or replica) wrote them. Old entries are
simply never asked for again and age out (first in, first out) once the budget is used.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

#: Default budget of one process (each API worker has its own): about ten thousand full invoices.
DEFAULT_BUDGET = 64 * 1024 * 1024


class ByteCache:
    """``key → bytes``, thread-safe, evicting the oldest entries beyond ``budget`` bytes."""

    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._entries: dict[Hashable, bytes] = {}
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        return self._entries.get(key)

    def put(self, key: Hashable, value: bytes) -> None:
        if len(value) > self.budget:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._size -= len(previous)
            self._entries[key] = value
            self._size += len(value)
            while self._size > self.budget:
                oldest = next(iter(self._entries))
                self._size -= len(self._entries.pop(oldest))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._size
