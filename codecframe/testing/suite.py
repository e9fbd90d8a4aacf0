"""Run the contract checks over installed components and their pipeline combinations.

    from codecframe.testing import suite

    @pytest.mark.parametrize("target", suite.components(distribution="my-plugin"), ids=str)
    def test_contracts(target):
        suite.check(target)

The pytest plugin (:mod:`codecframe.testing.pytest_plugin`) parametrizes the fixtures
``codecframe_component`` and ``codecframe_combination`` the same way.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..abc import KINDS, Allocator, EntropyCoder, Posterior, Quantizer
from ..errors import IncompatibleError, InputError, RegistryError
from ..pipeline import Pipeline, decode
from ..registry import Registry, registry as default_registry
from .contracts import KIND_CHECKS, ContractViolation
from .isolation import isolated, timeout_from_env

__all__ = [
    "ContractViolation",
    "Target",
    "Combination",
    "components",
    "check",
    "combinations",
    "check_combination",
    "expected_incompatibility",
    "triples",
    "feasible_allocator",
    "GROUP_SHAPES",
]

#: Shapes of the two example groups a combination encodes.
GROUP_SHAPES: tuple[tuple[int, ...], ...] = ((32, 16), (8,))


@dataclasses.dataclass(frozen=True)
class Target:
    """One installed component: kind, id and the distribution that provides it."""

    kind: str
    id: str
    distribution: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclasses.dataclass(frozen=True)
class Combination:
    """One (posterior, quantizer, allocator, entropy coder) choice of installed component ids."""

    posterior: str
    quantizer: str
    allocator: str
    entropy_coder: str

    def __str__(self) -> str:
        return "+".join((self.posterior, self.quantizer, self.allocator, self.entropy_coder))


def _matches(reg: Registry, kind: str, cid: str, distribution: str | Iterable[str] | None) -> bool:
    if distribution is None:
        return True
    wanted = {distribution} if isinstance(distribution, str) else set(distribution)
    return reg.entry(kind, cid).distribution in {d.replace("_", "-") for d in wanted}


def components(
    kinds: Iterable[str] = tuple(KINDS),
    distribution: str | Iterable[str] | None = None,
    registry: Registry | None = None,
) -> list[Target]:
    """Installed components of ``kinds``, optionally only those from ``distribution`` (name or names)."""
    reg = registry or default_registry
    out = []
    for kind in kinds:
        for cid in reg.ids(kind):
            if _matches(reg, kind, cid, distribution):
                out.append(Target(kind, cid, reg.entry(kind, cid).distribution))
    return out


def check(target: Target, registry: Registry | None = None, timeout: float | None = None) -> None:
    """Run the contract check of ``target``'s kind on its class.

    With ``timeout`` (seconds; default: ``CODECFRAME_KIT_TIMEOUT`` if set) the check runs in a child
    process that is killed after that long (:func:`codecframe.testing.isolated`), so that a
    component caught in an infinite loop fails the check instead of hanging it.
    """
    reg = registry or default_registry
    cls = reg.get(target.kind, target.id)
    kwargs = {"registry": reg} if target.kind == "quantizer" else {}
    limit = timeout if timeout is not None else timeout_from_env()
    if limit is None:
        KIND_CHECKS[target.kind](cls, **kwargs)
    else:
        isolated(KIND_CHECKS[target.kind], cls, timeout=limit, **kwargs)


def combinations(
    distribution: str | Iterable[str] | None = None,
    partners: str | Iterable[str] | None = None,
    registry: Registry | None = None,
) -> list[Combination]:
    """Every (posterior, quantizer, allocator, coder) combination of installed ids.

    With ``distribution``, only combinations that use at least one component of it; with
    ``partners``, only components from those distributions (``distribution`` included) fill the
    other roles, e.g. ``partners="codecframe"`` pairs a plugin with the built-ins only.
    """
    reg = registry or default_registry
    roles = ("posterior", "quantizer", "allocator", "entropy_coder")
    allowed = None
    if partners is not None:
        allowed = {partners} if isinstance(partners, str) else set(partners)
        if distribution is not None:
            allowed |= {distribution} if isinstance(distribution, str) else set(distribution)
    out = []
    for ids in itertools.product(*(reg.ids(r) for r in roles)):
        if distribution is not None and not any(_matches(reg, r, i, distribution) for r, i in zip(roles, ids)):
            continue
        if allowed is not None and not all(_matches(reg, r, i, allowed) for r, i in zip(roles, ids)):
            continue
        out.append(Combination(*ids))
    return out


def expected_incompatibility(posterior: type[Posterior], quantizer: type[Quantizer], coder: type[EntropyCoder]) -> str | None:
    """Why the three classes cannot work together (from ``requires`` and ``model_kinds``), or None."""
    missing = [r.__name__ for r in quantizer.requires if not issubclass(posterior, r)]
    if missing:
        return f"posterior lacks {', '.join(missing)}"
    kinds = set(quantizer.model_kinds) - set(coder.model_kinds)
    if kinds:
        return f"coder cannot code {', '.join(sorted(kinds))} models"
    return None


def check_combination(combo: Combination, registry: Registry | None = None, seed: int = 0) -> str:
    """Build the pipeline of ``combo`` and check it end to end.

    Returns ``"ok"``, ``"incompatible: …"`` or ``"infeasible: …"``. Incompatible classes must
    raise IncompatibleError when the pipeline is built. A compatible pipeline encodes two example
    groups with each of the allocator's example configs until one succeeds, and
    ``codecframe.decode`` must then return exactly the quantizer's own reconstruction for the
    setting recorded in the header. If every example config is refused with an InputError (a
    budget the quantizer cannot meet on these groups) the outcome is "infeasible"; any other
    exception is a violation. :func:`feasible_allocator` asks that some allocator works.
    """
    reg = registry or default_registry
    pcls = reg.get("posterior", combo.posterior)
    qcls = reg.get("quantizer", combo.quantizer)
    acls: type[Allocator] = reg.get("allocator", combo.allocator)
    ccls = reg.get("entropy_coder", combo.entropy_coder)
    rng = np.random.default_rng(seed)
    quantizer = qcls(**qcls.examples()[0])
    reason = expected_incompatibility(pcls, qcls, ccls)
    parts: dict[str, Any] = {"posterior": combo.posterior, "quantizer": quantizer, "entropy_coder": combo.entropy_coder}
    if reason:
        try:
            Pipeline(**parts, allocator=acls(**acls.examples()[0]), registry=reg)
        except IncompatibleError:
            return f"incompatible: {reason}"
        raise ContractViolation(f"{combo}: {reason}, but building the pipeline did not raise IncompatibleError")
    quantizer.fit([pcls.example(rng, GROUP_SHAPES[0]) for _ in range(2)])
    groups = {"a": pcls.example(rng, GROUP_SHAPES[0]), "b.x": pcls.example(rng, GROUP_SHAPES[1])}
    refusals = []
    for options in acls.examples():
        pipe = Pipeline(**parts, allocator=acls(**options), registry=reg)
        try:
            data = pipe.encode(groups, meta={"case": str(combo)}, extras={"e": np.arange(3.0)})
        except InputError as exc:
            refusals.append(f"{json.dumps(options)}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - reported with the combination that raised it
            raise ContractViolation(f"{combo}: encoding raised {type(exc).__name__}: {exc}") from exc
        _check_decoded(combo, pipe, groups, data, reg)
        return "ok"
    return "infeasible: " + "; ".join(refusals)


def triples(registry: Registry | None = None) -> list[tuple[str, str, str]]:
    """Every compatible (posterior, quantizer, entropy coder) of installed, loadable ids."""
    reg = registry or default_registry
    out = []
    for p, q, c in itertools.product(reg.ids("posterior"), reg.ids("quantizer"), reg.ids("entropy_coder")):
        try:
            classes = reg.get("posterior", p), reg.get("quantizer", q), reg.get("entropy_coder", c)
        except RegistryError:
            continue
        if expected_incompatibility(*classes) is None:
            out.append((p, q, c))
    return out


def feasible_allocator(posterior: str, quantizer: str, entropy_coder: str, registry: Registry | None = None) -> str:
    """The first installed allocator with which the triple encodes and decodes ("ok"); a
    ContractViolation if none can (every allocator infeasible)."""
    reg = registry or default_registry
    outcomes = {}
    for aid in reg.ids("allocator"):
        outcome = check_combination(Combination(posterior, quantizer, aid, entropy_coder), reg)
        if outcome == "ok":
            return aid
        outcomes[aid] = outcome
    raise ContractViolation(f"{posterior}+{quantizer}+{entropy_coder}: no allocator works: {outcomes}")


def _check_decoded(combo: Combination, pipe: Pipeline, groups: dict[str, Posterior], data: bytes, reg: Registry) -> None:
    out = decode(data, registry=reg)
    if set(out.arrays) != set(groups) or out.meta != {"case": str(combo)} or not np.array_equal(out.extras["e"], np.arange(3.0)):
        raise ContractViolation(f"{combo}: decode() lost groups, meta or extras")
    for rec in out.header["groups"]:
        name = rec["name"]
        expected = pipe.quantizer.dequantize(pipe.quantizer.quantize(groups[name], rec["setting"]))
        got = out.arrays[name]
        if got.dtype != expected.dtype or got.shape != expected.shape or got.tobytes() != expected.tobytes():
            raise ContractViolation(f"{combo}: group {name!r} decodes differently from the quantizer's reconstruction")
