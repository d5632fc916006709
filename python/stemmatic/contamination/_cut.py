"""The GPT-3 decontamination cut (Brown et al. 2020, appendix C).

Instead of dropping a contaminated document, remove each match with a window
of ``window`` characters on both sides, which splits the document into
pieces; drop pieces shorter than ``min_piece`` characters; drop the whole
document when it was split more than ``max_splits`` times (or nothing is
left).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["GPT3_MAX_SPLITS", "GPT3_MIN_PIECE", "GPT3_WINDOW", "CutResult", "gpt3_cut"]

GPT3_WINDOW = 200
GPT3_MIN_PIECE = 200
GPT3_MAX_SPLITS = 10
#: What the kept pieces of one document are joined with.
PIECE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class CutResult:
    """The outcome for one document."""

    #: The kept pieces joined by :data:`PIECE_SEPARATOR`, or ``None`` when the document is dropped.
    text: str | None
    #: Number of cuts (matches merged with their windows).
    splits: int
    #: Characters of the original text not kept.
    removed_chars: int
    #: ``None`` when kept, else ``"gpt3_too_many_splits"`` or ``"gpt3_no_piece_left"``.
    reason: str | None


def gpt3_cut(
    text: str,
    spans: Iterable[tuple[int, int]],
    *,
    window: int = GPT3_WINDOW,
    min_piece: int = GPT3_MIN_PIECE,
    max_splits: int = GPT3_MAX_SPLITS,
) -> CutResult:
    """Cut the character ``spans`` of matches, each widened by ``window``, out of ``text``.

    >>> text = "a" * 500 + "LEAKED" + "b" * 500
    >>> result = gpt3_cut(text, [(500, 506)])
    >>> result.splits, result.text == "a" * 300 + "\\n\\n" + "b" * 300, result.removed_chars
    (1, True, 406)
    """
    cuts: list[list[int]] = []
    for start, end in sorted((max(0, s - window), min(len(text), e + window)) for s, e in spans):
        if cuts and start <= cuts[-1][1]:
            cuts[-1][1] = max(cuts[-1][1], end)
        else:
            cuts.append([start, end])
    if not cuts:
        return CutResult(text, 0, 0, None)
    if len(cuts) > max_splits:
        return CutResult(None, len(cuts), len(text), "gpt3_too_many_splits")
    pieces = []
    position = 0
    for start, end in cuts:
        pieces.append(text[position:start])
        position = end
    pieces.append(text[position:])
    kept = [p for p in pieces if len(p) >= min_piece]
    if not kept:
        return CutResult(None, len(cuts), len(text), "gpt3_no_piece_left")
    return CutResult(PIECE_SEPARATOR.join(kept), len(cuts), len(text) - sum(map(len, kept)), None)
