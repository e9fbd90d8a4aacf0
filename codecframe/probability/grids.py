"""Integer grids of the standardized CDFs behind :class:`ParametricModel` (``specs/range-coder.md`` §6.2).

``grid(family)[j] = floor(F(-X + j * 2^-s) * 2^32 + 1/2)``, the exactly rounded value of the
family's standard CDF ``F`` at grid point ``j``, for ``(X, s) = GRID_SHAPES[family]``. The values
are committed in :mod:`._grid_data` (an independent implementation recomputes them with any
arbitrary-precision library); :func:`exact_grid` regenerates them with :mod:`decimal`.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np

from ._grid_data import GRID_VALUES

__all__ = ["FAMILIES", "GRID_SHAPES", "GRID_BITS", "grid", "exact_grid"]

#: Family name -> (X, s): grid points -X, -X + 2^-s, ..., X.
GRID_SHAPES: dict[str, tuple[int, int]] = {"gaussian": (8, 7), "laplace": (24, 6), "logistic": (24, 6)}
FAMILIES: tuple[str, ...] = tuple(GRID_SHAPES)
#: Grid values are fixed-point fractions with this many bits.
GRID_BITS = 32

_GRIDS = {name: np.asarray(GRID_VALUES[name], np.int64) for name in FAMILIES}
for _arr in _GRIDS.values():
    _arr.flags.writeable = False


def grid(family: str) -> np.ndarray:
    """The committed int64 grid of ``family`` (read-only)."""
    return _GRIDS[family]


def _pi() -> Decimal:
    """pi by Machin's formula in the current decimal context."""

    def atan_inv(n: int) -> Decimal:
        x = Decimal(1) / n
        x2, term, total, k = x * x, x, x, 1
        while True:
            term *= -x2
            k += 2
            nxt = total + term / k
            if nxt == total:
                return total
            total = nxt

    return 16 * atan_inv(5) - 4 * atan_inv(239)


def _standard_cdf(family: str, x: Decimal, pi: Decimal) -> Decimal:
    if family == "laplace":
        return Decimal(1) / 2 * x.exp() if x < 0 else 1 - Decimal(1) / 2 * (-x).exp()
    if family == "logistic":
        return 1 / (1 + (-x).exp())
    # Gaussian: 1/2 + phi(x) * sum_n x^(2n+1) / (2n+1)!!  (every term has the sign of x)
    x2, term, total, n = x * x, x, x, 0
    while True:
        n += 1
        term = term * x2 / (2 * n + 1)
        nxt = total + term
        if nxt == total and n > x2:
            break
        total = nxt
    return Decimal(1) / 2 + (-x2 / 2).exp() / (2 * pi).sqrt() * total


def exact_grid(family: str, indexes: list[int] | None = None) -> list[int]:
    """Exactly rounded grid values (all, or at ``indexes``) computed with 90-digit decimals."""
    bound, shift = GRID_SHAPES[family]
    count = 2 * bound * (1 << shift) + 1
    out = []
    with localcontext() as ctx:
        ctx.prec = 90
        pi = _pi()
        scale = Decimal(1 << GRID_BITS)
        for j in range(count) if indexes is None else indexes:
            x = Decimal(-bound) + Decimal(j) / Decimal(1 << shift)
            value = _standard_cdf(family, x, pi) * scale + Decimal(1) / 2
            floor = int(value.to_integral_value(rounding="ROUND_FLOOR"))
            if abs(value - floor) < Decimal(10) ** -40 and value != floor:
                raise ArithmeticError(f"{family} grid point {j} is too close to a rounding tie")
            out.append(floor)
    return out
