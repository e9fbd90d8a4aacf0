"""The image VAE's forward passes in numpy, so that the codec runs without importing torch.

Same architecture and safetensors weights as the torch model (:mod:`.vae`, used for training);
activations are float32 and channels-last. Outputs agree with torch to float32 rounding, not bit
for bit; nothing here decides decoded symbols, which come from the integer-table range decoder.
Each convolution works on bands of rows, so temporaries stay within :data:`BAND_BYTES`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .architecture import Layer, VAEConfig, layers

__all__ = ["VAENetwork", "BAND_BYTES"]

#: Largest temporary (im2col rows or transposed-convolution columns) of one band.
BAND_BYTES = 32 << 20


class VAENetwork:
    """Encoder and decoder of :class:`~.vae.ImageVAE` from its state dict (name → float32 array)."""

    def __init__(self, config: VAEConfig, state: Mapping[str, np.ndarray]) -> None:
        self.config = config
        enc, dec = layers(config)
        self._encoder = [_Stage(lay, state, f"encoder.{2 * i}", f"encoder.{2 * i + 1}", i < len(enc) - 1, config)
                         for i, lay in enumerate(enc)]
        self._decoder = [_Stage(lay, state, f"decoder.{2 * i}", f"decoder.{2 * i + 1}", i < len(dec) - 1, config)
                         for i, lay in enumerate(dec)]

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std, each (C, H/16, W/16), of an image (H, W, 3) in [0, 1] (H, W multiples of 16)."""
        h = np.asarray(x, np.float32)
        for stage in self._encoder:
            h = stage.conv(h)
        mean, logvar = np.split(h.transpose(2, 0, 1), 2)
        return np.ascontiguousarray(mean), np.exp(np.float32(0.5) * np.clip(logvar, -30.0, 20.0))

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Likelihood mean g(z) (not clipped), (H, W, 3), of latents (C, H/16, W/16)."""
        h = np.ascontiguousarray(np.asarray(z, np.float32).transpose(1, 2, 0))
        for stage in self._decoder:
            h = stage.conv_transpose(h)
        return h


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
