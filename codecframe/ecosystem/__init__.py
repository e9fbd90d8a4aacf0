"""Adapters to the array ecosystem: a numcodecs codec and a zarr v3 codec named ``codecframe``.

:mod:`.array_codec` holds the shared logic (codec config, chunk layout); :mod:`.numcodecs_codec`
and :mod:`.zarr_codec` import numcodecs and zarr respectively (``pip install 'codecframe[ecosystem]'``).
"""

from .array_codec import CODEC_ID, FORMAT, ArrayCodec, normalize_config

__all__ = ["ArrayCodec", "CODEC_ID", "FORMAT", "normalize_config"]
