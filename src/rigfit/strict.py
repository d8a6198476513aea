"""Frozen records read strictly from data files, without pydantic.

The catalog's records and the reports are frozen dataclasses. :func:`read` turns the data of a
TOML or JSON file into one, strictly: an unknown key, a missing key, a value of the wrong type
or outside its bounds is an error that names where it is (``config.hidden_size: Input should be
greater than 0``), and every error in the data is counted, not just the first. A record's own
cross-field rules live in its ``__post_init__`` and hold however it is built. :func:`dump` writes
a record back as JSON values, following the declared types (a ``float`` field prints ``5.0``).

Why not pydantic: importing it and building the classes' validators took a quarter of a second
of every ``rigfit`` command (docs/benchmarks.md), for a format this small. The web app still
uses pydantic (FastAPI) for its query parameters and reads these dataclasses' annotations for
its OpenAPI document, and ``rigfit validate`` reads the measurement rows with it; the other
commands never import it.

Coercion is deliberately narrow: an ``int`` field takes an integer (or a float with no fraction,
as JSON writers produce ``2.0``), a ``float`` field any number, a ``str`` field a string, a
``bool`` field ``true``, ``false``, ``0`` or ``1``; a string is never read as a number or a
bool, nor a bool as a number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, ClassVar, Literal, NewType, TypeVar

from rigfit.frozen import build, frozen

__all__ = ["Record", "RecordError", "checked", "dump", "field", "read", "record"]

T = TypeVar("T")
Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, object]  # where, what, the value found there

_MISSING: Any = dataclasses.MISSING


class RecordError(ValueError):
    """Every problem found in one record's data, each with where it is."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(self.first)

    @property
    def where(self) -> str:
        """The first problem's place, dotted: ``config.hidden_size`` (empty: the record)."""
        return ".".join(str(p) for p in self.problems[0][0])

    @property
    def message(self) -> str:
        """The first problem, without its place."""
        return self.problems[0][1]

    @property
    def first(self) -> str:
        """The first problem, one line: ``where: what``."""
        return f"{self.where}: {self.message}" if self.where else self.message

    @property
    def count(self) -> int:
        return len(self.problems)


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    pattern: str | None = None,
    description: str | None = None,
) -> Any:
    """A dataclass field with bounds :func:`read` checks, and a description for the docs."""
    rules = {
        k: v
        for k, v in (
            ("gt", gt),
            ("ge", ge),
            ("le", le),
            ("min_length", min_length),
            ("pattern", pattern),
            ("description", description),
        )
        if v is not None
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=rules)
    return dataclasses.field(default=default, metadata=rules)


def checked(name: str, check: Callable[[str], str]) -> Any:
    """A string type whose values :func:`read` passes through ``check`` (which raises
    ValueError with the reason); to type checkers and to pydantic it is a ``str``."""
    kind = NewType(name, str)  # type: ignore[misc]
    kind.__strict_check__ = check
    return kind


class Record:
    """Base of the records made by :func:`record`. :func:`read` refuses a key the record does
    not declare, or skips it where the record's config says ``"ignore"``; the setting is spelled
    the way pydantic reads a dataclass's config, so that the web app's OpenAPI document states
    it too (``additionalProperties: false``)."""

    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}


@typing.dataclass_transform(
    kw_only_default=True, frozen_default=True, field_specifiers=(dataclasses.field, field)
)
def record(cls: type[T]) -> type[T]:
    """A :class:`Record` subclass as a frozen dataclass built by keyword (:func:`frozen`)."""
    assert issubclass(cls, Record), f"{cls.__name__} must subclass rigfit.strict.Record"
    return frozen(kw_only=True)(cls)


# ---- reading --------------------------------------------------------------------------------


class _BadValueError(Exception):
    """One value that could not be read (internal: turned into a problem with its place)."""


@frozen
class _Field:
    name: str
    hint: Any
    required: bool
    rules: dict[str, Any]


@cache
def _fields(cls: type) -> tuple[_Field, ...]:
    hints = _hints(cls)
    return tuple(
        _Field(
            f.name,
            hints[f.name],
            f.default is _MISSING and f.default_factory is _MISSING,
            dict(f.metadata),
        )
        for f in dataclasses.fields(cls)
        if f.init
    )


def _hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)``, with each annotation's text evaluated once per module
    (the records repeat ``int | None`` hundreds of times; evaluating each took 20 ms a run)."""
    out: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        for name, hint in inspect.get_annotations(base).items():
            out[name] = _evaluate(hint, base.__module__) if isinstance(hint, str) else hint
    return out


@cache
def _evaluate(text: str, module: str) -> Any:
    return eval(text, vars(sys.modules[module]))


def read(cls: type[T], data: object) -> T:
    """``data`` (a file's tables) as a ``cls``, checked; raises :class:`RecordError`."""
    problems: list[Problem] = []
    out = _record(cls, data, (), problems)
    if problems:
        raise RecordError(problems)
    return out  # type: ignore[no-any-return]


def _record(cls: type, data: object, loc: Loc, problems: list[Problem]) -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        problems.append((loc, f"Input should be a table of {cls.__name__} fields", data))
        return None
    fields = _fields(cls)
    before = len(problems)
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in data:
            if f.required:
                problems.append(((*loc, f.name), "Field required", None))
            continue
        try:
            values[f.name] = _value(f.hint, data[f.name], (*loc, f.name), problems)
            _rules(f.rules, values[f.name])
        except _NestedError:
            pass  # its problems are listed under their own places
        except _BadValueError as exc:
            problems.append(((*loc, f.name), str(exc), data[f.name]))
    if getattr(cls, "__pydantic_config__", {}).get("extra", "forbid") == "forbid":
        names = {f.name for f in fields}
        problems.extend(
            ((*loc, k), "Extra inputs are not permitted", v)
            for k, v in data.items()
            if k not in names
        )
    if len(problems) > before:
        return None
    try:
        # built without compiling its __init__: read once, a record's costs more to compile
        return build(cls, values)
    except ValueError as exc:
        problems.append((loc, f"Value error, {exc}", data))
        return None


def _rules(rules: dict[str, Any], value: Any) -> None:
    if value is None or not rules:
        return
    if (gt := rules.get("gt")) is not None and not value > gt:
        raise _BadValueError(f"Input should be greater than {gt}")
    if (ge := rules.get("ge")) is not None and not value >= ge:
        raise _BadValueError(f"Input should be greater than or equal to {ge}")
    if (le := rules.get("le")) is not None and not value <= le:
        raise _BadValueError(f"Input should be less than or equal to {le}")
    if (n := rules.get("min_length")) is not None and len(value) < n:
        raise _BadValueError(f"String should have at least {n} character{'s' if n != 1 else ''}")
    if (p := rules.get("pattern")) is not None and not re.fullmatch(p, value):
        raise _BadValueError(f"String should match pattern '{p}'")


def _value(hint: Any, value: object, loc: Loc, problems: list[Problem]) -> Any:
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        return _union(typing.get_args(hint), value, loc, problems)
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
        raise _BadValueError(f"Input should be {_alternatives(typing.get_args(hint))}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _BadValueError("Input should be a valid list")
        args = typing.get_args(hint)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _BadValueError(f"Input should have {len(args)} items")
            return tuple(
                _item(a, v, (*loc, i), problems)
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        items = [_item(args[0], v, (*loc, i), problems) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _BadValueError("Input should be a valid dictionary")
        key, val = typing.get_args(hint)
        return {
            _value(key, k, loc, problems): _item(val, v, (*loc, k), problems)
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(hint):
        assert isinstance(hint, type)
        out = _record(hint, value, loc, problems)
        if out is None:
            raise _NestedError
        return out
    return _scalar(hint, value)


class _NestedError(_BadValueError):
    """A nested record whose problems are already listed under their own places."""


def _item(hint: Any, value: object, loc: Loc, problems: list[Problem]) -> Any:
    try:
        return _value(hint, value, loc, problems)
    except _NestedError:
        return None
    except _BadValueError as exc:
        problems.append((loc, str(exc), value))
        return None


def _union(args: tuple[Any, ...], value: object, loc: Loc, problems: list[Problem]) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise _BadValueError("Input should not be None")
    options = [a for a in args if a is not type(None)]
    if len(options) == 1:
        # ``X | None``: X's own problems, at their own places (a list's item, a record's key)
        return _value(options[0], value, loc, problems)
    # a value of exactly one member's type is that member (an int in ``int | str`` stays int)
    exact = [a for a in options if isinstance(a, type) and type(value) is a]
    last: _BadValueError | None = None
    for a in exact or options:
        trial: list[Problem] = []
        try:
            out = _value(a, value, loc, trial)
        except _BadValueError as exc:
            last = exc
            continue
        if not trial:
            return out
        last = _BadValueError(trial[0][1])
    raise last if last is not None else _BadValueError("Input is not allowed here")


def _scalar(hint: Any, value: object) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        if type(value) is int and value in (0, 1):  # some config.json writers use 0 and 1
            return bool(value)
        raise _BadValueError("Input should be a valid boolean")
    if hint is int:
        if isinstance(value, bool):
            raise _BadValueError("Input should be a valid integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
            return int(value)  # 2.0 from a JSON writer; beyond 2**53 a float is not exact
        raise _BadValueError("Input should be a valid integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _BadValueError("Input should be a valid number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _BadValueError("Input should be a valid string")
    if check := getattr(hint, "__strict_check__", None):
        if not isinstance(value, str):
            raise _BadValueError("Input should be a valid string")
        try:
            return check(value)
        except ValueError as exc:
            raise _BadValueError(f"Value error, {exc}") from exc
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise _BadValueError(
                f"Input should be {_alternatives([m.value for m in hint])}"
            ) from None
    if hint is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise _BadValueError("Input should be a valid date in the format YYYY-MM-DD")
    raise TypeError(f"rigfit.strict cannot read a {hint!r} field")


def _alternatives(values: typing.Iterable[object]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


# ---- writing --------------------------------------------------------------------------------


def dump(value: object, hint: Any = Any) -> Any:
    """``value`` as JSON values: records as objects in field order, enums as their values,
    tuples as lists, dates as ``YYYY-MM-DD``, and an integer in a ``float`` field as a float."""
    if value is None or isinstance(value, (bool, str)):
        return value.value if isinstance(value, enum.Enum) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: dump(getattr(value, f.name), f.hint) for f in _fields(type(value))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, int):
        return float(value) if _wants_float(hint) else value
    if isinstance(value, (list, tuple)):
        item = _item_hint(hint)
        return [dump(v, item) for v in value]
    if isinstance(value, dict):
        val = typing.get_args(_strip_none(hint))[1:2] or (Any,)
        return {dump(k): dump(v, val[0]) for k, v in value.items()}
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _members(hint: Any) -> Iterator[Any]:
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        yield from typing.get_args(hint)
    else:
        yield hint


def _strip_none(hint: Any) -> Any:
    args = [a for a in _members(hint) if a is not type(None)]
    return args[0] if len(args) == 1 else hint


def _wants_float(hint: Any) -> bool:
    members = set(_members(hint))
    return float in members and int not in members


def _item_hint(hint: Any) -> Any:
    args = typing.get_args(_strip_none(hint))
    if not args:
        return Any
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return args[0] if len(set(args)) == 1 else Any
