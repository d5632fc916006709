//! Scanning documents against an [`NgramIndex`].

use std::cell::RefCell;

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::prefilter::{KeyFilter, WINDOW_BASE, prefix_keys, window_key};
use super::{Lookup, NgramIndex, unit_char_spans};
use crate::error::{CoreError, Result};
use crate::parallel::run_in_pool;
use crate::text::units::{RawUnits, UnitSink, Units, ascii_unit_spans};

/// The longest n-grams scanned in one pass: the rolling keys of the last
/// `RING` unit prefixes are kept, and a window needs `n + 1` of them.
const MAX_ONE_PASS_NGRAM: usize = RING - 1;
const RING: usize = 64;
/// Windows probed in the filter together.
const BATCH: usize = 128;

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

/// How entries shorter than n are found: by their last unit, then the
/// window of each such length that ends there.
#[derive(Clone, Copy)]
struct ShortWindows<'a> {
    last: &'a KeyFilter,
    lengths: &'a [u32],
    factors: &'a [u64],
}

/// The rolling window keys of a document's units, fed one unit hash at a
/// time as the tokenizer cuts them: each window is probed in the filter as
/// soon as its last unit is known, with no array of unit hashes or prefix
/// keys in between.
struct Windows<'a> {
    filter: &'a KeyFilter,
    ngram: usize,
    /// [`super::prefilter::window_factor`] of `ngram`.
    factor: u64,
    short: Option<ShortWindows<'a>>,
    /// `ring[p % RING]`: the key of the first `p` units, for the last `RING` values of `p`.
    ring: [u64; RING],
    /// The key of all units so far, and their number.
    key: u64,
    units: usize,
    /// Keys of the windows not probed yet, from the one at `next_start`.
    pending: [u64; BATCH],
    num_pending: usize,
    next_start: usize,
    /// Windows that passed so far (at the front of `candidates`).
    passed: usize,
    candidates: &'a mut Vec<usize>,
    short_candidates: &'a mut Vec<(usize, usize)>,
}

impl<'a> Windows<'a> {
    /// No units yet; `work`'s candidates cleared.
    fn new(index: &'a NgramIndex, work: &'a mut MatchWork) -> Self {
        let plan = &index.scan_plan;
        work.candidates.clear();
        work.short_candidates.clear();
        Windows {
            filter: &index.window_filter,
            ngram: index.spec.ngram,
            factor: plan.ngram_factor,
            short: (!index.short_lengths.is_empty()).then_some(ShortWindows {
                last: &plan.short_last,
                lengths: &index.short_lengths,
                factors: &plan.short_factors,
            }),
            ring: [0; RING],
            key: 0,
            units: 0,
            pending: [0; BATCH],
            num_pending: 0,
            next_start: 0,
            passed: 0,
            candidates: &mut work.candidates,
            short_candidates: &mut work.short_candidates,
        }
    }

    /// Probe the pending windows in the filter. A tight loop of its own so
    /// that many probes (cache misses in a filter of megabytes) are in
    /// flight at once, and branch-free: every window is written, and the
    /// next one goes over it unless it passed.
    #[inline(never)]
    fn probe_pending(&mut self) {
        let need = self.passed + BATCH;
        if self.candidates.len() < need {
            self.candidates
                .resize(need.max(2 * self.candidates.len()), 0);
        }
        let (candidates, mut passed) = (&mut self.candidates[..need], self.passed);
        for (start, &key) in (self.next_start..).zip(&self.pending[..self.num_pending]) {
            candidates[passed] = start;
            passed += usize::from(self.filter.may_contain(key));
        }
        self.passed = passed;
        self.next_start += self.num_pending;
        self.num_pending = 0;
    }

    /// The windows of shorter entries that end at the last unit.
    #[cold]
    fn short_windows(&mut self, short: ShortWindows<'_>) {
        let units = self.units;
        for (&len, &factor) in short.lengths.iter().zip(short.factors) {
            let len = len as usize;
            let Some(start) = units.checked_sub(len) else {
                break;
            };
            let window = self
                .key
                .wrapping_sub(self.ring[start % RING].wrapping_mul(factor));
            if self.filter.may_contain(window) {
                self.short_candidates.push((start, len));
            }
        }
    }

    /// Probe the last windows, and keep only those that passed.
    fn finish(mut self) {
        self.probe_pending();
        self.candidates.truncate(self.passed);
    }
}

impl UnitSink for Windows<'_> {
    /// The next unit, by its token hash.
    #[inline(always)]
    fn unit(&mut self, hash: u64) {
        self.key = self.key.wrapping_mul(WINDOW_BASE).wrapping_add(hash);
        self.units += 1;
        let units = self.units;
        self.ring[units % RING] = self.key;
        // The key of the window that ends here, kept (the next one goes
        // over it otherwise) when there is such a window.
        let start = units.wrapping_sub(self.ngram);
        let window = self
            .key
            .wrapping_sub(self.ring[start % RING].wrapping_mul(self.factor));
        self.filter.prefetch(window);
        self.pending[self.num_pending] = window;
        self.num_pending += usize::from(units >= self.ngram);
        if self.num_pending == BATCH {
            self.probe_pending();
        }
        if let Some(short) = self.short
            && short.last.may_contain(hash)
        {
            self.short_windows(short);
        }
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

/// Documents longer than this do not leave their buffers in
/// [`SCRATCH`]: they would stay allocated for the thread's life.
const KEEP_SCRATCH_BYTES: usize = 1 << 20;

thread_local! {
    /// Each thread's buffers, kept from one document and one batch to the
    /// next: growing fresh ones for every few documents cost a few percent
    /// of the scan.
    static SCRATCH: RefCell<ScanScratch> = RefCell::new(ScanScratch::default());
}

/// Run `scan` with this thread's [`SCRATCH`] (a fresh one should it be in
/// use), then drop its buffers if a document of `len` bytes made them big.
fn with_scratch<R>(len: usize, scan: impl FnOnce(&mut ScanScratch) -> R) -> R {
    SCRATCH.with(|cell| {
        let Ok(mut scratch) = cell.try_borrow_mut() else {
            return scan(&mut ScanScratch::default());
        };
        let result = scan(&mut scratch);
        if len > KEEP_SCRATCH_BYTES {
            *scratch = ScanScratch::default();
        }
        result
    })
}

/// Buffers reused from one document to the next.
#[derive(Debug, Default)]
pub struct ScanScratch {
    /// The units of a document, as spans of its bytes.
    raw: RawUnits,
    /// Their candidate windows' normalized bytes.
    grams: LazyGrams,
    /// The units of a document that needs the general path.
    units: Units,
    /// Rolling keys of the units' prefixes.
    prefix: Vec<u64>,
    work: MatchWork,
    distinct: Vec<u64>,
    unit_spans: Vec<(usize, usize)>,
}

/// The candidate windows of a document and what matching them needs.
#[derive(Debug, Default)]
struct MatchWork {
    /// First units of the n-gram windows that pass the prefilter.
    candidates: Vec<usize>,
    /// (First unit, length) of the windows of shorter entries that pass it.
    short_candidates: Vec<(usize, usize)>,
    matches: Vec<Match>,
    hashes: Vec<u64>,
    /// Candidates in the lookup's bitmap: (first unit, hash).
    kept: Vec<(usize, u64)>,
    buckets: Vec<(u32, u32)>,
    /// Candidates that are indexed: (first unit, hash, key index).
    found: Vec<(usize, u64, usize)>,
}

/// The normalized bytes of a document's candidate windows, made only for
/// them from its [`RawUnits`]: the normalized tokens of one stretch of
/// units, joined by single spaces (exactly [`Units::bytes`] there), extended
/// while the candidates reach into it and restarted at a candidate past it.
/// Only the windows that pass the prefilter (a few percent) pay for a copy.
#[derive(Debug, Default)]
struct LazyGrams {
    bytes: Vec<u8>,
    /// Start in `bytes` of each unit of the stretch, from unit `first` on.
    starts: Vec<usize>,
    first: usize,
}

impl LazyGrams {
    fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.first = 0;
    }

    /// XXH3 (with `seed`) of units `start..start + len` (`len` at least 1)
    /// of `text`, cut into `raw`.
    fn hash(&mut self, text: &[u8], raw: &RawUnits, start: usize, len: usize, seed: u64) -> u64 {
        if start < self.first || start > self.first + self.starts.len() {
            self.clear();
            self.first = start;
        }
        while self.first + self.starts.len() < start + len {
            self.starts.push(self.bytes.len());
            raw.push_unit(text, self.first + self.starts.len() - 1, &mut self.bytes);
        }
        let last = start + len - 1;
        let end = self.starts[last - self.first] + raw.unit_len(last);
        xxh3_64_with_seed(&self.bytes[self.starts[start - self.first]..end], seed)
    }
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
        self.scan_text_as(text, text.is_ascii(), options, scratch, true)
    }

    /// [`NgramIndex::scan_text`] of a text the caller knows to be ASCII
    /// (`ascii`) or not, with the one-pass path ([`RawUnits`], windows
    /// probed as the units are cut) allowed or not (the tests compare the
    /// two, and ASCII texts passed as not known to be ASCII).
    pub(super) fn scan_text_as(
        &self,
        text: &str,
        ascii: bool,
        options: &ScanOptions,
        scratch: &mut ScanScratch,
        one_pass: bool,
    ) -> Vec<DocHit> {
        let spec = self.spec;
        let tokenizer = spec.tokenizer.for_spans();
        let bytes = text.as_bytes();
        // Probe each window as its last unit is cut.
        let one_pass = one_pass && spec.ngram <= MAX_ONE_PASS_NGRAM && {
            let mut windows = Windows::new(self, &mut scratch.work);
            let cut = scratch.raw.cut(tokenizer, text, ascii, &mut windows);
            windows.finish();
            cut
        };
        if one_pass {
            let (raw, grams, seed) = (&scratch.raw, &mut scratch.grams, spec.seed);
            grams.clear();
            self.match_candidates(&mut scratch.work, |start, len| {
                grams.hash(bytes, raw, start, len, seed)
            });
        } else {
            scratch.units.fill(tokenizer, text);
            self.two_pass_candidates(&scratch.units, &mut scratch.prefix, &mut scratch.work);
            let units = &scratch.units;
            let (bytes, starts, gap, seed) = (units.bytes(), &units.starts, units.gap, spec.seed);
            self.match_candidates(&mut scratch.work, |start, len| {
                xxh3_64_with_seed(&bytes[starts[start]..starts[start + len] - gap], seed)
            });
        }
        let matches = &mut scratch.work.matches;
        if matches.is_empty() {
            return Vec::new();
        }
        // Matches come out by window (n-grams, then shorter entries), and an
        // entry is matched only by windows of its own length, so a stable
        // sort by entry almost always leaves them sorted by (entry, start,
        // len): checked, with the full sort as the fallback. Matches with
        // the same key are the same window, so either order is the same.
        matches.sort_by_key(|m| m.entry);
        if !matches.is_sorted_by_key(|m| (m.entry, m.start, m.len)) {
            matches.sort_unstable_by_key(|m| (m.entry, m.start, m.len));
        }
        // Byte offsets are character offsets in an ASCII text, whose units
        // the one-pass cut already holds.
        let ascii_spans = (one_pass && scratch.raw.ascii_spans(&mut scratch.unit_spans))
            || ascii_unit_spans(tokenizer, text, &mut scratch.unit_spans);
        if !ascii_spans {
            unit_char_spans(tokenizer, text, &mut scratch.unit_spans);
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

    /// The windows of `units` that pass the filter, from prefix keys of all
    /// units: n-gram starts into `work.candidates`, (start, length) of
    /// shorter entries' windows into `work.short_candidates`.
    fn two_pass_candidates(&self, units: &Units, prefix: &mut Vec<u64>, work: &mut MatchWork) {
        let count = units.count();
        prefix_keys(&units.hashes, prefix);
        let prefix = &*prefix;
        let plan = &self.scan_plan;
        let filter = &self.window_filter;
        let n = self.spec.ngram;
        let candidates = &mut work.candidates;
        candidates.clear();
        if count >= n {
            // Branch-free: every window is written, and the next one goes
            // over it unless its bit was set.
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
        }
        let short_candidates = &mut work.short_candidates;
        short_candidates.clear();
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
                        short_candidates.push((start, len));
                    }
                }
            }
        }
    }

    /// The postings of the candidate windows whose XXH3 hash is indexed,
    /// into `work.matches`; `gram(start, len)` is the XXH3 hash of the
    /// window of `len` units from `start`.
    fn match_candidates(&self, work: &mut MatchWork, mut gram: impl FnMut(usize, usize) -> u64) {
        let matches = &mut work.matches;
        matches.clear();
        let mut push = |key: usize, hash: u64, start: usize, len: usize| {
            matches.extend(self.postings_at(key).iter().map(|&entry| Match {
                entry,
                start,
                len,
                hash,
            }));
        };
        // In stages, each a loop of independent loads whose cache misses
        // overlap (one lookup is a chain of four misses): hash every
        // candidate, keep those in the lookup's bitmap, read their buckets,
        // find their keys, then their postings.
        let n = self.spec.ngram;
        let hashes = &mut work.hashes;
        hashes.clear();
        hashes.extend(work.candidates.iter().map(|&start| gram(start, n)));
        let kept = &mut work.kept;
        kept.clear();
        kept.resize(hashes.len(), (0, 0));
        let mut passed = 0;
        for (&start, &hash) in work.candidates.iter().zip(hashes.iter()) {
            kept[passed] = (start, hash);
            passed += usize::from(self.lookup.may_contain(hash));
        }
        kept.truncate(passed);
        let buckets = &mut work.buckets;
        buckets.clear();
        buckets.extend(kept.iter().map(|&(_, hash)| self.lookup.bucket(hash)));
        let found = &mut work.found;
        found.clear();
        found.extend(
            kept.iter()
                .zip(buckets.iter())
                .filter_map(|(&(start, hash), &bucket)| {
                    Lookup::find_in(&self.keys, bucket, hash).map(|key| (start, hash, key))
                }),
        );
        for &(start, hash, key) in found.iter() {
            push(key, hash, start, n);
        }
        for &(start, len) in &work.short_candidates {
            let hash = gram(start, len);
            if let Some(key) = self.lookup.find(&self.keys, hash) {
                push(key, hash, start, len);
            }
        }
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
        let scan_row = |row: Option<&[u8]>, scratch: &mut ScanScratch| match row {
            None => RowResult::Null,
            // One pass over an ASCII row (most rows of code and English)
            // both validates it and picks the scanner's ASCII path.
            Some(bytes) if bytes.is_ascii() => {
                // SAFETY: ASCII bytes are valid UTF-8.
                let text = unsafe { std::str::from_utf8_unchecked(bytes) };
                RowResult::Hits(self.scan_text_as(text, true, options, scratch, true))
            }
            Some(bytes) => match std::str::from_utf8(bytes) {
                Err(err) => RowResult::InvalidUtf8(err.valid_up_to()),
                Ok(text) => RowResult::Hits(self.scan_text_as(text, false, options, scratch, true)),
            },
        };
        let one = |row: Option<&[u8]>| {
            with_scratch(row.map_or(0, <[u8]>::len), |scratch| scan_row(row, scratch))
        };
        let total_bytes: usize = rows.iter().map(|r| r.map_or(0, <[u8]>::len)).sum();
        let results: Vec<RowResult> =
            if workers <= 1 || rows.len() < 2 || total_bytes < PARALLEL_MIN_BYTES {
                rows.iter().map(|row| one(*row)).collect()
            } else {
                run_in_pool(workers, || {
                    rows.par_iter()
                        .with_max_len(16)
                        .map(|row| one(*row))
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
