"""The dedup configuration model: the algorithm's parameters once, beside local, output and engine options."""

from __future__ import annotations

import dataclasses

import pytest

from stemmatic.dedup import DedupConfig
from stemmatic.dedup.config import LocalOptions, OutputOptions
from stemmatic.dedup.params import DedupParams
from stemmatic.engines import EngineOptions
from stemmatic.engines._common import build_params
from stemmatic.exceptions import ParameterError


def test_every_old_flat_name_is_a_field_of_exactly_one_part() -> None:
    parts = [DedupParams, LocalOptions, OutputOptions]
    names = [f.name for part in parts for f in dataclasses.fields(part)]
    assert len(names) == len(set(names))
    assert names == [f.name for f in dataclasses.fields(DedupConfig)]
    # The names DedupConfig had before it was split into parts, all still accepted.
    assert set(names) == {
        "text_column", "id_column", "threshold", "num_perm", "ngram", "tokenizer", "seed", "bands",
        "rows", "verify", "keep", "exact", "memory_limit", "fmt", "compression", "emit_pairs",
        "on_error", "clique_max", "batch_rows", "max_cluster_size", "clustering", "removed_text",
        "max_shard_size", "max_shard_rows",
    }  # fmt: skip


def test_the_parts_compose_and_come_apart() -> None:
    config = DedupConfig(threshold=0.7, keep="longest", memory_limit="2GB", fmt="jsonl", max_cluster_size=4)
    assert config.params == DedupParams(threshold=0.7, keep="longest", max_cluster_size=4)
    assert config.local == LocalOptions(memory_limit="2GB")
    assert config.output == OutputOptions(fmt="jsonl")
    assert DedupConfig.of(config.params, config.local, config.output) == config
    assert DedupConfig.build(config.params, {}) == DedupConfig(
        threshold=0.7, keep="longest", max_cluster_size=4
    )


def test_each_part_checks_its_own_fields() -> None:
    with pytest.raises(ParameterError, match="max_cluster_size"):
        DedupParams(max_cluster_size=1).validate()
    with pytest.raises(ParameterError, match="memory_limit"):
        LocalOptions(memory_limit="1KB").validate()
    # The words of every corpus command (io._sinks.check_output).
    with pytest.raises(ParameterError, match=r"invalid output format 'csv'; expected 'parquet' or 'jsonl'"):
        OutputOptions(fmt="csv").validate()  # type: ignore[arg-type]
    for bad in ({"max_cluster_size": 1}, {"memory_limit": "1KB"}, {"fmt": "csv"}):
        with pytest.raises(ParameterError):
            DedupConfig.build(None, bad)
    with pytest.raises(TypeError, match="unexpected keyword arguments: partitions"):
        DedupConfig.build(None, {"partitions": 2})


def test_engines_take_the_algorithm_parameters_with_the_guard() -> None:
    params = build_params(DedupConfig(memory_limit="2GB", emit_pairs=True), {"max_cluster_size": 3})
    assert type(params) is DedupParams and params.max_cluster_size == 3
    assert "max_cluster_size" not in {f.name for f in dataclasses.fields(EngineOptions)}
    with pytest.raises(ParameterError, match=r"max_cluster_size is a dedup parameter.*max_cluster_size=3"):
        EngineOptions(max_cluster_size=3)


def test_output_options_say_what_an_engine_refuses() -> None:
    OutputOptions(fmt="jsonl").check_engine("ray")
    with pytest.raises(
        ParameterError, match="--emit-pairs applies to the local engine only, not --engine spark"
    ):
        OutputOptions(emit_pairs=True).check_engine("spark")
