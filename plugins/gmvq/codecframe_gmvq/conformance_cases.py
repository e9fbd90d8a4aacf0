"""Conformance cases of the GM-VQ token format (``specs/gmvq.md``), registered under ``codecframe.conformance_cases``.

``codecframe conformance generate`` loads them through that entry point; the stored vectors live in
codecframe's corpus (``specs/vectors``), and ``tests/test_gmvq_conformance_cases.py`` regenerates them
byte for byte from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from codecframe.abc import Posterior
from codecframe.conformance.cases import FOREIGN_ASSET, Case, NegativeCase, PositiveCase, header_edit, pipeline
from codecframe.pipeline import Pipeline

__all__ = ["cases"]

Make = Callable[[], tuple[Pipeline, Mapping[str, Posterior]]]


def _digits() -> np.ndarray:
    from sklearn.datasets import load_digits  # noqa: PLC0415 - only the GM-VQ cases need it

    return (load_digits().images[:24] / 16.0).astype(np.float32)


def _gmvq(index_model: str, coder: str, precision: int) -> Make:
    def make() -> tuple[Pipeline, Mapping[str, Posterior]]:
        from .tokenizer import Tokenizer  # noqa: PLC0415 - torch is imported only to build vectors

        tok = Tokenizer.load()
        quantizer = {"id": "gmvq", "codebook": tok.ref, "model": index_model}
        pipe = pipeline(quantizer, {"id": "fixed", "setting": {"index_model": index_model}}, coder, precision,
                         posterior="categorical")
        return pipe, {"tokens": tok.posterior(_digits())}
    return make


GMVQ = ("gmvq §2", "gmvq §2.1", "gmvq §2.2", "gmvq §2.3", "gmvq §2.4", "gmvq §3", "gmvq §5", "bitstream §5")


def _gmvq_cases() -> list[Case]:
    needs = (("quantizer", "gmvq"), ("posterior", "categorical"))
    out: list[Case] = []
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
            assets={"pipeline.quantizer.codebook": ("gmvq §3", "the GM-VQ checkpoint (safetensors): codebook and weights")},
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



def cases() -> list[Case]:
    """Entry point of ``codecframe.conformance_cases``: the GM-VQ cases, positives before their negatives."""
    return _gmvq_cases()
