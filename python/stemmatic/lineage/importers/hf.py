"""Import Hugging Face dataset cards and model cards (their YAML front matter).

Dataset cards give ``source_datasets`` in both of its forms — the Hub's
``original`` / ``extended|<name>`` vocabulary and plain repository ids —
plus ``configs``, ``dataset_info`` splits with sizes, ``license``,
``pretty_name`` and ``task_categories``. Model cards give ``base_model``
(one or several), ``base_model_relation`` (``adapter``, ``merge``,
``quantized``, ``finetune``) and ``datasets``.

Every config and split becomes a node (``repo:config@split``) merged into its
parent, so a derivation from a whole repository inherits its test split while
one from ``@train`` does not. With ``benchmark=True`` (or a repository listed
in ``benchmarks=``) the ``test`` splits are ``benchmark`` nodes.

>>> card = '''---
... license: cc-by-nc-4.0
... source_datasets:
... - extended|tatsu-lab/alpaca
... dataset_info:
...   splits:
...   - name: train
...     num_examples: 51760
... ---
... # Alpaca cleaned'''
>>> graph, _ = load_hf_card(text=card, repo_id="yahma/alpaca-cleaned")
>>> graph.parents("yahma/alpaca-cleaned")
['tatsu-lab/alpaca', 'yahma/alpaca-cleaned:default']
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from stemmatic._extras import require
from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage._files import describe, load_yaml, located, read_text
from stemmatic.lineage.domains import infer_domain
from stemmatic.lineage.graph import Evidence, LineageGraph
from stemmatic.lineage.importers._common import ImportReport, resolve_or_unresolved
from stemmatic.lineage.names import MODEL_PREFIX, canonical_repo, parse_url, quote_part

__all__ = ["hub_card", "load_hf_card", "parse_front_matter"]

_MODEL_RELATIONS = {"adapter": "adapter", "merge": "merge", "quantized": "quantized", "finetune": "finetune"}
#: The largest front matter read, in UTF-8 bytes. The Hub's biggest cards (hundreds of configs, each
#: with its features and splits) stay well below it.
MAX_FRONT_MATTER_BYTES = 4 * 2**20


def parse_front_matter(text: str, *, where: str = "card") -> dict[str, Any]:
    """The YAML front matter (between the leading ``---`` lines) of a card as a dict.

    The YAML is read by :func:`stemmatic.lineage._files.load_yaml`: aliases may not expand
    the document beyond a million nodes, nesting stops at 64 levels, and timestamps stay text.

    Raises:
        InvalidInputError: if there is no front matter, it is larger than
            :data:`MAX_FRONT_MATTER_BYTES`, or its YAML is malformed (naming the line),
            an alias bomb, or not a mapping.

    >>> parse_front_matter("---\\nlicense: mit\\n---\\ntext")
    {'license': 'mit'}
    """
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise InvalidInputError(f"{where}: no YAML front matter (the card must start with '---')")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise InvalidInputError(f"{where}: YAML front matter is not closed by '---'") from None
    front = "\n".join(lines[1:end])
    size = len(front.encode("utf-8", "surrogatepass"))
    if size > MAX_FRONT_MATTER_BYTES:
        raise InvalidInputError(
            f"{where}: YAML front matter is {size:,} bytes, over the limit of {MAX_FRONT_MATTER_BYTES:,}"
        )
    data = load_yaml(front, where, first_line=2)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: YAML front matter is not a mapping")
    return data


def _as_list(value: Any, field: str, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    if isinstance(value, list):
        return value
    raise InvalidInputError(
        f"{where}: field {field!r} must be a string or a list, not {type(value).__name__}"
    )


def _strings(value: Any, field: str, where: str) -> list[str]:
    items = _as_list(value, field, where)
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"{where}: field {field!r} holds {describe(item)}, not a string")
    return [item.strip() for item in items if item.strip()]


def _label(value: Any, field: str, where: str) -> str:
    """A config or split name: YAML may read ``2020`` or ``1.0`` as a number, never a list."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInputError(f"{where}: field {field!r} is {describe(value)}, not a name")
    return str(value)


_OFFLINE_VALUES = {"1", "true", "yes", "on"}


def hub_card(
    repo_id: str,
    *,
    kind: str = "auto",
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool | None = None,
) -> tuple[Path, str]:
    """The local path of ``repo_id``'s ``README.md`` through ``huggingface_hub``, and its kind.

    Raises:
        InvalidInputError: naming the repository when no card is found (each repository type tried).
        ParameterError: for an unknown ``kind``.
        MissingExtraError: if ``huggingface_hub`` is not installed.
    """
    if kind not in ("auto", "dataset", "model"):
        from stemmatic.exceptions import ParameterError

        raise ParameterError(f"kind must be 'auto', 'dataset' or 'model', not {kind!r}")
    hub = require("huggingface_hub", "Hugging Face cards by repository id")
    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES
    if cache_dir is None:
        cache_dir = os.environ.get("HF_HUB_CACHE") or None
    errors = require("huggingface_hub.errors", "Hugging Face cards by repository id")
    not_found = (OSError, ValueError, errors.EntryNotFoundError)
    problems = []
    for repo_type in ("dataset", "model") if kind == "auto" else (kind,):
        try:
            found = hub.hf_hub_download(
                repo_id,
                "README.md",
                repo_type=repo_type,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
            )
        except not_found as err:  # the hub's HTTP, offline and cache misses are OSErrors
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            problems.append(f"{repo_type}: {type(err).__name__}: {first}")
            continue
        return Path(found), repo_type
    mode = " (offline: the local cache only)" if local_files_only else ""
    raise InvalidInputError(f"Hub card of {repo_id!r}{mode}: not found; {'; '.join(problems)}")


def _repo_from_path(path: Path) -> str:
    folder = path.parent if path.is_file() or path.suffix else path
    if folder.parent.name and folder.name:
        return f"{folder.parent.name}/{folder.name}"
    raise InvalidInputError(f"{path}: pass repo_id=, the repository cannot be read from the path")


def load_hf_card(
    path: str | Path | None = None,
    *,
    text: str | None = None,
    repo_id: str | None = None,
    kind: str = "auto",
    graph: LineageGraph | None = None,
    benchmark: bool = False,
    date: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool | None = None,
) -> tuple[LineageGraph, ImportReport]:
    """Import one dataset or model card: a file, a text, or a Hub repository's card.

    With neither ``path`` nor ``text``, the card of ``repo_id`` is read through
    ``huggingface_hub`` (``hf_hub_download`` of its ``README.md``): from the Hub, or
    from the local cache only when ``local_files_only=True`` or the environment
    sets ``HF_HUB_OFFLINE=1``. ``kind="auto"`` looks for a dataset repository
    first, then a model repository.

    Args:
        path: a ``README.md``; its repository is read from the two folders
            above it (``.../org/name/README.md``) unless ``repo_id`` is given.
        text: the card's text instead of ``path``.
        repo_id: the repository the card describes (alone: the card is fetched).
        kind: ``dataset``, ``model`` or ``auto`` (a card with ``base_model``
            or ``model-index`` is a model card).
        graph: a graph to add to (a new one by default).
        benchmark: mark the card's ``test`` splits as benchmark nodes.
        date: the repository's creation date (cards do not carry one).
        revision: Hub: a branch, tag or commit (``main`` by default).
        cache_dir: Hub: the cache folder (``huggingface_hub``'s default, ``HF_HUB_CACHE``, otherwise).
        local_files_only: Hub: read the cache only (default: whether ``HF_HUB_OFFLINE`` is set).

    Raises:
        InvalidInputError: for a malformed card or field, naming the file; for a Hub card
            that cannot be found (offline and not cached, no such repository).
        ParameterError: for an unknown ``kind``.
        MissingExtraError: for a Hub card without ``huggingface_hub`` installed.
    """
    if path is not None and text is not None:
        raise InvalidInputError("load_hf_card: pass path= or text= (or only repo_id=), not both")
    if path is None and text is None:
        if not repo_id:
            raise InvalidInputError("load_hf_card: pass path=, text= or repo_id=")
        path, found_kind = hub_card(
            repo_id, kind=kind, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only
        )
        kind = found_kind
    where = str(path) if path is not None else f"card of {repo_id or '?'}"
    if path is not None:
        path = Path(path)
        card_file = path / "README.md" if path.is_dir() else path
        text = read_text(card_file)
        repo_id = repo_id or _repo_from_path(card_file)
    if not repo_id:
        raise InvalidInputError(f"{where}: repo_id= is required with text=")
    assert text is not None
    meta = parse_front_matter(text, where=where)
    if kind not in ("auto", "dataset", "model"):
        from stemmatic.exceptions import ParameterError

        raise ParameterError(f"kind must be 'auto', 'dataset' or 'model', not {kind!r}")
    if kind == "auto":
        kind = "model" if ("base_model" in meta or "model-index" in meta) else "dataset"
    graph = graph if graph is not None else LineageGraph()
    report = ImportReport(source=where, files=1, records=1)
    before = (graph.num_nodes, graph.num_edges)
    url = f"https://huggingface.co/{'datasets/' if kind == 'dataset' else ''}{repo_id}"
    licenses = _strings(meta.get("license"), "license", where)
    with located(where):  # graph errors (an empty name, a bad size) name the card
        if kind == "model":
            _model_card(graph, meta, repo_id, licenses, url, where, report, date)
        else:
            _dataset_card(graph, meta, repo_id, licenses, url, where, report, benchmark, date)
    report.nodes_added = graph.num_nodes - before[0]
    report.edges_added = graph.num_edges - before[1]
    return graph, report


def _dataset_card(
    graph: LineageGraph,
    meta: dict[str, Any],
    repo_id: str,
    licenses: list[str],
    url: str,
    where: str,
    report: ImportReport,
    benchmark: bool,
    date: str | None,
) -> None:
    categories = _strings(meta.get("task_categories"), "task_categories", where)
    name = meta.get("pretty_name") or repo_id
    if not isinstance(name, str):
        raise InvalidInputError(f"{where}: field 'pretty_name' is {describe(name)}, not a string")
    infos = _as_list(meta.get("dataset_info"), "dataset_info", where)
    total = 0
    splits: list[tuple[str, str, int | None]] = []
    for info in infos:
        if not isinstance(info, dict):
            raise InvalidInputError(f"{where}: field 'dataset_info' entries must be mappings")
        config = _label(info.get("config_name") or "default", "dataset_info.config_name", where)
        for split in _as_list(info.get("splits"), "dataset_info.splits", where):
            if not isinstance(split, dict) or "name" not in split:
                raise InvalidInputError(f"{where}: field 'dataset_info.splits' entry without 'name'")
            count = split.get("num_examples")
            if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
                raise InvalidInputError(
                    f"{where}: field 'dataset_info.splits.num_examples' is {count!r}, not a count"
                )
            splits.append((config, _label(split["name"], "dataset_info.splits.name", where), count))
            total += count or 0
    for config_entry in _as_list(meta.get("configs"), "configs", where):
        if not isinstance(config_entry, dict) or "config_name" not in config_entry:
            raise InvalidInputError(f"{where}: field 'configs' entry without 'config_name'")
        config = _label(config_entry["config_name"], "configs.config_name", where)
        files = config_entry.get("data_files")
        known = {(c, s) for c, s, _ in splits}
        for item in files if isinstance(files, list) else []:
            if isinstance(item, dict) and "split" in item:
                split_name = _label(item["split"], "configs.data_files.split", where)
                if (config, split_name) not in known:
                    known.add((config, split_name))
                    splits.append((config, split_name, None))
    repo_index = graph.add_node(
        repo_id,
        kind="dataset",
        name=name,
        size=total or None,
        domain=infer_domain([repo_id, name], categories),
        categories=categories,
        licenses=licenses,
        date=date,
        described_by=["hf-card"],
        hf_url=url,
    )
    repo_key = graph.keys[repo_index]
    graph.aliases.add_repo(repo_key)
    graph.aliases.add(name, repo_key)
    for config, split, count in splits:
        config_key = f"{repo_key}:{quote_part(config)}"
        split_key = f"{config_key}@{quote_part(split)}"
        graph.add_node(config_key, kind="dataset", licenses=licenses, date=date)
        split_kind = "benchmark" if benchmark and split == "test" else "dataset"
        graph.add_node(split_key, kind=split_kind, size=count, licenses=licenses, date=date)
        quote = f"dataset_info: config {config!r}, split {split!r}"
        graph.add_edge(split_key, config_key, "merge", evidence=Evidence("card", quote, url))
        graph.add_edge(config_key, repo_key, "merge", evidence=Evidence("card", quote, url))
    for item in _strings(meta.get("source_datasets"), "source_datasets", where):
        relation, _, name_part = item.partition("|")
        if not name_part:
            if item.lower() == "original":
                graph.set_attr(repo_key, "original", True)
                continue
            relation, name_part = "derived", item
        elif relation.strip().lower() == "extended":
            relation = "extend"
        else:
            raise InvalidInputError(
                f"{where}: field 'source_datasets' entry {item!r}: only 'extended|<name>' is a Hub form"
            )
        name_part = re.sub(r"^other-", "", name_part.strip())
        parent = resolve_or_unresolved(graph, name_part, report)
        if parent == repo_key:
            report.self_inclusions.append((repo_key, item))
            continue
        graph.add_edge(parent, repo_key, relation, evidence=Evidence("card", f"source_datasets: {item}", url))


def _model_card(
    graph: LineageGraph,
    meta: dict[str, Any],
    repo_id: str,
    licenses: list[str],
    url: str,
    where: str,
    report: ImportReport,
    date: str | None,
) -> None:
    model_key = MODEL_PREFIX + canonical_repo(repo_id)
    graph.add_node(model_key, kind="model", name=repo_id, licenses=licenses, date=date, hf_url=url)
    graph.aliases.add(model_key, model_key)
    bases = _strings(meta.get("base_model"), "base_model", where)
    relation_raw = meta.get("base_model_relation")
    if relation_raw is not None and (
        not isinstance(relation_raw, str) or relation_raw not in _MODEL_RELATIONS
    ):
        raise InvalidInputError(
            f"{where}: field 'base_model_relation' is {relation_raw!r}; expected one of "
            f"{', '.join(_MODEL_RELATIONS)}"
        )
    relation = _MODEL_RELATIONS.get(relation_raw or "", "merge" if len(bases) > 1 else "finetune")
    for base in bases:
        parsed = parse_url(base)
        base_repo = parsed.repo if parsed is not None else base
        graph.add_edge(
            MODEL_PREFIX + canonical_repo(base_repo),
            model_key,
            relation,
            evidence=Evidence("card", f"base_model: {base}", url),
        )
    for dataset in _strings(meta.get("datasets"), "datasets", where):
        parent = resolve_or_unresolved(graph, dataset, report)
        graph.add_edge(
            parent, model_key, "trained_on", evidence=Evidence("card", f"datasets: {dataset}", url)
        )
