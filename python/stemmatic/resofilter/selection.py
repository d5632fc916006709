"""Choosing which samples to keep from their scores, with the baselines beside it.

ResoFilter keeps the lowest-scoring share: it drops the ``int(n * ratio)``
highest scores (ties dropped in input order, as the reference sorts by
``(score, -index)`` descending) and keeps the rest in their original order.
Random selection is hard to beat at scale, so every selection is reported
next to a seeded random choice and a length-based choice of the same size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from stemmatic.exceptions import ParameterError

__all__ = ["Selection", "auroc", "diversity_filter", "length_keep", "random_keep", "select_lowest"]

Criterion = Literal["resofilter", "less", "length", "random"]


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` (Mann-Whitney, ties count half).

    NaN scores are left out; NaN when one class is empty.

    >>> auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
    0.75
    """
    score = np.asarray(score, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    finite = np.isfinite(score)
    score, positive = score[finite], positive[finite]
    n_pos = int(positive.sum())
    n_neg = score.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    ranks = np.empty(score.size, dtype=np.float64)
    sorted_scores = score[order]
    # Average ranks over ties.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [score.size]])
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _count(eligible: int, drop_ratio: float | None, keep_ratio: float | None) -> int:
    if (drop_ratio is None) == (keep_ratio is None):
        raise ParameterError("give exactly one of drop_ratio and keep_ratio")
    ratio = drop_ratio if drop_ratio is not None else keep_ratio
    assert ratio is not None
    if not 0.0 <= ratio <= 1.0:
        raise ParameterError(f"ratio {ratio} must be within [0, 1]")
    if drop_ratio is not None:
        return eligible - int(eligible * drop_ratio)
    return round(eligible * ratio)


def select_lowest(
    score: np.ndarray,
    *,
    drop_ratio: float | None = None,
    keep_ratio: float | None = None,
    threshold: float | None = None,
) -> np.ndarray:
    """Keep mask: the lowest scores (NaN scores are never kept).

    With ``drop_ratio`` the ``int(n * drop_ratio)`` highest of the ``n``
    scored samples are dropped (the reference rule); with ``keep_ratio`` the
    ``round(n * keep_ratio)`` lowest are kept; with ``threshold`` every score
    ``<= threshold`` is kept. Ties at the cut drop the earlier sample first.

    >>> select_lowest(np.array([3.0, 1.0, np.nan, 2.0, 3.0]), drop_ratio=0.25)
    array([False,  True, False,  True,  True])
    """
    score = np.asarray(score, dtype=np.float64)
    eligible = np.isfinite(score)
    if threshold is not None:
        if drop_ratio is not None or keep_ratio is not None:
            raise ParameterError("give either a threshold or a ratio, not both")
        return np.asarray(eligible & (score <= threshold))
    n_keep = _count(int(eligible.sum()), drop_ratio, keep_ratio)
    index = np.flatnonzero(eligible)
    # Descending by (score, -index), as the reference sorts; drop the head.
    order = np.lexsort((-index, score[index]))[::-1]
    n_drop = index.size - n_keep
    keep = np.zeros(score.size, dtype=bool)
    keep[index[order[n_drop:]]] = True
    return keep


def random_keep(eligible: np.ndarray, n_keep: int, seed: int = 0) -> np.ndarray:
    """Keep mask of ``n_keep`` eligible samples drawn uniformly (seeded).

    >>> random_keep(np.array([True, True, False, True]), 2, seed=1).sum()
    np.int64(2)
    """
    index = np.flatnonzero(eligible)
    if n_keep > index.size:
        raise ParameterError(f"cannot keep {n_keep} of {index.size} eligible samples")
    chosen = np.random.default_rng(seed).choice(index, size=n_keep, replace=False)
    keep = np.zeros(len(eligible), dtype=bool)
    keep[chosen] = True
    return keep


def length_keep(eligible: np.ndarray, length: np.ndarray, n_keep: int, *, longest: bool = True) -> np.ndarray:
    """Keep mask of the ``n_keep`` longest (or shortest) eligible samples; ties in input order.

    Keeping the longest responses is the baseline of Zhao et al., "Long Is
    More for Alignment" (ICML 2024).

    >>> length_keep(np.array([True] * 4), np.array([5, 9, 1, 9]), 2)
    array([False,  True, False,  True])
    """
    index = np.flatnonzero(eligible)
    values = np.asarray(length, dtype=np.float64)[index]
    order = np.lexsort((index, -values if longest else values))
    keep = np.zeros(len(eligible), dtype=bool)
    keep[index[order[:n_keep]]] = True
    return keep


def diversity_filter(
    texts: Sequence[str], preference: np.ndarray, n_keep: int, *, threshold: float = 0.8, seed: int = 1
) -> tuple[np.ndarray, dict[int, int]]:
    """Keep ``n_keep`` samples in ``preference`` order, skipping near-duplicate texts.

    A text whose MinHash Jaccard estimate (128 permutations, word 3-grams,
    LSH with 16 bands of 8) to an already kept text reaches ``threshold`` is
    skipped, and the next preferred sample takes its place.

    Args:
        texts: the response texts, by position.
        preference: positions, best first (positions not listed are not kept).
        n_keep: how many to keep.

    Returns:
        The keep mask and ``{skipped position: kept position it resembles}``.

    >>> keep, skipped = diversity_filter(["a b c d", "a b c d", "e f g h"], np.array([0, 1, 2]), 2)
    >>> keep.tolist(), skipped
    ([True, False, True], {1: 0})
    """
    from stemmatic.minhash import minhash

    if not 0.0 < threshold <= 1.0:
        raise ParameterError(f"threshold={threshold} must be within (0, 1]")
    signatures = minhash(list(texts), num_perm=128, ngram=3, tokenizer="words", seed=seed)
    bands, rows = 16, 8
    buckets: dict[tuple[int, bytes], list[int]] = {}
    keep = np.zeros(len(texts), dtype=bool)
    skipped: dict[int, int] = {}
    kept = 0
    for position in np.asarray(preference, dtype=np.int64).tolist():
        if kept >= n_keep:
            break
        signature = signatures[position]
        keys = [(band, signature[band * rows : (band + 1) * rows].tobytes()) for band in range(bands)]
        twin = None
        for key in keys:
            for other in buckets.get(key, ()):
                if float(np.mean(signatures[other] == signature)) >= threshold:
                    twin = other
                    break
            if twin is not None:
                break
        if twin is not None:
            skipped[position] = twin
            continue
        keep[position] = True
        kept += 1
        for key in keys:
            buckets.setdefault(key, []).append(position)
    return keep, skipped


@dataclass
class Selection:
    """The chosen keep mask, the baselines of the same size, and a report of all of them."""

    keep: np.ndarray
    baselines: dict[str, np.ndarray]
    reasons: list[str | None]
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        score: np.ndarray,
        status: Sequence[str],
        length: np.ndarray,
        *,
        criterion: Criterion = "resofilter",
        drop_ratio: float | None = None,
        keep_ratio: float | None = None,
        threshold: float | None = None,
        seed: int = 0,
        texts: Sequence[str] | None = None,
        diversity_threshold: float | None = None,
        label: np.ndarray | None = None,
    ) -> Selection:
        """Select by ``criterion`` and compute the random and length baselines beside it.

        ``score`` is lower-is-better for ``resofilter`` (it keeps the lowest)
        and higher-is-better for ``less`` (it keeps the highest). Samples
        whose status is not ``"ok"`` are removed with their status as the
        reason. With ``diversity_threshold`` (and ``texts``), near-duplicate
        texts are skipped in favour of the next best sample. ``label``
        (True = known bad) adds AUROC and the share of bad samples each
        selection removes.

        >>> sel = Selection.build(np.array([0.9, 0.1, 0.5, 0.2]), ["ok"] * 4, np.array([3, 1, 2, 4]), drop_ratio=0.5)
        >>> sel.keep.tolist(), sel.reasons
        ([False, True, False, True], ['high_score', None, 'high_score', None])
        """
        score = np.asarray(score, dtype=np.float64)
        length = np.asarray(length)
        count = score.size
        if len(status) != count or length.size != count:
            raise ParameterError("score, status and length must have one entry per sample")
        eligible = np.array([s == "ok" for s in status]) & np.isfinite(score)
        masked = np.where(eligible, score, np.nan)
        if criterion == "resofilter":
            keep = select_lowest(masked, drop_ratio=drop_ratio, keep_ratio=keep_ratio, threshold=threshold)
            preference = np.flatnonzero(eligible)[np.lexsort((np.flatnonzero(eligible), masked[eligible]))]
            reason = "high_score"
        elif criterion == "less":
            keep = select_lowest(
                -masked,
                drop_ratio=drop_ratio,
                keep_ratio=keep_ratio,
                threshold=None if threshold is None else -threshold,
            )
            preference = np.flatnonzero(eligible)[np.lexsort((np.flatnonzero(eligible), -masked[eligible]))]
            reason = "low_influence"
        elif criterion in ("length", "random"):
            n_keep = _count(int(eligible.sum()), drop_ratio, keep_ratio)
            keep = (
                length_keep(eligible, length, n_keep)
                if criterion == "length"
                else random_keep(eligible, n_keep, seed)
            )
            preference = np.flatnonzero(keep)
            reason = "not_selected"
        else:
            raise ParameterError(f"criterion={criterion!r}; expected resofilter, less, length or random")
        n_keep = int(keep.sum())
        similar: dict[int, int] = {}
        if diversity_threshold is not None:
            if texts is None:
                raise ParameterError("diversity_threshold needs the texts")
            keep, similar = diversity_filter(
                texts, preference, n_keep, threshold=diversity_threshold, seed=seed + 1
            )
        reasons: list[str | None] = []
        for position in range(count):
            if status[position] != "ok":
                reasons.append(status[position])
            elif not eligible[position]:
                reasons.append("nonfinite")
            elif keep[position]:
                reasons.append(None)
            elif position in similar:
                reasons.append("near_duplicate_response")
            else:
                reasons.append(reason)
        n_keep = int(keep.sum())
        baselines = {
            "random": random_keep(eligible, n_keep, seed),
            "length": length_keep(eligible, length, n_keep),
        }
        report: dict[str, Any] = {
            "criterion": criterion,
            "samples": count,
            "eligible": int(eligible.sum()),
            "kept": n_keep,
            "removed": count - n_keep,
            "removed_by_reason": dict(Counter(r for r in reasons if r is not None)),
            "selections": {},
        }
        for name, mask in [(criterion, keep), *baselines.items()]:
            entry: dict[str, Any] = {
                "kept": int(mask.sum()),
                "mean_length_kept": _mean(length[mask]),
                "mean_score_kept": _mean(score[mask]),
                "jaccard_with_selection": _jaccard(mask, keep),
            }
            if label is not None:
                bad = np.asarray(label, dtype=bool)
                entry["bad_share_kept"] = _mean(bad[mask].astype(np.float64))
                entry["bad_removed"] = int((bad & eligible & ~mask).sum())
            report["selections"][name] = entry
        if label is not None:
            bad = np.asarray(label, dtype=bool)
            # For resofilter a high score should mean bad; for less a low one.
            report["auroc"] = auroc(masked if criterion != "less" else -masked, bad)
            report["bad_share_eligible"] = _mean(bad[eligible].astype(np.float64))
        return cls(keep, baselines, reasons, report)


def _mean(values: np.ndarray) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def _jaccard(a: np.ndarray, b: np.ndarray) -> float | None:
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else None
