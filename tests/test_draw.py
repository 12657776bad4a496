"""Drawing architectures and spaces with Graphviz: real renders, no mocks."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from nasdsl import Architecture, Space
from nasdsl.draw import arch_to_dot, cluster_key, op_family, render, space_to_dot

SPACES = Path(__file__).resolve().parent.parent / "spaces"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' program not installed")


@functools.cache
def space(name: str) -> Space:
    return Space.from_file(SPACES / f"{name}.nas")


@functools.cache
def arch(name: str) -> Architecture:
    s = space(name)
    return s.realize(s.sample(0))


@needs_dot
@pytest.mark.parametrize("name", ["darts", "nasbench201"])
def test_arch_svg_and_png(name: str, tmp_path: Path) -> None:
    a = arch(name)
    dot = arch_to_dot(a, title=f"{name} sample 0")
    svg, msg = render(dot, tmp_path / "net.svg")
    assert msg is None and svg == tmp_path / "net.svg"
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in text
    ops = {a.graph.nodes[n]["op"] for n in a.ops()}
    for op in ops:
        assert f">{op}" in text, f"op {op!r} not drawn"
    assert f"{name} sample 0" in text
    png, msg = render(dot, tmp_path / "sub" / "net.png")
    assert msg is None and png.stat().st_size > 1000
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_darts_cells_are_clusters() -> None:
    a = arch("darts")
    source = arch_to_dot(a).source
    cells = {cluster_key(n) for n in a.graph if n.startswith("body.")}
    assert len(cells) == 20
    assert source.count("subgraph cluster_") == 21  # 20 cells and the stem
    assert "label=\"body.19\"" in source
    assert "(reduction)" in source  # the reduction cells are marked
    assert source.count("->") == a.graph.number_of_edges()


def test_cluster_keys_and_families() -> None:
    assert cluster_key("body.3.n2.op0.sep_conv_3x3") == "body.3"
    assert cluster_key("stage1[0].e0_1.nor_conv_3x3") == "stage1[0]"
    assert cluster_key("s2.[1].mbconv") == "s2.[1]"
    assert cluster_key("stem.conv_3x3") == "stem"
    assert cluster_key("linear") is None
    assert [op_family(o) for o in ("sep_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "identity", "zero", "relu")] == \
        ["conv", "conv", "pool", "skip", "none", "other"]


def test_dot_suffix_writes_source(tmp_path: Path) -> None:
    a = arch("nasbench201")
    path, msg = render(arch_to_dot(a), tmp_path / "net.dot")
    assert path == tmp_path / "net.dot"
    source = path.read_text(encoding="utf-8")
    assert source.startswith("digraph")
    assert all(a.graph.nodes[n]["op"] in source for n in a.ops())
    assert msg is not None and f"dot -Tpng {path} -o {tmp_path / 'net.png'}" in msg


def test_missing_dot_falls_back_to_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz reachable
    path, msg = render(arch_to_dot(arch("darts")), tmp_path / "net.png")
    assert path == tmp_path / "net.dot"
    assert not (tmp_path / "net.png").exists()
    assert path.read_text(encoding="utf-8").startswith("digraph")
    assert msg is not None and "not found" in msg
    assert f"dot -Tpng {path} -o {tmp_path / 'net.png'}" in msg


def test_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.svg"):
        render(arch_to_dot(arch("nasbench201")), tmp_path / "net.jpeg")


def test_space_default_draws_cells() -> None:
    source = space_to_dot(space("darts")).source
    assert "cell darts_cell" in source and "cell reduce_cell" in source
    assert "network darts_cifar" not in source
    assert "darts_cell.n3.inputs" in source and "pick 2 of 3" in source and "each: choice of 7" in source


@needs_dot
def test_space_template_svg(tmp_path: Path) -> None:
    s = space("nasbench201")
    dot = space_to_dot(s, template="nb201_cell")
    assert dot.source.count("subgraph cluster_") == 1
    path, msg = render(dot, tmp_path / "cell.svg")
    assert msg is None
    text = path.read_text(encoding="utf-8")
    for decision in ("nb201_cell.e0_1", "nb201_cell.e2_3"):
        assert decision in text
    assert "choice of 5" in text


def test_space_network_template_and_unknown() -> None:
    s = space("nasbench201")
    source = space_to_dot(s, "nasbench201").source
    assert "network nasbench201" in source and "nb201_cell" in source and "resnet_block" in source
    with pytest.raises(KeyError, match="did you mean 'nb201_cell'"):
        space_to_dot(s, "nb201_cel")
