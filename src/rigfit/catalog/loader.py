"""Read and validate the bundled catalog: one TOML file per model or accelerator."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from rigfit.catalog.schema import GPURecord, ModelRecord
from rigfit.errors import CatalogError

__all__ = ["CATALOG_DIR", "load_gpus", "load_models", "load_records"]

CATALOG_DIR = Path(__file__).parent
R = TypeVar("R", bound=BaseModel)


def _files(folder: Path) -> Iterator[Path]:
    yield from sorted(folder.glob("*.toml"))


def load_records(folder: Path, record: type[R]) -> tuple[R, ...]:
    """Validate every ``*.toml`` in ``folder`` as ``record``; the error names the file."""
    out: list[R] = []
    for path in _files(folder):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{path.name}: not valid TOML: {exc}") from exc
        try:
            out.append(record.model_validate(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CatalogError(
                f"{path.name}: {where}: {first['msg']} ({exc.error_count()} problem(s))"
            ) from exc
    return tuple(out)


@cache
def load_models() -> tuple[ModelRecord, ...]:
    """Every catalog model record, validated."""
    return load_records(CATALOG_DIR / "models", ModelRecord)


@cache
def load_gpus() -> tuple[GPURecord, ...]:
    """Every catalog accelerator record, validated."""
    return load_records(CATALOG_DIR / "gpus", GPURecord)
