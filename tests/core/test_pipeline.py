import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import codecframe
from codecframe import container
from codecframe.abc import HasProbs, Posterior
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import (CodecframeError, ConfigError, FormatError, IncompatibleError, InputError,
                               UnknownComponentError, VersionError)
from codecframe.pipeline import Pipeline, decode
from codecframe.registry import registry

RNG = np.random.default_rng(1)


def gauss(shape=(40, 30), scale=1.0, dtype=np.float64):
    return GaussianPosterior(mean=(scale * RNG.standard_normal(shape)).astype(dtype),
                             std=np.full(shape, 0.1, dtype))


@pytest.mark.nojit
@pytest.mark.parametrize("coder", ["range", "rans"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_fixed_reproduces_rounding_exactly(coder, dtype):
    post = gauss(dtype=dtype)
    pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.25},
                                 "entropy_coder": {"id": coder}})
    data = pipe.encode({"a": post, "b": gauss((7,), dtype=dtype)}, meta={"note": "x"}, extras={"bias": np.arange(3.0)})
    out = decode(data)
    expected = (np.rint(post.mean.astype(np.float64) / 0.25) * 0.25).astype(dtype)
    assert out.arrays["a"].dtype == dtype and np.array_equal(out.arrays["a"], expected)
    assert out.meta == {"note": "x"} and np.array_equal(out.extras["bias"], np.arange(3.0))
    assert pipe.decode(data).arrays.keys() == {"a", "b"}


@pytest.mark.parametrize("bpe", [0.5, 2.0, 5.0])
def test_lagrangian_meets_target(bpe):
    groups = {f"g{i}": gauss((64, 16), scale=2.0 ** i) for i in range(3)}
    pipe = Pipeline.from_config({"quantizer": {"id": "uniform"},
                                 "allocator": {"id": "lagrangian", "target_bpe": bpe}})
    data = pipe.encode(groups)
    header = container.read(data).header
    n = sum(g.size for g in groups.values())
    est = {rec["name"]: pipe.quantizer.estimate(groups[rec["name"]], rec["setting"], 16).bits
           for rec in header["groups"]}
    assert sum(est.values()) <= bpe * n
    payload_bits = 8 * sum(len(s) for s in container.read(data).streams)
    assert payload_bits <= bpe * n * 1.02 + 64 * len(groups)
    # At one slope λ the group with 4x the spread needs more bits than the narrow one.
    assert est["g2"] > est["g0"]


def test_unreachable_target_is_a_clear_error():
    pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "candidates": [1e-3]},
                                 "allocator": {"id": "lagrangian", "target_bpe": 0.01}})
    with pytest.raises(InputError, match="unreachable"):
        pipe.encode({"a": gauss()})


class OnlyProbs(Posterior, HasProbs):
    id = "only-probs"
    fields = ("probs",)

    @classmethod
    def example(cls, rng, shape):
        return cls(probs=np.full((*shape, 2), 0.5))

    def validate(self, arrays):
        return {"probs": np.asarray(arrays["probs"])}

    @property
    def probs(self):
        return self._arrays["probs"]

    def point(self):
        return np.argmax(self.probs, axis=-1)


def test_incompatible_combination_fails_at_build():
    with registry.registered(OnlyProbs):
        with pytest.raises(IncompatibleError, match="needs a posterior with HasMean"):
            Pipeline.from_config({"posterior": {"id": "only-probs"}, "quantizer": {"id": "uniform"}})


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown key.*quantiser"):
        Pipeline.from_config({"quantiser": {"id": "uniform"}})
    with pytest.raises(UnknownComponentError, match="did you mean 'uniform'"):
        Pipeline.from_config({"quantizer": {"id": "unifrom"}})
    with pytest.raises(ConfigError, match="step"):
        Pipeline.from_config({"quantizer": {"id": "uniform", "step": -1}})
    with pytest.raises(ConfigError, match="exactly one"):
        Pipeline.from_config({"quantizer": "uniform", "allocator": {"id": "lagrangian"}})
    with pytest.raises(ConfigError, match="JSON"):
        Pipeline.from_config("{not json")


def test_toml_and_json_configs(tmp_path):
    (tmp_path / "p.toml").write_text('[quantizer]\nid = "uniform"\nstep = 0.5\n[entropy_coder]\nid = "rans"\n')
    (tmp_path / "p.json").write_text(json.dumps({"quantizer": {"id": "uniform", "step": 0.5}, "entropy_coder": "rans"}))
    a = Pipeline.from_config(tmp_path / "p.toml").get_config()
    b = Pipeline.from_config(str(tmp_path / "p.json")).get_config()
    assert a == b and a["quantizer"]["step"] == 0.5 and a["entropy_coder"]["id"] == "rans"
    assert Pipeline.from_config(a).get_config() == a


def test_bad_posterior_input():
    with pytest.raises(InputError, match="NaN"):
        GaussianPosterior(mean=np.array([np.nan]), std=np.ones(1))
    with pytest.raises(InputError, match="positive"):
        GaussianPosterior(mean=np.zeros(2), std=np.zeros(2))
    with pytest.raises(InputError, match="shape"):
        GaussianPosterior(mean=np.zeros(2), std=np.ones(3))
    pipe = Pipeline.from_config({"quantizer": "uniform"})
    with pytest.raises(InputError, match="expected a posterior"):
        pipe.encode({"a": np.zeros(3)})
    with pytest.raises(InputError, match="too small"):
        Pipeline.from_config({"quantizer": {"id": "uniform", "step": 1e-300}}).encode({"a": gauss()})


def _rewrite_header(data: bytes, edit) -> bytes:
    box = container.read(data)
    header = dict(box.header)
    edit(header)
    header.pop("streams")
    return container.write(header, list(box.streams))


def test_header_naming_unknown_component_names_the_distribution():
    data = Pipeline.from_config({"quantizer": "uniform"}).encode({"a": gauss()})

    def edit(h):
        h["pipeline"]["quantizer"]["id"] = "vbq-from-mars"
        h["provenance"]["quantizer"] = {"distribution": "codecframe-mars", "version": "9.9"}

    with pytest.raises(UnknownComponentError, match="pip install codecframe-mars"):
        decode(_rewrite_header(data, edit))


def test_unknown_critical_field_and_newer_component_version():
    data = Pipeline.from_config({"quantizer": "uniform"}).encode({"a": gauss()})
    with pytest.raises(VersionError, match="critical"):
        decode(_rewrite_header(data, lambda h: h.update(future=1)))
    with pytest.raises(VersionError, match="newer"):
        decode(_rewrite_header(data, lambda h: h["pipeline"]["quantizer"].update(version=7)))
    # optional fields are ignored
    assert decode(_rewrite_header(data, lambda h: h.update(optional={"x": 1}))).arrays["a"].shape == (40, 30)


def test_header_declaring_more_symbols_than_data():
    data = Pipeline.from_config({"quantizer": "uniform"}).encode({"a": gauss()})

    def edit(h):
        h["groups"][0]["count"] = 2**28
        h["groups"][0]["shape"] = [2**28]

    with pytest.raises(CodecframeError):
        decode(_rewrite_header(data, edit))
    with pytest.raises(FormatError, match="declares 5 symbols, its shape implies 1200"):
        decode(_rewrite_header(data, lambda h: h["groups"][0].update(count=5)))
    with pytest.raises(CodecframeError, match="elements"):
        decode(_rewrite_header(data, lambda h: h["groups"][0].update(shape=[2**20, 2**20])))


DATA = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.3}}).encode(
    {"a": gauss((20, 20)), "b": gauss((5,))}, meta={"k": [1, 2]}, extras={"e": np.ones(4, np.float32)})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=3))
def test_decoder_survives_mutations(edits):
    buf = bytearray(DATA)
    for pos, val in edits:
        buf[pos % len(buf)] = val
    try:
        decode(bytes(buf))
    except CodecframeError:
        pass


def test_decoding_needs_neither_the_posterior_nor_the_allocator_installed():
    from codecframe.builtins.allocators import FixedAllocator

    class EncodeOnly(FixedAllocator):
        id = "encode-only"

    with registry.registered(EncodeOnly):
        data = Pipeline(quantizer={"id": "uniform", "step": 0.5}, allocator="encode-only").encode({"a": gauss()})

    def edit(h):
        h["pipeline"]["posterior"]["id"] = "not-installed-posterior"

    out = decode(_rewrite_header(data, edit))
    assert out.header["pipeline"]["allocator"]["id"] == "encode-only"
    assert out.arrays["a"].shape == (40, 30)


def test_settings_the_precision_cannot_code_are_skipped_by_the_allocator():
    wide = GaussianPosterior(mean=np.linspace(-3, 3, 5000), std=np.ones(5000))
    pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "candidates": [2.0**-10, 0.5]},
                                 "allocator": {"id": "lagrangian", "target_bpe": 8.0},
                                 "entropy_coder": {"id": "range", "precision": 12}})
    header = container.read(pipe.encode({"w": wide})).header
    assert header["groups"][0]["setting"] == {"step": 0.5}
    only_fine = Pipeline.from_config({"quantizer": {"id": "uniform", "candidates": [2.0**-10]},
                                      "allocator": {"id": "lagrangian", "target_bpe": 8.0},
                                      "entropy_coder": {"id": "range", "precision": 12}})
    with pytest.raises(InputError, match="cannot be coded at 12-bit precision"):
        only_fine.encode({"w": wide})


@pytest.mark.nojit
def test_a_file_over_the_callers_total_element_limit_is_refused_before_decoding(tmp_path, capsys):
    from codecframe.cli.main import main
    from codecframe.errors import LimitError

    pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.25}})
    data = pipe.encode({"a": gauss((30,)), "b": gauss((20,))})
    assert decode(data, max_elements=50).arrays.keys() == {"a", "b"}
    for call in (lambda: decode(data, max_elements=49), lambda: pipe.decode(data, max_elements=49)):
        with pytest.raises(LimitError, match="more than 49 values together"):
            call()
    path = tmp_path / "x.cfr"
    path.write_bytes(data)
    assert main(["decode", str(path), "-o", str(tmp_path / "x.npz"), "--max-elements", "49"]) == 2
    assert "more than 49 values" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()


def test_encode_refuses_groups_over_the_total_limit(monkeypatch):
    from codecframe import pipeline
    from codecframe.errors import LimitError

    monkeypatch.setattr(pipeline, "MAX_ELEMENTS", 40)
    pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.25}})
    with pytest.raises(LimitError, match="together"):
        pipe.encode({"a": gauss((30,)), "b": gauss((20,))})


@settings(deadline=None, max_examples=60)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_distinct_view_holds_each_broadcast_value_once(shape, data):
    """Checks read a broadcast array's own values: same values, broadcast axes cut to length 1."""
    from codecframe.builtins.gaussian import distinct_view

    base_shape = [data.draw(st.sampled_from([1, n])) for n in shape]
    base = np.arange(np.prod(base_shape), dtype=np.float64).reshape(base_shape)
    arr = np.broadcast_to(base, shape)
    view = distinct_view(arr)
    assert view.size == base.size and np.array_equal(np.broadcast_to(view, arr.shape), arr)


@pytest.mark.nojit
@pytest.mark.parametrize("bad", [np.nan, np.inf, 0.0, -1.0])
def test_a_bad_broadcast_std_is_still_refused(bad):
    std = np.broadcast_to(np.float64(bad), (300, 200))
    with pytest.raises(InputError, match="std"):
        GaussianPosterior(mean=np.zeros((300, 200)), std=std)
