"""Hostile input (issue 15): genotype strings and store rows crafted at random give clear errors only.

Hypothesis writes DARTS strings, NAS-Bench-201 strings and JSON genotypes (soups of their own tokens,
mutations of valid ones, arbitrary JSON), and store rows of every SQLite type in every column.  Reading
them must give a genotype or a :class:`nasdsl.errors.NasdslError` (``GenotypeError``, ``StoreError``):
any other exception -- an internal error to a user -- fails the test.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasdsl import Space
from nasdsl.adapters import read_genotype, to_nb201
from nasdsl.errors import NasdslError
from nasdsl.genotype import Genotype
from nasdsl.report import summary
from nasdsl.store import Store

from .conftest import DARTS_V2, ROOT

NB201_OK = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def nb201():
    return Space.from_file(ROOT / "spaces" / "nasbench201.nas", params={"C": 4, "N": 1})


@pytest.fixture(scope="module")
def darts():
    return Space.from_file(ROOT / "spaces" / "darts.nas")


def _read(space: Space, text: str) -> None:
    """A genotype of the space, or a clear error; nothing else."""
    try:
        g = read_genotype(space, text)
    except NasdslError as e:
        assert str(e) and "Traceback" not in str(e)
        return
    assert space.validate(g) == g  # what it read is a genotype the space accepts


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    for kind, pos, piece in edits:
        i = pos % (len(text) + 1)
        if kind == 0:
            text = text[:i] + piece + text[i:]
        elif kind == 1:
            text = text[:i] + text[i + len(piece) + 1:]
        else:
            text = text[:i] + piece
    return text


EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.text(max_size=6)), min_size=1, max_size=4)
NB201_TOKENS = st.sampled_from(["|", "+", "~", "0", "1", "2", "3", "9" * 30, "²", "-1", "none", "skip_connect",
                                "nor_conv_3x3", "avg_pool_3x3", " ", "\n", "~~", "||", "f" * 50, "\x00"])
DARTS_TOKENS = st.sampled_from(["Genotype(", ")", "(", "[", "]", ",", "=", "normal", "reduce", "normal_concat",
                                "reduce_concat", "range(", "'sep_conv_3x3'", "'none'", "0", "1", "-5", "10**9",
                                "2, 6, 0", "__import__('os')", "lambda: 0", "*", "{", "}", "'", "\"", " "])


FORMATS = {"nb201": (NB201_OK, "|", NB201_TOKENS), "darts": (DARTS_V2, "Genotype(", DARTS_TOKENS)}


@pytest.mark.parametrize("form", FORMATS)
@FAST
@given(data=st.data())
def test_mutated_genotype_strings(request, form, data):
    valid, _, _ = FORMATS[form]
    _read(request.getfixturevalue(form), _mutate(valid, data.draw(EDITS)))


@pytest.mark.parametrize("form", FORMATS)
@FAST
@given(data=st.data())
def test_genotype_token_soups(request, form, data):
    _, head, tokens = FORMATS[form]
    _read(request.getfixturevalue(form), head + "".join(data.draw(st.lists(tokens, max_size=40))))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                    max_leaves=20)


@FAST
@given(data=st.data(), extra=JSON)
def test_json_genotypes(nb201, data, extra):
    names = list(nb201.decisions)
    values = data.draw(st.dictionaries(st.sampled_from(names + ["nope", ""]), JSON, max_size=len(names) + 1))
    for text in (json.dumps(values), json.dumps({"space": extra, "values": values}), json.dumps(extra)):
        _read(nb201, text)


@pytest.fixture(scope="module")
def store_file(tmp_path_factory, nb201):
    db = tmp_path_factory.mktemp("hostile") / "s.db"
    with Store(db) as s:
        s.set_meta({"network": "nasbench201", "objective": "valid_acc", "pareto": ["valid_acc", "-params"]})
        for i, g in enumerate(nb201.sample(seed) for seed in range(4)):
            s.add(g, f"h{i}", "completed", 0.5 + i / 10, {"valid_acc": 0.5 + i / 10, "params": 1000.0 * i})
    return db


CELL = st.none() | st.integers(-2 ** 63, 2 ** 63 - 1) | st.floats(allow_nan=True) | st.text(max_size=30) \
    | st.binary(max_size=30) | st.sampled_from(['{"a": 1}', "[]", "{}", "null", '"x"', "completed", "{not json"])
COLUMNS = ("genotype", "hash", "status", "value", "metrics", "error", "started", "finished", "duration", "worker")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(row=st.integers(0, 3), changes=st.lists(st.tuples(st.sampled_from(COLUMNS), CELL), min_size=1, max_size=4),
       meta=st.one_of(st.none(), st.tuples(st.sampled_from(["objective", "pareto", "network"]), CELL)))
def test_crafted_store_rows(store_file, tmp_path_factory, row, changes, meta):
    db = tmp_path_factory.mktemp("row") / "s.db"
    db.write_bytes(store_file.read_bytes())
    con = sqlite3.connect(db)
    for col, v in changes:
        try:
            con.execute(f"UPDATE trials SET {col} = ? WHERE number = ?", (v, row))
        except sqlite3.IntegrityError:  # NOT NULL columns: SQLite itself refuses the row
            pass
    if meta is not None:
        try:
            con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta)
        except sqlite3.IntegrityError:  # meta.value is NOT NULL too (None, and NaN, which SQLite stores as NULL)
            pass
    con.commit()
    con.close()
    try:
        with Store(db, readonly=True) as s:
            trials = s.trials()
            assert len(trials) == 4 and all(isinstance(t.genotype, Genotype) for t in trials)
            s.best()
            s.counts()
            summary(s)
    except NasdslError as e:
        assert str(e) and "Traceback" not in str(e)


def test_a_valid_nb201_string_round_trips(nb201):
    assert to_nb201(nb201, read_genotype(nb201, NB201_OK)) == NB201_OK
