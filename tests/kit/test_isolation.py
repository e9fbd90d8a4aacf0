"""``codecframe.testing.isolated``: a check in a child process with a time limit catches hangs and crashes."""

import os
import time

import pytest

from codecframe.builtins.allocators import FixedAllocator
from codecframe.testing import ContractViolation, check_allocator, isolated, suite
from codecframe.testing.isolation import TIMEOUT_ENV, timeout_from_env


class LoopsOnEmpty(FixedAllocator):
    """Never returns from ``allocate([])``: the kit's after-the-fact time check cannot catch this."""

    id = "kit-test-loops"

    def allocate(self, groups):
        while not groups:
            time.sleep(0.01)
        return super().allocate(groups)


def test_a_correct_check_passes_in_a_child():
    isolated(check_allocator, FixedAllocator, timeout=60)


def test_an_infinite_loop_becomes_a_violation_within_the_limit():
    t0 = time.perf_counter()
    with pytest.raises(ContractViolation, match="did not finish within 3 s"):
        isolated(check_allocator, LoopsOnEmpty, timeout=3)
    assert time.perf_counter() - t0 < 30


def test_violations_errors_and_crashes_come_back_from_the_child():
    class Drops(FixedAllocator):
        id = "kit-test-drops-child"

        def allocate(self, groups):
            return []

    with pytest.raises(ContractViolation, match="one setting per group"):
        isolated(check_allocator, Drops, timeout=60)

    def raises():
        raise KeyError("boom")

    with pytest.raises(ContractViolation, match="raised KeyError: 'boom'"):
        isolated(raises, timeout=60)
    with pytest.raises(ContractViolation, match="died with exit code 7"):
        isolated(os._exit, 7, timeout=60)


def test_suite_check_uses_the_environment_limit(monkeypatch):
    from codecframe.registry import registry

    with registry.registered(LoopsOnEmpty):
        target = suite.Target("allocator", "kit-test-loops", "<in-process>")
        monkeypatch.setenv(TIMEOUT_ENV, "2")
        with pytest.raises(ContractViolation, match="did not finish within 2 s"):
            suite.check(target)
    monkeypatch.setenv(TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="number of seconds"):
        timeout_from_env()
    monkeypatch.delenv(TIMEOUT_ENV)
    assert timeout_from_env() is None


def test_a_quantizer_that_loops_on_hostile_side_info_is_caught():
    """The realistic case: the hostile-header contract feeds junk side info, and the decoder side
    never returns. Without isolation the check itself would hang."""
    from codecframe.builtins.gaussian import GaussianPosterior
    from codecframe.builtins.uniform import UniformQuantizer
    from codecframe.coders import RangeCoder
    from codecframe.testing import check_quantizer

    class Spins(UniformQuantizer):
        id = "kit-test-spins"

        def symbol_count(self, q):
            while q.side.get("lo") == "junk":
                time.sleep(0.01)
            return super().symbol_count(q)

    with pytest.raises(ContractViolation, match="check_quantizer\\(Spins.*did not finish within 20 s"):
        isolated(check_quantizer, Spins, [GaussianPosterior], [RangeCoder()], timeout=20)
