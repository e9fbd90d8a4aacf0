"""Model-compression mode: a Bayesian MLP's posterior through VBQ and uniform containers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from codecframe.builtins.gaussian import GaussianPosterior
from codecframe_vbq.grid import median_index
from codecframe_vbq.quantizer import VBQQuantizer
from codecframe_vbq.modelcomp import LAMBDAS, STEPS, digits_split, evaluate_compression, savings, train_bnn


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    return train_bnn(hidden=16, seed=0, steps=300, lr=0.02)


def test_split_is_seeded_and_disjoint():
    a, b = digits_split(0), digits_split(0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    xtr, _, xte, _ = a
    assert len(xtr) + len(xte) == 1797 and xtr.max() <= 1.0


def test_compressed_networks_decode_and_rate_tracks_settings(trained):
    model, split = trained
    means, _ = model.flat()
    acc, _ = model.scores(means, split[2], split[3])
    assert acc > 0.8
    points = evaluate_compression(model, split, lambdas=(0.01, 1.0, 1e6), steps=(0.01, 0.5))
    vbq = [p for p in points if p.method == "vbq"]
    assert [p.payload_bits_per_param for p in vbq] == sorted([p.payload_bits_per_param for p in vbq], reverse=True)
    assert vbq[0].accuracy > acc - 0.05  # a small λ keeps the network
    # λ → ∞: every weight at the 0-bit point, so only the side info costs bits
    q = VBQQuantizer()
    qz = q.quantize(GaussianPosterior(mean=means, std=model.flat()[1]), {"lambda": 1e6})
    assert np.all(qz.symbols == median_index(10))
    assert vbq[-1].ideal_bits_per_param * means.size == pytest.approx(8 * qz.side_nbytes(), abs=2.0)
    for p in points:
        assert p.file_bits_per_param > p.payload_bits_per_param >= p.ideal_bits_per_param - 0.01


@pytest.fixture(scope="module")
def benchmark_rows():
    model, split = train_bnn(100, 0, 3000)
    means, _ = model.flat()
    acc, _ = model.scores(means, split[2], split[3])
    points = [dataclasses.asdict(p) for p in evaluate_compression(model, split, LAMBDAS, STEPS)]
    return [r["saving"] for r in savings(points, acc, "payload_bits_per_param") if r["saving"] is not None]


@pytest.mark.slow
def test_vbq_needs_fewer_bits_than_uniform_near_full_accuracy(benchmark_rows):
    """Seed 0 of ``benchmarks/vbq/modelcomp.py``: the median saving over the region reaches 25 %."""
    assert benchmark_rows and float(np.median(benchmark_rows)) >= 0.25


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured: a uniform point at ~94 % accuracy needs 12 % fewer bits than VBQ")
def test_vbq_saves_25_percent_everywhere_in_the_region(benchmark_rows):
    assert min(benchmark_rows) >= 0.25
