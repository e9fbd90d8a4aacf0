"""Contract checks every component must pass: ``check_posterior``, ``check_quantizer``,
``check_allocator``, ``check_entropy_coder`` (and ``check_config`` for any component kind).

Each check takes a component *class*, builds instances from ``Component.examples()`` (posteriors
from ``example(rng, shape)``), and raises :class:`ContractViolation` naming the component and the
contract it breaks. The checks are deterministic (seeded) and small enough to run in a unit test.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import canonical
from ..abc import (
    Allocator,
    CanSample,
    EntropyCoder,
    HasMean,
    HasProbs,
    HasStd,
    Posterior,
    Quantizer,
)
from ..canonical import DTYPE_CODES
from ..config import Component, check_json
from ..errors import CodecframeError, ConfigError, EncodeError, InputError, RegistryError, VersionError
from ..probability import MAX_PRECISION, MIN_PRECISION, ParametricModel, ProbabilityModel
from ..probability.grids import FAMILIES
from ..registry import Registry, registry as default_registry
from ..types import AllocationGroup, Quantized, RateOption

__all__ = [
    "ContractViolation",
    "check_config",
    "check_posterior",
    "check_quantizer",
    "check_allocator",
    "check_entropy_coder",
    "compatible_posteriors",
    "compatible_coders",
    "header_view",
    "HOSTILE_VALUES",
    "KIND_CHECKS",
    "SKIP_ERRORS",
]

#: Values a hostile file may put in place of any setting or side-info entry.
HOSTILE_VALUES: tuple[Any, ...] = ("junk", -1, 0, 2**40, -(2**40), 1.5, [], [-1, 2**33], {}, None, True, b"\x00\xff",
                                   np.arange(3, dtype=np.int64), np.zeros((2, 2), np.float32), np.zeros(0, np.uint8))
#: The precision every quantizer setting must be codable at (other precisions may be refused).
DEFAULT_PRECISION = 16
#: Seconds a decoder may take on a small malformed input before the check calls it a hang. The
#: time is measured after the call returns, so a call that never returns hangs the check: run the
#: checks with a time limit in a child process (:func:`codecframe.testing.isolated`) to catch that.
HANG_SECONDS = 5.0
#: What ``quantize``/``symbol_model``/``estimate`` raise for a valid setting that cannot be coded
#: (an alphabet larger than ``2^precision``, symbols beyond int32): the allocators skip that candidate.
#: Any other error aborts the whole encode.
SKIP_ERRORS: tuple[type[CodecframeError], ...] = (InputError, EncodeError)
#: Factors the skip-signal check spreads the example posteriors by (a large alphabet at precision 12).
WIDE_SCALES = (2.0**6, 2.0**12)
_UNKNOWN_KEY = "no_such_option_for_contract_check"


class ContractViolation(AssertionError):
    """A component breaks a contract of :mod:`codecframe.testing`."""


def _require(cond: Any, who: Any, contract: str, detail: str = "") -> None:
    if not cond:
        name = who.describe() if hasattr(who, "describe") else str(who)
        raise ContractViolation(f"{name}: {contract}" + (f" ({detail})" if detail else ""))


def _raises(
    fn: Callable[[], Any], expected: type[BaseException], who: Any, contract: str
) -> BaseException:
    """Run ``fn``; it must raise ``expected``. Other exceptions are violations too."""
    try:
        fn()
    except expected as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - reported as a violation with the offending type
        raise ContractViolation(
            f"{who.describe()}: {contract}: expected {expected.__name__}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise ContractViolation(f"{who.describe()}: {contract}: expected {expected.__name__}, nothing was raised")


def _call(fn: Callable[[], Any], who: Any, contract: str, detail: str = "") -> Any:
    """Run ``fn`` on valid input; any exception is a violation of ``contract``."""
    try:
        return fn()
    except ContractViolation:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as a violation naming the contract
        name = who.describe() if hasattr(who, "describe") else str(who)
        where = f" ({detail})" if detail else ""
        raise ContractViolation(f"{name}: {contract}{where}: raised {type(exc).__name__}: {exc}") from exc


def _tolerates(fn: Callable[[], Any], who: Any, contract: str) -> tuple[bool, Any]:
    """Run ``fn`` on hostile input: success or a CodecframeError, within HANG_SECONDS. Returns (ok, result)."""
    t0 = time.perf_counter()
    try:
        result = fn()
        ok = True
    except CodecframeError:
        result, ok = None, False
    except Exception as exc:  # noqa: BLE001
        raise ContractViolation(
            f"{who.describe()}: {contract}: raised {type(exc).__name__} (not a CodecframeError): {exc}"
        ) from exc
    elapsed = time.perf_counter() - t0
    _require(elapsed < HANG_SECONDS, who, contract, f"took {elapsed:.1f} s on a small input")
    return ok, result


def _roundtrip_canonical(value: Any) -> Any:
    return canonical.unpack(canonical.pack(value), "value")


# --------------------------------------------------------------------------- configs
def check_config(cls: type[Component], instances: Iterable[Component] | None = None) -> None:
    """Config contracts: class ``id``/``version``, frozen ``Config``, exact round trips of
    ``get_config`` through ``from_config``, JSON text and canonical msgpack, and ConfigError /
    VersionError for unknown keys, wrong ids, newer or invalid versions and non-JSON values.

    ``instances`` defaults to ``cls(**options)`` for each of ``cls.examples()``.
    """
    _require(isinstance(getattr(cls, "id", None), str) and cls.id and not any(c.isspace() for c in cls.id),
             cls, "class attribute 'id' must be a non-empty string without whitespace")
    _require(type(cls.version) is int and cls.version >= 1, cls, "'version' must be an int >= 1")
    _require(dataclasses.is_dataclass(cls.Config) and cls.Config.__dataclass_params__.frozen,  # type: ignore[attr-defined]
             cls, "'Config' must be a frozen dataclass")
    examples = cls.examples()
    _require(isinstance(examples, list) and examples and all(isinstance(e, dict) for e in examples),
             cls, "examples() must return a non-empty list of option dicts")
    if instances is None:
        instances = [cls(**options) for options in examples]
    parse = cls.parse_config
    for inst in instances:
        cfg = inst.get_config()
        _require(cfg.get("id") == cls.id and cfg.get("version") == cls.version, cls,
                 "get_config() must hold the class id and version", repr(cfg))
        try:
            check_json(cfg, "config")
        except ConfigError as exc:
            raise ContractViolation(f"{cls.describe()}: get_config() must be plain JSON ({exc})") from None
        for label, copy in (("JSON text", json.loads(json.dumps(cfg))), ("canonical msgpack", _roundtrip_canonical(cfg))):
            _require(parse(copy) == inst.config, cls, f"config must round-trip through {label}", repr(cfg))
        without_version = {k: v for k, v in cfg.items() if k != "version"}
        _require(parse(without_version) == inst.config, cls, "a config without 'version' means the current version")
        with_options = {k: v for k, v in cfg.items() if k not in ("id", "version")}
        field = next(iter(with_options), "contract_probe")
        _raises(lambda: setattr(inst.config, field, None), dataclasses.FrozenInstanceError, cls,
                "the config object must be immutable")
        _raises(lambda: parse({**cfg, _UNKNOWN_KEY: 1}), ConfigError, cls, "an unknown config key must raise ConfigError")
        _raises(lambda: parse({**cfg, "id": cls.id + "-other"}), ConfigError, cls, "a config for another id must raise ConfigError")
        _raises(lambda: parse({**cfg, "version": cls.version + 1}), VersionError, cls,
                "a config from a newer version must raise VersionError")
        for bad in (0, "1", 1.0, True):
            _raises(lambda: parse({**cfg, "version": bad}), ConfigError, cls, f"config version {bad!r} must raise ConfigError")
        for key in with_options:
            _raises(lambda: parse({**cfg, key: object()}), ConfigError, cls,
                    f"a non-JSON value for {key!r} must raise ConfigError")


# --------------------------------------------------------------------------- posteriors
def check_posterior(
    cls: type[Posterior], shapes: Sequence[tuple[int, ...]] = ((7,), (3, 5), (2, 3, 4)), seed: int = 0
) -> None:
    """Posterior contracts: ``example`` builds valid, seeded-deterministic instances of the asked
    shape; ``from_config(get_config(), **arrays())`` rebuilds them exactly; declared capabilities
    (HasMean, HasStd, HasProbs, CanSample) hold; missing, non-finite or non-numeric arrays raise a
    CodecframeError."""
    _require(isinstance(cls.fields, tuple) and cls.fields, cls, "'fields' must be a non-empty tuple of array names")
    instances = []
    for shape in shapes:
        post = cls.example(np.random.default_rng(seed), shape)
        again = cls.example(np.random.default_rng(seed), shape)
        _require(isinstance(post, cls), cls, "example() must return an instance of the class")
        _require(post.shape == tuple(shape), cls, f"example(rng, {shape}) must have that shape", f"got {post.shape}")
        arrays = post.arrays()
        _require(set(arrays) == set(cls.fields), cls, "arrays() must return exactly the declared fields")
        _require(all(np.array_equal(arrays[f], again.arrays()[f]) for f in cls.fields), cls,
                 "example() must be deterministic for a seeded generator")
        point = np.asarray(post.point())
        _require(point.shape == tuple(shape) and np.all(np.isfinite(point)), cls, "point() must be finite of the group's shape")
        cfg = json.loads(json.dumps(post.get_config()))
        rebuilt = cls.from_config(cfg, **arrays)
        _require(all(np.array_equal(rebuilt.arrays()[f], arrays[f]) and rebuilt.arrays()[f].dtype == arrays[f].dtype
                     for f in cls.fields), cls, "from_config(get_config(), **arrays()) must rebuild the arrays exactly")
        _check_capabilities(cls, post, tuple(shape), seed)
        _check_posterior_errors(cls, arrays)
        instances.append(post)
    check_config(cls, instances)


def _check_capabilities(cls: type[Posterior], post: Posterior, shape: tuple[int, ...], seed: int) -> None:
    if isinstance(post, HasMean):
        mean = np.asarray(post.mean)
        _require(mean.shape == shape and np.all(np.isfinite(mean)), cls, "HasMean: mean must be finite of the group's shape")
    if isinstance(post, HasStd):
        std = np.asarray(post.std)
        _require(std.shape == shape and np.all(np.isfinite(std)) and np.all(std > 0), cls,
                 "HasStd: std must be positive and finite of the group's shape")
    if isinstance(post, HasProbs):
        probs = np.asarray(post.probs, np.float64)
        _require(probs.ndim == len(shape) + 1 and probs.shape[:-1] == shape and probs.shape[-1] >= 1, cls,
                 "HasProbs: probs must have shape (*shape, num_categories)", f"got {probs.shape}")
        _require(np.all(probs >= 0) and np.allclose(probs.sum(axis=-1), 1.0, atol=1e-5), cls,
                 "HasProbs: probs must be non-negative and sum to 1 along the last axis")
    if isinstance(post, CanSample):
        a = np.asarray(post.sample(np.random.default_rng(seed), 3))
        b = np.asarray(post.sample(np.random.default_rng(seed), 3))
        _require(a.shape[:1 + len(shape)] == (3, *shape) and np.all(np.isfinite(a)), cls,
                 "CanSample: sample(rng, n) must be finite with leading shape (n, *shape)", f"got {a.shape}")
        _require(np.array_equal(a, b), cls, "CanSample: sampling must be deterministic for a seeded generator")


def _check_posterior_errors(cls: type[Posterior], arrays: Mapping[str, np.ndarray]) -> None:
    for field in cls.fields:
        others = {f: a for f, a in arrays.items() if f != field}
        _raises(lambda: cls(**others), CodecframeError, cls, f"a missing array {field!r} must raise a CodecframeError")
        arr = arrays[field]
        strings = np.full(arr.shape, "x", dtype=object)
        _raises(lambda: cls(**others, **{field: strings}), CodecframeError, cls,
                f"a non-numeric array {field!r} must raise a CodecframeError")
        if np.issubdtype(arr.dtype, np.floating) and arr.size:
            for bad in (np.nan, np.inf):
                poisoned = arr.copy()
                poisoned.flat[0] = bad
                _raises(lambda: cls(**others, **{field: poisoned}), CodecframeError, cls,
                        f"{bad} in array {field!r} must raise a CodecframeError")


# --------------------------------------------------------------------------- quantizers
def compatible_posteriors(quantizer_cls: type[Quantizer], registry: Registry | None = None) -> list[type[Posterior]]:
    """Installed posterior classes that provide every capability ``quantizer_cls.requires``."""
    return [p for p in _loadable("posterior", registry) if all(issubclass(p, r) for r in quantizer_cls.requires)]


def compatible_coders(quantizer_cls: type[Quantizer], registry: Registry | None = None) -> list[type[EntropyCoder]]:
    """Installed entropy-coder classes that accept every model kind ``quantizer_cls`` produces."""
    return [c for c in _loadable("entropy_coder", registry) if set(quantizer_cls.model_kinds) <= set(c.model_kinds)]


def _loadable(kind: str, registry: Registry | None) -> list[type]:
    """Installed classes of ``kind``; plugins that fail to load are left out (their own checks report them)."""
    reg = registry or default_registry
    out = []
    for cid in reg.ids(kind):
        try:
            out.append(reg.get(kind, cid))
        except RegistryError:
            continue
    return out


def header_view(q: Quantized, symbols: np.ndarray | None = None) -> Quantized:
    """``q`` as a decoder sees it: setting and side info through canonical msgpack, shape a tuple."""
    return Quantized(
        np.zeros(0, np.int32) if symbols is None else symbols,
        _roundtrip_canonical(dict(q.setting)),
        _roundtrip_canonical(dict(q.side)),
        tuple(int(n) for n in q.shape),
        str(q.dtype),
    )


def _same_model(a: Any, b: Any, symbols: np.ndarray, ia: np.ndarray | None, ib: np.ndarray | None) -> bool:
    if (ia is None) != (ib is None) or (ia is not None and not np.array_equal(ia, ib)):
        return False
    if type(a) is type(b) and isinstance(a, (ProbabilityModel, ParametricModel)):
        return bool(a == b)
    return a.kind == b.kind and a.precision == b.precision and a.information(symbols, ia) == b.information(symbols, ib)


def _pick_settings(q: Quantizer, limit: int) -> list[dict[str, Any]]:
    settings = q.settings()
    _require(isinstance(settings, list) and settings and all(isinstance(s, dict) for s in settings), q,
             "settings() must return a non-empty list of dicts")
    default = q.default_setting()
    _require(isinstance(default, dict), q, "default_setting() must return a dict")
    for s in [*settings, default]:
        check_json(s, f"{q.describe()} setting")
    picked = [default]
    for i in sorted({0, len(settings) // 2, len(settings) - 1})[: max(limit - 1, 0)]:
        if settings[i] not in picked:
            picked.append(settings[i])
    return picked


def check_quantizer(
    cls: type[Quantizer],
    posterior_classes: Sequence[type[Posterior]] | None = None,
    coders: Sequence[EntropyCoder] | None = None,
    shape: tuple[int, ...] = (6, 5),
    precisions: Sequence[int] = (MIN_PRECISION, 16, MAX_PRECISION),
    max_settings: int = 4,
    seed: int = 0,
    registry: Registry | None = None,
) -> None:
    """Quantizer contracts, for every example config, compatible posterior and a few settings:

    - ``fit`` on example posteriors, then the config alone rebuilds an equivalent decoder-side
      instance (``from_config`` of the JSON config);
    - ``quantize`` is deterministic and returns int32 1-D symbols, canonical-msgpack setting and side
      info, the posterior's shape and a container dtype;
    - ``symbol_model`` depends only on the header view (setting, side, shape, dtype) at precisions
      12, 16 and 24, and yields a model kind the class declares; it must succeed at 16 and may
      refuse another precision with a CodecframeError (e.g. more symbols than ``2^12``) if the
      decoder side refuses it too;
    - ``dequantize`` of the header view reproduces the encoder's reconstruction bit for bit;
    - ``estimate`` gives finite non-negative bits and distortion;
    - symbols round-trip through every compatible entropy coder (an exception on the way is a
      violation naming the step);
    - the skip signal: with the example posteriors spread x2^6 and x2^12, ``estimate`` of every
      candidate setting at precision 12 succeeds or raises InputError/EncodeError
      (:data:`SKIP_ERRORS`), which allocators skip, never another error that aborts the encode;
    - ``symbol_count`` of the header view equals the number of symbols;
    - bad settings raise a CodecframeError, and hostile header data (any side or setting entry
      replaced by junk) raises only CodecframeError in ``symbol_count``, ``symbol_model`` and
      ``dequantize``, never hangs.
    """
    reg = registry or default_registry
    pclasses = list(posterior_classes) if posterior_classes is not None else compatible_posteriors(cls, reg)
    _require(pclasses, cls, "no installed posterior provides " + ", ".join(r.__name__ for r in cls.requires))
    coder_list = list(coders) if coders is not None else [c() for c in compatible_coders(cls, reg)]
    _require(cls.model_kinds and set(cls.model_kinds) <= {"table", "parametric"}, cls,
             "model_kinds must be a non-empty subset of {'table', 'parametric'}")
    rng = np.random.default_rng(seed)
    fitted = []
    for options in cls.examples():
        for pcls in pclasses:
            q = cls(**options)
            q.fit([pcls.example(rng, shape) for _ in range(2)])
            decoder = cls.from_config(json.loads(json.dumps(q.get_config())))
            post = pcls.example(rng, shape)
            for setting in _pick_settings(q, max_settings):
                qz = _check_quantize(q, post, setting)
                _check_decoder_side(q, decoder, qz, precisions)
                _check_estimate(q, post, setting, DEFAULT_PRECISION)
                for coder in coder_list:
                    contract = f"symbols must round-trip through entropy coder {coder.id!r}"
                    model, idx = _call(lambda: decoder.symbol_model(header_view(qz), coder.precision), cls, contract,
                                       f"setting {setting}, symbol_model at precision {coder.precision}")
                    data = _call(lambda: coder.encode(qz.symbols, model, idx), cls, contract, f"setting {setting}, encode")
                    back = _call(lambda: coder.decode(data, model, int(qz.symbols.size), idx), cls, contract,
                                 f"setting {setting}, decode")
                    _require(np.array_equal(back, qz.symbols), cls, contract, f"setting {setting}")
                _check_hostile_header(decoder, qz, DEFAULT_PRECISION)
            _check_skip_signal(q, decoder, pcls, post)
            _raises(lambda: q.quantize(post, {_UNKNOWN_KEY: 1}), CodecframeError, cls,
                    "a setting with an unknown key must raise a CodecframeError")
            fitted.append(q)
    check_config(cls, fitted)


def _check_quantize(q: Quantizer, post: Posterior, setting: dict[str, Any]) -> Quantized:
    qz = q.quantize(post, setting)
    _require(isinstance(qz, Quantized), q, "quantize() must return a Quantized")
    sym = qz.symbols
    _require(isinstance(sym, np.ndarray) and sym.dtype == np.int32 and sym.ndim == 1, q,
             "symbols must be a 1-D int32 array", f"got {getattr(sym, 'dtype', type(sym))} {getattr(sym, 'shape', '')}")
    _require(qz.dtype in DTYPE_CODES, q, "Quantized.dtype must be a container dtype name", repr(qz.dtype))
    try:
        check_json(dict(qz.setting), "setting")
        canonical.pack(dict(qz.side))
    except CodecframeError as exc:
        raise ContractViolation(f"{q.describe()}: setting must be JSON and side info canonical msgpack ({exc})") from None
    again = q.quantize(post, setting)
    _require(np.array_equal(again.symbols, sym) and canonical.pack(dict(again.side)) == canonical.pack(dict(qz.side))
             and dict(again.setting) == dict(qz.setting), q, "quantize() must be deterministic", f"setting {setting}")
    return qz


def _check_decoder_side(q: Quantizer, decoder: Quantizer, qz: Quantized, precisions: Sequence[int]) -> None:
    view = header_view(qz)
    for precision in precisions:
        try:
            model, idx = q.symbol_model(qz, precision)
        except CodecframeError as exc:  # e.g. an alphabet larger than 2^precision
            _require(precision != DEFAULT_PRECISION, q, f"symbol_model() must succeed at precision {DEFAULT_PRECISION}",
                     f"{type(exc).__name__}: {exc}")
            _raises(lambda: decoder.symbol_model(view, precision), type(exc), q,
                    f"the decoder side must refuse precision {precision} as the encoder side does")
            continue
        _require(getattr(model, "kind", None) in type(q).model_kinds, q,
                 "symbol_model() must return a model of a declared kind", repr(getattr(model, "kind", None)))
        _require(model.precision == precision, q, "symbol_model() must build the model at the asked precision")
        if idx is not None:
            idx = np.asarray(idx)
            _require(idx.shape == qz.symbols.shape and np.issubdtype(idx.dtype, np.integer), q,
                     "model indexes must be an integer array with one entry per symbol")
        bits = _call(lambda: model.information(qz.symbols, idx), q, "the model must give the symbols finite information",
                     f"precision {precision}")
        _require(math.isfinite(bits) and bits >= 0, q, "the model must give the symbols finite information", f"{bits}")
        dmodel, didx = _call(lambda: decoder.symbol_model(view, precision), q,
                             "symbol_model() must depend only on the header (setting, side, shape, dtype) and the config",
                             f"precision {precision}, decoder side")
        _require(_same_model(model, dmodel, qz.symbols, idx, None if didx is None else np.asarray(didx)), q,
                 "symbol_model() must depend only on the header (setting, side, shape, dtype) and the config",
                 f"precision {precision}")
    count = decoder.symbol_count(view)
    _require(type(count) is int and count == qz.symbols.size, q,
             "symbol_count() of the header view must equal the number of symbols quantize() produced",
             f"{count!r} vs {qz.symbols.size}")
    rec = q.dequantize(qz)
    _require(isinstance(rec, np.ndarray) and rec.shape == tuple(qz.shape) and rec.dtype.name == qz.dtype, q,
             "dequantize() must return an array of Quantized.shape and dtype")
    _require(np.all(np.isfinite(rec)), q, "dequantize() must return finite values")
    drec = decoder.dequantize(dataclasses.replace(view, symbols=qz.symbols.copy()))
    _require(isinstance(drec, np.ndarray) and drec.dtype == rec.dtype and drec.tobytes() == rec.tobytes(), q,
             "dequantize() of the header view must reproduce the encoder's reconstruction bit for bit")


def _check_estimate(q: Quantizer, post: Posterior, setting: dict[str, Any], precision: int) -> None:
    opt = q.estimate(post, setting, precision)
    _require(isinstance(opt, RateOption), q, "estimate() must return a RateOption")
    _require(math.isfinite(opt.bits) and opt.bits >= 0 and math.isfinite(opt.distortion) and opt.distortion >= 0, q,
             "estimate() must give finite, non-negative bits and distortion", f"{opt}")


def _widened(pcls: type[Posterior], post: Posterior, factor: float) -> Posterior | None:
    """``post`` with every floating-point array multiplied by ``factor``, or None if that is not a valid posterior."""
    arrays = {k: v * factor if np.issubdtype(v.dtype, np.floating) else v for k, v in post.arrays().items()}
    try:
        return pcls.from_config(post.get_config(), **arrays)
    except CodecframeError:
        return None


def _check_skip_signal(q: Quantizer, decoder: Quantizer, pcls: type[Posterior], post: Posterior) -> None:
    """Every candidate setting at precision 12 on posteriors spread over a large alphabet: ``estimate``
    (what the allocators call) succeeds or raises one of :data:`SKIP_ERRORS`, and the decoder side
    refuses the same setting with the same class."""
    precision = MIN_PRECISION
    contract = (f"a setting that cannot be coded at precision {precision} must raise InputError or EncodeError "
                "(the allocators skip it), not abort the encode")
    for factor in WIDE_SCALES:
        wide = _widened(pcls, post, factor)
        if wide is None:
            continue
        for setting in q.settings():
            detail = f"setting {setting}, posterior values x{factor:g}"
            try:
                q.estimate(wide, setting, precision)
                continue
            except SKIP_ERRORS:
                pass
            except Exception as exc:  # noqa: BLE001 - FormatError here is the typical bug
                raise ContractViolation(f"{q.describe()}: {contract} ({detail}): raised {type(exc).__name__}: {exc}") from exc
            try:
                qz = q.quantize(wide, setting)
            except SKIP_ERRORS:
                continue  # refused before any model was built
            except Exception as exc:  # noqa: BLE001
                raise ContractViolation(f"{q.describe()}: {contract} ({detail}): quantize raised {type(exc).__name__}: {exc}") from exc
            try:
                q.symbol_model(qz, precision)
            except SKIP_ERRORS as exc:
                _raises(lambda: decoder.symbol_model(header_view(qz), precision), type(exc), q,
                        f"the decoder side must refuse precision {precision} as the encoder side does ({detail})")
            except Exception as exc:  # noqa: BLE001 - estimate() raised a skip error, symbol_model() something else
                raise ContractViolation(f"{q.describe()}: {contract} ({detail}): symbol_model raised {type(exc).__name__}: {exc}") from exc


def _check_hostile_header(decoder: Quantizer, qz: Quantized, precision: int) -> None:
    view = header_view(qz)
    who = "header data from a malformed file"

    def attempt(bad: Quantized) -> None:
        ok, count = _tolerates(lambda: decoder.symbol_count(bad), decoder, who)
        if not ok or count != qz.symbols.size:
            return  # the pipeline rejects the file before decoding
        ok, _ = _tolerates(lambda: decoder.symbol_model(bad, precision), decoder, who)
        if ok:
            _tolerates(lambda: decoder.dequantize(dataclasses.replace(bad, symbols=qz.symbols.copy())), decoder, who)

    for field in ("side", "setting"):
        base = dict(getattr(view, field))
        attempt(dataclasses.replace(view, **{field: {}}))
        for key in base:
            for value in HOSTILE_VALUES:
                attempt(dataclasses.replace(view, **{field: {**base, key: value}}))


# --------------------------------------------------------------------------- allocators
def _synthetic_groups(seed: int) -> list[AllocationGroup]:
    """Three groups with convex rate-distortion curves from 0.01 to 24 bits per element."""
    rng = np.random.default_rng(seed)
    groups = []
    for i, size in enumerate((64, 256, 16)):
        var = float(rng.uniform(0.1, 10.0))
        options = tuple(
            RateOption({"level": k}, float(size * b), float(size * var * 2.0 ** (-2 * b)))
            for k, b in enumerate((0.01, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 24.0))
        )
        groups.append(AllocationGroup(f"g{i}", size, {"level": 3}, options))
    return groups


def check_allocator(cls: type[Allocator], seed: int = 0) -> None:
    """Allocator contracts on synthetic convex rate-distortion options (0.01 to 24 bits per element):
    one JSON setting per group, chosen among the group's options when ``needs_estimates``;
    deterministic; an empty group list gives ``[]`` or a CodecframeError; a group without options
    raises a CodecframeError when estimates are needed."""
    groups = _synthetic_groups(seed)
    instances = [cls(**options) for options in cls.examples()]
    for alloc in instances:
        given = groups if cls.needs_estimates else [dataclasses.replace(g, options=()) for g in groups]
        for subset in (given, given[:1]):
            out = alloc.allocate(subset)
            _require(isinstance(out, list) and len(out) == len(subset), cls, "allocate() must return one setting per group")
            for g, s in zip(subset, out):
                _require(isinstance(s, dict), cls, "each setting must be a dict")
                check_json(s, f"{cls.describe()} setting")
                if cls.needs_estimates:
                    _require(s in [dict(o.setting) for o in g.options], cls,
                             "a setting must be one of the group's options", f"{s}")
            _require(alloc.allocate(subset) == out, cls, "allocate() must be deterministic")
        ok, out = _tolerates(lambda: alloc.allocate([]), alloc, "allocate([])")
        _require(not ok or out == [], cls, "allocate([]) must return [] or raise a CodecframeError")
        if cls.needs_estimates:
            bare = [dataclasses.replace(groups[0], options=())]
            _raises(lambda: alloc.allocate(bare), CodecframeError, cls,
                    "a group without rate options must raise a CodecframeError")
    check_config(cls, instances)


# --------------------------------------------------------------------------- entropy coders
def _table_cases(rng: np.random.Generator, precision: int) -> list[tuple[str, ProbabilityModel, np.ndarray, np.ndarray | None]]:
    cases = []
    for a in (1, 2, 37, 300):
        counts = rng.geometric(0.1, a)
        model = ProbabilityModel.from_counts(counts, precision=precision, offsets=int(rng.integers(-50, 50)))
        for n in (0, 1, 3000):
            pos = rng.choice(a, n, p=counts / counts.sum())
            cases.append((f"{a} symbols, n={n}", model, (pos + model.offsets[0]).astype(np.int32), None))
    skew = np.ones(64, np.int64)
    skew[5] = 1 << 36
    model = ProbabilityModel.from_counts(skew, precision=precision)
    sym = np.full(3000, 5, np.int32)
    sym[rng.integers(0, 3000, 20)] = rng.integers(0, 64, 20).astype(np.int32)
    cases.append(("near-deterministic row with frequency-1 symbols", model, sym, None))
    m, a = 5, 40
    sizes = rng.integers(1, a + 1, m)
    multi = ProbabilityModel.from_counts(rng.integers(0, 100, (m, a)), precision=precision,
                                         offsets=rng.integers(-20, 20, m), sizes=sizes)
    idx = rng.integers(0, m, 3000).astype(np.int32)
    pos = (rng.random(idx.size) * multi.sizes[idx]).astype(np.int64)
    cases.append(("5-row table with per-symbol indexes", multi, (pos + multi.offsets[idx]).astype(np.int32), idx))
    # Two rows over one support, each almost certain of another symbol: the symbols cost ~0 bits only
    # if every symbol is coded with the row its index names (a coder that ignores indexes pays ~p/2 bits each).
    rows = ProbabilityModel.from_counts(np.array([[1 << 30, 1], [1, 1 << 30]]), precision=precision)
    idx = rng.integers(0, 2, 3000).astype(np.int32)
    cases.append((_ROW_CASE, rows, idx.copy(), idx))
    return cases


_ROW_CASE = "2 rows over one support, each symbol likely only under its own row"


def _parametric_cases(rng: np.random.Generator, precision: int) -> list[tuple[str, ParametricModel, np.ndarray, np.ndarray | None]]:
    cases = []
    n = 2000
    for family in FAMILIES:
        mean = rng.uniform(-30, 30, n)
        scale = np.where(rng.random(n) < 0.05, 0.0, np.exp(rng.uniform(-5, 3, n)))
        sym = np.clip(np.rint(mean + scale * rng.standard_normal(n)), -64, 64).astype(np.int32)
        cases.append((f"{family}, one pair per symbol", ParametricModel(family, mean, scale, -64, 64, False, precision), sym, None))
        esc = sym.copy()
        esc[rng.integers(0, n, 30)] = rng.integers(-(1 << 30), 1 << 30, 30).astype(np.int32)
        model = ParametricModel(family, mean[:8], scale[:8], -16, 16, True, precision)
        idx = rng.integers(0, 8, n).astype(np.int32)
        cases.append((f"{family}, 8 pairs by index, escapes", model, esc, idx))
    return cases


def check_entropy_coder(cls: type[EntropyCoder], seed: int = 0) -> None:
    """Entropy-coder contracts for every example config: a ``precision`` config field in 12..24; exact,
    deterministic round trips of table models (1 to 300 symbols, empty and single-symbol inputs, a
    near-deterministic row, multi-row tables whose indexes must be honoured); code length within
    1 % + 64 bits of the ideal (an exception on the way is a violation naming the case); EncodeError
    for a symbol outside the support; and truncated, extended or random data decoded to valid
    symbols or rejected with a CodecframeError, never a crash or a hang."""
    _require("table" in cls.model_kinds, cls, "every entropy coder must accept 'table' models")
    rng = np.random.default_rng(seed)
    instances = [cls(**options) for options in cls.examples()]
    for coder in instances:
        precision = _call(lambda: coder.precision, cls,
                          "the config must have an int field 'precision' (subclass codecframe.coders.CoderConfig)")
        _require(type(precision) is int and MIN_PRECISION <= precision <= MAX_PRECISION, cls,
                 f"precision must be an int in {MIN_PRECISION}..{MAX_PRECISION}", repr(precision))
        cases = _table_cases(rng, precision)
        if "parametric" in cls.model_kinds:
            cases += _parametric_cases(rng, precision)
        encoded = []
        for label, model, sym, idx in cases:
            contract = "decode(encode(symbols)) must return the symbols as int32"
            data = _call(lambda: coder.encode(sym, model, idx), cls, contract, f"{label}: encode")
            _require(isinstance(data, bytes), cls, "encode() must return bytes")
            _require(coder.encode(sym, model, idx) == data, cls, "encode() must be deterministic", label)
            back = _call(lambda: coder.decode(data, model, int(sym.size), idx), cls, contract, f"{label}: decode")
            _require(isinstance(back, np.ndarray) and back.dtype == np.int32 and np.array_equal(back, sym), cls,
                     contract, label)
            ideal = model.information(sym, idx)
            bits_contract = ("indexes must select each symbol's model row" if label == _ROW_CASE
                             else "code length must be within 1 % + 64 bits of the ideal")
            _require(8 * len(data) <= 1.01 * ideal + 64, cls, bits_contract, f"{label}: {8 * len(data)} bits for {ideal:.1f}")
            encoded.append((model, sym, idx, data))
        for model, sym, idx, data in encoded:
            if sym.size:
                _check_garbage(coder, model, sym, idx, data)
        model = ProbabilityModel.from_counts(np.ones(8, np.int64), precision=precision, offsets=0)
        _raises(lambda: coder.encode(np.array([0, 8], np.int32), model), EncodeError, cls,
                "a symbol outside the model's support must raise EncodeError")
        _raises(lambda: coder.encode(np.array([0, 1], np.int32), model, np.zeros(3, np.int32)), CodecframeError, cls,
                "indexes of the wrong length must raise a CodecframeError")
    check_config(cls, instances)


def _check_garbage(coder: EntropyCoder, model: Any, sym: np.ndarray, idx: np.ndarray | None, data: bytes) -> None:
    rng = np.random.default_rng(len(data))
    n = int(sym.size)
    inputs = [data[: len(data) // 2], data[:1], b"", data + b"\x00" * 9, rng.bytes(len(data) + 4),
              bytes(b ^ 0xFF for b in data)]
    counts = [n, 2 * n + 7]
    for bad in inputs:
        for count in counts:
            cidx = idx if idx is None or count == n else np.resize(idx, count)
            ok, out = _tolerates(lambda: coder.decode(bad, model, count, cidx), coder, "decoding malformed data")
            if ok:
                _require(isinstance(out, np.ndarray) and out.shape == (count,) and out.dtype == np.int32, coder,
                         "decoding malformed data must give `count` int32 symbols or raise a CodecframeError")
                _require(_in_support(model, out, cidx), coder,
                         "symbols decoded from malformed data must lie within the model's support")


def _in_support(model: Any, symbols: np.ndarray, indexes: np.ndarray | None) -> bool:
    if isinstance(model, ParametricModel):
        return model.escape or bool(np.all((symbols >= model.lo) & (symbols <= model.hi)))
    rows = np.zeros(symbols.size, np.int64) if indexes is None else np.asarray(indexes, np.int64)
    pos = symbols.astype(np.int64) - model.offsets[rows]
    return bool(np.all((pos >= 0) & (pos < model.sizes[rows])))


#: The contract check for each component kind (estimators have only :func:`check_config`).
KIND_CHECKS: dict[str, Callable[..., None]] = {
    "posterior": check_posterior,
    "quantizer": check_quantizer,
    "allocator": check_allocator,
    "entropy_coder": check_entropy_coder,
    "estimator": check_config,
}
