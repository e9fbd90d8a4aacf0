import dataclasses
import json

import pytest
from hypothesis import given, strategies as st

from codecframe.config import Component, check_json
from codecframe.errors import ConfigError, VersionError


class Thing(Component):
    kind = "quantizer"
    id = "thing"
    version = 2

    @dataclasses.dataclass(frozen=True)
    class Config:
        step: float = 1.0
        levels: int = 4
        name: str = "x"
        flag: bool = False
        grid: tuple[float, ...] = (1.0, 2.0)
        extra: dict | None = None
        maybe: int | None = None


def test_defaults_round_trip():
    t = Thing()
    cfg = t.get_config()
    assert cfg == {"id": "thing", "version": 2, "step": 1.0, "levels": 4, "name": "x", "flag": False,
                   "grid": [1.0, 2.0], "extra": None, "maybe": None}
    assert Thing.from_config(cfg).get_config() == cfg
    assert json.loads(json.dumps(cfg)) == cfg


@given(
    step=st.floats(allow_nan=False, allow_infinity=False),
    levels=st.integers(-(2**40), 2**40),
    name=st.text(),
    flag=st.booleans(),
    grid=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=5),
    extra=st.none() | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
)
def test_config_round_trip_through_json(step, levels, name, flag, grid, extra):
    t = Thing(step=step, levels=levels, name=name, flag=flag, grid=grid, extra=extra)
    cfg = t.get_config()
    again = Thing.from_config(json.loads(json.dumps(cfg)))
    assert again.get_config() == cfg
    assert again.config == t.config


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="v2.*unknown key 'stpe'"):
        Thing.from_config({"id": "thing", "stpe": 1.0})


@pytest.mark.parametrize("key,value,msg", [
    ("step", "big", "expected a number"),
    ("levels", 1.5, "expected an integer"),
    ("levels", True, "expected an integer"),
    ("flag", 1, "expected a boolean"),
    ("grid", 3, "expected a list"),
    ("step", float("nan"), "finite"),
    ("extra", {"a": float("inf")}, "finite"),
    ("extra", {"a": object()}, "not a JSON type"),
])
def test_invalid_values_are_named(key, value, msg):
    with pytest.raises(ConfigError, match=f"{key}.*{msg}|{msg}"):
        Thing.from_config({key: value})


def test_versions():
    with pytest.raises(VersionError, match="newer"):
        Thing.from_config({"version": 3})
    with pytest.raises(VersionError, match="no longer supported"):
        Thing.from_config({"version": 1})
    with pytest.raises(ConfigError, match="positive integer"):
        Thing.from_config({"version": "2"})
    with pytest.raises(ConfigError, match="config is for id 'other'"):
        Thing.from_config({"id": "other"})


def test_check_json_rejects_non_string_keys():
    with pytest.raises(ConfigError, match="not a string"):
        check_json({1: 2}, "x")
