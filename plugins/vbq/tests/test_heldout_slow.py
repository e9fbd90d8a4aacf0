"""Issue 17's colour and ceiling targets for the shipped model, on the held-out set (slow: about a minute).

    pytest -m slow plugins/vbq/tests/test_heldout_slow.py

The JPEG targets are in ``test_rd_slow.py``; the figures are in docs/benchmarks.md (VBQ training).
"""

from __future__ import annotations

import pytest
import torch

from codecframe.assets import load_asset
from codecframe_vbq.image import data
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.heldout import channel_mean_shift, load_model, measure
from codecframe_vbq.image.shipped import TABLES_REF
from codecframe_vbq.tables import VBQTables

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def heldout():
    torch.set_num_threads(1)
    return measure(load_model(None, None), data.HELDOUT, VBQTables.from_bytes(load_asset(TABLES_REF)).points)


def test_ceiling_averages_at_least_32_db_on_the_photographs(heldout):
    assert heldout["photo_mean_gmu_psnr"] >= 32.0


def test_colour_wheel_and_every_hue_band(heldout):
    assert heldout["images"]["colorwheel"]["gmu_psnr"] >= 32.0
    bands = heldout["images"]["hue_sweep"]["hue_bands"]
    assert len(bands) == 12 and min(bands) >= 28.0


def test_no_held_out_image_has_more_than_0p1_percent_of_its_means_clamped(heldout):
    assert max(row["clamped"] for row in heldout["images"].values()) <= 0.001


def test_channel_means_stay_within_2_grey_levels_at_half_a_bit_per_pixel():
    codec = ImageCodec()
    shifts = {}
    for name in data.HELDOUT_PHOTOS:
        image = data.load(name)
        decoded, _ = ImageCodec.decode(codec.encode_bpp(image, 0.5).data)
        shifts[name] = channel_mean_shift(image, decoded)
    assert max(shifts.values()) <= 2.0, shifts
