//! Python entry point of the fused sketch: a `Sketcher` (its parameters
//! parsed and checked once) whose `sketch` returns a `SketchBatch` with named
//! numpy getters, one call into the engine per batch.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyUntypedArray};
use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3_arrow::PyChunkedArray;
use stemmatic_core::minhash::SigValue;
use stemmatic_core::parallel;
use stemmatic_core::shingle::ShingleSpec;
use stemmatic_core::sketch::{Sketch, SketchOptions, Sketcher};
use stemmatic_core::text::Tokenizer;

use crate::errors::{IntoPyResult, ParameterError};
use crate::minhash::parse_on_invalid;
use crate::texts::rows_of;

/// The sketcher of the signature width asked for.
enum Inner {
    U32(Sketcher<u32>),
    U64(Sketcher<u64>),
}

/// The fused per-batch engine call of near-duplicate detection: from one
/// tokenization of each text, its MinHash signature, shingle count, status,
/// LSH band keys, byte length and (as asked) exact-duplicate key, shingle set
/// and token lengths. Picklable (its parameters travel, not its tables).
///
/// Its parameters are read-only attributes, in the constructor's order.
#[pyclass(module = "stemmatic._core", name = "Sketcher", frozen)]
pub struct PySketcher {
    inner: Inner,
    #[pyo3(get)]
    num_perm: usize,
    #[pyo3(get)]
    ngram: usize,
    /// The tokenizer's canonical name.
    #[pyo3(get)]
    tokenizer: &'static str,
    #[pyo3(get)]
    seed: u64,
    #[pyo3(get)]
    bands: usize,
    #[pyo3(get)]
    rows: usize,
    #[pyo3(get)]
    bits: u32,
    #[pyo3(get)]
    exact: bool,
    #[pyo3(get)]
    keep_sets: bool,
    #[pyo3(get)]
    length_rows: usize,
    #[pyo3(get)]
    long_chars: usize,
    #[pyo3(get)]
    keep_signatures: bool,
}

#[pymethods]
impl PySketcher {
    #[new]
    #[pyo3(signature = (num_perm, ngram, tokenizer, seed, bands, rows, bits = 32, exact = false, keep_sets = false, length_rows = 0, long_chars = 16, keep_signatures = true))]
    #[expect(clippy::too_many_arguments, reason = "mirrors the Python signature")]
    fn new(
        num_perm: usize,
        ngram: usize,
        tokenizer: &str,
        seed: u64,
        bands: usize,
        rows: usize,
        bits: u32,
        exact: bool,
        keep_sets: bool,
        length_rows: usize,
        long_chars: usize,
        keep_signatures: bool,
    ) -> PyResult<Self> {
        let tokenizer: Tokenizer = tokenizer.parse().into_py_result()?;
        let spec = ShingleSpec::new(tokenizer, ngram, seed).into_py_result()?;
        let options = SketchOptions {
            bands,
            rows,
            exact,
            keep_sets,
            keep_signatures,
            length_rows,
            long_chars,
        };
        let inner = match bits {
            32 => Inner::U32(Sketcher::new(spec, num_perm, options).into_py_result()?),
            64 => Inner::U64(Sketcher::new(spec, num_perm, options).into_py_result()?),
            other => {
                return Err(ParameterError::new_err(format!(
                    "invalid parameter `bits`: {other}; expected 32 or 64"
                )));
            }
        };
        Ok(Self {
            inner,
            num_perm,
            ngram: spec.ngram,
            tokenizer: spec.tokenizer.name(),
            seed: spec.seed,
            bands,
            rows,
            bits,
            exact,
            keep_sets,
            length_rows,
            long_chars,
            keep_signatures,
        })
    }

    /// The sketch of a column of texts (anything exporting
    /// `__arrow_c_stream__`, of string, large_string, string_view or binary
    /// type). With `on_invalid="raise"` a null or non-UTF-8 row raises
    /// `InvalidInputError` with `.row`, `.byte` and `.reason`; with `"skip"`
    /// it gets status 2 (null) or 3 (not UTF-8) and the empty signature.
    #[pyo3(signature = (texts, *, workers = None, on_invalid = "raise"))]
    fn sketch(
        &self,
        py: Python<'_>,
        texts: PyChunkedArray,
        workers: Option<usize>,
        on_invalid: &str,
    ) -> PyResult<PySketchBatch> {
        let on_invalid = parse_on_invalid(on_invalid)?;
        let workers = parallel::resolve_workers(workers).into_py_result()?;
        let rows = rows_of(texts.chunks())?;
        match &self.inner {
            Inner::U32(sketcher) => {
                let sketch = py
                    .detach(|| sketcher.sketch(&rows, on_invalid, workers))
                    .into_py_result()?;
                PySketchBatch::new(py, sketch, self.keep_signatures)
            }
            Inner::U64(sketcher) => {
                let sketch = py
                    .detach(|| sketcher.sketch(&rows, on_invalid, workers))
                    .into_py_result()?;
                PySketchBatch::new(py, sketch, self.keep_signatures)
            }
        }
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> (Bound<'py, PyType>, SketcherArgs) {
        (
            py.get_type::<Self>(),
            (
                self.num_perm,
                self.ngram,
                self.tokenizer,
                self.seed,
                self.bands,
                self.rows,
                self.bits,
                self.exact,
                self.keep_sets,
                self.length_rows,
                self.long_chars,
                self.keep_signatures,
            ),
        )
    }

    fn __repr__(&self) -> String {
        let flag = |on: bool| if on { "True" } else { "False" };
        format!(
            "Sketcher(num_perm={}, ngram={}, tokenizer='{}', seed={}, bands={}, rows={}, bits={}, exact={}, keep_sets={}, length_rows={}, long_chars={}, keep_signatures={})",
            self.num_perm,
            self.ngram,
            self.tokenizer,
            self.seed,
            self.bands,
            self.rows,
            self.bits,
            flag(self.exact),
            flag(self.keep_sets),
            self.length_rows,
            self.long_chars,
            flag(self.keep_signatures),
        )
    }
}

/// The constructor arguments of a `Sketcher`, in order (for pickling).
type SketcherArgs = (
    usize,
    usize,
    &'static str,
    u64,
    usize,
    usize,
    u32,
    bool,
    bool,
    usize,
    usize,
    bool,
);

/// One batch's sketch: numpy arrays, handed over without copies.
#[pyclass(module = "stemmatic._core", name = "SketchBatch", frozen)]
pub struct PySketchBatch {
    /// `(n, num_perm)` uint32 or uint64, or None without `keep_signatures`.
    #[pyo3(get)]
    signatures: Option<Py<PyUntypedArray>>,
    /// `(n,)` uint32: shingles per row, repeats included.
    #[pyo3(get)]
    num_shingles: Py<PyArray1<u32>>,
    /// `(n,)` uint8: 0 ok, 1 empty, 2 null, 3 not UTF-8.
    #[pyo3(get)]
    status: Py<PyArray1<u8>>,
    /// `(n, bands)` uint64.
    #[pyo3(get)]
    band_keys: Py<PyArray2<u64>>,
    /// `(n, 2)` uint64 `[low, high]`, or None without `exact`.
    #[pyo3(get)]
    exact_keys: Option<Py<PyArray2<u64>>>,
    /// Without `keep_sets`, None; else the sets as the workers wrote them:
    /// `(first_row, values, offsets)` per run of rows, as `set_values` and
    /// `set_offsets` of those rows (offsets from 0).
    #[pyo3(get)]
    set_batches: Option<Vec<SetBatch>>,
    /// `(n,)` uint64: bytes of each text (0 for null).
    #[pyo3(get)]
    lengths: Py<PyArray1<u64>>,
    /// `(min(n, length_rows), 3)` uint64, as `token_lengths`.
    #[pyo3(get)]
    token_lengths: Py<PyArray2<u64>>,
}

impl PySketchBatch {
    fn new<T: SigValue + numpy::Element>(
        py: Python<'_>,
        sketch: Sketch<T>,
        keep_signatures: bool,
    ) -> PyResult<Self> {
        let n = sketch.status.len();
        let status: Vec<u8> = sketch.status.iter().map(|s| *s as u8).collect();
        let measured = sketch.token_lengths.len() / 3;
        let exact_keys = match sketch.exact_keys {
            Some(keys) => Some(keys.into_pyarray(py).reshape([n, 2])?.unbind()),
            None => None,
        };
        let set_batches = sketch.sets.map(|chunks| {
            chunks
                .into_iter()
                .map(|chunk| {
                    (
                        chunk.first_row,
                        chunk.values.into_pyarray(py).unbind(),
                        chunk.offsets.into_pyarray(py).unbind(),
                    )
                })
                .collect()
        });
        let signatures = if keep_signatures {
            let matrix = sketch
                .signatures
                .into_pyarray(py)
                .reshape([n, sketch.num_perm])?;
            Some(matrix.into_any().cast_into::<PyUntypedArray>()?.unbind())
        } else {
            None
        };
        Ok(Self {
            signatures,
            num_shingles: sketch.num_shingles.into_pyarray(py).unbind(),
            status: status.into_pyarray(py).unbind(),
            band_keys: sketch
                .band_keys
                .into_pyarray(py)
                .reshape([n, sketch.bands])?
                .unbind(),
            exact_keys,
            set_batches,
            lengths: sketch.lengths.into_pyarray(py).unbind(),
            token_lengths: sketch
                .token_lengths
                .into_pyarray(py)
                .reshape([measured, 3])?
                .unbind(),
        })
    }
}

/// One run of rows' sets: `(first_row, values, offsets)`.
type SetBatch = (usize, Py<PyArray1<u64>>, Py<PyArray1<u64>>);

#[pymethods]
impl PySketchBatch {
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.status.bind(py).len()
    }

    /// Sorted distinct shingle hashes of all rows, or None without
    /// `keep_sets` (`set_batches` joined: a copy on each access).
    #[getter]
    fn set_values<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray1<u64>>>> {
        let Some(batches) = &self.set_batches else {
            return Ok(None);
        };
        let mut joined = Vec::new();
        for (_, values, _) in batches {
            joined.extend_from_slice(values.bind(py).readonly().as_slice()?);
        }
        Ok(Some(joined.into_pyarray(py)))
    }

    /// `(n + 1,)`: row `i`'s set is `set_values[set_offsets[i]:set_offsets[i + 1]]`.
    #[getter]
    fn set_offsets<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray1<u64>>>> {
        let Some(batches) = &self.set_batches else {
            return Ok(None);
        };
        let mut joined = vec![0u64];
        let mut base = 0u64;
        for (_, values, offsets) in batches {
            // Each batch's offsets start at 0 (and hold at least that).
            let offsets = offsets.bind(py).readonly();
            joined.extend(offsets.as_slice()?.iter().skip(1).map(|&o| o + base));
            base += values.bind(py).len()? as u64;
        }
        Ok(Some(joined.into_pyarray(py)))
    }
}
