"""Options that several commands share, defined once (typer reads them from the annotations)."""

from __future__ import annotations

from typing import Annotated

import typer

#: ``--ray-address`` of the commands with ``--engine ray``.
RayAddress = Annotated[
    str | None,
    typer.Option(help="--engine ray: cluster address (auto, ray://host:10001); default local."),
]
#: ``--spark-master`` of the commands with ``--engine spark``.
SparkMaster = Annotated[
    str | None, typer.Option(help="--engine spark: master URL (local[8], spark://host:7077, yarn).")
]

#: ``--workers`` of the commands that run the Rust engine's thread pool.
Workers = Annotated[
    int | None,
    typer.Option(min=0, help="Threads (default: STEMMATIC_NUM_THREADS or all CPUs; 0 = all CPUs)."),
]
