"""The ALBO objective against values computed by hand on a tiny batch."""

from __future__ import annotations

import math

import pytest
import torch

from codecframe.errors import ConfigError
from codecframe_gmvq.losses import aggregated_entropy, albo_loss, per_sample_entropy
from codecframe_gmvq.model import GaussianMixtureVQ, ModelConfig


def test_entropies_of_a_two_position_batch() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]))
    # q̄ = (0.375, 0.25, 0.375); H(q̄) = 0.75 ln(8/3) + 0.25 ln 4; each row: 0.5 ln 2 + 0.5 ln 4.
    assert float(aggregated_entropy(torch.softmax(logits, -1))) == pytest.approx(0.75 * math.log(8 / 3) + 0.25 * math.log(4), abs=1e-6)
    assert float(per_sample_entropy(logits)) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(4), abs=1e-6)


def _hand_terms(zs: list[float], mus: list[float], sigma2: float) -> tuple[float, float, float]:
    """latent term, H(q̄) and mean H(q(c|x)) for 1-D latents, by plain arithmetic."""
    qs = []
    for z in zs:
        w = [math.exp(-((z - m) ** 2) / (2 * sigma2)) for m in mus]
        qs.append([v / sum(w) for v in w])
    latent = sum(sum(q[c] * (z - mus[c]) ** 2 for c in range(len(mus))) for q, z in zip(qs, zs)) / len(zs)
    agg = [sum(q[c] for q in qs) / len(qs) for c in range(len(mus))]
    h_agg = -sum(p * math.log(p) for p in agg)
    h_per = -sum(sum(p * math.log(p) for p in q) for q in qs) / len(qs)
    return latent, h_agg, h_per


@pytest.mark.nojit
@pytest.mark.parametrize("entropy", ["aggregated", "per-sample", "none"])
def test_albo_loss_matches_hand_computation(entropy: str) -> None:
    layer = GaussianMixtureVQ(ModelConfig(codebook_size=3, latent_dim=1, sigma2=0.5))
    with torch.no_grad():
        layer.codebook.copy_(torch.tensor([[0.0], [1.0], [2.0]]))
    z = torch.tensor([[0.0], [2.0], [0.5]])
    out, parts = layer(z, tau=1.0, hard=False, noise_sigma2=None)
    latent, h_agg, h_per = _hand_terms([0.0, 2.0, 0.5], [0.0, 1.0, 2.0], 0.5)
    parts = {k: v.detach() for k, v in parts.items()}
    assert float(parts["latent"]) == pytest.approx(latent, rel=1e-5)
    assert float(parts["h_aggregated"]) == pytest.approx(h_agg, rel=1e-5)
    assert float(parts["h_per_sample"]) == pytest.approx(h_per, rel=1e-5)
    mse, beta, gamma, scale = torch.tensor(0.1), 2.0, 0.5, 0.25
    h = {"aggregated": h_agg, "per-sample": h_per, "none": 0.0}[entropy]
    expected = 0.1 + scale * (gamma * latent - beta * h)
    assert float(albo_loss(mse, parts, beta, gamma, entropy, scale)) == pytest.approx(expected, rel=1e-5)
    assert out.probs is not None and torch.allclose(out.probs.sum(-1), torch.ones(3))


def test_aggregated_entropy_rewards_usage_not_per_sample_spread() -> None:
    """Peaked posteriors on distinct codes maximise H(q̄) while each H(q(c|x)) is ~0."""
    logits = 50.0 * torch.eye(4)
    assert float(aggregated_entropy(torch.softmax(logits, -1))) == pytest.approx(math.log(4), abs=1e-6)
    assert float(per_sample_entropy(logits)) == pytest.approx(0.0, abs=1e-6)


def test_unknown_entropy_mode() -> None:
    with pytest.raises(ConfigError, match="entropy must be one of"):
        albo_loss(torch.tensor(0.0), {"latent": torch.tensor(0.0)}, 1.0, 1.0, "bogus")
