"""Keep CPython's cyclic garbage collector from walking, again and again, objects that bulk work allocates or holds.

Every collection of the oldest generation traverses every container object alive. Two kinds of work pay for it:

- An extract stream (`long_lived_objects_frozen`): parsing one page allocates tens of thousands of container objects
  (XML elements, JSON dicts), and each collection they trigger also walks the process's long-lived objects (Dagster,
  SQLAlchemy, the clients' modules: over 100k) (docs/PERFORMANCE.md). Frozen objects are skipped until unfrozen, then
  return to the oldest generation, so garbage frozen with them is still collected later; no collection is forced here
  (in a large process a full one costs more than a small stream's extract).
- A plan (`collector_paused`): it builds millions of acyclic containers (mapped records, bases, plan items) that live
  until it ends, so freezing what existed before does not help: the collections walk what the plan itself made. It
  makes next to no cyclic garbage, so pausing the collector for its duration frees nothing less; reference counting
  frees everything else as usual, and the collector resumes (with its earlier state) when the work ends.
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


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic cyclic collection inside; nested uses and a collector already off are left as they were."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
