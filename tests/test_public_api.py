"""The public surface: ``rigfit.__all__`` is exact and every name in it exists."""

from __future__ import annotations

import types

import rigfit


def test_all_is_exact() -> None:
    public = {
        n
        for n, v in vars(rigfit).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert set(rigfit.__all__) == public
    assert len(rigfit.__all__) == len(set(rigfit.__all__))
