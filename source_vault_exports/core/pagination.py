"""Guarding cursor pagination against pages served twice and cursors that never move on.

A vendor glitch can serve the same page twice: its cursor then comes back once more and asking
for it again moves on. A cursor that keeps coming back means the listing would loop forever.
"""

from __future__ import annotations

from collections import Counter

from source_vault_exports.core.errors import VendorError

# How often one cursor may come back before the listing is abandoned.
MAX_REPEATS = 3


class RepeatGuard:
    def __init__(self, vendor: str, listing: str) -> None:
        self._vendor = vendor
        self._listing = listing
        self._seen: Counter = Counter()

    def see(self, cursor: str) -> None:
        self._seen[cursor] += 1
        if self._seen[cursor] > MAX_REPEATS:
            raise VendorError(self._vendor, f"{self._listing} returned the same page cursor {MAX_REPEATS} times; stopping instead of looping")
