"""A long-running worker's heap and Python's cyclic garbage collector.

A full (oldest-generation) collection walks every tracked object of the process while holding
the interpreter lock, so every bot of a worker stalls for as long as it takes. Most of those
objects are the startup's (Django, the apps, the SDK, their modules and caches) and live as long
as the process: at 50 bots a full collection took 151-183 ms (docs/benchmarks.md). Frozen once
the worker is up (`gc.freeze`), they are left out of every later collection, and a full one
walks only what the bots allocated since.

What a worker imports only when its first bot starts (the runner, the Lighter SDK and its
Ethereum, HTTP and websocket libraries: ~650 modules, ~68,000 objects) is imported before the
freeze (`preload`), or every full collection would walk it too: that was half of what a full
collection walked at 50 bots (docs/benchmarks.md, 2026-12-07, third session).
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Iterable
from importlib import import_module

logger = logging.getLogger(__name__)


def freeze_startup(preload: Iterable[str] = ()) -> tuple[int, int]:
    """Import the modules named in `preload`, collect what the startup left as garbage, then
    move every object alive now to the permanent generation; returns how many objects are
    frozen and how many modules the preload imported. A module that fails to import is
    logged and left to the first bot, which then reports the failure where it starts: the
    freeze itself must not be lost with it."""
    before = len(sys.modules)
    for name in preload:
        try:
            import_module(name)
        except Exception:
            logger.exception("%s not imported before the heap freeze", name)
    imported = len(sys.modules) - before
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count(), imported
