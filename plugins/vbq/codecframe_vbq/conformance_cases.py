"""Conformance cases of the VBQ format (``specs/vbq.md``), registered under ``codecframe.conformance_cases``.

``codecframe conformance generate`` loads them through that entry point; the stored vectors live in
codecframe's corpus (``specs/vectors``), and ``tests/test_vbq_conformance_cases.py`` regenerates them
byte for byte from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from codecframe.abc import Posterior
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.conformance.cases import FOREIGN_ASSET, Case, NegativeCase, PositiveCase, header_edit, pipeline
from codecframe.pipeline import Pipeline

from .image.shipped import (RAW_SIGMA_TABLES_V1_REF, TABLES_V2_REF, TABLES_V3_REF, TABLES_V4_REF, TABLES_V5_REF,
                             VAE_V1_REF, VAE_V2_REF, VAE_V3_REF, VAE_V4_REF, VAE_V5_REF)

__all__ = ["cases"]

Make = Callable[[], tuple[Pipeline, Mapping[str, Posterior]]]


def _latents(seed: int) -> dict[str, Posterior]:
    """VAE-like latents: 6 channels of different scales on a 10 x 12 grid, per-element std."""
    rng = np.random.default_rng(seed)
    scales = np.array([0.2, 0.5, 1.0, 2.0, 4.0, 8.0])[:, None, None]
    mean = (rng.standard_normal((6, 10, 12)) * scales).astype(np.float32)
    std = np.exp(rng.normal(-0.5, 0.6, (6, 10, 12))).astype(np.float32)
    return {"latent": GaussianPosterior(mean=mean, std=std)}


def _vbq(lam: float, coder: str, precision: int, r_max: int = 10) -> Make:
    quantizer = {"id": "vbq", "channel_axis": 0, "r_max": r_max}
    return lambda: (pipeline(quantizer, {"id": "fixed", "setting": {"lambda": lam}}, coder, precision), _latents(40))


def _vbq_image(lam: float, coder: str, vae: str = VAE_V1_REF, tables: str = RAW_SIGMA_TABLES_V1_REF) -> Make:
    """By default the first model's VAE, which the first image vectors' meta names (informative for decoding
    latents: specs/vbq.md §6), and the raw-σ tables they were made with."""

    def make() -> tuple[Pipeline, Mapping[str, Posterior]]:
        from skimage import data  # noqa: PLC0415 - only the image vectors need it

        from .image.codec import GROUP, ImageCodec  # noqa: PLC0415 - torch is imported only to build vectors

        codec = ImageCodec(vae=vae, tables=tables, entropy_coder=coder)
        crop = np.ascontiguousarray(data.astronaut()[60:100, 180:236])
        return codec.pipeline(lam), {GROUP: codec.posterior(crop)}
    return make


def _image_case(name: str, description: str, lam: float, coder: str, vae: str, tables: str, tables_note: str,
                vae_note: str) -> PositiveCase:
    """An image-container vector: a crop coded with ``vae`` and ``tables``, both carried as assets."""
    return PositiveCase(
        name=name,
        description=description,
        features=("vbq", "fitted", "asset", coder, "precision-24", "multi-row-table", "indexes", "image-container"),
        spec_sections=("vbq §1", "vbq §2", "vbq §5", "vbq §5.1", "vbq §5.2", "vbq §6", "range-coder §5.1",
                       "bitstream §5") + (("range-coder §3",) if coder == "range" else ("range-coder §4",)),
        make=_vbq_image(lam, coder, vae, tables),
        meta={"vbq_image": {"height": 40, "width": 56, "vae": vae}},
        needs=(("quantizer", "vbq"),),
        assets={"pipeline.quantizer.tables": ("vbq §5.1", tables_note), "meta.vbq_image.vae": ("vbq §6", vae_note)},
    )


VBQ = ("vbq §1", "vbq §2", "vbq §4", "range-coder §5", "range-coder §5.1", "bitstream §5")


def _vbq_cases() -> list[Case]:
    needs = (("quantizer", "vbq"),)
    out: list[Case] = []
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
        out.append(_image_case(
            f"vbq-image-fitted-lambda-{lam:g}-{coder}".replace(".", "p"),
            f"VBQ image container (specs/vbq.md §6): the shipped VAE's latents of a 40 x 56 crop of the "
            f"scikit-image astronaut, fitted mode with the shipped tables, λ = {lam:g}, {coder} at precision 24",
            lam, coder, VAE_V1_REF, RAW_SIGMA_TABLES_V1_REF, "VBQ fitted tables (safetensors) the image vectors use",
            "the image container's VAE (safetensors; decoding latents does not need it)"))
    out.append(_image_case(
        "vbq-image-v2-fitted-lambda-0p3-range",
        "VBQ image container (specs/vbq.md §6) with the second shipped model (the default since issue 17) and "
        "its calibrated tables: a 40 x 56 crop of the scikit-image astronaut, fitted mode, λ = 0.3, range at "
        "precision 24",
        0.3, "range", VAE_V2_REF, TABLES_V2_REF, "VBQ fitted tables (safetensors) of the second model",
        "the second model's VAE (safetensors; decoding latents does not need it)"))
    out.append(_image_case(
        "vbq-image-v3-fitted-lambda-0p3-range",
        "VBQ image container (specs/vbq.md §6) with the third shipped model (64 latent channels, the default "
        "since issue 17's fifth session) and its tables (raw σ on the full-span grid): a 40 x 56 crop of the "
        "scikit-image astronaut, fitted mode, λ = 0.3, range at precision 24",
        0.3, "range", VAE_V3_REF, TABLES_V3_REF, "VBQ fitted tables (safetensors) of the third model",
        "the third model's VAE (safetensors; decoding latents does not need it)"))
    out.append(_image_case(
        "vbq-image-v4-fitted-lambda-0p3-range",
        "VBQ image container (specs/vbq.md §6) with the fourth shipped model (the third fine-tuned 15 000 more "
        "steps, the default since issue 17's sixth session) and its tables (raw σ on the full-span grid): a 40 x 56 "
        "crop of the scikit-image astronaut, fitted mode, λ = 0.3, range at precision 24",
        0.3, "range", VAE_V4_REF, TABLES_V4_REF, "VBQ fitted tables (safetensors) of the fourth model",
        "the fourth model's VAE (safetensors; decoding latents does not need it)"))
    out.append(_image_case(
        "vbq-image-v5-fitted-lambda-0p3-range",
        "VBQ image container (specs/vbq.md §6) with the fifth shipped model (the fourth's encoder with a decoder "
        "tuned on VBQ-quantized latents, the default since issue 17's seventh session) and the fourth model's "
        "tables: a 40 x 56 crop of the scikit-image astronaut, fitted mode, λ = 0.3, range at precision 24",
        0.3, "range", VAE_V5_REF, TABLES_V5_REF, "VBQ fitted tables (safetensors) of the fourth model",
        "the fifth model's VAE (safetensors; decoding latents does not need it)"))
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
        make=lambda: (pipeline({"id": "vbq", "r_max": 4}, {"id": "fixed", "setting": {"lambda": 0.2}}), _latents(41)),
        needs=needs,
    ))
    return out



def cases() -> list[Case]:
    """Entry point of ``codecframe.conformance_cases``: the VBQ cases, positives before their negatives."""
    return _vbq_cases()
