"""The public kit run over everything installed: every component's contract and every pipeline combination."""

import pytest

from codecframe.testing import suite

COMPONENTS = suite.components()
COMBINATIONS = suite.combinations()


def test_core_components_are_found():
    ids = {str(t) for t in COMPONENTS}
    assert {"posterior:gaussian", "quantizer:uniform", "allocator:fixed", "allocator:lagrangian",
            "entropy_coder:range", "entropy_coder:rans"} <= ids


@pytest.mark.nojit
@pytest.mark.parametrize("target", COMPONENTS, ids=str)
def test_component_contract(target):
    suite.check(target)


@pytest.mark.parametrize("combo", COMBINATIONS, ids=str)
def test_pipeline_combination(combo):
    outcome = suite.check_combination(combo)
    assert outcome == "ok" or outcome.startswith("incompatible: ")
