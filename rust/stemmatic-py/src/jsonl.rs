//! Python entry points for JSON lines: screening blocks before pyarrow
//! parses them, and encoding Arrow record batches as JSON lines.

use std::sync::{Mutex, PoisonError};

use numpy::PyReadonlyArray1;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::PyTable;
use stemmatic_core::jsonl::{JsonlEncoder, screen_block};
use stemmatic_core::{CoreError, parallel};

use crate::errors::{IntoPyResult, to_pyerr};

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

    /// Writes the rows of `table` (any object with `__arrow_c_stream__`: a
    /// pyarrow Table or RecordBatch, a polars DataFrame) as UTF-8 JSON lines
    /// to `sink`: an `int` is the descriptor of a file open for writing,
    /// written from here with the GIL released (POSIX only); anything else
    /// is called as `sink.write(bytes)`, about half a MiB at a time. The
    /// encoder's buffers are reused from call to call. Returns the bytes
    /// written.
    ///
    /// # Errors
    /// What encoding raises (`InvalidInputError` for an unencodable column),
    /// `OSError` from the descriptor, or what `sink.write` raises.
    #[pyo3(signature = (table, sink, *, workers = None))]
    fn write(
        &self,
        py: Python<'_>,
        table: PyTable,
        sink: &Bound<'_, PyAny>,
        workers: Option<usize>,
    ) -> PyResult<usize> {
        let threads = parallel::resolve_workers(workers).into_py_result()?;
        let (batches, _schema) = table.into_inner();
        if let Ok(fd) = sink.extract::<i32>() {
            let mut file = borrowed_file(fd)?;
            return encode_to(py, &self.0, &batches, threads, move |part| {
                std::io::Write::write_all(&mut *file, part).map_err(|err| SinkError(err.into()))
            });
        }
        let sink = sink.clone().unbind();
        encode_to(py, &self.0, &batches, threads, move |part| {
            Python::attach(|py| {
                sink.bind(py)
                    .call_method1(intern!(py, "write"), (PyBytes::new(py, part),))
                    .map(drop)
                    .map_err(SinkError)
            })
        })
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

/// An error of [`PyJsonlEncoder::write`]: the encoder's, or the sink's.
struct SinkError(PyErr);

impl From<CoreError> for SinkError {
    fn from(err: CoreError) -> Self {
        Self(to_pyerr(err))
    }
}

/// Encodes `batches` with the encoder locked and the GIL released (a thread
/// waiting for the lock never holds the GIL that a Python sink needs), handing
/// each part to `emit`; returns the bytes emitted.
fn encode_to(
    py: Python<'_>,
    encoder: &Mutex<JsonlEncoder>,
    batches: &[arrow_array::RecordBatch],
    threads: usize,
    mut emit: impl FnMut(&[u8]) -> Result<(), SinkError> + Send,
) -> PyResult<usize> {
    let mut written = 0usize;
    py.detach(|| {
        let mut encoder = encoder.lock().unwrap_or_else(PoisonError::into_inner);
        encoder.encode_each(batches, threads, |part| {
            written += part.len();
            emit(part)
        })
    })
    .map_err(|SinkError(err)| err)?;
    Ok(written)
}

/// The open file descriptor `fd` as a `File` that never closes it.
#[cfg(unix)]
fn borrowed_file(fd: i32) -> PyResult<std::mem::ManuallyDrop<std::fs::File>> {
    use std::os::fd::FromRawFd as _;

    if fd < 0 {
        return Err(PyValueError::new_err(format!(
            "not a file descriptor: {fd}"
        )));
    }
    // SAFETY: `fd` is a descriptor the caller holds open for the whole call;
    // the `File` borrows it (ManuallyDrop: it is never closed here).
    Ok(std::mem::ManuallyDrop::new(unsafe {
        std::fs::File::from_raw_fd(fd)
    }))
}

#[cfg(not(unix))]
fn borrowed_file(fd: i32) -> PyResult<std::mem::ManuallyDrop<std::fs::File>> {
    Err(PyValueError::new_err(format!(
        "writing to a file descriptor ({fd}) needs a POSIX system: pass a file object"
    )))
}
