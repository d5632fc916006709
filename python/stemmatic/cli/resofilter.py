"""``stemmatic resofilter score|select``: ResoFilter scores and the selection made from them.

Inputs, outputs and option names are those of every corpus command: inputs
are files, directories, globs or URLs read through :mod:`stemmatic.io`;
``-o/--output`` is a directory, local or a URL. The earlier names
(``--out``, ``--prompt-field``, ``--response-field``, ``--messages-field``,
``--id-field``, ``--label-field``) are still accepted, not listed in ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer

from stemmatic.cli._errors import clean_errors as _clean_errors
from stemmatic.cli._options import (
    SHARDS,
    IdColumn,
    Inputs,
    OnError,
    OutAlias,
    Output,
    Overwrite,
    Quiet,
    Resume,
    Shards,
    output_of,
    renamed,
    with_option_groups,
)

#: The earlier ``--*-field`` names of the column options, accepted and hidden.
_OldName = Annotated[str | None, typer.Option(hidden=True)]

_D = TypeVar("_D", str, None)


def _column(name: str, value: str | None, old: str | None, *, default: _D) -> str | _D:
    """A column option given as ``--NAME-column`` or under its earlier name ``--NAME-field``."""
    return renamed(value, old, option=f"--{name}-column", old_option=f"--{name}-field", default=default)


app = typer.Typer(
    name="resofilter",
    help="Score fine-tuning samples by how much one training step moves the weights (ResoFilter), then select.",
    no_args_is_help=True,
)


@app.command()
def score(
    inputs: Inputs,
    model: Annotated[Path, typer.Option(help="Local Hugging Face causal LM directory (model + tokenizer).")],
    output: Output = None,
    prompt_column: Annotated[
        str | None, typer.Option(help="Column holding the prompt [default: prompt].")
    ] = None,
    response_column: Annotated[
        str | None, typer.Option(help="Column holding the response [default: response].")
    ] = None,
    messages_column: Annotated[
        str | None, typer.Option(help="Column holding chat messages instead (last one = the response).")
    ] = None,
    id_column: IdColumn = None,
    prompt_template: Annotated[str, typer.Option(help="str.format template of the prompt.")] = "{prompt}\n",
    response_template: Annotated[
        str, typer.Option(help="str.format template of the response.")
    ] = "{response}",
    chat_template: Annotated[bool, typer.Option(help="Render with the tokenizer's chat template.")] = False,
    mode: Annotated[
        Literal["fast", "faithful"],
        typer.Option(help="fast (batched per-sample gradients) or faithful (reference loop)."),
    ] = "fast",
    feature: Annotated[
        Literal["adamw", "sgd", "grad_norm"], typer.Option(help="adamw (the paper's), sgd or grad_norm.")
    ] = "adamw",
    layers: Annotated[
        str,
        typer.Option(
            help="Regex of the module names to score (nn.Linear, or GPT-2-style Conv1D such as mlp\\.c_fc$)."
        ),
    ] = r"mlp\.up_proj$",
    last_layers: Annotated[int, typer.Option(help="Score the last N matching modules (0 = all).")] = 3,
    parameters: Annotated[
        Literal["weight", "bias", "all"], typer.Option(help="Parameters to score.")
    ] = "weight",
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
    on_error: OnError = "raise",
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    out: OutAlias = None,
    prompt_field: _OldName = None,
    response_field: _OldName = None,
    messages_field: _OldName = None,
    id_field: _OldName = None,
) -> None:
    """Score every sample; writes OUTPUT/scores.parquet (one row per input row) and OUTPUT/report.json."""
    from collections import Counter

    from stemmatic._run import steps_callback
    from stemmatic.cli._progress import stage_progress
    from stemmatic.resofilter.api import score_dataset
    from stemmatic.resofilter.data import Fields, PromptFormat, Tokenizer
    from stemmatic.resofilter.scoring import ScoreConfig, load_hf_model

    target = output_of(output, out)
    fields = Fields(
        _column("prompt", prompt_column, prompt_field, default="prompt"),
        _column("response", response_column, response_field, default="response"),
        _column("messages", messages_column, messages_field, default=None),
        _column("id", id_column, id_field, default=None),
    )
    with _clean_errors():
        config = ScoreConfig(
            mode=mode,
            feature=feature,
            layers=layers,
            last_layers=last_layers or None,
            parameters=parameters,
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            projection_dim=projection_dim,
            projection_seed=seed,
            device=device,
            amp=amp,
        )
        prompt_format = PromptFormat(prompt_template, response_template, chat_template)
        hf_model, hf_tokenizer = load_hf_model(model, dtype=dtype, device=device)
        progress = stage_progress(quiet)
        steps = steps_callback(progress)
        try:
            table = score_dataset(
                inputs,
                target,
                hf_model,
                Tokenizer.from_hf(hf_tokenizer),
                fields=fields,
                prompt_format=prompt_format,
                config=config,
                max_length=max_length,
                dedup=dedup,
                on_error=on_error,
                resume=resume,
                overwrite=overwrite,
                progress=lambda done, total: steps("score", done, total),
            )
        finally:
            progress.finish()
        counts = Counter(table.column("status").to_pylist())
        summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        typer.echo(f"scored {table.num_rows} samples ({summary}) -> {str(target).rstrip('/')}/scores.parquet")


@app.command()
@with_option_groups
def select(
    inputs: Annotated[
        list[str],
        typer.Argument(help="The same inputs that were scored (files, directories, globs or URLs)."),
    ],
    scores: Annotated[
        str, typer.Option(help="scores.parquet written by `resofilter score` (a path or URL).")
    ],
    output: Output = None,
    drop_ratio: Annotated[
        float | None, typer.Option(help="Drop this share of the scored samples (paper: 0.5).")
    ] = None,
    keep_ratio: Annotated[float | None, typer.Option(help="Keep this share instead.")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Keep scores <= threshold instead (>= for criterion less).")
    ] = None,
    criterion: Annotated[
        Literal["resofilter", "less", "length", "random"], typer.Option(help="What to rank the samples by.")
    ] = "resofilter",
    target_scores: Annotated[
        str | None,
        typer.Option(help="Scores (with projection) of the target set, for criterion less (a path or URL)."),
    ] = None,
    diversity_threshold: Annotated[
        float | None, typer.Option(help="Skip responses this similar (MinHash Jaccard) to a kept one.")
    ] = None,
    response_column: Annotated[
        str | None, typer.Option(help="Response column, for the diversity pass [default: response].")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Boolean column marking known-bad samples, for AUROC in the report.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random baseline.")] = 0,
    shards: Shards = SHARDS,
    on_error: OnError = "raise",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    out: OutAlias = None,
    response_field: _OldName = None,
    label_field: _OldName = None,
) -> None:
    """Keep the lowest-scoring share in input order; report random and length baselines beside it."""
    from stemmatic.cli._progress import stage_progress
    from stemmatic.resofilter.api import select_dataset

    target = output_of(output, out)
    response = _column("response", response_column, response_field, default="response")
    label = _column("label", label_column, label_field, default=None)
    with _clean_errors():
        if drop_ratio is None and keep_ratio is None and threshold is None:
            drop_ratio = 0.5
        result = select_dataset(
            inputs,
            scores,
            target,
            criterion=criterion,
            drop_ratio=drop_ratio,
            keep_ratio=keep_ratio,
            threshold=threshold,
            seed=seed,
            target_scores=target_scores,
            diversity_threshold=diversity_threshold,
            response_field=response,
            label_field=label,
            **shards.options(),
            on_error=on_error,
            overwrite=overwrite,
            progress=stage_progress(quiet),
        )
        report = result.report
        line = f"kept {result.kept_rows} of {result.input_rows} samples -> {target}"
        if "auroc" in report:
            line += f" (AUROC {report['auroc']:.3f})"
        typer.echo(line)
