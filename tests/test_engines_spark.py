"""Dedup and the contamination scan on a real local Spark (local[2]) give the local engine's bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stemmatic.engines.spark as sspark
from stemmatic.contamination import HITS_SCHEMA, ContaminationIndex, scan_corpus
from stemmatic.dedup import decide_clusters, dedup
from stemmatic.engines import EngineOptions, split_giant_components
from stemmatic.synthetic import generate_corpus

pytestmark = [
    # PySpark's start-up warnings (pandas version notice, deprecations in its
    # internals); ours stay errors.
    pytest.mark.filterwarnings("ignore::FutureWarning:pyspark.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


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


@pytest.fixture(scope="module")
def session(local_spark):  # type: ignore[no-untyped-def]
    return local_spark


def local(data: Path, out: Path, **params: object) -> tuple[pa.Table, pa.Table, pa.Table]:
    dedup(data, out, overwrite=True, **params)
    return (
        pq.read_table(out / "kept"),
        pq.read_table(out / "removed"),
        pq.read_table(out / "clusters.parquet"),
    )


def arrow(df: object, schema: pa.Schema) -> pa.Table:
    return df.toArrow().select(schema.names).cast(schema)  # type: ignore[attr-defined]


def assert_same(result: object, expected: tuple[pa.Table, pa.Table, pa.Table]) -> None:
    kept, removed, clusters = expected
    for got, want in zip((result.kept, result.removed, result.clusters), expected, strict=True):  # type: ignore[attr-defined]
        table = arrow(got, want.schema)
        assert table.column_names == want.column_names
        assert table.equals(want), (table.slice(0, 5).to_pylist(), want.slice(0, 5).to_pylist())
    assert result.stats["kept_rows"] + result.stats["removed_rows"] == len(kept) + len(removed)  # type: ignore[attr-defined]
    assert len(removed) > 10 and len(clusters) > 20


def test_same_bytes_as_local_small_graph_on_driver(session, data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    expected = local(data, tmp_path / "out", threshold=0.7)
    ds = session.read.parquet(str(data))
    result = sspark.dedup_split(ds, threshold=0.7, options=EngineOptions(partitions=3))
    assert result.stats["components"]["finished_on"] == "driver"
    assert_same(result, expected)
    kept = arrow(sspark.dedup(ds, threshold=0.7, options=EngineOptions(partitions=3)), expected[0].schema)
    assert kept.equals(expected[0])


def test_same_bytes_as_local_engine_components_exact_keep_id(session, data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    params = {"threshold": 0.6, "exact": True, "keep": "column:score", "id_column": "id"}
    expected = local(data, tmp_path / "out", **params)
    ds = session.read.parquet(str(data))
    # A zero "small graph" forces the engine-side large-star/small-star rounds.
    result = sspark.dedup_split(ds, options=EngineOptions(partitions=4, small_graph_edges=0), **params)
    assert result.stats["components"]["finished_on"] == "engine"
    assert result.stats["components"]["rounds"] >= 1
    assert result.stats["removed_exact"] >= 10
    assert_same(result, expected)


def test_guard_splits_clusters_like_the_pure_function(session, data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dedup(data, tmp_path / "out", overwrite=True, threshold=0.3, emit_pairs=True)
    pairs = pq.read_table(tmp_path / "out" / "pairs.parquet")
    edges = np.stack([pairs.column("id_a").to_numpy(), pairs.column("id_b").to_numpy()], axis=1)
    sims = pairs.column("jaccard").to_numpy()
    n = len(corpus_table())
    guard = split_giant_components(n, edges, sims, max_size=3)
    assert guard.split, "the data must have a component above the cap"
    want = decide_clusters(n, edges[guard.keep], sims[guard.keep])
    ds = session.read.parquet(str(data))
    for small in (10**6, 0):
        result = sspark.dedup_split(
            ds,
            threshold=0.3,
            options=EngineOptions(partitions=2, max_cluster_size=3, small_graph_edges=small),
        )
        removed = arrow(result.removed, pa.schema([("row", pa.int64()), ("duplicate_of", pa.int64())]))
        assert removed.column("row").to_pylist() == np.flatnonzero(want.removed).tolist()
        assert removed.column("duplicate_of").to_pylist() == want.duplicate_of[want.removed].tolist()
        assert result.stats["guard"]


def test_missing_column_is_a_clear_error(session) -> None:  # type: ignore[no-untyped-def]
    df = session.createDataFrame(pa.table({"body": ["x"]}))
    with pytest.raises(ValueError, match="column 'text' is not in the input"):
        sspark.dedup(df)


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


def test_scan_hits_equal_local_scan(session) -> None:  # type: ignore[no-untyped-def]
    table, index = planted_corpus()
    want = index.scan(table.column("text"))
    assert len(want) >= 9 and set(want.column("item_id").to_pylist()) >= {"t0", "t1", "t2", "t3", "t4"}
    df = session.createDataFrame(table)  # sliced over local[2]'s partitions
    got = arrow(sspark.scan(df, index), want.schema)
    assert got.equals(want), (got.to_pylist()[:3], want.to_pylist()[:3])
    sort = [("doc_id", "ascending"), ("item_id", "ascending")]
    assert got.sort_by(sort).equals(want.sort_by(sort))


def test_scan_split_equals_scan_corpus_with_ids_and_coverage(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table, index = planted_corpus()
    path = tmp_path / "corpus.parquet"
    pq.write_table(table, path)
    params = {"id_column": "id", "min_coverage": 0.6}
    report = scan_corpus([path], index, tmp_path / "local", remove=True, **params)
    result = sspark.scan_split(session.read.parquet(str(path)), index, remove=True, **params)
    for name, got in (("hits.parquet", result.hits), ("clean", result.clean), ("removed", result.removed)):
        want = pq.read_table(tmp_path / "local" / name)
        if name == "hits.parquet":  # the local scan adds each hit's evidence (needs the whole corpus)
            want = want.select(HITS_SCHEMA.names)
        assert arrow(got, want.schema).equals(want), name
    assert report["rows"]["removed"] == result.stats["removed_rows"] >= 5
    assert report["hits"] == result.stats["hits"]
    assert report["rows"]["detail"]["contaminated"] == result.stats["contaminated_rows"]
