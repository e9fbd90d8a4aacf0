"""The fuzz harness (benchmarks/fuzz): its input modes reach past the checksums, and a short run is clean."""

import sys
from pathlib import Path

import numpy as np
import pytest

from codecframe import container
from codecframe.errors import ChecksumError, CodecframeError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz"))
import campaign  # noqa: E402
import harness  # noqa: E402

SEEDS = harness.seeds_for("core")


def test_seed_inputs_decode_unchanged():
    for data in harness.seed_inputs(SEEDS)[:2]:
        assert harness.check("core", data, SEEDS) == "ok"


@pytest.mark.parametrize("mode", [1, 2, 3])
def test_structured_modes_keep_checksums_valid(mode):
    rng = np.random.default_rng(mode)
    reached = 0
    for _ in range(200):
        payload = campaign.mutate_bytes(rng, SEEDS[0]) if mode == 1 else rng.bytes(24)
        data = harness.materialize(bytes([mode]) + payload, SEEDS)
        try:
            container.read(data)
            reached += 1
        except ChecksumError:
            pytest.fail("a structured input has a wrong checksum")
        except CodecframeError:
            pass
    assert reached > (5 if mode == 1 else 150)


def test_short_container_campaign_is_clean(tmp_path):
    corpus = harness.Corpus(harness.default_corpus())
    runs = len(harness.seed_inputs(harness.seeds_for("container", corpus))) + 200  # the seeds, then mutations
    stats = campaign.run_mutate("container", runs, 0, 10.0, tmp_path, corpus)
    assert stats["inputs"] == runs and stats["crashes"] == 0 and stats["hangs"] == 0
    assert stats["ok"] > 0 and stats["rejected"] > 0
