"""``python -m rigfit.catalog``: validate every catalog file and print a one-line summary."""

from __future__ import annotations

import sys

from rigfit.catalog.loader import load_gpus, load_models
from rigfit.errors import RigfitError


def main() -> int:
    try:
        models, gpus = load_models(), load_gpus()
    except RigfitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ok: {len(models)} models, {len(gpus)} accelerators")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
