"""Dedup and the contamination scan on a real local Ray (2 CPUs) and Spark (local[2]) give the local engine's bytes.

One suite, parametrized over both engines: the same outputs as the local
engine (the verified graph decided on the driver, or the engine's own
large-star / small-star rounds), the giant-component guard, ``against=`` an
index of earlier releases, the CLI, and the scan; and what pickles to workers.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.contamination import ContaminationIndex, scan_corpus
from stemmatic.dedup import add_to_index, build_index, decide_clusters, dedup
from stemmatic.dedup.index import DedupIndex
from stemmatic.dedup.pipeline import DedupConfig
from stemmatic.engines import EngineOptions, split_giant_components
from stemmatic.engines._against import indexed_rows
from stemmatic.engines._common import BucketPairs, Sketch, VerifySecond
from stemmatic.engines._scan import InlineIndex, ScanBatch, ScanParams
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.synthetic import generate_corpus

pytestmark = [
    # Ray's and PySpark's own start-up and shutdown warnings (token auth
    # notice, pandas version notice, deprecations in their internals); ours stay errors.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@dataclass(frozen=True)
class Engine:
    """One engine as the tests drive it: its module, how to make a dataset, how to read one back."""

    name: str
    module: Any
    read_parquet: Callable[[Path], Any]
    from_tables: Callable[[list[pa.Table]], Any]
    tables: Callable[[Any], list[pa.Table]]

    def columns(self, data: Any) -> list[str]:
        """The column names of a dataset or DataFrame."""
        return list(self.tables(data)[0].column_names) if self.tables(data) else []

    def arrow(self, data: Any, schema: pa.Schema) -> pa.Table:
        tables = [t.select(schema.names).cast(schema) for t in self.tables(data) if len(t)]
        return pa.concat_tables(tables) if tables else schema.empty_table()


@pytest.fixture(scope="module", params=["ray", "spark"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Ray, then Spark: each engine's session lives for its half of the module."""
    if request.param == "ray":
        import stemmatic.engines.ray as sray

        ray = request.getfixturevalue("local_ray")
        yield Engine(
            "ray",
            sray,
            lambda path: ray.data.read_parquet(str(path)),
            lambda tables: ray.data.from_arrow(tables),
            lambda ds: ray.get(ds.to_arrow_refs()),
        )
        return
    import stemmatic.engines.spark as sspark

    spark = request.getfixturevalue("local_spark")
    yield Engine(
        "spark",
        sspark,
        lambda path: spark.read.parquet(str(path)),
        # Sliced over local[2]'s partitions, so rows are numbered across them.
        lambda tables: spark.createDataFrame(pa.concat_tables(tables)),
        lambda df: [df.toArrow()],
    )


def corpus_table() -> pa.Table:
    """Planted near-duplicates, exact copies (up to case and punctuation) and a score column."""
    table = generate_corpus(240, seed=3, max_words=300, duplicate_fraction=0.4).table.select(["id", "text"])
    texts = table.column("text").to_pylist()
    texts[200:210] = [texts[i].upper() + "!" for i in range(10)]
    rng = np.random.default_rng(0)
    return pa.table(
        {
            # Ids out of input order: rows are still numbered by input order.
            "id": pa.array([f"doc-{(i * 97) % len(texts):04d}" for i in range(len(texts))]),
            "text": pa.array(texts, pa.string()),
            "score": pa.array(rng.integers(0, 5, len(texts)).astype(np.float64)),
            "row": pa.array(np.arange(len(texts), dtype=np.int64)),
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    pq.write_table(corpus_table(), path)
    return path


def local(data: Path, out: Path, **params: object) -> tuple[pa.Table, pa.Table, pa.Table]:
    dedup(data, out, overwrite=True, **params)  # type: ignore[arg-type]
    return (
        pq.read_table(out / "kept"),
        pq.read_table(out / "removed"),
        pq.read_table(out / "clusters.parquet"),
    )


def assert_same(engine: Engine, result: Any, expected: tuple[pa.Table, pa.Table, pa.Table]) -> None:
    kept, removed, clusters = expected
    for got, want in zip((result.kept, result.removed, result.clusters), expected, strict=True):
        table = engine.arrow(got, want.schema)
        assert table.column_names == want.column_names
        assert table.equals(want), (table.slice(0, 5).to_pylist(), want.slice(0, 5).to_pylist())
    assert result.stats["kept_rows"] + result.stats["removed_rows"] == len(kept) + len(removed)
    assert len(removed) > 10 and len(clusters) > 20


def test_same_bytes_as_local_small_graph_on_driver(engine: Engine, data: Path, tmp_path: Path) -> None:
    expected = local(data, tmp_path / "out", threshold=0.7)
    ds = engine.read_parquet(data)
    result = engine.module.dedup_split(ds, threshold=0.7, options=EngineOptions(partitions=3))
    assert result.stats["components"]["finished_on"] == "driver"
    assert_same(engine, result, expected)
    kept = engine.module.dedup(ds, threshold=0.7, options=EngineOptions(partitions=3))
    assert engine.arrow(kept, expected[0].schema).equals(expected[0])


def test_same_bytes_as_local_engine_components_exact_keep_id(
    engine: Engine, data: Path, tmp_path: Path
) -> None:
    params = {"threshold": 0.6, "exact": True, "keep": "column:score", "id_column": "id"}
    expected = local(data, tmp_path / "out", **params)
    ds = engine.read_parquet(data)
    # A zero "small graph" forces the engine-side large-star/small-star rounds.
    result = engine.module.dedup_split(ds, options=EngineOptions(partitions=4, small_graph_edges=0), **params)
    assert result.stats["components"]["finished_on"] == "engine"
    assert result.stats["components"]["rounds"] >= 1
    assert result.stats["removed_exact"] >= 10
    assert_same(engine, result, expected)


def test_guard_splits_clusters_like_the_pure_function(engine: Engine, data: Path, tmp_path: Path) -> None:
    dedup(data, tmp_path / "out", overwrite=True, threshold=0.3, emit_pairs=True)
    pairs = pq.read_table(tmp_path / "out" / "pairs.parquet")
    edges = np.stack([pairs.column("id_a").to_numpy(), pairs.column("id_b").to_numpy()], axis=1)
    sims = pairs.column("jaccard").to_numpy()
    n = len(corpus_table())
    guard = split_giant_components(n, edges, sims, max_size=3)
    assert guard.split, "the data must have a component above the cap"
    want = decide_clusters(n, edges[guard.keep], sims[guard.keep])
    ds = engine.read_parquet(data)
    for small in (10**6, 0):
        result = engine.module.dedup_split(
            ds,
            threshold=0.3,
            max_cluster_size=3,
            options=EngineOptions(partitions=2, small_graph_edges=small),
        )
        removed = engine.arrow(result.removed, pa.schema([("row", pa.int64()), ("duplicate_of", pa.int64())]))
        assert removed.column("row").to_pylist() == np.flatnonzero(want.removed).tolist()
        assert removed.column("duplicate_of").to_pylist() == want.duplicate_of[want.removed].tolist()
        assert result.stats["guard"]


def test_missing_column_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(ValueError, match="column 'text' is not in the input"):
        engine.module.dedup(engine.from_tables([pa.table({"body": ["x"]})]))


def test_cli_engine_writes_the_local_answer(engine: Engine, data: Path, tmp_path: Path) -> None:
    kept, removed, _ = local(data, tmp_path / "local", threshold=0.7)
    out = tmp_path / engine.name
    result = CliRunner().invoke(
        app, ["dedup", str(data), "-o", str(out), "--engine", engine.name, "--threshold", "0.7", "-q"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert (
        report["rows"]["kept"] + report["rows"]["removed"] == report["rows"]["in"] == len(kept) + len(removed)
    )
    got = pq.read_table(out / "kept").select(kept.column_names).cast(kept.schema).sort_by("row")
    assert got.equals(kept.sort_by("row"))
    assert parquet_codecs(out) == {"ZSTD"}  # the local engine's codec


def parquet_codecs(out: Path) -> set[str]:
    """The compression codecs of every column chunk of every Parquet file under ``out``."""
    codecs = set()
    for path in out.rglob("*.parquet"):
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            codecs |= {row_group.column(c).compression for c in range(row_group.num_columns)}
    return codecs


# -- against an index of earlier releases ------------------------------------------


def families(seed: int, n: int, bases: int = 40, mutations: int = 12) -> list[str]:
    """Near-duplicate families: each text is a base text with a few words replaced."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    base = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(bases)]
    texts = []
    for _ in range(n):
        tokens = rng.choice(base).split()
        for _ in range(rng.randint(0, mutations)):
            tokens[rng.randrange(len(tokens))] = rng.choice(words)
        texts.append(" ".join(tokens))
    return texts


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``old.parquet`` (indexed twice: with its ``id`` column, and by row) and ``new.parquet``; the same families."""
    root = tmp_path_factory.mktemp("releases")
    texts = families(7, 360)
    rng = np.random.default_rng(1)
    old, new = texts[:160], texts[160:]
    pq.write_table(pa.table({"id": [f"o{i}" for i in range(len(old))], "text": old}), root / "old.parquet")
    pq.write_table(
        pa.table(
            {
                "id": [f"n{i:03d}" for i in range(len(new))],
                "text": new,
                "score": rng.integers(0, 4, len(new)).astype(np.float64),
                "row": np.arange(len(new), dtype=np.int64),
            }
        ),
        root / "new.parquet",
    )
    build_index(root / "old.parquet", root / "by-id", threshold=0.7, id_column="id")
    build_index(root / "old.parquet", root / "by-row", threshold=0.7)
    return root


@pytest.mark.parametrize(
    ("index", "params", "small"),
    [
        ("by-id", {"id_column": "id"}, 10**6),
        ("by-id", {"id_column": "id", "keep": "column:score", "clique_max": 4}, 0),
        ("by-row", {}, 0),  # the run's ids are row numbers, the index's too
        ("by-row", {"id_column": "id", "clique_max": 4}, 10**6),  # text ids here, numbers there: text
    ],
)
def test_against_an_index_same_bytes_as_local(
    engine: Engine, releases: Path, tmp_path: Path, index: str, params: dict[str, Any], small: int
) -> None:
    new, against = releases / "new.parquet", [str(releases / index)]
    expected = local(new, tmp_path / "local", threshold=0.7, against=against, **params)
    local_report = json.loads((tmp_path / "local" / "report.json").read_text())
    result = engine.module.dedup_split(
        engine.read_parquet(new),
        threshold=0.7,
        against=against,
        options=EngineOptions(partitions=3, small_graph_edges=small),
        **params,
    )
    assert result.stats["components"]["finished_on"] == ("engine" if small == 0 else "driver")
    assert_same(engine, result, expected)
    removed = expected[1]
    reasons = removed.column("reason").to_pylist()
    # Both kinds of removal happen: in favour of an indexed row (named with its file), and within the run.
    assert 10 <= reasons.count("near_duplicate_of_index") < len(reasons)
    sources = set(removed.column("duplicate_source").to_pylist())
    assert sources == {None, str((releases / "old.parquet").resolve())}
    detail = local_report["rows"]["detail"]
    assert result.stats["removed_against_index"] == detail["removed_against_index"]
    assert result.stats["clusters"] == local_report["clusters"]["count"]
    assert result.stats["cluster_size_histogram"] == local_report["clusters"]["size_histogram"]


def test_cli_against_writes_the_local_answer(engine: Engine, releases: Path, tmp_path: Path) -> None:
    new, index = releases / "new.parquet", releases / "by-id"
    args = ["dedup", str(new), "--against", str(index), "--threshold", "0.7", "--id-column", "id", "-q"]
    runner = CliRunner()
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "local")]).exit_code == 0
    out = tmp_path / engine.name
    result = runner.invoke(app, [*args, "-o", str(out), "--engine", engine.name])
    assert result.exit_code == 0, result.output
    for name in ("kept", "removed"):
        want = pq.read_table(tmp_path / "local" / name)
        got = pq.read_table(out / name).select(want.column_names).cast(want.schema).sort_by("row")
        assert got.equals(want.sort_by("row")), name
    report = json.loads((out / "report.json").read_text())
    local_report = json.loads((tmp_path / "local" / "report.json").read_text())
    for key in ("removed_near_duplicate", "removed_exact_duplicate", "removed_against_index"):
        assert report["rows"]["detail"][key] == local_report["rows"]["detail"][key], key
    assert report["rows"]["detail"]["removed_against_index"] >= 10
    assert report["against"] == local_report["against"]
    # The index is read, never written; an engine run appends nothing to it.
    refused = runner.invoke(
        app, [*args, "-o", str(tmp_path / "x"), "--engine", engine.name, "--update-index"]
    )
    assert refused.exit_code == 2 and "index add" in refused.output
    assert not (tmp_path / "x").exists()


def test_against_other_parameters_is_refused_before_any_output(
    engine: Engine, releases: Path, tmp_path: Path
) -> None:
    with pytest.raises(ParameterError, match=r"threshold .* in the index"):
        engine.module.dedup(
            engine.read_parquet(releases / "new.parquet"), threshold=0.8, against=releases / "by-id"
        )
    with pytest.raises(ParameterError, match="--exact"):
        engine.module.dedup_to_directory(
            [str(releases / "new.parquet")],
            str(tmp_path / "out"),
            config=DedupConfig(threshold=0.7, exact=True),
            against=[str(releases / "by-id")],
        )
    assert not (tmp_path / "out").exists()


def test_workers_open_the_index_by_path_or_url_and_refuse_a_changed_one(
    releases: Path, tmp_path: Path
) -> None:
    shutil.copytree(releases / "by-id", tmp_path / "index")
    opened = DedupIndex.open(tmp_path / "index")
    handle = indexed_rows(opened, "test-key", first_node=1000)
    opened.close()
    shipped = pickle.dumps(handle)
    assert len(shipped) < 2000  # the paths travel, not the index
    clone = pickle.loads(shipped)
    assert clone == handle and clone.index().rows == 160
    # A worker that opens the index after a release was added refuses it: it would decide otherwise.
    add_to_index(tmp_path / "index", releases / "old.parquet")
    with pytest.raises(InvalidInputError, match="changed while the run read it"):
        replace(clone, key="another-run").index()
    # An index on an object store travels as its URL; a worker process copies it once.
    url = "memory://stemmatic-tests/engine-index"
    build_index(releases / "old.parquet", url, threshold=0.7, id_column="id", overwrite=True)
    remote = DedupIndex.open(url)
    handle = indexed_rows(remote, "url-run", first_node=1000)
    remote.close()
    assert handle.paths == (url,)
    assert pickle.loads(pickle.dumps(handle)).index().rows == 160


# -- contamination scan ----------------------------------------------------------


def planted_corpus() -> tuple[pa.Table, ContaminationIndex]:
    """Generated documents with benchmark items planted whole or by half, and a null document."""
    corpus = generate_corpus(160, seed=5, max_words=300, duplicate_fraction=0.2).table.select(["id", "text"])
    items = generate_corpus(6, seed=11, min_words=40, max_words=60, duplicate_fraction=0.0).texts
    index = ContaminationIndex.from_records(
        [{"task_id": f"t{i}", "prompt": text} for i, text in enumerate(items)],
        fields=["prompt"],
        benchmark="toy",
        id_field="task_id",
        ngram=8,
    )
    texts = corpus.column("text").to_pylist()
    whole = {3: [0], 40: [1, 2], 41: [1], 90: [3], 150: [4, 0]}
    half = {70: 4, 120: 2}
    for row, planted in whole.items():
        for item in planted:
            cut = len(texts[row]) // 2
            texts[row] = f"{texts[row][:cut]} {items[item]} {texts[row][cut:]}"
    for row, item in half.items():
        texts[row] = f"{texts[row]} {items[item][: len(items[item]) // 2]}"
    texts[10] = None
    return pa.table({"id": corpus.column("id"), "text": pa.array(texts, pa.string())}), index


def test_scan_hits_equal_local_scan(engine: Engine) -> None:
    table, index = planted_corpus()
    want = index.scan(table.column("text"))
    assert len(want) >= 9 and set(want.column("item_id").to_pylist()) >= {"t0", "t1", "t2", "t3", "t4"}
    # Three blocks, so rows are numbered across blocks.
    ds = engine.from_tables([table.slice(0, 50), table.slice(50, 60), table.slice(110)])
    got = engine.arrow(engine.module.scan(ds, index), want.schema)
    assert got.equals(want), (got.to_pylist()[:3], want.to_pylist()[:3])


def test_scan_split_equals_scan_corpus_with_ids_and_coverage(engine: Engine, tmp_path: Path) -> None:
    table, index = planted_corpus()
    path = tmp_path / "corpus.parquet"
    pq.write_table(table, path)
    params = {"id_column": "id", "min_coverage": 0.6}
    report = scan_corpus([path], index, tmp_path / "local", remove=True, **params)  # type: ignore[arg-type]
    # Parameters as a ScanParams, with a keyword override on top.
    result = engine.module.scan_split(
        engine.read_parquet(path), index, params=ScanParams(id_column="id", remove=True), min_coverage=0.6
    )
    for name, got in (("hits.parquet", result.hits), ("clean", result.clean), ("removed", result.removed)):
        want = pq.read_table(tmp_path / "local" / name)
        assert want.column_names == engine.columns(got) and engine.arrow(got, want.schema).equals(want), name
    assert report["rows"]["removed"] == result.stats["removed_rows"] >= 5
    assert report["hits"] == result.stats["hits"]
    assert report["rows"]["detail"]["contaminated"] == result.stats["contaminated_rows"]


def test_scan_measures_equal_scan_corpus(engine: Engine, tmp_path: Path) -> None:
    """Evidence (with common entries), short statements and Llama 2 coverage: the local outputs and counts."""
    table, index = planted_corpus()
    # Row 20 gets three 6-word pieces of item t5: short-statement 5-grams, no 8-gram.
    words = index.entry_texts()[5].split()
    texts = table.column("text").to_pylist()
    texts[20] = " xx ".join([texts[20], " ".join(words[0:6]), " ".join(words[10:16]), " ".join(words[20:26])])
    table = table.set_column(1, "text", pa.array(texts, pa.string()))
    path = tmp_path / "corpus.parquet"
    pq.write_table(table, path)
    params = {"id_column": "id", "max_entry_docs": 1, "short_ngram": 5, "token_overlap": True}
    report = scan_corpus([path], index, tmp_path / "local", remove=True, **params)  # type: ignore[arg-type]
    result = engine.module.scan_split(engine.read_parquet(path), index, remove=True, **params)
    hits = pq.read_table(tmp_path / "local" / "hits.parquet")
    assert set(hits.column("evidence").to_pylist()) >= {"strong", "common"}
    assert "longest_span" in hits.column_names and "short" in hits.column("match").to_pylist()
    for name, got in (("hits.parquet", result.hits), ("clean", result.clean), ("removed", result.removed)):
        want = pq.read_table(tmp_path / "local" / name)
        assert want.column_names == engine.columns(got) and engine.arrow(got, want.schema).equals(want), name
    assert report["rows"]["removed"] == result.stats["removed_rows"]
    assert report["rows"]["detail"]["contaminated"] == result.stats["contaminated_rows"]
    assert report["rows"]["detail"]["with_weak_hits_only"] == result.stats["with_weak_hits_only"]
    local, remote = report["benchmarks"]["toy"], result.stats["benchmarks"]["toy"]
    assert local["llama2_items"] == remote["llama2_items"]
    for key in ("hits", "items_contaminated", "docs_contaminated"):
        assert local[key] == remote[key], key
    assert local["hits_by_evidence"] == result.stats["hits_by_evidence"]


def test_scan_refuses_bad_input(engine: Engine) -> None:
    _, index = planted_corpus()
    with pytest.raises(ValueError, match="column 'text' is not in the input"):
        engine.module.scan(engine.from_tables([pa.table({"body": ["x"]})]), index)
    with pytest.raises(ValueError, match="tokenizer=auto, not chars"):
        engine.module.scan(engine.from_tables([pa.table({"text": ["x"]})]), index, tokenizer="chars")


def test_cli_contamination_scan_engine(engine: Engine, tmp_path: Path) -> None:
    table, index = planted_corpus()
    path = tmp_path / "corpus.parquet"
    pq.write_table(table, path)
    index.save(tmp_path / "bench.idx")
    args = [str(path), "--index", str(tmp_path / "bench.idx"), "--remove", "--id-column", "id",
            "--short-ngram", "5", "--token-coverage", "--coverage-min-span", "12", "--max-entry-docs", "1"]  # fmt: skip
    runner = CliRunner()
    local_run = runner.invoke(app, ["contamination", "scan", *args, "-o", str(tmp_path / "local")])
    assert local_run.exit_code == 0, local_run.output
    out = tmp_path / engine.name
    result = runner.invoke(app, ["contamination", "scan", *args, "-o", str(out), "--engine", engine.name])
    assert result.exit_code == 0, result.output
    want = pq.read_table(tmp_path / "local" / "hits.parquet")
    assert "longest_span" in want.column_names
    got = pq.read_table(out / "hits").select(want.column_names).cast(want.schema)
    assert parquet_codecs(out) == parquet_codecs(tmp_path / "local") == {"ZSTD"}
    order = [("doc_id", "ascending"), ("item_id", "ascending")]
    assert got.sort_by(order).equals(want.sort_by(order))
    report = json.loads((out / "report.json").read_text())
    local_report = json.loads((tmp_path / "local" / "report.json").read_text())
    assert report["hits"] == local_report["hits"] == len(want)
    assert report["rows"]["removed"] == local_report["rows"]["removed"] > 0
    assert report["benchmarks"]["toy"]["llama2_items"] == local_report["benchmarks"]["toy"]["llama2_items"]
    assert report["parameters"]["coverage_min_span"] == local_report["parameters"]["coverage_min_span"] == 12
    refused = runner.invoke(
        app,
        ["contamination", "scan", *args, "-o", str(tmp_path / "x"), "--engine", engine.name, "--gpt3-cut"],
    )
    assert refused.exit_code == 2 and "local engine only" in refused.output


# -- what travels to workers (no engine needed) -------------------------------------


def test_guard_pure_function() -> None:
    star = np.array([[0, i] for i in range(1, 6)], np.uint64)
    result = split_giant_components(6, star, np.linspace(0.9, 0.8, 5), max_size=3)
    assert result.keep.tolist() == [True, True, False, False, False]
    assert result.split[0].size == 6 and result.split[0].parts == (3, 1, 1, 1)
    assert result.report()["split_components"] == 1
    small = split_giant_components(6, star, np.ones(5), max_size=6)
    assert small.keep.all() and not small.split
    with pytest.raises(ParameterError):
        split_giant_components(6, star, np.ones(5), max_size=1)


def test_engine_objects_pickle_with_a_version() -> None:
    cfg = DedupConfig(threshold=0.7)
    sketch = Sketch(cfg, 21, 6)
    table = pa.table({"_stemmatic_row": pa.array([0, 1], pa.int64()), "text": ["a b c d e f", "a b c d e g"]})
    clone = pickle.loads(pickle.dumps(sketch))
    assert clone == sketch and clone(table).equals(sketch(table))
    for obj in (BucketPairs(8, 4), VerifySecond(cfg)):
        assert pickle.loads(pickle.dumps(obj)) == obj
    state = sketch.__getstate__()
    assert state["version"] == Sketch.VERSION
    fn, (cls, _) = sketch.__reduce__()
    with pytest.raises(ParameterError, match="state version"):
        fn(cls, {**state, "version": 999})


def test_scan_params_from_keywords() -> None:
    base = ScanParams(id_column="id", min_ngrams=2)
    built = ScanParams.build(base, {"short_fields": ["question"], "remove": True})
    assert built == replace(base, short_fields=("question",), remove=True)
    assert ScanParams.build(None, {"short_fields": []}) == ScanParams()
    with pytest.raises(TypeError, match="unexpected keyword arguments: min_ngram, text"):
        ScanParams.build(None, {"text": "body", "min_ngram": 2})


def test_scan_function_pickles_with_a_version() -> None:
    table, index = planted_corpus()
    batch = table.append_column("_stemmatic_row", pa.array(np.arange(len(table), dtype=np.int64)))
    scan = ScanBatch(InlineIndex(index), ScanParams(), pa.int64())
    clone = pickle.loads(pickle.dumps(scan))
    assert clone(batch).equals(scan(batch)) and len(scan(batch)) >= 9
    state = scan.__getstate__()
    assert state["version"] == ScanBatch.VERSION
    fn, (cls, _) = scan.__reduce__()
    with pytest.raises(ParameterError, match="state version"):
        fn(cls, {**state, "version": 999})
