"""Mutation fuzzing of the container reader and the full decode path (zero non-codecframe exceptions)."""

import time

import numpy as np
import pytest

from codecframe import container
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import CodecframeError
from codecframe.pipeline import Pipeline, decode
from codecframe.testing.fuzz import mutate_bytes


def seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    post = GaussianPosterior(mean=rng.standard_normal((16, 8)), std=np.ones((16, 8)))
    out = []
    for coder in ("range", "rans"):
        pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.2}, "entropy_coder": coder})
        out.append(pipe.encode({"a": post}, meta={"m": 1}, extras={"e": np.ones(3)}))
    return out


def mutate_inside(rng: np.random.Generator, data: bytes) -> bytes:
    """Mutate a stream payload or a group's count, then re-wrap with valid checksums (reaches the coders)."""
    box = container.read(data)
    header = {k: v for k, v in box.header.items() if k != "streams"}
    streams = list(box.streams)
    if rng.random() < 0.7:
        streams[0] = mutate_bytes(rng, streams[0])
    else:
        header["groups"][0]["count"] = int(rng.choice([0, 1, 127, 129, 4096, 2**20, 2**31 - 1]))
    return container.write(header, streams)


def fuzz(n: int, seed: int = 0) -> dict[str, float]:
    """Decode ``n`` mutated files; returns outcome counts and the slowest single decode in seconds.

    Half the inputs are raw byte mutations (mostly caught by the checksums), half are mutations
    inside a stream or a declared count with the checksums fixed up, which exercise the decoders.
    """
    rng = np.random.default_rng(seed)
    base = seeds()
    stats = {"ok": 0, "rejected": 0, "slowest_s": 0.0}
    for i in range(n):
        source = base[i % len(base)]
        data = mutate_bytes(rng, source) if i % 2 else mutate_inside(rng, source)
        t0 = time.perf_counter()
        try:
            decode(data)
            stats["ok"] += 1
        except CodecframeError:
            stats["rejected"] += 1
        stats["slowest_s"] = max(stats["slowest_s"], time.perf_counter() - t0)
    return stats


def test_fuzz_decode_small():
    stats = fuzz(3000)
    assert stats["ok"] + stats["rejected"] == 3000
    assert stats["rejected"] > 1000
    assert stats["slowest_s"] < 2.0


@pytest.mark.slow
def test_fuzz_decode_100k():
    stats = fuzz(100_000, seed=1)
    assert stats["ok"] + stats["rejected"] == 100_000
    assert stats["slowest_s"] < 2.0


def test_random_files_rejected():
    rng = np.random.default_rng(5)
    for _ in range(2000):
        data = b"\x89CFR\x01\x00\x00\x00" + rng.bytes(int(rng.integers(0, 64)))
        with pytest.raises(CodecframeError):
            container.read(data)
