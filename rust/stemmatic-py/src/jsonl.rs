//! Python entry point for screening JSONL blocks before pyarrow parses them.

use pyo3::prelude::*;
use stemmatic_core::jsonl::screen_lines;

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
