"""The contract checks catch deliberately broken components (each test breaks exactly one contract)."""

import dataclasses

import numpy as np
import pytest

from codecframe.abc import EntropyCoder
from codecframe.builtins.allocators import FixedAllocator, LagrangianAllocator
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.builtins.uniform import UniformQuantizer
from codecframe.coders.range import RangeCoder
from codecframe.probability import ProbabilityModel
from codecframe.testing import (ContractViolation, check_allocator, check_config, check_entropy_coder,
                                check_posterior, check_quantizer)
from codecframe.types import Quantized

RANGE = [RangeCoder()]
GAUSS = [GaussianPosterior]


def violates(match, check, *args, **kwargs):
    with pytest.raises(ContractViolation, match=match):
        check(*args, **kwargs)


class _Correct(UniformQuantizer):
    """A correct quantizer (the built-in uniform one under another id), the base of the broken ones."""

    id = "kit-test-ok"


def test_a_correct_quantizer_passes():
    check_quantizer(_Correct, GAUSS, RANGE)


@pytest.mark.nojit
def test_quantizer_model_built_from_symbols_is_caught():
    class PeeksAtSymbols(_Correct):
        id = "kit-test-peeks"

        def symbol_model(self, q, precision):
            if q.symbols.size:
                lo = int(q.symbols.min())
                counts = np.bincount(q.symbols - lo) + 1  # smoothed on the encoder side only
                return ProbabilityModel.from_counts(counts, precision=precision, offsets=lo), None
            return super().symbol_model(q, precision)

    violates("depend only on the header", check_quantizer, PeeksAtSymbols, GAUSS, RANGE)


def test_quantizer_state_outside_the_config_is_caught():
    class HiddenScale(_Correct):
        id = "kit-test-hidden"

        def fit(self, posteriors):
            self.scale = 2.0

        def dequantize(self, q):
            return (super().dequantize(q) * getattr(self, "scale", 1.0)).astype(q.dtype)

    violates("bit for bit", check_quantizer, HiddenScale, GAUSS, RANGE)


def test_nondeterministic_quantize_is_caught():
    class Dither(_Correct):
        id = "kit-test-dither"

        def quantize(self, posterior, setting):
            noisy = GaussianPosterior(mean=posterior.mean + np.random.default_rng().uniform(-1, 1, posterior.shape),
                                      std=posterior.std)
            return super().quantize(noisy, setting)

    violates("deterministic", check_quantizer, Dither, GAUSS, RANGE)


def test_side_info_outside_canonical_msgpack_is_caught():
    class SetInSide(_Correct):
        id = "kit-test-set"

        def quantize(self, posterior, setting):
            q = super().quantize(posterior, setting)
            return dataclasses.replace(q, side={**q.side, "tags": {1, 2}})

    violates("canonical msgpack", check_quantizer, SetInSide, GAUSS, RANGE)


def test_crash_on_hostile_side_info_is_caught():
    class Crashes(_Correct):
        id = "kit-test-crash"

        def symbol_model(self, q, precision):
            counts = np.asarray(q.side["counts"], np.int64)  # KeyError / ValueError on junk
            return ProbabilityModel.from_counts(counts, precision=precision, offsets=int(q.side["lo"])), None

    violates("not a CodecframeError", check_quantizer, Crashes, GAUSS, RANGE)


def test_symbol_count_that_disagrees_with_quantize_is_caught():
    class Miscounts(_Correct):
        id = "kit-test-miscounts"

        def symbol_count(self, q):
            return int(np.prod(q.shape)) + 1

    violates("symbol_count", check_quantizer, Miscounts, GAUSS, RANGE)


def test_config_contracts_are_caught():
    class Mutable(FixedAllocator):
        id = "kit-test-mutable"

        @dataclasses.dataclass
        class Config:
            setting: dict | None = None

    violates("frozen dataclass", check_config, Mutable)

    class Lenient(FixedAllocator):
        id = "kit-test-lenient"

        @classmethod
        def parse_config(cls, config):
            return super().parse_config({k: v for k, v in config.items() if k in ("id", "version", "setting")})

    violates("unknown config key", check_config, Lenient)

    class Forgetful(UniformQuantizer):
        id = "kit-test-forgetful"

        def get_config(self):
            return {k: v for k, v in super().get_config().items() if k != "step"}

    violates("round-trip", check_config, Forgetful, [Forgetful(step=0.5)])


def test_posterior_contracts_are_caught():
    class IgnoresShape(GaussianPosterior):
        id = "kit-test-shape"

        @classmethod
        def example(cls, rng, shape):
            return cls(mean=rng.standard_normal(4), std=np.ones(4))

    violates("must have that shape", check_posterior, IgnoresShape)

    class AcceptsNaN(GaussianPosterior):
        id = "kit-test-nan"

        def validate(self, arrays):
            return {k: np.asarray(v, np.float64) for k, v in arrays.items()}

    violates("must raise a CodecframeError", check_posterior, AcceptsNaN)

    class UnseededSample(GaussianPosterior):
        id = "kit-test-sample"

        def sample(self, rng, n):
            return super().sample(np.random.default_rng(), n)

    violates("deterministic for a seeded generator", check_posterior, UnseededSample)


def test_allocator_contracts_are_caught():
    class Invents(LagrangianAllocator):
        id = "kit-test-invents"

        def allocate(self, groups):
            return [{"level": 99} for _ in groups]

    violates("one of the group's options", check_allocator, Invents)

    class DropsOne(FixedAllocator):
        id = "kit-test-drops"

        def allocate(self, groups):
            return super().allocate(groups)[1:]

    violates("one setting per group", check_allocator, DropsOne)


def test_entropy_coder_contracts_are_caught():
    class Lossy(RangeCoder):
        id = "kit-test-lossy"

        def decode(self, data, model, count, indexes=None):
            out = super().decode(data, model, count, indexes)
            if out.size > 100:
                out = out.copy()
                out[-1] = out[0]
            return out

    violates("decode\\(encode\\(symbols\\)\\)", check_entropy_coder, Lossy)

    class Raw(EntropyCoder):
        id = "kit-test-raw"
        Config = RangeCoder.Config

        def encode(self, symbols, model, indexes=None):
            model.information(np.asarray(symbols), indexes)
            return np.asarray(symbols, "<i4").tobytes()

        def decode(self, data, model, count, indexes=None):
            return np.frombuffer(data, "<i4", count).astype(np.int32)

    violates("within 1 % \\+ 64 bits", check_entropy_coder, Raw)

    class Fragile(RangeCoder):
        id = "kit-test-fragile"

        def decode(self, data, model, count, indexes=None):
            if data.endswith(b"\0" * 9):
                raise IndexError("unexpected padding")
            return super().decode(data, model, count, indexes)

    violates("not a CodecframeError", check_entropy_coder, Fragile)


def test_hostile_values_reach_the_quantizer_unchanged():
    """The hostile header view keeps ints and lists as a decoder would see them after msgpack."""
    from codecframe.testing.contracts import header_view

    q = Quantized(np.arange(3, dtype=np.int32), {"step": 0.5}, {"lo": np.int64(-2), "counts": (1, 2)}, (3,), "float64")
    view = header_view(q)
    assert view.side == {"lo": -2, "counts": [1, 2]} and type(view.side["lo"]) is int and view.symbols.size == 0


def test_format_error_for_a_setting_the_precision_cannot_code_is_caught():
    """The guide's old mid-rise example: InputError from from_counts turned into FormatError, which
    aborts a lagrangian encode instead of letting the allocator skip the candidate."""
    from codecframe.errors import FormatError, InputError

    class AbortsEncode(_Correct):
        id = "kit-test-aborts"

        def symbol_model(self, q, precision):
            try:
                return super().symbol_model(q, precision)
            except InputError as exc:
                raise FormatError(str(exc)) from None

    violates("must raise InputError or EncodeError \\(the allocators skip it\\).*precision 12|"
             "precision 12 must raise InputError or EncodeError", check_quantizer, AbortsEncode, GAUSS, RANGE)


def test_encode_error_inside_the_round_trip_names_the_check():
    class OffByOne(_Correct):
        id = "kit-test-off-by-one"

        def symbol_model(self, q, precision):
            model, idx = super().symbol_model(q, precision)
            return ProbabilityModel.from_freqs(model.freqs, precision, model.offsets + 1, model.sizes), idx

    with pytest.raises(ContractViolation, match="finite information.*raised EncodeError") as info:
        check_quantizer(OffByOne, GAUSS, RANGE)
    assert "kit-test-off-by-one" in str(info.value)

    class RefusesNegatives(RangeCoder):
        id = "kit-test-no-negatives"

        def encode(self, symbols, model, indexes=None):
            if np.any(np.asarray(symbols) < 0):
                from codecframe.errors import EncodeError
                raise EncodeError("negative symbol")
            return super().encode(symbols, model, indexes)

    violates("decode\\(encode\\(symbols\\)\\).*encode\\): raised EncodeError", check_entropy_coder, RefusesNegatives)
    violates("round-trip through entropy coder 'kit-test-no-negatives'.*raised EncodeError",
             check_quantizer, _Correct, GAUSS, [RefusesNegatives()])


def test_coder_that_ignores_indexes_is_caught():
    class FirstRowOnly(RangeCoder):
        id = "kit-test-first-row"

        def encode(self, symbols, model, indexes=None):
            return super().encode(symbols, model.row(0) if indexes is not None else model)

        def decode(self, data, model, count, indexes=None):
            return super().decode(data, model.row(0) if indexes is not None else model, count)

    violates("indexes must select each symbol's model row|decode\\(encode", check_entropy_coder, FirstRowOnly)


def test_entropy_coder_without_precision_is_caught():
    from codecframe.errors import ConfigError

    class NoPrecision(RangeCoder):
        id = "kit-test-no-precision"

        @dataclasses.dataclass(frozen=True)
        class Config:
            pass

        @classmethod
        def examples(cls):
            return [{}]

    with pytest.raises(ConfigError, match="needs an int field 'precision' in 12..24"):
        NoPrecision().precision  # noqa: B018 - the property is what is tested
    violates("must have an int field 'precision'", check_entropy_coder, NoPrecision)
