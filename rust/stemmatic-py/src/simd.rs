//! The CPU kernel the engine runs (`stemmatic_core::simd`).

use pyo3::prelude::*;
use stemmatic_core::simd;

use crate::errors::IntoPyResult;

/// The CPU kernel every SIMD path of this process runs: `"avx512"`, `"avx2"`
/// or `"portable"`, chosen once from the CPU, or from the environment
/// variable `STEMMATIC_KERNEL` (read when the module is imported).
#[pyfunction]
pub fn kernel() -> &'static str {
    simd::kernel().name()
}

/// Refuse an invalid `STEMMATIC_KERNEL` (unknown, or a kernel this CPU
/// cannot run) when the module is imported, rather than run another kernel.
pub(crate) fn check_override() -> PyResult<()> {
    simd::try_kernel().into_py_result().map(|_| ())
}

/// The contamination scan's token-bounds kernel under [`kernel`]'s choice.
pub(crate) fn token_bounds_kernel() -> &'static str {
    simd::kernel().token_bounds().name()
}
