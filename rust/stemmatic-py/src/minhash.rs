//! Python entry points for tokenization, shingles and MinHash signatures.

use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyUntypedArray};
use pyo3::prelude::*;
use pyo3_arrow::PyChunkedArray;
use stemmatic_core::minhash::{MinHasher, OnInvalid, SigValue, SignatureBatch};
use stemmatic_core::parallel;
use stemmatic_core::shingle::{ShingleSpec, token_lengths_batch};
use stemmatic_core::text::Tokenizer;

use crate::errors::{IntoPyResult, ParameterError};
use crate::texts::rows_of;

pub(crate) fn parse_on_invalid(value: &str) -> PyResult<OnInvalid> {
    match value {
        "raise" => Ok(OnInvalid::Raise),
        "skip" => Ok(OnInvalid::Skip),
        other => Err(ParameterError::new_err(format!(
            "invalid parameter `on_invalid`: {other:?}; expected \"raise\" or \"skip\""
        ))),
    }
}

fn spec(tokenizer: &str, ngram: usize, seed: u64) -> PyResult<ShingleSpec> {
    let tokenizer: Tokenizer = tokenizer.parse().into_py_result()?;
    ShingleSpec::new(tokenizer, ngram, seed).into_py_result()
}

type SetArrays<'py> = Option<(Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>)>;

type SketchArrays<'py> = (
    Bound<'py, PyUntypedArray>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u8>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
);

type BatchArrays<'py> = (
    Bound<'py, PyUntypedArray>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u8>>,
);

fn run_batch<'py, T: SigValue + numpy::Element>(
    py: Python<'py>,
    texts: &PyChunkedArray,
    spec: ShingleSpec,
    num_perm: usize,
    on_invalid: OnInvalid,
    workers: Option<usize>,
    keep_sets: bool,
) -> PyResult<(BatchArrays<'py>, SetArrays<'py>)> {
    let hasher = MinHasher::<T>::new(spec, num_perm).into_py_result()?;
    let workers = parallel::resolve_workers(workers).into_py_result()?;
    let rows = rows_of(texts.chunks())?;
    let (batch, sets): (SignatureBatch<T>, _) = py
        .detach(|| hasher.batch_with_sets(&rows, on_invalid, workers, keep_sets))
        .into_py_result()?;
    let sets = sets.map(|(values, offsets)| (values.into_pyarray(py), offsets.into_pyarray(py)));
    let n = batch.status.len();
    let signatures = batch.signatures.into_pyarray(py).reshape([n, num_perm])?;
    let status: Vec<u8> = batch.status.iter().map(|s| *s as u8).collect();
    Ok((
        (
            signatures.into_any().cast_into()?,
            batch.num_shingles.into_pyarray(py),
            status.into_pyarray(py),
        ),
        sets,
    ))
}

/// MinHash signatures of a column of texts.
///
/// `texts` is anything exporting `__arrow_c_stream__` (a pyarrow ChunkedArray)
/// of string, large_string, string_view or binary type. Returns
/// `(signatures[n, num_perm], num_shingles[n] uint32, status[n] uint8)` where
/// status is 0 ok, 1 empty (no tokens), 2 null, 3 invalid UTF-8.
#[pyfunction]
#[pyo3(signature = (texts, *, num_perm, ngram, tokenizer, seed, bits = 32, workers = None, on_invalid = "raise"))]
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the keyword-only Python signature"
)]
pub fn minhash_signatures<'py>(
    py: Python<'py>,
    texts: PyChunkedArray,
    num_perm: usize,
    ngram: usize,
    tokenizer: &str,
    seed: u64,
    bits: u32,
    workers: Option<usize>,
    on_invalid: &str,
) -> PyResult<BatchArrays<'py>> {
    let spec = spec(tokenizer, ngram, seed)?;
    let on_invalid = parse_on_invalid(on_invalid)?;
    Ok(run_bits(py, &texts, spec, num_perm, bits, on_invalid, workers, false)?.0)
}

/// [`run_batch`] for the requested signature width.
#[expect(
    clippy::too_many_arguments,
    reason = "internal fan-out of the Python keywords"
)]
fn run_bits<'py>(
    py: Python<'py>,
    texts: &PyChunkedArray,
    spec: ShingleSpec,
    num_perm: usize,
    bits: u32,
    on_invalid: OnInvalid,
    workers: Option<usize>,
    keep_sets: bool,
) -> PyResult<(BatchArrays<'py>, SetArrays<'py>)> {
    match bits {
        32 => run_batch::<u32>(py, texts, spec, num_perm, on_invalid, workers, keep_sets),
        64 => run_batch::<u64>(py, texts, spec, num_perm, on_invalid, workers, keep_sets),
        other => Err(ParameterError::new_err(format!(
            "invalid parameter `bits`: {other}; expected 32 or 64"
        ))),
    }
}

/// MinHash signatures and, from the same tokenization pass, each row's sorted
/// distinct shingle hashes: `(signatures, num_shingles, status, values, offsets)`
/// where row `i`'s set is `values[offsets[i]:offsets[i + 1]]`.
#[pyfunction]
#[pyo3(signature = (texts, *, num_perm, ngram, tokenizer, seed, bits = 32, workers = None, on_invalid = "raise"))]
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the keyword-only Python signature"
)]
pub fn minhash_sketch<'py>(
    py: Python<'py>,
    texts: PyChunkedArray,
    num_perm: usize,
    ngram: usize,
    tokenizer: &str,
    seed: u64,
    bits: u32,
    workers: Option<usize>,
    on_invalid: &str,
) -> PyResult<SketchArrays<'py>> {
    let spec = spec(tokenizer, ngram, seed)?;
    let on_invalid = parse_on_invalid(on_invalid)?;
    let ((signatures, num_shingles, status), sets) =
        run_bits(py, &texts, spec, num_perm, bits, on_invalid, workers, true)?;
    let (values, offsets) =
        sets.ok_or_else(|| ParameterError::new_err("shingle sets were not computed"))?;
    Ok((signatures, num_shingles, status, values, offsets))
}

/// The sorted, distinct 64-bit shingle hashes of one text.
#[pyfunction]
#[pyo3(signature = (text, *, ngram, tokenizer, seed))]
pub fn shingle_hashes<'py>(
    py: Python<'py>,
    text: &str,
    ngram: usize,
    tokenizer: &str,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let spec = spec(tokenizer, ngram, seed)?;
    let hashes = py.detach(|| spec.hash_set(text, &mut String::new()));
    Ok(hashes.into_pyarray(py))
}

/// The number of worker threads the engine uses for `workers`: the value
/// itself, else `STEMMATIC_NUM_THREADS`, else the number of CPUs (0 = all CPUs).
#[pyfunction]
#[pyo3(signature = (workers = None))]
pub fn resolve_workers(workers: Option<usize>) -> PyResult<usize> {
    parallel::resolve_workers(workers).into_py_result()
}

/// Per row `[token characters, characters in tokens of at least
/// `long_chars` characters, longest token]` as an `(n, 3)` uint64 array
/// (zeros for null and non-UTF-8 rows): a sign of a tokenizer that does not
/// fit the text.
#[pyfunction]
#[pyo3(signature = (texts, *, tokenizer = "auto", long_chars = 16))]
pub fn token_lengths<'py>(
    py: Python<'py>,
    texts: PyChunkedArray,
    tokenizer: &str,
    long_chars: usize,
) -> PyResult<Bound<'py, numpy::PyArray2<u64>>> {
    let tokenizer: Tokenizer = tokenizer.parse().into_py_result()?;
    let rows = rows_of(texts.chunks())?;
    let lengths = py.detach(|| token_lengths_batch(tokenizer, &rows, long_chars));
    let n = lengths.len();
    let flat: Vec<u64> = lengths.into_iter().flatten().collect();
    flat.into_pyarray(py).reshape([n, 3])
}

/// The tokens (or, for `chars`, the characters) of one text.
#[pyfunction]
#[pyo3(signature = (text, *, tokenizer = "auto"))]
pub fn tokenize(text: &str, tokenizer: &str) -> PyResult<Vec<String>> {
    let tokenizer: Tokenizer = tokenizer.parse().into_py_result()?;
    Ok(tokenizer.tokenize(text))
}
