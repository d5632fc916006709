"""Shared fixtures and hypothesis profiles."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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


@pytest.fixture(scope="module", autouse=True)
def _no_ray_left_running() -> Iterator[None]:
    """Shut down a Ray that a test module started through the CLI (``--engine ray``) and left
    running: the next module's ``local_ray`` would fail to initialise, and it holds CPUs."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray with 2 CPUs for one test module (the ``ray`` module, initialised)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # left running by a CLI test that reached the engine
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    from ray.data.context import ShuffleStrategy

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # Task-based sort shuffle: no aggregator actors to start on a 2-CPU box.
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_spark() -> Iterator[Any]:
    """A local[2] Spark session for one test module (Java 17 from JAVA_HOME or the java on PATH)."""
    pytest.importorskip("pyspark")
    if "JAVA_HOME" not in os.environ:
        java = shutil.which("java")
        assert java is not None, "the Spark tests need Java 17 (JAVA_HOME or java on PATH)"
        os.environ["JAVA_HOME"] = str(Path(os.path.realpath(java)).parent.parent)
    # A session the test builds itself (as a user's own would) needs the interpreter named.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("stemmatic-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()
