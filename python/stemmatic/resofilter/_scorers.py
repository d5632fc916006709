"""The two ResoFilter scorers on a model: per-sample losses, gradients and the step feature.

:func:`~stemmatic.resofilter.scoring.score_samples` (``scoring.py``, which
states the method and the two modes) holds the configuration, the layer
choice, batching and checkpoints; this module is the model code it runs on a
batch: ``fast`` (:class:`_FastScorer`: forward hooks on the chosen layers,
one backward pass, per-sample gradients from the layers' inputs and output
gradients) and ``faithful`` (:class:`_FaithfulScorer`: one sample, one fresh
``torch.optim`` step, weight difference, weights restored), the loss over
response tokens they share (:func:`_per_sample_losses`, with the output layer
fed only the loss positions) and the gradient projection (:class:`_Projector`).
Importing it does not import torch.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stemmatic.exceptions import ParameterError
from stemmatic.resofilter.data import EncodedSample, padded_batch

if TYPE_CHECKING:
    import torch

    from stemmatic.resofilter.scoring import ParameterSubset, ScoreConfig


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
