"""The PyTorch backend: exact DARTS wiring, every space builds and trains, export, checkpoints."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from nasdsl import Space  # noqa: E402
from nasdsl.adapters import from_darts  # noqa: E402
from nasdsl.datasets import Dataset, load_dataset  # noqa: E402
from nasdsl.plugins import get_backend  # noqa: E402
from nasdsl_plugins.torch_backend.builder import BuildError  # noqa: E402
from nasdsl_plugins.torch_backend.train import Recipe, TrainingError, fit, load_weights  # noqa: E402

from .conftest import DARTS_V2, ROOT, SPACE_FILES, load  # noqa: E402

# small inputs and widths so every space builds and runs in a moment on a CPU
SMALL = {
    "darts.nas": ({"C": 8, "layers": 5}, (3, 16, 16)),
    "enas_macro.nas": ({"C": 8, "layers": 6}, (3, 16, 16)),
    "enas_micro.nas": ({"C": 8, "N": 1}, (3, 16, 16)),
    "nasnet.nas": ({"C": 8, "N": 1}, (3, 16, 16)),
    "pnas.nas": ({"C": 8, "N": 1}, (3, 16, 16)),
    "hierarchical.nas": ({"C": 8}, (3, 16, 16)),
    "genetic_cnn.nas": ({"C": 8}, (3, 16, 16)),
    "nasbench201.nas": ({"C": 8, "N": 1}, (3, 16, 16)),
    "proxyless.nas": ({"classes": 10}, (3, 32, 32)),
    "ofa.nas": ({"classes": 10}, (3, 32, 32)),
    "nasbench101.nas": ({"C": 8}, (3, 16, 16)),
    "autoformer.nas": ({"W": 4}, (8, 5)),
}


@pytest.fixture(scope="module")
def backend():
    torch.set_num_threads(1)
    return get_backend("torch")()


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def test_darts_v2_has_the_published_parameter_count(backend):
    space = load("darts.nas")
    model = backend.build(space.realize(from_darts(space, DARTS_V2)))
    assert backend.count_params(model) == 3_349_342
    assert backend.output_shape(model, (3, 32, 32)) == (10,)
    with_aux = backend.build(space.realize(from_darts(space, DARTS_V2)), auxiliary=True)
    assert backend.count_params(with_aux) == 3_349_342  # the auxiliary head is not counted
    assert backend.count_params(with_aux, exclude_aux=False) > 3_349_342


@pytest.mark.parametrize("name", sorted(SMALL))
def test_sampled_genotypes_build_and_run_forward_backward(backend, name):
    params, shape = SMALL[name]
    space = Space.from_file(ROOT / "spaces" / name, params=params, input_shape=shape)
    for seed in range(2):
        arch = space.realize(space.sample(seed))
        model = backend.build(arch)
        x = torch.randn(2, *shape)
        out = model(x)
        assert tuple(out.shape) == (2,) + arch.output_shape
        assert torch.isfinite(out).all()
        out.square().mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_every_space_is_covered():
    assert set(SMALL) | {"nasbench_graph.nas"} == {p.name for p in SPACE_FILES}


def test_graph_ops_are_a_clear_build_error(backend):
    space = load("nasbench_graph.nas")
    with pytest.raises(BuildError, match=r"op '(gat|gcn|gin|cheb|sage|arma|graph|fc)' \(at .*nasbench_graph.nas:\d+:\d+\) has no PyTorch implementation"):
        g = {**space.sample(0).values, "nasbench_graph.n1.op0": "gcn"}
        backend.build(space.realize(g))


def test_forward_is_generated_straight_line_code(backend):
    space = Space.from_file(ROOT / "spaces/darts.nas", params={"C": 8, "layers": 5}, input_shape=(3, 16, 16))
    model = backend.build(space.realize(from_darts(space, DARTS_V2)))
    code = model.code
    assert "for " not in code and "networkx" not in code
    assert code.count("self.ops.") == sum(1 for _, a in space.realize(from_darts(space, DARTS_V2)).graph.nodes(data=True)
                                          if a["kind"] == "op")


def test_digits_darts_v2_reaches_95_percent(backend, digits):
    # DARTS_V2 sized for 8x8 digits: C = 8, 3 cells (reductions at cells 1 and 2: 8x8 -> 4x4 -> 2x2)
    space = Space.from_file(ROOT / "spaces/darts.nas", params={"C": 8, "layers": 3, "classes": 10},
                            input_shape=digits.input_shape)
    arch = space.realize(from_darts(space, DARTS_V2))
    result = backend.train(arch, digits, {"epochs": 10, "lr": 0.05, "batch_size": 64, "seed": 0})
    assert result.metrics["test_acc"] >= 0.95, result.metrics
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_training_is_seeded_and_deterministic_on_cpu(backend, digits):
    space = Space.from_file(ROOT / "spaces/nasbench201.nas", params={"C": 4, "N": 1}, input_shape=digits.input_shape)
    arch = space.realize(space.sample(0))
    small = digits.subset(0.3)
    a = backend.train(arch, small, {"epochs": 2, "seed": 3}).metrics
    b = backend.train(arch, small, {"epochs": 2, "seed": 3}).metrics
    c = backend.train(arch, small, {"epochs": 2, "seed": 4}).metrics
    assert a["train_loss"] == b["train_loss"] and a["valid_acc"] == b["valid_acc"]
    assert a["train_loss"] != c["train_loss"]


def test_recipe_from_the_nas_file_and_overrides(backend, digits, tmp_path):
    text = """
    network t(classes = 10) {
        input [1, 8, 8]
        hp lr = {0.02}
        hp epochs = {2}
        hp optimizer = {adam}
        x = conv_3x3(8) -> batchnorm -> relu
        return global_avg_pool -> linear(classes)
    }
    """
    space = Space.from_text(text, "t.nas")
    arch = space.realize(space.sample(0))
    assert arch.hyperparameters == {"lr": 0.02, "epochs": 2, "optimizer": "adam"}
    assert Recipe().from_hyperparameters(arch.hyperparameters).optimizer == "adam"
    result = backend.train(arch, digits, {"epochs": 1})
    assert result.metrics["epochs"] == 1.0
    with pytest.raises(TrainingError, match="unknown optimizer"):
        Recipe(optimizer="lbfgs")


def test_nan_loss_is_an_error(backend, digits):
    space = Space.from_file(ROOT / "spaces/nasbench201.nas", params={"C": 4, "N": 1}, input_shape=digits.input_shape)
    arch = space.realize(space.sample(0))
    bad = Dataset("bad", digits.x_train * float("nan"), digits.y_train, digits.x_valid, digits.y_valid,
                  digits.x_test, digits.y_test)
    with pytest.raises(TrainingError, match="loss became nan"):
        backend.train(arch, bad, {"epochs": 1})


def test_checkpoint_resume_and_weights_only_load(backend, digits, tmp_path):
    space = Space.from_file(ROOT / "spaces/nasbench201.nas", params={"C": 4, "N": 1}, input_shape=digits.input_shape)
    arch = space.realize(space.sample(1))
    ckpt = tmp_path / "run.pt"
    full = backend.train(arch, digits, {"epochs": 3, "seed": 1}, checkpoint=ckpt)
    torch.manual_seed(1)
    model = backend.build(arch)
    fit(model, digits, Recipe(epochs=3, seed=1), checkpoint=ckpt, until_epoch=2)  # stopped after two epochs
    torch.manual_seed(99)
    resumed_model = backend.build(arch)
    resumed = fit(resumed_model, digits, Recipe(epochs=3, seed=1), checkpoint=ckpt, resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert math.isclose(resumed.metrics["train_loss"], full.metrics["train_loss"], rel_tol=1e-4)
    state = torch.load(ckpt, weights_only=True)  # plain tensors and numbers only
    assert state["epoch"] == 3
    fresh = load_weights(backend.build(arch), ckpt)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), resumed_model.state_dict().values()))


def test_torchscript_export_loads_without_nasdsl(backend, tmp_path):
    space = Space.from_file(ROOT / "spaces/darts.nas", params={"C": 8, "layers": 5}, input_shape=(3, 16, 16))
    model = backend.build(space.realize(from_darts(space, DARTS_V2))).eval()
    path = backend.export_torchscript(model, tmp_path / "model.pt")
    x = torch.randn(2, 3, 16, 16)
    torch.save(x, tmp_path / "x.pt")
    expect = model(x)
    code = (
        "import sys\n"
        "sys.modules['nasdsl'] = None\nsys.modules['nasdsl_plugins'] = None  # importing them now fails\n"
        "import torch\n"
        f"m = torch.jit.load({str(path)!r})\n"
        f"x = torch.load({str(tmp_path / 'x.pt')!r}, weights_only=True)\n"
        f"torch.save(m(x), {str(tmp_path / 'y.pt')!r})\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = torch.load(tmp_path / "y.pt", weights_only=True)
    assert torch.allclose(got, expect, atol=1e-5)


def test_onnx_export_matches_pytorch(backend, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    space = Space.from_file(ROOT / "spaces/darts.nas", params={"C": 8, "layers": 5}, input_shape=(3, 16, 16))
    model = backend.build(space.realize(from_darts(space, DARTS_V2))).eval()
    path = backend.export_onnx(model, tmp_path / "model.onnx", (3, 16, 16))
    x = torch.randn(3, 3, 16, 16)
    expect = model(x).detach().numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x.numpy()})[0]
    assert got.shape == expect.shape
    assert abs(got - expect).max() < 1e-4


def test_drop_path_and_auxiliary_head_in_training(backend, digits):
    space = Space.from_file(ROOT / "spaces/darts.nas", params={"C": 8, "layers": 3}, input_shape=digits.input_shape)
    arch = space.realize(from_darts(space, DARTS_V2))
    model = backend.build(arch, auxiliary=True)
    out = model(torch.randn(4, 1, 8, 8))
    assert isinstance(out, tuple) and out[0].shape == out[1].shape == (4, 10)
    r = backend.train(arch, digits.subset(0.3), {"epochs": 2, "drop_path": 0.2, "auxiliary_weight": 0.4})
    assert 0.0 <= r.metrics["test_acc"] <= 1.0 and math.isfinite(r.metrics["train_loss"])


def test_cli_build_and_train(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "nasdsl", *args], capture_output=True, text=True, cwd=ROOT, timeout=600)

    r = run("build", "spaces/darts.nas", DARTS_V2, "-o", str(tmp_path / "m.pt"), "--onnx", str(tmp_path / "m.onnx"))
    assert r.returncode == 0, r.stderr
    assert "params: 3349342" in r.stdout and "output: [10]" in r.stdout
    flops = int(r.stdout.split("flops: ")[1].split()[0])
    assert 5e8 < flops < 6e8  # DARTS_V2 on CIFAR: ~0.53 G multiply-adds
    assert (tmp_path / "m.pt").stat().st_size > 1e6 and (tmp_path / "m.onnx").stat().st_size > 1e6
    r = run("train", "spaces/darts.nas", DARTS_V2, "-p", "C=8", "-p", "layers=3", "--epochs", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "test_acc:" in r.stdout
    r = run("build", "spaces/nasbench_graph.nas", '{"nasbench_graph.n1.op0": "gcn", "nasbench_graph.n2.op0": "gcn", '
            '"nasbench_graph.n3.op0": "gcn", "nasbench_graph.n4.op0": "gcn", "nasbench_graph.n1.inputs": ["x"], '
            '"nasbench_graph.n2.inputs": ["x"], "nasbench_graph.n3.inputs": ["x"], "nasbench_graph.n4.inputs": ["x"]}')
    assert r.returncode == 1 and "has no PyTorch implementation" in r.stderr and "Traceback" not in r.stderr


def test_flops_leave_out_the_auxiliary_head(backend, digits):
    space = Space.from_file(ROOT / "spaces/darts.nas", params={"C": 8, "layers": 6}, input_shape=digits.input_shape)
    arch = space.realize(from_darts(space, DARTS_V2))
    plain, aux = backend.build(arch), backend.build(arch, auxiliary=True)
    assert backend.flops(plain, arch.input_shape) == backend.flops(aux, arch.input_shape) > 0


def test_npz_and_mnist1d_datasets(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=rng.random((60, 1, 4, 4), dtype=np.float32), y_train=np.arange(60) % 3,
             x_test=rng.random((12, 1, 4, 4), dtype=np.float32), y_test=np.arange(12) % 3)
    ds = load_dataset(str(path))  # a .npz path is read by the npz loader
    assert ds.sizes() == {"train": 48, "valid": 12, "test": 12} and ds.input_shape == (1, 4, 4) and ds.classes == 3
    with pytest.raises(Exception, match="no array 'y_test'"):
        np.savez(tmp_path / "bad.npz", x_train=np.zeros((4, 2)), y_train=np.zeros(4), x_test=np.zeros((2, 2)))
        load_dataset(str(tmp_path / "bad.npz"))
    m = load_dataset("mnist1d", num_samples=1000)  # generated offline by make_dataset
    assert m.input_shape == (1, 1, 40) and m.classes == 10 and sum(m.sizes().values()) == 1000


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", "abc", "recipe field 'batch_size' must be an integer; got 'abc'"),
    ("epochs", 0, "epochs must be at least 1; got 0"),
    ("epochs", "2.5", "recipe field 'epochs' must be an integer; got '2.5'"),
    ("lr", -1, "lr must be a positive number; got -1.0"),
    ("lr", "nan", "lr must be a positive number; got nan"),
    ("max_steps", -5, "max_steps must be 0 or more; got -5"),
    ("momentum", -3, "momentum must be in [0, 1); got -3.0"),
    ("weight_decay", -1e-4, "weight_decay must be 0 or more"),
    ("device", "tpu", "unknown device 'tpu'"),
    ("amp", "maybe", "recipe field 'amp' is true or false; got 'maybe'"),
])
def test_a_bad_recipe_value_names_the_field_and_what_is_allowed(field, value, message):
    """Issue 15: values that failed every trial (or trained with a nan loss) are refused where they enter."""
    with pytest.raises(TrainingError) as info:
        Recipe().updated(**{field: value})
    assert message in str(info.value)


def test_recipe_values_in_their_written_forms_are_accepted():
    r = Recipe().updated(epochs="3", batch_size=32.0, lr="0.1", amp="false", device="cuda:1", max_steps=0)
    assert (r.epochs, r.batch_size, r.lr, r.amp, r.device) == (3, 32, 0.1, False, "cuda:1")


def test_bad_estimator_options_stop_a_search_before_its_first_trial(tmp_path):
    from nasdsl.search import Search, SearchError

    nb201 = str(ROOT / "spaces" / "nasbench201.nas")
    for options, message in (({"batch_size": "abc"}, "must be an integer; got 'abc'"), ({"lr": -1}, "lr must be"),
                             ({"epochs": 0}, "epochs must be at least 1")):
        with pytest.raises(SearchError, match=f"estimator 'train': .*{message}"):
            Search(nb201, estimator="train", budget=2, store=tmp_path / "s.db", estimator_options=options)
        assert not (tmp_path / "s.db").exists()
    with pytest.raises(SearchError, match="--workers must be at least 1; got 0"):
        Search(nb201, estimator="train", budget=2, store=tmp_path / "w.db", workers=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_asking_for_cuda_without_a_gpu_stops_the_search_at_once(tmp_path):
    from nasdsl.search import Search, SearchError

    nb201 = str(ROOT / "spaces" / "nasbench201.nas")
    with pytest.raises(SearchError, match="device 'cuda' asked for, but no GPU is available"):
        Search(nb201, estimator="train", budget=3, store=tmp_path / "c.db", estimator_options={"device": "cuda"})
