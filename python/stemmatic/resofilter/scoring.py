"""ResoFilter scores: how far one fine-tuning step on a sample moves the model's weights.

This module holds the configuration, the choice of layers, batching and
checkpoints; the model code of the two scorers (hooks, per-sample losses and
gradients, the step feature, the projection) is in ``_scorers.py``.

ResoFilter (Tu et al., "ResoFilter: Fine-grained Synthetic Data Filtering for
Large Language Models through Data-Parameter Resonance Analysis", Findings of
NAACL 2025, arXiv:2412.14809) takes, for every sample, one fresh AdamW step
(lr 1e-5, fp32, loss on the response tokens only) from the base model, and
scores the sample by the mean absolute change of the ``mlp.up_proj`` weights
of the last three layers (the mean over layers of each layer's mean). The
samples with the largest change are dropped.

Two ways to compute the same feature:

``faithful``
    The reference procedure, one sample at a time: forward, backward, a fresh
    ``torch.optim`` step, weight difference, weights restored. Only the
    chosen parameters take gradients and are handed to the optimizer: AdamW
    and SGD update each element from its own gradient and state only (no
    clipping, no coupling), so stepping the other parameters, as the
    reference code does, changes nothing in the chosen ones (and the
    backward pass stops at the first chosen one).

``fast``
    Batched per-sample gradients, no optimizer and no weight copies. A fresh
    AdamW step has zero moments, so its bias-corrected update is exactly
    ``lr * g / (|g| + eps)`` plus the decoupled decay ``lr * wd * w``; the
    mean ``|ΔW|`` is therefore a function of the per-sample gradient ``g``
    and ``w`` alone. The per-sample gradient of a linear layer is
    ``Σ_t grad_out[t] ⊗ input[t]``: forward hooks keep each chosen layer's
    input and make its output the start of the autograd graph (every
    parameter is frozen during scoring, so backpropagation stops at the first
    chosen layer and no weight gradient is ever formed), and one batched
    contraction in fp32 gives every sample's gradient. A Hugging Face model's
    output layer sees only the positions that predict a response token, so
    the vocabulary-sized logits cost a share of the batch, not all of it.
    The feature is computed
    in fp32 from the gradient, so a bf16 model does not round its 1e-5
    update to zero as a real bf16 weight update would.

Features: ``adamw`` (the paper's), ``sgd`` (``lr * |g + wd * w|``) and
``grad_norm`` (Frobenius norm of the per-sample gradient). Optionally each
sample's gradient of each chosen weight is also projected to
``projection_dim`` numbers with a seeded Kronecker-structured Gaussian
projection ``P_out · G · P_inᵀ`` (never materialising ``G`` for it), whose
matrices are drawn on the CPU so they are identical on every device; those
vectors feed the LESS-style criterion (:func:`less_scores`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.resofilter._scorers import _FaithfulScorer, _FastScorer, _is_conv1d, _Projector
from stemmatic.resofilter.data import NONFINITE, OK, EncodedSample

# Tensors and devices are typed with torch's own types (imported for the checker only: importing
# this module does not import torch). Models and layers stay Any: a Hugging Face model's layers
# (weight, bias, Conv1D, get_output_embeddings) are not visible through nn.Module's types.
if TYPE_CHECKING:
    import torch

__all__ = [
    "ScoreConfig",
    "ScoreResult",
    "less_scores",
    "load_hf_model",
    "resolve_device",
    "score_samples",
    "select_layers",
]

Mode = Literal["fast", "faithful"]
Feature = Literal["adamw", "sgd", "grad_norm"]
ParameterSubset = Literal["weight", "bias", "all"]


@dataclass(frozen=True)
class ScoreConfig:
    """Parameters of the scoring step.

    The defaults are the reference implementation's: a fresh AdamW step
    (torch defaults ``betas=(0.9, 0.999)``, ``eps=1e-8``,
    ``weight_decay=0.01``) at ``lr=1e-5`` and the ``mlp.up_proj`` weights of
    the last 3 layers.

    Attributes:
        mode: ``"fast"`` (batched per-sample gradients) or ``"faithful"``
            (the reference one-sample step and weight difference).
        feature: ``"adamw"``, ``"sgd"`` or ``"grad_norm"``.
        layers: regular expression searched in the qualified module names;
            the matching modules must be ``torch.nn.Linear`` or the
            ``Conv1D`` of GPT-2-family Hugging Face models (weight stored
            ``(in, out)``; e.g. ``layers=r"mlp\\.c_fc$"``).
        last_layers: keep only the last N matching modules (module order);
            None keeps them all.
        parameters: ``"weight"``, ``"bias"`` or ``"all"`` of each layer.
        lr: learning rate of the step.
        weight_decay: decoupled decay (AdamW) or L2 term (SGD); None means
            0.01 for AdamW and 0 for SGD, the torch defaults.
        betas: AdamW betas (a fresh step does not depend on them; kept so the
            faithful step is the reference one).
        eps: AdamW epsilon.
        batch_size: samples per batch (fast mode).
        projection_dim: if > 0, also return a random projection of each
            sample's gradient per layer; must be a perfect square (k*k).
        projection_seed: seed of the projection matrices.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        amp: run the forward pass under ``torch.autocast`` in bfloat16 (CUDA
            only; the feature is still computed in fp32).
        grad_memory_bytes: budget for the per-sample gradients held at once.
    """

    mode: Mode = "fast"
    feature: Feature = "adamw"
    layers: str = r"mlp\.up_proj$"
    last_layers: int | None = 3
    parameters: ParameterSubset = "weight"
    lr: float = 1e-5
    weight_decay: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    batch_size: int = 32
    projection_dim: int = 0
    projection_seed: int = 0
    device: str = "auto"
    amp: bool = False
    grad_memory_bytes: int = 256 << 20

    def __post_init__(self) -> None:
        if self.mode not in ("fast", "faithful"):
            raise ParameterError(f"mode={self.mode!r}; expected 'fast' or 'faithful'")
        if self.feature not in ("adamw", "sgd", "grad_norm"):
            raise ParameterError(f"feature={self.feature!r}; expected 'adamw', 'sgd' or 'grad_norm'")
        if self.parameters not in ("weight", "bias", "all"):
            raise ParameterError(f"parameters={self.parameters!r}; expected 'weight', 'bias' or 'all'")
        if self.last_layers is not None and self.last_layers < 1:
            raise ParameterError(f"last_layers={self.last_layers} must be at least 1 (or None for all)")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ParameterError(f"lr={self.lr} must be a positive finite number")
        if self.weight_decay is not None and not self.weight_decay >= 0:
            raise ParameterError(f"weight_decay={self.weight_decay} must be >= 0")
        if not self.eps > 0:
            raise ParameterError(f"eps={self.eps} must be > 0")
        if self.batch_size < 1:
            raise ParameterError(f"batch_size={self.batch_size} must be at least 1")
        if self.projection_dim < 0 or math.isqrt(self.projection_dim) ** 2 != self.projection_dim:
            raise ParameterError(f"projection_dim={self.projection_dim} must be 0 or a perfect square (k*k)")
        try:
            re.compile(self.layers)
        except re.error as err:
            raise ParameterError(f"layers={self.layers!r} is not a regular expression: {err}") from err

    @property
    def decay(self) -> float:
        """The weight decay in effect."""
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.01 if self.feature == "adamw" else 0.0

    def fingerprint(self) -> dict[str, Any]:
        """The settings that change the numbers (for checkpoints and reports)."""
        out = asdict(self)
        for volatile in ("batch_size", "device", "grad_memory_bytes"):
            out.pop(volatile)
        out["weight_decay"] = self.decay
        return out


@dataclass
class ScoreResult:
    """Scores of a list of samples, position by position.

    ``score`` is the mean of ``layer_features`` over layers; both are NaN
    where ``status`` is not ``"ok"`` (the sample could not be scored).
    """

    score: np.ndarray
    layer_features: np.ndarray
    loss: np.ndarray
    status: list[str]
    layer_names: list[str]
    projection: np.ndarray | None = None
    seconds: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of samples per status."""
        return dict(Counter(self.status))


def resolve_device(device: str = "auto") -> torch.device:
    """``torch.device`` for ``device``; ``"auto"`` is CUDA when available, else CPU.

    >>> str(resolve_device("cpu"))
    'cpu'
    """
    require("torch", "ResoFilter")
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ParameterError(f"device={device!r} is not a torch device: {err}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} requested but CUDA is not available")
    return resolved


def load_hf_model(
    path: str | os.PathLike[str], *, dtype: str = "float32", device: str = "auto"
) -> tuple[Any, Any]:
    """Load a Hugging Face causal LM and its tokenizer from a local directory.

    The reference implementation scores in fp32 (the default ``dtype``).

    Raises:
        ParameterError: the path does not exist, is not a model directory, or
            ``dtype`` is unknown.
        MissingExtraError: torch or transformers is not installed.
    """
    require("torch", "ResoFilter")
    import torch

    transformers = require("transformers", "ResoFilter")
    model_dir = Path(path)
    if not model_dir.exists():
        raise ParameterError(f"model path {str(model_dir)!r} does not exist")
    if not (model_dir / "config.json").is_file():
        raise ParameterError(
            f"model path {str(model_dir)!r} has no config.json: not a Hugging Face model directory"
        )
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ParameterError(f"dtype={dtype!r} is not a torch dtype (float32, bfloat16, float16)")
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype)
    model.to(resolve_device(device))
    model.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    return model, tokenizer


def select_layers(model: Any, config: ScoreConfig) -> list[tuple[str, Any]]:
    """The ``(name, module)`` pairs whose parameters are scored, in module order.

    >>> from stemmatic.resofilter.tiny import tiny_transformer
    >>> model = tiny_transformer(d_model=8, n_layers=4, n_heads=2, d_ff=8)
    >>> [name for name, _ in select_layers(model, ScoreConfig())]
    ['layers.1.mlp.up_proj', 'layers.2.mlp.up_proj', 'layers.3.mlp.up_proj']
    """
    require("torch", "ResoFilter")
    import torch

    pattern = re.compile(config.layers)
    found = [(name, module) for name, module in model.named_modules() if name and pattern.search(name)]
    if not found:
        raise ParameterError(f"no module name matches layers={config.layers!r}")
    for name, module in found:
        if not isinstance(module, torch.nn.Linear) and not _is_conv1d(module):
            raise ParameterError(
                f"module {name!r} matched by layers={config.layers!r} is not a torch.nn.Linear "
                "(or a Hugging Face Conv1D)"
            )
        if config.parameters == "bias" and module.bias is None:
            raise ParameterError(f"module {name!r} has no bias but parameters='bias'")
    if config.last_layers is not None:
        found = found[-config.last_layers :]
    return found


def _inputs_key(
    config: ScoreConfig, layer_names: list[str], pad_id: int, samples: Sequence[EncodedSample]
) -> str:
    """Digest of the settings and samples a checkpoint belongs to."""
    digest = hashlib.sha256()
    digest.update(json.dumps([config.fingerprint(), layer_names, pad_id], sort_keys=True).encode())
    for sample in samples:
        digest.update(np.asarray(sample.input_ids, dtype=np.int64).tobytes())
        digest.update(f"|{sample.response_start}|{sample.flag}|".encode())
    return digest.hexdigest()


class _Checkpoint:
    """Scores of finished samples, saved atomically so an interrupted run resumes."""

    def __init__(self, path: Path | None, key: str) -> None:
        self.path = path
        self.key = key
        self.last_save = time.monotonic()

    def load(self) -> dict[str, np.ndarray] | None:
        if self.path is None or not self.path.exists():
            return None
        with np.load(self.path, allow_pickle=False) as data:
            if str(data["key"]) != self.key:
                raise ParameterError(
                    f"checkpoint {self.path} was written for other inputs or settings; delete it or change the path"
                )
            return {name: data[name] for name in data.files if name != "key"}

    def save(self, arrays: dict[str, np.ndarray], *, force: bool = False) -> None:
        if self.path is None or not (force or time.monotonic() - self.last_save > 30):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        payload: dict[str, Any] = {"key": np.array(self.key), **arrays}
        np.savez(tmp, **payload)
        tmp.replace(self.path)
        self.last_save = time.monotonic()


def score_samples(
    model: Any,
    samples: Sequence[EncodedSample],
    config: ScoreConfig = ScoreConfig(),
    *,
    pad_id: int = 0,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> ScoreResult:
    """Score encoded samples with ``model`` (a HF causal LM or ``module(input_ids) -> logits``).

    The model is moved to the configured device and put in eval mode (the
    reference runs it without dropout); its weights are left as they were.
    Flagged samples (``EncodedSample.flag``) and samples whose loss or feature
    is NaN/inf get no score (NaN) and their status.

    Args:
        model: a ``torch.nn.Module``. A plain module must be causal and is
            called as ``model(input_ids)``; right padding is then harmless. A
            model whose ``forward`` takes ``attention_mask`` also gets it.
        samples: from :func:`stemmatic.resofilter.data.encode_examples`.
        config: the scoring parameters.
        pad_id: id used to right-pad a batch.
        progress: called with ``(samples done, total)`` after each batch.
        checkpoint: ``.npz`` file to save finished scores to (every 30 s, at
            the end, and when interrupted) and to resume from.

    >>> import torch
    >>> from stemmatic.resofilter.data import Example, Tokenizer, encode_examples
    >>> from stemmatic.resofilter.tiny import ByteTokenizer, tiny_transformer
    >>> tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    >>> samples = encode_examples([Example(0, "0", "1+1=", "2"), Example(1, "1", "x", "")], tok)
    >>> model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    >>> result = score_samples(model, samples, ScoreConfig(device="cpu"), pad_id=tok.pad_id)
    >>> result.status, bool(result.score[0] > 0)
    (['ok', 'empty_response'], True)
    """
    require("torch", "ResoFilter")
    device = resolve_device(config.device)
    if config.amp and device.type != "cuda":
        raise ParameterError("amp=True needs a CUDA device")
    model.to(device)
    layers = select_layers(model, config)
    layer_names = [name for name, _ in layers]
    count = len(samples)
    scores = np.full((count, len(layers)), np.nan, dtype=np.float64)
    losses = np.full(count, np.nan, dtype=np.float64)
    status = [s.flag or OK for s in samples]
    projection = (
        np.full((count, len(layers) * config.projection_dim), np.nan, dtype=np.float32)
        if config.projection_dim
        else None
    )
    done = np.array([s.flag is not None for s in samples], dtype=bool)

    saver = _Checkpoint(
        Path(checkpoint) if checkpoint is not None else None,
        _inputs_key(config, layer_names, pad_id, samples) if checkpoint is not None else "",
    )
    state = saver.load()
    if state is not None:
        scores, losses, done = state["scores"], state["losses"], state["done"]
        status = [str(s) for s in state["status"]]
        if projection is not None:
            projection = state["projection"]

    def arrays() -> dict[str, np.ndarray]:
        out = {"scores": scores, "losses": losses, "done": done, "status": np.array(status)}
        if projection is not None:
            out["projection"] = projection
        return out

    projector = (
        _Projector(layers, config.projection_dim, config.projection_seed, device)
        if config.projection_dim
        else None
    )
    # Longest first, so padding is small and the first batch shows the memory peak.
    todo = sorted(np.flatnonzero(~done).tolist(), key=lambda i: (-len(samples[i].input_ids), i))
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    if progress is not None:
        progress(int(done.sum()), count)
    try:
        if config.mode == "fast":
            step = config.batch_size
            runner = _FastScorer(model, layers, config, projector, device)
        else:
            step = 1
            runner = _FaithfulScorer(model, layers, config, projector)  # type: ignore[assignment]
        try:
            for begin in range(0, len(todo), step):
                positions = todo[begin : begin + step]
                result = runner.run([samples[i] for i in positions], pad_id)
                for j, position in enumerate(positions):
                    losses[position] = result.losses[j]
                    if result.ok[j] and np.all(np.isfinite(result.features[j])):
                        scores[position] = result.features[j]
                        if projection is not None and result.projection is not None:
                            projection[position] = result.projection[j]
                    else:
                        status[position] = NONFINITE
                    done[position] = True
                saver.save(arrays())
                if progress is not None:
                    progress(int(done.sum()), count)
        except BaseException:
            # Interrupted (Ctrl-C, out of memory, ...): keep what is finished for --resume.
            saver.save(arrays(), force=True)
            raise
        finally:
            runner.close()
    finally:
        model.train(was_training)
    saver.save(arrays(), force=True)
    return ScoreResult(
        score=scores.mean(axis=1),
        layer_features=scores,
        loss=losses,
        status=status,
        layer_names=layer_names,
        projection=projection,
        seconds=time.perf_counter() - started,
        config=config.fingerprint(),
    )


def less_scores(train_projection: np.ndarray, target_projection: np.ndarray) -> np.ndarray:
    """LESS-style influence: mean cosine of each training gradient to the target set's gradients.

    (Xia et al., "LESS: Selecting Influential Data for Targeted Instruction
    Tuning", ICML 2024, with one target task and plain, not Adam-preconditioned,
    projected gradients.) Higher means the sample pushes the model the way the
    target set does. Rows with a NaN (unscored samples) get NaN.

    >>> less_scores(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 0.1]])).round(3)
    array([0.998, 0.05 ])
    """
    train = np.asarray(train_projection, dtype=np.float64)
    target = np.asarray(target_projection, dtype=np.float64)
    if train.ndim != 2 or target.ndim != 2 or train.shape[1] != target.shape[1]:
        raise ParameterError(
            f"projections must be 2-D with the same width, got {train.shape} and {target.shape}"
        )
    if target.shape[0] == 0 or not np.all(np.isfinite(target)):
        raise InvalidInputError("the target set has no scored sample, or a NaN projection")
    target_unit = target / np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-30)
    direction = target_unit.mean(axis=0)
    with np.errstate(invalid="ignore"):
        train_unit = train / np.maximum(np.linalg.norm(train, axis=1, keepdims=True), 1e-30)
    return np.asarray(train_unit @ direction)
