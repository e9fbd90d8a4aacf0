"""Default calibration and evaluation texts: sentences from Python standard-library docstrings.

Offline and the same in every CPython 3.11 install. The calibration and evaluation sets come from
disjoint modules, so evaluating never reuses a calibration sentence.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Sequence

__all__ = ["docstring_texts", "calibration_texts", "evaluation_texts", "read_texts", "CALIBRATION_MODULES",
           "EVALUATION_MODULES"]

CALIBRATION_MODULES = ("argparse", "collections", "functools", "json", "pathlib", "shutil", "subprocess", "tarfile",
                       "zipfile", "logging", "inspect", "datetime", "random", "string", "configparser", "difflib")
EVALUATION_MODULES = ("textwrap", "csv", "heapq", "statistics", "fractions", "pprint", "calendar", "glob",
                      "bisect", "fnmatch", "tokenize", "gettext", "ipaddress", "urllib.parse", "optparse", "mailbox",
                      "doctest", "unittest.case")

#: Most lines read from a text file, and longest line kept (characters).
MAX_LINES, MAX_CHARS = 1 << 16, 4000


def docstring_texts(modules: Sequence[str]) -> list[str]:
    """First paragraphs (20–400 characters) of the public functions' and classes' docstrings, in name order."""
    out: list[str] = []
    seen: set[str] = set()
    for name in modules:
        module = importlib.import_module(name)
        for attr in sorted(dir(module)):
            obj = getattr(module, attr, None)
            if attr.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            doc = inspect.getdoc(obj) or ""
            text = re.sub(r"\s+", " ", doc.split("\n\n")[0]).strip()
            if 20 <= len(text) <= 400 and text not in seen:
                seen.add(text)
                out.append(text)
    return out


def calibration_texts(n: int) -> list[str]:
    """``n`` calibration sentences (fewer if the modules hold fewer)."""
    return docstring_texts(CALIBRATION_MODULES)[:n]


def evaluation_texts(n: int) -> list[str]:
    """``n`` evaluation sentences, from modules the calibration set does not use (no sentence in both)."""
    used = set(docstring_texts(CALIBRATION_MODULES))
    return [t for t in docstring_texts(EVALUATION_MODULES) if t not in used][:n]


def read_texts(path: str, limit: int | None = None) -> list[str]:
    """Non-empty lines of a UTF-8 text file (one text per line); InputError if there are none."""
    from codecframe.errors import InputError
    from codecframe.io import read_bytes

    raw = read_bytes(path)
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc}); expected one text per line") from None
    texts = [line.strip()[:MAX_CHARS] for line in lines[:MAX_LINES] if line.strip()]
    if not texts:
        raise InputError(f"{path}: no text lines; expected one text per line")
    return texts[:limit] if limit is not None else texts
