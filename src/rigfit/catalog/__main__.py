"""``python -m rigfit.catalog``: validate every catalog file and the name index, and print a
one-line summary; ``--write-index`` rewrites ``index.json`` from the records."""

from __future__ import annotations

import json
import sys

from rigfit.catalog.loader import INDEX_PATH, build_index, load_gpus, load_models, read_index
from rigfit.catalog.lookup import list_gpus, list_models, names_index
from rigfit.errors import RigfitError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        models, gpus = load_models(), load_gpus()
        list_models(), list_gpus()  # builds the name indexes: a name used twice is an error
        index = build_index(names_index())
    except RigfitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args == ["--write-index"]:
        INDEX_PATH.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    elif index != read_index():
        print(
            "error: src/rigfit/catalog/index.json is stale: run python -m rigfit.catalog"
            " --write-index",
            file=sys.stderr,
        )
        return 1
    print(f"ok: {len(models)} models, {len(gpus)} accelerators")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
