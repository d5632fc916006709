"""Dedup and the contamination scan on a real local Ray (2 CPUs) give the local engine's bytes; engine objects pickle; the guard."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

import stemmatic.engines.ray as sray
from stemmatic.contamination import HITS_SCHEMA, ContaminationIndex, scan_corpus
from stemmatic.dedup import decide_clusters, dedup
from stemmatic.dedup.pipeline import DedupConfig
from stemmatic.engines import EngineOptions, split_giant_components
from stemmatic.engines._common import BucketPairs, Sketch, VerifySecond
from stemmatic.engines._scan import InlineIndex, ScanBatch
from stemmatic.exceptions import ParameterError
from stemmatic.synthetic import generate_corpus

pytestmark = [
    # Ray's own start-up and shutdown warnings (token auth notice, resource
    # and deprecation notes from its internals); ours stay errors.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:ray.*"),
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
def session():  # type: ignore[no-untyped-def]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    from ray.data.context import ShuffleStrategy

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # Task-based sort shuffle: no aggregator actors to start on a 2-CPU box.
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    yield ray
    ray.shutdown()


def local(data: Path, out: Path, **params: object) -> tuple[pa.Table, pa.Table, pa.Table]:
    dedup(data, out, overwrite=True, **params)
    return (
        pq.read_table(out / "kept"),
        pq.read_table(out / "removed"),
        pq.read_table(out / "clusters.parquet"),
    )


def arrow(ds: object, schema: pa.Schema) -> pa.Table:
    tables = [t for t in ray.get(ds.to_arrow_refs()) if len(t)]  # type: ignore[attr-defined]
    return pa.concat_tables(tables).select(schema.names).cast(schema) if tables else schema.empty_table()


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
    ds = ray.data.read_parquet(str(data))
    result = sray.dedup_split(ds, threshold=0.7, options=EngineOptions(partitions=3))
    assert result.stats["components"]["finished_on"] == "driver"
    assert_same(result, expected)
    kept = arrow(sray.dedup(ds, threshold=0.7, options=EngineOptions(partitions=3)), expected[0].schema)
    assert kept.equals(expected[0])


def test_same_bytes_as_local_engine_components_exact_keep_id(session, data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    params = {"threshold": 0.6, "exact": True, "keep": "column:score", "id_column": "id"}
    expected = local(data, tmp_path / "out", **params)
    ds = ray.data.read_parquet(str(data))
    # A zero "small graph" forces the engine-side large-star/small-star rounds.
    result = sray.dedup_split(ds, options=EngineOptions(partitions=4, small_graph_edges=0), **params)
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
    ds = ray.data.read_parquet(str(data))
    for small in (10**6, 0):
        result = sray.dedup_split(
            ds,
            threshold=0.3,
            options=EngineOptions(partitions=2, max_cluster_size=3, small_graph_edges=small),
        )
        removed = arrow(result.removed, pa.schema([("row", pa.int64()), ("duplicate_of", pa.int64())]))
        assert removed.column("row").to_pylist() == np.flatnonzero(want.removed).tolist()
        assert removed.column("duplicate_of").to_pylist() == want.duplicate_of[want.removed].tolist()
        assert result.stats["guard"]


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


def test_missing_column_is_a_clear_error(session) -> None:  # type: ignore[no-untyped-def]
    ds = ray.data.from_arrow(pa.table({"body": ["x"]}))
    with pytest.raises(ValueError, match="column 'text' is not in the input"):
        sray.dedup(ds)


def test_cli_engine_ray_writes_the_local_answer(session, data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from stemmatic.cli import app

    kept, removed, _ = local(data, tmp_path / "local", threshold=0.7)
    out = tmp_path / "ray"
    result = CliRunner().invoke(
        app, ["dedup", str(data), "-o", str(out), "--engine", "ray", "--threshold", "0.7", "-q"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert (
        report["rows"]["kept"] + report["rows"]["removed"] == report["rows"]["in"] == len(kept) + len(removed)
    )
    got = pq.read_table(out / "kept").select(kept.column_names).cast(kept.schema).sort_by("row")
    assert got.equals(kept.sort_by("row"))


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
    # Three blocks, so rows are numbered across blocks.
    ds = ray.data.from_arrow([table.slice(0, 50), table.slice(50, 60), table.slice(110)])
    got = arrow(sray.scan(ds, index), want.schema)
    assert got.equals(want), (got.to_pylist()[:3], want.to_pylist()[:3])
    sort = [("doc_id", "ascending"), ("item_id", "ascending")]
    assert got.sort_by(sort).equals(want.sort_by(sort))


def test_scan_split_equals_scan_corpus_with_ids_and_coverage(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table, index = planted_corpus()
    path = tmp_path / "corpus.parquet"
    pq.write_table(table, path)
    params = {"id_column": "id", "min_coverage": 0.6}
    report = scan_corpus([path], index, tmp_path / "local", remove=True, **params)
    result = sray.scan_split(ray.data.read_parquet(str(path)), index, remove=True, **params)
    for name, got in (("hits.parquet", result.hits), ("clean", result.clean), ("removed", result.removed)):
        want = pq.read_table(tmp_path / "local" / name)
        if name == "hits.parquet":  # the local scan adds each hit's evidence (needs the whole corpus)
            want = want.select(HITS_SCHEMA.names)
        assert arrow(got, want.schema).equals(want), name
    assert report["rows"]["removed"] == result.stats["removed_rows"] >= 5
    assert report["hits"] == result.stats["hits"]
    assert report["rows"]["detail"]["contaminated"] == result.stats["contaminated_rows"]


def test_scan_function_pickles_with_a_version() -> None:
    table, index = planted_corpus()
    batch = table.append_column("_stemmatic_row", pa.array(np.arange(len(table), dtype=np.int64)))
    scan = ScanBatch(InlineIndex(index), "text", None, pa.int64(), 1, 0.0)
    clone = pickle.loads(pickle.dumps(scan))
    assert clone(batch).equals(scan(batch)) and len(scan(batch)) >= 9
    state = scan.__getstate__()
    assert state["version"] == ScanBatch.VERSION
    fn, (cls, _) = scan.__reduce__()
    with pytest.raises(ParameterError, match="state version"):
        fn(cls, {**state, "version": 999})


def test_scan_refuses_bad_input(session) -> None:  # type: ignore[no-untyped-def]
    _, index = planted_corpus()
    with pytest.raises(ValueError, match="column 'text' is not in the input"):
        sray.scan(ray.data.from_arrow(pa.table({"body": ["x"]})), index)
    with pytest.raises(ValueError, match="tokenizer=auto, not chars"):
        sray.scan(ray.data.from_arrow(pa.table({"text": ["x"]})), index, tokenizer="chars")


def test_cli_contamination_scan_engine_ray(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from stemmatic.cli import app

    table, index = planted_corpus()
    path = tmp_path / "corpus.parquet"
    pq.write_table(table, path)
    index.save(tmp_path / "bench.idx")
    args = [str(path), "--index", str(tmp_path / "bench.idx"), "--remove", "--id-column", "id"]
    runner = CliRunner()
    local_run = runner.invoke(app, ["contamination", "scan", *args, "-o", str(tmp_path / "local")])
    assert local_run.exit_code == 0, local_run.output
    out = tmp_path / "ray"
    result = runner.invoke(app, ["contamination", "scan", *args, "-o", str(out), "--engine", "ray"])
    assert result.exit_code == 0, result.output
    want = pq.read_table(tmp_path / "local" / "hits.parquet").select(HITS_SCHEMA.names)
    got = pq.read_table(out / "hits").select(want.column_names).cast(want.schema)
    assert got.sort_by([("doc_id", "ascending"), ("item_id", "ascending")]).equals(
        want.sort_by([("doc_id", "ascending"), ("item_id", "ascending")])
    )
    report = json.loads((out / "report.json").read_text())
    local_report = json.loads((tmp_path / "local" / "report.json").read_text())
    assert report["hits"] == local_report["hits"] == len(want)
    assert report["rows"]["removed"] == local_report["rows"]["removed"] > 0
    refused = runner.invoke(
        app, ["contamination", "scan", *args, "-o", str(tmp_path / "x"), "--engine", "ray", "--gpt3-cut"]
    )
    assert refused.exit_code == 2 and "local engine only" in refused.output
