"""ResoFilter scores: how far one fine-tuning step on a sample moves the model's weights.

One module of about 930 lines, on purpose: the two scorers (``faithful``,
``fast``) must give the same feature, and they share the layer selection, the
hooks, the projection, the per-sample loss and the checkpoints; kept
together, a change to one is made beside the other.

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
import inspect
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.resofilter.data import NONFINITE, OK, EncodedSample, padded_batch

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
        out: dict[str, int] = {}
        for status in self.status:
            out[status] = out.get(status, 0) + 1
        return out


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


def _is_conv1d(module: Any) -> bool:
    """A Hugging Face ``Conv1D`` (GPT-2 family): a linear layer whose weight is stored ``(in, out)``.

    Recognised by class, so a plain torch model never imports transformers.
    """
    return any(
        cls.__name__ == "Conv1D" and cls.__module__.startswith("transformers.")
        for cls in type(module).__mro__
    )


def _out_in(module: Any) -> tuple[int, int]:
    """``(out_features, in_features)`` of a linear layer, whatever its weight layout."""
    rows, cols = module.weight.shape
    return (int(cols), int(rows)) if _is_conv1d(module) else (int(rows), int(cols))


def _layer_params(module: Any, subset: ParameterSubset) -> list[Any]:
    if subset == "weight":
        return [module.weight]
    if subset == "bias":
        return [module.bias]
    return [p for p in (module.weight, module.bias) if p is not None]


class _Projector:
    """Seeded Kronecker Gaussian projection ``vec(P_out G P_inᵀ)`` of a layer's weight gradient."""

    def __init__(self, layers: list[tuple[str, Any]], dim: int, seed: int, device: torch.device) -> None:
        import torch

        self.side = math.isqrt(dim)
        self.matrices: list[tuple[torch.Tensor, torch.Tensor]] = []
        # A Conv1D's weight gradient is stored (in, out): projected as its transpose.
        self.transposed = [_is_conv1d(module) for _, module in layers]
        for index, (_, module) in enumerate(layers):
            out_features, in_features = _out_in(module)
            generator = torch.Generator(device="cpu").manual_seed(seed * 1_000_003 + index)
            scale = self.side**-0.5
            p_out = torch.randn(self.side, out_features, generator=generator, dtype=torch.float32) * scale
            p_in = torch.randn(self.side, in_features, generator=generator, dtype=torch.float32) * scale
            self.matrices.append((p_out.to(device), p_in.to(device)))

    def from_factors(self, index: int, grad_out: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Projection of ``Σ_t grad_out[b,t] ⊗ inputs[b,t]`` for every sample b, without forming it."""
        p_out, p_in = self.matrices[index]
        left = grad_out @ p_out.T  # (B, T, k)
        right = inputs @ p_in.T  # (B, T, k)
        return (left.transpose(1, 2) @ right).flatten(1)

    def from_gradient(self, index: int, gradient: torch.Tensor) -> torch.Tensor:
        """Projection of a weight gradient in the layer's own layout."""
        p_out, p_in = self.matrices[index]
        gradient = gradient.float()
        if self.transposed[index]:
            gradient = gradient.T
        return (p_out @ gradient @ p_in.T).flatten()


def _step_feature(config: ScoreConfig, gradient: torch.Tensor, parameter: torch.Tensor) -> torch.Tensor:
    """Per-sample ``Σ|ΔW|`` (or squared gradient norm) from per-sample gradients ``(B, *shape)``.

    ``gradient`` is overwritten (the update is formed in place: one buffer,
    not one per operation).
    """
    if config.feature == "grad_norm":
        return gradient.flatten(1).pow(2).sum(1)  # summed over parameters, square-rooted by the caller
    # A fresh AdamW step: g / (|g| + eps); SGD: g itself.
    update = gradient.div_(gradient.abs().add_(config.eps)) if config.feature == "adamw" else gradient
    if config.decay:
        update.add_(config.decay * parameter.detach().float())
    return update.abs_().flatten(1).sum(1) * config.lr


class _Tap:
    """Forward hook on one linear layer: keeps its input and the gradient of its output."""

    def __init__(self, name: str, module: Any) -> None:
        self.name = name
        self.inputs: torch.Tensor | None = None
        self.grad_out: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._forward)

    def _forward(self, module: Any, args: tuple[Any, ...], output: Any) -> Any:
        if self.inputs is not None:
            raise ParameterError(f"layer {self.name!r} ran twice in one forward pass (shared module?)")
        self.inputs = args[0].detach()
        if not output.requires_grad:
            # Every parameter is frozen, so nothing before the first tapped layer
            # is recorded: backpropagation starts its graph here.
            output = output.detach().requires_grad_(True)
        output.register_hook(self._grad)
        return output

    def _grad(self, grad: Any) -> None:
        self.grad_out = grad.detach()

    def clear(self) -> None:
        self.inputs = None
        self.grad_out = None


def _forward_kwargs(model: Any) -> tuple[bool, bool]:
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False, False
    return "attention_mask" in parameters, "use_cache" in parameters


def _per_sample_losses(
    model: Any,
    ids: torch.Tensor,
    mask: _Mask,
    flags: tuple[bool, bool],
    head: _LossRows | None = None,
) -> torch.Tensor:
    """Mean cross-entropy over the response tokens of each sample, shape ``(B,)``.

    With ``head`` (a hook on the output layer), only the hidden states of the
    positions whose next token is a response token reach the output layer:
    the logits, their softmax and their backward pass cost a share of the
    batch's positions instead of all of them (and ``B × T × vocab`` logits
    are never held, which for a 150k vocabulary is most of the memory).
    """
    import torch

    kwargs: dict[str, Any] = {}
    if flags[0]:
        kwargs["attention_mask"] = (
            torch.arange(ids.shape[1], device=ids.device)[None, :] < mask.lengths
        ).long()
    if flags[1]:
        kwargs["use_cache"] = False
    weights = mask.values[:, 1:]
    rows = None
    if head is not None:
        # Position t predicts token t + 1: the rows are the positions before a response token.
        positions = torch.zeros_like(mask.values, dtype=torch.bool)
        positions[:, :-1] = weights > 0
        rows = positions.flatten().nonzero().squeeze(1)
        head.arm(rows, ids.shape)
    try:
        output = model(ids, **kwargs)
    finally:
        gathered = head.disarm() if head is not None else False
    logits = output.logits if hasattr(output, "logits") else output
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    vocab = logits.shape[-1]
    if gathered and rows is not None:
        flat = logits.reshape(-1, vocab)
        targets = ids.flatten()[rows + 1]
        token_loss = torch.nn.functional.cross_entropy(flat.float(), targets, reduction="none")
        sample = torch.div(rows, ids.shape[1], rounding_mode="floor")
        totals = torch.zeros(ids.shape[0], dtype=token_loss.dtype, device=ids.device)
        totals.index_add_(0, sample, token_loss)
        return totals / weights.sum(1)
    token_loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, vocab), ids[:, 1:].reshape(-1), reduction="none"
    ).view(ids.shape[0], -1)
    return (token_loss * weights).sum(1) / weights.sum(1)


class _LossRows:
    """Forward pre-hook on a model's output layer that hands it only the loss positions' rows.

    Armed with flat row indices into the ``(B, T)`` positions, it replaces
    the layer's ``(B, T, hidden)`` input by ``(1, rows, hidden)``; an input
    of any other shape (a model that calls its output layer differently) is
    left alone and :meth:`disarm` reports False, so the caller uses the full
    logits.
    """

    def __init__(self, module: Any) -> None:
        self.rows: torch.Tensor | None = None
        self.shape: tuple[int, int] = (0, 0)
        self.gathered = False
        self.handle = module.register_forward_pre_hook(self._pre)

    @staticmethod
    def of(model: Any, scored: Sequence[Any] = ()) -> _LossRows | None:
        """A hook on ``model``'s output layer (Hugging Face ``get_output_embeddings``), if it has one
        and it is not one of the ``scored`` modules."""
        import torch

        getter = getattr(model, "get_output_embeddings", None)
        module = getter() if callable(getter) else None
        if not isinstance(module, torch.nn.Linear) or any(module is m for m in scored):
            return None
        return _LossRows(module)

    def arm(self, rows: torch.Tensor, shape: tuple[int, ...]) -> None:
        self.rows, self.shape, self.gathered = rows, (int(shape[0]), int(shape[1])), False

    def disarm(self) -> bool:
        gathered, self.rows, self.gathered = self.gathered, None, False
        return gathered

    def _pre(self, module: Any, args: tuple[Any, ...]) -> Any:
        hidden = args[0] if args else None
        if self.rows is None or hidden is None or self.gathered or tuple(hidden.shape[:2]) != self.shape:
            return None
        self.gathered = True
        picked = hidden.reshape(-1, hidden.shape[-1]).index_select(0, self.rows)
        return (picked.unsqueeze(0), *args[1:])

    def close(self) -> None:
        self.handle.remove()


class _Mask:
    """Per position 1.0 for a response token (else 0.0), and each sample's length ``(B, 1)``."""

    def __init__(self, values: torch.Tensor, lengths: torch.Tensor) -> None:
        self.values = values
        self.lengths = lengths


def _to_device(
    samples: Sequence[EncodedSample], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, _Mask]:
    import torch

    ids, masks = padded_batch(samples, pad_id)
    lengths = torch.tensor([[len(s.input_ids)] for s in samples], device=device)
    return (
        torch.tensor(ids, dtype=torch.long, device=device),
        _Mask(torch.tensor(masks, dtype=torch.float32, device=device), lengths),
    )


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


@dataclass
class _BatchResult:
    features: np.ndarray  # (B, L)
    losses: np.ndarray  # (B,)
    ok: np.ndarray  # (B,) bool
    projection: np.ndarray | None  # (B, L * projection_dim)


def _train_only(model: Any, trainable: Sequence[Any]) -> list[tuple[Any, bool]]:
    """Let only ``trainable`` of ``model``'s parameters take gradients; their previous flags."""
    keep = {id(p) for p in trainable}
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(id(parameter) in keep)
    return flags


def _restore_flags(flags: list[tuple[Any, bool]]) -> None:
    for parameter, flag in flags:
        parameter.requires_grad_(flag)


class _FastScorer:
    def __init__(
        self,
        model: Any,
        layers: list[tuple[str, Any]],
        config: ScoreConfig,
        projector: _Projector | None,
        device: torch.device,
    ) -> None:
        self.model = model
        self.layers = layers
        self.config = config
        self.projector = projector
        self.device = device
        self.flags = _forward_kwargs(model)
        self.frozen = _train_only(model, ())
        self.taps = [_Tap(name, module) for name, module in layers]
        # Not when the output layer is itself scored: its tap needs every position.
        self.head = _LossRows.of(model, [module for _, module in layers])

    def close(self) -> None:
        for tap in self.taps:
            tap.handle.remove()
        if self.head is not None:
            self.head.close()
        _restore_flags(self.frozen)

    def _losses(self, samples: Sequence[EncodedSample], pad_id: int) -> torch.Tensor:
        import torch

        for tap in self.taps:
            tap.clear()
        ids, mask = _to_device(samples, pad_id, self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.amp):
            return _per_sample_losses(self.model, ids, mask, self.flags, self.head)

    def run(self, samples: Sequence[EncodedSample], pad_id: int) -> _BatchResult:
        import torch

        count = len(samples)
        n_layers = len(self.layers)
        features = np.full((count, n_layers), np.nan)
        projection = np.full((count, n_layers * self.config.projection_dim), np.nan, dtype=np.float32)
        with torch.enable_grad():
            losses = self._losses(samples, pad_id)
            finite = torch.isfinite(losses.detach()).cpu().numpy()
            loss_values = losses.detach().double().cpu().numpy()
            if not finite.all():
                # A non-finite loss poisons the backward pass of the whole batch: redo without it.
                keep = np.flatnonzero(finite)
                if keep.size == 0:
                    return _BatchResult(features, loss_values, finite, projection)
                sub = self.run([samples[int(i)] for i in keep], pad_id)
                features[keep] = sub.features
                projection[keep] = sub.projection if sub.projection is not None else np.nan
                ok = np.zeros(count, dtype=bool)
                ok[keep] = sub.ok
                return _BatchResult(features, loss_values, ok, projection)
            losses.sum().backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            for index, ((_, module), tap) in enumerate(zip(self.layers, self.taps, strict=True)):
                features[:, index] = self._layer_feature(module, tap, count)
                if self.projector is not None:
                    dim = self.config.projection_dim
                    grad_out, inputs = self._factors(module, tap, count)
                    projection[:, index * dim : (index + 1) * dim] = (
                        self.projector.from_factors(index, grad_out, inputs).cpu().numpy()
                    )
        for tap in self.taps:
            tap.clear()
        return _BatchResult(features, loss_values, np.ones(count, dtype=bool), projection)

    def _factors(self, module: Any, tap: _Tap, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        assert tap.inputs is not None  # the forward pass ran
        inputs = tap.inputs.float()
        inputs = inputs.reshape(count, -1, inputs.shape[-1])
        if tap.grad_out is None:  # the layer does not reach the loss
            grad_out = torch.zeros(*inputs.shape[:-1], _out_in(module)[0], device=inputs.device)
        else:
            grad_out = tap.grad_out.float().reshape(count, -1, tap.grad_out.shape[-1])
        return grad_out, inputs

    def _layer_feature(self, module: Any, tap: _Tap, count: int) -> np.ndarray:
        import torch

        config = self.config
        grad_out, inputs = self._factors(module, tap, count)
        out_features, in_features = _out_in(module)
        conv1d = _is_conv1d(module)
        per_sample = out_features * in_features * 4 * 3
        chunk = max(1, min(count, config.grad_memory_bytes // per_sample))
        totals = torch.zeros(count, dtype=torch.float64, device=inputs.device)
        numel = 0
        for parameter_name in ("weight", "bias"):
            parameter = getattr(module, parameter_name)
            if parameter is None or (config.parameters != "all" and config.parameters != parameter_name):
                continue
            numel += parameter.numel()
            for begin in range(0, count, chunk):
                end = min(count, begin + chunk)
                if parameter_name == "weight" and conv1d:
                    # In the weight's (in, out) layout.
                    gradient = torch.bmm(inputs[begin:end].transpose(1, 2), grad_out[begin:end])
                elif parameter_name == "weight":
                    gradient = torch.bmm(grad_out[begin:end].transpose(1, 2), inputs[begin:end])
                else:
                    gradient = grad_out[begin:end].sum(1)
                totals[begin:end] += _step_feature(config, gradient, parameter).double()
        if config.feature == "grad_norm":
            return totals.sqrt().cpu().numpy()
        return (totals / numel).cpu().numpy()


class _FaithfulScorer:
    """The reference procedure: one sample, one fresh optimizer step, weight difference, restore."""

    def __init__(
        self, model: Any, layers: list[tuple[str, Any]], config: ScoreConfig, projector: _Projector | None
    ) -> None:
        self.model = model
        self.layers = layers
        self.config = config
        self.projector = projector
        self.flags = _forward_kwargs(model)
        self.device = next(model.parameters()).device
        self.params = [_layer_params(module, config.parameters) for _, module in layers]
        # Only the scored parameters take gradients: backpropagation stops at
        # the first of them and no other weight gradient is formed. The
        # reference steps every parameter, but AdamW and SGD update each
        # element from its own gradient and state, so the scored ones move
        # the same.
        self.frozen = _train_only(model, [p for group in self.params for p in group])

    def close(self) -> None:
        _restore_flags(self.frozen)
        self.model.zero_grad(set_to_none=True)

    def run(self, samples: Sequence[EncodedSample], pad_id: int) -> _BatchResult:
        import torch

        config = self.config
        if len(samples) != 1:
            raise AssertionError("the faithful scorer takes one sample at a time")
        n_layers = len(self.layers)
        features = np.full((1, n_layers), np.nan)
        projection = np.full((1, n_layers * config.projection_dim), np.nan, dtype=np.float32)
        self.model.zero_grad(set_to_none=True)
        ids, mask = _to_device(samples, pad_id, self.device)
        with torch.enable_grad():
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.amp):
                loss = _per_sample_losses(self.model, ids, mask, self.flags)[0]
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                return _BatchResult(features, np.array([loss_value]), np.array([False]), projection)
            loss.backward()  # type: ignore[no-untyped-call]
        flat = [p for group in self.params for p in group]
        if self.projector is not None:
            dim = config.projection_dim
            for index, (_, module) in enumerate(self.layers):
                grad = module.weight.grad
                if grad is None:
                    grad = torch.zeros_like(module.weight)
                projection[0, index * dim : (index + 1) * dim] = (
                    self.projector.from_gradient(index, grad).detach().cpu().numpy()
                )
        if config.feature == "grad_norm":
            for index, group in enumerate(self.params):
                total = sum(float(p.grad.double().pow(2).sum()) for p in group if p.grad is not None)
                features[0, index] = math.sqrt(total)
        else:
            saved = [p.detach().clone() for p in flat]
            if config.feature == "adamw":
                optimizer: Any = torch.optim.AdamW(
                    flat, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.decay
                )
            else:
                optimizer = torch.optim.SGD(flat, lr=config.lr, momentum=0.0, weight_decay=config.decay)
            optimizer.step()
            with torch.no_grad():
                position = 0
                for index, group in enumerate(self.params):
                    total, numel = 0.0, 0
                    for parameter in group:
                        before = saved[position]
                        total += float((parameter.float() - before.float()).abs().double().sum())
                        numel += parameter.numel()
                        parameter.copy_(before)
                        position += 1
                    features[0, index] = total / numel
        self.model.zero_grad(set_to_none=True)
        return _BatchResult(features, np.array([loss_value]), np.array([True]), projection)


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
