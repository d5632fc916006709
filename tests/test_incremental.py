"""Incremental dedup: ``stemmatic index build|add|info`` and ``dedup --against``.

The reference is a dedup of the old and the new rows in one run, old rows first:
``--against`` must remove from the new rows exactly what that run removes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.dedup import DedupIndex, add_to_index, build_index, dedup, index_info
from stemmatic.exceptions import InvalidInputError, ParameterError

THRESHOLD = 0.7


def _corpus(seed: int, n: int = 900, bases: int = 120, mutations: int = 12) -> list[str]:
    """Near-duplicate families: each row is a base text with a few words replaced."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    base = [" ".join(rng.choice(words) for _ in range(60)) for _ in range(bases)]
    rows = []
    for _ in range(n):
        tokens = rng.choice(base).split()
        for _ in range(rng.randint(0, mutations)):
            tokens[rng.randrange(len(tokens))] = rng.choice(words)
        rows.append(" ".join(tokens))
    return rows


def _write(path: Path, texts: list[str | None], first_row: int) -> Path:
    rows = list(range(first_row, first_row + len(texts)))
    pq.write_table(pa.table({"text": texts, "row": rows, "doc_id": [f"d{r}" for r in rows]}), path)
    return path


def _removed_rows(out: Path, name: str) -> set[int]:
    return set(pq.read_table(out / "removed" / name).column("row").to_pylist())


@pytest.mark.parametrize(
    ("seed", "clique_max", "memory_limit"),
    [(0, 8, "4GB"), (1, 2, "4GB"), (2, 8, "1MiB"), (3, 2, "1MiB")],
)
def test_against_removes_what_a_dedup_of_old_then_new_removes(
    tmp_path: Path, seed: int, clique_max: int, memory_limit: str
) -> None:
    texts = _corpus(seed)
    old = _write(tmp_path / "old.parquet", texts[:500], 0)
    new = _write(tmp_path / "new.parquet", [*texts[500:], "", None], 500)
    options = {"threshold": THRESHOLD, "clique_max": clique_max, "memory_limit": memory_limit}
    dedup([old, new], tmp_path / "full", **options)
    want = _removed_rows(tmp_path / "full", "new.parquet")
    build_index(old, tmp_path / "index", threshold=THRESHOLD)
    result = dedup(new, tmp_path / "inc", against=[tmp_path / "index"], **options)
    assert _removed_rows(tmp_path / "inc", "new.parquet") == want
    rows = result.report["rows"]
    assert rows["detail"]["removed_against_index"] > 20  # the test exercises the index
    assert rows["detail"]["removed_near_duplicate"] > 0  # and duplicates within the new rows
    assert rows["kept"] + rows["removed"] + rows["rejected"] == rows["in"] == 402


def test_releases_and_several_indexes_decide_as_one_run_in_their_order(tmp_path: Path) -> None:
    texts = _corpus(7, n=1000)
    first = _write(tmp_path / "r1.parquet", texts[:300], 0)
    second = _write(tmp_path / "r2.parquet", texts[300:550], 300)
    third = _write(tmp_path / "r3.parquet", texts[550:700], 550)
    new = _write(tmp_path / "new.parquet", texts[700:], 700)
    dedup([first, second, third, new], tmp_path / "full", threshold=THRESHOLD)
    want = _removed_rows(tmp_path / "full", "new.parquet")

    build_index(first, tmp_path / "a", threshold=THRESHOLD)
    before = {p: p.read_bytes() for p in (tmp_path / "a" / "release-00000").iterdir()}
    info = add_to_index(tmp_path / "a", second)
    assert [r["rows"] for r in info.releases] == [300, 250]
    # Appending never rewrites an older release.
    assert {p: p.read_bytes() for p in (tmp_path / "a" / "release-00000").iterdir()} == before
    build_index(third, tmp_path / "b", threshold=THRESHOLD)
    dedup(new, tmp_path / "inc", against=[tmp_path / "a", tmp_path / "b"], threshold=THRESHOLD)
    assert _removed_rows(tmp_path / "inc", "new.parquet") == want


def test_removed_rows_name_the_indexed_row_and_its_source(tmp_path: Path) -> None:
    text = "the quick brown fox jumps over the lazy dog and runs far away " * 4
    old = tmp_path / "old.parquet"
    pq.write_table(pa.table({"text": ["unrelated words here", text], "doc_id": ["o1", "o2"]}), old)
    new = tmp_path / "new.parquet"
    pq.write_table(pa.table({"text": [text + "again", "fresh text"], "doc_id": ["n1", "n2"]}), new)
    build_index(old, tmp_path / "index", threshold=THRESHOLD, id_column="doc_id")
    result = dedup(new, tmp_path / "out", threshold=THRESHOLD, id_column="doc_id", against=tmp_path / "index")
    removed = pq.read_table(tmp_path / "out" / "removed" / "new.parquet").to_pylist()
    assert len(removed) == 1
    row = removed[0]
    assert (row["doc_id"], row["duplicate_of"], row["reason"]) == ("n1", "o2", "near_duplicate_of_index")
    assert row["duplicate_source"] == str(old.resolve())
    assert row["similarity"] >= THRESHOLD
    assert result.report["against"]["indexed_rows"] == 2
    # Without an id column the indexed row is named by its row in its file; the run's ids are text here.
    build_index(old, tmp_path / "plain", threshold=THRESHOLD)
    dedup(new, tmp_path / "out2", threshold=THRESHOLD, id_column="doc_id", against=tmp_path / "plain")
    row = pq.read_table(tmp_path / "out2" / "removed" / "new.parquet").to_pylist()[0]
    assert row["duplicate_of"] == "1"


def test_the_index_is_only_modified_with_update_index(tmp_path: Path) -> None:
    texts = _corpus(3, n=400)
    old = _write(tmp_path / "old.parquet", texts[:200], 0)
    new = _write(tmp_path / "new.parquet", texts[200:], 200)
    build_index(old, tmp_path / "index", threshold=THRESHOLD)
    snapshot = {p: p.read_bytes() for p in (tmp_path / "index").rglob("*") if p.is_file()}
    dedup(new, tmp_path / "out", threshold=THRESHOLD, against=[tmp_path / "index"])
    assert {p: p.read_bytes() for p in (tmp_path / "index").rglob("*") if p.is_file()} == snapshot

    result = dedup(
        new, tmp_path / "out2", threshold=THRESHOLD, against=[tmp_path / "index"], update_index=True
    )
    info = index_info(tmp_path / "index", verify=True)
    assert [r["rows"] for r in info.releases] == [200, result.kept_rows]
    assert result.report["index_update"]["release"]["rows"] == result.kept_rows
    assert json.loads((tmp_path / "out2" / "report.json").read_text())["index_update"]["index"]
    # The new release holds what was kept: a second pass removes all of it.
    again = dedup(new, tmp_path / "out3", threshold=THRESHOLD, against=[tmp_path / "index"])
    assert again.kept_rows == 0


def test_parameters_that_differ_from_the_index_are_refused_before_any_output(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.parquet", _corpus(1, n=50), 0)
    build_index(old, tmp_path / "index", threshold=THRESHOLD)
    for overrides, named in [
        ({"threshold": 0.8}, "threshold"),
        ({"seed": 2}, "seed"),
        ({"tokenizer": "chars"}, "tokenizer"),
        ({"ngram": 3}, "ngram"),
        ({"bands": 10, "rows": 5}, "bands"),
    ]:
        params = {"threshold": THRESHOLD, **overrides}
        with pytest.raises(ParameterError, match=f"{named} .* in the index"):
            dedup(old, tmp_path / "out", against=[tmp_path / "index"], **params)  # type: ignore[arg-type]
        assert not (tmp_path / "out").exists()
    with pytest.raises(ParameterError, match="--exact"):
        dedup(old, tmp_path / "out", against=[tmp_path / "index"], threshold=THRESHOLD, exact=True)
    with pytest.raises(ParameterError, match="verify"):
        dedup(old, tmp_path / "out", against=[tmp_path / "index"], threshold=THRESHOLD, verify="estimate")
    with pytest.raises(ParameterError, match="needs an --against"):
        dedup(old, tmp_path / "out", threshold=THRESHOLD, update_index=True)
    build_index(old, tmp_path / "other", threshold=0.8)
    with pytest.raises(ParameterError, match="other parameters than"):
        dedup(old, tmp_path / "out", against=[tmp_path / "index", tmp_path / "other"], threshold=THRESHOLD)
    assert not (tmp_path / "out").exists()


def test_a_format_1_index_built_with_auto_reads_as_auto_span(tmp_path: Path) -> None:
    """Format 1 predates auto's document rule: its `auto` hashed as `auto-span` does, and is read so."""
    texts = [
        "这是一个关于数据去重的中文文档，包含多个句子和一些 English words 混合在一起。" * 3 + str(i % 40)
        for i in range(80)
    ]
    old = _write(tmp_path / "old.parquet", texts[:40], 0)
    new = _write(tmp_path / "new.parquet", texts[40:], 40)
    build_index(old, tmp_path / "index", threshold=THRESHOLD, tokenizer="auto-span")
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"], manifest["parameters"]["tokenizer"] = 1, "auto"
    manifest_path.write_text(json.dumps(manifest))
    assert index_info(tmp_path / "index").parameters["tokenizer"] == "auto-span"
    with pytest.raises(ParameterError, match=r"tokenizer .* in the index"):
        dedup(new, tmp_path / "out", against=[tmp_path / "index"], threshold=THRESHOLD)
    result = dedup(
        new, tmp_path / "out", against=[tmp_path / "index"], threshold=THRESHOLD, tokenizer="auto-span"
    )
    assert result.report["rows"]["detail"]["removed_against_index"] == 40
    add_to_index(tmp_path / "index", new)
    rewritten = json.loads(manifest_path.read_text())
    assert (rewritten["format_version"], rewritten["parameters"]["tokenizer"]) == (2, "auto-span")


def _damage(index: Path, how: str) -> str:
    """Damage ``index`` one way; the text the error must contain."""
    manifest_path = index / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    values = index / "release-00000" / "values.bin"
    if how == "truncated":
        values.write_bytes(values.read_bytes()[:-8])
        return "values.bin: truncated or damaged"
    if how == "flipped":
        data = bytearray(values.read_bytes())
        data[len(data) // 2] ^= 0xFF
        values.write_bytes(bytes(data))
        return "values.bin: damaged index file (checksum"
    if how == "missing file":
        (index / "release-00000" / "keys.bin").unlink()
        return "keys.bin: missing from the index"
    if how == "no manifest":
        manifest_path.unlink()
        return "not a stemmatic index"
    if how == "torn manifest":
        manifest_path.write_text(manifest_path.read_text()[:40])
        return "damaged index manifest"
    if how == "newer format":
        manifest["format_version"] = 3
        manifest_path.write_text(json.dumps(manifest))
        return "upgrade stemmatic"
    if how == "older format":
        manifest["format_version"] = 0
        manifest_path.write_text(json.dumps(manifest))
        return "rebuild it"
    if how == "newer stemmatic":
        manifest["stemmatic_version"] = "99.0.0"
        manifest_path.write_text(json.dumps(manifest))
        return "written by stemmatic 99.0.0"
    if how == "bad parameter":
        manifest["parameters"]["seed"] = "one"
        manifest_path.write_text(json.dumps(manifest))
        return "parameter 'seed' is not a int"
    if how == "counts disagree":
        manifest["releases"][0]["rows"] += 1
        manifest_path.write_text(json.dumps(manifest))
        return "offsets.bin: holds"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "truncated",
        "flipped",
        "missing file",
        "no manifest",
        "torn manifest",
        "newer format",
        "older format",
        "newer stemmatic",
        "bad parameter",
        "counts disagree",
    ],
)
def test_a_damaged_or_foreign_index_is_refused_and_nothing_is_written(tmp_path: Path, how: str) -> None:
    old = _write(tmp_path / "old.parquet", _corpus(2, n=60), 0)
    build_index(old, tmp_path / "index", threshold=THRESHOLD)
    message = _damage(tmp_path / "index", how)
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        dedup(old, tmp_path / "out", against=[tmp_path / "index"], threshold=THRESHOLD)
    assert not (tmp_path / "out").exists()
    with pytest.raises(InvalidInputError):
        add_to_index(tmp_path / "index", old)
    assert sorted(p.name for p in (tmp_path / "index").iterdir() if p.name.startswith("release")) == [
        "release-00000"
    ]


def test_cli_build_add_info_and_dedup_against(tmp_path: Path) -> None:
    texts = _corpus(5, n=500)
    old = _write(tmp_path / "old.parquet", texts[:250], 0)
    more = _write(tmp_path / "more.parquet", texts[250:350], 250)
    new = _write(tmp_path / "new.parquet", texts[350:], 350)
    runner = CliRunner()
    index = str(tmp_path / "index")
    done = runner.invoke(app, ["index", "build", str(old), "-o", index, "--threshold", "0.7", "-q"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["index", "add", index, str(more), "-q"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, ["index", "info", index, "--verify", "--json"])
    assert done.exit_code == 0, done.output
    described = json.loads(done.stdout)
    assert described["rows"] == 350 and len(described["releases"]) == 2
    assert described["parameters"]["threshold"] == 0.7

    args = ["dedup", str(new), "--threshold", "0.7", "--against", index, "-q"]
    done = runner.invoke(app, [*args, "-o", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    assert "duplicate of an indexed row" in done.stdout
    dedup([old, more, new], tmp_path / "full", threshold=THRESHOLD)
    assert _removed_rows(tmp_path / "out", "new.parquet") == _removed_rows(tmp_path / "full", "new.parquet")

    done = runner.invoke(app, ["dedup", str(new), "--against", index, "-o", str(tmp_path / "o2"), "-q"])
    assert done.exit_code == 2
    assert (
        done.stderr.count("\n") <= 2
        and "error: " in done.stderr
        and "threshold 0.7 in the index" in done.stderr
    )
    # The engines dedup against an index (tests/test_engines.py) but append to it only locally.
    done = runner.invoke(app, [*args, "-o", str(tmp_path / "o3"), "--engine", "ray", "--update-index"])
    assert done.exit_code == 2 and "local engine only" in done.stderr and "index add" in done.stderr
    assert not (tmp_path / "o3").exists()
    done = runner.invoke(app, ["index", "info", str(tmp_path / "nothing")])
    assert done.exit_code == 2 and "no index there" in done.stderr


def test_in_memory_output_and_pairs_stay_within_the_run(tmp_path: Path) -> None:
    texts = _corpus(4, n=400)
    old = _write(tmp_path / "old.parquet", texts[:200], 0)
    new = _write(tmp_path / "new.parquet", texts[200:], 200)
    build_index(old, tmp_path / "index", threshold=THRESHOLD)
    result = dedup(pq.read_table(new), threshold=THRESHOLD, against=[tmp_path / "index"], emit_pairs=True)
    assert result.removed is not None and result.pairs is not None
    reasons = set(result.removed.column("reason").to_pylist())
    assert reasons == {"near_duplicate", "near_duplicate_of_index"}
    assert max(result.pairs.column("id_b").to_pylist()) < 200  # run rows only


def test_an_index_on_an_object_store(tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    texts = _corpus(6, n=300)
    old = _write(tmp_path / "old.parquet", texts[:150], 0)
    new = _write(tmp_path / "new.parquet", texts[150:], 150)
    url = "memory://stemmatic-tests/incremental-index"
    build_index(old, url, threshold=THRESHOLD, overwrite=True)
    build_index(old, tmp_path / "index", threshold=THRESHOLD)
    remote = dedup(new, tmp_path / "remote", against=[url], threshold=THRESHOLD)
    local = dedup(new, tmp_path / "local", against=[tmp_path / "index"], threshold=THRESHOLD)
    assert remote.removed_rows == local.removed_rows > 0
    assert index_info(url).rows == 150
    with pytest.raises(ParameterError, match="local index"):
        dedup(new, tmp_path / "o", against=[url], threshold=THRESHOLD, update_index=True)


def test_lookups_read_the_index_memory_mapped(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.parquet", _corpus(8, n=100), 0)
    build_index(old, tmp_path / "index", threshold=THRESHOLD)
    index = DedupIndex.open(tmp_path / "index")
    try:
        release = index.releases[0]
        import numpy as np

        assert isinstance(release.keys, np.memmap) and isinstance(release.values, np.memmap)
        assert bool(np.all(release.keys[1:] >= release.keys[:-1]))
    finally:
        index.close()


class _OneBucketIndex:
    """Stands for an index of 10 rows whose row 3 has band key 7."""

    rows = 10

    def lookup(self, keys: object) -> tuple[object, object]:
        import numpy as np

        return np.array([7], np.uint64), np.array([3], np.uint64)

    def candidate_pairs(self, keys: object, docs: object, *, clique_max: int, workers: int | None) -> object:
        from stemmatic.dedup.index import DedupIndex

        # The real bucket logic over this stand-in's lookup.
        return DedupIndex.candidate_pairs(self, keys, docs, clique_max=clique_max, workers=workers)  # type: ignore[arg-type]


@pytest.mark.parametrize(("clique_max", "run_pairs"), [(2, []), (8, [[0, 1]])])
def test_a_bucket_shared_with_indexed_rows_makes_the_star_a_single_run_would(
    tmp_path: Path, clique_max: int, run_pairs: list[list[int]]
) -> None:
    """Bucket {indexed 3, run 0, run 1}: above clique_max it is a star from the indexed row (no run-run pair)."""
    import numpy as np

    from stemmatic.dedup.index import Against

    against = Against(_OneBucketIndex())  # type: ignore[arg-type]
    against.work = tmp_path
    found = against.candidate_pairs(
        np.array([7, 7], np.uint64), np.array([0, 1], np.uint64), clique_max=clique_max, workers=1
    )
    assert found.tolist() == run_pairs
    saved: dict[str, object] = {}
    external = against.external_pairs(5, saved.__setitem__)
    # Run rows 0 and 1 each paired with node 5 + 0, the first indexed row met (global row 3).
    assert external.tolist() == [[0, 5], [1, 5]]
    assert saved["index_rows.npy"].tolist() == [3]  # type: ignore[attr-defined]
