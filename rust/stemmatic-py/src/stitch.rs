//! `stitch_parquet`: one Parquet file from the row groups of several.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use stemmatic_core::stitch;

use crate::errors::IntoPyResult;

/// Write ``out`` with the row groups ``order`` (``(part, row_group)`` index
/// pairs, in output order) of the Parquet files ``parts``, their pages
/// copied without decoding, and one footer (the first part's key-value
/// metadata and ``created_by``). The parts must share one Parquet schema.
///
/// Raises ``ParameterError`` for an index out of range or more than 32,767
/// row groups, and ``StemmaticError`` naming the file for a part that cannot
/// be read, parts of different schemas, or an ``out`` that cannot be written
/// (left incomplete: the caller removes it). Runs without the GIL.
#[pyfunction]
#[pyo3(signature = (out, parts, order))]
pub fn stitch_parquet(
    py: Python<'_>,
    out: PathBuf,
    parts: Vec<PathBuf>,
    order: Vec<(usize, usize)>,
) -> PyResult<()> {
    let parts: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
    py.detach(|| stitch::stitch_parquet(&out, &parts, &order))
        .into_py_result()
}
