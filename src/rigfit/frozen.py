"""``@frozen``: ``@dataclass(frozen=True)`` without compiling methods at import.

Python 3.11's ``dataclass`` writes the source of each method it adds (``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``) and compiles it: about 1.4 ms a class,
so the hundred-odd frozen dataclasses rigfit defines took 80 ms of every command's 0.2 s import
(docs/benchmarks.md). ``@frozen`` lets ``dataclasses`` collect the fields (0.14 ms), and adds:

- ``__eq__``, ``__hash__``, ``__repr__``, ``__setattr__`` and ``__delattr__`` as shared
  functions that read the fields with one ``operator.attrgetter``: nothing to compile, and
  hashing and comparing cost what the generated methods do;
- ``__init__`` compiled from the same source the standard library writes, on the class's first
  instance: a class a command never builds never pays for it.

What the standard library documents holds: the fields in order with their defaults,
``default_factory``, ``init=False``, ``kw_only`` and ``__post_init__``; equality of two instances
of the same class by their ``compare`` fields, and a hash of the same tuple (so sets and dicts
iterate as before); ``eq=False`` keeps identity; assigning or deleting a field raises
``dataclasses.FrozenInstanceError``; ``slots=True`` builds the slotted class, with
``__getstate__``/``__setstate__`` so that copies and pickles work; ``dataclasses.fields``,
``replace`` and ``asdict`` work unchanged, and ``__dataclass_params__`` says frozen. Not
supported: ``InitVar`` fields (the first instance fails) and ``order=True``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, overload

__all__ = ["build", "frozen"]

T = TypeVar("T")

_FACTORY = object()  # stands for "call this field's default_factory" in __init__'s defaults


@overload
def frozen(cls: type[T], /) -> type[T]: ...


@overload
def frozen(
    *, eq: bool = True, slots: bool = False, kw_only: bool = False
) -> Callable[[type[T]], type[T]]: ...


@typing.dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(
    cls: type[T] | None = None, /, *, eq: bool = True, slots: bool = False, kw_only: bool = False
) -> type[T] | Callable[[type[T]], type[T]]:
    """A frozen dataclass; ``@frozen(eq=False)``, ``@frozen(slots=True)`` and
    ``@frozen(kw_only=True)`` as with ``@dataclass(frozen=True, ...)``."""

    def wrap(c: type[T]) -> type[T]:
        return _build(c, eq=eq, slots=slots, kw_only=kw_only)

    return wrap if cls is None else wrap(cls)


def _build(cls: type[T], *, eq: bool, slots: bool, kw_only: bool) -> type[T]:
    own = set(cls.__dict__)
    if cls.__dict__.get("__hash__", 0) is None and "__eq__" in own:
        own.discard("__hash__")  # defining __eq__ set it to None; dataclasses replaces that
    # dataclasses collects the fields (and, with slots, rebuilds the class) and adds no method,
    # except the frozen __setattr__/__delattr__ on a subclass of a frozen dataclass (it refuses
    # a non-frozen subclass), which are replaced below
    extends = any(hasattr(b, "__dataclass_fields__") for b in cls.__mro__[1:])
    cls = dataclasses.dataclass(
        init=False, repr=False, eq=False, frozen=extends, slots=slots, kw_only=kw_only
    )(cls)
    # what dataclasses.is_dataclass users (pydantic, a @dataclass(frozen=True) subclass) read
    cls.__dataclass_params__.frozen = True  # type: ignore[attr-defined]
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = frozenset(f.name for f in fields)
    methods: dict[str, Any] = {
        "__init__": _lazy_init(cls),
        "__repr__": _repr,
        "__setattr__": _setattr,
        "__delattr__": _delattr,
    }
    if eq:
        methods["__eq__"] = _eq
        methods["__hash__"] = _hash
    if slots:
        methods["__getstate__"] = _getstate
        methods["__setstate__"] = _setstate
    for name, fn in methods.items():
        if name not in own:
            setattr(cls, name, fn)
    cls.__rigfit_frozen__ = _Plan(  # type: ignore[attr-defined]
        names,
        _tuple_getter([f.name for f in fields if f.compare]),
        _tuple_getter([f.name for f in fields if (f.compare if f.hash is None else f.hash)]),
        tuple(f.name for f in fields if f.repr),
        tuple(f.name for f in fields),
    )
    if "__match_args__" not in own:
        cls.__match_args__ = tuple(f.name for f in fields if f.init and not f.kw_only)  # type: ignore[attr-defined,misc]
    return cls


class _Plan:
    """What the shared methods need to know about one class."""

    __slots__ = ("all_names", "compared", "hashed", "names", "shown")

    def __init__(
        self,
        names: frozenset[str],
        compared: Callable[[object], tuple[Any, ...]],
        hashed: Callable[[object], tuple[Any, ...]],
        shown: tuple[str, ...],
        all_names: tuple[str, ...],
    ) -> None:
        self.names, self.compared, self.hashed = names, compared, hashed
        self.shown, self.all_names = shown, all_names


def _tuple_getter(names: list[str]) -> Callable[[object], tuple[Any, ...]]:
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _plan(obj: object) -> _Plan:
    plan: _Plan = type(obj).__rigfit_frozen__  # type: ignore[attr-defined]
    return plan


def _eq(self: object, other: object) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    compared = _plan(self).compared
    same: bool = compared(self) == compared(other)
    return same


def _hash(self: object) -> int:
    return hash(_plan(self).hashed(self))


def _repr(self: object) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _plan(self).shown)
    return f"{type(self).__qualname__}({shown})"


def _owner(self: object, name: str) -> type | None:
    """The @frozen class in ``self``'s ancestry whose ``__setattr__`` is being asked, or None
    where the name is not a field of it (an attribute a subclass may set)."""
    for klass in type(self).__mro__:
        plan = klass.__dict__.get("__rigfit_frozen__")
        if plan is not None and (klass is type(self) or name in plan.names):
            return klass
    return None


def _setattr(self: object, name: str, value: object) -> None:
    if _owner(self, name) is not None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _delattr(self: object, name: str) -> None:
    if _owner(self, name) is not None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
    object.__delattr__(self, name)


def _getstate(self: object) -> list[Any]:
    return [getattr(self, n) for n in _plan(self).all_names]


def _setstate(self: object, state: list[Any]) -> None:
    for n, v in zip(_plan(self).all_names, state, strict=True):
        object.__setattr__(self, n, v)


def _lazy_init(cls: type) -> Callable[..., None]:
    """A stand-in ``__init__`` for ``cls`` that compiles the real one on the first instance,
    installs it, and calls it. Two threads may both compile it; either result is the same."""

    def stand_in(self: object, *args: Any, **kwargs: Any) -> None:
        init = cls.__dict__["__init__"]
        if init is stand_in:
            init = _compile_init(cls)
            cls.__init__ = init  # type: ignore[misc]
        init(self, *args, **kwargs)

    stand_in.__name__ = "__init__"
    stand_in.__qualname__ = f"{cls.__qualname__}.__init__"
    return stand_in


def build(cls: type[T], values: dict[str, Any]) -> T:
    """``cls(**values)`` without compiling ``cls.__init__``: the same defaults, factories,
    ``init=False`` fields and ``__post_init__``, for classes built a handful of times (a
    config's 114 keys cost more to compile than to read). ``values`` holds init fields only;
    the caller has checked their names."""
    obj: Any = object.__new__(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.init and f.name in values:
            value = values[f.name]
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        elif f.default is not dataclasses.MISSING:
            value = f.default
        else:
            continue  # a required field the caller left out: refused before it gets here
        object.__setattr__(obj, f.name, value)
    post = getattr(obj, "__post_init__", None)
    if post is not None:
        post()
    built: T = obj
    return built


def _compile_init(cls: type) -> Callable[..., None]:
    """``__init__`` as dataclasses writes it for a frozen class, compiled once."""
    env: dict[str, Any] = {"setattr_": object.__setattr__, "FACTORY": _FACTORY}
    params: list[str] = []
    body: list[str] = []
    fields = dataclasses.fields(cls)
    positional = [f for f in fields if f.init and not f.kw_only]
    keyword = [f for f in fields if f.init and f.kw_only]
    for f in positional + keyword:
        if f is (keyword[0] if keyword else None):
            params.append("*")
        if f.default_factory is not dataclasses.MISSING:
            env[f"f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=FACTORY")
        elif f.default is not dataclasses.MISSING:
            env[f"d_{f.name}"] = f.default
            params.append(f"{f.name}=d_{f.name}")
        else:
            params.append(f.name)
    for f in fields:
        if f.init:
            value = (
                f"f_{f.name}() if {f.name} is FACTORY else {f.name}"
                if f.default_factory is not dataclasses.MISSING
                else f.name
            )
        elif f.default_factory is not dataclasses.MISSING:
            env[f"f_{f.name}"] = f.default_factory
            value = f"f_{f.name}()"
        elif f.default is not dataclasses.MISSING:
            env[f"d_{f.name}"] = f.default
            value = f"d_{f.name}"
        else:
            continue
        body.append(f"setattr_(self, {f.name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    src = f"def __init__(self, {', '.join(params)}):\n  " + "\n  ".join(body or ["pass"])
    made: dict[str, Any] = {}
    exec(compile(src, f"<@frozen {cls.__qualname__}.__init__>", "exec"), env, made)
    init: Callable[..., None] = made["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init
