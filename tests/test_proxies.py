"""Zero-cost proxies: each against a value computed by hand (or by another route) on a tiny network, the
identities they must satisfy, and the ``zc`` estimator in a real search."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from nasdsl_plugins import proxies  # noqa: E402
from nasdsl_plugins.proxies import PROXIES, score  # noqa: E402

from .conftest import SPACES_DIR  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    from nasdsl.datasets import load_dataset

    return load_dataset("digits")


def _linear(seed: int = 0, n_in: int = 4, n_out: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, n_out, bias=False))


def _batch(seed: int = 1, n: int = 6, n_in: int = 4, classes: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, n_in, generator=g), torch.randint(0, classes, (n,), generator=g)


def _ce_grad(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """dL/dW of the mean cross-entropy of logits x W^T, by the closed form (softmax - onehot)^T x / N."""
    p = torch.softmax(x @ w.T, 1)
    return (p - F.one_hot(y, w.shape[0]).float()).T @ x / len(x)


def test_grad_norm_and_snip_match_the_closed_form_gradient():
    model, (x, y) = _linear(), _batch()
    w = model[0].weight.detach().clone()
    g = _ce_grad(w, x, y)
    assert proxies.grad_norm(model, x, y) == pytest.approx(float(g.norm()), rel=1e-5)
    assert proxies.snip(model, x, y) == pytest.approx(float((w * g).abs().sum()), rel=1e-5)


def test_fisher_of_the_logit_layer_matches_its_formula():
    model, (x, y) = _linear(), _batch()
    w = model[0].weight.detach()
    z = x @ w.T  # the layer's output is the logits: dL/dz = (softmax - onehot) / N
    dz = (torch.softmax(z, 1) - F.one_hot(y, 3).float()) / len(x)
    want = float((0.5 * (z * dz).pow(2).mean(0)).sum())
    assert proxies.fisher(model, x, y) == pytest.approx(want, rel=1e-5)


def test_grasp_is_minus_w_dot_the_hessian_gradient_product():
    model, (x, y) = _linear(), _batch()
    w0 = model[0].weight.detach().clone()

    def loss(w):
        return F.cross_entropy(x @ w.T, y)

    g = torch.autograd.grad(loss(w0.requires_grad_(True)), w0)[0]
    _, hg = torch.autograd.functional.hvp(loss, w0.detach(), g)
    assert proxies.grasp(model, x, y) == pytest.approx(float(-(w0.detach() * hg).sum()), rel=1e-4)


def test_synflow_is_depth_times_the_positive_output_and_reads_no_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5, bias=False), nn.ReLU(), nn.Linear(5, 3, bias=False))
    w1, w2 = model[0].weight.detach().abs(), model[2].weight.detach().abs()
    r = float((w2 @ w1 @ torch.ones(4, dtype=torch.float64).float()).sum())
    # R is linear in each layer's weights, so each layer's sum of w * dR/dw is R: two layers give 2R
    x, y = _batch()
    assert score(model, x, y, ("synflow",))["synflow"] == pytest.approx(2 * r, rel=1e-6)
    other_x, other_y = _batch(seed=7)
    assert score(model, x, y, ("synflow",)) == score(model, other_x * 100, other_y, ("synflow",))
    assert float(model[0].weight.detach().min()) < 0  # the model itself was not made positive: score works on copies


def test_jacob_cov_of_a_linear_model_has_identical_rows():
    model, (x, y) = _linear(), _batch()
    n, k = len(x), proxies.JACOB_K
    # every example's input gradient of the summed logits is the column sum of W: the correlation matrix is all
    # ones, with eigenvalues n and n - 1 zeros
    want = -((math.log(n + k) + 1 / (n + k)) + (n - 1) * (math.log(k) + 1 / k))
    assert proxies.jacob_cov(model, x, y) == pytest.approx(want, rel=1e-6)
    # an output that ignores the input: no row varies, all are uncorrelated, every eigenvalue is 0
    flat = nn.Sequential(nn.Linear(4, 3, bias=True))
    with torch.no_grad():
        flat[0].weight.zero_()
    assert proxies.jacob_cov(flat, x, y) == pytest.approx(-n * (math.log(k) + 1 / k), rel=1e-6)
    assert proxies.jacob_cov(flat, x, y) < proxies.jacob_cov(model, x, y)


def test_naswot_counts_agreeing_relu_units():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])  # codes 10, 11, 00
    k = np.array([[2, 1, 1], [1, 2, 0], [1, 0, 2]], dtype=float)  # units on which two examples agree
    want = float(np.linalg.slogdet(k + proxies.NASWOT_RIDGE * np.eye(3))[1])
    assert proxies.naswot(model, x, torch.zeros(3, dtype=torch.long)) == pytest.approx(want, rel=1e-9)
    assert proxies.naswot(model, x[[2, 0, 1]], torch.zeros(3, dtype=torch.long)) == pytest.approx(want, rel=1e-9)


def test_every_proxy_scores_a_real_cell_and_an_unknown_one_is_refused(digits):
    from nasdsl import Space
    from nasdsl_plugins.torch_backend.backend import TorchBackend

    space = Space.from_file(SPACES_DIR / "nasbench201.nas", params={"C": 4, "N": 1, "classes": 10})
    arch = space.realize(space.sample(0), digits.input_shape)
    torch.manual_seed(0)
    model = TorchBackend().build(arch)
    x = torch.as_tensor(digits.x_train[:16])
    y = torch.as_tensor(digits.y_train[:16]).long()
    before = [p.detach().clone() for p in model.parameters()]
    out = score(model, x, y)
    assert set(out) == set(PROXIES) and all(math.isfinite(v) for v in out.values())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="unknown proxy nope"):
        score(model, x, y, ("nope",))


def test_the_zc_estimator_scores_trials_without_training_and_its_vote_is_a_majority(tmp_path):
    from nasdsl.search import Search
    from nasdsl.store import Store

    NB201 = str(SPACES_DIR / "nasbench201.nas")
    db = tmp_path / "zc.db"
    opts = {"proxy": "vote", "batch_size": 16, "reference": 5}
    s = Search(NB201, strategy="random", estimator="zc", budget=4, store=db, executor="inprocess", seed=1,
               params={"C": 4, "N": 1}, estimator_options=opts)
    try:
        assert s.objective == "vote"  # the estimator's objective follows its proxy option
        s.run()
    finally:
        s.close()
    with Store(db) as store:
        done = store.trials("completed")
    assert len(done) == 4
    for t in done:
        assert set(PROXIES) | {"vote", "params", "flops"} <= set(t.metrics)
        assert t.value == t.metrics["vote"] and 0.0 <= t.value <= 1.0
    from nasdsl import Space
    from nasdsl_plugins.estimators import ZeroCostEstimator

    space = Space.from_file(NB201, params={"C": 4, "N": 1})
    est = ZeroCostEstimator(space, "digits", **opts)
    ref = est.reference(proxies.VOTE)
    assert len(ref) == 5
    best = {n: max(r[n] for r in ref) + 1 for n in proxies.VOTE}
    worst = {n: min(r[n] for r in ref) - 1 for n in proxies.VOTE}
    assert est.vote(best) == 1.0 and est.vote(worst) == 0.0
    two_of_three = {**best, "snip": worst["snip"]}  # beats every reference on two proxies of three
    assert est.vote(two_of_three) == 1.0
    with pytest.raises(ValueError, match="proxy must be one of"):
        ZeroCostEstimator(space, "digits", proxy="accuracy")
    want = "cuda" if torch.cuda.is_available() else "cpu"  # device is resolved as training resolves it
    assert ZeroCostEstimator(space, "digits", device="auto").device == torch.device(want)
    if not torch.cuda.is_available():
        with pytest.raises(Exception, match="no GPU is available"):
            ZeroCostEstimator(space, "digits", device="cuda")


def test_a_prefilter_trains_only_what_the_proxy_puts_in_the_kept_share(tmp_path):
    from nasdsl.search import Search
    from nasdsl.store import Store

    db = tmp_path / "pf.db"
    s = Search(str(SPACES_DIR / "nasbench201.nas"), strategy="random", estimator="train", budget=3, store=db,
               executor="inprocess", seed=2, params={"C": 4, "N": 1},
               estimator_options={"epochs": 1, "max_steps": 2, "prefilter": "synflow", "prefilter_keep": 0.3,
                                  "prefilter_reference": 8, "prefilter_batch_size": 16})
    try:
        s.run()
    finally:
        s.close()
    with Store(db) as store:
        done, rejected = store.trials("completed"), store.trials("rejected")
    assert len(done) == 3  # the budget counts trained trials only
    assert rejected, "with 30 % kept, some of the random architectures must have been filtered"
    for t in done:
        assert t.metrics["prefilter_share"] >= 0.7 and "valid_acc" in t.metrics and "synflow" in t.metrics
    for t in rejected:
        assert t.metrics["prefilter_share"] < 0.7 and "valid_acc" not in t.metrics
        assert t.error.startswith("prefilter: synflow") and "of 8 reference architectures" in t.error
    from nasdsl import Space
    from nasdsl_plugins.estimators import TrainEstimator

    with pytest.raises(ValueError, match=r"prefilter_keep is the share of the space kept, in \(0, 1\]"):
        TrainEstimator(Space.from_file(SPACES_DIR / "nasbench201.nas", params={"C": 4, "N": 1}), "digits",
                       prefilter="synflow", prefilter_keep=0)
