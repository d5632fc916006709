//! Python entry points for JSON lines: screening blocks before pyarrow
//! parses them, and encoding Arrow record batches as JSON lines.

use std::sync::{Mutex, PoisonError};

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3_arrow::PyTable;
use stemmatic_core::jsonl::{JsonlEncoder, screen_lines};
use stemmatic_core::parallel;

use crate::errors::IntoPyResult;

/// The lines of `block` that a JSON parser must not see, as
/// `(0-based line index within the block, reason)`.
#[pyfunction]
#[pyo3(signature = (block, max_depth))]
pub fn jsonl_screen(py: Python<'_>, block: &[u8], max_depth: usize) -> Vec<(usize, String)> {
    py.detach(|| {
        screen_lines(block, max_depth)
            .into_iter()
            .map(|(line, problem)| (line, problem.to_string()))
            .collect()
    })
}

/// Encodes Arrow record batches as JSON lines, one encoder per output file
/// (it remembers the binary columns it has switched to base64).
#[pyclass(module = "stemmatic._core", name = "JsonlEncoder", frozen)]
pub struct PyJsonlEncoder(Mutex<JsonlEncoder>);

#[pymethods]
impl PyJsonlEncoder {
    #[new]
    fn new() -> Self {
        Self(Mutex::new(JsonlEncoder::new()))
    }

    /// The rows of `table` (any object with `__arrow_c_stream__`: a pyarrow
    /// Table or RecordBatch, a polars DataFrame) as UTF-8 JSON lines, in
    /// uint8 numpy arrays to write one after the other (no copy of the
    /// output; file `write` takes them).
    #[pyo3(signature = (table, *, workers = None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        table: PyTable,
        workers: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyArray1<u8>>>> {
        let threads = parallel::resolve_workers(workers).into_py_result()?;
        let (batches, _schema) = table.into_inner();
        let parts = py
            .detach(|| {
                self.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .encode(&batches, threads)
            })
            .into_py_result()?;
        Ok(parts
            .into_iter()
            .map(|part| part.into_pyarray(py))
            .collect())
    }

    /// The paths of the binary columns written as base64 so far.
    #[getter]
    fn base64_columns(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .base64_columns()
    }
}
