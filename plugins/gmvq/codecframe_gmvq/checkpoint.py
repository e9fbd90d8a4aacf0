"""Checkpoint files (safetensors): codebook, code-usage counts, network weights and their configs.

The file format is specified in ``specs/gmvq.md``. :func:`read_codebook` needs numpy only (it is
what the quantizer uses to decode); :func:`load_model` rebuilds the PyTorch tokenizer.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import struct
from typing import TYPE_CHECKING, Any

import numpy as np

from codecframe.errors import ConfigError, InputError

if TYPE_CHECKING:
    from .model import Autoencoder, ModelConfig
    from .train import TrainConfig

__all__ = ["CheckpointError", "Codebook", "FORMAT", "FORMAT_VERSION", "checkpoint_bytes", "read_codebook",
           "read_metadata", "load_model"]

FORMAT = "codecframe-gmvq-checkpoint"
FORMAT_VERSION = 1
MAX_CODES = 65536
MAX_HEADER = 1 << 20


class CheckpointError(InputError):
    """A checkpoint is malformed, untrained, or does not match what it is used with."""


@dataclasses.dataclass(frozen=True)
class Codebook:
    """Codewords ``vectors`` float32 (C, L) and the aggregated code-usage ``counts`` int64 (C,)."""

    vectors: np.ndarray
    counts: np.ndarray

    @property
    def size(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def checkpoint_bytes(
    model: Autoencoder,
    train_config: TrainConfig,
    counts: np.ndarray,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """Serialise a trained model with its usage ``counts`` (from :func:`~codecframe_gmvq.train.code_usage`)."""
    from safetensors.numpy import save

    codebook = model.codebook().detach().numpy().astype(np.float32)
    counts = np.asarray(counts, np.int64)
    if counts.shape != (codebook.shape[0],) or np.any(counts < 0) or counts.sum() == 0:
        raise CheckpointError(f"usage counts must be {codebook.shape[0]} non-negative integers, not all zero")
    tensors = {"codebook": codebook, "usage_counts": counts}
    for name, value in model.state_dict().items():
        tensors[f"model.{name}"] = value.detach().numpy().copy()
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_config": json.dumps(dataclasses.asdict(model.config), sort_keys=True),
        "train_config": json.dumps(dataclasses.asdict(train_config), sort_keys=True),
        "extra": json.dumps(extra or {}, sort_keys=True),
    }
    return _canonical(save(tensors, metadata=meta))


def _canonical(blob: bytes) -> bytes:
    """Re-write a safetensors header with sorted keys (safetensors' own order varies between
    processes), padded with spaces to 8 bytes, so that the same weights give the same file bytes."""
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.dumps(json.loads(blob[8: 8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + blob[8 + n:]


def read_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` map of a safetensors file, checked to be a GM-VQ checkpoint of a known version."""
    meta = _header(data).get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"not a GM-VQ checkpoint (safetensors metadata 'format' must be {FORMAT!r})")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"GM-VQ checkpoint format_version {meta.get('format_version')!r} is not supported (this reader: {FORMAT_VERSION})"
        )
    return meta


def _header(data: bytes) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor names, dtypes, shapes, offsets; ``__metadata__``)."""
    if len(data) < 8:
        raise CheckpointError("checkpoint is shorter than the 8-byte safetensors header length")
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > min(MAX_HEADER, len(data) - 8):
        raise CheckpointError(f"checkpoint header length {n} exceeds the file or the {MAX_HEADER}-byte limit")
    try:
        header = json.loads(bytes(data[8: 8 + n]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint header is not JSON: {exc}") from None
    return header if isinstance(header, dict) else {}


def _tensors(data: bytes) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    read_metadata(data)
    try:
        return load(bytes(data))
    except (SafetensorError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint tensors cannot be read: {exc}") from None


@functools.lru_cache(maxsize=8)
def read_codebook(data: bytes) -> Codebook:
    """The validated codebook and usage counts of a checkpoint (numpy only)."""
    tensors = _tensors(data)
    vectors, counts = tensors.get("codebook"), tensors.get("usage_counts")
    if vectors is None or counts is None:
        raise CheckpointError("checkpoint has no 'codebook' and 'usage_counts' tensors: it is untrained")
    if vectors.dtype != np.float32 or vectors.ndim != 2 or not 2 <= vectors.shape[0] <= MAX_CODES:
        raise CheckpointError(f"'codebook' must be float32 (C, L) with 2 <= C <= {MAX_CODES}, got {vectors.dtype} {vectors.shape}")
    if counts.dtype != np.int64 or counts.shape != (vectors.shape[0],) or np.any(counts < 0):
        raise CheckpointError(f"'usage_counts' must be {vectors.shape[0]} non-negative int64 values")
    if counts.sum() == 0:
        raise CheckpointError("checkpoint 'usage_counts' are all zero: the model is untrained")
    if not np.all(np.isfinite(vectors)):
        raise CheckpointError("checkpoint 'codebook' holds NaN or infinite values")
    if len(np.unique(vectors, axis=0)) != len(vectors):
        raise CheckpointError("checkpoint 'codebook' has duplicate codewords, so indices would not be recoverable")
    vectors.setflags(write=False)
    counts.setflags(write=False)
    return Codebook(vectors, counts)


def _configs(meta: dict[str, str]) -> tuple[ModelConfig, TrainConfig]:
    from codecframe.config import config_from_dict

    from .model import ModelConfig
    from .train import TrainConfig

    try:
        return (
            config_from_dict(ModelConfig, json.loads(meta["model_config"]), "gmvq checkpoint model_config"),
            config_from_dict(TrainConfig, json.loads(meta["train_config"]), "gmvq checkpoint train_config"),
        )
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint metadata lacks a readable model_config/train_config: {exc}") from None
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None


def _check_weights_present(data: bytes, model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """Refuse a model config whose network differs from the weights the file holds, before building it:
    the network is laid out on PyTorch's ``meta`` device (shapes only, no memory), and its parameter
    shapes are compared with the tensor shapes the safetensors header declares."""
    import torch

    from .model import Autoencoder

    declared = {k[6:]: v.get("shape") for k, v in _header(data).items() if k.startswith("model.") and isinstance(v, dict)}
    with torch.device("meta"):
        skeleton = Autoencoder(model_cfg, commitment=train_cfg.commitment, kl_weight=train_cfg.kl_weight)
    expected = {k: list(v.shape) for k, v in skeleton.state_dict().items()}
    if expected != declared:
        diff = sorted(k for k in set(expected) | set(declared) if expected.get(k) != declared.get(k))
        shown = "; ".join(f"{k}: config {expected.get(k)}, file {declared.get(k)}" for k in diff[:3])
        raise CheckpointError(f"checkpoint weights do not match its model config ({len(diff)} tensor(s) differ: {shown})")


def load_model(data: bytes) -> tuple[Autoencoder, Codebook, TrainConfig]:
    """Rebuild the network of a checkpoint; its weights must match its own model config exactly."""
    import torch

    from .model import Autoencoder

    meta = read_metadata(data)
    model_cfg, train_cfg = _configs(meta)
    codebook = read_codebook(data)
    if (codebook.size, codebook.dim) != (model_cfg.codebook_size, model_cfg.latent_dim):
        raise CheckpointError(
            f"checkpoint codebook is {codebook.size}x{codebook.dim} but its model config says "
            f"{model_cfg.codebook_size}x{model_cfg.latent_dim}"
        )
    _check_weights_present(data, model_cfg, train_cfg)
    model = Autoencoder(model_cfg, commitment=train_cfg.commitment, kl_weight=train_cfg.kl_weight)
    state = {k[6:]: torch.from_numpy(v.copy()) for k, v in _tensors(data).items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint weights do not match its model config: {exc}") from None
    if not np.array_equal(model.codebook().detach().numpy(), codebook.vectors):
        raise CheckpointError("checkpoint 'codebook' differs from the codebook in its network weights")
    model.eval()
    return model, codebook, train_cfg
