//! Python entry points for JSON lines: screening blocks before pyarrow
//! parses them, and encoding Arrow record batches as JSON lines.

use std::sync::{Mutex, PoisonError};

use numpy::PyReadonlyArray1;
use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::PyTable;
use stemmatic_core::jsonl::{JsonlEncoder, screen_block};
use stemmatic_core::parallel;

use crate::errors::IntoPyResult;

/// What [`jsonl_screen`] found in a block of JSON lines: its number of lines
/// and the lines a JSON parser must not see.
#[pyclass(module = "stemmatic._core", name = "ScreenedBlock", frozen)]
pub struct PyScreenedBlock {
    /// The `\n` bytes of the block, plus one if it does not end with one.
    #[pyo3(get)]
    lines: usize,
    /// `(0-based line index within the block, reason)`, in order.
    #[pyo3(get)]
    problems: Vec<(usize, String)>,
}

/// Screens `block` (`bytes`, or a uint8 numpy array: `np.frombuffer` of a
/// reused `bytearray`, read in place) for the lines a JSON parser must not
/// see, and counts its lines.
///
/// # Errors
/// `TypeError` when `block` is neither `bytes` nor a contiguous uint8 array.
#[pyfunction]
#[pyo3(signature = (block, max_depth))]
pub fn jsonl_screen(
    py: Python<'_>,
    block: &Bound<'_, PyAny>,
    max_depth: usize,
) -> PyResult<PyScreenedBlock> {
    // The limited API has no buffer protocol before Python 3.11: buffers
    // other than `bytes` come as numpy views, borrowed read-only.
    let array: PyReadonlyArray1<'_, u8>;
    let bytes: &[u8] = if let Ok(bytes) = block.cast::<PyBytes>() {
        bytes.as_bytes()
    } else {
        array = block.extract().map_err(|_| not_a_block())?;
        array.as_slice().map_err(|_| not_a_block())?
    };
    let screened = py.detach(|| screen_block(bytes, max_depth));
    Ok(PyScreenedBlock {
        lines: screened.lines,
        problems: screened
            .problems
            .into_iter()
            .map(|(line, problem)| (line, problem.to_string()))
            .collect(),
    })
}

fn not_a_block() -> PyErr {
    PyTypeError::new_err("jsonl_screen: block must be bytes or a contiguous uint8 numpy array")
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
