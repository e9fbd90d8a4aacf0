"""Shared fixtures: tiny trained checkpoints (seconds to train) registered as in-process assets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from codecframe_gmvq import data
from codecframe_gmvq.checkpoint import checkpoint_bytes
from codecframe_gmvq.model import ModelConfig
from codecframe_gmvq.train import TrainConfig, code_usage, train

torch.set_num_threads(1)

TINY_MODEL = ModelConfig(codebook_size=16, latent_dim=4, hidden=16, sigma2=0.01)


def make_checkpoint(path: Path, seed: int = 0, steps: int = 30) -> Path:
    """Train a tiny GM-VQ on digits and write its checkpoint to ``path``."""
    train_images, _ = data.digits()
    cfg = TrainConfig(steps=steps, seed=seed, batch_size=32, kmeans_images=256, log_every=10)
    res = train(TINY_MODEL, cfg, train_images)
    path.write_bytes(checkpoint_bytes(res.model, cfg, code_usage(res.model, train_images)))
    return path


@pytest.fixture(scope="session")
def tiny_model() -> ModelConfig:
    return TINY_MODEL


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="session")
def other_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "other.safetensors", seed=1)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_checkpoint: Path):
    from codecframe_gmvq.tokenizer import Tokenizer

    return Tokenizer.load(tiny_checkpoint)


@pytest.fixture(scope="session")
def test_digits() -> np.ndarray:
    return data.digits()[1]
