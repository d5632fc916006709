"""LSH banding parameters: the (bands, rows) that minimise the weighted
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

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from stemmatic._core import MAX_NUM_PERM
from stemmatic.exceptions import ParameterError

__all__ = ["Banding", "candidate_probability", "optimal_banding"]

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


def check_banding(bands: int, rows: int, num_perm: int, threshold: float) -> Banding:
    """Validate a user-given banding and describe it."""
    if bands < 1 or rows < 1:
        raise ParameterError(f"invalid parameters `bands`/`rows`: {bands}/{rows}; both must be at least 1")
    if bands * rows > num_perm:
        raise ParameterError(f"bands × rows = {bands * rows} exceeds num_perm = {num_perm}")
    fp, fn = _masses(threshold, bands, rows)
    return Banding(bands, rows, threshold, fp, fn)
