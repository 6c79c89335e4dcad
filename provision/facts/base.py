"""What a fact is (a read-only shell command plus a pure parser of its output) and the store of
the facts gathered from one host.

A fact is a small frozen value naming what it reads (``FileContent("/etc/environment")``,
``PackageState("sudo")``), so equal facts are one entry of the store. Facts of one class may share
one command when gathered together (every ``PackageState`` of a batch is one ``dpkg-query``): see
``Fact.sections``. ``topics`` name what invalidates a fact: an apply that runs ``apt-get install``
invalidates ``dpkg``, and the facts on that topic are read again when next asked for.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from provision.errors import FactError

T = TypeVar("T")
V = TypeVar("V", covariant=True)  # a fact of a narrower value is a fact of a wider one

JsonValue = Any  # what json.dumps accepts; facts' values are dataclasses, dicts, lists and scalars

# Topics: what an apply step changes, and so which facts it makes stale.
DPKG = "dpkg"  # packages installed or removed (package states, JDK homes, alternatives)
APT_LISTS = "apt-lists"  # apt-get update (candidates, the lists' age)


@dataclass(frozen=True)
class Section:
    """One part of a facts script: a POSIX sh command and the parser of what it printed."""

    command: str
    parse: Callable[[list[str]], Mapping[Fact[object], object]]
    prelude: str = ""  # shell functions the command uses: defined once per script (Fact.prelude)


class Fact(Generic[V]):
    """A piece of host state. Subclasses are frozen dataclasses (their fields say what is read)
    and implement ``command`` and ``parse``, or ``sections`` to read several at once."""

    topics: ClassVar[frozenset[str]] = frozenset()
    prelude: ClassVar[str] = ""  # shell functions every command of the class uses (see Section)

    def command(self) -> str:
        """A read-only POSIX sh snippet; it may print anything but a line starting with ``@@``."""
        raise NotImplementedError

    def parse(self, lines: list[str]) -> V:
        """The fact's value from the lines ``command`` printed (pure; raises FactError)."""
        raise NotImplementedError

    @classmethod
    def sections(cls, facts: Sequence[Self]) -> list[Section]:
        """The script parts reading ``facts`` (all of this class). Default: one part each."""
        return [Section(f.command(), _single(f), f.prelude) for f in facts]

    def describe(self) -> str:
        """A short name for messages and JSON, e.g. ``file /etc/environment``."""
        values: list[str] = [str(getattr(self, f.name)) for f in dataclasses.fields(self)] \
            if dataclasses.is_dataclass(self) else []
        return " ".join([_snake(type(self).__name__), *values])

    def to_json(self, value: V) -> JsonValue:  # type: ignore[misc]  # V only ever is the fact's own value
        return to_json(value)

    def summarize(self, value: V) -> str:  # type: ignore[misc]
        """One line for ``provision facts``."""
        text = json.dumps(self.to_json(value), default=str)
        return text if len(text) <= 120 else text[:119] + "…"


def decode_b64(text: str, what: str) -> bytes:
    """A base64 field of a fact script's output; FactError naming ``what`` when it is not one."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FactError(f"{what}: unexpected output {text[:80]!r}") from None


def _single(fact: Fact[object]) -> Callable[[list[str]], Mapping[Fact[object], object]]:
    return lambda lines: {fact: fact.parse(lines)}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def to_json(value: object) -> JsonValue:
    """Dataclasses, mappings, sequences and bytes as JSON-ready values (bytes: UTF-8 text, else
    base64 under a ``base64:`` prefix)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return value


class Facts:
    """The facts known about one host: gathered, or set by an apply that knows the new value."""

    def __init__(self, *, estimates: bool = False) -> None:
        self._values: dict[Fact[object], object] = {}
        # ask for what only a review needs (apt's install size: seconds of apt simulation on a
        # slow host): plan and apply --check do, apply does not
        self.estimates = estimates

    def get(self, fact: Fact[T]) -> T:
        """The value of a fact that was gathered (a resource must ask for what it reads)."""
        try:
            return cast(T, self._values[fact])
        except KeyError:
            raise FactError(f"fact {fact.describe()} was not gathered (a resource reads a fact it "
                            "did not ask for)") from None

    def peek(self, fact: Fact[T]) -> T | None:
        """The value if known, else None (for deciding what else to ask for)."""
        return cast("T | None", self._values.get(fact))

    def __contains__(self, fact: object) -> bool:
        return fact in self._values

    def set(self, fact: Fact[T], value: T) -> None:
        self._values[fact] = value

    def update(self, values: Mapping[Fact[object], object]) -> None:
        self._values.update(values)

    def missing(self, facts: Iterable[Fact[object]]) -> list[Fact[object]]:
        """Those of ``facts`` not known, each once, in order."""
        out: list[Fact[object]] = []
        for f in facts:
            if f not in self._values and f not in out:
                out.append(f)
        return out

    def invalidate(self, *topics: str) -> None:
        """Forget every fact on one of ``topics`` (it is read again when next asked for)."""
        wanted = set(topics)
        for fact in [f for f in self._values if f.topics & wanted]:
            del self._values[fact]

    def items(self) -> list[tuple[Fact[object], object]]:
        return list(self._values.items())
