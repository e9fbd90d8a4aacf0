"""Tolerance vectors: ``codecframe.conformance.Tolerance`` is ``(max_abs, rmse)`` per group; the runner
accepts reconstructions within it, and ``coverage --vectors`` says so instead of "decodes exactly"."""

import dataclasses

import numpy as np

from codecframe import Pipeline
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.conformance import Corpus, InProcessDecoder, PositiveCase, Tolerance, generate, run
from codecframe.conformance.coverage import vector_table


def _case(tolerance: dict[str, Tolerance]) -> PositiveCase:
    return PositiveCase(
        name="tol-case", description="uniform quantizer, one group with a tolerance", features=("uniform",),
        spec_sections=("demo §1",),
        make=lambda: (Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.1}}),
                      {"w": GaussianPosterior.example(np.random.default_rng(3), (6, 5)),
                       "b": GaussianPosterior.example(np.random.default_rng(4), (5,))}),
        tolerance=tolerance)


def _shifted(by: float):
    inner = InProcessDecoder()

    def decoder(path):
        out = inner(path)
        return dataclasses.replace(out, values={**out.values, "w": out.values["w"] + np.float64(by).astype(out.values["w"].dtype)})

    return decoder


def test_tolerance_is_applied_and_reported(tmp_path):
    corpus = Corpus(tmp_path / "tol")
    assert [g.status for g in generate(corpus, cases=[_case({"w": (1e-3, 5e-4)})])] == ["written"]
    group = {g["name"]: g for g in corpus.vector("tol-case").case["groups"]}
    assert group["w"]["tolerance"] == {"max_abs": 1e-3, "rmse": 5e-4} and group["b"]["tolerance"] == {"max_abs": 0.0, "rmse": 0.0}
    assert all(r.passed for r in run(corpus, _shifted(4e-4)))
    (result,) = run(corpus, _shifted(2e-3))
    assert not result.passed and "reconstruction off by max-abs" in result.detail
    row = vector_table(corpus, "demo").splitlines()[-1]
    assert "decodes exactly" not in row and "symbols exact, values within tolerance" in row
    assert "`w` symbols" in row and "values within max-abs 0.001, RMSE 0.0005" in row


def test_exact_vectors_still_say_exactly(tmp_path):
    corpus = Corpus(tmp_path / "exact")
    generate(corpus, cases=[_case({})])
    assert "decodes exactly (`w` symbols" in vector_table(corpus, "demo")
