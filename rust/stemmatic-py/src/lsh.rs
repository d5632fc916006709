//! Python entry points for near-duplicate detection: band keys, candidate
//! pairs, shingle sets, exact verification, exact-duplicate keys and
//! connected components. Arrays come in as numpy views (np.memmap works)
//! and go back as numpy arrays without copies.

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3_arrow::PyChunkedArray;
use stemmatic_core::lsh;
use stemmatic_core::parallel::resolve_workers;
use stemmatic_core::shingle::{ShingleSpec, exact_keys_batch, hash_sets_batch};
use stemmatic_core::text::Tokenizer;

use crate::errors::{IntoPyResult, InvalidInputError, ParameterError};
use crate::texts::rows_of;

/// `(values, offsets)` of flattened sets, as numpy arrays.
type FlatArrays<'py> = (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>);

fn workers_of(workers: Option<usize>) -> PyResult<usize> {
    resolve_workers(workers).into_py_result()
}

pub(crate) fn pairs_of(array: &PyReadonlyArray2<'_, u64>) -> PyResult<Vec<(u64, u64)>> {
    let view = array.as_array();
    if view.ncols() != 2 {
        return Err(ParameterError::new_err(format!(
            "pairs must have shape (m, 2), got {:?}",
            view.shape()
        )));
    }
    Ok(view.rows().into_iter().map(|r| (r[0], r[1])).collect())
}

fn pairs_to_numpy(py: Python<'_>, pairs: Vec<(u64, u64)>) -> PyResult<Bound<'_, PyArray2<u64>>> {
    let m = pairs.len();
    let flat: Vec<u64> = pairs.into_iter().flat_map(|(a, b)| [a, b]).collect();
    flat.into_pyarray(py).reshape([m, 2])
}

/// Band keys `(n, bands)` uint64 of a `(n, num_perm)` uint32 or uint64 signature matrix.
#[pyfunction]
#[pyo3(signature = (signatures, *, bands, rows, workers = None))]
pub fn band_keys<'py>(
    py: Python<'py>,
    signatures: Bound<'py, PyUntypedArray>,
    bands: usize,
    rows: usize,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let workers = workers_of(workers)?;
    let keys = if let Ok(sig) = signatures.extract::<PyReadonlyArray2<'py, u32>>() {
        let num_perm = sig.as_array().ncols();
        let slice = sig
            .as_slice()
            .map_err(|_| ParameterError::new_err("signatures must be C-contiguous"))?;
        py.detach(|| lsh::band_keys(slice, num_perm, bands, rows, workers))
            .into_py_result()?
    } else if let Ok(sig) = signatures.extract::<PyReadonlyArray2<'py, u64>>() {
        let num_perm = sig.as_array().ncols();
        let slice = sig
            .as_slice()
            .map_err(|_| ParameterError::new_err("signatures must be C-contiguous"))?;
        py.detach(|| lsh::band_keys(slice, num_perm, bands, rows, workers))
            .into_py_result()?
    } else {
        return Err(ParameterError::new_err(
            "signatures must be a 2-D uint32 or uint64 array",
        ));
    };
    let n = keys.len() / bands;
    keys.into_pyarray(py).reshape([n, bands])
}

/// Candidate pairs `(m, 2)` (sorted, distinct, a < b) from band keys and their documents.
#[pyfunction]
#[pyo3(signature = (keys, docs, *, clique_max = 8, workers = None))]
pub fn candidate_pairs<'py>(
    py: Python<'py>,
    keys: PyReadonlyArray1<'py, u64>,
    docs: PyReadonlyArray1<'py, u64>,
    clique_max: usize,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let workers = workers_of(workers)?;
    let (keys, docs) = (slice_or_copy(&keys), slice_or_copy(&docs));
    if keys.len() != docs.len() {
        return Err(ParameterError::new_err(
            "keys and docs must have the same length",
        ));
    }
    let batch = lsh::KeyBatch {
        keys: &keys,
        docs: &docs,
    };
    let pairs = py
        .detach(|| lsh::candidate_pairs(&[batch], None, clique_max, workers))
        .into_py_result()?;
    pairs_to_numpy(py, pairs)
}

/// The array's values in place, or copied if it is not C-contiguous.
fn slice_or_copy<'a>(array: &'a PyReadonlyArray1<'_, u64>) -> Cow<'a, [u64]> {
    match array.as_slice() {
        Ok(values) => Cow::Borrowed(values),
        Err(_) => Cow::Owned(array.as_array().to_vec()),
    }
}

/// Candidate pairs `(m, 2)` (sorted, distinct, a < b) from band keys held in
/// batches, as the sketch gave them: batch `b`'s `keys[b]` is `(n, k)` (or
/// `(n,)`, `k = 1`), the keys of documents `docs[b]` (`(n,)`). Documents
/// marked in `excluded` (indexed by document) are left out.
#[pyfunction]
#[pyo3(signature = (keys, docs, *, excluded = None, clique_max = 8, workers = None))]
pub fn candidate_pairs_batched<'py>(
    py: Python<'py>,
    keys: Vec<PyReadonlyArrayDyn<'py, u64>>,
    docs: Vec<PyReadonlyArray1<'py, u64>>,
    excluded: Option<PyReadonlyArray1<'py, bool>>,
    clique_max: usize,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let workers = workers_of(workers)?;
    if keys.len() != docs.len() {
        return Err(ParameterError::new_err(
            "keys and docs must have one entry per batch",
        ));
    }
    let contiguous = |name: &str| ParameterError::new_err(format!("{name} must be C-contiguous"));
    let mut batches = Vec::with_capacity(keys.len());
    for (k, d) in keys.iter().zip(&docs) {
        let rows = k.shape().first().copied().unwrap_or(0);
        if k.ndim() > 2 || rows != d.len() {
            return Err(ParameterError::new_err(format!(
                "keys of shape {:?} do not fit {} documents: expected (n,) or (n, k) keys for n documents",
                k.shape(),
                d.len()
            )));
        }
        batches.push(lsh::KeyBatch {
            keys: k.as_slice().map_err(|_| contiguous("keys"))?,
            docs: d.as_slice().map_err(|_| contiguous("docs"))?,
        });
    }
    let excluded = match &excluded {
        Some(e) => Some(e.as_slice().map_err(|_| contiguous("excluded"))?),
        None => None,
    };
    let pairs = py
        .detach(|| lsh::candidate_pairs(&batches, excluded, clique_max, workers))
        .into_py_result()?;
    pairs_to_numpy(py, pairs)
}

/// Sort `(m, 2)` pairs and drop repeats.
#[pyfunction]
#[pyo3(signature = (pairs, *, workers = None))]
pub fn unique_pairs<'py>(
    py: Python<'py>,
    pairs: PyReadonlyArray2<'py, u64>,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let workers = workers_of(workers)?;
    let mut pairs = pairs_of(&pairs)?;
    py.detach(|| lsh::sort_unique(&mut pairs, workers))
        .into_py_result()?;
    pairs_to_numpy(py, pairs)
}

/// Sorted distinct shingle-hash sets of a text column: `(values, offsets)`.
#[pyfunction]
#[pyo3(signature = (texts, *, ngram, tokenizer, seed, workers = None))]
pub fn shingle_sets<'py>(
    py: Python<'py>,
    texts: PyChunkedArray,
    ngram: usize,
    tokenizer: &str,
    seed: u64,
    workers: Option<usize>,
) -> PyResult<FlatArrays<'py>> {
    let tokenizer: Tokenizer = tokenizer.parse().into_py_result()?;
    let spec = ShingleSpec::new(tokenizer, ngram, seed).into_py_result()?;
    let workers = workers_of(workers)?;
    let rows = rows_of(texts.chunks())?;
    let (values, offsets) = py
        .detach(|| hash_sets_batch(&spec, &rows, workers))
        .into_py_result()?;
    Ok((values.into_pyarray(py), offsets.into_pyarray(py)))
}

/// Exact Jaccard of each pair. Document `slot_docs[i]` (sorted ascending) has
/// the set `values[offsets[i]:offsets[i + 1]]`.
#[pyfunction]
#[pyo3(signature = (pairs, slot_docs, values, offsets, *, workers = None))]
pub fn verify_pairs<'py>(
    py: Python<'py>,
    pairs: PyReadonlyArray2<'py, u64>,
    slot_docs: PyReadonlyArray1<'py, u64>,
    values: PyReadonlyArray1<'py, u64>,
    offsets: PyReadonlyArray1<'py, u64>,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let workers = workers_of(workers)?;
    let pairs = pairs_of(&pairs)?;
    let contiguous = |name: &str| ParameterError::new_err(format!("{name} must be C-contiguous"));
    let slot_docs = slot_docs.as_slice().map_err(|_| contiguous("slot_docs"))?;
    let values = values.as_slice().map_err(|_| contiguous("values"))?;
    let offsets = offsets.as_slice().map_err(|_| contiguous("offsets"))?;
    if !slot_docs.windows(2).all(|w| w[0] < w[1]) {
        return Err(ParameterError::new_err(
            "slot_docs must be strictly increasing",
        ));
    }
    let slot_of = |doc: u64| slot_docs.binary_search(&doc).ok();
    let sims = py
        .detach(|| lsh::verify_pairs(&pairs, slot_of, values, offsets, workers))
        .into_py_result()?;
    Ok(sims.into_pyarray(py))
}

/// Exact Jaccard of each pair, the sets held in batches (not joined into one
/// array): batch `b` holds the sets of documents `first_docs[b]` onward,
/// one per slot of `offsets[b]` (its own, from 0), values in `values[b]`.
#[pyfunction]
#[pyo3(signature = (pairs, first_docs, values, offsets, *, workers = None))]
pub fn verify_pairs_batched<'py>(
    py: Python<'py>,
    pairs: PyReadonlyArray2<'py, u64>,
    first_docs: Vec<u64>,
    values: Vec<PyReadonlyArray1<'py, u64>>,
    offsets: Vec<PyReadonlyArray1<'py, u64>>,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let workers = workers_of(workers)?;
    let pairs = pairs_of(&pairs)?;
    if first_docs.len() != values.len() || values.len() != offsets.len() {
        return Err(ParameterError::new_err(
            "first_docs, values and offsets must have one entry per batch",
        ));
    }
    if !first_docs.windows(2).all(|w| w[0] < w[1]) {
        return Err(ParameterError::new_err(
            "first_docs must be strictly increasing",
        ));
    }
    let contiguous = |name: &str| ParameterError::new_err(format!("{name} must be C-contiguous"));
    let mut batches = Vec::with_capacity(values.len());
    for ((&first, v), o) in first_docs.iter().zip(&values).zip(&offsets) {
        batches.push((
            first,
            v.as_slice().map_err(|_| contiguous("values"))?,
            o.as_slice().map_err(|_| contiguous("offsets"))?,
        ));
    }
    let place_of = |doc: u64| {
        let batch = first_docs
            .partition_point(|&first| first <= doc)
            .checked_sub(1)?;
        let slot = usize::try_from(doc - first_docs[batch]).ok()?;
        (slot + 1 < batches[batch].2.len()).then_some((batch, slot))
    };
    let sims = py
        .detach(|| lsh::verify_pairs_in(&pairs, &batches, place_of, workers))
        .into_py_result()?;
    Ok(sims.into_pyarray(py))
}

/// Exact-duplicate keys `(n, 2)` uint64: XXH3-128 of each normalized text ([0, 0] if it has no tokens).
#[pyfunction]
#[pyo3(signature = (texts, *, tokenizer = "auto", workers = None))]
pub fn exact_keys<'py>(
    py: Python<'py>,
    texts: PyChunkedArray,
    tokenizer: &str,
    workers: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let tokenizer: Tokenizer = tokenizer.parse().into_py_result()?;
    let workers = workers_of(workers)?;
    let rows = rows_of(texts.chunks())?;
    let keys = py
        .detach(|| exact_keys_batch(tokenizer, &rows, workers))
        .into_py_result()?;
    let n = keys.len();
    let flat: Vec<u64> = keys.into_iter().flatten().collect();
    flat.into_pyarray(py).reshape([n, 2])
}

/// Component label (smallest member) of each of `num_nodes` nodes joined by `(m, 2)` edges.
#[pyfunction]
#[pyo3(signature = (num_nodes, edges))]
pub fn connected_components<'py>(
    py: Python<'py>,
    num_nodes: usize,
    edges: PyReadonlyArray2<'py, u64>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let edges = pairs_of(&edges)?;
    let labels = py
        .detach(|| lsh::connected_components(num_nodes, &edges))
        .map_err(|err| InvalidInputError::new_err(err.to_string()))?;
    Ok(labels.into_pyarray(py))
}
