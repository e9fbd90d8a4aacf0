"""The full R–D evaluation on the six held-out photographs of issue 17 and the issue's orderings of the curves.

Slow (about 5 minutes on 2 cores):  pytest -m slow plugins/vbq/tests/test_rd_slow.py

Targets the measured curves miss are strict xfails: they run and document the shortfall (see
docs/benchmarks.md, section VBQ), and start failing if a future model meets them.
"""

from __future__ import annotations

import pytest
import torch

from codecframe_vbq.image import data
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.evaluate import evaluate
from codecframe_vbq.image.report import summarize

pytestmark = pytest.mark.slow
#: Rate up to which VBQ was at or above both uniform baselines on every test image before the grid
#: was flattened (0.328 bpp); now it is at every rate, and this weaker check stays.
SATURATION_BPP = 0.3


@pytest.fixture(scope="module")
def summary():
    torch.set_num_threads(1)
    return summarize(evaluate(ImageCodec(), data.HELDOUT_PHOTOS))


def test_file_sizes_are_within_1_percent_of_ideal_plus_header(summary):
    fv = summary["file_vs_ideal"]
    assert 0 <= fv["max_overhead_vs_integer_model"] < 0.01
    assert abs(fv["max_overhead_vs_float_model"]) < 0.01 and abs(fv["min_overhead_vs_float_model"]) < 0.01


def test_vbq_beats_kmeans_per_channel(summary):
    per = summary["bd_rate_vbq_vs"]["kmeans"]["per_image"]
    assert all(v["psnr"] < -15 for v in per.values())


def test_bd_rate_against_per_channel_range_uniform(summary):
    assert summary["bd_rate_vbq_vs"]["uniform-range"]["mean_psnr"] <= -15


def test_bd_rate_against_global_step_uniform(summary):
    assert summary["bd_rate_vbq_vs"]["uniform-step"]["mean_psnr"] <= -15


def test_vbq_at_or_above_uniform_at_every_rate(summary):
    for name in ("vbq_over_uniform-range", "vbq_over_uniform-step"):
        assert all(d["min_margin_db"] >= 0 for d in summary["checks"][name].values())


def test_vbq_at_or_above_uniform_below_saturation(summary):
    """What holds of the target above: VBQ ≥ both uniform baselines up to SATURATION_BPP on every image."""
    for name in ("vbq_over_uniform-range", "vbq_over_uniform-step"):
        for d in summary["checks"][name].values():
            assert d["other_catches_up_at_bpp"] is None or d["other_catches_up_at_bpp"] >= SATURATION_BPP


@pytest.mark.xfail(strict=True, reason="measured (fifth model): JPEG overtakes VBQ from 0.37 bpp on storm and "
                                        "aqua; at or above it up to 0.5 bpp on astronaut, coffee, chelsea and "
                                        "green-meadow")
def test_vbq_beats_jpeg_up_to_half_a_bit_per_pixel(summary):
    assert all(d["min_margin_db"] > 0 for d in summary["checks"]["vbq_over_jpeg_upto_0.5bpp"].values())


def test_bd_rate_against_jpeg_over_its_0p15_to_0p6_bpp(summary):
    """Issue 17: BD-rate ≤ −15 % against JPEG 4:2:0 over 0.15–0.6 bpp, averaged over the photographs."""
    assert summary["bd_rate_vbq_vs_over_range"]["bpp_range"] == [0.15, 0.6]
    assert summary["bd_rate_vbq_vs_over_range"]["vs"]["jpeg"]["mean_psnr"] <= -15


def test_vbq_at_or_above_jpeg_at_half_a_bit_per_pixel_on_two_thirds(summary):
    """Issue 17: VBQ at or above JPEG 4:2:0's PSNR at 0.5 bpp on at least 2/3 of the photographs (fifth
    model: 4 of 6; the fourth, the same encoder with the decoder before tuning, had 3 of 6)."""
    margins = summary["margin_at_bpp"]["vs"]["jpeg"]
    assert summary["margin_at_bpp"]["bpp"] == 0.5 and len(margins) == 6
    assert 3 * sum(m is not None and m >= 0 for m in margins.values()) >= 2 * len(margins), margins


def test_uncertainty_helps(summary):
    """The paper's claim: VBQ with the posterior's own σ beats σ = its per-channel mean (with the first
    shipped model it did not: raw σ needed +20 %; with the second it needed 1.0 % fewer bits on the six
    held-out photographs, with the third 2.1 %, with the fourth 2.8 %, with the fifth 2.4 %)."""
    assert summary["bd_rate_raw_sigma_vs_mean_sigma"]["mean_psnr"] < 0


def test_shipped_sigma_choice_beats_the_other_on_the_test_images(summary):
    """The σ treatment of the shipped tables was chosen on the validation images: raw σ for the fourth
    model's tables (−2.9 % against α = 0 there; −4.3 % on these photographs, −4.0 % with the fifth
    model's decoder) and the third (−2.5 %; −3.4 %), α = 0 for the second (−0.7 % against raw σ there,
    −1.8 % on these photographs). On the held-out photographs the choice must win on average too."""
    assert ImageCodec().quantizer.calibration is None  # raw σ: the alternative is σ = channel mean (α = 0)
    assert summary["bd_rate_vbq_vs"]["vbq-mean-sigma"]["mean_psnr"] < 0
