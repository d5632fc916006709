"""The CLI through typer's CliRunner."""

from __future__ import annotations

import pyarrow.parquet as pq
from typer.testing import CliRunner

import stemmatic
from stemmatic.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert stemmatic.__version__ in result.output


def test_sample_data_writes_shards(tmp_path) -> None:
    result = runner.invoke(app, ["sample-data", str(tmp_path / "d"), "--docs", "120", "--shards", "3"])
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "d").glob("*.parquet"))
    assert len(files) == 3
    assert sum(pq.read_metadata(f).num_rows for f in files) == 120
