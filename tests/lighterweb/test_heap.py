"""lighterweb.heap: a worker's startup objects frozen out of the garbage collector's walks."""

from __future__ import annotations

import gc

from lighterweb.heap import freeze_startup


def test_freezing_moves_every_live_object_out_of_the_collectors_generations():
    gc.unfreeze()
    try:
        frozen = freeze_startup()

        assert frozen == gc.get_freeze_count()
        assert frozen > 10_000  # this process's modules, Django and the apps at the least
        assert gc.get_objects(generation=2) == []  # the oldest generation was moved out whole
    finally:
        gc.unfreeze()  # back to where the rest of the test session expects it
