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

/// Convert an engine error to the Python exception of its kind.
pub(crate) fn to_pyerr(err: CoreError) -> PyErr {
    let message = err.to_string();
    match err {
        CoreError::NullText { .. }
        | CoreError::InvalidUtf8 { .. }
        | CoreError::IndexFormat { .. }
        | CoreError::IndexVersion { .. }
        | CoreError::Unencodable { .. } => InvalidInputError::new_err(message),
        CoreError::InvalidParameter { .. } | CoreError::IndexMismatch { .. } => {
            ParameterError::new_err(message)
        }
        CoreError::ThreadPool { .. } | CoreError::Io { .. } => StemmaticError::new_err(message),
    }
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
