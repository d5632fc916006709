"""MkDocs hook: the pages that are generated, never copied by hand.

* ``reference/cli.md``: the CLI reference, made at build time from the typer
  app by typer's own ``typer stemmatic.cli utils docs``, so it says what the
  installed ``stemmatic`` command does.
* ``benchmarks.md`` and ``results/*.md``: ``benches/RESULTS.md`` and
  ``benches/results/*.md`` as they are in the repository. Measured numbers
  live only there; the pages link to them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
BENCHES = REPO / "benches"

CLI_INTRO = """\
This page is generated when the site is built, from the `stemmatic` typer app
(`typer stemmatic.cli utils docs`), so it lists exactly the commands and
options of the code it was built from. `stemmatic COMMAND --help` prints the
same text in a terminal.
"""

_FENCE = re.compile(r"^\s*```")
_CODE_SPAN = re.compile(r"(`[^`]*`)")
_LABEL = re.compile(r"^\*\*[A-Za-z ]+\*\*:$")


def _escape_prose(text: str) -> str:
    """Backslash-escape what Markdown would eat (``\\``, ``*``, ``_``) outside code spans."""
    parts = _CODE_SPAN.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"([\\*_])", r"\\\1", parts[i])
    return "".join(parts)


def literal_help(markdown: str) -> str:
    """Make typer's generated Markdown print help texts literally.

    Help texts hold regexes (``mlp\\.up_proj$``) and products (``k*k``) that
    Markdown would otherwise turn into markup; headings, labels, list markers
    and fenced blocks are left as they are.
    """
    out: list[str] = []
    in_fence = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
        elif in_fence or not line.strip() or line.startswith("#") or _LABEL.match(line):
            out.append(line)
        elif line.startswith("* "):
            out.append("* " + _escape_prose(line[2:]))
        else:
            out.append(_escape_prose(line))
    return "\n".join(out) + "\n"


def cli_reference() -> str:
    """The CLI reference page, from the typer app of the installed package."""
    command = [sys.executable, "-m", "typer", "stemmatic.cli", "utils", "docs", "--name", "stemmatic"]
    run = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if run.returncode != 0 or not run.stdout.startswith("# "):
        raise PluginError(f"`{' '.join(command[2:])}` failed ({run.returncode}): {run.stderr.strip()}")
    title, _, body = run.stdout.partition("\n")
    return f"{title}\n\n{CLI_INTRO}\n{literal_help(body)}"


def on_files(files: Files, config: Any) -> Files:
    """Add the generated CLI reference and the benchmark results to the site."""
    files.append(File.generated(config, "reference/cli.md", content=cli_reference()))
    files.append(File.generated(config, "benchmarks.md", abs_src_path=str(BENCHES / "RESULTS.md")))
    for result in sorted((BENCHES / "results").glob("*.md")):
        files.append(File.generated(config, f"results/{result.name}", abs_src_path=str(result)))
    return files
