"""@frozen behaves as @dataclass(frozen=True) does (rigfit.frozen)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigfit.frozen import build, frozen


def _pair(**opts: Any) -> tuple[type, type]:
    """The same class body under @dataclass(frozen=True, ...) and under @frozen(...)."""

    def body() -> type:
        class Shape:
            """A class with each kind of field."""

            a: int
            b: str = "x"
            c: tuple[int, ...] = ()
            d: tuple[int, ...] = dataclasses.field(default_factory=tuple)
            e: int = dataclasses.field(default=0, compare=False)
            f: dict[str, int] = dataclasses.field(
                default_factory=dict, init=False, repr=False, compare=False
            )
            g: int = dataclasses.field(default=1, hash=False)

            def __post_init__(self) -> None:
                if self.a < 0:
                    raise ValueError("a is negative")

        return Shape

    return dataclasses.dataclass(frozen=True, **opts)(body()), frozen(**opts)(body())


STD, MINE = _pair()
STD_SLOTS, MINE_SLOTS = _pair(slots=True)
values = st.tuples(
    st.integers(0, 10**6), st.text(max_size=5), st.lists(st.integers(), max_size=3), st.integers()
)


@given(values, values)
def test_same_as_the_standard_library(x: tuple[Any, ...], y: tuple[Any, ...]) -> None:
    for std, mine in ((STD, MINE), (STD_SLOTS, MINE_SLOTS)):
        sx, mx = std(x[0], x[1], tuple(x[2]), e=x[3]), mine(x[0], x[1], tuple(x[2]), e=x[3])
        sy, my = std(*y[:2], c=tuple(y[2]), e=y[3]), mine(*y[:2], c=tuple(y[2]), e=y[3])
        assert (mx == my) == (sx == sy)
        assert hash(mx) == hash(sx)  # the same tuple is hashed: sets iterate as before
        assert repr(mx) == repr(sx)
        assert dataclasses.astuple(mx) == dataclasses.astuple(sx)
        assert dataclasses.replace(mx, b="z") == mine(x[0], "z", tuple(x[2]), e=x[3])
        assert mine.__match_args__ == std.__match_args__  # type: ignore[attr-defined]


def test_defaults_factories_and_post_init() -> None:
    m = MINE(1)
    assert (m.b, m.c, m.d, m.e, m.f, m.g) == ("x", (), (), 0, {}, 1)
    assert m.f is not MINE(1).f  # a new dict for each instance
    with pytest.raises(ValueError, match="negative"):
        MINE(-1)
    with pytest.raises(TypeError):
        MINE()
    with pytest.raises(TypeError):
        MINE(1, f={})


def test_fields_are_frozen() -> None:
    m = MINE_SLOTS(1)
    for obj in (MINE(1), m):
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.a = 2
        with pytest.raises(dataclasses.FrozenInstanceError):
            del obj.a


@frozen
class Plain:
    a: int
    b: tuple[str, ...] = ()


@frozen(slots=True)
class Slotted:
    a: int
    b: tuple[str, ...] = ()


def test_copies_and_pickles() -> None:
    for obj in (MINE(3, "y", (1,)), MINE_SLOTS(3, "y", (1,)), Plain(1, ("x",)), Slotted(2)):
        assert copy.deepcopy(obj) == obj
        assert copy.copy(obj) == obj
    for obj in (Plain(1, ("x",)), Slotted(2, ("y",))):
        assert pickle.loads(pickle.dumps(obj)) == obj


def test_eq_false_keeps_identity_and_kw_only_takes_keywords() -> None:
    @frozen(eq=False)
    class Token:
        name: str

    assert Token("a") != Token("a")
    assert len({Token("a"), Token("a")}) == 2

    @frozen(kw_only=True)
    class Named:
        a: int
        b: int = 2

    assert Named(a=1) == Named(a=1, b=2)
    with pytest.raises(TypeError):
        Named(1)  # type: ignore[call-arg]


def test_a_subclass_adds_its_fields() -> None:
    @frozen
    class Base:
        a: int

    @frozen
    class Child(Base):
        b: int = 0

    assert Child(1, 2) == Child(a=1, b=2)
    assert Child(1) != Base(1)
    assert [f.name for f in dataclasses.fields(Child)] == ["a", "b"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Child(1).a = 3  # type: ignore[misc]


def test_first_instances_from_many_threads() -> None:
    # the web app builds reports from a thread pool: the first instances race to compile
    # __init__, and each must still be built
    @frozen
    class Point:
        x: int
        y: int = 0

    with ThreadPoolExecutor(8) as pool:
        points = list(pool.map(lambda i: Point(i, y=i), range(64)))
    assert points == [Point(i, i) for i in range(64)]


def test_a_subclass_may_wrap_the_init() -> None:
    @frozen
    class Base:
        a: int

    class Doubled(Base):
        def __init__(self, a: int) -> None:
            super().__init__(2 * a)

    assert Doubled(2).a == 4


def test_it_says_it_is_frozen_and_a_standard_subclass_works() -> None:
    @frozen
    class Base:
        a: int

    @dataclasses.dataclass(frozen=True)
    class Std(Base):
        b: int = 0

    assert Base.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert Std(1, 2) == Std(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Std(1).b = 3  # type: ignore[misc]


def test_build_is_the_init_without_compiling_it() -> None:
    for values in ({"a": 3}, {"a": 3, "b": "y", "c": (1,), "d": (2,), "e": 5, "g": 7}):
        built = build(MINE, values)
        assert built == MINE(**values)
        assert (built.f, built.g) == (MINE(**values).f, MINE(**values).g)  # init=False, hash=False
    with pytest.raises(ValueError, match="negative"):
        build(MINE, {"a": -1})  # __post_init__ runs
