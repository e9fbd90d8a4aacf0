"""Whitening round trips, structured posteriors, and the three Laplace estimators."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from codecframe.errors import CodecframeError, InputError
from codecframe.testing import check_config, check_posterior
from codecframe_bayesq.estimators import DiagLaplaceEstimator, KFACEstimator, LowRankEstimator
from codecframe_bayesq.posteriors import KFACPosterior, LowRankPosterior, rescale, whitening_of
from codecframe.builtins.gaussian import GaussianPosterior


def _posteriors(seed, shape=(4, 6)):
    rng = np.random.default_rng(seed)
    yield GaussianPosterior.example(rng, shape)
    yield KFACPosterior.example(rng, shape)
    yield LowRankPosterior.example(rng, shape)


def _dense_precision(post):
    """The full precision matrix, by whitening the unit vectors (Λ = W^T W for the linear part)."""
    w = whitening_of(post)
    n = post.mean.size
    cols = [(w.whiten(post.mean + e.reshape(post.mean.shape)) - w.whiten(post.mean)).ravel() for e in np.eye(n)]
    lt = np.stack(cols, axis=1)
    return lt.T @ lt


@pytest.mark.nojit
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_whitening_round_trips(seed):
    rng = np.random.default_rng(seed)
    for post in _posteriors(seed):
        w = whitening_of(post)
        x = rng.standard_normal(post.mean.shape)
        np.testing.assert_allclose(w.unwhiten(w.whiten(x)), x, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(w.whiten(w.unwhiten(x)), x, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_whitening_matches_covariance_and_marginals(index):
    post = list(_posteriors(3))[index]
    w = whitening_of(post)
    precision = _dense_precision(post)
    cov = np.linalg.inv(precision)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)).reshape(post.mean.shape), post.std, rtol=1e-8)
    np.testing.assert_allclose(w.marginal_std(), post.std, rtol=1e-8)
    a, b = np.random.default_rng(0).standard_normal((2, *post.mean.shape))
    d = (a - b).ravel()
    assert w.mahalanobis(a, b) == pytest.approx(d @ precision @ d, rel=1e-9)
    samples = post.sample(np.random.default_rng(1), 20000).reshape(20000, -1)
    np.testing.assert_allclose(np.cov(samples.T), cov, atol=0.06 * np.abs(cov).max())


def test_rescale_scales_the_whole_covariance():
    for post in _posteriors(5):
        twice = rescale(post, 2.0)
        np.testing.assert_allclose(twice.std, 2 * post.std)
        np.testing.assert_allclose(_dense_precision(twice), _dense_precision(post) / 4, rtol=1e-8)


def test_structured_posteriors_pass_the_contract():
    check_posterior(KFACPosterior)
    check_posterior(LowRankPosterior)
    with pytest.raises(InputError, match="positive definite"):
        KFACPosterior(mean=np.zeros((2, 2)), std=np.ones((2, 2)), a_factor=-np.eye(2), g_factor=np.eye(2))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 4 * 4, 5)
        self.emb_like = nn.LayerNorm(5)

    def forward(self, x):
        return self.emb_like(self.fc(torch.tanh(self.conv(x)).flatten(1)))


def _loop_fisher(model, x, labels, name):
    """Σ_n (∂ log p(y_n|x_n)/∂w)² by one backward pass per sample."""
    p = dict(model.named_parameters())[name]
    total = torch.zeros_like(p, dtype=torch.float64)
    for i in range(x.shape[0]):
        model.zero_grad()
        logits = model(x[i:i + 1])
        torch.nn.functional.cross_entropy(logits, labels[i:i + 1], reduction="sum").backward()
        total += p.grad.double() ** 2
    return total


def test_diag_laplace_equals_per_sample_gradient_loop():
    model = Tiny()
    x = torch.randn(12, 1, 4, 4)
    y = torch.randint(0, 5, (12,))
    est = DiagLaplaceEstimator(fisher="empirical", prior_precision=0.5, damping=0.0, n_data=100, temperature=2.0,
                               batch_size=5)
    post = est.estimate(model, (x, y))
    for name in ("conv.weight", "fc.weight"):
        f = _loop_fisher(model, x, y, name).numpy().reshape(post[name].mean.shape) / 12
        np.testing.assert_allclose(post[name].std, np.sqrt(2.0 / (100 * f + 0.5)), rtol=1e-5)
    assert set(post) == {"conv.weight", "fc.weight"}


def test_kfac_and_lowrank_estimators_give_consistent_posteriors():
    model = Tiny()
    x = torch.randn(16, 1, 4, 4)
    kfac = KFACEstimator(n_data=50).estimate(model, x)
    low = LowRankEstimator(n_data=50, rank=4).estimate(model, x)
    diag = DiagLaplaceEstimator(n_data=50).estimate(model, x)
    for name in diag:
        assert isinstance(kfac[name], KFACPosterior) and isinstance(low[name], LowRankPosterior)
        # low rank + residual diagonal keeps the Fisher diagonal of the precision; correlations can
        # only widen the marginals (Σ_ii >= 1/Λ_ii)
        np.testing.assert_allclose(np.diag(_dense_precision(low[name])).reshape(low[name].mean.shape),
                                   diag[name].std ** -2.0, rtol=1e-6)
        assert np.all(low[name].std >= diag[name].std * (1 - 1e-9))
        np.testing.assert_allclose(kfac[name].std, whitening_of(kfac[name]).marginal_std(), rtol=1e-8)


@pytest.mark.parametrize("est", [DiagLaplaceEstimator, KFACEstimator, LowRankEstimator])
def test_estimators_reject_bad_input(est):
    check_config(est)
    model = Tiny()
    with pytest.raises(InputError, match="empty"):
        est().estimate(model, torch.zeros(0, 1, 4, 4))
    with pytest.raises(InputError, match="do not fit"):
        est().estimate(model, torch.zeros(3, 2, 5))
    with pytest.raises(InputError, match="targets"):
        est(fisher="empirical").estimate(model, torch.zeros(3, 1, 4, 4))
    with pytest.raises(InputError, match="3 inputs but 2 targets"):
        est().estimate(model, (torch.zeros(3, 1, 4, 4), torch.zeros(2)))
    bad = Tiny()
    with torch.no_grad():
        bad.fc.weight[0, 0] = float("nan")
    with pytest.raises(InputError, match="fc.weight"):
        est().estimate(bad, torch.zeros(3, 1, 4, 4))
    with pytest.raises(CodecframeError):
        est().estimate("not a model", torch.zeros(3, 1, 4, 4))
