"""Shared fixtures: the reference spaces, compiled once per session."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from nasdsl import Space

ROOT = Path(__file__).resolve().parent.parent
SPACES_DIR = ROOT / "spaces"
SPACE_FILES = sorted(SPACES_DIR.glob("*.nas"))

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


def refused_alike(space: Space, values: dict) -> str:
    """Realize ``values`` both ways — walking the language and selecting in the supernet IR — and check
    that both refuse it with one message (its place, line and caret included); that message."""
    from nasdsl.errors import NasError

    with pytest.raises(NasError) as walk:
        space.realize_walk(values)
    with pytest.raises(NasError) as fast:
        space.realize(values)
    assert str(fast.value) == str(walk.value)
    return str(fast.value)


@functools.cache
def load(name: str) -> Space:
    return Space.from_file(SPACES_DIR / name)


@pytest.fixture(params=[p.name for p in SPACE_FILES], ids=[p.stem for p in SPACE_FILES])
def space(request) -> Space:
    return load(request.param)
