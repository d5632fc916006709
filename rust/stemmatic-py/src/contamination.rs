//! Python entry points for benchmark contamination: `NgramIndex`, and
//! `EntryTokens` (token overlap of entries and documents).

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3_arrow::PyChunkedArray;
use stemmatic_core::contamination::{
    BuildOptions, EntryTokens, IndexBuilder, ItemRow, LLAMA2_MIN_SPAN, LLAMA2_SKIP_BUDGET,
    NgramIndex, Overlaps, ScanBatch, ScanOptions,
};
use stemmatic_core::parallel::resolve_workers;
use stemmatic_core::shingle::ShingleSpec;
use stemmatic_core::text::Tokenizer;

use crate::errors::{IntoPyResult, InvalidInputError, ParameterError};
use crate::texts::rows_of;

/// An n-gram index of benchmark entries (one field of one item each).
///
/// Built by `NgramIndex.build`, stored by `save`/`load` (or `to_bytes`/
/// `from_bytes`), pickled as its bytes. Immutable and shared between threads.
#[pyclass(module = "stemmatic._core", name = "NgramIndex", frozen)]
pub struct PyNgramIndex(Arc<NgramIndex>);

type ScanArrays<'py> = (
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyArray1<u64>>,
    u64,
);

type EntryArrays<'py> = (
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<u32>>,
);

fn text_of<'a>(row: usize, value: Option<&'a [u8]>, what: &str) -> PyResult<&'a str> {
    let bytes =
        value.ok_or_else(|| InvalidInputError::new_err(format!("row {row}: {what} is null")))?;
    std::str::from_utf8(bytes)
        .map_err(|_| InvalidInputError::new_err(format!("row {row}: {what} is not valid UTF-8")))
}

#[pymethods]
impl PyNgramIndex {
    /// Build an index from parallel columns, one row per (item, field).
    ///
    /// `benchmark_ids`/`field_ids` index `benchmarks`/`fields`; `item_ids`
    /// and `texts` are Arrow string columns (a null text is a missing
    /// field). Returns `(index, status)` where status (uint8, per row) is
    /// 0 indexed, 1 null, 2 empty (no tokens), 3 fewer than `min_tokens`.
    #[staticmethod]
    #[pyo3(signature = (
        *, benchmarks, fields, benchmark_ids, field_ids, item_ids, texts, ngram, tokenizer, seed,
        min_tokens = 1, max_item_frequency = None, allowlist = Vec::new(), metadata = String::new(),
        workers = None,
    ))]
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the keyword-only Python signature"
    )]
    fn build<'py>(
        py: Python<'py>,
        benchmarks: Vec<String>,
        fields: Vec<String>,
        benchmark_ids: PyReadonlyArray1<'py, u32>,
        field_ids: PyReadonlyArray1<'py, u32>,
        item_ids: PyChunkedArray,
        texts: PyChunkedArray,
        ngram: usize,
        tokenizer: &str,
        seed: u64,
        min_tokens: usize,
        max_item_frequency: Option<u64>,
        allowlist: Vec<String>,
        metadata: String,
        workers: Option<usize>,
    ) -> PyResult<(Self, Bound<'py, PyArray1<u8>>)> {
        let tokenizer: Tokenizer = tokenizer.parse().into_py_result()?;
        let spec = ShingleSpec::new(tokenizer, ngram, seed).into_py_result()?;
        let workers = resolve_workers(workers).into_py_result()?;
        let benchmark_ids = benchmark_ids.as_slice()?;
        let field_ids = field_ids.as_slice()?;
        let id_rows = rows_of(item_ids.chunks())?;
        let text_rows = rows_of(texts.chunks())?;
        let n = text_rows.len();
        if benchmark_ids.len() != n || field_ids.len() != n || id_rows.len() != n {
            return Err(ParameterError::new_err(format!(
                "columns differ in length: {} texts, {} item ids, {} benchmark ids, {} field ids",
                n,
                id_rows.len(),
                benchmark_ids.len(),
                field_ids.len()
            )));
        }
        let mut builder = IndexBuilder::new(spec, min_tokens).into_py_result()?;
        for name in &benchmarks {
            builder.benchmark(name);
        }
        for name in &fields {
            builder.field(name);
        }
        let mut items = Vec::with_capacity(n);
        for row in 0..n {
            items.push(ItemRow {
                benchmark: benchmark_ids[row],
                field: field_ids[row],
                item_id: text_of(row, id_rows[row], "item id")?,
                text: text_rows[row],
            });
        }
        let allowlist: Vec<&str> = allowlist.iter().map(String::as_str).collect();
        let options = BuildOptions {
            max_item_frequency,
            allowlist: &allowlist,
            metadata,
        };
        let (index, statuses) = py
            .detach(|| {
                let statuses = builder.add_items(&items, workers)?;
                Ok((builder.finish(&options)?, statuses))
            })
            .into_py_result()?;
        let statuses: Vec<u8> = statuses.iter().map(|s| *s as u8).collect();
        Ok((Self(Arc::new(index)), statuses.into_pyarray(py)))
    }

    /// A copy of the index with `metadata` (free-form text, JSON by
    /// convention) in place of its metadata.
    fn with_metadata(&self, py: Python<'_>, metadata: String) -> Self {
        let index = py.detach(|| (*self.0).clone().with_metadata(metadata));
        Self(Arc::new(index))
    }

    /// Read an index file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let index = py.detach(|| NgramIndex::load(&path)).into_py_result()?;
        Ok(Self(Arc::new(index)))
    }

    /// Write the index to `path` (atomically).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.0.save(&path)).into_py_result()
    }

    /// The bytes of the index file.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = py.detach(|| self.0.to_bytes());
        PyBytes::new(py, &bytes)
    }

    /// Decode the bytes of an index file.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let index = py
            .detach(|| NgramIndex::from_bytes(data))
            .into_py_result()?;
        Ok(Self(Arc::new(index)))
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from_bytes = py.get_type::<Self>().getattr("from_bytes")?;
        Ok((from_bytes, (self.to_bytes(py),)))
    }

    /// Scan a column of texts. Returns `(rows u64, entries u32,
    /// matched_ngrams u32, coverage f64, span_offsets u64, span_starts u64,
    /// span_ends u64, null_rows)`; spans are character offsets. A
    /// `tokenizer` or `ngram` other than the index's is refused.
    #[pyo3(signature = (texts, *, min_ngrams = 1, min_coverage = 0.0, tokenizer = None, ngram = None, workers = None))]
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the keyword-only Python signature"
    )]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        texts: PyChunkedArray,
        min_ngrams: u32,
        min_coverage: f64,
        tokenizer: Option<&str>,
        ngram: Option<usize>,
        workers: Option<usize>,
    ) -> PyResult<ScanArrays<'py>> {
        let tokenizer = tokenizer
            .map(str::parse::<Tokenizer>)
            .transpose()
            .into_py_result()?;
        self.0.check_settings(tokenizer, ngram).into_py_result()?;
        let options = ScanOptions::new(min_ngrams, min_coverage).into_py_result()?;
        let workers = resolve_workers(workers).into_py_result()?;
        let rows = rows_of(texts.chunks())?;
        let batch: ScanBatch = py
            .detach(|| self.0.scan_batch(&rows, &options, workers))
            .into_py_result()?;
        Ok((
            batch.rows.into_pyarray(py),
            batch.entries.into_pyarray(py),
            batch.matched_ngrams.into_pyarray(py),
            batch.coverage.into_pyarray(py),
            batch.span_offsets.into_pyarray(py),
            batch.span_starts.into_pyarray(py),
            batch.span_ends.into_pyarray(py),
            batch.null_rows,
        ))
    }

    /// Per entry: `(benchmark id, field id, indexed n-grams, tokens)`.
    fn entry_arrays<'py>(&self, py: Python<'py>) -> EntryArrays<'py> {
        (
            self.0.entry_benchmarks().to_vec().into_pyarray(py),
            self.0.entry_fields().to_vec().into_pyarray(py),
            self.0.entry_num_ngrams().to_vec().into_pyarray(py),
            self.0.entry_num_tokens().to_vec().into_pyarray(py),
        )
    }

    /// Item ids as `(offsets u64 [num_entries + 1], UTF-8 bytes)`.
    fn item_id_buffers<'py>(
        &self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<u64>>, Bound<'py, PyBytes>) {
        let (offsets, data) = self.0.item_id_buffers();
        (
            offsets.to_vec().into_pyarray(py),
            PyBytes::new(py, data.as_bytes()),
        )
    }

    /// The sorted distinct fingerprints (for inspection and tests).
    fn fingerprints<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.0.keys().to_vec().into_pyarray(py)
    }

    /// Entry ids whose fingerprint sets contain `hash`.
    fn entries_of(&self, hash: u64) -> Vec<u32> {
        self.0.entries_of(hash).to_vec()
    }

    #[getter]
    fn tokenizer(&self) -> &'static str {
        self.0.spec().tokenizer.name()
    }

    #[getter]
    fn ngram(&self) -> usize {
        self.0.spec().ngram
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.0.spec().seed
    }

    #[getter]
    fn min_tokens(&self) -> usize {
        self.0.min_tokens()
    }

    #[getter]
    fn benchmarks(&self) -> Vec<String> {
        self.0.benchmarks().to_vec()
    }

    #[getter]
    fn fields(&self) -> Vec<String> {
        self.0.fields().to_vec()
    }

    #[getter]
    fn num_entries(&self) -> usize {
        self.0.num_entries()
    }

    #[getter]
    fn num_ngrams(&self) -> usize {
        self.0.num_ngrams()
    }

    #[getter]
    fn metadata(&self) -> &str {
        self.0.metadata()
    }

    /// Counts: entries, items, ngrams, postings, exclusions.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.0.stats();
        let dict = PyDict::new(py);
        dict.set_item("entries", self.0.num_entries())?;
        dict.set_item("items", stats.items)?;
        dict.set_item("ngrams", self.0.num_ngrams())?;
        dict.set_item("postings", self.0.num_postings())?;
        dict.set_item("excluded_by_frequency", stats.excluded_by_frequency)?;
        dict.set_item("excluded_by_allowlist", stats.excluded_by_allowlist)?;
        dict.set_item("entries_without_ngrams", stats.entries_without_ngrams)?;
        dict.set_item("max_item_frequency", stats.max_item_frequency)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!(
            "NgramIndex(tokenizer={:?}, ngram={}, entries={}, ngrams={}, benchmarks={:?})",
            self.0.spec().tokenizer.name(),
            self.0.spec().ngram,
            self.0.num_entries(),
            self.0.num_ngrams(),
            self.0.benchmarks()
        )
    }
}

/// The tokens of benchmark entries, to compare with the documents that hit
/// them: the longest common run and Llama 2's matched spans
/// (`stemmatic_core::contamination::EntryTokens`).
#[pyclass(module = "stemmatic._core", name = "EntryTokens", frozen)]
pub struct PyEntryTokens(EntryTokens);

/// What `EntryTokens.compare` found, per (document, entry) pair.
#[pyclass(module = "stemmatic._core", name = "Overlaps", frozen)]
pub struct PyOverlaps(Overlaps);

#[pymethods]
impl PyEntryTokens {
    /// Tokenize `texts` (one per entry) with `tokenizer`.
    #[new]
    fn new(py: Python<'_>, texts: Vec<String>, tokenizer: &str) -> PyResult<Self> {
        let tokenizer: Tokenizer = tokenizer.parse().into_py_result()?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let tokens = py
            .detach(|| EntryTokens::new(tokenizer, &refs))
            .into_py_result()?;
        Ok(Self(tokens))
    }

    #[getter]
    fn num_entries(&self) -> usize {
        self.0.num_entries()
    }

    /// Tokens of each entry (uint32).
    fn lengths<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.0.lengths().into_pyarray(py)
    }

    /// Compare entry `entries[k]` with document `texts[rows[k]]` for every `k`.
    #[pyo3(signature = (texts, rows, entries, *, min_span = LLAMA2_MIN_SPAN, skip_budget = LLAMA2_SKIP_BUDGET, workers = None))]
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the keyword-only Python signature"
    )]
    fn compare(
        &self,
        py: Python<'_>,
        texts: PyChunkedArray,
        rows: PyReadonlyArray1<'_, u32>,
        entries: PyReadonlyArray1<'_, u32>,
        min_span: usize,
        skip_budget: usize,
        workers: Option<usize>,
    ) -> PyResult<PyOverlaps> {
        let workers = resolve_workers(workers).into_py_result()?;
        let docs = rows_of(texts.chunks())?;
        let (rows, entries) = (rows.as_slice()?, entries.as_slice()?);
        let overlaps = py
            .detach(|| {
                self.0
                    .compare(&docs, rows, entries, min_span, skip_budget, workers)
            })
            .into_py_result()?;
        Ok(PyOverlaps(overlaps))
    }
}

#[pymethods]
impl PyOverlaps {
    /// Longest run of consecutive entry tokens in the document, per pair (uint32).
    #[getter]
    fn longest<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.0.longest.clone().into_pyarray(py)
    }

    /// Pair `k`'s spans are `span_starts/ends[span_offsets[k]:span_offsets[k + 1]]` (uint64).
    #[getter]
    fn span_offsets<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.0.span_offsets.clone().into_pyarray(py)
    }

    /// First entry token of each Llama 2 span (uint32).
    #[getter]
    fn span_starts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.0.span_starts.clone().into_pyarray(py)
    }

    /// One past the last entry token of each Llama 2 span (uint32).
    #[getter]
    fn span_ends<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.0.span_ends.clone().into_pyarray(py)
    }
}
