"""The records' strict reader and writer (rigfit.strict)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigfit.catalog.loader import load_gpus, load_models
from rigfit.catalog.schema import GPURecord, ModelRecord
from rigfit.strict import Record, RecordError, dump, field, read, record


class Color(StrEnum):
    RED = "red"
    BLUE = "blue"


@record
class Inner(Record):
    size: int = field(gt=0)
    label: str = ""


@record
class Outer(Record):
    name: str = field(pattern=r"^[a-z]+$")
    ratio: float
    count: int | None = field(default=None, ge=1, le=8)
    head: int | str | None = None
    color: Color = Color.RED
    day: dt.date | None = None
    parts: tuple[Inner, ...] = ()
    inner: Inner | None = None
    extra: dict[str, Any] | None = None
    tags: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.inner is not None and self.inner.size > 100:
            raise ValueError("inner.size is over 100")


@record
class Maybe(Record):
    parts: tuple[Inner, ...] | None = None
    ids: tuple[int, ...] | None = None


@record
class Flags(Record):
    on: bool


@record
class Loose(Record):
    __pydantic_config__ = {"extra": "ignore"}  # noqa: RUF012

    size: int


def test_reads_and_coerces_narrowly() -> None:
    got = read(
        Outer,
        {
            "name": "abc",
            "ratio": 2,
            "count": 3.0,
            "head": "auto",
            "color": "blue",
            "day": "2025-01-20",
            "parts": [{"size": 1}, {"size": 2, "label": "b"}],
            "tags": ("x",),
        },
    )
    assert got.ratio == 2.0
    assert isinstance(got.ratio, float)
    assert got.count == 3
    assert isinstance(got.count, int)
    assert got.head == "auto"
    assert got.color is Color.BLUE
    assert got.day == dt.date(2025, 1, 20)
    assert got.parts == (Inner(size=1), Inner(size=2, label="b"))
    assert got.tags == ["x"]
    # 0 and 1 are booleans (some config.json writers use them), other numbers are not
    assert read(Flags, {"on": 1}).on is True
    with pytest.raises(RecordError, match="valid boolean"):
        read(Flags, {"on": 2})
    with pytest.raises(RecordError, match="valid boolean"):
        read(Flags, {"on": "true"})
    # an int in ``int | str`` stays an int
    assert read(Outer, {"name": "a", "ratio": 1.5, "head": 64}).head == 64


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({"ratio": 1.0}, "name", "Field required"),
        ({"name": "a", "ratio": 1.0, "colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"name": "A", "ratio": 1.0}, "name", "String should match pattern"),
        ({"name": "a", "ratio": "1.0"}, "ratio", "Input should be a valid number"),
        ({"name": "a", "ratio": True}, "ratio", "Input should be a valid number"),
        ({"name": "a", "ratio": 1.0, "count": True}, "count", "valid integer"),
        ({"name": "a", "ratio": 1.0, "count": 2.5}, "count", "valid integer"),
        ({"name": "a", "ratio": 1.0, "count": 9}, "count", "less than or equal to 8"),
        ({"name": "a", "ratio": 1.0, "count": 0}, "count", "greater than or equal to 1"),
        ({"name": "a", "ratio": 1.0, "color": "green"}, "color", "'red' or 'blue'"),
        ({"name": "a", "ratio": 1.0, "day": "20 Jan"}, "day", "YYYY-MM-DD"),
        (
            {"name": "a", "ratio": 1.0, "parts": [{"size": 1}, {"size": 0}]},
            "parts.1.size",
            "than 0",
        ),
        ({"name": "a", "ratio": 1.0, "inner": {"size": 1, "x": 1}}, "inner.x", "Extra inputs"),
        ({"name": "a", "ratio": 1.0, "inner": {"size": 101}}, "", "inner.size is over 100"),
        ({"name": "a", "ratio": 1.0, "tags": "x"}, "tags", "valid list"),
    ],
)
def test_each_problem_names_its_place(data: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(RecordError) as info:
        read(Outer, data)
    assert info.value.where == where
    assert message in info.value.message


def test_problems_inside_optional_lists_keep_their_place() -> None:
    with pytest.raises(RecordError) as info:
        read(Maybe, {"parts": [{"size": 1}, {"label": "x"}]})
    assert (info.value.where, info.value.message, info.value.count) == (
        "parts.1.size",
        "Field required",
        1,
    )
    with pytest.raises(RecordError) as info:
        read(Maybe, {"ids": [1, "two"]})
    assert info.value.where == "ids.1"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"name": "abc\n", "ratio": 1.0}, "name"),  # a pattern matches the whole string
        ({"name": "a", "ratio": 1.0, "count": 1e20}, "count"),  # not an exact integer
        ({"name": "a", "ratio": 1.0, "day": "20250120"}, "day"),  # dates are YYYY-MM-DD
    ],
)
def test_near_misses_are_refused(data: dict[str, Any], where: str) -> None:
    with pytest.raises(RecordError) as info:
        read(Outer, data)
    assert info.value.where == where


def test_every_problem_is_counted() -> None:
    with pytest.raises(RecordError) as info:
        read(Outer, {"name": "A", "ratio": "x", "other": 1, "parts": [{"size": -1}]})
    assert info.value.count == 4


def test_extra_keys_may_be_ignored() -> None:
    assert read(Loose, {"size": 1, "unread": True}) == Loose(size=1)


def test_records_are_frozen_values() -> None:
    a = Inner(size=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.size = 2  # type: ignore[misc]
    assert a == Inner(size=1)
    assert hash(a) == hash(Inner(size=1))
    assert a != Inner(size=2)
    assert dataclasses.replace(a, label="b") == Inner(size=1, label="b")
    assert repr(a) == "Inner(size=1, label='')"
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'size'"):
        Inner()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Inner(size=1, colour="red")  # type: ignore[call-arg]
    # the cross-field rule holds however a record is built
    with pytest.raises(ValueError, match="over 100"):
        Outer(name="a", ratio=1.0, inner=Inner(size=101))


def test_dump_follows_the_declared_types() -> None:
    rec = Outer(
        name="a",
        ratio=2,  # an int in a float field is written as a float
        color=Color.BLUE,
        day=dt.date(2025, 1, 2),
        parts=(Inner(size=3),),
    )
    assert dump(rec) == {
        "name": "a",
        "ratio": 2.0,
        "count": None,
        "head": None,
        "color": "blue",
        "day": "2025-01-02",
        "parts": [{"size": 3, "label": ""}],
        "inner": None,
        "extra": None,
        "tags": [],
    }


@given(
    name=st.from_regex(r"^[a-z]+$", fullmatch=True),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    count=st.none() | st.integers(1, 8),
    sizes=st.lists(st.integers(1, 10**12), max_size=4),
)
def test_dump_then_read_gives_the_record_back(
    name: str, ratio: float, count: int | None, sizes: list[int]
) -> None:
    rec = Outer(name=name, ratio=ratio, count=count, parts=tuple(Inner(size=s) for s in sizes))
    assert read(Outer, dump(rec)) == rec


@pytest.mark.parametrize(("kind", "records"), [(ModelRecord, load_models), (GPURecord, load_gpus)])
def test_every_catalog_record_survives_a_round_trip(kind: type[Record], records: Any) -> None:
    for rec in records():
        assert read(kind, dump(rec)) == rec, rec.id


def test_the_cli_does_not_import_pydantic() -> None:
    # pydantic's import and validator builds were 0.3 s of every command (docs/benchmarks.md);
    # only the web app and `rigfit validate` use it
    code = (
        "import sys, rigfit.cli;"
        "from rigfit.answer import Query, answer;"
        "answer(Query('deepseek-r1', gpu='h200', gpus=8));"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
