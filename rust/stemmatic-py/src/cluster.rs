//! Python entry points for cluster decisions and the giant-component guard:
//! `cluster_decision` returns a `ClusterArrays`, `split_giant_components` a
//! `GuardSplit`, each with named numpy getters.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use stemmatic_core::CoreError;
use stemmatic_core::cluster::{self, Clustering, Edges};

use crate::errors::{IntoPyResult, InvalidInputError, ParameterError, to_pyerr};
use crate::lsh::pairs_of;

fn contiguous<'a, T: numpy::Element>(
    array: &'a PyReadonlyArray1<'_, T>,
    name: &str,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| ParameterError::new_err(format!("{name} must be C-contiguous")))
}

/// An edge naming a row that is not there is bad input, not a bad parameter.
fn edge_error(err: CoreError) -> PyErr {
    match &err {
        CoreError::InvalidParameter { name: "edges", .. } => {
            InvalidInputError::new_err(err.to_string())
        }
        _ => to_pyerr(err),
    }
}

/// Per-row decisions of `cluster_decision` (numpy arrays, one entry per row).
#[pyclass(module = "stemmatic._core", name = "ClusterArrays", frozen)]
pub struct PyClusterArrays {
    #[pyo3(get)]
    removed: Py<PyArray1<bool>>,
    #[pyo3(get)]
    duplicate_of: Py<PyArray1<i64>>,
    #[pyo3(get)]
    cluster_id: Py<PyArray1<i64>>,
    #[pyo3(get)]
    similarity: Py<PyArray1<f64>>,
    #[pyo3(get)]
    reason: Py<PyArray1<u8>>,
    #[pyo3(get)]
    cluster_size: Py<PyArray1<i64>>,
    /// Star: `(k, 2)` uint64 pairs of centers still worth verifying.
    #[pyo3(get)]
    to_verify: Py<PyArray2<u64>>,
}

/// Decide kept and removed rows over `num_nodes` rows joined by `(m, 2)` edges.
///
/// `clustering` is `components` or `star`; `checked` are pairs verified
/// below the threshold already (star does not ask for them again).
#[pyfunction]
#[pyo3(signature = (num_nodes, edges, similarity, reason, keep_score = None, *, clustering = "components", checked = None))]
#[expect(clippy::too_many_arguments, reason = "mirrors the Python signature")]
pub fn cluster_decision<'py>(
    py: Python<'py>,
    num_nodes: usize,
    edges: PyReadonlyArray2<'py, u64>,
    similarity: PyReadonlyArray1<'py, f64>,
    reason: PyReadonlyArray1<'py, u8>,
    keep_score: Option<PyReadonlyArray1<'py, f64>>,
    clustering: &str,
    checked: Option<PyReadonlyArray2<'py, u64>>,
) -> PyResult<PyClusterArrays> {
    let clustering: Clustering = clustering.parse().into_py_result()?;
    let pairs = pairs_of(&edges)?;
    let checked = match &checked {
        Some(array) => pairs_of(array)?,
        None => Vec::new(),
    };
    let similarity = contiguous(&similarity, "similarity")?;
    let reason = contiguous(&reason, "reason")?;
    let score = match &keep_score {
        Some(array) => Some(contiguous(array, "keep_score")?),
        None => None,
    };
    let edges = Edges {
        pairs: &pairs,
        similarity,
        reason,
    };
    let decision = py
        .detach(|| cluster::decide(num_nodes, &edges, score, clustering, &checked))
        .map_err(edge_error)?;
    let verify_len = decision.to_verify.len();
    let to_verify: Vec<u64> = decision
        .to_verify
        .into_iter()
        .flat_map(|(a, b)| [a, b])
        .collect();
    Ok(PyClusterArrays {
        removed: decision.removed.into_pyarray(py).unbind(),
        duplicate_of: decision.duplicate_of.into_pyarray(py).unbind(),
        cluster_id: decision.cluster_id.into_pyarray(py).unbind(),
        similarity: decision.similarity.into_pyarray(py).unbind(),
        reason: decision.reason.into_pyarray(py).unbind(),
        cluster_size: decision.cluster_size.into_pyarray(py).unbind(),
        to_verify: to_verify
            .into_pyarray(py)
            .reshape([verify_len, 2])?
            .unbind(),
    })
}

/// Which edges the giant-component guard keeps, and the components it split.
#[pyclass(module = "stemmatic._core", name = "GuardSplit", frozen)]
pub struct PyGuardSplit {
    /// Per edge: True = keep.
    #[pyo3(get)]
    keep: Py<PyArray1<bool>>,
    /// Per split component, by label: `(label, size, parts)` with parts largest first.
    #[pyo3(get)]
    split: Vec<(u64, usize, Vec<usize>)>,
}

/// The giant-component guard over `(m, 2)` edges of `num_nodes` rows.
#[pyfunction]
#[pyo3(signature = (num_nodes, edges, similarity, max_size))]
pub fn split_giant_components<'py>(
    py: Python<'py>,
    num_nodes: usize,
    edges: PyReadonlyArray2<'py, u64>,
    similarity: PyReadonlyArray1<'py, f64>,
    max_size: usize,
) -> PyResult<PyGuardSplit> {
    let pairs = pairs_of(&edges)?;
    let similarity = contiguous(&similarity, "similarity")?;
    let result = py
        .detach(|| cluster::split_giant_components(num_nodes, &pairs, similarity, max_size))
        .into_py_result()?;
    Ok(PyGuardSplit {
        keep: result.keep.into_pyarray(py).unbind(),
        split: result
            .split
            .into_iter()
            .map(|s| (s.label, s.size, s.parts))
            .collect(),
    })
}
