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
