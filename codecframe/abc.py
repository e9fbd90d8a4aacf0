"""The four replaceable parts of a compressor, plus posterior estimators.

- :class:`Posterior`: a belief over a group of continuous values (arrays plus a config).
- :class:`Allocator`: picks one rate setting per group under a budget.
- :class:`Quantizer`: posterior + setting -> integer symbols, side info and a symbol model; and back.
- :class:`EntropyCoder`: integer symbols + symbol model <-> bytes, losslessly.
- :class:`PosteriorEstimator`: produces posteriors from a model and data (a VAE encoder, a Laplace fit).

Optional posterior capabilities are mixins (:class:`HasMean`, :class:`HasStd`, :class:`HasProbs`,
:class:`CanSample`); a quantizer lists the ones it needs in ``requires`` and the pipeline checks them
when it is built. The value types they exchange live in :mod:`codecframe.types`.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .config import Component
from .errors import ConfigError, InputError
from .types import AllocationGroup, Quantized, RateOption, SymbolModel

__all__ = [
    "Posterior",
    "HasMean",
    "HasStd",
    "HasProbs",
    "CanSample",
    "Quantizer",
    "Allocator",
    "EntropyCoder",
    "PosteriorEstimator",
    "KINDS",
]


# --------------------------------------------------------------------------- posteriors
class Posterior(Component, abc.ABC):
    """A belief over one group of values: named arrays (``fields``) plus a JSON config.

    Construct with the arrays as keyword arguments, e.g. ``GaussianPosterior(mean=m, std=s)``;
    options of the config go alongside. ``from_config(config, **arrays)`` is the inverse of
    ``get_config()`` plus ``arrays()``.
    """

    kind: ClassVar[str] = "posterior"
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None, /, **kwargs: Any) -> None:
        missing = [f for f in self.fields if f not in kwargs]
        if missing:
            raise InputError(f"{self.describe()}: missing array(s) {', '.join(missing)}")
        arrays = {f: kwargs.pop(f) for f in self.fields}
        super().__init__(config, **kwargs)
        self._arrays = self.validate(arrays)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **arrays: Any) -> Posterior:  # type: ignore[override]
        return cls(cls.parse_config(config), **arrays)

    @abc.abstractmethod
    def validate(self, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
        """Check and normalise the arrays (dtype, shapes, finiteness); raise InputError naming the problem."""

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays this posterior was built from (after validation)."""
        return dict(self._arrays)

    @classmethod
    @abc.abstractmethod
    def example(cls, rng: np.random.Generator, shape: tuple[int, ...]) -> Posterior:
        """A valid random instance of ``shape`` for contract tests (:mod:`codecframe.testing`)."""

    @abc.abstractmethod
    def point(self) -> np.ndarray:
        """Point estimate: the mean for continuous families, the most likely index for categorical ones."""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.point().shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class HasMean(abc.ABC):
    """Capability: a real-valued posterior mean of the group's shape."""

    @property
    @abc.abstractmethod
    def mean(self) -> np.ndarray: ...


class HasStd(HasMean):
    """Capability: a diagonal Gaussian belief, ``mean`` and ``std`` of the group's shape."""

    @property
    @abc.abstractmethod
    def std(self) -> np.ndarray: ...

    def neg_log_density(self, points: np.ndarray) -> np.ndarray:
        """-log q(points) up to the additive constant: (x - mean)^2 / (2 std^2)."""
        return 0.5 * ((np.asarray(points, np.float64) - self.mean) / self.std) ** 2


class HasProbs(abc.ABC):
    """Capability: a categorical belief over ``num_categories`` entries along the last axis of ``probs``."""

    @property
    @abc.abstractmethod
    def probs(self) -> np.ndarray: ...


class CanSample(abc.ABC):
    """Capability: draw Monte Carlo samples."""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` samples, shape ``(n, *shape)``."""


# --------------------------------------------------------------------------- quantizers
class Quantizer(Component, abc.ABC):
    """Posterior + rate setting -> integer symbols (and back), declaring the model for its symbols.

    Everything that affects decoded values is in the config (learned tables by asset hash), the
    setting, or the side info of :class:`Quantized`; ``symbol_model`` and ``dequantize`` need
    nothing else, so a decoder can rebuild them from the container header alone.
    """

    kind: ClassVar[str] = "quantizer"
    #: Posterior capabilities this quantizer needs (checked when a pipeline is built).
    requires: ClassVar[tuple[type, ...]] = (HasMean,)
    #: Kinds of :class:`SymbolModel` that ``symbol_model`` returns ("table", "parametric").
    model_kinds: ClassVar[frozenset[str]] = frozenset({"table"})

    def fit(self, posteriors: Sequence[Posterior]) -> None:
        """Learn state from training posteriors. Quantizers without learned state need no fit."""

    @abc.abstractmethod
    def settings(self) -> list[dict[str, Any]]:
        """Candidate rate settings an allocator may choose among (JSON dicts)."""

    @abc.abstractmethod
    def default_setting(self) -> dict[str, Any]:
        """The setting used when the allocator names none."""

    @abc.abstractmethod
    def quantize(self, posterior: Posterior, setting: Mapping[str, Any]) -> Quantized:
        """Quantize one group."""

    @abc.abstractmethod
    def symbol_model(self, q: Quantized, precision: int) -> tuple[SymbolModel, np.ndarray | None]:
        """The integer model for ``q.symbols`` and the per-symbol model index (or None).

        Must depend only on ``q.setting``, ``q.side``, ``q.shape`` and ``q.dtype`` (not on symbols).
        """

    def symbol_count(self, q: Quantized) -> int:
        """How many symbols a group with ``q.shape`` (and setting/side) has; default one per element.

        Computed from header data only; the pipeline rejects a file whose ``count`` differs before
        decoding anything.
        """
        return math.prod(q.shape)

    @abc.abstractmethod
    def dequantize(self, q: Quantized) -> np.ndarray:
        """Reconstruction of shape ``q.shape`` and dtype ``q.dtype`` from ``q.symbols``."""

    def distortion(self, posterior: Posterior, reconstruction: np.ndarray) -> float:
        """Additive distortion of one group; default: squared error to the point estimate."""
        diff = np.asarray(reconstruction, np.float64) - np.asarray(posterior.point(), np.float64)
        return float(np.sum(diff * diff))

    def estimate(self, posterior: Posterior, setting: Mapping[str, Any], precision: int) -> RateOption:
        """Rate (ideal bits, side info included) and distortion of one group at ``setting``."""
        q = self.quantize(posterior, setting)
        model, indexes = self.symbol_model(q, precision)
        bits = model.information(q.symbols, indexes) + 8.0 * q.side_nbytes()
        return RateOption(dict(setting), bits, self.distortion(posterior, self.dequantize(q)))


# --------------------------------------------------------------------------- allocators
class Allocator(Component, abc.ABC):
    """Chooses one rate setting per group, e.g. to meet a global budget."""

    kind: ClassVar[str] = "allocator"
    #: Whether ``allocate`` reads ``options`` (rate/distortion estimates); if False the pipeline
    #: skips estimating and passes groups with empty ``options``.
    needs_estimates: ClassVar[bool] = True

    @abc.abstractmethod
    def allocate(self, groups: Sequence[AllocationGroup]) -> list[dict[str, Any]]:
        """One setting per group, in order."""


# --------------------------------------------------------------------------- entropy coders
class EntropyCoder(Component, abc.ABC):
    """Lossless coding of integer symbols under an integer :class:`SymbolModel`.

    The ``Config`` of every entropy coder MUST have an int field ``precision`` (12..24): the
    pipeline builds every symbol model at that precision, on the encoder side and, from the
    file's header, on the decoder side. Subclass :class:`codecframe.coders.CoderConfig` (field
    ``precision``, default 16, validated) to get it.
    """

    kind: ClassVar[str] = "entropy_coder"
    #: Kinds of :class:`SymbolModel` this coder accepts.
    model_kinds: ClassVar[frozenset[str]] = frozenset({"table"})

    @property
    def precision(self) -> int:
        """Bits of probability precision the models for this coder are built with (``config.precision``)."""
        value = getattr(self.config, "precision", None)
        if type(value) is not int or not 12 <= value <= 24:
            raise ConfigError(
                f"{self.describe()}: the config needs an int field 'precision' in 12..24, got {value!r} "
                "(subclass codecframe.coders.CoderConfig for the Config)"
            )
        return value

    @abc.abstractmethod
    def encode(self, symbols: np.ndarray, model: SymbolModel, indexes: np.ndarray | None = None) -> bytes:
        """Encode ``symbols`` (int32, 1-D). ``indexes`` picks a model row per symbol for multi-model tables."""

    @abc.abstractmethod
    def decode(
        self, data: bytes, model: SymbolModel, count: int, indexes: np.ndarray | None = None
    ) -> np.ndarray:
        """Decode ``count`` symbols (int32). Malformed data raises DecodeError, never crashes or hangs."""


# --------------------------------------------------------------------------- estimators
class PosteriorEstimator(Component, abc.ABC):
    """Produces posteriors from a model and data (VAE encoder, Laplace fit, GM-VQ encoder)."""

    kind: ClassVar[str] = "estimator"

    @abc.abstractmethod
    def estimate(self, target: Any, data: Any) -> dict[str, Posterior]:
        """Posteriors by group name."""


#: Component kind -> entry-point group.
KINDS: dict[str, str] = {
    "posterior": "codecframe.posteriors",
    "quantizer": "codecframe.quantizers",
    "allocator": "codecframe.allocators",
    "entropy_coder": "codecframe.entropy_coders",
    "estimator": "codecframe.estimators",
}
