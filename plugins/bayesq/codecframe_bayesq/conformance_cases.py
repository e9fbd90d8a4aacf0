"""Conformance cases of the BayesQ formats (``specs/bayesq.md``), registered under ``codecframe.conformance_cases``.

``codecframe conformance generate`` loads them through that entry point; the stored vectors live in
codecframe's corpus (``specs/vectors``), and ``tests/test_bayesq_conformance_cases.py`` regenerates them
byte for byte from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from codecframe.abc import Posterior
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.conformance.cases import FOREIGN_ASSET, Case, NegativeCase, PositiveCase, header_edit, pipeline
from codecframe.pipeline import Pipeline

from .tables import shipped_table_ref

__all__ = ["cases"]

Make = Callable[[], tuple[Pipeline, Mapping[str, Posterior]]]


def _layers(seed: int) -> dict[str, Posterior]:
    """Two weight matrices with Laplace-approximation-like posteriors (std a fraction of |mean|)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape, scale in (("fc1.weight", (24, 40), 0.08), ("fc2.weight", (10, 24), 0.2)):
        mean = (rng.standard_normal(shape) * scale * np.exp(rng.normal(0, 0.5, (shape[0], 1)))).astype(np.float32)
        std = (np.abs(mean) * 0.1 + scale * rng.uniform(0.05, 0.3, shape)).astype(np.float32)
        out[name] = GaussianPosterior(mean=mean, std=std)
    return out


def _bayesq(quantizer: Any, allocator: Any, coder: str = "range", precision: int = 16) -> Make:
    return lambda: (pipeline(quantizer, allocator, coder, precision), _layers(50))


BAYESQ = ("bayesq §1", "bayesq §2", "bayesq §3", "bayesq §4", "bayesq §5", "bayesq §6", "range-coder §5.1")


def _bayesq_cases() -> list[Case]:
    grid, lloyd = (("quantizer", "bayesq-grid"),), (("quantizer", "bayesq-lloyd"),)
    out: list[Case] = []
    for bits, coder, precision in ((2, "range", 16), (4, "rans", 16), (8, "range", 24)):
        out.append(PositiveCase(
            name=f"bayesq-grid-{bits}bit-{coder}-p{precision}",
            description=f"bayesq-grid, every row at {bits} bits (fixed allocator), {coder} coder, precision {precision}",
            features=("bayesq-grid", coder, f"precision-{precision}", "float32", "multiple-groups"),
            spec_sections=BAYESQ + (("range-coder §3",) if coder == "range" else ("range-coder §4",)),
            make=_bayesq({"id": "bayesq-grid"}, {"id": "fixed", "setting": {"bits": bits}}, coder, precision),
            needs=grid,
        ))
    out += [
        PositiveCase(
            name="bayesq-grid-per-row-widths",
            description="bayesq-grid with one width per row (2, 3, 4 and 6 bits cycling over 24 rows): a four-row "
                        "count table with per-symbol indexes",
            features=("bayesq-grid", "range", "precision-16", "multi-row-table", "indexes", "per-row-settings"),
            spec_sections=BAYESQ + ("range-coder §3",),
            make=lambda: (pipeline({"id": "bayesq-grid"}, {"id": "fixed", "setting": {"bits": [2, 3, 4, 6] * 6}}),
                          {"fc1.weight": _layers(50)["fc1.weight"]}),
            needs=grid,
        ),
        PositiveCase(
            name="bayesq-grid-knapsack-4p5bit",
            description="bayesq-grid with the knapsack allocator at 4.5 bits per weight over two layers",
            features=("bayesq-grid", "knapsack", "rans", "precision-16", "per-group-settings"),
            spec_sections=BAYESQ + ("range-coder §4",),
            make=_bayesq({"id": "bayesq-grid"}, {"id": "knapsack", "avg_bits": 4.5}, "rans"),
            needs=grid + (("allocator", "knapsack"),),
        ),
        PositiveCase(
            name="bayesq-lloyd-side-levels-3bit-rans",
            description="bayesq-lloyd at 3 bits with learned levels carried in the side info (no table asset)",
            features=("bayesq-lloyd", "rans", "precision-16", "side-levels"),
            spec_sections=BAYESQ + ("range-coder §4",),
            make=_bayesq({"id": "bayesq-lloyd", "max_nonuniform_bits": 4}, {"id": "fixed", "setting": {"bits": 3}}, "rans"),
            needs=lloyd,
        ),
        PositiveCase(
            name="bayesq-lloyd-table-asset-2bit",
            description="bayesq-lloyd at 2 bits with the shipped Lloyd-Max level table (an asset referenced by sha256)",
            features=("bayesq-lloyd", "range", "precision-16", "asset"),
            spec_sections=BAYESQ + ("bayesq §7", "range-coder §3"),
            make=lambda: _bayesq({"id": "bayesq-lloyd", "table": shipped_table_ref()}, {"id": "fixed", "setting": {"bits": 2}})(),
            needs=lloyd,
            assets={"pipeline.quantizer.table": ("bayesq §7", "the Lloyd-Max level table (safetensors)")},
        ),
        NegativeCase(
            name="neg-bayesq-lloyd-foreign-table",
            description="the Lloyd-Max table reference replaced by the hash of a file nobody ships",
            features=("hash-mismatched-asset",),
            spec_sections=("bayesq §7", "bitstream §5"),
            base="bayesq-lloyd-table-asset-2bit",
            mutate=header_edit(lambda h: h["pipeline"]["quantizer"].update(table=FOREIGN_ASSET)),
            expected_error="AssetError",
        ),
        NegativeCase(
            name="neg-bayesq-side-extra-key",
            description="a group's side info with a key the format does not define",
            features=("side-info",),
            spec_sections=("bayesq §3",),
            base="bayesq-grid-4bit-rans-p16",
            mutate=header_edit(lambda h: h["groups"][0]["side"].update(extra=1)),
            expected_error="InputError",
        ),
    ]
    return out



def cases() -> list[Case]:
    """Entry point of ``codecframe.conformance_cases``: the BayesQ cases, positives before their negatives."""
    return _bayesq_cases()
