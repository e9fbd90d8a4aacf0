"""``codecframe conformance``: run the vector corpus against a decoder, add new vectors, show coverage.

Also runnable on its own: ``python -m codecframe.cli.conformance_cmd run``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import assets
from ..conformance import CommandDecoder, Corpus, InProcessDecoder, case_sets, default_corpus, generate, run
from ..conformance.coverage import coverage_table, replace_marked, vector_table
from ..conformance.decoding import decode_with_symbols
from ..conformance.runner import ASSETS_ENV
from ..errors import CodecframeError, InputError
from ..io import atomic_write, read_bytes

__all__ = ["register", "main"]


def register(sub: argparse._SubParsersAction) -> None:
    conf = sub.add_parser("conformance", help="conformance vectors: check a decoder, add vectors, show coverage")
    csub = conf.add_subparsers(dest="conformance_command", metavar="ACTION", required=True)

    p = csub.add_parser("run", help="decode every vector and print a pass/fail table")
    p.add_argument("--decoder", metavar="CMD", help='external decoder command with {in} and {out}, e.g. "./dec {in} {out} '
                   '{assets}" ({assets} and $CODECFRAME_CONFORMANCE_ASSETS: the asset store; default: this installation, '
                   "in-process)")
    p.add_argument("--corpus", type=Path, help=f"vector directory (default: {default_corpus()})")
    p.add_argument("--results", type=Path, metavar="OUT.json", help="write the results as JSON (atomically)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="check only these vectors")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per file for an external decoder (default 60)")
    p.add_argument("--match-errors", action="store_true",
                   help="require an external decoder to name the expected error class on its last stderr line")
    p.set_defaults(func=cmd_run)

    p = csub.add_parser("generate", help="write catalogue cases the corpus lacks (never overwrites a vector)")
    p.add_argument("--corpus", type=Path, help=f"vector directory (default: {default_corpus()})")
    p.add_argument("--only", nargs="+", metavar="NAME", help="write only these cases (an existing name is an error)")
    p.add_argument("--cases", nargs="+", metavar="SET",
                   help="case sets: 'core', a plugin's codecframe.conformance_cases entry-point name, or MODULE:ATTR "
                        "(default: the sets the corpus's manifest lists); a plugin's set needs --corpus")
    p.set_defaults(func=cmd_generate)

    p = csub.add_parser("coverage", help="print the spec-section -> vectors table (Markdown)")
    p.add_argument("--corpus", type=Path, help=f"vector directory (default: {default_corpus()})")
    p.add_argument("--spec", help="only sections of this spec (e.g. bitstream, range-coder, vbq)")
    p.add_argument("--cases", nargs="+", metavar="SET", help="only the vectors of these case sets (a plugin's set needs --corpus)")
    p.add_argument("--vectors", action="store_true",
                   help="also list the vectors of --spec with their expected outcome")
    p.add_argument("--update", type=Path, metavar="FILE.md",
                   help="write the table between <!-- coverage:start --> and <!-- coverage:end --> in FILE.md")
    p.set_defaults(func=cmd_coverage)

    p = csub.add_parser("decode-one", help="decode one file per the external-decoder protocol (reference adapter)")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path, help=".npz with symbols.<group>, values.<group>, extras.<name>")
    p.add_argument("--assets", type=Path, metavar="DIR",
                   help=f"take assets only from this store of sha256-<hex>.bin files, ignoring installed ones "
                        f"(default: ${ASSETS_ENV} if set, else the installed assets)")
    p.set_defaults(func=cmd_decode_one)


def _corpus(path: Path | None) -> Corpus:
    root = path or default_corpus()
    if not (root / "manifest.json").is_file():
        raise InputError(f"{root}: no manifest.json; pass --corpus DIR")
    return Corpus(root)


def _sets(args: argparse.Namespace) -> list[str] | None:
    """``--cases``, refused without ``--corpus`` when it names anything but the core's set: a plugin's
    vectors never go into (or come from) codecframe's corpus by default."""
    if args.cases and args.corpus is None and any(name != case_sets.CORE for name in args.cases):
        raise InputError(f"--cases {' '.join(args.cases)} names a plugin's cases: pass --corpus DIR (the plugin's corpus; "
                         f"codecframe's own, {default_corpus()}, is never the default for them)")
    return args.cases


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    corpus = _corpus(args.corpus)
    decoder = CommandDecoder(args.decoder, args.timeout, corpus.asset_dir) if args.decoder else InProcessDecoder()
    strict = True if args.match_errors or not args.decoder else None
    results = run(corpus, decoder, args.only, strict_errors=strict)
    rows = [[r.name, r.kind, r.expected, r.got, "PASS" if r.passed else "FAIL", r.detail[:100]] for r in results]
    print(_table(rows, ["vector", "kind", "expected", "got", "result", "detail"]))
    passed = sum(r.passed for r in results)
    print(f"\n{passed}/{len(results)} vectors passed with decoder: {decoder.name}")
    if args.results:
        report = {
            "decoder": decoder.name,
            "corpus": str(corpus.root),
            "summary": {"total": len(results), "passed": passed, "failed": len(results) - passed},
            "results": [r.row() for r in results],
        }
        atomic_write(args.results, (json.dumps(report, indent=1) + "\n").encode())
    return 0 if passed == len(results) else 1


def cmd_generate(args: argparse.Namespace) -> int:
    sets = _sets(args)
    root = args.corpus or default_corpus()
    done = generate(Corpus(root), args.only, sets=sets)
    for g in done:
        if g.status != "exists" or g.detail:
            print(f"{g.status:8s} {g.name}" + (f": {g.detail}" if g.detail else ""))
    written = sum(g.status == "written" for g in done)
    print(f"{written} new vector(s) written to {root}; {sum(g.status == 'exists' for g in done)} already present")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    if args.vectors and not args.spec:
        raise InputError("--vectors needs --spec")
    sets = _sets(args)
    corpus = _corpus(args.corpus)
    names = {c.name for c in case_sets.load_all(sets)} if sets else None
    table = coverage_table(corpus, args.spec, names)
    if args.vectors:
        table += "\n\n" + vector_table(corpus, args.spec, names)
    if args.update:
        atomic_write(args.update, replace_marked(args.update.read_text(), table).encode())
        print(f"updated the coverage table in {args.update}")
    else:
        print(table)
    return 0


def cmd_decode_one(args: argparse.Namespace) -> int:
    store = args.assets or os.environ.get(ASSETS_ENV)
    try:
        with assets.only_from(store) if store else contextlib.nullcontext():
            result = decode_with_symbols(read_bytes(args.input))
    except CodecframeError as exc:
        print(f"codecframe: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    out = {f"symbols.{k}": v for k, v in result.symbols.items()}
    out.update({f"values.{k}": v for k, v in result.decoded.arrays.items()})
    out.update({f"extras.{k}": v for k, v in result.decoded.extras.items()})
    buf = io.BytesIO()
    np.savez(buf, **out)
    atomic_write(args.output, buf.getvalue())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``conformance`` command alone, with the exit codes of ``codecframe``."""
    parser = argparse.ArgumentParser(prog="codecframe")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["conformance", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except CodecframeError as exc:
        print(f"codecframe: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"codecframe: error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
