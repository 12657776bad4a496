"""DARTS Genotype(...) strings and NAS-Bench-201 arch strings, both ways."""

from __future__ import annotations

import pytest

from nasdsl import GenotypeError
from nasdsl.adapters import from_darts, from_nb201, parse_darts, read_genotype, to_darts, to_nb201

from .conftest import DARTS_V2, load

NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_darts_v2_realizes_and_writes_back_the_same_string():
    space = load("darts.nas")
    g = from_darts(space, DARTS_V2)
    assert to_darts(space, g) == DARTS_V2
    arch = space.realize(g)
    ops = {a["op"] for _, a in arch.graph.nodes(data=True) if a["kind"] == "op"}
    assert {"sep_conv_3x3", "dil_conv_3x3", "max_pool_3x3", "skip_connect", "factorized_reduce"} <= ops
    # node 4 of the normal cell: sep_conv_3x3 on input 1, skip_connect on input 0 (order kept)
    assert g.values["darts_cell.n4.inputs"] == ["s1", "s0"]
    assert g.values["darts_cell.n4.op0"] == "sep_conv_3x3" and g.values["darts_cell.n4.op1"] == "skip_connect"
    # the reduction cell's skip_connect from node 2 is a plain identity, not a reduction
    assert g.values["reduce_cell.n3.inputs"] == ["n2", "s1"]


def test_darts_round_trip_for_sampled_genotypes():
    space = load("darts.nas")
    for seed in range(10):
        g = space.sample(seed)
        s = to_darts(space, g)
        assert from_darts(space, s) == g


def test_darts_string_is_never_executed():
    space = load("darts.nas")
    evil = "Genotype(normal=__import__('os').system('echo pwned'), reduce=[])"
    with pytest.raises(GenotypeError):
        from_darts(space, evil)
    with pytest.raises(GenotypeError, match="only lists"):
        parse_darts("Genotype(normal=[(x, 0)], reduce=[])")


@pytest.mark.parametrize("text,match", [
    ("Genotype(normal=[('sep_conv_3x3', 0)], reduce=[])", "needs 8"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 9)"), "index 9"),
    (DARTS_V2.replace("'dil_conv_3x3'", "'dil_conv_7x7'"), "allowed"),
    (DARTS_V2.replace("normal_concat=range(2, 6)", "normal_concat=range(2, 5)"), "concatenates"),
    ("Genotype(normal=[", "not a DARTS genotype"),
])
def test_bad_darts_strings(text, match):
    with pytest.raises(GenotypeError, match=match):
        from_darts(load("darts.nas"), text)


def test_darts_format_on_other_pick_spaces():
    for name in ("pnas.nas", "enas_micro.nas", "nasnet.nas"):
        space = load(name)
        g = space.sample(1)
        assert from_darts(space, to_darts(space, g)) == g


def test_nb201_string_round_trip():
    space = load("nasbench201.nas")
    g = from_nb201(space, NB201_BEST)
    assert to_nb201(space, g) == NB201_BEST
    assert g.values["nb201_cell.e2_3"] == "nor_conv_3x3"
    for seed in range(10):
        h = space.sample(seed)
        assert from_nb201(space, to_nb201(space, h)) == h


@pytest.mark.parametrize("text,match", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", "has 2 nodes"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~2|+|a~0|b~1|c~2|", "op~i with i < 2"),
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "allowed"),
])
def test_bad_nb201_strings(text, match):
    with pytest.raises(GenotypeError, match=match):
        from_nb201(load("nasbench201.nas"), text)


def test_read_genotype_accepts_every_form(tmp_path):
    nb = load("nasbench201.nas")
    g = from_nb201(nb, NB201_BEST)
    f = tmp_path / "g.json"
    f.write_text(g.to_json())
    assert read_genotype(nb, str(f)) == g
    assert read_genotype(nb, g.to_json()) == g
    assert read_genotype(nb, NB201_BEST) == g
    assert read_genotype(load("darts.nas"), DARTS_V2) == from_darts(load("darts.nas"), DARTS_V2)
    with pytest.raises(GenotypeError, match="no genotype file"):
        read_genotype(nb, "missing.json")


def test_genotype_errors_name_the_decision_and_allowed_values():
    space = load("nasbench201.nas")
    g = dict(space.sample(0).values)
    g["nb201_cell.e0_1"] = "conv_9x9"
    with pytest.raises(GenotypeError) as e:
        space.validate(g)
    msg = str(e.value)
    assert "nb201_cell.e0_1" in msg and "conv_9x9" in msg and "nor_conv_3x3" in msg
    with pytest.raises(GenotypeError, match="did you mean 'nb201_cell.e2_3'"):
        space.validate({**space.sample(0).values, "nb201_cel.e2_3": "none"})
    with pytest.raises(GenotypeError, match="missing decision 'nb201_cell.e2_3'"):
        space.validate({k: v for k, v in space.sample(0).values.items() if k != "nb201_cell.e2_3"})
    darts = load("darts.nas")
    d = dict(darts.sample(0).values)
    d["darts_cell.n3.inputs"] = ["s0", "s0"]
    with pytest.raises(GenotypeError, match="2 different inputs"):
        darts.validate(d)
