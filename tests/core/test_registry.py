"""Registry behaviour against fake installed distributions (dist-info + entry_points.txt on a path)."""

import dataclasses
import textwrap
from pathlib import Path

import pytest

from codecframe.abc import Allocator
from codecframe.errors import DuplicateComponentError, PluginLoadError, UnknownComponentError
from codecframe.registry import Registry, load_group


def make_dist(root: Path, name: str, version: str, groups: dict[str, dict[str, str]], modules: dict[str, str]) -> None:
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    text = "".join(f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for g, eps in groups.items())
    (info / "entry_points.txt").write_text(text)
    (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
    for mod, src in modules.items():
        (root / f"{mod}.py").write_text(textwrap.dedent(src))


GOOD = """
import dataclasses
from codecframe.abc import Allocator

class Half(Allocator):
    id = "half"
    version = 3

    @dataclasses.dataclass(frozen=True)
    class Config:
        ratio: float = 0.5

    def allocate(self, groups):
        return [dict(g.default) for g in groups]
"""


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    make_dist(tmp_path, "good_plugin", "1.2", {"codecframe.allocators": {"half": "goodmod:Half"}}, {"goodmod": GOOD})
    make_dist(tmp_path, "broken_plugin", "0.1", {"codecframe.allocators": {"broken": "brokenmod:Broken"},
                                                 "codecframe.commands": {"bad": "brokenmod:register"}},
              {"brokenmod": "raise RuntimeError('boom at import')\n"})
    make_dist(tmp_path, "liar_plugin", "0.1", {"codecframe.allocators": {"liar": "goodmod:Half"}}, {})
    return tmp_path


def test_lazy_discovery_and_versions(fake_site):
    import sys

    reg = Registry(path=[str(fake_site)])
    assert reg.ids("allocator") == ["broken", "half", "liar"]
    assert "goodmod" not in sys.modules  # scanning reads metadata only
    cls = reg.get("allocator", "half")
    assert "goodmod" in sys.modules and cls.version == 3 and issubclass(cls, Allocator)
    inst = reg.create("allocator", {"id": "half", "ratio": 0.25})
    assert inst.get_config() == {"id": "half", "version": 3, "ratio": 0.25}
    entry = reg.entry("allocator", "half")
    assert (entry.distribution, entry.dist_version) == ("good-plugin", "1.2")


def test_broken_plugin_is_isolated_and_reported(fake_site):
    reg = Registry(path=[str(fake_site)])
    with pytest.raises(PluginLoadError, match="boom at import"):
        reg.get("allocator", "broken")
    assert reg.get("allocator", "half").id == "half"
    rows = {r["id"]: r for r in reg.listing()}
    assert rows["broken"]["status"] == "error" and "boom at import" in rows["broken"]["error"]
    assert rows["half"]["status"] == "ok" and rows["half"]["version"] == 3
    assert {r["id"] for r in reg.failures()} == {"broken", "liar"}
    loaded, failed = load_group("codecframe.commands", [str(fake_site)])
    assert [ep.name for ep, _ in failed] == ["bad"] and "boom" in failed[0][1]


def test_entry_point_name_must_match_class_id(fake_site):
    with pytest.raises(PluginLoadError, match="differs from entry-point name 'liar'"):
        Registry(path=[str(fake_site)]).get("allocator", "liar")


def test_duplicate_ids_need_an_explicit_choice(fake_site):
    make_dist(fake_site, "other_plugin", "2.0", {"codecframe.allocators": {"half": "goodmod:Half"}}, {})
    reg = Registry(path=[str(fake_site)])
    with pytest.raises(DuplicateComponentError, match="good-plugin.*other-plugin|other-plugin.*good-plugin"):
        reg.get("allocator", "half")
    assert [r["status"] for r in reg.listing() if r["id"] == "half"] == ["duplicate", "duplicate"]
    reg.choose("allocator", "half", "other-plugin")
    assert reg.entry("allocator", "half").distribution == "other-plugin"


def test_unknown_ids_suggest_and_name_the_distribution(fake_site):
    reg = Registry(path=[str(fake_site)])
    with pytest.raises(UnknownComponentError, match="did you mean 'half'"):
        reg.get("allocator", "hlaf")
    with pytest.raises(UnknownComponentError, match="pip install codecframe-vbq"):
        reg.get("allocator", "vbq-knapsack", hint={"distribution": "codecframe-vbq", "version": "0.1.0"})


def test_in_process_registration():
    reg = Registry(path=[])

    class Mine(Allocator):
        id = "mine"

        def allocate(self, groups):
            return []

    with reg.registered(Mine):
        assert reg.get("allocator", "mine") is Mine
        assert reg.listing()[0]["distribution"] == "<in-process>"
        with pytest.raises(DuplicateComponentError):
            reg.register(Mine)
    with pytest.raises(UnknownComponentError):
        reg.get("allocator", "mine")


def test_builtins_come_from_the_core_entry_points():
    reg = Registry()
    rows = {(r["kind"], r["id"]): r for r in reg.listing()}
    for key in [("posterior", "gaussian"), ("quantizer", "uniform"), ("allocator", "fixed"),
                ("allocator", "lagrangian")]:
        assert rows[key]["distribution"] == "codecframe" and rows[key]["status"] == "ok", rows[key]
