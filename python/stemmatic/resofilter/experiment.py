"""The ResoFilter evidence experiment, on a tiny transformer built in code.

The task is generated: the prompt is a string of 2-6 letters followed by
``=``, the response is the string read backwards with every letter mapped
through a fixed secret permutation of the alphabet. A base model is
pretrained briefly on clean samples (so it is partly competent, as a base
LLM is), then a fine-tuning set is generated in which a known share of the
responses is corrupted (replaced by random letters of the same length, so
length says nothing about corruption).

The experiment measures (1) how well each score separates corrupted samples
(AUROC, 0.5 = chance), and (2) held-out exact-match accuracy after
fine-tuning the base model on the ResoFilter half, the full set, a random
half and a length-based half (the longest responses), with the same number
of epochs each. Nothing is downloaded; everything is seeded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stemmatic._extras import require
from stemmatic.resofilter.data import (
    EncodedSample,
    Example,
    PromptFormat,
    Tokenizer,
    encode_examples,
    padded_batch,
)
from stemmatic.resofilter.scoring import ScoreConfig, score_samples
from stemmatic.resofilter.selection import auroc, length_keep, random_keep, select_lowest
from stemmatic.resofilter.tiny import ByteTokenizer, tiny_transformer

# torch is imported for the checker only here and inside the functions that run it, so that importing
# this module does not import torch (run_experiment checks the extra first).
if TYPE_CHECKING:
    import torch

__all__ = ["ExperimentConfig", "make_task", "run_experiment"]

FORMAT = PromptFormat(prompt_template="{prompt}=", response_template="{response}")


@dataclass(frozen=True)
class ExperimentConfig:
    """Sizes of the experiment (the defaults are the benchmark's full size)."""

    train_samples: int = 1024
    corrupt_share: float = 0.3
    eval_samples: int = 512
    pretrain_samples: int = 2048
    pretrain_steps: int = 300
    finetune_epochs: int = 4
    batch_size: int = 32
    pretrain_lr: float = 3e-3
    finetune_lr: float = 1e-3
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 128
    alphabet: str = "abcdefghij"
    min_len: int = 2
    max_len: int = 6
    features: tuple[str, ...] = ("adamw", "sgd", "grad_norm")
    seed: int = 0


def make_task(
    count: int, *, rng: np.random.Generator, alphabet: str, min_len: int, max_len: int, secret: str
) -> list[tuple[str, str]]:
    """``count`` (prompt, response) pairs: response = reversed prompt mapped through ``secret``.

    >>> make_task(1, rng=np.random.default_rng(0), alphabet="ab", min_len=3, max_len=3, secret="ba")
    [('bbb', 'aaa')]
    """
    table = str.maketrans(alphabet, secret)
    letters = np.array(list(alphabet))
    pairs = []
    for _ in range(count):
        prompt = "".join(rng.choice(letters, size=int(rng.integers(min_len, max_len + 1))))
        pairs.append((prompt, prompt[::-1].translate(table)))
    return pairs


#: Longest sample of the task, in byte tokens (and the model's position table).
MAX_LENGTH = 64


def base_model(config: ExperimentConfig) -> Any:
    """The experiment's randomly initialised model (:func:`tiny_transformer` of the config's sizes)."""
    return tiny_transformer(
        d_model=config.d_model,
        n_layers=config.n_layers,
        n_heads=config.n_heads,
        d_ff=config.d_ff,
        max_len=MAX_LENGTH,
        seed=config.seed,
    )


def encode_pairs(pairs: list[tuple[str, str]], tokenizer: Tokenizer) -> list[EncodedSample]:
    """Task pairs as encoded samples (the experiment's prompt format and byte tokens)."""
    examples = [Example(i, str(i), p, r) for i, (p, r) in enumerate(pairs)]
    return encode_examples(examples, tokenizer, FORMAT, max_length=MAX_LENGTH)


def _train(
    model: torch.nn.Module,
    samples: Sequence[EncodedSample],
    pad_id: int,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> None:
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    model.train()
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch_size:
            order.extend(rng.permutation(len(samples)).tolist())
        batch = [samples[i] for i in order[:batch_size]]
        del order[:batch_size]
        ids_list, mask_list = padded_batch(batch, pad_id)
        ids = torch.tensor(ids_list)
        mask = torch.tensor(mask_list, dtype=torch.float32)[:, 1:]
        logits = model(ids)[:, :-1]
        token_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        ).view(mask.shape)
        loss = (token_loss * mask).sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    model.eval()


def _accuracy(model: torch.nn.Module, samples: Sequence[EncodedSample], pad_id: int) -> float:
    """Exact match: every response token (and eos) is the argmax given the true prefix,
    which is the same as greedy decoding producing the whole answer."""
    import torch

    correct = 0
    with torch.no_grad():
        for begin in range(0, len(samples), 256):
            batch = samples[begin : begin + 256]
            ids_list, mask_list = padded_batch(batch, pad_id)
            ids = torch.tensor(ids_list)
            mask = torch.tensor(mask_list, dtype=torch.bool)[:, 1:]
            hits = (model(ids)[:, :-1].argmax(-1) == ids[:, 1:]) | ~mask
            correct += int(hits.all(dim=1).sum())
    return correct / len(samples)


@dataclass
class ExperimentResult:
    """What the experiment measured."""

    config: dict[str, Any]
    base_accuracy: float
    auroc: dict[str, float]
    accuracy: dict[str, float]
    kept: dict[str, int]
    corrupt_share_kept: dict[str, float]
    score_seconds: dict[str, float] = field(default_factory=dict)


def run_experiment(config: ExperimentConfig = ExperimentConfig()) -> ExperimentResult:
    """Run the experiment end to end and return its numbers.

    >>> small = ExperimentConfig(train_samples=16, eval_samples=8, pretrain_samples=16, pretrain_steps=2,
    ...                          finetune_epochs=1, d_model=16, n_layers=2, n_heads=2, d_ff=16, features=("adamw",))
    >>> result = run_experiment(small)
    >>> sorted(result.accuracy)
    ['full', 'length_half', 'random_half', 'resofilter_adamw_half']
    """
    require("torch", "the ResoFilter experiment")
    rng = np.random.default_rng(config.seed)
    secret = "".join(rng.permutation(list(config.alphabet)))
    task: dict[str, Any] = {
        "rng": rng,
        "alphabet": config.alphabet,
        "min_len": config.min_len,
        "max_len": config.max_len,
        "secret": secret,
    }
    byte_tokenizer = ByteTokenizer()
    tokenizer = Tokenizer.from_byte_tokenizer(byte_tokenizer)
    pad = tokenizer.pad_id

    def encode(pairs: list[tuple[str, str]]) -> list[EncodedSample]:
        return encode_pairs(pairs, tokenizer)

    pretrain = encode(make_task(config.pretrain_samples, **task))
    train_pairs = make_task(config.train_samples, **task)
    corrupt = np.zeros(config.train_samples, dtype=bool)
    corrupt[
        rng.choice(config.train_samples, size=int(config.train_samples * config.corrupt_share), replace=False)
    ] = True
    letters = np.array(list(config.alphabet))
    for i in np.flatnonzero(corrupt):
        prompt, response = train_pairs[i]
        while True:
            noise = "".join(rng.choice(letters, size=len(response)))
            if noise != response:
                break
        train_pairs[i] = (prompt, noise)
    train = encode(train_pairs)
    held_out = encode(make_task(config.eval_samples, **task))

    base = base_model(config)
    _train(
        base,
        pretrain,
        pad,
        steps=config.pretrain_steps,
        lr=config.pretrain_lr,
        batch_size=config.batch_size,
        seed=config.seed + 1,
    )
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    base_accuracy = _accuracy(base, held_out, pad)

    lengths = np.array([s.num_loss_tokens for s in train])
    everyone = np.ones(len(train), dtype=bool)
    half = len(train) - int(len(train) * 0.5)
    selections: dict[str, np.ndarray] = {"full": everyone}
    aurocs: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for feature in config.features:
        started = time.perf_counter()
        result = score_samples(base, train, ScoreConfig(feature=feature, device="cpu"), pad_id=pad)  # type: ignore[arg-type]
        seconds[feature] = time.perf_counter() - started
        aurocs[feature] = auroc(result.score, corrupt)
        selections[f"resofilter_{feature}_half"] = select_lowest(result.score, drop_ratio=0.5)
    selections["random_half"] = random_keep(everyone, half, seed=config.seed)
    selections["length_half"] = length_keep(everyone, lengths, half)
    aurocs["length"] = auroc(lengths.astype(np.float64), corrupt)

    accuracy: dict[str, float] = {}
    for name, keep in selections.items():
        base.load_state_dict(base_state)
        subset = [train[i] for i in np.flatnonzero(keep)]
        steps = config.finetune_epochs * -(-len(subset) // config.batch_size)
        _train(
            base,
            subset,
            pad,
            steps=steps,
            lr=config.finetune_lr,
            batch_size=config.batch_size,
            seed=config.seed + 2,
        )
        accuracy[name] = _accuracy(base, held_out, pad)
    base.load_state_dict(base_state)
    return ExperimentResult(
        config=asdict(config),
        base_accuracy=base_accuracy,
        auroc=aurocs,
        accuracy=accuracy,
        kept={name: int(keep.sum()) for name, keep in selections.items()},
        corrupt_share_kept={name: float(corrupt[keep].mean()) for name, keep in selections.items()},
        score_seconds=seconds,
    )
