"""Hugging Face cards by repository id, through huggingface_hub's cache and offline mode.

The cache is laid out as huggingface_hub lays it out (``<type>s--<org>--<name>/refs/<branch>`` holding a
commit, ``snapshots/<commit>/README.md``), and HF_HUB_OFFLINE=1 keeps every test off the network.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.exceptions import InvalidInputError
from stemmatic.lineage import load_hf_card

pytest.importorskip("huggingface_hub")
pytest.importorskip("rustworkx")

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cache_card(cache: Path, repo_type: str, repo_id: str, text: str, branch: str = "main") -> None:
    folder = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / branch).write_text(COMMIT, encoding="utf-8")
    snapshot = folder / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / "README.md").write_text(text, encoding="utf-8")


@pytest.fixture()
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    cache_card(
        cache,
        "dataset",
        "acme/Grade-Math",
        "---\nlicense: mit\nsource_datasets:\n- GSM8K\n---\n# Grade math\n",
    )
    cache_card(
        cache, "model", "acme/math-7b", "---\nbase_model: org/base-7b\ndatasets:\n- acme/Grade-Math\n---\n"
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_dataset_and_model_cards_by_repo_id_from_the_cache(hub_cache: Path) -> None:
    graph, report = load_hf_card(repo_id="acme/Grade-Math")
    assert graph.parents("acme/grade-math") == ["openai/gsm8k"]
    assert graph.node("acme/grade-math").licenses == ("mit",)
    assert str(hub_cache) in report.source  # the card read is named
    load_hf_card(repo_id="acme/math-7b", graph=graph)  # no dataset repository: the model card is found
    assert graph.parents("model:acme/math-7b") == ["acme/grade-math", "model:org/base-7b"]


def test_a_card_that_is_not_cached_offline_is_one_clear_error(hub_cache: Path) -> None:
    with pytest.raises(
        InvalidInputError, match=r"Hub card of 'acme/absent' \(offline: the local cache only\)"
    ):
        load_hf_card(repo_id="acme/absent")
    with pytest.raises(InvalidInputError, match=r"Hub card of 'acme/math-7b'.*dataset:"):
        load_hf_card(repo_id="acme/math-7b", kind="dataset")
    # An explicit cache_dir and local_files_only win over the environment.
    other = hub_cache.parent / "other"
    cache_card(other, "dataset", "acme/elsewhere", "---\nlicense: apache-2.0\n---\n")
    graph, _ = load_hf_card(repo_id="acme/elsewhere", cache_dir=other, local_files_only=True)
    assert graph.node("acme/elsewhere").licenses == ("apache-2.0",)


def test_cli_build_with_hub_cards(hub_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    args = ["lineage", "build", str(out), "--hub", "acme/Grade-Math", "--hub", "model:acme/math-7b"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["lineage", "show", str(out), "model:acme/math-7b"])
    assert result.exit_code == 0 and "acme/grade-math" in result.output
    result = CliRunner().invoke(app, ["lineage", "build", str(out), "--hub", "acme/absent"])
    assert result.exit_code == 2 and "error: Hub card of 'acme/absent'" in result.output
