"""Core allocators: the same setting everywhere, or one Lagrange multiplier with bisection to a target rate."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..abc import Allocator
from ..errors import ConfigError, InputError
from ..types import AllocationGroup

__all__ = ["FixedAllocator", "LagrangianAllocator"]


class FixedAllocator(Allocator):
    """Every group gets ``setting`` (or the quantizer's default setting when ``setting`` is null)."""

    id = "fixed"
    needs_estimates = False

    @dataclasses.dataclass(frozen=True)
    class Config:
        setting: dict[str, Any] | None = None

    def allocate(self, groups: Sequence[AllocationGroup]) -> list[dict[str, Any]]:
        chosen = self.config.setting
        return [dict(chosen) if chosen is not None else dict(g.default) for g in groups]


def _choose(groups: Sequence[AllocationGroup], lam: float) -> tuple[list[int], float]:
    """Per group the option minimising D + λR (ties go to the lower rate); returns picks and total bits."""
    picks, total = [], 0.0
    for g in groups:
        best, best_key = 0, None
        for i, o in enumerate(g.options):
            key = (o.distortion + lam * o.bits if math.isfinite(lam) else 0.0, o.bits)
            if best_key is None or key < best_key:
                best, best_key = i, key
        picks.append(best)
        total += g.options[best].bits
    return picks, total


class LagrangianAllocator(Allocator):
    """One λ for all groups: each group takes the option minimising ``distortion + λ · bits``.

    Give exactly one of ``lam`` (used as is), ``target_bpe`` (bits per element over all groups) or
    ``target_bytes`` (total payload bytes); for a target, λ is found by bisection in log space as
    the smallest λ whose total estimated rate meets it, i.e. the best quality within the budget.
    Rates are the quantizer's estimates (ideal code length plus side info); the container's fixed
    header is not counted.
    """

    id = "lagrangian"

    @dataclasses.dataclass(frozen=True)
    class Config:
        lam: float | None = None
        target_bpe: float | None = None
        target_bytes: int | None = None
        iterations: int = 100

        def __post_init__(self) -> None:
            given = [k for k in ("lam", "target_bpe", "target_bytes") if getattr(self, k) is not None]
            if len(given) != 1:
                raise ConfigError(
                    f"allocator 'lagrangian': give exactly one of lam, target_bpe, target_bytes (got {given or 'none'})"
                )
            value = getattr(self, given[0])
            if not value > 0:
                raise ConfigError(f"allocator 'lagrangian': {given[0]} must be > 0, got {value!r}")
            if not 1 <= self.iterations <= 10_000:
                raise ConfigError(f"allocator 'lagrangian': iterations must be in [1, 10000], got {self.iterations}")

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{"target_bpe": 2.0}, {"lam": 0.01}, {"target_bytes": 200}]

    def _target_bits(self, groups: Sequence[AllocationGroup]) -> float:
        if self.config.target_bytes is not None:
            return 8.0 * self.config.target_bytes
        return float(self.config.target_bpe) * sum(g.size for g in groups)

    def allocate(self, groups: Sequence[AllocationGroup]) -> list[dict[str, Any]]:
        for g in groups:
            if not g.options:
                raise InputError(f"allocator 'lagrangian': group {g.name!r} has no rate options")
        if self.config.lam is not None:
            picks, _ = _choose(groups, float(self.config.lam))
        else:
            picks = self._bisect(groups, self._target_bits(groups))
        return [dict(g.options[i].setting) for g, i in zip(groups, picks)]

    def _bisect(self, groups: Sequence[AllocationGroup], target: float) -> list[int]:
        picks, bits = _choose(groups, 0.0)
        if bits <= target:
            return picks
        floor_picks, floor_bits = _choose(groups, math.inf)
        if floor_bits > target:
            raise InputError(
                f"allocator 'lagrangian': target of {target:.0f} bits is unreachable; "
                f"the lowest rate the quantizer offers is {floor_bits:.0f} bits"
            )
        lo, hi = -60.0, 60.0  # log2 λ bracket; above it every group sits at its lowest-rate option
        best = floor_picks
        for _ in range(self.config.iterations):
            mid = 0.5 * (lo + hi)
            picks, bits = _choose(groups, float(np.exp2(mid)))
            if bits <= target:
                best, hi = picks, mid
            else:
                lo = mid
        return best
