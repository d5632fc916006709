#!/usr/bin/env bash
# Smoke test of a built wheel: what a user gets from `pip install stemmatic`.
#
#   .ci/wheel-smoke.sh WHEEL_DIR SCRATCH_DIR
#
# Makes a clean venv in SCRATCH_DIR (with $PYTHON, default python3), installs
# the one stemmatic wheel of WHEEL_DIR with no extras, and from SCRATCH_DIR
# (outside the source tree) checks: import, the packaged DPI data, the CLI, a
# dedup of generated data (rows conserved), and the one-line error of a missing
# extra. Used by `make wheel-smoke` (.ci/run) and by the release workflow.
set -euo pipefail

fail() { echo "wheel-smoke: $*" >&2; exit 1; }

[ $# = 2 ] || fail "usage: $0 WHEEL_DIR SCRATCH_DIR"
wheels=("$1"/stemmatic-*.whl)
[ ${#wheels[@]} = 1 ] && [ -f "${wheels[0]}" ] || fail "expected one stemmatic wheel in $1, found ${wheels[*]}"
wheel=$(cd "$(dirname "${wheels[0]}")" && pwd)/$(basename "${wheels[0]}")
rm -rf "$2"
mkdir -p "$2"
cd "$2"
"${PYTHON:-python3}" -m venv venv
bin=$PWD/venv/bin
[ -d "$bin" ] || bin=$PWD/venv/Scripts  # Windows
unset VIRTUAL_ENV PYTHONPATH
export PATH="$bin:$PATH"
python -m pip install --quiet "$wheel"
echo "installed $(basename "$wheel")"

python - <<'EOF'
import pathlib, stemmatic, stemmatic._core
from importlib import metadata, resources

# The installed wheel, not the source tree.
assert "site-packages" in pathlib.Path(stemmatic.__file__).parts, stemmatic.__file__
assert metadata.version("stemmatic") == stemmatic.__version__
dpi = resources.files("stemmatic.lineage") / "data" / "dpi"
for name in ("data_summaries.json.zst", "LICENSE", "NOTICE.md"):
    assert (dpi / name).is_file(), f"package data {name} missing from the wheel"
from stemmatic.lineage.importers.dpi import _read_packed
assert len(_read_packed()["summaries"]) == 109
print(f"import ok: stemmatic {stemmatic.__version__} from {pathlib.Path(stemmatic.__file__).parent}")
EOF

stemmatic --version
stemmatic sample-data data --docs 2000 --shards 2
stemmatic dedup data -o out --exact --quiet
python - <<'EOF'
import json
rows = json.load(open("out/report.json"))["rows"]
detail = rows["detail"]  # the one report schema (docs/reports.md)
assert rows["removed"] == detail["removed_near_duplicate"] + detail["removed_exact_duplicate"], rows
assert rows["in"] == 2000, rows
assert rows["kept"] + rows["removed"] + rows["rejected"] == rows["in"], rows
assert rows["removed"] > 0, rows
print(f"dedup ok: {rows}")
EOF

# An extra that is not installed: one line naming it, exit code 2, no traceback.
set +e
stemmatic diversity semdedup data -o semdedup-out >stdout.txt 2>stderr.txt
code=$?
set -e
cat stderr.txt
[ "$code" = 2 ] || fail "a missing extra should exit 2, got $code"
grep -q "pip install 'stemmatic\[diversity\]'" stderr.txt || fail "the error does not name the [diversity] extra"
! grep -q Traceback stderr.txt || fail "a traceback reached the user"
echo "wheel-smoke: ok"
