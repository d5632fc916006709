//! The mapping from `CoreError` to Python exceptions.
//!
//! The hierarchy itself is declared once, in `python/stemmatic/exceptions.py`:
//! `InvalidInputError` must subclass both `StemmaticError` and `ValueError`,
//! and `create_exception!` can give a class only one base. The classes are
//! imported from there when an error is raised.

use pyo3::PyErr;
use pyo3::prelude::*;
use stemmatic_core::CoreError;

pyo3::import_exception!(stemmatic.exceptions, StemmaticError);
pyo3::import_exception!(stemmatic.exceptions, InvalidInputError);
pyo3::import_exception!(stemmatic.exceptions, ParameterError);

/// Convert an engine error to the Python exception of its kind. An error
/// of one row (a null or non-UTF-8 text) carries that row of the batch as
/// the attribute `row`, the offset of the first bad byte as `byte` (else
/// `None`), and the message without its `row N: ` prefix as `reason`, so
/// that callers relocate it without parsing the message.
pub(crate) fn to_pyerr(err: CoreError) -> PyErr {
    let message = err.to_string();
    match err {
        CoreError::NullText { row } => row_error(message, row, None),
        CoreError::InvalidUtf8 { row, byte } => row_error(message, row, Some(byte)),
        CoreError::IndexFormat { .. }
        | CoreError::IndexVersion { .. }
        | CoreError::Unencodable { .. } => InvalidInputError::new_err(message),
        CoreError::InvalidParameter { .. } | CoreError::IndexMismatch { .. } => {
            ParameterError::new_err(message)
        }
        CoreError::ThreadPool { .. } | CoreError::Io { .. } => StemmaticError::new_err(message),
    }
}

/// An `InvalidInputError` for row `row` of a batch, with `row`, `byte` and
/// `reason` attributes (see [`to_pyerr`]).
fn row_error(message: String, row: usize, byte: Option<usize>) -> PyErr {
    Python::attach(|py| {
        let reason = message
            .strip_prefix(&format!("row {row}: "))
            .unwrap_or(&message)
            .to_owned();
        let err = InvalidInputError::new_err(message.clone());
        let value = err.value(py);
        let attributes = value
            .setattr("row", row)
            .and_then(|()| value.setattr("byte", byte))
            .and_then(|()| value.setattr("reason", reason));
        match attributes {
            Ok(()) => err,
            Err(failed) => failed,
        }
    })
}

/// Turn `Result<T, CoreError>` into `PyResult<T>`.
pub(crate) trait IntoPyResult<T> {
    fn into_py_result(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, CoreError> {
    fn into_py_result(self) -> PyResult<T> {
        self.map_err(to_pyerr)
    }
}
