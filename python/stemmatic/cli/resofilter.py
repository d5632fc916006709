"""``stemmatic resofilter score|select``: ResoFilter scores and the selection made from them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stemmatic.cli._errors import clean_errors as _clean_errors
from stemmatic.cli._options import Quiet

app = typer.Typer(
    name="resofilter",
    help="Score fine-tuning samples by how much one training step moves the weights (ResoFilter), then select.",
    no_args_is_help=True,
)


@app.command()
def score(
    inputs: Annotated[
        list[Path], typer.Argument(help="Parquet/JSONL(.gz/.zst) files, directories or globs.")
    ],
    model: Annotated[Path, typer.Option(help="Local Hugging Face causal LM directory (model + tokenizer).")],
    out: Annotated[Path, typer.Option(help="Output directory (scores.parquet, report.json).")],
    prompt_field: Annotated[str, typer.Option(help="Field holding the prompt.")] = "prompt",
    response_field: Annotated[str, typer.Option(help="Field holding the response.")] = "response",
    messages_field: Annotated[
        str | None, typer.Option(help="Field holding chat messages instead (last one = the response).")
    ] = None,
    id_field: Annotated[
        str | None, typer.Option(help="Field holding the sample id (default: row number).")
    ] = None,
    prompt_template: Annotated[str, typer.Option(help="str.format template of the prompt.")] = "{prompt}\n",
    response_template: Annotated[
        str, typer.Option(help="str.format template of the response.")
    ] = "{response}",
    chat_template: Annotated[bool, typer.Option(help="Render with the tokenizer's chat template.")] = False,
    mode: Annotated[
        str, typer.Option(help="fast (batched per-sample gradients) or faithful (reference loop).")
    ] = "fast",
    feature: Annotated[str, typer.Option(help="adamw (the paper's), sgd or grad_norm.")] = "adamw",
    layers: Annotated[
        str,
        typer.Option(
            help="Regex of the module names to score (nn.Linear, or GPT-2-style Conv1D such as mlp\\.c_fc$)."
        ),
    ] = r"mlp\.up_proj$",
    last_layers: Annotated[int, typer.Option(help="Score the last N matching modules (0 = all).")] = 3,
    parameters: Annotated[str, typer.Option(help="weight, bias or all.")] = "weight",
    lr: Annotated[float, typer.Option(help="Learning rate of the step.")] = 1e-5,
    weight_decay: Annotated[
        float | None, typer.Option(help="Weight decay (default: 0.01 for adamw, 0 for sgd).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per batch (fast mode).")] = 32,
    max_length: Annotated[int, typer.Option(help="Truncate samples to this many tokens.")] = 768,
    projection_dim: Annotated[
        int, typer.Option(help="Also store a k*k random projection of each gradient (0 = none).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the projection.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    dtype: Annotated[str, typer.Option(help="Dtype to load the model in (the paper: float32).")] = "float32",
    amp: Annotated[bool, typer.Option(help="bf16 autocast of the forward pass (CUDA).")] = False,
    dedup: Annotated[bool, typer.Option(help="Remove exact duplicate prompts before scoring.")] = True,
    resume: Annotated[bool, typer.Option(help="Resume an interrupted run in OUT.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty OUT.")] = False,
    quiet: Quiet = False,
) -> None:
    """Score every sample; writes OUT/scores.parquet (one row per input row) and OUT/report.json."""
    from stemmatic._run import steps_callback
    from stemmatic.cli._progress import stage_progress
    from stemmatic.resofilter.api import score_dataset
    from stemmatic.resofilter.data import Fields, PromptFormat, Tokenizer
    from stemmatic.resofilter.scoring import ScoreConfig, load_hf_model

    with _clean_errors():
        config = ScoreConfig(
            mode=mode,  # type: ignore[arg-type]
            feature=feature,  # type: ignore[arg-type]
            layers=layers,
            last_layers=last_layers or None,
            parameters=parameters,  # type: ignore[arg-type]
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            projection_dim=projection_dim,
            projection_seed=seed,
            device=device,
            amp=amp,
        )
        fields = Fields(prompt_field, response_field, messages_field, id_field)
        prompt_format = PromptFormat(prompt_template, response_template, chat_template)
        hf_model, hf_tokenizer = load_hf_model(model, dtype=dtype, device=device)
        progress = stage_progress(quiet)
        steps = steps_callback(progress)
        try:
            table = score_dataset(
                inputs,
                out,
                hf_model,
                Tokenizer.from_hf(hf_tokenizer),
                fields=fields,
                prompt_format=prompt_format,
                config=config,
                max_length=max_length,
                dedup=dedup,
                resume=resume,
                overwrite=overwrite,
                progress=lambda done, total: steps("score", done, total),
            )
        finally:
            progress.finish()
        counts: dict[str, int] = {}
        for status in table.column("status").to_pylist():
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        typer.echo(f"scored {table.num_rows} samples ({summary}) -> {out / 'scores.parquet'}")


@app.command()
def select(
    inputs: Annotated[list[Path], typer.Argument(help="The same inputs that were scored.")],
    scores: Annotated[Path, typer.Option(help="scores.parquet written by `resofilter score`.")],
    out: Annotated[
        Path, typer.Option(help="Output directory (kept/, removed/, selection.parquet, report.json).")
    ],
    drop_ratio: Annotated[
        float | None, typer.Option(help="Drop this share of the scored samples (paper: 0.5).")
    ] = None,
    keep_ratio: Annotated[float | None, typer.Option(help="Keep this share instead.")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Keep scores <= threshold instead (>= for criterion less).")
    ] = None,
    criterion: Annotated[str, typer.Option(help="resofilter, less, length or random.")] = "resofilter",
    target_scores: Annotated[
        Path | None, typer.Option(help="Scores (with projection) of the target set, for criterion less.")
    ] = None,
    diversity_threshold: Annotated[
        float | None, typer.Option(help="Skip responses this similar (MinHash Jaccard) to a kept one.")
    ] = None,
    response_field: Annotated[
        str, typer.Option(help="Response field (for the diversity pass).")
    ] = "response",
    label_field: Annotated[
        str | None, typer.Option(help="Boolean field marking known-bad samples, for AUROC in the report.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random baseline.")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="parquet or jsonl.")] = "parquet",
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty OUT.")] = False,
    quiet: Quiet = False,
) -> None:
    """Keep the lowest-scoring share in input order; report random and length baselines beside it."""
    from stemmatic.cli._progress import stage_progress
    from stemmatic.exceptions import ParameterError
    from stemmatic.resofilter.api import select_dataset

    with _clean_errors():
        if drop_ratio is None and keep_ratio is None and threshold is None:
            drop_ratio = 0.5
        if criterion not in ("resofilter", "less", "length", "random"):
            raise ParameterError(f"--criterion {criterion!r}; expected resofilter, less, length or random")
        report = select_dataset(
            inputs,
            scores,
            out,
            criterion=criterion,  # type: ignore[arg-type]
            drop_ratio=drop_ratio,
            keep_ratio=keep_ratio,
            threshold=threshold,
            seed=seed,
            target_scores=target_scores,
            diversity_threshold=diversity_threshold,
            response_field=response_field,
            label_field=label_field,
            fmt=fmt,
            overwrite=overwrite,
            progress=stage_progress(quiet),
        )
        line = f"kept {report['rows']['kept']} of {report['rows']['in']} samples -> {out}"
        if "auroc" in report:
            line += f" (AUROC {report['auroc']:.3f})"
        typer.echo(line)
