"""The price table: bundled rows are sourced and dated; the user's rows override them."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigfit.catalog.lookup import get_gpu
from rigfit.prices import load_prices


def test_bundled_rows_name_catalog_accelerators_and_sources() -> None:
    prices = load_prices()
    assert len(prices.purchase) >= 25
    assert len(prices.rental) >= 25
    for row in (*prices.purchase, *prices.rental):
        assert row.source is not None, row
        assert row.quote, row
        get_gpu(row.gpu)  # every row names a catalog accelerator


def test_rent_is_the_cheapest_provider_and_buy_the_latest() -> None:
    prices = load_prices()
    rows = [r for r in prices.rental if r.gpu == "h100-sxm"]
    assert prices.rent("h100-sxm") == min(rows, key=lambda r: r.usd_per_hour)
    assert prices.buy("no-such-gpu") is None


def test_user_rows_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIGFIT_CONFIG_DIR", str(tmp_path))
    (tmp_path / "prices.toml").write_text(
        '[[purchase]]\ngpu = "rtx-4090"\nusd = 1800\nkind = "what I paid"\ndate = 2026-11-01\n'
        '[[rental]]\ngpu = "h100-sxm"\nusd_per_hour = 0.5\nprovider = "my lab"\ndate = 2026-11-01\n'
    )
    prices = load_prices()
    assert prices.buy("rtx-4090") is not None
    assert prices.buy("rtx-4090").usd == 1800
    rent = prices.rent("h100-sxm")
    assert rent is not None
    assert (rent.provider, rent.usd_per_hour) == ("my lab", 0.5)
