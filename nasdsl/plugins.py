"""The plugin manager and the registries the hooks fill.

Plugins load lazily, once, from the ``nasdsl`` entry-point group (built-ins and
third-party packages alike); ``NASDSL_DISABLE_PLUGINS=a,b`` blocks plugins by
name; ``check_pending()`` catches a misspelt hook.  ``primitives`` holds the ops
plugins declare to the language (``register_primitives``); ``nasdsl.primitives``
reads it the first time a name outside the core vocabulary is looked up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

import pluggy

from . import hookspecs
from .errors import NasdslError

T = TypeVar("T")
GROUP = "nasdsl"


class PluginError(NasdslError):
    """An unknown or duplicate name in a registry, or a plugin that fails to load."""


@dataclass
class Entry(Generic[T]):
    name: str
    obj: T
    plugin: str
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> object, filled by one hook; ``kind`` is what the objects are ("strategy", ...)."""

    def __init__(self, kind: str, hook: str):
        self.kind = kind
        self.hook = hook
        self._entries: dict[str, Entry[T]] | None = None

    def _fill(self) -> dict[str, Entry[T]]:
        if self._entries is None:
            entries: dict[str, Entry[T]] = {}
            pm = plugin_manager()
            for impl in getattr(pm.hook, self.hook).get_hookimpls():
                plugin = pm.get_name(impl.plugin) or repr(impl.plugin)

                def register(name: str, obj: T, _plugin: str = plugin, **meta: Any) -> None:
                    key = self._key(name, meta)
                    if key in entries:
                        raise PluginError(f"{self.kind} '{name}' is registered twice "
                                          f"(by {entries[key].plugin} and by {_plugin})")
                    entries[key] = Entry(name, obj, _plugin, dict(meta))

                impl.function(register=register)
            self._entries = entries
        return self._entries

    def _key(self, name: str, meta: dict[str, Any]) -> str:
        return name

    def get(self, name: str) -> T:
        entries = self._fill()
        if name not in entries:
            avail = ", ".join(sorted(entries)) or "none"
            raise PluginError(f"unknown {self.kind} '{name}'; available: {avail}")
        return entries[name].obj

    def entry(self, name: str) -> Entry[T]:
        self.get(name)
        return self._fill()[name]

    def names(self) -> list[str]:
        return sorted(self._fill())

    def reset(self) -> None:
        self._entries = None


class OpRegistry(Registry[Callable[..., Any]]):
    """Op implementations are per backend: ``register("sep_conv", factory, backend="torch")``."""

    def _key(self, name: str, meta: dict[str, Any]) -> str:
        return f"{meta.get('backend', 'torch')}:{name}"

    def get(self, name: str, backend: str = "torch") -> Callable[..., Any]:  # type: ignore[override]
        e = self._fill().get(f"{backend}:{name}")
        if e is None:
            avail = ", ".join(self.names(backend)) or "none"
            raise PluginError(f"unknown {backend} op '{name}'; available: {avail}")
        return e.obj

    def entry(self, name: str, backend: str = "torch") -> Entry[Callable[..., Any]]:  # type: ignore[override]
        self.get(name, backend)
        return self._fill()[f"{backend}:{name}"]

    def get_op(self, name: str, backend: str = "torch") -> Callable[..., Any] | None:
        e = self._fill().get(f"{backend}:{name}")
        return None if e is None else e.obj

    def names(self, backend: str = "torch") -> list[str]:  # type: ignore[override]
        prefix = f"{backend}:"
        return sorted(k[len(prefix):] for k in self._fill() if k.startswith(prefix))


class PrimitiveRegistry(Registry[Any]):
    """Ops the plugins declare to the language (``register_primitives``): name -> ``primitives.Primitive``.

    The callback is ``register(name, params=(), rule=None, *, shape=None, doc="", aliases=None)``
    (see :func:`nasdsl.primitives.make`).  A name the core vocabulary or another plugin (or alias)
    already has is an error naming both.
    """

    def __init__(self, kind: str, hook: str):
        super().__init__(kind, hook)
        self._partial: dict[str, Entry[Any]] | None = None
        self._table: dict[str, Any] | None = None

    def _fill(self) -> dict[str, Entry[Any]]:
        if self._entries is not None:
            return self._entries
        if self._partial is not None:  # a plugin looked an op up while declaring its own: what is known so far
            return self._partial
        from . import primitives as prims

        entries: dict[str, Entry[Any]] = {}
        self._partial = entries
        try:
            pm = plugin_manager()
            core = prims.core_primitives()
            for impl in pm.hook.register_primitives.get_hookimpls():
                plugin = pm.get_name(impl.plugin) or repr(impl.plugin)

                def register(name: str, params: Any = (), rule: str | None = None, *, shape: Any = None,
                             doc: str = "", aliases: Any = None, _plugin: str = plugin) -> None:
                    try:
                        made = prims.make(name, params, rule, shape=shape, doc=doc, aliases=aliases, origin=_plugin)
                    except ValueError as e:
                        raise PluginError(f"plugin {_plugin} declares a bad primitive: {e}") from None
                    for prim in made:
                        if prim.name in core:
                            raise PluginError(f"primitive '{prim.name}' is declared twice (by {prims.CORE}, the core "
                                              f"vocabulary, and by {_plugin})")
                        if prim.name in entries:
                            raise PluginError(f"primitive '{prim.name}' is declared twice "
                                              f"(by {entries[prim.name].plugin} and by {_plugin})")
                    for prim in made:
                        entries[prim.name] = Entry(prim.name, prim, _plugin)

                impl.function(register=register)
            self._entries = entries
        finally:
            self._partial = None
        return self._entries

    def table(self) -> dict[str, Any]:
        """Name -> Primitive for every op the plugins declare (aliases included); do not modify it."""
        if self._table is None or self._entries is None:
            entries = self._fill()
            table = {name: e.obj for name, e in entries.items()}
            if entries is not self._entries:  # still filling: do not keep a partial answer
                return table
            self._table = table
        return self._table

    def reset(self) -> None:
        super().reset()
        self._partial = None
        self._table = None


strategies: Registry[type] = Registry("strategy", "register_strategies")
estimators: Registry[type] = Registry("estimator", "register_estimators")
backends: Registry[type] = Registry("backend", "register_backends")
ops = OpRegistry("op", "register_ops")
datasets: Registry[Callable[..., Any]] = Registry("dataset", "register_datasets")
executors: Registry[type] = Registry("executor", "register_executors")
primitives = PrimitiveRegistry("primitive", "register_primitives")
REGISTRIES = (strategies, estimators, backends, ops, datasets, executors, primitives)

_pm: pluggy.PluginManager | None = None


def plugin_manager() -> pluggy.PluginManager:
    """The one PluginManager, loaded on first use."""
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager(GROUP)
        pm.add_hookspecs(hookspecs)
        for name in _disabled():
            pm.set_blocked(name)
        try:
            pm.load_setuptools_entrypoints(GROUP)
        except Exception as e:  # a broken third-party plugin must not take the tool down silently
            raise PluginError(f"a plugin failed to load: {type(e).__name__}: {e}") from e
        pm.check_pending()
        _pm = pm
    return _pm


def _disabled() -> list[str]:
    return [n.strip() for n in os.environ.get("NASDSL_DISABLE_PLUGINS", "").split(",") if n.strip()]


def reset() -> None:
    """Forget the loaded plugins and registries (tests, and after installing a plugin)."""
    global _pm
    _pm = None
    for r in REGISTRIES:
        r.reset()


def check_options(kind: str, name: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Raise ValueError naming options a strategy / estimator does not have, and the ones it has."""
    unknown = set(options) - set(allowed)
    if unknown:
        raise ValueError(f"{kind} '{name}' has no option {', '.join(sorted(unknown))}; "
                         f"its options: {', '.join(allowed) or 'none'}")


def convert_option(typ: type, value: Any) -> Any:
    """An option's value as ``typ`` (bool, int, float or str), from its written form (``-S order=2``,
    ``-E amp=false``); raise ValueError saying what it must be (``must be an integer; got 'abc'``)."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "0", "false", "no"):
            return str(value).lower() in ("1", "true", "yes")
        raise ValueError(f"is true or false; got {value!r}")
    try:
        if typ is int:
            f = float(value)
            if isinstance(value, bool) or not f.is_integer():
                raise ValueError
            return int(f)
        return typ(value)
    except (TypeError, ValueError, OverflowError):
        kind = {int: "an integer", float: "a number", str: "a word"}.get(typ, typ.__name__)
        raise ValueError(f"must be {kind}; got {value!r}") from None


def get_strategy(name: str) -> type:
    return strategies.get(name)


def get_estimator(name: str) -> type:
    return estimators.get(name)


def get_backend(name: str) -> type:
    return backends.get(name)


def get_dataset(name: str) -> Callable[..., Any]:
    return datasets.get(name)


def get_executor(name: str) -> type:
    return executors.get(name)


def registrations() -> dict[str, dict[str, list[str]]]:
    """What each plugin registers: plugin -> kind (``strategy``, ``op (torch)``, ...) -> sorted names."""
    out: dict[str, dict[str, list[str]]] = {}
    for r in REGISTRIES:
        for e in r._fill().values():
            kind = f"{r.kind} ({e.meta.get('backend', 'torch')})" if isinstance(r, OpRegistry) else r.kind
            out.setdefault(e.plugin, {}).setdefault(kind, []).append(e.name)
    return {p: {k: sorted(v) for k, v in kinds.items()} for p, kinds in out.items()}


def list_plugins() -> list[dict[str, Any]]:
    """Every loaded plugin: name, distribution version, and the hooks it implements."""
    pm = plugin_manager()
    dists = {id(p): d for p, d in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        out.append({"name": name, "version": getattr(dist, "version", "") if dist else "",
                    "package": dist.project_name if dist is not None and hasattr(dist, "project_name") else
                    (dist.metadata["name"] if dist is not None else ""), "hooks": hooks})
    return out
