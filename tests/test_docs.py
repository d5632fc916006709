"""The README and the docs pages name only commands, options and make targets that exist.

Every ```bash block of README.md and docs/**/*.md is read; each `stemmatic ...`
command line in it is resolved against the typer app's command tree, and each
`make TARGET` against the Makefile, so a renamed option or target fails here
instead of rotting in the docs. Relative links of the README must point at
files of the repository, and the docs site must build with warnings as errors.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main

from stemmatic.cli import app

REPO = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^\s*```(\S*)")
_SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
_MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+):(?!=)")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Snippet:
    """One shell command line of a document (continuation lines joined)."""

    source: str
    line: int
    text: str


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def shell_lines(path: Path) -> list[Snippet]:
    """The command lines of the shell code blocks of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    source = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
    snippets: list[Snippet] = []
    in_shell = in_fence = False
    pending: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line)
        if fence:
            in_fence = not in_fence
            in_shell = in_fence and fence.group(1).lower() in _SHELL_LANGUAGES
            continue
        if not in_shell:
            continue
        text = line.strip()
        if text.startswith("$ "):
            text = text[2:]
        if not pending:
            start = number
        if text.endswith("\\"):
            pending.append(text[:-1])
            continue
        pending.append(text)
        joined = " ".join(pending).strip()
        pending = []
        if joined and not joined.startswith("#"):
            snippets.append(Snippet(source, start, joined))
    return snippets


def _commands(snippet: Snippet, program: str) -> list[list[str]]:
    """The argument lists of each call of ``program`` in a command line (after `&&`, `;`, `|`)."""
    tokens = shlex.split(snippet.text, comments=True)
    calls: list[list[str]] = []
    current: list[str] | None = None
    for i, token in enumerate(tokens):
        if token in ("&&", ";", "||"):
            current = None
        elif token == "|":
            # `--remove | --gpt3-cut` in a synopsis is a choice of options; `| head` is a pipe.
            following = tokens[i + 1].lstrip("[") if i + 1 < len(tokens) else ""
            if not following.startswith("-"):
                current = None
        elif current is None:
            if Path(token).name == program:
                current = []
                calls.append(current)
        else:
            current.append(token)
    return calls


def check_stemmatic_line(snippet: Snippet) -> list[str]:
    """What is wrong with the `stemmatic` calls of a command line (empty: nothing)."""
    problems: list[str] = []
    root = typer.main.get_command(app)
    for args in _commands(snippet, "stemmatic"):
        command, path = root, ["stemmatic"]
        words = [arg.strip("[]") for arg in args]
        index = 0
        while index < len(words) and hasattr(command, "commands") and not words[index].startswith("-"):
            name = words[index]
            default = getattr(command, "default_command", None)  # a group that runs one when none is named
            if name not in command.commands and default is not None:
                command = command.commands[default]
                path.append(default)
                continue  # check the words against the default command
            if name not in command.commands:
                problems.append(
                    f"{snippet.source}:{snippet.line}: `{' '.join(path)}` has no command {name!r}"
                )
                break
            command = command.commands[name]
            path.append(name)
            index += 1
        else:
            if hasattr(command, "commands") and index == len(words):
                continue  # a group alone prints its help
            known = {"--help"}
            for param in command.params:
                known.update(getattr(param, "opts", ()) if param.param_type_name == "option" else ())
                known.update(getattr(param, "secondary_opts", ()))
            for word in words[index:]:
                if word.startswith("-") and word != "-" and not _is_number(word):
                    option = word.split("=", 1)[0]
                    if option not in known:
                        problems.append(
                            f"{snippet.source}:{snippet.line}: `{' '.join(path)}` has no option {option!r}"
                        )
    return problems


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for line in text.splitlines() if (m := _MAKE_TARGET.match(line))}


def check_make_line(snippet: Snippet, targets: set[str]) -> list[str]:
    problems = []
    for args in _commands(snippet, "make"):
        for word in args:
            if not word.startswith("-") and "=" not in word and word not in targets:
                problems.append(f"{snippet.source}:{snippet.line}: the Makefile has no target {word!r}")
    return problems


def test_docs_have_cli_snippets() -> None:
    """The checks below read real snippets: the README's quick starts among them."""
    readme = [s for s in shell_lines(REPO / "README.md") if "stemmatic " in s.text]
    assert any("stemmatic dedup" in s.text for s in readme)
    assert sum(1 for path in doc_files() for s in shell_lines(path) if "stemmatic " in s.text) >= 30


def test_cli_snippets_name_existing_commands_and_options() -> None:
    problems = [p for path in doc_files() for s in shell_lines(path) for p in check_stemmatic_line(s)]
    assert not problems, "\n".join(problems)


def test_make_snippets_name_existing_targets() -> None:
    targets = make_targets()
    assert {"demo", "test", "docs"} <= targets
    problems = [p for path in doc_files() for s in shell_lines(path) for p in check_make_line(s, targets)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("stemmatic dedup in/ -o out/ --treshold 0.8", "has no option '--treshold'"),
        ("stemmatic dedupe in/ -o out/", "has no command 'dedupe'"),
        ("stemmatic lineage biuld graph.json", "has no command 'biuld'"),
        ("ls && stemmatic contamination scan c/ --index i -o o [--remove | --gpt3-cutt]", "'--gpt3-cutt'"),
        ("stemmatic resofilter score a.jsonl --model m --output-dir o", "has no option '--output-dir'"),
    ],
)
def test_checker_finds_what_does_not_exist(line: str, problem: str) -> None:
    problems = check_stemmatic_line(Snippet("doc.md", 1, line))
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    "line",
    [
        "stemmatic dedup in/ -o out/ --threshold=0.8 --exact --no-such-thing-after-a-pipe | grep -v --foo",
        "stemmatic contamination scan c/ --index i -o o [--min-coverage 0.0] [--remove | --gpt3-cut]",
        "stemmatic lineage build graph.json --dpi builtin --no-cut-cycles",
        "stemmatic diversity",
        "stemmatic --help",
    ],
)
def test_checker_accepts_what_exists(line: str) -> None:
    # The first line's `--no-such-thing-after-a-pipe` belongs to dedup: the checker must catch it.
    problems = check_stemmatic_line(Snippet("doc.md", 1, line))
    expected = ["--no-such-thing-after-a-pipe"] if "after-a-pipe" in line else []
    assert [p.rsplit(" ", 1)[-1].strip("'") for p in problems] == expected


def test_shell_lines_join_continuations_and_skip_other_blocks(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(
        "```python\nstemmatic dedup --nope\n```\n\n```bash\nstemmatic dedup a/ \\\n    -o out/  # comment\n```\n",
        encoding="utf-8",
    )
    lines = shell_lines(doc)
    assert [(s.line, s.text) for s in lines] == [(6, "stemmatic dedup a/  -o out/  # comment")]


def test_readme_links_point_at_files() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    missing = []
    for target in _LINK.findall(text):
        if "://" in target or target.startswith("#"):
            continue
        if not (REPO / target.split("#", 1)[0]).exists():
            missing.append(target)
    assert not missing, f"README.md links to missing files: {missing}"


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    """`make docs` in one test: the site builds with warnings as errors (CLI reference included)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    cli = (tmp_path / "site" / "reference" / "cli.html").read_text(encoding="utf-8")
    assert "stemmatic contamination scan" in cli and "--max-cluster-size" in cli
