"""ResoFilter: score fine-tuning samples by how much one training step on them moves the weights.

Tu et al., "ResoFilter: Fine-grained Synthetic Data Filtering for Large
Language Models through Data-Parameter Resonance Analysis" (Findings of
NAACL 2025, arXiv:2412.14809). See :mod:`stemmatic.resofilter.scoring` for
the method and the two ways it is computed.

Importable without torch: the functions that need it import it lazily and
raise :class:`~stemmatic.MissingExtraError` naming the ``[resofilter]`` extra.

>>> from stemmatic.resofilter import ScoreConfig
>>> ScoreConfig().feature, ScoreConfig().lr, ScoreConfig().last_layers
('adamw', 1e-05, 3)
"""

from __future__ import annotations

from stemmatic.resofilter.api import SelectDatasetResult, score_dataset, select_dataset
from stemmatic.resofilter.data import (
    EncodedSample,
    Example,
    Fields,
    PromptFormat,
    Tokenizer,
    dedup_prompts,
    encode_examples,
    read_examples,
)
from stemmatic.resofilter.scoring import (
    ScoreConfig,
    ScoreResult,
    less_scores,
    load_hf_model,
    resolve_device,
    score_samples,
    select_layers,
)
from stemmatic.resofilter.selection import Selection, auroc, select_lowest

__all__ = [
    "EncodedSample",
    "Example",
    "Fields",
    "PromptFormat",
    "ScoreConfig",
    "ScoreResult",
    "SelectDatasetResult",
    "Selection",
    "Tokenizer",
    "auroc",
    "dedup_prompts",
    "encode_examples",
    "less_scores",
    "load_hf_model",
    "read_examples",
    "resolve_device",
    "score_dataset",
    "score_samples",
    "select_dataset",
    "select_layers",
    "select_lowest",
]
