"""Docstring examples of the public core modules run as tests, so they cannot rot."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["codecframe", "codecframe.pipeline", "codecframe.probability"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if module == "codecframe":
        assert result.attempted >= 4
