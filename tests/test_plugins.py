"""The plugin system: one test per hook, the registries' errors, loading, ``nasdsl plugins``, a real third-party package.

Throwaway plugins are registered with ``nasdsl.testing.registered`` (``pm.register`` and
``pm.unregister`` in ``finally``); plugins that must go through the entry-point path are
real distributions: a ``*.dist-info`` folder put on ``sys.path``, or ``tests/thirdparty_plugin``
(a strategy) and ``tests/thirdparty_ops`` (an op for the language and the torch backend)
pip-installed into the current environment and uninstalled afterwards.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pluggy
import pytest

import nasdsl
from nasdsl import hookimpl, hookspecs, plugins
from nasdsl.plugins import PluginError
from nasdsl.testing import registered

ROOT = Path(__file__).resolve().parent.parent
THIRDPARTY = Path(__file__).resolve().parent / "thirdparty_plugin"
THIRDPARTY_OPS = Path(__file__).resolve().parent / "thirdparty_ops"

BUILTIN_PLUGINS = {  # entry-point name -> module, as pyproject.toml lists them
    "torch": "nasdsl_plugins.torch_backend",
    "datasets": "nasdsl_plugins.datasets",
    "strategies": "nasdsl_plugins.strategies",
    "estimators": "nasdsl_plugins.estimators",
    "nasbench_graph": "nasdsl_plugins.nasbench_graph",
    "executors": "nasdsl_plugins.executors",
}
BUILTIN_HOOKS = {
    "torch": ["register_backends", "register_ops"],
    "datasets": ["register_datasets"],
    "strategies": ["register_strategies"],
    "estimators": ["register_estimators"],
    "nasbench_graph": ["register_estimators", "register_primitives"],
    "executors": ["register_executors"],
}


def _get_op(name: str) -> Callable[..., Any]:
    return plugins.ops.get(name)


# hook, registry, the get_* function, what the built-ins register (at least)
HOOK_CASES = [
    ("register_strategies", plugins.strategies, plugins.get_strategy,
     {"random", "grid", "evolution", "reinforce", "tpe", "local", "bananas"}),
    ("register_estimators", plugins.estimators, plugins.get_estimator,
     {"train", "sha", "hyperband", "cost", "zc", "nasbench-graph"}),
    ("register_backends", plugins.backends, plugins.get_backend, {"torch"}),
    ("register_ops", plugins.ops, _get_op,
     {"sep_conv", "dil_conv", "conv", "avg_pool", "max_pool", "skip_connect", "none", "linear", "mbconv"}),
    ("register_datasets", plugins.datasets, plugins.get_dataset, {"digits", "mnist1d", "npz"}),
    ("register_executors", plugins.executors, plugins.get_executor, {"inprocess", "local"}),
]
HOOK_IDS = [c[0] for c in HOOK_CASES]


@pytest.fixture(autouse=True)
def fresh_plugins():
    """Every test starts from, and leaves, a plugin manager not loaded yet."""
    plugins.reset()
    yield
    plugins.reset()


def throwaway(hook: str, name: str, obj: Any, **meta: Any) -> Any:
    """A plugin object implementing one hook, which registers ``obj`` under ``name``."""

    def impl(self, register):
        register(name, obj, **meta)

    impl.__name__ = hook
    return type("Throwaway", (), {hook: hookimpl(impl)})()


class Thing:
    """Something to register: the registries do not care what they hold."""


# ---------------------------------------------------------------------------- one test per hook
@pytest.mark.parametrize("hook,registry,get,builtins", HOOK_CASES, ids=HOOK_IDS)
def test_hook_registers_next_to_the_builtins(hook, registry, get, builtins):
    name = f"throwaway-{hook.removeprefix('register_')}"
    meta = {"backend": "torch"} if hook == "register_ops" else {}
    with registered(throwaway(hook, name, Thing, **meta), name="test-throwaway"):
        names = registry.names()
        assert name in names
        assert builtins <= set(names), f"built-ins missing from {registry.kind}: {builtins - set(names)}"
        assert get(name) is Thing
        assert registry.entry(name).plugin == "test-throwaway"
        for b in builtins:  # the built-ins come from the entry-point plugins, not from the throwaway
            assert registry.entry(b).plugin in BUILTIN_PLUGINS
            assert get(b) is not Thing
    # unregistered in finally: the name is gone, the built-ins stay
    assert name not in registry.names()
    assert builtins <= set(registry.names())
    with pytest.raises(PluginError, match=f"unknown .*'{name}'"):
        get(name)


def test_register_primitives_declares_ops_next_to_the_builtins():
    """The hook's callback takes a declaration, not an object: the op joins the language's vocabulary."""
    from nasdsl import Space, primitives

    class Declares:
        @hookimpl
        def register_primitives(self, register):
            register("throwaway_op", params=(("width", primitives.SAME),), rule="mlp", doc="a throwaway")

    gnn = {"gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc"}
    with registered(Declares(), name="test-throwaway"):
        assert {"throwaway_op"} | gnn <= set(plugins.primitives.names())
        assert plugins.primitives.entry("throwaway_op").plugin == "test-throwaway"
        for op in gnn:  # the built-in declarations come from the NAS-Bench-Graph entry-point plugin
            assert plugins.primitives.entry(op).plugin == "nasbench_graph"
        prim = primitives.get("throwaway_op")
        assert plugins.primitives.get("throwaway_op") is prim and prim.param_names() == ["width"]
        space = Space.from_text("network n() {\n    input [6]\n    x = throwaway_op\n    return linear(2)\n}\n", "t.nas")
        assert space.realize(space.sample(0)).output_shape == (2,)
    assert "throwaway_op" not in plugins.primitives.names() and primitives.get("throwaway_op") is None
    assert gnn <= set(plugins.primitives.names())
    with pytest.raises(PluginError, match="unknown primitive 'throwaway_op'; available: arma, cheb, fc, gat, gcn"):
        plugins.primitives.get("throwaway_op")


def test_ops_are_per_backend():
    fake = throwaway("register_ops", "sep_conv", Thing, backend="fakebackend")
    with registered(fake, name="fake-backend-ops"):
        assert plugins.ops.names("fakebackend") == ["sep_conv"]
        assert plugins.ops.get("sep_conv", backend="fakebackend") is Thing
        assert plugins.ops.get_op("sep_conv", "fakebackend") is Thing
        assert plugins.ops.get("sep_conv") is not Thing  # torch's own sep_conv is untouched
        assert plugins.ops.get_op("sep_conv_3x3") is None  # the builder's lookup answers None, not raises
        with pytest.raises(PluginError, match="unknown fakebackend op 'conv'; available: sep_conv$"):
            plugins.ops.get("conv", backend="fakebackend")


def test_registered_plugin_reaches_a_search(tmp_path):
    """A strategy registered by a throwaway plugin is what ``Search`` runs (a real search, synthetic scores)."""
    from nasdsl.search import Search
    from nasdsl.testing import SyntheticEstimator
    from nasdsl_plugins.strategies import RandomSearch

    class Counting(RandomSearch):
        name = "counting"
        asked = 0

        def ask(self):
            type(self).asked += 1
            return super().ask()

    synthetic = throwaway("register_estimators", "synthetic", SyntheticEstimator)
    with registered(throwaway("register_strategies", "counting", Counting), synthetic):
        search = Search(ROOT / "spaces" / "nasbench201.nas", strategy="counting", estimator="synthetic", budget=4,
                        store=tmp_path / "s.db", executor="inprocess")
        try:
            result = search.run()
        finally:
            search.close()
    assert result.counts["completed"] == 4
    assert Counting.asked >= 4
    assert result.best is not None


# ---------------------------------------------------------------------------- registry errors
def test_duplicate_name_names_both_plugins():
    dup = throwaway("register_strategies", "random", Thing)
    with registered(dup, name="my-dup-plugin"):
        with pytest.raises(PluginError) as e:
            plugins.get_strategy("random")
    msg = str(e.value)
    assert "strategy 'random' is registered twice" in msg
    assert "strategies" in msg and "my-dup-plugin" in msg
    assert plugins.get_strategy("random") is not Thing  # gone with the plugin


def test_duplicate_within_one_plugin():
    class Twice:
        @hookimpl
        def register_datasets(self, register):
            register("twice", Thing)
            register("twice", Thing)

    with registered(Twice(), name="twice-plugin"):
        with pytest.raises(PluginError, match="dataset 'twice' is registered twice .*twice-plugin.*twice-plugin"):
            plugins.datasets.names()


@pytest.mark.parametrize("hook,registry,get,builtins", HOOK_CASES, ids=HOOK_IDS)
def test_unknown_name_lists_the_available_ones(hook, registry, get, builtins):
    with pytest.raises(PluginError) as e:
        get("evolve")
    msg = str(e.value)
    kind = "torch op" if registry is plugins.ops else registry.kind
    prefix = f"unknown {kind} 'evolve'; available: "
    assert msg.startswith(prefix), msg
    available = msg[len(prefix):].split(", ")
    assert available == sorted(available)
    assert builtins <= set(available)


def test_unknown_strategy_message():
    with pytest.raises(PluginError, match=r"^unknown strategy 'evolve'; available: bananas, bohb, darts, drnas, enas, evolution, fairnas, fbnet, gdas, grid, hierarchical, local, ofa, oneshot, pcdarts, pdarts, proxyless, "):
        plugins.get_strategy("evolve")


# ---------------------------------------------------------------------------- misspelt hooks
class Misspelt:
    @hookimpl
    def register_strategy(self, register):  # the hook is register_strategies
        register("never", Thing)


def test_misspelt_hook_caught_by_check_pending():
    with registered(Misspelt(), name="misspelt") as pm:
        with pytest.raises(pluggy.PluginValidationError, match="register_strategy"):
            pm.check_pending()
    plugins.plugin_manager().check_pending()  # unregistered again: the manager is clean


def test_misspelt_hook_caught_by_a_fresh_manager():
    """The same steps as ``plugin_manager()``: specs from nasdsl.hookspecs, register, ``check_pending``."""
    pm = pluggy.PluginManager("nasdsl")
    pm.add_hookspecs(hookspecs)
    pm.register(Misspelt(), name="misspelt")
    with pytest.raises(pluggy.PluginValidationError, match="unknown hook 'register_strategy'"):
        pm.check_pending()


def _fake_distribution(where: Path, module: str, source: str, version: str = "0.0.1") -> None:
    """A minimal installed distribution (dist-info with an entry point in group ``nasdsl``) under ``where``."""
    (where / f"{module}.py").write_text(textwrap.dedent(source))
    info = where / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[nasdsl]\n{module} = {module}\n")


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    """A folder on ``sys.path`` for fake distributions; their modules are forgotten afterwards."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for m in set(sys.modules) - before:
        if m.startswith("nasdsl_test_"):
            del sys.modules[m]
    plugins.reset()


def test_plugin_manager_rejects_a_misspelt_entry_point_plugin(on_path, monkeypatch):
    _fake_distribution(on_path, "nasdsl_test_misspelt", """
        from nasdsl import hookimpl

        @hookimpl
        def register_strategy(register):
            register("never", object)
    """)
    with pytest.raises(pluggy.PluginValidationError, match="register_strategy"):
        plugins.plugin_manager()
    # blocking the plugin by name lets everything else load
    monkeypatch.setenv("NASDSL_DISABLE_PLUGINS", "nasdsl_test_misspelt")
    plugins.reset()
    assert "random" in plugins.strategies.names()


def test_entry_point_plugin_that_fails_to_import(on_path, monkeypatch):
    _fake_distribution(on_path, "nasdsl_test_broken", "raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginError, match="a plugin failed to load: RuntimeError: boom at import"):
        plugins.plugin_manager()


def test_entry_point_plugin_loads_like_a_builtin(on_path):
    _fake_distribution(on_path, "nasdsl_test_extra", """
        from nasdsl import hookimpl

        class Extra:
            pass

        @hookimpl
        def register_executors(register):
            register("extra", Extra)
    """, version="2.5.0")
    assert plugins.get_executor("extra").__module__ == "nasdsl_test_extra"
    assert plugins.executors.entry("extra").plugin == "nasdsl_test_extra"
    listed = {p["name"]: p for p in plugins.list_plugins()}
    assert listed["nasdsl_test_extra"] == {"name": "nasdsl_test_extra", "version": "2.5.0",
                                           "package": "nasdsl_test_extra", "hooks": ["register_executors"]}


# ---------------------------------------------------------------------------- loading
def test_disable_plugins_blocks_the_builtin_strategies(monkeypatch):
    monkeypatch.setenv("NASDSL_DISABLE_PLUGINS", "strategies, executors")
    plugins.reset()
    with pytest.raises(PluginError, match="unknown strategy 'random'; available: "):
        plugins.get_strategy("random")
    with pytest.raises(PluginError, match="unknown executor 'local'"):
        plugins.get_executor("local")
    assert plugins.get_estimator("cost").__name__ == "CostEstimator"  # the others still load
    assert plugins.plugin_manager().is_blocked("strategies")
    assert "strategies" not in {p["name"] for p in plugins.list_plugins()}

    monkeypatch.delenv("NASDSL_DISABLE_PLUGINS")
    plugins.reset()
    assert plugins.get_strategy("random").__name__ == "RandomSearch"
    assert "local" in plugins.executors.names()


def test_loading_is_lazy_and_runs_once():
    assert plugins._pm is None  # reset() forgot it; nothing loaded it since
    pm = plugins.plugin_manager()
    assert plugins.plugin_manager() is pm
    first = plugins.strategies.names()
    with registered(throwaway("register_strategies", "late", Thing)):
        assert plugins.plugin_manager() is pm  # a registration reuses the manager ...
        assert "late" in plugins.strategies.names()  # ... and refills the registries
    assert plugins.strategies.names() == first


def test_builtins_load_through_the_entry_point_group():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group=plugins.GROUP)}
    for name, module in BUILTIN_PLUGINS.items():
        assert name in eps, f"built-in plugin {name} is not in the 'nasdsl' entry-point group"
        assert eps[name].value == module
        assert eps[name].dist is not None and eps[name].dist.name == "nasdsl"
    # the manager got each built-in from that group: pluggy records the distribution of entry-point plugins only
    pm = plugins.plugin_manager()
    from_entry_points = {pm.get_name(p): dist.project_name for p, dist in pm.list_plugin_distinfo()}
    for name, module in BUILTIN_PLUGINS.items():
        assert from_entry_points.get(name) == "nasdsl"
        assert pm.get_plugin(name) is importlib.import_module(module)
        assert sorted(h.name for h in pm.get_hookcallers(pm.get_plugin(name))) == BUILTIN_HOOKS[name]
    # and nothing else registers them: every plugin of the manager came through an entry point
    assert {n for n, p in pm.list_name_plugin() if p is not None} == set(from_entry_points)


def test_builtin_plugins_use_the_public_hookimpl():
    for module in BUILTIN_PLUGINS.values():
        src = inspect.getsource(importlib.import_module(module))
        assert "from nasdsl import hookimpl" in src, module
        assert "nasdsl.hookspecs" not in src and "pluggy" not in src, module


# ---------------------------------------------------------------------------- documentation
def test_every_hook_is_a_spec_and_documented():
    readme = (ROOT / "README.md").read_text()
    pm = pluggy.PluginManager("nasdsl")
    pm.add_hookspecs(hookspecs)
    specs = {name for name in dir(pm.hook) if not name.startswith("_")}
    assert set(hookspecs.HOOKS) == specs, "HOOKS and the @hookspec functions differ"
    assert nasdsl.hookimpl is hookspecs.hookimpl
    for hook in hookspecs.HOOKS:
        fn = getattr(hookspecs, hook)
        doc = (fn.__doc__ or "").strip()
        assert doc, f"hook {hook} has no docstring"
        assert doc.startswith("Runs when"), f"hook {hook}'s docstring does not say when it runs"
        assert "register(" in doc, f"hook {hook}'s docstring shows no register(...) example"
        assert "register" in inspect.signature(fn).parameters, f"hook {hook} takes no register callback"
        assert f"`{hook}`" in readme, f"hook {hook} is not documented in README.md"


def test_readme_lists_every_builtin_strategy_option_with_its_default():
    import re

    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^  \| `(\w+)` \| (.+?) \|$", readme, flags=re.M))
    for name in plugins.strategies.names():
        cls = plugins.get_strategy(name)
        defaults = getattr(cls, "defaults", {})
        if not defaults or not cls.__module__.startswith("nasdsl_plugins."):  # built-ins only
            continue
        assert name in rows, f"README has no options row for strategy {name}"
        documented = {k: v.strip("`") for k, v in re.findall(r"`(\w+)` (`[^`]*`|[^,]+)", rows[name])}  # `5,11,17`
        assert list(documented) == list(defaults), name
        for key, value in defaults.items():
            shown = documented[key].strip()
            want = str(value).lower() if isinstance(value, bool) else value
            assert (shown == want if isinstance(want, str) else float(shown) == float(want)), (name, key, shown)


# ---------------------------------------------------------------------------- the command line
def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NASDSL_DISABLE_PLUGINS"}
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "nasdsl", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _table_rows(out: str) -> dict[str, list[str]]:
    """``nasdsl plugins``' rich table -> plugin name -> its cells."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0]:
            rows[cells[0]] = cells
    return rows


def test_cli_plugins_lists_the_builtins():
    proc = _cli("plugins", timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = _table_rows(proc.stdout)
    for name, hooks in BUILTIN_HOOKS.items():
        assert name in rows, f"{name} missing from `nasdsl plugins`:\n{proc.stdout}"
        _, package, version, listed = rows[name]
        assert package == "nasdsl"
        assert version == nasdsl.__version__ == importlib.metadata.version("nasdsl")
        assert listed == ", ".join(hooks)


def test_cli_plugins_says_what_each_plugin_registers():
    """`nasdsl plugins` listed each plugin's hooks but not what it registers."""
    made = plugins.registrations()
    assert set(made["strategies"]["strategy"]) | {"darts"} <= set(plugins.strategies.names())
    assert "evolution" in made["strategies"]["strategy"] and "darts" not in made["strategies"]["strategy"]
    assert made["oneshot"] == {"strategy": ["darts", "drnas", "enas", "fairnas", "fbnet", "gdas", "ofa", "oneshot",
                                            "pcdarts", "pdarts", "proxyless", "rsws", "snas", "spos"]}
    assert set(made["torch"]) == {"backend", "op (torch)"} and "sep_conv" in made["torch"]["op (torch)"]
    assert made["nasbench_graph"]["primitive"] and "gcn" in made["nasbench_graph"]["primitive"]
    proc = _cli("plugins", timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.split("what each plugin registers", 1)[1].splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 3 and cells[0]:
            rows[(cells[0], cells[1])] = cells[2]
    assert rows[("strategies", "strategy")] == ", ".join(made["strategies"]["strategy"])
    assert rows[("datasets", "dataset")] == "digits, mnist1d, mnist1d-seq, npz"
    assert rows[("torch", "op (torch)")].startswith("avg_pool, batchnorm")


# ---------------------------------------------------------------------------- the third-party package
@pytest.fixture
def greedy_module(monkeypatch):
    """The plugin's module imported from its source folder (not installed)."""
    monkeypatch.syspath_prepend(str(THIRDPARTY))
    sys.modules.pop("nasdsl_greedy", None)
    mod = importlib.import_module("nasdsl_greedy")
    assert Path(mod.__file__).resolve().parent == THIRDPARTY / "nasdsl_greedy"
    yield mod
    sys.modules.pop("nasdsl_greedy", None)


def test_greedy_climbs_from_the_best_result(greedy_module):
    """The third-party strategy uses the reward: it mutates the best genotype told so far."""
    from nasdsl import Space
    from nasdsl.strategy import Result

    space = Space.from_file(ROOT / "spaces" / "nasbench201.nas")
    s = greedy_module.GreedySearch(space, seed=3, epsilon=0.0, init=1)

    def one_apart(a, b) -> bool:
        return sum(a.values[k] != b.values[k] for k in a.values) == 1

    g0 = s.ask()
    s.tell(g0, Result(1.0))
    g1 = s.ask()
    assert one_apart(g0, g1)
    s.tell(g1, Result(0.5))  # worse: the incumbent stays g0
    g2 = s.ask()
    assert one_apart(g0, g2) and g2 != g1
    s.tell(g2, Result(None, status="failed"))  # failed: never the incumbent
    g3 = s.ask()
    assert one_apart(g0, g3)
    s.tell(g3, Result(2.0))  # better: climb to g3
    g4 = s.ask()
    assert one_apart(g3, g4) and s.incumbent == (g3, 2.0)
    with pytest.raises(ValueError, match="has no option population"):
        greedy_module.GreedySearch(space, population=5)
    with pytest.raises(ValueError, match="epsilon must be in"):
        greedy_module.GreedySearch(space, epsilon="2")


def test_greedy_registers_through_its_hook(greedy_module):
    with registered(greedy_module, name="nasdsl-greedy-source"):
        assert plugins.get_strategy("greedy") is greedy_module.GreedySearch
        assert plugins.strategies.entry("greedy").plugin == "nasdsl-greedy-source"


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=300)


def _forget(module: str) -> None:
    """Drop ``module`` and its submodules from this process and re-read the entry points."""
    for m in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        del sys.modules[m]
    importlib.invalidate_caches()
    plugins.reset()


@contextlib.contextmanager
def pip_installed(package_dir: Path, dist: str, module: str, tmp_path: Path):
    """pip-install the package at ``package_dir`` into this environment, yield its version, uninstall it.

    Built from a copy, so the build leaves no build/ or *.egg-info in tests/; skipped if ``dist`` is
    installed already (not ours to remove); uninstalled even after a half-finished install, and checked gone.
    """
    version = re.search(r'^version = "([^"]+)"', (package_dir / "pyproject.toml").read_text(), re.M).group(1)
    if _pip("show", dist).returncode == 0:
        pytest.skip(f"{dist} is installed already (another run of this test?); not touching it")
    src = tmp_path / f"src-{dist}"
    shutil.copytree(package_dir, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    flags = ["--no-deps", "--no-build-isolation"] if importlib.util.find_spec("setuptools") else ["--no-deps"]
    installed = False
    try:
        proc = _pip("install", *flags, str(src))
        installed = True
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert importlib.metadata.version(dist) == version
        _forget(module)  # in this process too: the plugin now comes from the installed package's entry point
        assert Path(importlib.import_module(module).__file__).resolve().parent != package_dir / module
        yield version
    finally:
        if installed:
            out = _pip("uninstall", "-y", dist)
            assert out.returncode == 0, out.stdout + out.stderr
        _forget(module)
    assert _pip("show", dist).returncode != 0, f"{dist} is still installed"


def test_thirdparty_package_installs_and_runs(tmp_path):
    """pip-install tests/thirdparty_plugin into this environment; ``nasdsl plugins`` and ``nasdsl search`` see it."""
    with pip_installed(THIRDPARTY, "nasdsl-greedy", "nasdsl_greedy", tmp_path) as version:
        cls = plugins.get_strategy("greedy")  # from the entry point of the installed package
        assert cls.__name__ == "GreedySearch"
        assert Path(sys.modules[cls.__module__].__file__).resolve().parent != THIRDPARTY / "nasdsl_greedy"
        assert plugins.strategies.entry("greedy").plugin == "greedy"

        proc = _cli("plugins", timeout=120)
        assert proc.returncode == 0, proc.stderr
        rows = _table_rows(proc.stdout)
        assert "greedy" in rows, proc.stdout
        _, package, listed_version, hooks = rows["greedy"]
        assert re.fullmatch(r"nasdsl[-_]greedy", package), package
        assert listed_version == version
        assert hooks == "register_strategies"
        assert plugins.registrations()["greedy"] == {"strategy": ["greedy"]}
        assert {"strategies", "torch"} <= set(rows)  # the built-ins are still there

        store = tmp_path / "s.db"
        proc = _cli("search", "spaces/nasbench201.nas", "--strategy", "greedy", "--estimator", "cost",
                    "--budget", "5", "--store", str(store), "--quiet")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "trials: 5 completed" in proc.stdout, proc.stdout
        assert re.search(r"^best: trial \d+, -params = -\d", proc.stdout, re.M), proc.stdout
        from nasdsl.store import Store

        with Store(store) as st:
            assert st.meta()["strategy"] == "greedy"
    assert "greedy" not in plugins.strategies.names()


# ---------------------------------------------------------------------------- the third-party op package
SEQ_WITH_GELU2 = """
network n(classes = 3) {
    input [8, 5]
    x = tokens(6) -> gelu2
    return token_pool -> linear(classes)
}
"""


def test_thirdparty_op_package_adds_an_op_to_the_language(tmp_path):
    """pip-install tests/thirdparty_ops: ``gelu2`` (declared with register_primitives, implemented with
    register_ops) compiles in a .nas text, builds with the torch backend and runs; uninstalled, it is unknown."""
    torch = pytest.importorskip("torch")
    from nasdsl import NasError, Space, primitives

    with pytest.raises(NasError, match="unknown op or name 'gelu2'"):
        Space.from_text(SEQ_WITH_GELU2, "before.nas")
    with pip_installed(THIRDPARTY_OPS, "nasdsl-gelu2", "nasdsl_gelu2", tmp_path) as version:
        prim = primitives.get("gelu2")
        assert prim is not None and prim.origin == "gelu2" and prim.rule == "keep" and prim.param_names() == []
        assert "gelu2" in primitives.names() and "gelu2" in plugins.ops.names("torch")
        assert Path(sys.modules["nasdsl_gelu2"].__file__).resolve().parent != THIRDPARTY_OPS / "nasdsl_gelu2"

        space = Space.from_text(SEQ_WITH_GELU2, "gelu2.nas")
        arch = space.realize(space.sample(0))
        node = next(a for _, a in arch.graph.nodes(data=True) if a.get("op") == "gelu2")
        assert node["args"] == {} and tuple(node["shape"]) == (8, 6)
        model = plugins.get_backend("torch")().build(arch)
        torch.manual_seed(0)
        x = torch.randn(4, 8, 5)
        out = model(x)
        assert tuple(out.shape) == (4, 3) and torch.isfinite(out).all()
        # the plugin's module ran: the op's output is the tanh-approximated GELU of the tokens
        tok = model.ops.x_tokens(x)
        got = model.ops.x_gelu2(tok)
        assert type(model.ops.x_gelu2).__name__ == "Gelu2"
        assert torch.allclose(got, torch.nn.functional.gelu(tok, approximate="tanh"), atol=1e-6)
        assert not torch.allclose(got, torch.nn.functional.gelu(tok), atol=1e-6)
        out.square().mean().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

        # compiling with the package installed stays torch-free (the declaration imports no torch)
        code = ("import sys, nasdsl\n"
                f"nasdsl.Space.from_text({SEQ_WITH_GELU2!r}, 'g.nas')\n"
                "assert 'torch' not in sys.modules, 'torch was imported'\n"
                "print('ok')\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr

        proc = _cli("plugins", timeout=120)
        assert proc.returncode == 0, proc.stderr
        rows = _table_rows(proc.stdout)
        assert "gelu2" in rows, proc.stdout
        _, package, listed_version, hooks = rows["gelu2"]
        assert re.fullmatch(r"nasdsl[-_]gelu2", package), package
        assert listed_version == version and hooks == "register_ops, register_primitives"
        check = tmp_path / "g.nas"
        check.write_text(SEQ_WITH_GELU2)
        proc = _cli("check", str(check), timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert primitives.get("gelu2") is None
    with pytest.raises(NasError, match="unknown op or name 'gelu2'"):
        Space.from_text(SEQ_WITH_GELU2, "after.nas")
