"""What accelerators cost: a dated, sourced table bundled with the catalog
(``catalog/prices.toml``), which the user's ``prices.toml`` (next to ``accelerators.toml``)
overrides row by row: a user's purchase row replaces the bundled ones for that accelerator, a
user's rental row those of the same provider.

A price is a fact of one day at one seller; the plan prints the date and the seller with every
figure it ranks by, and never fills a missing price with a guess: an accelerator without one is
left out of a ranking by price, and the plan says how many were.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from rigfit.catalog.custom import config_dir
from rigfit.catalog.loader import CATALOG_DIR
from rigfit.catalog.schema import PriceTable, PurchasePrice, RentalPrice
from rigfit.errors import CatalogError
from rigfit.frozen import frozen
from rigfit.strict import RecordError, read

__all__ = ["PRICES_PATH", "Prices", "load_prices", "user_prices_path"]

PRICES_PATH = CATALOG_DIR / "prices.toml"


def user_prices_path() -> Path:
    return config_dir() / "prices.toml"


@cache
def _read(path: str, _mtime_ns: int, bundled: bool) -> PriceTable:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        table = read(PriceTable, data)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: not a readable TOML file: {exc}") from exc
    except RecordError as exc:
        raise CatalogError(f"{path}: {exc.first}") from exc
    if bundled:
        rows: tuple[PurchasePrice | RentalPrice, ...] = (*table.purchase, *table.rental)
        for row in rows:
            if row.source is None:
                raise CatalogError(f"{path}: the {row.gpu} row names no source")
    return table


def _table(path: Path, bundled: bool) -> PriceTable:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return PriceTable()
    return _read(str(path), mtime, bundled)


@frozen
class Prices:
    """The bundled table with the user's rows over it."""

    purchase: tuple[PurchasePrice, ...]
    rental: tuple[RentalPrice, ...]

    def buy(self, gpu_id: str) -> PurchasePrice | None:
        """The latest purchase price of one accelerator."""
        rows = [r for r in self.purchase if r.gpu == gpu_id]
        return max(rows, key=lambda r: r.date) if rows else None

    def rent(self, gpu_id: str) -> RentalPrice | None:
        """The lowest on-demand hourly price among providers (each provider's latest row)."""
        latest: dict[str, RentalPrice] = {}
        for r in self.rental:
            if r.gpu == gpu_id and (r.provider not in latest or r.date > latest[r.provider].date):
                latest[r.provider] = r
        return min(latest.values(), key=lambda r: r.usd_per_hour) if latest else None


def load_prices() -> Prices:
    base = _table(PRICES_PATH, bundled=True)
    user = _table(user_prices_path(), bundled=False)
    bought = {r.gpu for r in user.purchase}
    rented = {(r.gpu, r.provider.lower()) for r in user.rental}
    return Prices(
        user.purchase + tuple(r for r in base.purchase if r.gpu not in bought),
        user.rental + tuple(r for r in base.rental if (r.gpu, r.provider.lower()) not in rented),
    )
