"""Keyset paging on the modification stamp, shared by every API that pages by offset (Intacct, QBO, ESP+).

Offset paging over a live, stamp-ordered result loses records: when a record already read is modified it leaves
its place, every later record shifts one position down, and the one crossing the page boundary is never read while
the watermark moves past it. So each page is asked afresh from the last stamp read (inclusive), skipping only the
records already read that share that stamp; a record modified meanwhile simply reappears later with its new stamp.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from crosswalk.extract.source import Record


@dataclass(frozen=True)
class KeysetPage:
    records: list[Record]  # ordered by (stamp, key) ascending
    more: bool  # whether the API says records remain after these


FetchPage = Callable[[str | None, int], KeysetPage]
"""fetch(since, skip): records with stamp >= since (all when None) in (stamp, key) order, starting `skip` records in."""


def keyset_pages(
    fetch: FetchPage, stamp_of: Callable[[Record], str | None], since: str | None
) -> Iterator[list[Record]]:
    skip = 0
    while True:
        page = fetch(since, skip)
        if not page.records:
            return
        yield page.records
        if not page.more:
            return
        last = stamp_of(page.records[-1])
        if last is None:
            # Records without a stamp cannot be paged by stamp; continue by offset within this query.
            skip += len(page.records)
            continue
        ties = 0
        for record in reversed(page.records):
            if stamp_of(record) != last:
                break
            ties += 1
        if last == since:
            skip += len(page.records)  # the whole page shares the boundary stamp: step over it
        else:
            since, skip = last, ties
