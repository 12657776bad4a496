"""The differentiable methods beside DARTS on the supernet: SNAS, GDAS, DrNAS, and DARTS+ early stopping."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nasdsl import Space  # noqa: E402
from nasdsl.datasets import load_dataset  # noqa: E402
from nasdsl_plugins.oneshot.config import (DartsConfig, DartsError, DrnasConfig, GdasConfig,  # noqa: E402
                                           PcdartsConfig, PdartsConfig, SnasConfig)
from nasdsl_plugins.oneshot.darts import (METHODS, DartsSearch, GdasSearch, PdartsSearch,  # noqa: E402
                                          SnasSearch, skip_counts)
from nasdsl_plugins.oneshot.relax import Dirichlet, Gumbel  # noqa: E402
from nasdsl_plugins.torch_backend.supernet import Softmax, build_supernet  # noqa: E402

from .conftest import SPACES_DIR  # noqa: E402

CONFIGS = {"darts": DartsConfig, "snas": SnasConfig, "gdas": GdasConfig, "drnas": DrnasConfig,
           "pcdarts": PcdartsConfig, "pdarts": PdartsConfig}
SMALL = {"nasbench201.nas": {"C": 4, "N": 1}, "darts.nas": {"C": 4, "layers": 3}}


def _space(name: str) -> Space:
    return Space.from_file(SPACES_DIR / name, params=SMALL[name])


def _candidate_calls(sup, x) -> tuple[set[str], set[str]]:
    """(the candidate op nodes a mixed forward ran, those the sampled weights switched on)."""
    g = sup.ir.graph
    by_key = {}
    for n in sup.ir.nodes("op"):
        opts = [p for p in g.nodes[n]["path"] if p[0] == "opt"]
        if opts and n not in sup._alias:
            by_key[sup._module[n]] = (n, opts[-1][1], opts[-1][2])
    ran: set[str] = set()
    hooks = [sup.ops[k].register_forward_hook(lambda m, i, o, n=n: ran.add(n)) for k, (n, _, _) in by_key.items()]
    try:
        sup(x)
    finally:
        for h in hooks:
            h.remove()
    mix = sup.last_mixture
    on = set()
    for n, ch, i in by_key.values():
        if ch in sup._edge_row:
            dec, row = sup._edge_row[ch]
            flags = mix[dec][1]
            flags = None if flags is None else flags[row]
        else:
            flags = mix[g.nodes[ch]["decision"]][1]
        if flags is None or flags[i]:
            on.add(n)
    return ran, on


@pytest.mark.parametrize("name", ["nasbench201.nas", "darts.nas"])
def test_gdas_computes_only_the_sampled_ops(name):
    torch.manual_seed(0)
    sup = build_supernet(_space(name), (1, 8, 8), add_none=True)
    x = torch.randn(4, 1, 8, 8)
    ran_all, _ = _candidate_calls(sup, x)  # DARTS' softmax: every candidate runs
    sup.relax = Gumbel(5.0, hard=True)
    ran, on = _candidate_calls(sup, x)
    assert ran == on  # exactly the sampled candidates ran, and every one of them did
    per_choice = len(ran_all) / len(ran)
    assert per_choice > 3  # 5 (NB201) or 7 (DARTS) candidates per choice, one of them sampled (or none)
    for dec, (w, flags) in sup.last_mixture.items():
        rows = w if w.dim() == 2 else w.unsqueeze(0)
        assert all(sum(r) == 1 for r in (flags if isinstance(flags[0], list) else [flags]))  # one-hot rows
        assert torch.allclose(rows.detach(), torch.tensor(flags if isinstance(flags[0], list) else [flags]).to(rows))
    sup(x).square().mean().backward()
    grads = [a.grad for a in sup.arch_parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(int(g.abs().sum() > 0) for g in grads) >= len(grads) // 2  # straight through to the logits


def test_gumbel_soft_and_dirichlet_weights_are_random_rows_of_a_simplex():
    torch.manual_seed(0)
    sup = build_supernet(_space("nasbench201.nas"), (1, 8, 8), add_none=False)
    dec = next(iter(sup._alpha))
    logits = sup.alpha(dec)
    for relax in (Gumbel(1.0), Dirichlet()):
        (w1, on1), (w2, _) = relax(sup, dec, logits), relax(sup, dec, logits)
        assert on1 is None and abs(float(w1.detach().sum()) - 1) < 1e-5 and not torch.allclose(w1, w2)
        (g,) = torch.autograd.grad(w1[0], logits)
        assert float(g.abs().sum()) > 0  # reparameterised: the sample is differentiable in the logits
    cold = torch.stack([Gumbel(0.01)(sup, dec, logits)[0].detach() for _ in range(50)])
    assert float(cold.max(1).values.mean()) > 0.98  # a cold temperature gives nearly one-hot samples
    hot = torch.stack([Gumbel(100.0)(sup, dec, logits)[0].detach() for _ in range(50)])
    assert float(hot.max(1).values.max()) < 0.5  # a hot one, nearly uniform ones


def test_the_temperatures_anneal_linearly_over_the_epochs():
    space, data = _space("nasbench201.nas"), load_dataset("digits")
    s = GdasSearch(space, data, GdasConfig(epochs=5, max_steps=1, batch_size=16))
    taus = []
    for _ in range(5):
        taus.append(s.relaxation().tau)
        s.epoch += 1
    assert np.allclose(taus, [10.0, 7.525, 5.05, 2.575, 0.1])
    assert SnasSearch(space, data, SnasConfig(epochs=3)).relaxation().tau == 1.0


def test_snas_is_single_level_and_its_resource_term_favours_cheap_ops():
    space, data = _space("nasbench201.nas"), load_dataset("digits")

    def free_mass(resource: float) -> float:
        s = SnasSearch(space, data, SnasConfig(epochs=1, batch_size=32, a_lr=0.05, resource=resource, seed=1))
        assert len(s.w_y) == len(data.y_train) and s.a_x is s.w_x  # one split, one loss for both
        for i in range(6):
            s.step(s.w_x[i * 32:(i + 1) * 32], s.w_y[i * 32:(i + 1) * 32], None, None)
        probs = s.probabilities()
        opts = space.decisions[next(iter(probs))].options
        free = [i for i, o in enumerate(opts) if o in ("none", "skip_connect", "avg_pool_3x3")]
        return float(np.mean([sum(p[i] for i in free) for p in probs.values()]))

    assert free_mass(1e4) > free_mass(0.0) + 0.05  # a large penalty moves probability to parameter-free ops
    s = SnasSearch(space, data, SnasConfig(epochs=1))
    s.supernet.relax = Softmax()
    s.supernet(torch.as_tensor(data.x_train[:2]))
    expected = float(s.supernet.expected_params(s.supernet.last_mixture).detach())
    by_hand = 0.0  # under uniform weights: the mean over options of each choice's parameters
    for ch, row in s.supernet._opt_params.items():
        by_hand += sum(row.values()) / len(space.decisions[sup_dec(s, ch)].options)
    assert expected > 0 and abs(expected - by_hand) / by_hand < 1e-2


def sup_dec(search, ch: str) -> str:
    return search.supernet.ir.graph.nodes[ch]["decision"]


def test_drnas_adds_the_kl_to_a_uniform_dirichlet():
    space, data = _space("nasbench201.nas"), load_dataset("digits")
    s = METHODS["drnas"](space, data, DrnasConfig(epochs=1))
    with torch.no_grad():
        for a in s.alphas:
            a.zero_()  # ELU(0) + 1 = 1: the prior itself
    assert abs(float(s.arch_penalty().detach())) < 1e-6
    with torch.no_grad():
        for a in s.alphas:
            a.normal_()
    kl = s.arch_penalty()
    assert float(kl) > 0 and kl.requires_grad


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("name", ["nasbench201.nas", "darts.nas"])
def test_every_method_trains_an_epoch_and_derives_a_genotype_that_builds_and_trains(method, name):
    from nasdsl.plugins import get_backend

    space, data = _space(name), load_dataset("digits")
    extra = {}
    if method == "pdarts":  # stages of 1 epoch at depths the small networks take
        extra = {"epochs": 1, "stages": "1,2" if name == "nasbench201.nas" else "3,4", "keep": "3",
                 "skip_dropout": "0.1,0.4", "depth_param": "N" if name == "nasbench201.nas" else "layers"}
    search = METHODS[method](space, data, CONFIGS[method](**{"epochs": 2, "max_steps": 3, "batch_size": 32,
                                                           "warmup": 0, **extra}))
    before = [(a, a.detach().clone()) for a in search.alphas]  # the tensors themselves (P-DARTS' next stage has new ones)
    rec = search.run_epoch()
    assert rec["epoch"] == 1 and np.isfinite(rec["train_loss"]) and np.isfinite(rec["arch_loss"])
    assert 0 <= rec["supernet_acc"] <= 1
    assert any(not torch.equal(a.detach(), b) for a, b in before)  # α was trained
    g = space.validate(rec["genotype"])
    assert all(v != "none" for k, v in g.values.items() if ".op" in k)  # the added 'none' is never derived
    result = get_backend("torch")().train(space.realize(g, data.input_shape), data, {"epochs": 1, "max_steps": 2})
    assert 0 <= result.metrics["valid_acc"] <= 1


def test_only_darts_has_a_second_order():
    for cfg in (SnasConfig, GdasConfig, DrnasConfig):
        with pytest.raises(DartsError, match="first order"):
            cfg(order=2)
    with pytest.raises(DartsError, match="GDAS has no option 'resource'"):
        GdasConfig.from_options({"resource": "1"})
    with pytest.raises(DartsError, match="tau must be positive"):
        SnasConfig(tau=0)


ONE_EDGE = """
ops o = [conv_3x3 -> batchnorm, skip_connect, avg_pool_3x3]
cell c(x) { return dag(nodes = 2, edge = o) }
network one(classes = 3) {
    input [1, 4, 4]
    s = conv_3x3(8) -> batchnorm
    t = c
    return global_avg_pool -> linear(classes)
}
"""


def test_partial_channels_run_the_ops_on_a_quarter_and_bypass_the_rest():
    from nasdsl_plugins.torch_backend.ops import ChannelShuffle

    space = Space.from_text(ONE_EDGE, file="one.nas")
    torch.manual_seed(0)
    full = build_supernet(space, (1, 4, 4))
    sup = build_supernet(space, (1, 4, 4), partial=4).eval()
    (dec,) = sup._alpha
    conv = next(m for m in sup.ops.values() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
                and m.in_channels != 1)
    assert conv.in_channels == conv.out_channels == 2  # 8 channels / K=4
    assert sum(p.numel() for p in sup.weights()) < sum(p.numel() for p in full.weights())
    seen = {}
    keys = {n: sup._module[n] for n in sup.ir.nodes("op")}
    stem = sup.ops[keys[next(n for n in keys if n.startswith("s.batchnorm"))]]
    pool = sup.ops[keys[next(n for n in keys if "global_avg_pool" in n)]]
    stem.register_forward_hook(lambda m, i, o: seen.update(x=o))
    pool.register_forward_hook(lambda m, i, o: seen.update(cell=i[0]))
    with torch.no_grad():
        sup.alpha(dec).copy_(torch.tensor([0.3, -0.2, 0.5]))
        sup(torch.randn(2, 1, 4, 4))
        x = seen["x"]
        w = torch.softmax(sup.alpha(dec), -1)
        opts = [sup.ops[keys[n]] for n in sorted(keys) if n.startswith("t.")]
        ends = sup.ir.graph.nodes[next(iter(sup._pc))]["ends"]
        part = x[:, :2]
        outs = []
        for e in ends:  # each option's chain of ops on the first quarter of the channels
            chain, n = [], e
            while n in keys and n.startswith("t."):
                chain.append(n)
                n = sup.ir.graph.nodes[n]["inp"]
            t = part
            for n in reversed(chain):
                t = sup.ops[keys[n]](t)
            outs.append(t)
        mixed = sum(wi * o for wi, o in zip(w, outs))
        want = ChannelShuffle(4)(torch.cat([mixed, x[:, 2:]], 1))
    assert opts and torch.allclose(seen["cell"], want, atol=1e-6)
    with pytest.raises(Exception, match="partial-channel supernet"):
        sup.export(space.default().values)


def test_edge_normalisation_weighs_and_ranks_the_candidate_edges():
    space = _space("darts.nas")
    torch.manual_seed(0)
    sup = build_supernet(space, (1, 8, 8), add_none=True, partial=2)
    assert set(sup._beta) == {d for d, k in sup._kind.items() if k == "edge"} and len(sup._beta) == 8
    assert all(any(b is a for a in sup.arch_parameters()) for b in sup.betas.values())
    assert not {id(b) for b in sup.betas.values()} & {id(w) for w in sup.weights()}
    dec = "darts_cell.n5.inputs"  # candidates s0, s1, n2, n3, n4
    with torch.no_grad():
        for a in sup.arch_parameters():
            a.zero_()
        sup.betas[sup._beta[dec]].copy_(torch.tensor([0.0, 0.0, 0.0, 3.0, 2.0]))
    assert sup.derive()[dec] == ["n3", "n4"]  # equal α: the edges β favours
    with torch.no_grad():
        sup.betas[sup._beta[dec]].copy_(torch.tensor([3.0, 0.0, 2.0, 0.0, 0.0]))
    assert sup.derive()[dec] == ["s0", "n2"]
    out = sup(torch.randn(2, 1, 8, 8))
    out.sum().backward()
    assert float(sup.betas[sup._beta[dec]].grad.abs().sum()) > 0  # β is trained through the forward


def test_partial_channels_are_refused_where_k_does_not_divide_the_channels():
    from nasdsl_plugins.torch_backend.supernet import SupernetError, check_supernet

    with pytest.raises(SupernetError, match=r"has 4 channels, which partial channels K=3 do not divide"):
        check_supernet(_space("darts.nas"), add_none=True, partial=3)
    check_supernet(_space("darts.nas"), add_none=True, partial=4)


def test_pdarts_stages_grow_the_depth_and_shrink_the_candidates():
    space, data = _space("darts.nas"), load_dataset("digits")
    s = PdartsSearch(space, data, PdartsConfig(epochs=1, warmup=0, max_steps=1, batch_size=16, stages="3,4,5",
                                               keep="5,3", skip_dropout="0.1,0.4,0.7"))
    x = torch.as_tensor(data.x_train[:4])
    seen = []
    while not s.done:
        sup = s.supernet
        depth = sup.space.params["layers"]
        ran, on = _candidate_calls(sup, x)
        assert ran == on  # dropped candidates are never computed
        kept = {dec: m for dec, m in s.masks.items() if sup._kind[dec] == "edge"}
        per_row = {sum(row) for m in kept.values() for row in m} if kept else {8}
        seen.append((depth, per_row, sup.skip_dropout))
        s.run_epoch()
    assert seen == [(3, {8}, 0.1), (4, {5}, 0.4), (5, {3}, 0.7)]  # cells 3 -> 4 -> 5, candidates 8 -> 5 -> 3
    assert s.epoch == 3 and s.total_epochs == 3
    # the kept candidates are the strongest of the stage before: a row's kept options outweigh its dropped ones
    again = PdartsSearch(space, data, PdartsConfig(epochs=1, warmup=0, max_steps=1, batch_size=16, stages="3,4",
                                                   keep="2", skip_dropout="0.1,0.4"))
    sup = again.supernet
    dec = next(d for d in sup._alpha if sup._kind[d] == "edge")
    with torch.no_grad():
        sup.alpha(dec).copy_(torch.arange(8.0).repeat(sup.alpha(dec).shape[0], 1))
    masks = again.shrink(2)
    assert all(row == [False] * 6 + [True, True] for row in masks[dec])


def test_pdarts_ends_with_at_most_max_skips_per_cell_and_resumes_mid_stage():
    space, data = _space("darts.nas"), load_dataset("digits")
    cfg = dict(epochs=1, warmup=0, max_steps=1, batch_size=16, stages="3,4", keep="8", skip_dropout="0.1,0.4")
    s = PdartsSearch(space, data, PdartsConfig(**cfg, max_skips=2))
    s.run_epoch()
    _skips_everywhere(s.inner)
    assert skip_counts(space, s.supernet.derive()) == {"darts_cell": 8, "reduce_cell": 8}
    g = s.derive()
    assert skip_counts(space, g) == {"darts_cell": 2, "reduce_cell": 8}  # the paper's rule: the normal cell only
    space.validate(g)
    every = PdartsSearch(space, data, PdartsConfig(**cfg, max_skips=2, skip_cells="all"))
    every.run_epoch()
    _skips_everywhere(every.inner)
    assert skip_counts(space, every.derive()) == {"darts_cell": 2, "reduce_cell": 2}
    state = s.state_dict()
    back = PdartsSearch(space, data, PdartsConfig(**cfg, max_skips=2))
    back.load_state_dict(state)
    assert (back.stage, back.epoch, back.masks) == (1, 1, s.masks)
    assert back.supernet.space.params["layers"] == 4
    with pytest.raises(DartsError, match="parameter 'layers', which network 'nasbench201' does not have"):
        PdartsSearch(_space("nasbench201.nas"), data, PdartsConfig(**cfg))
    with pytest.raises(DartsError, match=r"stage of layers=1 lacks darts_cell.n2.inputs"):
        PdartsSearch(space, data, PdartsConfig(**{**cfg, "stages": "1,3"}))  # one cell: the reduction cell only
    with pytest.raises(DartsError, match="keep gives the candidates kept after each stage"):
        PdartsConfig(stages="5,11,17", keep="5")


def _skips_everywhere(search: DartsSearch, cells: str = "") -> None:
    """α that derives skip_connect on every edge of every cell (of the cells named, when some are)."""
    sup = search.supernet
    with torch.no_grad():
        for dec, key in sup._alpha.items():
            if cells and dec.split(".")[0] not in cells.split(","):
                continue
            a = sup.alphas[key]
            if sup._kind[dec] == "edge":
                a[:, sup._edge_ops[dec].index("skip_connect")] = 10.0
            elif sup._kind[dec] == "op" and "skip_connect" in sup._options[dec]:
                a[sup._options[dec].index("skip_connect")] = 10.0


def test_darts_plus_stops_once_a_cell_has_enough_skip_connections():
    space, data = _space("darts.nas"), load_dataset("digits")
    cfg = dict(epochs=5, max_steps=1, batch_size=16, a_lr=1e-6)
    plain = DartsSearch(space, data, DartsConfig(**cfg))
    _skips_everywhere(plain)
    plain.run_epoch()
    assert not plain.done and not plain.stopped  # no rule: it goes on
    s = DartsSearch(space, data, DartsConfig(**cfg, early_stop=2))
    _skips_everywhere(s)
    rec = s.run_epoch()
    counts = skip_counts(space, rec["genotype"])
    assert counts == {"darts_cell": 8, "reduce_cell": 8}  # 4 nodes x 2 edges, all skips
    assert s.done and "DARTS+ early stop: cell 'darts_cell' has 8 skip connections" in rec["stopped"]
    assert s.run() == []  # stopped: no more epochs
    fresh = DartsSearch(space, data, DartsConfig(**cfg, early_stop=2))
    fresh.load_state_dict(s.state_dict())
    assert fresh.done and fresh.epoch == 1  # a resumed run stays stopped
    few = DartsSearch(space, data, DartsConfig(**cfg, early_stop=9))
    _skips_everywhere(few)
    few.run_epoch()
    assert not few.done  # 8 skips < 9
    # the rule counts in the normal cell (DARTS+): skips in the reduction cell only do not stop the search
    assert s.supernet.cell_kinds() == {"darts_cell": "normal", "reduce_cell": "reduction"}
    assert s.ruled_cells() == {"darts_cell"}
    for cells, stops in (("normal", False), ("reduce_cell", True), ("all", True)):
        r = DartsSearch(space, data, DartsConfig(**cfg, early_stop=2, skip_cells=cells))
        _skips_everywhere(r, cells="reduce_cell")
        rec = r.run_epoch()
        assert skip_counts(space, rec["genotype"]).get("darts_cell", 0) < 2
        assert r.done == stops, cells
        assert not stops or "cell 'reduce_cell' has 8" in rec["stopped"]
    with pytest.raises(DartsError, match=r"skip_cells names nope, which the space has no decisions of; its cells: "
                                         r"darts_cell, reduce_cell \(or normal, all\)"):
        DartsSearch(space, data, DartsConfig(**cfg, skip_cells="darts_cell,nope"))


def test_a_checkpoint_of_one_method_is_refused_by_another(tmp_path):
    space, data = _space("nasbench201.nas"), load_dataset("digits")
    state = GdasSearch(space, data, GdasConfig(epochs=2, max_steps=1)).state_dict()
    other = DartsSearch(space, data, DartsConfig(epochs=2, max_steps=1))
    with pytest.raises(DartsError, match="GDAS run"):
        other.load_state_dict(state)


# ---------------------------------------------------------------- through the search command
def _cli(*args: str, timeout: float = 300):
    import subprocess
    import sys

    from .conftest import ROOT

    return subprocess.run([sys.executable, "-m", "nasdsl", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


NB201 = ["search", str(SPACES_DIR / "nasbench201.nas"), "-p", "C=4", "-p", "N=1", "-S", "batch_size=32",
         "-S", "max_steps=2", "-E", "epochs=1", "-E", "max_steps=2"]


@pytest.mark.parametrize("method", ["snas", "gdas", "drnas", "pcdarts", "pdarts"])
def test_each_method_is_a_strategy_of_the_search_command(tmp_path, method):
    from nasdsl.store import Store

    db = tmp_path / f"{method}.db"
    extra = ["-S", "depth_param=N", "-S", "stages=1,2", "-S", "keep=3", "-S", "skip_dropout=0.1,0.4",
             "-S", "epochs=1", "-S", "warmup=0"] if method == "pdarts" else ["-S", "epochs=2"]
    r = _cli(*NB201, "--strategy", method, *extra, "--store", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    assert [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("epoch ")] == ["1/2", "2/2"]
    with Store(db) as st:
        epochs = st.meta()["oneshot"]["epochs"]
        (trial,) = st.trials()
        assert st.meta()["oneshot"]["strategy"] == method
    assert trial.status == "completed" and trial.genotype.values == epochs[-1]["genotype"]


def test_darts_plus_through_the_search_command_stops_at_the_first_cell_with_a_skip(tmp_path):
    from nasdsl.store import Store

    db = tmp_path / "plus.db"
    r = _cli(*NB201, "--strategy", "darts", "-S", "epochs=4", "-S", "early_stop=1", "-S", "a_lr=0.05",
             "--store", str(db))
    assert r.returncode == 0, r.stdout + r.stderr
    with Store(db) as st:
        epochs = st.meta()["oneshot"]["epochs"]
        (trial,) = st.trials()
    space = _space("nasbench201.nas")
    skips = [sum(skip_counts(space, e["genotype"]).values()) for e in epochs]
    assert all(n == 0 for n in skips[:-1])  # it went on while no cell had a skip ...
    assert skips[-1] and len(epochs) < 4  # ... and stopped at the first epoch whose cell had one (epoch 2 here)
    assert "DARTS+ early stop" in r.stdout and epochs[-1]["stopped"]
    assert trial.genotype.values == epochs[-1]["genotype"]  # the genotype of the epoch it stopped at


@pytest.mark.parametrize("method", ["darts", "snas", "gdas", "drnas"])
def test_every_method_searches_the_value_choices_of_a_sliced_supernet(method):
    """AutoFormer's shared width, heads and MLP ratio are value choices on op arguments: one weight per op at the
    largest values, sliced for the rest.  Each method trains their logits an epoch and derives a genotype that
    the supernet runs on its slices exactly as the exported model does."""
    space = Space.from_file(SPACES_DIR / "autoformer.nas", params={"W": 4})
    data = load_dataset("mnist1d-seq")
    extra = {"order": 2} if method == "darts" else {}
    search = METHODS[method](space, data, CONFIGS[method](epochs=1, max_steps=3, batch_size=16, warmup=0, **extra))
    sup = search.supernet
    values = [d for d in sup._alpha if sup._kind[d] == "value"]
    assert "autoformer.embed" in values and len(values) == 9  # embed, and heads and ratio of 4 layers
    before = {d: sup.alpha(d).detach().clone() for d in values}
    rec = search.run_epoch()
    assert np.isfinite(rec["train_loss"]) and np.isfinite(rec["arch_loss"])
    assert all(not torch.equal(sup.alpha(d).detach(), before[d]) for d in values)  # every value choice trained
    g = space.validate(rec["genotype"])
    x = torch.as_tensor(data.x_valid[:8]).to(next(iter(sup.weights())))
    sup.eval()
    sup.activate(g.values)
    try:
        with torch.no_grad():
            assert torch.allclose(sup(x), sup.export(g.values).eval()(x), atol=1e-5)
    finally:
        sup.activate(None)


def _dtypes_of_steps(search, x, y) -> tuple[set, set]:
    """The dtypes of the supernet's op outputs in the architecture step and in the weight step of one step."""
    seen: list = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.dtype)) for m in search.supernet.ops.modules()
             if isinstance(m, torch.nn.Conv2d)]
    real = search._weight_loss
    marks = []

    def weight_loss(*a):
        marks.append(len(seen))
        return real(*a)

    search._weight_loss = weight_loss
    try:
        search.step(x, y, x, y)
    finally:
        del search._weight_loss
        for h in hooks:
            h.remove()
    return set(seen[:marks[0]]), set(seen[marks[0]:])


def test_mixed_precision_runs_the_weights_step_only_under_autocast():
    space, data = _space("nasbench201.nas"), load_dataset("digits")
    x, y = torch.as_tensor(data.x_train[:16]), torch.as_tensor(data.y_train[:16], dtype=torch.long)
    plain = DartsSearch(space, data, DartsConfig(epochs=1, max_steps=1, batch_size=16))
    assert plain.amp is None and plain.scaler is None  # auto: off on the CPU
    assert _dtypes_of_steps(plain, x, y) == ({torch.float32}, {torch.float32})
    bf = DartsSearch(space, data, DartsConfig(epochs=1, max_steps=1, batch_size=16, amp="bf16"))
    before = [w.detach().clone() for w in bf.weights]
    arch, weights = _dtypes_of_steps(bf, x, y)
    assert arch == {torch.float32} and weights == {torch.bfloat16}  # α's step in full precision
    assert all(w.dtype == torch.float32 for w in bf.weights)  # the weights themselves stay float32
    assert any(not torch.equal(w.detach(), b) for w, b in zip(bf.weights, before))
    with pytest.raises(DartsError, match="amp is one of auto, fp16, bf16, off; got 'half'"):
        DartsConfig(amp="half")
    with pytest.raises(DartsError, match="amp=bf16 needs float32 weights"):
        DartsSearch(space, data, DartsConfig(amp="bf16"), dtype=torch.float64)


def test_fp16_steps_through_a_gradient_scaler_kept_in_the_checkpoint():
    """fp16 (what ``auto`` takes on CUDA) on the CPU: the weights' and, single level (SNAS), α's gradients are
    unscaled before clipping and stepping; the scaler's state goes into the checkpoint and comes back."""
    space, data = _space("nasbench201.nas"), load_dataset("digits")
    s = SnasSearch(space, data, SnasConfig(epochs=2, max_steps=2, batch_size=16, amp="fp16"))
    assert s.amp == torch.float16 and s.scaler is not None
    before = [a.detach().clone() for a in s.alphas]
    rec = s.run_epoch()
    assert np.isfinite(rec["train_loss"])
    assert any(not torch.equal(a.detach(), b) for a, b in zip(s.alphas, before))  # α stepped through the scaler
    assert all(torch.isfinite(w).all() for w in s.weights)
    s.scaler.update(new_scale=1234.0)  # a scale no fresh scaler has
    state = s.state_dict()
    assert state["scaler"]["scale"] == 1234.0 and state["cuda_rng"] is None
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    again = SnasSearch(space, data, SnasConfig(epochs=2, max_steps=2, batch_size=16, amp="fp16"))
    assert again.scaler.get_scale() != 1234.0
    again.load_state_dict(torch.load(buf, weights_only=True))
    assert again.scaler.get_scale() == 1234.0
