"""Fitted VBQ tables: per-channel grid points, and per-(λ, channel) search lengths and index histograms.

Stored as a safetensors file (``specs/vbq.md`` §5) shipped as a content-addressed asset. The
entropy model of table ``j`` is built from integers only (:meth:`VBQTables.counts`), so every
decoder derives the same integer CDFs from the same file.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cached_property

import numpy as np
import safetensors.numpy

from codecframe.errors import AssetError
from codecframe.probability import ProbabilityModel

from .grid import check_r_max, grid_size, levels
from .search import GUIDE_BUCKETS, build_guide

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_COUNT_SUM", "VBQTables", "max_histogram_total"]

FORMAT = "codecframe-vbq-tables"
FORMAT_VERSION = 1
#: Largest row sum of :meth:`VBQTables.counts` (the core's limit for ``ProbabilityModel.from_counts``).
MAX_COUNT_SUM = (1 << 37) - 1
_META_KEY = "codecframe-vbq"
_TENSORS = {"points", "lambdas", "lengths", "hist_offsets", "hist_index", "hist_count"}


def max_histogram_total(r_max: int, backoff_shift: int) -> int:
    """Largest histogram total N whose :meth:`VBQTables.counts` row sum stays within MAX_COUNT_SUM.

    The row sum is N·2^(R+s) + (N+R+1)·2^R.
    """
    return (MAX_COUNT_SUM - (r_max + 1) * (1 << r_max)) // ((1 << (r_max + backoff_shift)) + (1 << r_max))


def _fail(msg: str) -> AssetError:
    return AssetError(f"VBQ tables: {msg}")


@dataclasses.dataclass(frozen=True, eq=False)
class VBQTables:
    """Tables for C channels and L values of λ (grid of R_max levels, K = 2^(R+1) - 1 points).

    - ``points`` (C, K) float64, non-decreasing rows: ẑ of each sorted grid index;
    - ``lambdas`` (L,) float64, increasing: the λ grid the tables were fitted on;
    - ``lengths`` (L, C, R+1) float64: search length of each level, n + overhead (pass 1);
    - ``hist`` (L, C, K) int64: index histograms of the training latents (pass 2);
    - ``backoff_shift``: weight of the histogram against the level model in :meth:`counts`.
    """

    r_max: int
    points: np.ndarray
    lambdas: np.ndarray
    lengths: np.ndarray
    hist: np.ndarray
    backoff_shift: int = 5
    info: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        r = check_r_max(self.r_max, "VBQ tables r_max")
        size = grid_size(r)
        pts, lam, lens, hist = self.points, self.lambdas, self.lengths, self.hist
        if pts.ndim != 2 or pts.shape[1] != size or pts.shape[0] < 1 or pts.dtype != np.float64:
            raise _fail(f"points must be float64 (C, {size}), got {pts.dtype} {pts.shape}")
        channels = pts.shape[0]
        if not np.all(np.isfinite(pts)) or np.any(np.diff(pts, axis=1) < 0):
            raise _fail("points must be finite and non-decreasing along each row")
        if lam.ndim != 1 or lam.size < 1 or lam.dtype != np.float64:
            raise _fail("lambdas must be a non-empty float64 vector")
        if not np.all(np.isfinite(lam)) or np.any(lam <= 0) or np.any(np.diff(lam) <= 0):
            raise _fail("lambdas must be finite, positive and increasing")
        if lens.shape != (lam.size, channels, r + 1) or lens.dtype != np.float64:
            raise _fail(f"lengths must be float64 {(lam.size, channels, r + 1)}, got {lens.dtype} {lens.shape}")
        if not np.all(np.isfinite(lens)) or np.any(lens < 0):
            raise _fail("lengths must be finite and non-negative")
        if hist.shape != (lam.size, channels, size) or np.any(hist < 0):
            raise _fail(f"hist must be non-negative with shape {(lam.size, channels, size)}")
        if not 0 <= self.backoff_shift <= 20:
            raise _fail(f"backoff_shift must be in 0..20, got {self.backoff_shift}")
        total = hist.sum(axis=2, dtype=np.int64)
        bound = max_histogram_total(r, self.backoff_shift)
        if np.any(total > bound):
            raise _fail(f"a histogram holds more than {bound} counts, which overflows the count limit")
        for arr in (pts, lam, lens, hist):
            arr.flags.writeable = False

    # ------------------------------------------------------------------ shape
    @property
    def channels(self) -> int:
        return int(self.points.shape[0])

    @property
    def size(self) -> int:
        return int(self.points.shape[1])

    @cached_property
    def guide(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Search guide of ``points`` (see :func:`codecframe_vbq.search.build_guide`)."""
        return build_guide(np.ascontiguousarray(self.points), GUIDE_BUCKETS)

    # ------------------------------------------------------------------ λ rule
    def table_index(self, lam: float) -> int:
        """The table used for ``lam``: the grid λ nearest in log scale (ties to the larger).

        λ_j is chosen iff λ_{j-1}·λ_j <= λ² < λ_j·λ_{j+1} (exact comparisons of rounded
        products; the first and last tables extend to 0 and ∞).
        """
        grid = self.lambdas
        sq = lam * lam
        j = 0
        while j + 1 < grid.size and sq >= grid[j] * grid[j + 1]:
            j += 1
        return j

    # ------------------------------------------------------------------ entropy model
    def counts(self, j: int) -> np.ndarray:
        """Integer counts (C, K) of table ``j``: histogram plus the level back-off (``specs/vbq.md`` §5.2).

        counts[k] = hist[k] · 2^(R+s) + (g[n(k)] + 1) · 2^(R-n(k)), with g the level histogram and
        n(k) the level of index k; the back-off spreads each level's mass evenly over its points.
        """
        r = self.r_max
        lev = levels(r)
        hist = self.hist[j].astype(np.int64)
        g = np.zeros((self.channels, r + 1), np.int64)
        for n in range(r + 1):
            g[:, n] = hist[:, lev == n].sum(axis=1)
        backoff = (g[:, lev] + 1) << (r - lev)[None, :]
        return (hist << (r + self.backoff_shift)) + backoff

    def model(self, j: int, precision: int) -> ProbabilityModel:
        """The entropy model of table ``j`` at ``precision``: one row per channel (cached)."""
        key = (j, precision)
        cache = self.__dict__.setdefault("_models", {})
        if key not in cache:
            cache[key] = ProbabilityModel.from_counts(self.counts(j), precision=precision)
        return cache[key]

    # ------------------------------------------------------------------ files
    def to_bytes(self) -> bytes:
        """The safetensors file; identical tables give identical bytes."""
        nz = [np.flatnonzero(h) for h in self.hist.reshape(-1, self.size)]
        offsets = np.zeros(len(nz) + 1, np.int64)
        offsets[1:] = np.cumsum([z.size for z in nz])
        flat = self.hist.reshape(-1, self.size)
        tensors = {
            "points": np.ascontiguousarray(self.points),
            "lambdas": np.ascontiguousarray(self.lambdas),
            "lengths": np.ascontiguousarray(self.lengths),
            "hist_offsets": offsets,
            "hist_index": np.concatenate(nz).astype(np.uint16) if nz else np.zeros(0, np.uint16),
            "hist_count": np.concatenate([flat[i, z] for i, z in enumerate(nz)]).astype(np.uint32),
        }
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "r_max": self.r_max,
                "backoff_shift": self.backoff_shift, "info": self.info}
        return safetensors.numpy.save(tensors, metadata={_META_KEY: json.dumps(meta, sort_keys=True)})

    @classmethod
    def from_bytes(cls, data: bytes) -> VBQTables:
        """Parse and validate a tables file; anything malformed raises AssetError."""
        try:
            tensors = safetensors.numpy.load(bytes(data))
            header_len = int.from_bytes(data[:8], "little")
            meta_text = json.loads(data[8 : 8 + header_len]).get("__metadata__", {}).get(_META_KEY)
            meta = json.loads(meta_text)
        except Exception as exc:  # safetensors raises its own types for malformed files
            raise _fail(f"not a readable safetensors tables file ({type(exc).__name__}: {exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise _fail(f"metadata does not name the format {FORMAT!r}")
        if meta.get("version") != FORMAT_VERSION:
            raise _fail(f"format version {meta.get('version')!r} is not supported (this reader: {FORMAT_VERSION})")
        if set(tensors) != _TENSORS:
            raise _fail(f"tensors must be exactly {sorted(_TENSORS)}, got {sorted(tensors)}")
        r = check_r_max(meta.get("r_max"), "VBQ tables r_max")
        shift = meta.get("backoff_shift")
        if isinstance(shift, bool) or not isinstance(shift, int):
            raise _fail("backoff_shift must be an integer")
        points, lambdas, lengths = tensors["points"], tensors["lambdas"], tensors["lengths"]
        offsets, index, count = tensors["hist_offsets"], tensors["hist_index"], tensors["hist_count"]
        if points.ndim != 2 or lengths.ndim != 3 or lambdas.ndim != 1:
            raise _fail("points, lengths and lambdas have the wrong number of dimensions")
        rows = lambdas.size * points.shape[0]
        size = grid_size(r)
        if (offsets.dtype != np.int64 or offsets.shape != (rows + 1,) or offsets[0] != 0
                or np.any(np.diff(offsets) < 0) or offsets[-1] != index.size or index.shape != count.shape
                or index.dtype != np.uint16 or count.dtype != np.uint32):
            raise _fail("the sparse histogram (hist_offsets, hist_index, hist_count) is malformed")
        if index.size and int(index.max()) >= size:
            raise _fail(f"a histogram index is outside 0..{size - 1}")
        owner = np.repeat(np.arange(rows), np.diff(offsets))
        if np.any((np.diff(index.astype(np.int64)) <= 0) & (owner[1:] == owner[:-1])):
            raise _fail("histogram indexes must increase strictly within each (λ, channel)")
        hist = np.zeros((rows, size), np.int64)
        hist[owner, index.astype(np.int64)] = count
        return cls(r, points, lambdas, lengths, hist.reshape(lambdas.size, points.shape[0], size),
                   shift, meta.get("info", {}))
