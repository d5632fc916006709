"""The Data Provenance Initiative summaries packaged with stemmatic: shipped, complete, equal to the files."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage import load_dpi
from stemmatic.lineage.importers.dpi import _read_packed, builtin_commit, pack_summaries

DPI_DATA = resources.files("stemmatic.lineage") / "data" / "dpi"
SOME = ["Alpaca.json", "Thai Gen AI (Alpaca).json", "Flan Collection (Flan 2021).json", "MetaMathQA.json"]


def _as_json(graph) -> str:
    return json.dumps(graph.to_dict(), sort_keys=True)


def _write_folder(folder: Path, names: list[str]) -> None:
    summaries = _read_packed()["summaries"]
    for name in names:
        (folder / name).write_text(json.dumps(summaries[name], indent=2), encoding="utf-8")


def test_package_ships_summaries_with_licence_and_notice() -> None:
    names = {entry.name for entry in DPI_DATA.iterdir()}
    assert {"data_summaries.json.zst", "LICENSE", "NOTICE.md"} <= names
    assert "Apache License" in (DPI_DATA / "LICENSE").read_text(encoding="utf-8")
    notice = (DPI_DATA / "NOTICE.md").read_text(encoding="utf-8")
    assert builtin_commit() in notice and "Apache License 2.0" in notice
    # ~0.4 MB in the wheel for 8.9 MB of summaries.
    assert len((DPI_DATA / "data_summaries.json.zst").read_bytes()) < 1_000_000
    assert len(_read_packed()["summaries"]) == 109


def test_builtin_equals_the_same_summaries_read_from_files(tmp_path: Path) -> None:
    _write_folder(tmp_path, SOME)
    from_files, files_report = load_dpi(tmp_path)
    builtin, builtin_report = load_dpi(collections=sorted(SOME))
    assert _as_json(from_files) == _as_json(builtin)
    assert builtin_report.source == "dpi:builtin" and files_report.source == str(tmp_path)
    assert builtin_report.files == files_report.files == len(SOME)
    assert builtin.node("tatsu-lab/alpaca").attrs["dpi_file"] == "Alpaca.json"


def test_pack_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    folder = tmp_path / "data_summaries"
    folder.mkdir()
    _write_folder(folder, SOME)
    first, second = tmp_path / "a.json.zst", tmp_path / "b.json.zst"
    assert pack_summaries(tmp_path, first, commit="abc") == len(SOME)
    pack_summaries(folder, second, commit="abc")
    assert first.read_bytes() == second.read_bytes()

    import zstandard

    payload = json.loads(zstandard.ZstdDecompressor().decompress(first.read_bytes()))
    assert payload["commit"] == "abc" and list(payload["summaries"]) == sorted(SOME)
    assert payload["summaries"] == {name: _read_packed()["summaries"][name] for name in SOME}


def test_pack_refuses_a_malformed_summary(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"x": {"Unique Dataset Identifier": "x"}}', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"bad\.json: entry 'x' has no field 'Collection'"):
        pack_summaries(tmp_path, tmp_path / "out.zst", commit="abc")
    assert not (tmp_path / "out.zst").exists()


def test_builtin_unknown_collection_is_named() -> None:
    with pytest.raises(InvalidInputError, match=r"builtin DPI summaries: no collection file 'Nope\.json'"):
        load_dpi(collections=["Alpaca.json", "Nope.json"])


def test_cli_build_builtin_offline(tmp_path: Path) -> None:
    graph_file = tmp_path / "g.json"
    result = CliRunner().invoke(app, ["lineage", "build", str(graph_file), "--dpi", "builtin"])
    assert result.exit_code == 0, result.output
    assert "dpi:builtin" in result.output and "2312" in result.output
    assert len(json.loads(graph_file.read_text(encoding="utf-8"))["nodes"]) == 2838


def test_cli_dpi_folder_named_builtin_is_reachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "builtin"
    folder.mkdir()
    _write_folder(folder, ["Alpaca.json"])
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["lineage", "build", "g.json", "--dpi", "./builtin"])
    assert result.exit_code == 0, result.output
    graph = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))
    assert len(graph["nodes"]) < 10


def test_reads_beside_the_repository_fail() -> None:
    """tests/conftest.py refuses ../shared, so a test that needs it fails even where it exists."""
    beside = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dpi"
    with pytest.raises(RuntimeError, match="outside the repository"):
        open(beside / "LICENSE", encoding="utf-8")  # noqa: SIM115
    with pytest.raises(RuntimeError, match="outside the repository"):
        # os.listdir is audited before it looks (a glob of a missing folder never lists it).
        os.listdir(beside / "data_summaries")
