"""The dedup algorithm's parameters (:class:`DedupParams`) and its LSH banding.

:class:`DedupParams` holds every parameter that changes which rows a dedup
removes, once, for every engine: the local pipeline
(:mod:`stemmatic.dedup.pipeline`, through :class:`~stemmatic.dedup.config.DedupConfig`),
the incremental index (:mod:`stemmatic.dedup.index`) and the Ray/Spark
engines (:mod:`stemmatic.engines`). How a run reads, holds and writes the
data is elsewhere (:mod:`stemmatic.dedup.config`,
:class:`stemmatic.engines.EngineOptions`).

The banding: the (bands, rows) that minimise the weighted
false-positive and false-negative probability mass for a Jaccard threshold.

This is the criterion of datasketch's ``MinHashLSH`` (``_optimal_param``): with
``b`` bands of ``r`` rows, two documents of Jaccard similarity ``s`` become
candidates with probability ``P(s) = 1 - (1 - s^r)^b``. The false-positive
mass is the integral of ``P`` over ``[0, t]``, the false-negative mass that of
``1 - P`` over ``[t, 1]``; we minimise ``w_fp * FP + w_fn * FN`` over all
``b * r <= num_perm``. Integrals use the trapezoid rule on 2,001 points, so the
choice is deterministic and needs no SciPy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Literal, TypeVar

import numpy as np

from stemmatic._core import MAX_NUM_PERM
from stemmatic.dedup.clusters import CLUSTERINGS, Clustering
from stemmatic.exceptions import ParameterError
from stemmatic.minhash import DEFAULT_TOKENIZER, MinHasher, Tokenizer

__all__ = ["Banding", "DedupParams", "candidate_probability", "optimal_banding"]

Verify = Literal["exact", "estimate", "none"]
_Part = TypeVar("_Part")

_GRID = 2001


@dataclass(frozen=True)
class Banding:
    """A choice of ``bands`` x ``rows`` with its error masses at ``threshold``."""

    bands: int
    rows: int
    threshold: float
    false_positive: float
    false_negative: float

    def describe(self) -> str:
        return (
            f"bands={self.bands} rows={self.rows} (threshold {self.threshold:g}: "
            f"false-positive mass {self.false_positive:.4f}, false-negative mass {self.false_negative:.4f})"
        )


def candidate_probability(similarity: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """Probability that two documents of Jaccard ``similarity`` share a band."""
    s = np.asarray(similarity, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def _masses(threshold: float, bands: int, rows: int) -> tuple[float, float]:
    lo = np.linspace(0.0, threshold, _GRID)
    hi = np.linspace(threshold, 1.0, _GRID)
    fp = float(np.trapezoid(candidate_probability(lo, bands, rows), lo))
    fn = float(np.trapezoid(1.0 - candidate_probability(hi, bands, rows), hi))
    return fp, fn


@lru_cache(maxsize=256)
def optimal_banding(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> Banding:
    """The (bands, rows) minimising weighted FP + FN mass for ``threshold``.

    >>> optimal_banding(0.8, 128).bands, optimal_banding(0.8, 128).rows
    (9, 13)
    """
    if not 0.0 < threshold < 1.0:
        raise ParameterError(f"invalid parameter `threshold`: {threshold}; must be in (0, 1)")
    if not 1 <= num_perm <= MAX_NUM_PERM:
        raise ParameterError(
            f"invalid parameter `num_perm`: {num_perm}; must be between 1 and {MAX_NUM_PERM}"
        )
    known = _DEFAULTS.get((threshold, num_perm, false_positive_weight, false_negative_weight))
    return (
        known
        if known is not None
        else _search(threshold, num_perm, false_positive_weight, false_negative_weight)
    )


def _search(
    threshold: float, num_perm: int, false_positive_weight: float, false_negative_weight: float
) -> Banding:
    """:func:`optimal_banding` by trying every ``bands * rows <= num_perm``."""
    lo = np.linspace(0.0, threshold, _GRID)
    hi = np.linspace(threshold, 1.0, _GRID)
    best: Banding | None = None
    best_error = float("inf")
    for bands in range(1, num_perm + 1):
        # Every rows value for this many bands at once (same sums, in the same order, as _masses).
        rows = np.arange(1, num_perm // bands + 1, dtype=np.float64)[:, None]
        fp = np.asarray(np.trapezoid(1.0 - (1.0 - lo**rows) ** bands, lo, axis=-1))
        fn = np.asarray(np.trapezoid((1.0 - hi**rows) ** bands, hi, axis=-1))
        error = false_positive_weight * fp + false_negative_weight * fn
        for r in range(len(error)):
            if error[r] < best_error - 1e-15:
                best_error = float(error[r])
                best = Banding(bands, r + 1, threshold, float(fp[r]), float(fn[r]))
    assert best is not None
    return best


#: :func:`_search`'s answers for dedup's defaults (threshold 0.8, 128 permutations; exact and estimated
#: verification), which every short run would otherwise spend 0.03 s finding; tests/test_dedup.py checks
#: them against the search.
_DEFAULTS: dict[tuple[float, int, float, float], Banding] = {
    (0.8, 128, 0.05, 0.95): Banding(16, 8, 0.8, 0.1382535905141859, 0.001283927700045113),
    (0.8, 128, 0.5, 0.5): Banding(9, 13, 0.8, 0.02531193139777746, 0.033282140274353895),
}


def check_banding(bands: int, rows: int, num_perm: int, threshold: float) -> Banding:
    """Validate a user-given banding and describe it."""
    if bands < 1 or rows < 1:
        raise ParameterError(f"invalid parameters `bands`/`rows`: {bands}/{rows}; both must be at least 1")
    if bands * rows > num_perm:
        raise ParameterError(f"bands × rows = {bands * rows} exceeds num_perm = {num_perm}")
    fp, fn = _masses(threshold, bands, rows)
    return Banding(bands, rows, threshold, fp, fn)


@dataclass(frozen=True)
class DedupParams:
    """The parameters that decide which rows a dedup removes (see :func:`stemmatic.dedup.dedup`).

    The same on every engine and in an index; a run's options (memory,
    output format, partitions) never change the answer and live elsewhere.

    >>> DedupParams(threshold=0.7).banding().describe().startswith("bands=")
    True
    """

    text_column: str = "text"
    id_column: str | None = None
    threshold: float = 0.8
    num_perm: int = 128
    ngram: int = 5
    tokenizer: Tokenizer = DEFAULT_TOKENIZER
    seed: int = 1
    bands: int | None = None
    rows: int | None = None
    verify: Verify = "exact"
    keep: str = "first"
    exact: bool = False
    #: Buckets of at most this many rows give all their pairs; larger ones a star.
    clique_max: int = 8
    #: Giant-component guard: split clusters above this many rows by verified similarity (None: no guard).
    max_cluster_size: int | None = None
    #: ``components`` (connected components of verified edges) or ``star``
    #: (every removed row is verified at or above ``threshold`` to its kept row).
    clustering: Clustering = "components"

    def validate(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ParameterError(f"invalid parameter `threshold`: {self.threshold}; must be in (0, 1]")
        if self.verify not in ("exact", "estimate", "none"):
            raise ParameterError(
                f"invalid parameter `verify`: {self.verify!r}; expected exact, estimate or none"
            )
        if self.keep not in ("first", "longest") and not self.keep.startswith("column:"):
            raise ParameterError(
                f"invalid parameter `keep`: {self.keep!r}; expected first, longest or column:NAME"
            )
        if self.max_cluster_size is not None and self.max_cluster_size < 2:
            raise ParameterError(
                f"invalid parameter `max_cluster_size`: {self.max_cluster_size}; must be at least 2"
            )
        if self.clustering not in CLUSTERINGS:
            raise ParameterError(
                f"invalid parameter `clustering`: {self.clustering!r}; expected components or star"
            )
        if self.clustering == "star" and self.verify == "none":
            raise ParameterError(
                "clustering='star' promises a verified similarity between each removed row and its kept "
                "row: use verify='exact' or 'estimate', not 'none'"
            )
        if (self.bands is None) != (self.rows is None):
            raise ParameterError(
                "give both `bands` and `rows`, or neither (then they are chosen for the threshold)"
            )
        self.hasher()

    @property
    def keep_column(self) -> str | None:
        return self.keep.split(":", 1)[1] if self.keep.startswith("column:") else None

    def hasher(self) -> MinHasher:
        """The MinHash of these parameters (refuses a bad ``num_perm``, ``ngram`` or ``tokenizer``)."""
        return MinHasher(num_perm=self.num_perm, ngram=self.ngram, tokenizer=self.tokenizer, seed=self.seed)

    def banding(self) -> Banding:
        threshold = min(self.threshold, 0.999)
        if self.bands is not None and self.rows is not None:
            return check_banding(self.bands, self.rows, self.num_perm, threshold)
        # With exact verification a false positive costs one verification, a
        # false negative a missed duplicate: weigh misses far more.
        weights = (0.05, 0.95) if self.verify == "exact" else (0.5, 0.5)
        return optimal_banding(threshold, self.num_perm, *weights)


def part_of(cls: type[_Part], whole: Any) -> _Part:
    """The ``cls`` (a dataclass) of ``whole``'s fields of the same names: a config's part."""
    return cls(**{f.name: getattr(whole, f.name) for f in fields(cls)})  # type: ignore[arg-type]
