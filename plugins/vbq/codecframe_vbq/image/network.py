"""The image VAE's forward passes in numpy, so that the codec runs without importing torch.

Same architecture and safetensors weights as the torch model (:mod:`.vae`, used for training);
activations are float32 and channels-last. Outputs agree with torch to float32 rounding, not bit
for bit; nothing here decides decoded symbols, which come from the integer-table range decoder.
Each convolution works on bands of rows, so temporaries stay within :data:`BAND_BYTES`.

:meth:`VAENetwork.encode_image` and :meth:`VAENetwork.decode_image` (what the codec runs) bound
memory for any image shape: an image whose working set (activations and temporaries, estimated from
the architecture per latent pixel) exceeds :data:`TILE_BYTES` is processed in tiles of latent rows
and columns, each with a halo of latent pixels that covers the layers' receptive field, so every
kept output is computed from exactly the inputs it depends on; smaller images take one tile, the
plain :meth:`~VAENetwork.encode` / :meth:`~VAENetwork.decode`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .architecture import Layer, VAEConfig, layers

__all__ = ["VAENetwork", "BAND_BYTES", "TILE_BYTES"]

#: Largest temporary (im2col rows or transposed-convolution columns) of one band.
BAND_BYTES = 32 << 20
#: Largest estimated working set of one tile of :meth:`VAENetwork.encode_image` / ``decode_image``.
TILE_BYTES = 256 << 20


class VAENetwork:
    """Encoder and decoder of :class:`~.vae.ImageVAE` from its state dict (name → float32 array)."""

    def __init__(self, config: VAEConfig, state: Mapping[str, np.ndarray]) -> None:
        if config.upsampling != "transposed":
            raise ValueError(f"the numpy network runs transposed convolutions, not {config.upsampling} "
                             "upsampling (a training variant)")
        self.config = config
        enc, dec = layers(config)
        self._encoder = [_Stage(lay, state, f"encoder.{2 * i}", f"encoder.{2 * i + 1}", i < len(enc) - 1, config)
                         for i, lay in enumerate(enc)]
        self._decoder = [_Stage(lay, state, f"decoder.{2 * i}", f"decoder.{2 * i + 1}", i < len(dec) - 1, config)
                         for i, lay in enumerate(dec)]

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std, each (C, H/s, W/s), of an image (H, W, 3) in [0, 1] (H, W multiples of
        the total stride s, :attr:`stride`)."""
        h = np.asarray(x, np.float32)
        for stage in self._encoder:
            h = stage.conv(h)
        mean, logvar = np.split(h.transpose(2, 0, 1), 2)
        return np.ascontiguousarray(mean), np.exp(np.float32(0.5) * np.clip(logvar, -30.0, 20.0))

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Likelihood mean g(z) (not clipped), (sH, sW, 3), of latents (C, H, W)."""
        h = np.ascontiguousarray(np.asarray(z, np.float32).transpose(1, 2, 0))
        for stage in self._decoder:
            h = stage.conv_transpose(h)
        return h

    # ------------------------------------------------------------------ memory-bounded, any shape
    @property
    def stride(self) -> int:
        """Total down-sampling factor (image pixels per latent pixel along each side)."""
        return math.prod(stage.layer.stride for stage in self._encoder)

    def encode_image(self, image: np.ndarray, tile_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std (C, ⌈H/s⌉, ⌈W/s⌉) of a uint8 image (H, W, 3), edge-padded to
        multiples of the stride s, in tiles whose working set stays within ``tile_bytes`` (default :data:`TILE_BYTES`)."""
        s = self.stride
        h, w = image.shape[:2]
        hl, wl = -(-h // s), -(-w // s)
        halo = _encoder_halo(self._encoder, s)
        mean = std = None
        for (r0, r1), (c0, c1) in _tiles(hl, wl, halo, _bytes_per_latent(self._encoder, s, True),
                                         TILE_BYTES if tile_bytes is None else tile_bytes):
            rs, re, cs, ce = max(r0 - halo, 0), min(r1 + halo, hl), max(c0 - halo, 0), min(c1 + halo, wl)
            rows = np.minimum(np.arange(rs * s, re * s), h - 1)  # edge padding, tile by tile
            cols = np.minimum(np.arange(cs * s, ce * s), w - 1)
            part = image[rows[:, None], cols[None, :]].astype(np.float32) / np.float32(255.0)
            m, d = self.encode(part)
            if mean is None:
                if (r1 - r0, c1 - c0) == (hl, wl):
                    return m, d
                mean = np.empty((m.shape[0], hl, wl), np.float32)
                std = np.empty_like(mean)
            mean[:, r0:r1, c0:c1] = m[:, r0 - rs:r1 - rs, c0 - cs:c1 - cs]
            std[:, r0:r1, c0:c1] = d[:, r0 - rs:r1 - rs, c0 - cs:c1 - cs]
        return mean, std

    def decode_image(self, z: np.ndarray, size: tuple[int, int], grey: bool = False,
                     tile_bytes: int | None = None) -> np.ndarray:
        """uint8 image of height and width ``size`` from latents (C, ⌈H/s⌉, ⌈W/s⌉): g(z) clipped to
        [0, 1], scaled by 255, rounded and cropped; grey (H, W) from the mean of the three channels.
        Tiles keep the working set within ``tile_bytes`` (default :data:`TILE_BYTES`)."""
        s = self.stride
        h, w = size
        hl, wl = z.shape[1:]
        out = np.empty((h, w) if grey else (h, w, 3), np.uint8)
        halo = _decoder_halo(self._decoder, s)
        for (r0, r1), (c0, c1) in _tiles(hl, wl, halo, _bytes_per_latent(self._decoder, 1, False),
                                         TILE_BYTES if tile_bytes is None else tile_bytes):
            rs, re, cs, ce = max(r0 - halo, 0), min(r1 + halo, hl), max(c0 - halo, 0), min(c1 + halo, wl)
            x = self.decode(z[:, rs:re, cs:ce])
            y0, y1, x0, x1 = r0 * s, min(r1 * s, h), c0 * s, min(c1 * s, w)
            x = x[y0 - rs * s:y1 - rs * s, x0 - cs * s:x1 - cs * s]
            if grey:
                x = x.mean(axis=2, dtype=np.float32)
            out[y0:y1, x0:x1] = np.clip(np.rint(x * np.float32(255.0)), 0, 255)
        return out


def _bytes_per_latent(stages: list[_Stage], first_factor: int, encoder: bool) -> int:
    """Estimated bytes of activations and temporaries per latent pixel for a pass through ``stages``
    (every stage's input, padded/overlap-add buffer, im2col or column matrix and output; float32)."""
    total, f = 0, first_factor  # f: the stage input's pixels per latent pixel along each side
    for st in stages:
        lay = st.layer
        f_out = f // lay.stride if encoder else f * lay.stride
        per_input = lay.cin * 2 + (0 if encoder else lay.kernel ** 2 * lay.cout)
        per_output = lay.cout * 4 + (lay.cin * lay.kernel ** 2 if encoder else 0)
        total += 4 * (f * f * per_input + f_out * f_out * per_output)
        f = f_out
    return total


def _decoder_halo(stages: list[_Stage], stride: int) -> int:
    """Latent pixels on each side that the output pixels of one latent pixel's area depend on."""
    a, b = 0, stride - 1  # output interval, then back through each transposed convolution
    for st in reversed(stages):
        k, s, p = st.layer.kernel, st.layer.stride, st.layer.kernel // 2
        a, b = -((k - 1 - p - a) // s), (b + p) // s  # inputs i with i*s + t - p in [a, b], t in 0..k-1
    return max(-a, b) + 1


def _encoder_halo(stages: list[_Stage], stride: int) -> int:
    """Latent pixels on each side whose image area one latent pixel's outputs depend on."""
    a, b = 0, 0  # latent interval, then forward to the image through each convolution
    for st in reversed(stages):
        k, s, p = st.layer.kernel, st.layer.stride, st.layer.kernel // 2
        a, b = a * s - p, b * s - p + k - 1
    return -(-max(-a, b - stride + 1) // stride) + 1


def _tiles(hl: int, wl: int, halo: int, per_latent: int, budget: int):
    """(row range, column range) tiles of an (hl, wl) latent grid whose haloed area fits ``budget``
    (one tile if the whole grid does)."""
    if hl * wl * per_latent <= budget:
        yield (0, hl), (0, wl)
        return
    pixels = max(budget // per_latent, (2 * halo + 1) ** 2)  # haloed latent pixels per tile
    side = max(1, math.isqrt(pixels) - 2 * halo)
    th = min(hl, side)
    tw = max(1, min(wl, pixels // (th + 2 * min(halo, hl - th)) - 2 * halo))
    for r0 in range(0, hl, th):
        for c0 in range(0, wl, tw):
            yield (r0, min(r0 + th, hl)), (c0, min(c0 + tw, wl))


class _Stage:
    """One layer's weights (as matrices for channels-last matmuls) and its nonlinearity."""

    def __init__(self, layer: Layer, state: Mapping[str, np.ndarray], name: str, act: str, nonlinear: bool,
                 config: VAEConfig) -> None:
        self.layer = layer
        w = np.asarray(state[f"{name}.weight"], np.float32)
        k = layer.kernel
        encoder = name.startswith("encoder")
        expect = ((layer.cout, layer.cin) if encoder else (layer.cin, layer.cout)) + (k, k)
        if w.shape != expect or np.shape(state[f"{name}.bias"]) != (layer.cout,):
            raise ValueError(f"{name}: weight {w.shape} and bias {np.shape(state[f'{name}.bias'])}, "
                             f"the architecture needs {expect} and ({layer.cout},)")
        if encoder:  # Conv2d (cout, cin, k, k) -> rows in window order (cin, k, k)
            self.matrix = np.ascontiguousarray(w.reshape(layer.cout, layer.cin * k * k).T)
        else:  # ConvTranspose2d (cin, cout, k, k) -> columns in (k, k, cout) order
            self.matrix = np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(layer.cin, k * k * layer.cout))
        self.bias = np.asarray(state[f"{name}.bias"], np.float32)
        self.kind = config.nonlinearity if nonlinear else None
        if self.kind == "gdn":
            self.gdn_beta = np.asarray(state[f"{act}.beta"], np.float32) ** 2 + np.float32(1e-6)
            self.gdn_gamma_t = np.ascontiguousarray((np.asarray(state[f"{act}.gamma"], np.float32) ** 2).T)

    def _activate(self, h: np.ndarray, inverse: bool) -> np.ndarray:
        if self.kind == "relu":
            return np.maximum(h, 0, out=h)
        if self.kind == "gdn":
            norm = np.sqrt((h * h) @ self.gdn_gamma_t + self.gdn_beta)
            return h * norm if inverse else h / norm
        return h

    def conv(self, x: np.ndarray) -> np.ndarray:
        """Conv2d(kernel, stride, padding kernel // 2) of (H, W, cin) -> (H', W', cout)."""
        lay, k = self.layer, self.layer.kernel
        p = k // 2
        windows = sliding_window_view(np.pad(x, ((p, p), (p, p), (0, 0))), (k, k), axis=(0, 1))
        windows = windows[::lay.stride, ::lay.stride]  # (H', W', cin, k, k)
        ho, wo = windows.shape[:2]
        out = np.empty((ho, wo, lay.cout), np.float32)
        band = max(1, BAND_BYTES // (4 * wo * self.matrix.shape[0]))
        for r in range(0, ho, band):
            rows = windows[r:r + band]
            out[r:r + band] = (rows.reshape(-1, self.matrix.shape[0]) @ self.matrix).reshape(rows.shape[0], wo, lay.cout)
        out += self.bias
        return self._activate(out, inverse=False)

    def conv_transpose(self, x: np.ndarray) -> np.ndarray:
        """ConvTranspose2d(kernel, stride, padding kernel // 2, output padding stride - 1): (H, W, cin) -> (sH, sW, cout)."""
        lay, k, s = self.layer, self.layer.kernel, self.layer.stride
        hi, wi, _ = x.shape
        full = np.zeros(((hi - 1) * s + k + s - 1, (wi - 1) * s + k + s - 1, lay.cout), np.float32)
        band = max(1, BAND_BYTES // (4 * wi * self.matrix.shape[1]))
        for r in range(0, hi, band):
            n = min(band, hi - r)
            cols = (x[r:r + n].reshape(-1, lay.cin) @ self.matrix).reshape(n, wi, k, k, lay.cout)
            for i in range(k):
                for j in range(k):
                    full[r * s + i:(r + n - 1) * s + i + 1:s, j:(wi - 1) * s + j + 1:s] += cols[:, :, i, j]
        p = k // 2
        out = full[p:p + hi * s, p:p + wi * s]
        out += self.bias
        return self._activate(out, inverse=True)
