"""Entry point of the ``codecframe`` command.

Exit codes: 0 success; 1 a codecframe error (bad data, format, config, a failing plugin); 2 usage
error, or a limit exceeded (any LimitError, out of memory included); 3 an operating-system error (input
file not found, permission); 130 interrupted. Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from .. import __version__, errors, guard
from ..errors import CodecframeError
from ..io import install_signal_handlers
from ..registry import load_group
from . import core_commands
from ..registry import CHOOSE_ENV, registry  # noqa: I001 - own line: merges cleanly beside other edits

COMMAND_GROUP = "codecframe.commands"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_OS, EXIT_INTERRUPT = 0, 1, 2, 3, 130
EXIT_LIMIT = EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codecframe", description="Uncertainty-aware compression from replaceable parts.")
    parser.add_argument("--version", action="version", version=f"codecframe {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    core_commands.register(sub)
    parser.add_argument("--choose", action="append", default=[], metavar="KIND:ID=DIST",
                        help=f"use DIST's component where several distributions provide KIND:ID (repeatable; or ${CHOOSE_ENV})")
    loaded, failed = load_group(COMMAND_GROUP)
    for ep, register in loaded:
        try:
            register(sub)
        except Exception as exc:  # a broken plugin command must not break the CLI
            failed.append((ep, f"{type(exc).__name__}: {exc}"))
    parser.set_defaults(_plugin_failures=failed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    install_signal_handlers()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        registry.choose_all(args.choose)
        return int(args.func(args) or 0)
    except MemoryError as exc:
        return _fail(args, guard.out_of_memory(f"running {args.command!r}"), EXIT_LIMIT, exc)
    except errors.LimitError as exc:
        return _fail(args, exc, EXIT_LIMIT)
    except CodecframeError as exc:
        return _fail(args, exc, EXIT_OS if isinstance(exc, OSError) else EXIT_ERROR)
    except OSError as exc:
        return _fail(args, exc, EXIT_OS)
    except KeyboardInterrupt:
        print("codecframe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT


def _fail(args: argparse.Namespace, exc: BaseException, code: int, cause: BaseException | None = None) -> int:
    """One error line on stderr (the traceback of ``cause or exc`` first under ``--debug``); returns ``code``."""
    if args.debug:
        traceback.print_exception(cause or exc, file=sys.stderr)
    print(f"codecframe: error: {exc}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
