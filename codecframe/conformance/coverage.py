"""Which vectors exercise which spec section (the tables in the specs and ``docs/conformance.md``)."""

from __future__ import annotations

import re
from collections.abc import Collection

from .corpus import Corpus, CorpusError, Vector

__all__ = ["coverage", "coverage_table", "vector_table", "replace_marked", "START", "END"]

#: Markers around a generated coverage table in a Markdown file.
START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"
_SECTION = re.compile(r"(?P<spec>[a-z0-9-]+) §(?P<num>[0-9.]+)")


def _key(section: str) -> tuple[str, tuple[int, ...]]:
    m = _SECTION.fullmatch(section)
    if not m:
        return (section, ())
    return (m["spec"], tuple(int(p) for p in m["num"].split(".") if p))


def _vectors(corpus: Corpus, names: Collection[str] | None) -> list[Vector]:
    return [corpus.vector(n) for n in corpus.names() if names is None or n in names]


def coverage(corpus: Corpus, names: Collection[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """``{section: {"positive": [names], "negative": [names]}}`` in spec order (of the vectors in ``names``)."""
    table: dict[str, dict[str, list[str]]] = {}
    for vector in _vectors(corpus, names):
        for section in vector.case.get("spec_sections", []):
            table.setdefault(section, {"positive": [], "negative": []})[vector.kind].append(vector.name)
    return {s: table[s] for s in sorted(table, key=_key)}


def coverage_table(corpus: Corpus, spec: str | None = None, vectors: Collection[str] | None = None) -> str:
    """A Markdown table of :func:`coverage`, optionally for one spec (``"bitstream"``, ``"vbq"``, …)."""
    lines = ["| section | positive vectors | negative vectors |", "|---|---|---|"]
    for section, names in coverage(corpus, vectors).items():
        if spec and _key(section)[0] != spec:
            continue
        pos = ", ".join(f"`{n}`" for n in names["positive"]) or "—"
        neg = ", ".join(f"`{n}`" for n in names["negative"]) or "—"
        lines.append(f"| {section} | {pos} | {neg} |")
    return "\n".join(lines)


def vector_table(corpus: Corpus, spec: str, names: Collection[str] | None = None) -> str:
    """A Markdown list of the vectors that exercise ``spec``: what each checks and its expected outcome."""
    lines = ["| vector | kind | sections | expected |", "|---|---|---|---|"]
    for vector in _vectors(corpus, names):
        sections = [s for s in vector.case.get("spec_sections", []) if _key(s)[0] == spec]
        if not sections:
            continue
        if vector.kind == "positive":
            groups = vector.case["groups"]
            sym = "; ".join(f"`{g['name']}` symbols `{g['symbols_sha256'][:16]}…`" + _within(g) for g in groups)
            exact = not any(_within(g) for g in groups)
            expected = f"decodes exactly ({sym})" if exact else f"symbols exact, values within tolerance ({sym})"
        else:
            expected = f"*{vector.case['expected_error']}*"
        nums = ", ".join(f"§{s.split('§', 1)[1]}" for s in sections)
        lines.append(f"| `{vector.name}` | {vector.kind} | {nums} | {expected} |")
    return "\n".join(lines)


def _within(group: dict) -> str:
    """``", values within max-abs A, RMSE R"`` for a group with a non-zero tolerance, else ``""``."""
    tol = group.get("tolerance") or {}
    if not any(tol.values()):
        return ""
    return f", values within max-abs {tol.get('max_abs', 0.0):g}, RMSE {tol.get('rmse', 0.0):g}"


def replace_marked(text: str, table: str) -> str:
    """``text`` with the lines between the coverage markers replaced by ``table``."""
    head, sep, rest = text.partition(START)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise CorpusError(f"no {START} ... {END} block to update")
    return f"{head}{START}\n{table}\n{END}{tail}"
