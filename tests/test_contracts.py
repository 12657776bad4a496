"""Contracts between the parts: built-in plugins import only public names, and the public strategy base does
what a third-party strategy needs (typed options, in-flight bookkeeping) without it parsing anything itself."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from nasdsl import Space
from nasdsl.strategy import Result, Strategy, Told, coerce_option, result_score, result_value

from .conftest import ROOT, load

PLUGINS = ROOT / "plugins" / "nasdsl_plugins"


# ------------------------------------------------------------ imports of built-in plugins
def _private(part: str) -> bool:
    """An underscore name that is not a dunder (``_base``, ``_launch``; not ``__version__``)."""
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _unit(parts: list[str]) -> tuple[str, ...]:
    """The plugin a dotted path of nasdsl_plugins belongs to: its top-level module or subpackage."""
    return tuple(parts[:2])


def _resolve(module: str, is_package: bool, target: str | None, level: int) -> str:
    """The absolute module of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(parts) - 1:
        raise ValueError(f"a relative import beyond the top package in {module}")
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([target] if target else []))


def import_violations(source: str, module: str, is_package: bool = False, filename: str = "<string>") -> list[str]:
    """Every import in ``source`` (the code of ``module``, a package's ``__init__`` if ``is_package``) that
    reaches past a public surface, as ``filename:line: what``.

    * of nasdsl: a module path with an underscore component (``nasdsl._launch``) or an underscore name
      (``from nasdsl.strategy import _x``);
    * of another built-in plugin (another top-level module or subpackage of nasdsl_plugins): the same, so
      ``from ..torch_backend.supernet import Supernet`` passes and ``from ..strategies._base import X`` does not.

    Imports within one's own plugin are free; imports anywhere in the tree count (in functions, under ifs).
    """
    tree = ast.parse(source, filename)
    own = _unit(module.split("."))
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.module, node.level)
            imports = [(base, None if alias.name == "*" else alias.name) for alias in node.names]
        else:
            continue
        for path, name in imports:
            parts = path.split(".")
            full = parts + ([name] if name else [])
            shown = f"{path} import {name}" if name else path
            where = (node.lineno, node.col_offset, f"{filename}:{node.lineno}: {shown}")
            if parts[0] == "nasdsl":
                if any(_private(p) for p in full[1:]):
                    found.append((*where[:2], f"{where[2]} (a private name of nasdsl)"))
            elif parts[0] == "nasdsl_plugins":
                if _unit(full) != own and any(_private(p) for p in full[1:]):
                    found.append((*where[:2], f"{where[2]} (internals of another plugin, {'.'.join(_unit(full))})"))
    return [message for _, _, message in sorted(found)]  # in the order of the source (ast.walk goes by depth)


def _plugin_files() -> list[Path]:
    return sorted(PLUGINS.rglob("*.py"))


def _module_of(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PLUGINS.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def test_plugins_import_only_public_names():
    files = _plugin_files()
    assert PLUGINS / "strategies" / "_base.py" in files and len(files) > 20  # the scan sees the plugins
    violations: list[str] = []
    for path in files:
        module, is_package = _module_of(path)
        violations += import_violations(path.read_text(), module, is_package, str(path.relative_to(ROOT)))
    assert not violations, "built-in plugins reach past public names:\n" + "\n".join(violations)


@pytest.mark.parametrize("module, is_package, source, expected", [
    # nasdsl itself
    ("nasdsl_plugins.estimators", False, "from nasdsl._launch import main", ["nasdsl._launch import main"]),
    ("nasdsl_plugins.estimators", False, "import nasdsl._launch", ["nasdsl._launch (a private"]),
    ("nasdsl_plugins.estimators", False, "import nasdsl.strategy as s, nasdsl._launch", ["nasdsl._launch"]),
    ("nasdsl_plugins.estimators", False, "from nasdsl.strategy import Strategy, _TRUE",
     ["nasdsl.strategy import _TRUE"]),
    ("nasdsl_plugins.estimators", False, "from nasdsl import __version__, hookimpl\nfrom nasdsl.strategy import *", []),
    ("nasdsl_plugins.estimators", False, "import numpy._core\nfrom torch import _C", []),  # not ours to police
    # another plugin's internals, absolute and relative
    ("nasdsl_plugins.oneshot.darts", False, "from ..torch_backend.supernet import Softmax, _thing",
     ["nasdsl_plugins.torch_backend.supernet import _thing (internals of another plugin, "
      "nasdsl_plugins.torch_backend)"]),
    ("nasdsl_plugins.oneshot.darts", False, "from ..strategies._base import BuiltinStrategy",
     ["nasdsl_plugins.strategies._base import BuiltinStrategy"]),
    ("nasdsl_plugins.oneshot.darts", False, "import nasdsl_plugins.strategies._base", ["strategies._base"]),
    ("nasdsl_plugins.oneshot.darts", False, "from nasdsl_plugins.strategies import _base",
     ["nasdsl_plugins.strategies import _base"]),
    ("nasdsl_plugins.oneshot.darts", False, "from .. import strategies\nfrom ..strategies import Reinforce\n"
     "from ..torch_backend.supernet import Supernet", []),
    ("nasdsl_plugins.estimators", False, "from .torch_backend.train import Recipe, _private",
     ["nasdsl_plugins.torch_backend.train import _private"]),
    ("nasdsl_plugins.estimators", False, "from ._shared import thing", ["nasdsl_plugins._shared import thing"]),
    # one's own plugin is free
    ("nasdsl_plugins.strategies.tpe", False, "from ._base import BuiltinStrategy\nfrom ._tokens import plan\n"
     "from nasdsl_plugins.strategies._base import value", []),
    ("nasdsl_plugins.oneshot.strategies", False, "from .config import _defaults\nfrom . import _x", []),
    # a package's __init__: one dot is the package itself
    ("nasdsl_plugins.oneshot", True, "from .strategies import _defaults", []),
    ("nasdsl_plugins.oneshot", True, "from ..strategies import _base", ["nasdsl_plugins.strategies import _base"]),
    # inside functions and conditions, each at its own line
    ("nasdsl_plugins.estimators", False,
     "import math\n\ndef f():\n    if math:\n        from nasdsl._launch import main\n"
     "    from .strategies._base import score\n",
     ["<string>:5: nasdsl._launch import main", "<string>:6: nasdsl_plugins.strategies._base import score"]),
    ("nasdsl_plugins.estimators", False, "from nasdsl._launch import *", ["nasdsl._launch (a private"]),
])
def test_import_violations_are_reported(module, is_package, source, expected):
    found = import_violations(source, module, is_package)
    assert len(found) == len(expected), found
    for got, want in zip(found, expected):
        assert want in got, (want, got)
        assert got.startswith("<string>:")


def test_a_violation_fails_the_scan(tmp_path):
    """The scan of a file with a violating import reports its file and line (the check is not vacuous)."""
    path = tmp_path / "bad.py"
    path.write_text('"""A plugin module."""\n\nfrom nasdsl.strategy import Strategy\nfrom nasdsl._launch import main\n')
    assert import_violations(path.read_text(), "nasdsl_plugins.bad", filename=str(path)) == [
        f"{path}:4: nasdsl._launch import main (a private name of nasdsl)"]


# ------------------------------------------------------------ the public strategy base
@functools.cache
def nb201() -> Space:
    return load("nasbench201.nas")


class Thirdparty(Strategy):
    """A third-party strategy as its author writes it: options declared in ``defaults``, nothing parsed."""

    name = "thirdparty"
    defaults = {"rate": 0.1, "count": 2, "flag": False, "label": "plain"}

    def ask(self):
        return self.fresh(lambda: self.space.sample(self.rng))


def test_thirdparty_options_are_coerced_from_strings():
    s = Thirdparty(nb201(), rate="0.3", count="5", flag="true", label="fancy")
    assert s.config == {"rate": 0.3, "count": 5, "flag": True, "label": "fancy"}
    assert [type(s.config[k]) for k in ("rate", "count", "flag")] == [float, int, bool]
    assert s.options == {"rate": "0.3", "count": "5", "flag": "true", "label": "fancy"}  # as given
    assert Thirdparty.option_names() == ("rate", "count", "flag", "label")
    d = Thirdparty(nb201())
    assert d.config == Thirdparty.defaults and d.config is not Thirdparty.defaults
    d.config["count"] = 9
    assert Thirdparty.defaults["count"] == 2
    t = Thirdparty(nb201(), rate=1, count=3.0, flag="off")  # numbers as Python values, a whole float for an int
    assert t.config["rate"] == 1.0 and type(t.config["rate"]) is float
    assert t.config["count"] == 3 and type(t.config["count"]) is int and t.config["flag"] is False
    assert Thirdparty(nb201(), count="1e3").config["count"] == 1000


def test_thirdparty_unknown_option_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^strategy 'thirdparty' has no option bogus; "
                                         r"its options: rate, count, flag, label$"):
        Thirdparty(nb201(), bogus="1")


@pytest.mark.parametrize("key, bad, typ", [("count", "abc", "int"), ("count", "2.5", "int"), ("count", True, "int"),
                                           ("rate", "abc", "float"), ("rate", "nan", "float"),
                                           ("rate", "inf", "float"), ("flag", "maybe", "bool"), ("flag", 1, "bool")])
def test_thirdparty_bad_value_is_refused_clearly(key, bad, typ):
    with pytest.raises(ValueError) as err:
        Thirdparty(nb201(), **{key: bad})
    assert str(err.value) == f"strategy 'thirdparty': option {key} must be {typ}, got {bad!r}"


def test_coerce_option_and_result_helpers():
    assert coerce_option("s", "k", " Yes ", False) is True
    assert coerce_option("s", "k", "0", True) is False
    assert coerce_option("s", "k", "adam", "sgd") == "adam"  # a default of another type takes the value as given
    assert coerce_option("s", "k", None, None) is None
    assert result_value(Result(0.5)) == 0.5 and result_score(Result(0.5)) == 0.5
    assert result_value(Result(None, status="failed")) is None
    assert result_value(Result(float("nan"))) is None
    assert result_score(Result(float("nan"))) == result_score(Result(None, status="failed")) == float("-inf")


class OldStyle(Strategy):
    """A strategy written before ``defaults``: it names its options and reads ``self.options`` itself."""

    name = "oldstyle"

    @classmethod
    def option_names(cls):
        return ("depth",)

    def __init__(self, space, seed=0, **options):
        super().__init__(space, seed, **options)
        self.depth = int(options.get("depth", 3))

    def ask(self):
        return self.fresh(lambda: self.space.sample(self.rng))


def test_a_strategy_naming_its_options_the_old_way_still_works():
    s = OldStyle(nb201(), depth="7")
    assert s.depth == 7 and s.config == {} and s.options == {"depth": "7"}
    with pytest.raises(ValueError, match=r"strategy 'oldstyle' has no option width; its options: depth$"):
        OldStyle(nb201(), width=2)


def test_the_base_used_simply_keeps_nothing_in_flight():
    """Without ``asked`` calls, nothing is pending: ``is_new`` is "not told", and replay asks and tells."""
    s = Thirdparty(nb201(), seed=2)
    first = [s.ask() for _ in range(5)]
    assert s.pending == {} and all(s.is_new(g) for g in first)
    s.tell(first[0], Result(1.0))
    assert not s.is_new(first[0]) and s.pending == {}
    r = Thirdparty(nb201(), seed=2)
    r.replay([Told(g, Result(1.0)) for g in first[:3]])
    assert r.told == 3 and r.pending == {}


class Marking(Strategy):
    """A third-party strategy that marks what it proposes, and keeps state per asked genotype."""

    name = "marking"

    def __init__(self, space, seed=0, **options):
        super().__init__(space, seed, **options)
        self.notes: dict[str, int] = {}
        self.dropped: list[str] = []

    def ask(self):
        g = self.fresh(lambda: self.space.sample(self.rng))
        self.notes[self.hash(g)] = len(self.notes)
        return self.asked(g)

    def drop(self, genotype):
        super().drop(genotype)
        self.dropped.append(self.hash(genotype))
        self.notes.pop(self.hash(genotype), None)


def test_in_flight_bookkeeping_is_public():
    s = Marking(nb201(), seed=4)
    flight = [s.ask() for _ in range(6)]
    assert len({s.hash(g) for g in flight}) == 6  # an asked genotype is not proposed again while in flight
    assert set(s.pending) == {s.hash(g) for g in flight} and not any(s.is_new(g) for g in flight)
    s.tell(flight[0], Result(0.5))
    assert s.hash(flight[0]) not in s.pending and len(s.pending) == 5 and not s.is_new(flight[0])

    # replaying a foreign history: each asked genotype it does not hold is dropped, none stays pending
    import random

    rng = random.Random(11)
    foreign = [nb201().sample(rng) for _ in range(4)]
    r = Marking(nb201(), seed=4)
    r.replay([Told(g, Result(1.0)) for g in foreign])
    assert r.pending == {} and r.told == 4 and len(r.dropped) == 4 and r.notes == {}
    # replaying its own history drops nothing
    own = Marking(nb201(), seed=4)
    history = []
    for _ in range(4):
        g = own.ask()
        own.tell(g, Result(1.0))
        history.append(Told(g, Result(1.0)))
    again = Marking(nb201(), seed=4)
    again.replay(history)
    assert again.dropped == [] and again.pending == {} and again.ask() == own.ask()


def test_a_strategy_reading_its_options_the_old_way_keeps_them_in_the_store(tmp_path):
    """A third-party strategy that overrides ``option_names`` and reads ``self.options`` (no ``defaults``):
    the store keeps those options, so a resume with another value is refused as another search."""
    from nasdsl import hookimpl
    from nasdsl.search import Search, SearchError
    from nasdsl.testing import registered

    class OldWay(Strategy):
        name = "oldway"

        @classmethod
        def option_names(cls):
            return ("width",)

        def ask(self):
            return self.fresh(lambda: self.space.sample(self.rng))

    class P:
        @hookimpl
        def register_strategies(self, register):
            register("oldway", OldWay)

    nb201 = str(ROOT / "spaces" / "nasbench201.nas")
    db = tmp_path / "o.db"
    common = dict(strategy="oldway", estimator="cost", store=db, executor="inprocess", params={"C": 4, "N": 1})
    with registered(P(), name="oldway-plugin"):
        s = Search(nb201, budget=2, strategy_options={"width": "3"}, **common)
        s.run()
        assert s.store.meta()["strategy_config"] == {"width": "3"}
        s.close()
        with pytest.raises(SearchError, match="strategy_config"):
            Search(nb201, budget=3, resume=True, strategy_options={"width": "4"}, **common)
        s = Search(nb201, budget=3, resume=True, strategy_options={"width": "3"}, **common)
        assert s.run().counts["completed"] == 3
        s.close()
