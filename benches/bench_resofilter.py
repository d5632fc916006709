"""ResoFilter end to end: does the score find corrupted samples, does the selected half train well,
and how much faster is the batched per-sample-gradient mode than the reference loop.

1. The experiment of :mod:`stemmatic.resofilter.experiment` (a tiny transformer
   built in code, a generated task with a known share of corrupted responses),
   over several seeds: AUROC of each score for the corrupted samples, and
   held-out exact-match accuracy after fine-tuning on the ResoFilter half, the
   full set, a random half and the longest half.
2. Speed on a tiny Llama (built in code, loaded back with ``from_pretrained``):
   the reference procedure written out literally (state dict copied and
   reloaded per sample, a fresh AdamW over every parameter, HF's label-masked
   loss, weight difference of the last 3 ``mlp.up_proj``), against
   ``score_samples`` in fast mode (batch 32) and faithful mode, on the same
   samples, with the largest relative difference of the features.

Run: ``make bench-resofilter`` (or ``python benches/bench_resofilter.py``).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import git_commit, machine, timed, versions, write_results
from stemmatic.resofilter import (
    Example,
    ScoreConfig,
    Tokenizer,
    encode_examples,
    load_hf_model,
    score_samples,
)
from stemmatic.resofilter.experiment import (
    ExperimentConfig,
    base_model,
    encode_pairs,
    make_task,
    run_experiment,
)
from stemmatic.resofilter.tiny import ByteTokenizer, save_tiny_hf_model

#: Model shapes of the speed comparison: (hidden, MLP width, layers, vocabulary, words per prompt/response).
SHAPES = [
    {"hidden": 64, "intermediate": 256, "layers": 4, "vocab": None, "words": (2, 8)},
    {"hidden": 128, "intermediate": 512, "layers": 4, "vocab": None, "words": (5, 25)},
    {"hidden": 128, "intermediate": 512, "layers": 4, "vocab": 32000, "words": (5, 25)},
    # The layout of a real LLM (many layers, the last 3 scored; a 32k vocabulary), scaled down in width:
    # 16 layers, and the 32 of Llama-2-7B / Mistral-7B.
    {"hidden": 128, "intermediate": 512, "layers": 16, "vocab": 32000, "words": (5, 25)},
    {"hidden": 128, "intermediate": 512, "layers": 32, "vocab": 32000, "words": (5, 25)},
]
#: Added on a GPU, where they fit the time: a width nearer real LLMs (MLP of Llama-3.2-1B's hidden size).
GPU_SHAPES = [
    {"hidden": 1024, "intermediate": 4096, "layers": 8, "vocab": 32000, "words": (5, 25)},
    {"hidden": 2048, "intermediate": 8192, "layers": 4, "vocab": 32000, "words": (5, 25)},
]


def reference_loop(torch, model, samples, layer_names):
    """The reference implementation's per-sample step, literally."""
    original = copy.deepcopy(model.state_dict())
    model.eval()
    out = []
    hf = hasattr(model, "get_output_embeddings")
    for sample in samples:
        model.load_state_dict(original)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        optimizer.zero_grad()
        ids = torch.tensor([sample.input_ids], device=next(model.parameters()).device)
        labels = ids.clone()
        labels[0, : sample.response_start] = -100
        if hf:
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        else:  # a plain module returning logits: the same shifted, label-masked loss
            logits = model(ids)
            loss = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100)
        loss.backward()
        optimizer.step()
        state = model.state_dict()
        out.append(
            [
                float((original[f"{n}.weight"].float() - state[f"{n}.weight"].float()).abs().mean())
                for n in layer_names
            ]
        )
    model.load_state_dict(original)
    return np.array(out)


def _experiment_setup(args):
    """The experiment's model (random init, on the CPU) and ``args.speed_samples`` samples of its task."""
    cfg = ExperimentConfig(seed=args.seed)
    tokenizer = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    rng = np.random.default_rng(args.seed)
    secret = "".join(rng.permutation(list(cfg.alphabet)))
    pairs = make_task(
        args.speed_samples,
        rng=rng,
        alphabet=cfg.alphabet,
        min_len=cfg.min_len,
        max_len=cfg.max_len,
        secret=secret,
    )
    return cfg, base_model(cfg), tokenizer, encode_pairs(pairs, tokenizer)


def speed_experiment_model(torch, args) -> dict:
    """The experiment's model (a plain torch module) on the experiment's samples."""
    cfg, model, tokenizer, samples = _experiment_setup(args)
    shape = {
        "label": f"experiment model: plain module, d_model {cfg.d_model}, SwiGLU {cfg.d_ff}, {cfg.n_layers} layers, bytes",
    }
    layer_names = [f"layers.{i}.mlp.up_proj" for i in range(cfg.n_layers - 3, cfg.n_layers)]
    return _measure(torch, args, shape, model.to(args.device), samples, tokenizer.pad_id, layer_names)


def cross_device(torch, args) -> list[dict]:
    """The same model and samples scored on the CPU and on ``args.device``: how far apart the outputs are.

    Per mode and feature: the largest relative difference of the per-layer
    features, and of the seeded random projection (relative to its largest
    magnitude), between the two devices.
    """
    _, model, tokenizer, samples = _experiment_setup(args)
    rows = []
    for mode, feature in (("fast", "adamw"), ("fast", "sgd"), ("fast", "grad_norm"), ("faithful", "adamw")):
        outputs = []
        for device in ("cpu", args.device):
            config = ScoreConfig(
                mode=mode,
                feature=feature,
                batch_size=args.batch_size,
                device=device,
                projection_dim=64,
                projection_seed=7,
            )
            outputs.append(score_samples(copy.deepcopy(model), samples, config, pad_id=tokenizer.pad_id))
        on_cpu, on_device = outputs
        scale = np.abs(on_cpu.projection).max()
        rows.append(
            {
                "mode": mode,
                "feature": feature,
                "rel_features": float(np.max(np.abs(on_device.layer_features / on_cpu.layer_features - 1))),
                "rel_projection": float(np.max(np.abs(on_device.projection - on_cpu.projection)) / scale),
                "same_status": on_cpu.status == on_device.status,
            }
        )
    return rows


def speed(torch, args, shape: dict) -> dict:
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        save_tiny_hf_model(
            tmp,
            hidden_size=shape["hidden"],
            intermediate_size=shape["intermediate"],
            num_layers=shape["layers"],
            num_heads=4,
            vocab_size=shape["vocab"],
            seed=args.seed,
        )
        model, hf_tokenizer = load_hf_model(tmp, device=args.device)
    tokenizer = Tokenizer.from_hf(hf_tokenizer)
    words = ["alpha", "beta", "gamma", "delta", "sum", "of", "the", "is", "=", "+", "1", "2", "3", "7"]
    examples = []
    for i in range(args.speed_samples):
        lo, hi = shape["words"]
        prompt = " ".join(rng.choice(words, size=int(rng.integers(lo, hi))))
        response = " ".join(rng.choice(words, size=int(rng.integers(lo, hi))))
        examples.append(Example(i, str(i), prompt, response))
    samples = encode_examples(examples, tokenizer, max_length=256)
    layer_names = [f"model.layers.{i}.mlp.up_proj" for i in range(shape["layers"] - 3, shape["layers"])]
    label = f"hidden {shape['hidden']}, MLP {shape['intermediate']}, {shape['layers']} layers, vocab {shape['vocab'] or 259}"
    return _measure(torch, args, {**shape, "label": label}, model, samples, tokenizer.pad_id, layer_names)


def _measure(torch, args, shape: dict, model, samples, pad_id: int, layer_names: list[str]) -> dict:
    tokens = [len(s.input_ids) for s in samples]
    fast_config = ScoreConfig(batch_size=args.batch_size, device=args.device)
    # Warm-up (allocator, kernels) on a few samples, outside the timings.
    score_samples(model, samples[:4], fast_config, pad_id=pad_id)
    reference_loop(torch, model, samples[:2], layer_names)
    # The methods take turns in every round, so a burst of load on the shared
    # machine hits all three alike; the ratio is the median of the per-round ratios.
    faithful_config = ScoreConfig(mode="faithful", device=args.device)
    rounds = []
    for _ in range(args.repeat):
        t_fast, fast = timed(lambda: score_samples(model, samples, fast_config, pad_id=pad_id))
        t_faithful, faithful = timed(lambda: score_samples(model, samples, faithful_config, pad_id=pad_id))
        t_reference, reference = timed(lambda: reference_loop(torch, model, samples, layer_names))
        rounds.append((t_reference, t_faithful, t_fast))
    times = np.array(rounds)
    t_reference, t_faithful, t_fast = times.min(axis=0)
    amp = {}
    if torch.device(args.device).type == "cuda":  # the fast mode's forward pass under bf16 autocast
        amp_config = ScoreConfig(batch_size=args.batch_size, device=args.device, amp=True)
        score_samples(model, samples[:4], amp_config, pad_id=pad_id)
        t_amp, amp_result = timed(
            lambda: score_samples(model, samples, amp_config, pad_id=pad_id), repeat=args.repeat
        )
        amp = {"t_amp": t_amp, "rel_amp": float(np.max(np.abs(amp_result.layer_features / reference - 1)))}
    return {
        **amp,
        **shape,
        "samples": len(samples),
        "tokens": tokens,
        "params": sum(p.numel() for p in model.parameters()),
        "t_fast": t_fast,
        "t_faithful": t_faithful,
        "t_reference": t_reference,
        "ratio": float(np.median(times[:, 0] / times[:, 2])),
        "ratio_range": (float(np.min(times[:, 0] / times[:, 2])), float(np.max(times[:, 0] / times[:, 2]))),
        "rel_fast": float(np.max(np.abs(fast.layer_features / reference - 1))),
        "rel_faithful": float(np.max(np.abs(faithful.layer_features / reference - 1))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="experiment repetitions (seeds 0..n-1)")
    parser.add_argument("--train-samples", type=int, default=1024)
    parser.add_argument("--pretrain-steps", type=int, default=60)
    parser.add_argument("--speed-samples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="speed: best of this many runs of each method")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="resofilter", help="results file name (benches/results/NAME.md)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    base = ExperimentConfig(train_samples=args.train_samples, pretrain_steps=args.pretrain_steps)
    runs = []
    started = time.perf_counter()
    for seed in range(args.seeds):
        config = ExperimentConfig(**{**base.__dict__, "seed": seed})
        runs.append(run_experiment(config))
        print(f"seed {seed}: auroc {runs[-1].auroc} accuracy {runs[-1].accuracy}", flush=True)
    t_experiment = time.perf_counter() - started
    load_before = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    on_gpu = torch.device(args.device).type == "cuda"
    shapes = SHAPES + (GPU_SHAPES if on_gpu else [])
    timings = [speed_experiment_model(torch, args)] + [speed(torch, args, shape) for shape in shapes]
    across = cross_device(torch, args) if args.device != "cpu" else []
    load_after = " / ".join(f"{x:.1f}" for x in os.getloadavg())

    def cell(values: list[float], digits: int = 3) -> str:
        mean = float(np.mean(values))
        if len(values) == 1:
            return f"{mean:.{digits}f}"
        return f"{mean:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    cfg = base
    gpu = f" ({torch.cuda.get_device_name()})" if on_gpu else ""
    lines = [
        "# ResoFilter: corrupted-sample detection, selected-half fine-tuning, speed",
        "",
        f"- Machine: {machine()}; torch threads {args.threads}; device {args.device}{gpu}",
        f"- Versions: {versions('stemmatic', 'torch', 'transformers', 'numpy')}; commit {git_commit()}",
        f"- Command: `python benches/bench_resofilter.py --seeds {args.seeds} "
        f"--train-samples {args.train_samples} --pretrain-steps {args.pretrain_steps} --speed-samples "
        f"{args.speed_samples} --batch-size {args.batch_size} --repeat {args.repeat} --threads {args.threads} "
        f"--device {args.device} --name {args.name}` (`make bench-resofilter` runs the defaults)",
        "",
    ]
    if runs:
        lines += [
            "## 1. Experiment (tiny transformer built in code, generated task)",
            "",
            f"- Task: prompt = {cfg.min_len}–{cfg.max_len} letters of `{cfg.alphabet}` + `=`; response = the prompt reversed "
            "and mapped through a secret permutation of the alphabet (byte-level tokens).",
            f"- Base model: {cfg.n_layers}-layer transformer (d_model {cfg.d_model}, {cfg.n_heads} heads, SwiGLU d_ff {cfg.d_ff}), "
            f"random init, pretrained {cfg.pretrain_steps} AdamW steps (lr {cfg.pretrain_lr}, batch {cfg.batch_size}) on "
            f"{cfg.pretrain_samples} clean samples, so it is partly competent.",
            f"- Fine-tuning set: {cfg.train_samples} samples, {cfg.corrupt_share:.0%} with the response replaced by random "
            f"letters of the same length. Held-out: {cfg.eval_samples} clean samples, exact match of the whole answer.",
            "- Scores: fresh step at lr 1e-5 on the base model, last 3 `mlp.up_proj` weights (fast mode, fp32). "
            "Each selection keeps half; every subset is fine-tuned from the base for "
            f"{cfg.finetune_epochs} epochs (lr {cfg.finetune_lr}, batch {cfg.batch_size}), so the full set gets twice the steps.",
            f"- Seeds: {args.seeds} (mean, and min–max in brackets); {t_experiment:.0f} s in all.",
            "",
            "| score | AUROC for corrupted (0.5 = chance) |",
            "|---|---:|",
        ]
        for name in runs[0].auroc:
            label = {
                "adamw": "ResoFilter (AdamW step, the paper's)",
                "sgd": "SGD step",
                "grad_norm": "gradient norm",
                "length": "response length",
            }.get(name, name)
            lines.append(f"| {label} | {cell([r.auroc[name] for r in runs])} |")
        lines += [
            "",
            f"Base model held-out accuracy before fine-tuning: {cell([r.base_accuracy for r in runs])}.",
            "",
            "| fine-tuned on | samples | corrupted share | held-out accuracy |",
            "|---|---:|---:|---:|",
        ]
        for name in runs[0].accuracy:
            lines.append(
                f"| {name} | {runs[0].kept[name]} | {cell([r.corrupt_share_kept[name] for r in runs], 2)} | "
                f"{cell([r.accuracy[name] for r in runs])} |"
            )
    lines += [
        "",
        "## 2. Speed: fast mode vs the reference per-sample loop",
        "",
        "- Models: the experiment's model (the plain torch module of section 1, random init) on "
        f"{args.speed_samples} samples of the experiment's task; and tiny Llamas built in code "
        "(`save_tiny_hf_model`), fp32, loaded with `from_pretrained`, byte-level tokenizer (259 ids; the "
        "32k-vocabulary models have the embedding and output layer of a real LLM's size, with unused rows; the "
        "16- and 32-layer ones have a real LLM's layout, the last 3 of many layers scored), on "
        f"{args.speed_samples} generated prompt/response samples of random words each.",
        *(
            [
                "- On the GPU two wider Llamas are added (hidden 1024, MLP 4096, 8 layers; hidden 2048, MLP 8192, "
                "4 layers; 32k vocabulary), and the fast mode is also timed with `amp=True` (forward pass under "
                "bfloat16 autocast, per-sample gradient contractions in fp32; best of the rounds), its features "
                "compared with the fp32 reference beside it."
            ]
            if on_gpu
            else []
        ),
        "- Reference loop: per sample, reload the state dict, fresh `AdamW(model.parameters(), lr=1e-5)`, the "
        "loss with prompt labels -100 (HF's `labels=`, or the same shifted cross-entropy for the plain module), "
        "backward, step, mean |ΔW| of the last 3 `mlp.up_proj`. Fast and faithful: "
        f"`score_samples` (fast at batch {args.batch_size}). {args.repeat} rounds after a warm-up, the three methods taking turns in each; seconds are the best round, "
        "the ratio is the median of the rounds' ratios (min–max in brackets). The machine is shared: load average "
        f"{load_before} before and {load_after} after the speed runs.",
        "",
        "| model | parameters | tokens/sample (median) | reference s | faithful s | fast s | reference ÷ fast (min–max) |"
        " max rel. diff fast vs reference |"
        + (" fast, bf16 autocast s | its max rel. diff |" if on_gpu else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if on_gpu else ""),
    ]
    for t in timings:
        lines.append(
            f"| {t['label']} | "
            f"{t['params']:,} | {int(np.median(t['tokens']))} | {t['t_reference']:.2f} | {t['t_faithful']:.2f} | "
            f"{t['t_fast']:.2f} | **{t['ratio']:.1f}×** ({t['ratio_range'][0]:.1f}–{t['ratio_range'][1]:.1f}) | "
            f"{t['rel_fast']:.1e} |" + (f" {t['t_amp']:.2f} | {t['rel_amp']:.1e} |" if on_gpu else "")
        )
    ratios = [t["ratio"] for t in timings]
    met = [t["label"] for t in timings if t["ratio"] >= 20]
    verdict = (
        "met on every model"
        if len(met) == len(timings)
        else "met on no model"
        if not met
        else f"met on {len(met)} of {len(timings)} models ({'; '.join(met)}), not on the others"
    )
    lines += [
        "",
        f"Fast mode is **{min(ratios):.1f}×–{max(ratios):.1f}×** the reference loop here (device {args.device}); "
        f"≥ 20× is {verdict} (the issue's target is for the CPU at batch 32). Both do one "
        "forward pass per sample; the fast mode saves the backward pass below the first scored layer, every "
        "weight gradient, the optimizer and the weight copies, computes the output layer only at the positions "
        "of response tokens, and batches. Where a sample's forward pass dominates (longer samples, wider "
        "models) the gain is capped near the ratio of FLOPs (about 3 forward passes' worth for the reference vs "
        "1 to 1.5 for the fast mode); it is largest where the reference's per-sample overheads dominate (short "
        "samples, many parameters for the optimizer and the state-dict copies to touch).",
        "",
        "Agreement: the faithful mode matches the reference to about 1e-7; the fast mode computes the update "
        "exactly, while the reference's fp32 difference w − (w − Δ) rounds each weight's change by up to "
        "ulp(w)/2, about 1e-4 of a 1e-5 step, which is the size of the differences between samples under the "
        "AdamW feature (see the README).",
        "",
    ]
    if across:
        lines += [
            f"## 3. The same scores on the CPU and on {args.device}",
            "",
            f"The experiment's model and its {args.speed_samples} samples, scored once on the CPU and once on "
            f"{args.device} (batch {args.batch_size}, seeded random projection of 64 numbers per layer): the largest "
            "relative difference of the per-layer features, and of the projection (relative to its largest "
            "magnitude). The projection matrices are drawn on the CPU from the seed and copied to the device, so "
            "both devices project with the same matrices; what remains is float rounding of different kernels.",
            "",
            "| mode | feature | max rel. diff of features | max diff of projection ÷ max |projection| | same statuses |",
            "|---|---|---:|---:|---|",
        ]
        for row in across:
            lines.append(
                f"| {row['mode']} | {row['feature']} | {row['rel_features']:.1e} | {row['rel_projection']:.1e} | "
                f"{'yes' if row['same_status'] else 'NO'} |"
            )
        lines.append("")
    path = write_results(args.name, "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
