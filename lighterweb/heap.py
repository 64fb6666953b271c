"""A long-running worker's heap and Python's cyclic garbage collector.

A full (oldest-generation) collection walks every tracked object of the process while holding
the interpreter lock, so every bot of a worker stalls for as long as it takes. Most of those
objects are the startup's (Django, the apps, the SDK, their modules and caches) and live as long
as the process: at 50 bots a full collection took 151-183 ms (docs/benchmarks.md). Frozen once
the worker is up (`gc.freeze`), they are left out of every later collection, and a full one
walks only what the bots allocated since.
"""

from __future__ import annotations

import gc


def freeze_startup() -> int:
    """Collect what the startup left as garbage, then move every object alive now to the
    permanent generation; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
