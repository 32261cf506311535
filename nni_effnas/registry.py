"""Explicit, typed registries: one per kind of plug-in (spaces, strategies, evaluators, ...).

A registry maps a stable lowercase key (public API, e.g. ``"regularized_evolution"``) to a builder.
Registering a name twice raises; looking up an unknown name raises a one-line ``ValueError`` that lists
the known names. Other packages add to a registry through a Python entry-point group (the documented seam of
Python packaging): :meth:`Registry.load_entry_points` imports each entry point of the group, whose import
registers its builders as ours do. Groups (docs/plugins.md): ``nni_effnas.strategies``,
``nni_effnas.search_spaces``, ``nni_effnas.evaluators``, ``nni_effnas.oneshot_methods``,
``nni_effnas.predictors``, ``nni_effnas.proxies``; each registry loads its group after its built-in entries.
"""
from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")
_logger = logging.getLogger(__name__)


class Registry(Generic[T]):
    """A named collection of builders of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator: ``@STRATEGIES.register("random")``."""

        def decorator(obj: T) -> T:
            self.add(name, obj, aliases=aliases)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, aliases: tuple[str, ...] = ()) -> None:
        if not name or name != name.lower():
            raise ValueError(f"{self.kind} name {name!r} must be a non-empty lowercase key")
        for key in (name, *aliases):
            if key in self._items or key in self._aliases:
                raise ValueError(f"{self.kind} {key!r} is already registered")
        self._items[name] = obj
        for alias in aliases:
            self._aliases[alias] = name

    def canonical(self, name: str) -> str:
        key = name.lower().replace("-", "_") if isinstance(name, str) else name
        key = self._aliases.get(key, key)
        if key not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}")
        return key

    def get(self, name: str) -> T:
        return self._items[self.canonical(name)]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Call the builder registered as ``name``; unknown keyword arguments raise a one-line ``ValueError``."""
        builder = self.get(name)
        try:
            return builder(**kwargs)  # type: ignore[operator]
        except TypeError as exc:
            raise ValueError(f"bad arguments for {self.kind} {name!r}: {exc}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def load_entry_points(self, group: str) -> list[str]:
        """Import every entry point of ``group`` (installed packages declare them, e.g. in pyproject.toml:
        ``[project.entry-points."nni_effnas.strategies"] my_search = "my_package.my_search"``); importing the
        module (or object) is what registers it. One that fails to import is logged and skipped, so a broken
        plug-in cannot stop the built-in ones. Returns the names of the entry points loaded."""
        loaded = []
        for point in entry_points(group=group):
            try:
                point.load()
            except Exception as exc:  # noqa: BLE001 - any error in a third-party module
                _logger.warning("%s plug-in %r (%s) failed to load and is skipped: %s: %s", self.kind, point.name,
                                point.value, type(exc).__name__, exc)
            else:
                loaded.append(point.name)
        return loaded

    def __contains__(self, name: object) -> bool:
        try:
            self.canonical(name)  # type: ignore[arg-type]
        except (ValueError, AttributeError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
