"""Read the next page while the current one is being staged: API latency and staging writes overlap.

At most `depth` pages wait in memory, so memory stays flat whatever the stream's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(pages: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield what `pages` yields, produced one step ahead in a background thread; its errors re-raise here."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
        except BaseException as exc:
            put(_Failure(exc))
            return
        put(_END)

    worker = threading.Thread(target=produce, name="page-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=30)
