"""Greedy knapsack bit allocation (marginal analysis) and a preset allocator.

:func:`greedy_knapsack` works on *units*, each with options ``(cost, distortion)``. Every unit
starts at its cheapest option; then, repeatedly, the upgrade with the largest distortion reduction
per unit of cost (along the unit's lower convex hull, so diminishing returns hold) is taken if it
fits the budget; an upgrade that does not fit retires its unit (Fox 1966; Shoham & Gersho 1988).
Until the first retirement the allocation is a lower-convex-hull point, optimal for its own cost.

:class:`KnapsackAllocator` applies it to pipeline groups with the hardware constraints of BayesQ:
an allowed bit set, units that must share a width (whole layers or aligned groups of rows), and
pinned first/last layers. Group names ``"<layer>#<index>"`` mark rows of one layer; any other
name is a layer of its own.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numba import njit

from codecframe.abc import Allocator
from codecframe.errors import ConfigError, InputError
from codecframe.types import AllocationGroup

__all__ = ["greedy_knapsack", "lower_hull", "KnapsackAllocator", "PresetAllocator", "layer_of"]


@njit(cache=True)
def _lower_hull(cost: np.ndarray, dist: np.ndarray, n: int, out: np.ndarray) -> int:
    """Writes the hull of the first ``n`` options into ``out`` and returns its length (see :func:`lower_hull`)."""
    order = np.empty(n, np.int64)
    for i in range(n):  # stable insertion sort by (cost, dist)
        j = i
        while j > 0 and (cost[order[j - 1]] > cost[i] or (cost[order[j - 1]] == cost[i] and dist[order[j - 1]] > dist[i])):
            order[j] = order[j - 1]
            j -= 1
        order[j] = i
    h = 0
    for idx in range(n):
        i = order[idx]
        if h > 0 and (cost[i] == cost[out[h - 1]] or dist[i] >= dist[out[h - 1]]):
            continue
        while h >= 2:
            a, b = out[h - 2], out[h - 1]
            # b is on or above the segment a -> i: drop it (cross product sign).
            if (dist[b] - dist[a]) * (cost[i] - cost[a]) >= (dist[i] - dist[a]) * (cost[b] - cost[a]):
                h -= 1
            else:
                break
        out[h] = i
        h += 1
    return h


def lower_hull(cost: np.ndarray, dist: np.ndarray) -> list[int]:
    """Indices (by increasing cost) of the lower convex hull of the points, starting at the cheapest.

    Options that cost more without lowering distortion are never on it.
    """
    c, d = np.ascontiguousarray(cost, np.float64), np.ascontiguousarray(dist, np.float64)
    out = np.empty(len(c), np.int64)
    return [int(i) for i in out[:_lower_hull(c, d, len(c), out)]]


@njit(cache=True)
def _greedy(costs: np.ndarray, dists: np.ndarray, n_opts: np.ndarray, budget: float, fill: bool,
            picks: np.ndarray) -> float:
    """Marginal analysis on padded ``(units, options)`` tables; writes the picks, returns the cheapest
    total cost (the picks are not written when it exceeds the budget)."""
    units = costs.shape[0]
    hulls = np.empty(costs.shape, np.int64)
    length = np.empty(units, np.int64)
    pos = np.zeros(units, np.int64)
    spent = 0.0
    for u in range(units):
        length[u] = _lower_hull(costs[u], dists[u], n_opts[u], hulls[u])
        spent += costs[u, hulls[u, 0]]
    cheapest = spent
    if spent > budget * (1 + 1e-12):
        return cheapest
    limit = budget * (1 + 1e-12)
    heap = [(0.0, 0, 0)]
    heap.pop()
    for u in range(units):
        if length[u] > 1:
            a, b = hulls[u, 0], hulls[u, 1]
            heapq.heappush(heap, (-((dists[u, a] - dists[u, b]) / (costs[u, b] - costs[u, a])), u, 0))
    while len(heap) > 0:
        _, u, p = heapq.heappop(heap)
        extra = costs[u, hulls[u, p + 1]] - costs[u, hulls[u, p]]
        if spent + extra <= limit:
            spent += extra
            pos[u] = p + 1
            if p + 2 < length[u]:
                a, b = hulls[u, p + 1], hulls[u, p + 2]
                heapq.heappush(heap, (-((dists[u, a] - dists[u, b]) / (costs[u, b] - costs[u, a])), u, p + 1))
        elif not fill:
            break
    for u in range(units):
        picks[u] = hulls[u, pos[u]]
    return cheapest


def greedy_knapsack(costs: Sequence[Sequence[float]], dists: Sequence[Sequence[float]], budget: float,
                    fill: bool = True) -> list[int]:
    """Pick one option per unit with total cost <= ``budget``, greedily maximising distortion saved per cost.

    Every unit starts at its cheapest option; the upgrade with the largest distortion reduction per
    cost along a unit's lower convex hull is taken if it fits (ties: lower unit index first).
    Returns the chosen option index per unit. With ``fill=False`` the greedy stops at the first
    upgrade that does not fit (a lower-convex-hull point, optimal for the cost it spends); by default
    it goes on with the upgrades that still fit. Raises InputError if even the cheapest options
    exceed the budget.
    """
    n_opts = np.array([len(c) for c in costs], np.int64)
    width = int(n_opts.max()) if len(n_opts) else 1
    c_tab, d_tab = np.zeros((len(costs), width)), np.zeros((len(costs), width))
    for u, (c, d) in enumerate(zip(costs, dists)):
        c_tab[u, :len(c)], d_tab[u, :len(d)] = c, d
    return _greedy_tables(c_tab, d_tab, n_opts, float(budget), fill).tolist()


def _greedy_tables(costs: np.ndarray, dists: np.ndarray, n_opts: np.ndarray, budget: float, fill: bool) -> np.ndarray:
    picks = np.empty(costs.shape[0], np.int64)
    cheapest = _greedy(costs, dists, n_opts, budget, fill, picks)
    if cheapest > budget * (1 + 1e-12):
        raise InputError(f"budget of {budget:.6g} is below the cheapest allocation ({cheapest:.6g})")
    return picks


@njit(cache=True)
def _certify(costs: np.ndarray, dists: np.ndarray, n_opts: np.ndarray, known: np.ndarray, picks: np.ndarray,
             ok: np.ndarray) -> None:
    for u in range(costs.shape[0]):
        n = n_opts[u]
        hull = np.empty(n, np.int64)
        length = _lower_hull(costs[u], dists[u], n, hull)
        pos = 0
        while hull[pos] != picks[u]:
            pos += 1
        good = True
        for j in range(min(pos + 1, length - 1) + 1):
            if not known[u, hull[j]]:
                good = False
        for j in range(min(pos + 1, length - 1)):
            v, w = hull[j], hull[j + 1]
            slope = (dists[u, v] - dists[u, w]) / (costs[u, w] - costs[u, v])
            for b in range(n):
                if good and not known[u, b] and costs[u, b] > costs[u, v] and \
                        not dists[u, v] / (costs[u, b] - costs[u, v]) < slope * (1.0 - 1e-9):
                    good = False
        ok[u] = good


def hull_certificate(costs: np.ndarray, dists: np.ndarray, n_opts: np.ndarray, known: np.ndarray,
                     picks: np.ndarray) -> np.ndarray:
    """Per unit: whether the greedy's picks stay the same whatever the unknown distortions are.

    ``dists`` holds lower bounds (e.g. 0) where ``known`` is False, and ``known`` must be a prefix of
    each unit's options in cost order. With ``fill`` the greedy examines, for each unit, the hull
    segments it took and the one after (rejected). A unit is certified when those segments join
    known options and every unknown option's optimistic slope ``D_v / (c_b - c_v)`` stays below
    (by a relative 1e-9) the slope of each examined segment from ``v``: then the true hull has the
    same examined prefix. If every unit is certified, the run with the true distortions examines the
    same segments in the same order and returns the same picks.
    """
    ok = np.empty(costs.shape[0], np.bool_)
    _certify(costs, dists, n_opts, known, picks, ok)
    return ok


def layer_of(name: str) -> str:
    """The layer a group belongs to: the part of its name before ``#`` (the whole name if none)."""
    return name.split("#", 1)[0]


def _index_of(name: str) -> int:
    tail = name.split("#", 1)[1] if "#" in name else "0"
    try:
        return int(tail)
    except ValueError:
        raise InputError(f"group name {name!r}: the part after '#' must be a row index") from None


def _bits_of(setting: Mapping[str, Any], where: str) -> float:
    bits = setting.get("bits")
    if isinstance(bits, bool) or not isinstance(bits, (int, float)):
        raise InputError(f"{where}: rate 'code' needs settings with a numeric 'bits', got {dict(setting)!r}")
    return float(bits)


class KnapsackAllocator(Allocator):
    """Greedy knapsack under an average budget of ``avg_bits`` per element.

    ``rate``: ``"estimate"`` (default) counts the quantizer's estimated bits (entropy-coded, side info
    included), so it works with any quantizer; ``"code"`` counts ``setting["bits"]`` per element (the
    fixed-length code budget BayesQ matches) and rejects a budget above the largest allocation. ``allowed_bits`` (code rate only) restricts the widths; ``share``
    ties units to one width: ``"none"``, ``"layer"`` or ``"aligned:K"`` (rows ``K·j .. K·j+K-1`` of a
    layer); ``pin_first``/``pin_last`` (bits or null) fix the first/last layer, ``pin`` fixes named layers.
    """

    id = "knapsack"

    @dataclasses.dataclass(frozen=True)
    class Config:
        avg_bits: float = 3.5
        rate: str = "estimate"
        allowed_bits: tuple[float, ...] | None = None
        share: str = "none"
        pin_first: float | None = None
        pin_last: float | None = None
        pin: dict[str, Any] = dataclasses.field(default_factory=dict)

        def __post_init__(self) -> None:
            where = "allocator 'knapsack'"
            if not self.avg_bits > 0:
                raise ConfigError(f"{where}: avg_bits must be > 0, got {self.avg_bits}")
            if self.rate not in ("code", "estimate"):
                raise ConfigError(f"{where}: rate must be 'code' or 'estimate', got {self.rate!r}")
            if self.allowed_bits is not None and (not self.allowed_bits or min(self.allowed_bits) <= 0):
                raise ConfigError(f"{where}: allowed_bits must be a non-empty list of positive widths")
            if self.allowed_bits is not None and self.rate != "code":
                raise ConfigError(f"{where}: allowed_bits needs rate 'code'")
            if self.share not in ("none", "layer") and not _aligned(self.share):
                raise ConfigError(f"{where}: share must be 'none', 'layer' or 'aligned:K' with K >= 1, got {self.share!r}")
            pins = [self.pin_first, self.pin_last, *self.pin.values()]
            if any(isinstance(p, bool) or not (p is None or isinstance(p, (int, float))) or (p is not None and p <= 0)
                   for p in pins):
                raise ConfigError(f"{where}: pinned widths must be positive numbers")
            if (self.pin_first is not None or self.pin_last is not None or self.pin) and self.rate != "code":
                raise ConfigError(f"{where}: pinning widths needs rate 'code'")

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}, {"avg_bits": 2.0, "share": "layer"}, {"avg_bits": 8.0, "share": "aligned:2"}]

    # ------------------------------------------------------------------ units
    def _key(self, name: str) -> tuple[str, int]:
        layer = layer_of(name)
        if self.config.share == "layer":
            return layer, 0
        if self.config.share == "none":
            return name, 0
        return layer, _index_of(name) // _aligned(self.config.share)

    def _pins(self, layers: Sequence[str]) -> dict[str, float]:
        """Pinned width per layer name (``layers`` in order: the first and last are pinned by position)."""
        pins = {k: float(v) for k, v in self.config.pin.items()}
        unknown = set(pins) - set(layers)
        if unknown:
            raise InputError(f"allocator 'knapsack': pinned layer(s) {', '.join(sorted(unknown))} not among the groups")
        if self.config.pin_first is not None:
            pins.setdefault(layers[0], float(self.config.pin_first))
        if self.config.pin_last is not None:
            pins.setdefault(layers[-1], float(self.config.pin_last))
        return pins

    def allocate(self, groups: Sequence[AllocationGroup]) -> list[dict[str, Any]]:
        cfg = self.config
        if not groups:
            return []
        for g in groups:
            if not g.options:
                raise InputError(f"allocator 'knapsack': group {g.name!r} has no rate options")
        pins = self._pins(list(dict.fromkeys(layer_of(g.name) for g in groups)))
        allowed = None if cfg.allowed_bits is None else {float(b) for b in cfg.allowed_bits}
        # Per group: usable options as {width key: (cost, distortion, setting)}; the cost is the code
        # bits (width × size) or the quantizer's estimated bits.
        table: list[dict[Any, tuple[float, float, Mapping[str, Any]]]] = []
        code = cfg.rate == "code"
        for g in groups:
            opts: dict[Any, tuple[float, float, Mapping[str, Any]]] = {}
            pinned = pins.get(layer_of(g.name))
            for i, o in enumerate(g.options):
                key: Any = _bits_of(o.setting, f"group {g.name!r}") if code else i
                if allowed is not None and key not in allowed:
                    continue
                if pinned is not None and key != pinned:
                    continue
                opts[key] = (key * g.size if code else o.bits, float(o.distortion), o.setting)
            if not opts:
                why = f"pinned to {pinned:g} bits" if pinned is not None else "within allowed_bits"
                raise InputError(f"allocator 'knapsack': group {g.name!r} has no option {why}")
            table.append(opts)
        units: dict[tuple[str, int], list[int]] = {}
        for i, g in enumerate(groups):
            units.setdefault(self._key(g.name), []).append(i)
        unit_keys, costs, dists = [], [], []
        for members in units.values():
            common = set(table[members[0]])
            for i in members[1:]:
                common &= set(table[i])
            if not common:
                raise InputError(f"allocator 'knapsack': groups {', '.join(groups[i].name for i in members)} "
                                 "must share a width but have no option in common")
            keys = sorted(common)
            unit_keys.append(keys)
            costs.append([sum(table[i][k][0] for i in members) for k in keys])
            dists.append([sum(table[i][k][1] for i in members) for k in keys])
        total = sum(g.size for g in groups)
        budget = self._budget(total, sum(min(c) for c in costs), sum(max(c) for c in costs))
        picks = greedy_knapsack(costs, dists, budget)
        out: list[dict[str, Any]] = [{}] * len(groups)
        for members, keys, p in zip(units.values(), unit_keys, picks):
            for i in members:
                out[i] = dict(table[i][keys[p]][2])
        return out


    def _budget(self, total: int, cheapest: float, dearest: float) -> float:
        """The budget in bits for ``total`` elements; raises if it is outside the allowed allocations."""
        cfg = self.config
        budget = cfg.avg_bits * total
        if cheapest > budget * (1 + 1e-12):
            raise InputError(f"allocator 'knapsack': budget of {cfg.avg_bits:g} bits per element is below the "
                             f"smallest allowed allocation ({cheapest / total:.4g} bits per element)")
        if cfg.rate == "code" and budget > dearest * (1 + 1e-12):
            raise InputError(f"allocator 'knapsack': budget of {cfg.avg_bits:g} bits per element is above the "
                             f"largest allowed allocation ({dearest / total:.4g} bits per element)")
        return budget

    def allocate_rows(self, layers: Sequence[tuple[str, int, int]], widths: Sequence[int],
                      dists: Mapping[str, np.ndarray], known: Mapping[str, np.ndarray] | None = None
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """:meth:`allocate` from arrays, for groups that are the rows of layers (rate "code", share "none").

        ``layers``: ``(name, rows, cols)`` in order; row ``r`` of ``name`` stands for the group
        ``"name#r"`` of ``cols`` elements with options ``{"bits": w}`` for the ascending ``widths``,
        of distortion ``dists[name][r, j]``. Returns each layer's chosen widths (the same as
        :meth:`allocate` on those groups) and the rows whose result is not certified: with ``known``
        (per layer, a mask over ``dists`` that is a prefix of the widths in every row, the other
        distortions being lower bounds such as 0), see :func:`hull_certificate`; without it, none.
        """
        cfg = self.config
        if cfg.rate != "code" or cfg.share != "none":
            raise ConfigError("allocator 'knapsack': allocate_rows needs rate 'code' and share 'none'")
        names = [name for name, _, _ in layers]
        pins = self._pins(names)
        w = np.asarray(widths, np.float64)
        allowed = np.ones(len(w), bool) if cfg.allowed_bits is None else np.isin(w, [float(b) for b in cfg.allowed_bits])
        cost_rows, dist_rows, known_rows, opts, usable = [], [], [], [], []
        for name, rows, cols in layers:
            sel = allowed & (w == pins[name]) if name in pins else allowed
            if not sel.any():
                why = f"pinned to {pins[name]:g} bits" if name in pins else "within allowed_bits"
                raise InputError(f"allocator 'knapsack': group {name + '#0'!r} has no option {why}")
            d = np.asarray(dists[name], np.float64)
            cost_rows.append(np.broadcast_to(w[sel] * cols, (rows, int(sel.sum()))))
            dist_rows.append(d[:, sel])
            known_rows.append(np.ones(d[:, sel].shape, bool) if known is None else np.asarray(known[name])[:, sel])
            opts.append(np.full(rows, int(sel.sum()), np.int64))
            usable.append(np.flatnonzero(sel))
        width = max(c.shape[1] for c in cost_rows)

        def stack(parts: list[np.ndarray], fill: Any) -> np.ndarray:
            out = np.full((sum(a.shape[0] for a in parts), width), fill, dtype=np.asarray(parts[0]).dtype)
            start = 0
            for a in parts:
                out[start:start + a.shape[0], :a.shape[1]] = a
                start += a.shape[0]
            return out

        costs, table, n_opts = stack(cost_rows, 0.0), stack(dist_rows, 0.0), np.concatenate(opts)
        total = sum(rows * cols for _, rows, cols in layers)
        cheapest = float(sum(c.min(axis=1).sum() for c in cost_rows))
        dearest = float(sum(c.max(axis=1).sum() for c in cost_rows))
        picks = _greedy_tables(costs, table, n_opts, self._budget(total, cheapest, dearest), True)
        ok = None if known is None else hull_certificate(costs, table, n_opts, stack(known_rows, False), picks)
        out, failing, start = {}, {}, 0
        for (name, rows, _), cols_used in zip(layers, usable):
            out[name] = np.asarray(widths)[cols_used[picks[start:start + rows]]]
            failing[name] = np.zeros(rows, bool) if ok is None else ~ok[start:start + rows]
            start += rows
        return out, failing


def _aligned(share: str) -> int:
    """K of ``"aligned:K"`` (0 if ``share`` is not of that form)."""
    if not isinstance(share, str) or not share.startswith("aligned:"):
        return 0
    try:
        k = int(share.split(":", 1)[1])
    except ValueError:
        return 0
    return k if k >= 1 else 0


class PresetAllocator(Allocator):
    """Settings chosen beforehand in code (e.g. BayesQ's per-row knapsack) via :meth:`assign`;
    unassigned groups get the quantizer's default setting.

    The chosen settings are recorded per group in the container, so the config stays empty; a
    pipeline rebuilt from a file decodes, but encoding again needs a new :meth:`assign`.
    """

    id = "preset"
    needs_estimates = False

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._settings: dict[str, dict[str, Any]] = {}

    def assign(self, settings: Mapping[str, Mapping[str, Any]]) -> PresetAllocator:
        self._settings = {str(k): dict(v) for k, v in settings.items()}
        return self

    def allocate(self, groups: Sequence[AllocationGroup]) -> list[dict[str, Any]]:
        """The assigned setting of each group; groups without one get their default setting."""
        return [dict(self._settings.get(g.name, g.default)) for g in groups]
