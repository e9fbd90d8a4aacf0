"""Components and their JSON-only, versioned, frozen-dataclass configs.

A component class names its config type in ``Config`` (a frozen dataclass whose fields are JSON
types: bool, int, float, str, None, tuples of those, or ``dict[str, Any]`` holding JSON). Its
config dict is ``{"id": ..., "version": ..., **fields}``; ``get_config``/``from_config`` round-trip
exactly, and an unknown key or a value of the wrong type raises :class:`ConfigError` naming it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from .errors import ConfigError, VersionError

__all__ = ["Component", "EmptyConfig", "config_from_dict", "config_to_dict", "check_json"]

C = TypeVar("C", bound="Component")


@dataclasses.dataclass(frozen=True)
class EmptyConfig:
    """Config of a component without options."""


def check_json(value: Any, where: str) -> None:
    """Raise ConfigError unless ``value`` is plain JSON (finite floats, str keys)."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {value!r} is not a finite number")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_json(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{where}: key {k!r} is not a string")
            check_json(v, f"{where}.{k}")
        return
    raise ConfigError(f"{where}: {type(value).__name__} is not a JSON type")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it in the dataclass's own form."""
    origin = typing.get_origin(tp)
    if tp is Any:
        check_json(value, where)
        return value
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(arms) < len(typing.get_args(tp)):
            return None
        if len(arms) == 1:
            return _coerce(value, arms[0], where)
        for arm in arms:
            try:
                return _coerce(value, arm, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} matches none of {tp}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected a boolean, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {value!r} is not a finite number")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(args, value)))
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected an object, got {value!r}")
        check_json(value, where)
        # Freeze through a JSON round trip so the config owns an independent, canonical copy.
        return json.loads(json.dumps(value, sort_keys=True))
    raise ConfigError(f"{where}: unsupported config annotation {tp!r}")


def config_from_dict(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """Build the frozen dataclass ``cls`` from ``data``; unknown keys and bad types raise ConfigError."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: config must be an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            valid = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"{where}: unknown key {key!r} (valid keys: {valid})")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where}: {exc}") from None


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """The JSON form of a config dataclass (tuples become lists)."""
    return {f.name: _to_json(getattr(config, f.name)) for f in dataclasses.fields(config)}


class Component:
    """Base of every registered part: a class-level ``id`` and ``version`` and a frozen ``Config``.

    ``version`` is the version of the component's config *and* of the data format it writes; a new
    format gets a new version (or a new id). ``from_config`` accepts older versions only through
    :meth:`upgrade_config`, and refuses newer ones with :class:`VersionError`.
    """

    id: ClassVar[str]
    version: ClassVar[int] = 1
    Config: ClassVar[type] = EmptyConfig

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        if config is None:
            config = config_from_dict(self.Config, options, self.describe())
        elif options:
            raise ConfigError(f"{self.describe()}: pass either a config object or options, not both")
        elif not isinstance(config, self.Config):
            raise ConfigError(f"{self.describe()}: config must be {self.Config.__name__}, got {type(config).__name__}")
        self.config = config

    @classmethod
    def describe(cls) -> str:
        """``kind 'id' v<version>`` for messages."""
        return f"{getattr(cls, 'kind', 'component')} {getattr(cls, 'id', cls.__name__)!r} v{cls.version}"

    def get_config(self) -> dict[str, Any]:
        """JSON-only config: ``{"id", "version", **options}``."""
        return {"id": self.id, "version": self.version, **config_to_dict(self.config)}

    @classmethod
    def from_config(cls: type[C], config: Mapping[str, Any]) -> C:
        """Inverse of :meth:`get_config`. ``id`` must match; ``version`` defaults to the current one."""
        return cls(cls.parse_config(config))

    @classmethod
    def parse_config(cls, config: Mapping[str, Any]) -> Any:
        """Validate a config dict (id, version, options) and return the ``Config`` dataclass."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"{cls.describe()}: config must be an object, got {type(config).__name__}")
        data = dict(config)
        cid = data.pop("id", cls.id)
        if cid != cls.id:
            raise ConfigError(f"{cls.describe()}: config is for id {cid!r}")
        version = data.pop("version", cls.version)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(f"{cls.describe()}: config version must be a positive integer, got {version!r}")
        if version > cls.version:
            raise VersionError(
                f"{cls.describe()}: config version {version} is newer than this installation supports; "
                "upgrade the distribution that provides it"
            )
        if version < cls.version:
            data = cls.upgrade_config(data, version)
        return config_from_dict(cls.Config, data, cls.describe())

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        """Option sets that build valid instances, for contract tests; default: the default config."""
        return [{}]

    @classmethod
    def upgrade_config(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Translate options written by an older ``version``; the default supports none."""
        raise VersionError(f"{cls.describe()}: config version {version} is no longer supported")

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in config_to_dict(self.config).items())
        return f"{type(self).__name__}({opts})"
