"""Keep the cyclic garbage collector off the objects a process already holds while pages stream through it.

Parsing one page allocates tens of thousands of container objects (XML elements, JSON dicts). Each collection
they trigger in the oldest generation also traverses every long-lived object of the process (Dagster, SQLAlchemy,
the clients' modules: over 100k), which is much of a large page's parse time (docs/PERFORMANCE.md). Frozen objects are
skipped until unfrozen, then return to the oldest generation, so garbage frozen with them is still collected
later; no collection is forced here (in a large process a full one costs more than a small stream's extract).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
