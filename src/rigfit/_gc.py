"""Cyclic garbage collection paused while rigfit imports itself.

Importing rigfit builds tens of thousands of objects that live as long as the process (classes,
functions, enums, tables); the collector ran about 30 times during the import, found almost
nothing to free and took 10 ms of the CLI's 0.3 s cold start (docs/benchmarks.md). Importing
this module pauses collection; ``rigfit/__init__.py`` imports it first and calls :func:`resume`
when its imports are done, which moves what the import built to the permanent generation
(``gc.freeze``: later collections do not walk it again) and turns collection back on if it was
on. The price: the few hundred objects in reference cycles the import leaves behind (634 on
2026-12-06) are kept for the life of the process.
"""

import gc

__all__ = ["resume"]

_was_enabled = gc.isenabled()
gc.disable()


def resume() -> None:
    """Collection as it was before rigfit's import, the import's objects set aside."""
    gc.freeze()
    if _was_enabled:
        gc.enable()
