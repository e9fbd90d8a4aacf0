"""Offline data for the example models: scikit-learn digits and Python standard-library source text."""

from __future__ import annotations

import dataclasses
import sysconfig
from pathlib import Path

import numpy as np
import torch

from codecframe.errors import InputError

__all__ = ["Split", "digits", "digits_images", "text_corpus", "encode_text", "text_windows", "VOCAB", "TRAIN_FILES", "TEST_FILES"]

#: Characters of the byte-level vocabulary; anything else maps to the last id (``"\x00"`` stand-in).
VOCAB = "\n\t" + "".join(chr(c) for c in range(32, 127))
_INDEX = np.full(256, len(VOCAB), np.int64)
for _i, _c in enumerate(VOCAB):
    _INDEX[ord(_c)] = _i

#: Standard-library files (Python 3.11) used for training and for testing the language model.
TRAIN_FILES = (
    "argparse.py", "dataclasses.py", "collections/__init__.py", "typing.py", "inspect.py", "functools.py",
    "pathlib.py", "json/encoder.py", "shutil.py", "subprocess.py", "tarfile.py", "zipfile.py",
    "logging/__init__.py", "enum.py", "ast.py", "tokenize.py", "difflib.py", "configparser.py", "string.py",
    "datetime.py", "gettext.py", "random.py", "copy.py", "bisect.py", "fnmatch.py",
)
TEST_FILES = ("textwrap.py", "json/decoder.py", "csv.py", "heapq.py", "statistics.py", "fractions.py",
              "pprint.py", "calendar.py", "glob.py")


@dataclasses.dataclass(frozen=True)
class Split:
    """Inputs and targets of a train and a test split."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits(seed: int = 0) -> Split:
    """scikit-learn digits scaled to [0, 1], flattened (N, 64); stratified 30 % test split (540 images)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
    return Split(torch.from_numpy(xtr), torch.from_numpy(ytr), torch.from_numpy(xte), torch.from_numpy(yte))


def digits_images(seed: int = 0) -> Split:
    """As :func:`digits`, shaped (N, 1, 8, 8) for the CNN."""
    s = digits(seed)
    return Split(s.x_train.reshape(-1, 1, 8, 8), s.y_train, s.x_test.reshape(-1, 1, 8, 8), s.y_test)


def encode_text(text: str) -> np.ndarray:
    """Token ids (int64) of ``text`` in :data:`VOCAB` (unknown characters share one id)."""
    raw = np.frombuffer(text.encode("ascii", errors="replace"), np.uint8)
    return _INDEX[raw]


def _read(files: tuple[str, ...]) -> np.ndarray:
    root = Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for name in files:
        path = root / name
        if not path.is_file():
            raise InputError(f"standard-library file {path} is missing; the text corpus needs Python 3.11's sources")
        parts.append(encode_text(path.read_text(encoding="utf-8", errors="replace")))
    return np.concatenate(parts)


def text_corpus(context: int = 64, seed: int = 0, n_test: int = 512) -> Split:
    """Next-character prediction on standard-library source.

    Train: every length-``context`` window start of the training files (targets shifted by one),
    returned lazily as the whole token stream in ``x_train`` (``y_train`` empty); test: ``n_test``
    windows at seeded random positions of the held-out files.
    """
    train = torch.from_numpy(_read(TRAIN_FILES))
    test = _read(TEST_FILES)
    rng = np.random.default_rng(seed)
    starts = rng.choice(len(test) - context - 1, size=n_test, replace=False)
    idx = starts[:, None] + np.arange(context + 1)[None, :]
    windows = torch.from_numpy(test[idx])
    return Split(train, torch.empty(0, dtype=torch.long), windows[:, :-1].contiguous(), windows[:, 1:].contiguous())


def text_windows(stream: torch.Tensor, count: int, context: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random (input, target) windows of a token stream."""
    starts = torch.randint(0, len(stream) - context - 1, (count,), generator=generator)
    idx = starts[:, None] + torch.arange(context + 1)[None, :]
    w = stream[idx]
    return w[:, :-1], w[:, 1:]
