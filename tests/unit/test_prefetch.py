"""Prefetching pages: same pages in the same order, errors surface in the reader, bounded read-ahead."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from crosswalk.extract.prefetch import prefetched


def test_pages_come_through_in_order() -> None:
    assert list(prefetched(iter(range(100)))) == list(range(100))


def test_an_error_in_the_producer_is_raised_to_the_reader_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionResetError("reset")

    seen = []
    with pytest.raises(ConnectionResetError):
        for page in prefetched(pages()):
            seen.append(page)
    assert seen == [1, 2]


def test_read_ahead_is_bounded_and_the_producer_stops_when_the_reader_does() -> None:
    produced = []
    release = threading.Event()

    def pages() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    reader = prefetched(pages(), depth=2)
    assert next(reader) == 0
    release.wait(0.3)
    assert len(produced) <= 4  # the page handed out, `depth` queued, one blocked on a full queue
    reader.close()
    count = len(produced)
    release.wait(0.3)
    assert len(produced) <= count + 1
