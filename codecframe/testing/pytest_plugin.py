"""pytest plugin: contract tests for installed components without writing a parametrization.

Enable it with ``-p codecframe.testing.pytest_plugin`` (or through the ``pytest11`` entry point of
the codecframe distribution). It parametrizes two fixtures over what is installed:

- ``codecframe_component``: a :class:`~codecframe.testing.suite.Target` per component;
- ``codecframe_combination``: a :class:`~codecframe.testing.suite.Combination` per pipeline
  combination.

``--codecframe-distribution NAME`` (repeatable) limits both to components of those distributions, and
``--codecframe-partners NAME`` (repeatable) fills the other pipeline roles only from those, and
``--codecframe-timeout SECONDS`` runs each ``suite.check`` in a child process with that time limit
(:func:`codecframe.testing.isolated`)::

    def test_contracts(codecframe_component):
        suite.check(codecframe_component)

    def test_pipelines(codecframe_combination):
        suite.check_combination(codecframe_combination)
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("codecframe")
    group.addoption(
        "--codecframe-distribution",
        action="append",
        default=None,
        metavar="NAME",
        help="limit codecframe contract tests to components from this distribution (repeatable)",
    )
    group.addoption(
        "--codecframe-partners",
        action="append",
        default=None,
        metavar="NAME",
        help="fill the other pipeline roles of codecframe_combination only from these distributions (repeatable)",
    )
    group.addoption(
        "--codecframe-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run suite.check in a child process killed after SECONDS (catches infinite loops; sets CODECFRAME_KIT_TIMEOUT)",
    )


def pytest_configure(config: pytest.Config) -> None:
    seconds = config.getoption("codecframe_timeout", None)
    if seconds is not None:
        from .isolation import TIMEOUT_ENV  # on first use, like the suite below

        os.environ[TIMEOUT_ENV] = repr(seconds)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    from . import suite  # on first use: every pytest run in an environment with codecframe loads this plugin

    dists = metafunc.config.getoption("codecframe_distribution", None)
    if "codecframe_component" in metafunc.fixturenames:
        metafunc.parametrize("codecframe_component", suite.components(distribution=dists), ids=str)
    if "codecframe_combination" in metafunc.fixturenames:
        partners = metafunc.config.getoption("codecframe_partners", None)
        metafunc.parametrize("codecframe_combination", suite.combinations(dists, partners), ids=str)
