//! Scanning documents against an [`NgramIndex`].

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::prefilter::{prefix_keys, window_key};
use super::{NgramIndex, unit_char_spans};
use crate::error::{CoreError, Result};
use crate::parallel::run_in_pool;
use crate::text::units::{Units, ascii_unit_spans};

/// Batches with less text than this run on the calling thread.
const PARALLEL_MIN_BYTES: usize = 1 << 16;

/// When a (document, entry) pair is reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanOptions {
    /// At least this many distinct n-grams of the entry are in the document.
    pub min_ngrams: u32,
    /// At least this fraction of the entry's n-grams are in the document.
    pub min_coverage: f64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            min_ngrams: 1,
            min_coverage: 0.0,
        }
    }
}

impl ScanOptions {
    /// # Errors
    /// `min_ngrams` is zero or `min_coverage` is not in `[0, 1]`.
    pub fn new(min_ngrams: u32, min_coverage: f64) -> Result<Self> {
        if min_ngrams == 0 {
            return Err(CoreError::param("min_ngrams", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&min_coverage) {
            return Err(CoreError::param(
                "min_coverage",
                format!("{min_coverage} is not in [0, 1]"),
            ));
        }
        Ok(Self {
            min_ngrams,
            min_coverage,
        })
    }
}

/// One entry found in one document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocHit {
    pub entry: u32,
    /// Distinct n-grams of the entry found in the document.
    pub matched_ngrams: u32,
    /// `matched_ngrams` over the entry's indexed n-grams.
    pub coverage: f64,
    /// Character ranges of the document covered by the matched n-grams,
    /// sorted; n-grams that overlap or touch are merged.
    pub spans: Vec<(usize, usize)>,
}

/// One n-gram occurrence of an entry in a document.
#[derive(Debug, Clone, Copy)]
struct Match {
    entry: u32,
    /// First unit of the n-gram, and its number of units.
    start: usize,
    len: usize,
    hash: u64,
}

/// Buffers reused from one document to the next.
#[derive(Debug, Default)]
pub struct ScanScratch {
    units: Units,
    /// Rolling keys of the units' prefixes.
    prefix: Vec<u64>,
    /// First units of the n-gram windows that pass the prefilter.
    candidates: Vec<usize>,
    matches: Vec<Match>,
    hashes: Vec<u64>,
    distinct: Vec<u64>,
    unit_spans: Vec<(usize, usize)>,
}

/// The hits of a batch as flat columns, ordered by row then entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanBatch {
    pub rows: Vec<u64>,
    pub entries: Vec<u32>,
    pub matched_ngrams: Vec<u32>,
    pub coverage: Vec<f64>,
    /// Spans of hit `i`: `span_starts[span_offsets[i]..span_offsets[i + 1]]`.
    pub span_offsets: Vec<u64>,
    pub span_starts: Vec<u64>,
    pub span_ends: Vec<u64>,
    /// Rows that are null (they contain nothing).
    pub null_rows: u64,
}

enum RowResult {
    Null,
    InvalidUtf8(usize),
    Hits(Vec<DocHit>),
}

impl NgramIndex {
    /// The entries found in `text` that pass `options`, by entry id.
    pub fn scan_text(
        &self,
        text: &str,
        options: &ScanOptions,
        scratch: &mut ScanScratch,
    ) -> Vec<DocHit> {
        let spec = self.spec;
        let units = &mut scratch.units;
        units.fill(spec.tokenizer, text);
        let count = units.count();
        let (bytes, starts, gap) = (units.bytes(), &units.starts, units.gap);
        prefix_keys(&units.hashes, &mut scratch.prefix);
        let prefix = &scratch.prefix;
        let plan = &self.scan_plan;
        let filter = &self.window_filter;
        let gram = |start: usize, len: usize| {
            xxh3_64_with_seed(&bytes[starts[start]..starts[start + len] - gap], spec.seed)
        };
        let matches = &mut scratch.matches;
        matches.clear();
        let mut push = |hash: u64, start: usize, len: usize| {
            if let Some(key) = self.lookup.find(&self.keys, hash) {
                matches.extend(self.postings_at(key).iter().map(|&entry| Match {
                    entry,
                    start,
                    len,
                    hash,
                }));
            }
        };
        let n = spec.ngram;
        if count >= n {
            // Probe the bitset for every window first, then hash and look up
            // the few that pass: the probes are independent loads whose cache
            // misses overlap.
            // Branch-free: every window is written, and the next one goes
            // over it unless its bit was set.
            let candidates = &mut scratch.candidates;
            candidates.clear();
            candidates.resize(count - n + 1, 0);
            let mut passed = 0;
            for start in 0..=count - n {
                candidates[passed] = start;
                passed += usize::from(filter.may_contain(window_key(
                    prefix,
                    start,
                    n,
                    plan.ngram_factor,
                )));
            }
            candidates.truncate(passed);
            let hashes = &mut scratch.hashes;
            hashes.clear();
            hashes.extend(candidates.iter().map(|&start| gram(start, n)));
            for (&start, &hash) in candidates.iter().zip(hashes.iter()) {
                if self.lookup.may_contain(hash) {
                    push(hash, start, n);
                }
            }
        }
        if !self.short_lengths.is_empty() {
            // Entries shorter than n, found by their last unit.
            for (last, &unit_hash) in units.hashes.iter().enumerate() {
                if !plan.short_last.may_contain(unit_hash) {
                    continue;
                }
                for (&len, &factor) in self.short_lengths.iter().zip(&plan.short_factors) {
                    let len = len as usize;
                    let Some(start) = (last + 1).checked_sub(len) else {
                        break;
                    };
                    if filter.may_contain(window_key(prefix, start, len, factor)) {
                        push(gram(start, len), start, len);
                    }
                }
            }
        }
        if matches.is_empty() {
            return Vec::new();
        }
        matches.sort_unstable_by_key(|m| (m.entry, m.start, m.len));
        if !ascii_unit_spans(spec.tokenizer, text, &mut scratch.unit_spans) {
            unit_char_spans(spec.tokenizer, text, &mut scratch.unit_spans);
        }
        let unit_spans = &scratch.unit_spans;
        let mut hits = Vec::new();
        for group in matches.chunk_by(|a, b| a.entry == b.entry) {
            let entry = group[0].entry;
            scratch.distinct.clear();
            scratch.distinct.extend(group.iter().map(|m| m.hash));
            scratch.distinct.sort_unstable();
            scratch.distinct.dedup();
            let distinct = scratch.distinct.len() as u32;
            let total = self.entries.num_ngrams[entry as usize].max(1);
            let coverage = f64::from(distinct) / f64::from(total);
            if distinct < options.min_ngrams || coverage < options.min_coverage {
                continue;
            }
            hits.push(DocHit {
                entry,
                matched_ngrams: distinct,
                coverage,
                spans: merge_spans(group, unit_spans),
            });
        }
        hits
    }

    /// Scan a batch of rows (`None` = null) on `workers` threads. The result
    /// is the same for every number of workers.
    ///
    /// # Errors
    /// The first row that is not UTF-8; a thread pool that cannot start.
    pub fn scan_batch(
        &self,
        rows: &[Option<&[u8]>],
        options: &ScanOptions,
        workers: usize,
    ) -> Result<ScanBatch> {
        let one = |row: Option<&[u8]>, scratch: &mut ScanScratch| match row {
            None => RowResult::Null,
            Some(bytes) => match std::str::from_utf8(bytes) {
                Err(err) => RowResult::InvalidUtf8(err.valid_up_to()),
                Ok(text) => RowResult::Hits(self.scan_text(text, options, scratch)),
            },
        };
        let total_bytes: usize = rows.iter().map(|r| r.map_or(0, <[u8]>::len)).sum();
        let results: Vec<RowResult> =
            if workers <= 1 || rows.len() < 2 || total_bytes < PARALLEL_MIN_BYTES {
                let mut scratch = ScanScratch::default();
                rows.iter().map(|row| one(*row, &mut scratch)).collect()
            } else {
                run_in_pool(workers, || {
                    rows.par_iter()
                        .with_max_len(16)
                        .map_init(ScanScratch::default, |scratch, row| one(*row, scratch))
                        .collect()
                })?
            };
        let mut batch = ScanBatch {
            span_offsets: vec![0],
            ..ScanBatch::default()
        };
        for (row, result) in results.into_iter().enumerate() {
            match result {
                RowResult::Null => batch.null_rows += 1,
                RowResult::InvalidUtf8(byte) => return Err(CoreError::InvalidUtf8 { row, byte }),
                RowResult::Hits(hits) => {
                    for hit in hits {
                        batch.rows.push(row as u64);
                        batch.entries.push(hit.entry);
                        batch.matched_ngrams.push(hit.matched_ngrams);
                        batch.coverage.push(hit.coverage);
                        for (start, end) in hit.spans {
                            batch.span_starts.push(start as u64);
                            batch.span_ends.push(end as u64);
                        }
                        batch.span_offsets.push(batch.span_starts.len() as u64);
                    }
                }
            }
        }
        Ok(batch)
    }
}

/// Character spans of the unit runs covered by `group` (sorted by start):
/// runs that overlap or touch become one span.
fn merge_spans(group: &[Match], unit_spans: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for m in group {
        let end = m.start + m.len;
        match runs.last_mut() {
            Some(last) if m.start <= last.1 => last.1 = last.1.max(end),
            _ => runs.push((m.start, end)),
        }
    }
    runs.into_iter()
        .filter_map(|(first, end)| {
            let start = unit_spans.get(first)?.0;
            let end = unit_spans.get(end.checked_sub(1)?)?.1;
            Some((start, end))
        })
        .collect()
}
