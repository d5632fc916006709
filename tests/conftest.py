"""Shared fixtures and hypothesis profiles."""

from __future__ import annotations

import os
import sys

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# The repository alone passes its tests: a read of the folder that workplaces
# lay beside a clone (../shared) fails the test that makes it, even where that
# folder exists (as it does beside CI's clone).
_BESIDE_THE_REPO = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared"
)
_BESIDE_THE_REPO = os.path.normpath(_BESIDE_THE_REPO) + os.sep


def _refuse_reads_beside_the_repo(event: str, args: tuple[object, ...]) -> None:
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    path = args[0]
    if isinstance(path, (str, bytes, os.PathLike)):
        full = os.path.abspath(os.fsdecode(path))
        if (full + os.sep).startswith(_BESIDE_THE_REPO):
            raise RuntimeError(f"tests must not read outside the repository: {full}")


sys.addaudithook(_refuse_reads_beside_the_repo)
