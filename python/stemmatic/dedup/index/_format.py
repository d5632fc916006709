"""The index's files: the manifest (parameters, releases, file records), read and checked, and what it says.

Part of :mod:`stemmatic.dedup.index` (the format is described there).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemmatic import _core
from stemmatic._atomic import AtomicFile, FileRecord
from stemmatic.dedup.params import DedupParams
from stemmatic.exceptions import InvalidInputError, ParameterError

FORMAT = "stemmatic-dedup-index"
#: The layout this version writes and reads; any other is refused, but for format 1.
FORMAT_VERSION = 2
#: Format 1 is format 2 but for the tokenizer's name: ``auto`` then had today's
#: ``auto-span`` units (before its document rule), so a format-1 index read
#: now names that tokenizer ``auto-span``, which hashes as it was built.
_FORMAT_1_TOKENIZERS = {"auto": "auto-span"}
MANIFEST = "manifest.json"
#: ``why`` code of a row removed as a duplicate of an indexed row (beside clusters.REASON_NEAR/EXACT).
#: The parameters an index is built with; a dedup against it must use the same.
_PARAMETERS = ("threshold", "num_perm", "ngram", "tokenizer", "seed", "bands", "rows", "bits")
#: The arrays of a release: file name -> dtype (little-endian, raw).
_ARRAYS = {"keys.bin": "<u8", "docs.bin": "<u4", "values.bin": "<u8", "offsets.bin": "<u8"}
_ROWS = "rows.parquet"
_RELEASE_NAME = re.compile(r"^release-\d{5}$")
_READ_BLOCK = 1 << 22


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def _parameters(config: DedupParams) -> dict[str, Any]:
    banding = config.banding()
    return {
        "threshold": config.threshold,
        "num_perm": config.num_perm,
        "ngram": config.ngram,
        "tokenizer": config.tokenizer,
        "seed": config.seed,
        "bands": banding.bands,
        "rows": banding.rows,
        "bits": config.hasher().bits,
    }


@dataclass(frozen=True)
class IndexInfo:
    """What an index holds (``stemmatic index info``)."""

    path: str
    parameters: dict[str, Any]
    stemmatic_version: str
    format_version: int
    releases: list[dict[str, Any]]
    rows: int
    bytes: int
    text_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format_version": self.format_version,
            "stemmatic_version": self.stemmatic_version,
            "parameters": self.parameters,
            "rows": self.rows,
            "text_bytes": self.text_bytes,
            "bytes": self.bytes,
            "releases": self.releases,
        }


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    with AtomicFile(directory / MANIFEST, "index manifest") as fh:
        fh.write((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def _check_exact_config(config: DedupParams, what: str) -> None:
    if config.verify != "exact":
        raise ParameterError(f"cannot {what} with verify={config.verify!r}: an index verifies exactly")


def _read_manifest(path: Path, shown: str | None = None) -> dict[str, Any]:
    """The manifest of the index at ``path``, checked; errors name ``shown`` (the path the user gave)."""
    shown = shown or str(path)
    file = path / MANIFEST
    if not path.is_dir():
        raise InvalidInputError(f"{shown}: no index there (not a directory)")
    try:
        data = json.loads(file.read_bytes())
    except FileNotFoundError:
        raise InvalidInputError(f"{shown}: not a stemmatic index ({MANIFEST} is missing)") from None
    except (OSError, ValueError, RecursionError) as err:
        raise InvalidInputError(f"{shown}/{MANIFEST}: damaged index manifest ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError(f"{shown}/{MANIFEST}: not a stemmatic dedup index manifest")
    version = data.get("format_version")
    written_by = data.get("stemmatic_version")
    if not isinstance(written_by, str) or not _version_tuple(written_by):
        raise InvalidInputError(f"{shown}/{MANIFEST}: field 'stemmatic_version' is missing or not a version")
    if version not in (1, FORMAT_VERSION) or _version_tuple(written_by) > _version_tuple(_core.__version__):
        newer = (isinstance(version, int) and version > FORMAT_VERSION) or _version_tuple(
            written_by
        ) > _version_tuple(_core.__version__)
        hint = "upgrade stemmatic to read it" if newer else "rebuild it with `stemmatic index build`"
        raise InvalidInputError(
            f"{shown}: index format {version!r} written by stemmatic {written_by}; this stemmatic "
            f"({_core.__version__}) reads format {FORMAT_VERSION} of its own version or older: {hint}"
        )
    params = data.get("parameters")
    if not isinstance(params, dict) or set(params) != set(_PARAMETERS):
        raise InvalidInputError(f"{shown}/{MANIFEST}: field 'parameters' must hold {', '.join(_PARAMETERS)}")
    for key in _PARAMETERS:
        value = params[key]
        kind = str if key == "tokenizer" else float if key == "threshold" else int
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
            raise InvalidInputError(f"{shown}/{MANIFEST}: parameter {key!r} is not a {kind.__name__}")
    releases = data.get("releases")
    if not isinstance(releases, list) or not releases:
        raise InvalidInputError(f"{shown}/{MANIFEST}: field 'releases' must be a non-empty list")
    for number, release in enumerate(releases):
        where = f"{shown}/{MANIFEST}: release {number}"
        if not isinstance(release, dict):
            raise InvalidInputError(f"{where} is not an object")
        name = release.get("name")
        if not isinstance(name, str) or not _RELEASE_NAME.match(name):
            raise InvalidInputError(f"{where}: field 'name' must be release-NNNNN")
        for key in ("rows", "band_records", "shingles", "text_bytes"):
            value = release.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{where}: field {key!r} must be a non-negative integer")
        sources = release.get("sources")
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise InvalidInputError(f"{where}: field 'sources' must be a list of paths")
        files = release.get("files")
        if not isinstance(files, dict) or set(files) != {*_ARRAYS, _ROWS}:
            raise InvalidInputError(f"{where}: field 'files' must list {', '.join([*_ARRAYS, _ROWS])}")
        for file_name, record in files.items():
            parsed = FileRecord.from_json(record)
            if parsed is None or parsed.crc32 is None:
                raise InvalidInputError(f"{where}: the record of {file_name} is not valid")
    if len({r["name"] for r in releases}) != len(releases):
        raise InvalidInputError(f"{shown}/{MANIFEST}: two releases have one name")
    if version == 1:
        # Read as format 2 (and written so by the next `index add`).
        params["tokenizer"] = _FORMAT_1_TOKENIZERS.get(params["tokenizer"], params["tokenizer"])
        data["format_version"] = FORMAT_VERSION
    return data


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as fh:
        while block := fh.read(_READ_BLOCK):
            crc = zlib.crc32(block, crc)
    return crc


def _differences(have: dict[str, Any], want: dict[str, Any]) -> str:
    return ", ".join(
        f"{key} {have.get(key)!r} in the index, {want.get(key)!r} here"
        for key in _PARAMETERS
        if have.get(key) != want.get(key)
    )


def _info(path: str, manifest: dict[str, Any]) -> IndexInfo:
    releases = []
    total = 0
    for release in manifest["releases"]:
        size = sum(record["bytes"] for record in release["files"].values())
        total += size
        releases.append({**{k: v for k, v in release.items() if k != "files"}, "bytes": size})
    return IndexInfo(
        path=path,
        parameters=manifest["parameters"],
        stemmatic_version=manifest["stemmatic_version"],
        format_version=manifest["format_version"],
        releases=releases,
        rows=sum(r["rows"] for r in releases),
        bytes=total,
        text_bytes=sum(r["text_bytes"] for r in releases),
    )
