"""Model-compression mode: VBQ on the mean-field Gaussian posterior of a small Bayesian network.

A two-layer Bayesian MLP (64-H-10, ReLU) is trained on scikit-learn's digits by variational
inference (Bayes by Backprop with the local reparameterization trick, prior N(0, 1), the full
KL term). All its parameters form one group whose posterior means are compressed either by VBQ
(adaptive mode: prior from the group's own quantiles) or by the core uniform quantizer (one global
step Δ, counts model in the side info); the decoded means are put back into the network and
scored on the held-out split (accuracy, mean log-likelihood).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from codecframe import Pipeline, container, decode
from codecframe.builtins.gaussian import GaussianPosterior

__all__ = ["BayesianMLP", "digits_split", "train_bnn", "evaluate_compression", "CompressionPoint", "savings",
           "LAMBDAS", "STEPS"]

#: λ sweep of VBQ and Δ sweep of the uniform quantizer used by the benchmark.
LAMBDAS = tuple(2.0 ** (k / 4) for k in range(-24, 9))
STEPS = tuple(2.0 ** (k / 4) for k in range(-32, 9))


def digits_split(seed: int = 0, test_fraction: float = 1 / 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits pixels scaled to [0, 1] and labels, split into train and test by a seeded permutation."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(round(len(y) * (1 - test_fraction)))
    x = (x / 16.0).astype(np.float32)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


class BayesianMLP:
    """Mean-field Gaussian posterior over the weights of a 64-H-10 MLP (torch parameters)."""

    def __init__(self, hidden: int = 100, seed: int = 0) -> None:
        import torch

        gen = torch.Generator().manual_seed(seed)
        self.shapes = [(64, hidden), (hidden,), (hidden, 10), (10,)]
        self.mean = [torch.nn.Parameter(torch.randn(s, generator=gen) * (0.1 if len(s) == 2 else 0.0)) for s in self.shapes]
        self.rho = [torch.nn.Parameter(torch.full(s, -5.0)) for s in self.shapes]

    @property
    def size(self) -> int:
        return int(sum(np.prod(s) for s in self.shapes))

    def params(self) -> list:
        return self.mean + self.rho

    def std(self):
        import torch

        return [torch.nn.functional.softplus(r) for r in self.rho]

    def sample_logits(self, x):
        """Logits with weight noise via local reparameterization (one sample per example)."""
        import torch

        h = x
        stds = self.std()
        for layer in range(2):
            w, b, sw, sb = self.mean[2 * layer], self.mean[2 * layer + 1], stds[2 * layer], stds[2 * layer + 1]
            mu = h @ w + b
            var = (h * h) @ (sw * sw) + sb * sb
            h = mu + torch.sqrt(var) * torch.randn_like(mu)
            if layer == 0:
                h = torch.relu(h)
        return h

    def kl(self):
        """KL(q || N(0, I)) summed over all parameters."""
        import torch

        total = 0.0
        for m, s in zip(self.mean, self.std()):
            total = total + 0.5 * (m * m + s * s - 1.0 - 2.0 * torch.log(s)).sum()
        return total

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and stds of all parameters, float32 (P,)."""
        means = np.concatenate([m.detach().numpy().ravel() for m in self.mean]).astype(np.float32)
        stds = np.concatenate([s.detach().numpy().ravel() for s in self.std()]).astype(np.float32)
        return means, stds

    def scores(self, flat_means: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Accuracy and mean log-likelihood of the network with weights ``flat_means`` (deterministic)."""
        params, pos = [], 0
        for s in self.shapes:
            n = int(np.prod(s))
            params.append(flat_means[pos:pos + n].astype(np.float64).reshape(s))
            pos += n
        h = np.maximum(x @ params[0] + params[1], 0.0)
        logits = h @ params[2] + params[3]
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(np.mean(logp.argmax(axis=1) == y)), float(np.mean(logp[np.arange(len(y)), y]))


def train_bnn(hidden: int = 100, seed: int = 0, steps: int = 3000, lr: float = 0.01) -> tuple[BayesianMLP, tuple]:
    """Train by maximising the ELBO (full batch, Adam); returns the model and the data split."""
    import torch

    torch.manual_seed(seed)
    xtr, ytr, xte, yte = digits_split(seed)
    model = BayesianMLP(hidden, seed)
    opt = torch.optim.Adam(model.params(), lr=lr)
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(steps):
        nll = torch.nn.functional.cross_entropy(model.sample_logits(x), y, reduction="sum")
        loss = nll + model.kl()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, (xtr, ytr, xte, yte)


@dataclasses.dataclass(frozen=True)
class CompressionPoint:
    """One compressed network: bits per parameter (whole file, without the container header, ideal)."""

    method: str
    setting: float
    file_bits_per_param: float
    payload_bits_per_param: float
    ideal_bits_per_param: float
    accuracy: float
    log_likelihood: float


def evaluate_compression(model: BayesianMLP, split: tuple, lambdas: Sequence[float], steps: Sequence[float],
                         precision: int = 24) -> list[CompressionPoint]:
    """VBQ at each λ and the uniform quantizer at each Δ; every point a real, decoded container.

    ``payload`` counts the entropy-coded stream plus the quantizer's side info (knots and level
    counts for VBQ, symbol counts for uniform); ``ideal`` replaces the stream by its ideal length.
    """
    means, stds = model.flat()
    post = GaussianPosterior(mean=means, std=stds)
    _, _, xte, yte = split
    out = []
    for method, settings, quantizer, key in (("vbq", lambdas, {"id": "vbq"}, "lambda"),
                                             ("uniform", steps, {"id": "uniform"}, "step")):
        for value in settings:
            pipe = Pipeline.from_config({"quantizer": quantizer, "allocator": {"id": "fixed", "setting": {key: value}},
                                         "entropy_coder": {"id": "range", "precision": precision}})
            data = pipe.encode({"params": post})
            rec = decode(data).arrays["params"]
            q = pipe.quantizer.quantize(post, {key: value})
            model_, idx = pipe.quantizer.symbol_model(q, precision)
            side = q.side_nbytes()
            stream = container.read(data).stream_sizes[0]
            acc, ll = model.scores(rec, xte, yte)
            out.append(CompressionPoint(method, float(value), 8 * len(data) / means.size,
                                        8 * (stream + side) / means.size,
                                        (model_.information(q.symbols, idx) + 8 * side) / means.size, acc, ll))
    return out


def _bits_to_reach(points: Sequence[dict], method: str, level: float, rate: str) -> float | None:
    ok = [p[rate] for p in points if p["method"] == method and p["accuracy"] >= level]
    return min(ok) if ok else None


def savings(points: Sequence[dict], reference: float, rate: str, count: int = 21) -> list[dict]:
    """For accuracy levels a from 0.95·``reference`` to ``reference``: the fewest bits per parameter
    (column ``rate`` of the points, as dicts) with which each method reaches accuracy ≥ a, and
    VBQ's saving 1 - vbq/uniform."""
    rows = []
    for level in np.linspace(0.95 * reference, reference, count):
        v, u = _bits_to_reach(points, "vbq", level, rate), _bits_to_reach(points, "uniform", level, rate)
        rows.append({"accuracy": float(level), "vbq": v, "uniform": u,
                     "saving": None if v is None or u is None else 1.0 - v / u})
    return rows
