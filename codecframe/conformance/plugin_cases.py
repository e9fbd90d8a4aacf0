"""Conformance cases of the three plugin formats (``specs/vbq.md``, ``specs/bayesq.md``, ``specs/gmvq.md``).

Each case names the components it needs; the generator skips a case whose plugin is not installed.
Plugin modules are imported inside the builders only, so this catalogue loads without them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..abc import Posterior
from ..assets import asset_ref
from ..builtins.gaussian import GaussianPosterior
from ..pipeline import Pipeline
from .cases import NegativeCase, PositiveCase, header_edit

__all__ = ["PLUGIN_CASES"]

Make = Callable[[], tuple[Pipeline, Mapping[str, Posterior]]]
#: A reference no installed asset has: the file was made with other tables than the ones installed.
FOREIGN_ASSET = asset_ref(b"an asset that no distribution ships")


def _pipeline(quantizer: Any, allocator: Any = "fixed", coder: str = "range", precision: int = 16,
              posterior: str = "gaussian") -> Pipeline:
    return Pipeline(posterior=posterior, quantizer=quantizer, allocator=allocator,
                    entropy_coder={"id": coder, "precision": precision})


# --------------------------------------------------------------------------- VBQ
def _latents(seed: int) -> dict[str, Posterior]:
    """VAE-like latents: 6 channels of different scales on a 10 x 12 grid, per-element std."""
    rng = np.random.default_rng(seed)
    scales = np.array([0.2, 0.5, 1.0, 2.0, 4.0, 8.0])[:, None, None]
    mean = (rng.standard_normal((6, 10, 12)) * scales).astype(np.float32)
    std = np.exp(rng.normal(-0.5, 0.6, (6, 10, 12))).astype(np.float32)
    return {"latent": GaussianPosterior(mean=mean, std=std)}


def _vbq(lam: float, coder: str, precision: int, r_max: int = 10) -> Make:
    quantizer = {"id": "vbq", "channel_axis": 0, "r_max": r_max}
    return lambda: (_pipeline(quantizer, {"id": "fixed", "setting": {"lambda": lam}}, coder, precision), _latents(40))


#: The VAE asset the image vectors' meta names (informative for decoding latents: specs/vbq.md §6).
_VAE_REF = "sha256:b4db75fb95193cb5b7bc3f552821a829f2dcb1620727be839fcf214fdba45879"
# the tables the stored image vectors were made with (raw σ; the plugin's default tables changed later)
_VBQ_IMAGE_TABLES_REF = "sha256:82aab76401c8142813a32fc81ae7728d80e10b7ec0e495a9c1ce86e4e14a19d7"


def _vbq_image(lam: float, coder: str) -> Make:
    def make() -> tuple[Pipeline, Mapping[str, Posterior]]:
        from skimage import data  # noqa: PLC0415 - only the image vectors need it

        from codecframe_vbq.image.codec import GROUP, ImageCodec  # noqa: PLC0415 - the plugin is optional

        codec = ImageCodec(vae=_VAE_REF, tables=_VBQ_IMAGE_TABLES_REF, entropy_coder=coder)
        crop = np.ascontiguousarray(data.astronaut()[60:100, 180:236])
        return codec.pipeline(lam), {GROUP: codec.posterior(crop)}
    return make


VBQ = ("vbq §1", "vbq §2", "vbq §4", "range-coder §5", "range-coder §5.1", "bitstream §5")


def _vbq_cases() -> list[PositiveCase | NegativeCase]:
    needs = (("quantizer", "vbq"),)
    out: list[PositiveCase | NegativeCase] = []
    for lam, coder, precision in ((0.05, "range", 16), (0.5, "rans", 16), (5.0, "range", 24)):
        out.append(PositiveCase(
            name=f"vbq-adaptive-lambda-{lam:g}-{coder}-p{precision}".replace(".", "p"),
            description=f"VBQ adaptive mode at λ = {lam:g}, channel axis 0 (6 channels = 6 table rows with "
                        f"per-symbol indexes), {coder} coder at precision {precision}",
            features=("vbq", "adaptive", coder, f"precision-{precision}", "multi-row-table", "indexes", "float32"),
            spec_sections=VBQ + (("range-coder §3",) if coder == "range" else ("range-coder §4",)),
            make=_vbq(lam, coder, precision),
            needs=needs,
        ))
    for lam, coder in ((0.03, "range"), (0.3, "range"), (3.0, "rans")):
        out.append(PositiveCase(
            name=f"vbq-image-fitted-lambda-{lam:g}-{coder}".replace(".", "p"),
            description=f"VBQ image container (specs/vbq.md §6): the shipped VAE's latents of a 40 x 56 crop of the "
                        f"scikit-image astronaut, fitted mode with the shipped tables, λ = {lam:g}, {coder} at precision 24",
            features=("vbq", "fitted", "asset", coder, "precision-24", "multi-row-table", "indexes", "image-container"),
            spec_sections=("vbq §1", "vbq §2", "vbq §5", "vbq §5.1", "vbq §5.2", "vbq §6", "range-coder §5.1",
                           "bitstream §5") + (("range-coder §3",) if coder == "range" else ("range-coder §4",)),
            make=_vbq_image(lam, coder),
            meta={"vbq_image": {"height": 40, "width": 56, "vae": _VAE_REF}},
            needs=needs,
        ))
    out.append(NegativeCase(
        name="neg-vbq-foreign-tables",
        description="the VBQ tables reference replaced by the hash of a file nobody ships",
        features=("hash-mismatched-asset",),
        spec_sections=("vbq §5", "vbq §5.1", "bitstream §5"),
        base="vbq-image-fitted-lambda-0p3-range",
        mutate=header_edit(lambda h: h["pipeline"]["quantizer"].update(tables=FOREIGN_ASSET)),
        expected_error="AssetError",
    ))
    out.append(PositiveCase(
        name="vbq-adaptive-one-channel-r4",
        description="VBQ adaptive mode without a channel axis (one table row), r_max 4, λ = 0.2",
        features=("vbq", "adaptive", "range", "precision-16", "float32"),
        spec_sections=VBQ + ("range-coder §3",),
        make=lambda: (_pipeline({"id": "vbq", "r_max": 4}, {"id": "fixed", "setting": {"lambda": 0.2}}), _latents(41)),
        needs=needs,
    ))
    return out


# --------------------------------------------------------------------------- BayesQ
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
    return lambda: (_pipeline(quantizer, allocator, coder, precision), _layers(50))


def _lloyd_table() -> str:
    from codecframe_bayesq.tables import shipped_table_ref  # noqa: PLC0415 - the plugin is optional

    return shipped_table_ref()


BAYESQ = ("bayesq §1", "bayesq §2", "bayesq §3", "bayesq §4", "bayesq §5", "bayesq §6", "range-coder §5.1")


def _bayesq_cases() -> list[PositiveCase | NegativeCase]:
    grid, lloyd = (("quantizer", "bayesq-grid"),), (("quantizer", "bayesq-lloyd"),)
    out: list[PositiveCase | NegativeCase] = []
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
            make=lambda: (_pipeline({"id": "bayesq-grid"}, {"id": "fixed", "setting": {"bits": [2, 3, 4, 6] * 6}}),
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
            make=lambda: _bayesq({"id": "bayesq-lloyd", "table": _lloyd_table()}, {"id": "fixed", "setting": {"bits": 2}})(),
            needs=lloyd,
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


# --------------------------------------------------------------------------- GM-VQ
def _digits() -> np.ndarray:
    from sklearn.datasets import load_digits  # noqa: PLC0415 - only the GM-VQ cases need it

    return (load_digits().images[:24] / 16.0).astype(np.float32)


def _gmvq(index_model: str, coder: str, precision: int) -> Make:
    def make() -> tuple[Pipeline, Mapping[str, Posterior]]:
        from codecframe_gmvq import Tokenizer  # noqa: PLC0415 - the plugin is optional

        tok = Tokenizer.load()
        quantizer = {"id": "gmvq", "codebook": tok.ref, "model": index_model}
        pipe = _pipeline(quantizer, {"id": "fixed", "setting": {"index_model": index_model}}, coder, precision,
                         posterior="categorical")
        return pipe, {"tokens": tok.posterior(_digits())}
    return make


GMVQ = ("gmvq §2", "gmvq §2.1", "gmvq §2.2", "gmvq §2.3", "gmvq §2.4", "gmvq §3", "gmvq §5", "bitstream §5")


def _gmvq_cases() -> list[PositiveCase | NegativeCase]:
    needs = (("quantizer", "gmvq"), ("posterior", "categorical"))
    out: list[PositiveCase | NegativeCase] = []
    for model, coder, precision in (("usage", "range", 16), ("fitted", "rans", 16), ("uniform", "range", 12)):
        out.append(PositiveCase(
            name=f"gmvq-digits-{model}-{coder}-p{precision}",
            description=f"GM-VQ tokens of 24 digit images with the shipped checkpoint, index model '{model}', "
                        f"{coder} coder at precision {precision}",
            features=("gmvq", f"index-model-{model}", coder, f"precision-{precision}", "asset", "vector-reconstruction"),
            spec_sections=GMVQ + (("range-coder §3",) if coder == "range" else ("range-coder §4",)),
            make=_gmvq(model, coder, precision),
            meta={"gmvq": {"kind": "images", "count": 24}},
            needs=needs,
        ))
    base, fitted = "gmvq-digits-usage-range-p16", "gmvq-digits-fitted-rans-p16"
    out += [
        NegativeCase("neg-gmvq-foreign-codebook", "the checkpoint reference replaced by the hash of a file nobody ships",
                     ("hash-mismatched-asset",), ("gmvq §2.2", "gmvq §3", "bitstream §5"), base,
                     header_edit(lambda h: h["pipeline"]["quantizer"].update(codebook=FOREIGN_ASSET)), "AssetError"),
        NegativeCase("neg-gmvq-fitted-counts-sum", "fitted index counts that do not sum to the group's count",
                     ("side-info",), ("gmvq §2.3",), fitted,
                     header_edit(lambda h: h["groups"][0]["side"]["counts"].__setitem__(
                         0, h["groups"][0]["side"]["counts"][0] + 1)), "FormatError"),
        NegativeCase("neg-gmvq-dtype-float64", "a token group declared float64 (the format fixes float32)",
                     ("group-record",), ("gmvq §2.3",), base,
                     header_edit(lambda h: h["groups"][0].update(dtype="float64")), "FormatError"),
        NegativeCase("neg-gmvq-codeword-length", "a token group whose last axis is not the codeword length",
                     ("group-record",), ("gmvq §2.3",), base,
                     header_edit(lambda h: h["groups"][0].update(shape=[*h["groups"][0]["shape"][:-1],
                                                                       h["groups"][0]["shape"][-1] + 1])),
                     "FormatError"),
        NegativeCase("neg-gmvq-unknown-index-model", "a group setting naming an index model the format does not define",
                     ("setting",), ("gmvq §2.3",), base,
                     header_edit(lambda h: h["groups"][0].update(setting={"index_model": "learned"})), "ConfigError"),
    ]
    return out


#: Cases of every plugin format, positives before the negatives derived from them.
PLUGIN_CASES: list[PositiveCase | NegativeCase] = [*_vbq_cases(), *_bayesq_cases(), *_gmvq_cases()]
