"""The public kit run over everything installed: every component's contract and every pipeline combination."""

import pytest

from codecframe.registry import registry
from codecframe.testing import suite

COMPONENTS = suite.components()
COMBINATIONS = suite.combinations()


def test_core_components_are_found():
    ids = {str(t) for t in COMPONENTS}
    assert {"posterior:gaussian", "quantizer:uniform", "allocator:fixed", "allocator:lagrangian",
            "entropy_coder:range", "entropy_coder:rans"} <= ids


#: Contract violations found and reported but not yet fixed by the component's owner (strict: an
#: entry fails once the component is fixed, so it cannot go stale).
OPEN: dict[str, str] = {}


def _marked(targets):
    return [pytest.param(t, marks=pytest.mark.xfail(strict=True, raises=suite.ContractViolation, reason=f"open: {OPEN[str(t)]}"))
            if str(t) in OPEN else t for t in targets]


@pytest.mark.nojit
@pytest.mark.parametrize("target", _marked(COMPONENTS), ids=str)
def test_component_contract(target):
    suite.check(target)


@pytest.mark.parametrize("combo", COMBINATIONS, ids=str)
def test_pipeline_combination(combo):
    outcome = suite.check_combination(combo)
    assert outcome == "ok" or outcome.startswith(("incompatible: ", "infeasible: "))


@pytest.mark.parametrize("triple", suite.triples(), ids="+".join)
def test_every_compatible_triple_works_with_some_allocator(triple):
    assert suite.feasible_allocator(*triple) in registry.ids("allocator")


def test_incompatible_combinations_exist_and_are_refused():
    outcomes = [suite.check_combination(c) for c in COMBINATIONS if c.allocator == "fixed" and c.entropy_coder == "range"]
    assert any(o.startswith("incompatible: posterior lacks") for o in outcomes)
