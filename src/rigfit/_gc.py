"""Cyclic garbage collection paused while the ``rigfit`` command imports rigfit.

Importing rigfit builds tens of thousands of objects that live as long as the process (classes,
functions, enums, tables); the collector ran about 30 times during the import, found almost
nothing to free and took 10 ms of the CLI's 0.3 s cold start (docs/benchmarks.md).

When the process is the ``rigfit`` command (its ``argv[0]``), importing this module pauses
collection, and :func:`resume`, which ``rigfit/__init__.py`` calls when its imports are done or
have failed, moves everything built so far to the permanent generation (``gc.freeze``: later
collections do not walk it again) and turns collection back on. The price: the few hundred
objects in reference cycles the import leaves behind (634 on 2026-12-06) are kept for the life of
the process. A program that imports rigfit as a library is left alone: freezing would keep its
own objects too.
"""

import gc
import os
import sys

__all__ = ["answered", "resume"]

_argv = getattr(sys, "argv", None) or [""]
_COMMAND = os.path.basename(_argv[0]).removesuffix(".exe") == "rigfit"
_paused = _COMMAND and gc.isenabled()
if _paused:
    gc.disable()


def resume() -> None:
    """Collection as it was before the import, the import's objects set aside."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()


def answered() -> None:
    """The ``rigfit`` command has printed its answer and is about to exit: what is alive now is
    freed with the process, so the interpreter's last collection need not walk it (8 ms of a
    0.3 s ``rigfit fit``). Objects in reference cycles are then not finalized at exit; the
    command's output is flushed by the interpreter all the same."""
    if _COMMAND:
        gc.freeze()
