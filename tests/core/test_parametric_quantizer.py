"""The ``uniform-parametric`` quantizer (specs/bitstream.md §7.4): uniform symbols, coded with a parametric model."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import codecframe
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.builtins.parametric import ParametricUniformQuantizer
from codecframe.errors import ConfigError, FormatError


@pytest.mark.nojit
@settings(deadline=None, max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from([(0,), (1,), (7,), (3, 5), (2, 0, 3), (4, 3, 2)]),
    family=st.sampled_from(["gaussian", "laplace", "logistic"]),
    axis=st.sampled_from([None, 0, -1]),
    support=st.integers(1, 40),
    coder=st.sampled_from(["range", "rans"]),
    precision=st.sampled_from([12, 16, 24]),
    spread=st.sampled_from([0.1, 3.0, 1e4]),
)
def test_round_trip_equals_the_uniform_quantizer_with_escapes_outside_the_support(
        seed, shape, family, axis, support, coder, precision, spread):
    rng = np.random.default_rng(seed)
    mean = rng.standard_t(1.5, shape) * spread
    post = GaussianPosterior(mean=mean, std=np.ones(shape))
    config = {"id": "uniform-parametric", "step": 0.5, "family": family, "channel_axis": axis, "support": support}
    pipe = codecframe.Pipeline.from_config({"quantizer": config, "entropy_coder": {"id": coder, "precision": precision}})
    decoded = codecframe.decode(pipe.encode({"g": post}))
    assert decoded.arrays["g"].tobytes() == (np.rint(mean / 0.5).astype(np.int64) * 0.5).tobytes()  # the uniform quantizer's values
    side = decoded.header["groups"][0]["side"]
    assert side["hi"] - side["lo"] + 1 <= support
    assert side["mean"].shape == side["scale"].shape == ((1,) if axis is None else (shape[axis],))


def test_a_model_per_channel_pays_off_on_channels_of_different_scales():
    rng = np.random.default_rng(1)
    mean = rng.laplace(0.0, 1.0, (4, 2000)) * np.array([0.5, 2.0, 8.0, 32.0])[:, None]
    post = {"w": GaussianPosterior(mean=mean, std=np.ones_like(mean))}

    def size(quantizer):
        return len(codecframe.Pipeline.from_config({"quantizer": quantizer}).encode(post))

    per_channel = size({"id": "uniform-parametric", "step": 0.25, "channel_axis": 0})
    one_pair = size({"id": "uniform-parametric", "step": 0.25})
    table = size({"id": "uniform", "step": 0.25})
    assert per_channel < one_pair and per_channel < table  # four scales: per-channel models beat one model


def test_bad_configs_and_side_info_are_refused():
    for bad in ({"family": "cauchy"}, {"support": 0}, {"support": 65537}, {"channel_axis": True}, {"step": -1.0}):
        with pytest.raises(ConfigError):
            ParametricUniformQuantizer(**bad)
    q = ParametricUniformQuantizer(channel_axis=1)
    good = q.quantize(GaussianPosterior(mean=np.ones((2, 3)), std=np.ones((2, 3))), {"step": 1.0})
    model, indexes = q.symbol_model(good, 16)
    assert model.num_params == 3 and indexes.tolist() == [0, 1, 2, 0, 1, 2]
    import dataclasses
    for side in ({**good.side, "hi": good.side["lo"] - 1}, {**good.side, "lo": True}, {**good.side, "mean": np.zeros(2)},
                 {**good.side, "scale": np.full(3, np.inf)}, {k: v for k, v in good.side.items() if k != "lo"}):
        with pytest.raises(FormatError):
            q.symbol_model(dataclasses.replace(good, side=side), 16)
    with pytest.raises(FormatError, match="channel_axis 1 does not exist"):
        q.symbol_model(dataclasses.replace(good, shape=(6,)), 16)
