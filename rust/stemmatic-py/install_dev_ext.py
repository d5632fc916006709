"""Install a freshly built ``stemmatic._core`` into the source tree, atomically.

``make build`` builds the wheel with maturin and moves the extension from it
into ``python/stemmatic/`` with ``os.replace``: a process that has the old
extension loaded (a test run, a benchmark) keeps its file, instead of seeing it
rewritten under its feet as an in-place copy would do.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path


def main(wheel_dir: str, package_dir: str) -> None:
    wheels = sorted(Path(wheel_dir).glob("stemmatic-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        sys.exit(f"no stemmatic wheel in {wheel_dir}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        names = [
            n for n in wheel.namelist() if n.startswith("stemmatic/_core") and n.endswith((".so", ".pyd"))
        ]
        if len(names) != 1:
            sys.exit(f"expected one extension module in {wheels[-1].name}, found {names}")
        target = Path(package_dir) / Path(names[0]).name
        fd, tmp = tempfile.mkstemp(dir=package_dir, prefix=".core-", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(wheel.read(names[0]))
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    print(f"installed {target}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
