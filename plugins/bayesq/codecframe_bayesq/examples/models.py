"""The three example architectures: an MLP and a small CNN for digits, a tiny transformer language model."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from codecframe.errors import ConfigError

__all__ = ["MLP", "CNN", "TinyLM", "build", "ARCHITECTURES"]


class MLP(nn.Module):
    """64 → 256 → 256 → 10 with ReLU."""

    def __init__(self, sizes: tuple[int, ...] = (64, 256, 256, 10)) -> None:
        super().__init__()
        self.sizes = tuple(sizes)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class CNN(nn.Module):
    """conv 1→16 → conv 16→32 (3×3, ReLU) → max-pool 2 → FC 512→64 → FC 64→10, on 1×8×8 digits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        shape = (b, t, self.heads, d // self.heads)
        q, k, v = (z.reshape(shape).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyLM(nn.Module):
    """Character-level causal transformer: embeddings, ``layers`` pre-LN blocks, final LN, linear head."""

    def __init__(self, vocab: int = 98, context: int = 64, d: int = 64, heads: int = 4, ffn: int = 256,
                 layers: int = 2) -> None:
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads, ffn) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


ARCHITECTURES: dict[str, Any] = {"mlp": MLP, "cnn": CNN, "tinylm": TinyLM}


def build(name: str, options: dict[str, Any] | None = None) -> nn.Module:
    """An untrained model of architecture ``name`` ("mlp", "cnn", "tinylm") with keyword ``options``."""
    if name not in ARCHITECTURES:
        raise ConfigError(f"unknown example architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    opts = dict(options or {})
    if name == "mlp" and "sizes" in opts:
        opts["sizes"] = tuple(opts["sizes"])
    try:
        return ARCHITECTURES[name](**opts)
    except TypeError as exc:
        raise ConfigError(f"architecture {name!r}: bad options {opts!r}: {exc}") from None
