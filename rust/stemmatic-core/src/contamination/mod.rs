//! Benchmark contamination: find the n-grams of evaluation items inside
//! training documents, per benchmark item, with the character spans that
//! prove it. The method is the n-gram overlap test of Brown et al. 2020,
//! "Language Models are Few-Shot Learners" (appendix C: 13-grams), made
//! fast enough to scan billions of tokens.
//!
//! ## Entries and fingerprints
//!
//! An *entry* is one field of one benchmark item (`benchmark`, `item_id`,
//! `field`). Its text is tokenized by the dedup tokenizers
//! ([`crate::text::Tokenizer`]; `words` = `re.findall(r"\w+", text.lower())`)
//! and its fingerprint is the set of its shingle hashes
//! ([`crate::shingle`]): XXH3-64, seeded, of every n consecutive tokens
//! joined by one space. A Python reference recomputes it with `re` and the
//! `xxhash` package.
//!
//! An entry with fewer than n tokens (but at least `min_tokens`) has a single
//! fingerprint, the hash of all its tokens, and is **matched whole**: a
//! document contains it when the same tokens appear consecutively.
//!
//! ## Exclusions
//!
//! N-grams shared by more than `max_item_frequency` distinct items
//! (boilerplate such as answer-format instructions) and the n-grams of an
//! allowlist of texts are dropped from the index; the counts are kept in
//! [`IndexStats`]. Coverage is measured over the n-grams that remain.
//!
//! ## Layout
//!
//! The index is flat arrays: the sorted distinct hashes, and for each a
//! posting list of entry ids, plus a filter of the rolling keys of its
//! n-grams ([`prefilter`]; [`format`] writes them to one file with a magic, a
//! format version and a checksum). Lookups go through a bitmap prefilter and
//! a bucket table keyed by the top bits of the hash, both rebuilt on load
//! (see [`NgramIndex::contains`]).
//!
//! Scanning ([`NgramIndex::scan_batch`]) cuts a document into units in one
//! pass ([`units`]), computes the rolling key of every n-gram window in O(1)
//! each, and computes the documented XXH3 hash and looks it up only for the
//! windows whose key the filter may hold (the indexed ones and 0.5% more).
//! An ASCII document is never copied: its tokens are hashed off the raw
//! bytes, and only the windows that pass the filter are lowercased and
//! joined for their XXH3 hash. It collects the matched distinct n-grams per
//! entry and maps the matched token runs back to character offsets of the
//! original text ([`unit_char_spans`]) only for documents that match.

mod build;
mod format;
mod overlap;
mod prefilter;
mod scan;
mod spans;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{CoreError, Result};
use crate::shingle::ShingleSpec;
use crate::text::Tokenizer;
use crate::text::units::Units;
use prefilter::{KeyFilter, sequence_key, window_factor};

pub use build::IndexBuilder;
pub use format::{FORMAT_VERSION, MAGIC};
pub use overlap::{EntryTokens, LLAMA2_MIN_SPAN, LLAMA2_SKIP_BUDGET, Overlaps};
pub use scan::{DocHit, ScanBatch, ScanOptions, ScanScratch};
pub use spans::unit_char_spans;

/// The default n-gram size of contamination indexes (GPT-3's 13-grams).
pub const DEFAULT_CONTAMINATION_NGRAM: usize = 13;

/// Batches of items with less text than this are fingerprinted on the
/// calling thread.
const PARALLEL_MIN_BYTES: usize = 1 << 16;

/// What happened to one benchmark row offered to [`IndexBuilder::add_items`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ItemStatus {
    /// Indexed as a new entry.
    Indexed = 0,
    /// The field is null (missing) in this row.
    Null = 1,
    /// The text has no tokens.
    Empty = 2,
    /// Fewer tokens than `min_tokens`.
    TooShort = 3,
}

/// One benchmark row to index.
#[derive(Debug, Clone, Copy)]
pub struct ItemRow<'a> {
    /// Id from [`IndexBuilder::benchmark`].
    pub benchmark: u32,
    /// Id from [`IndexBuilder::field`].
    pub field: u32,
    pub item_id: &'a str,
    /// The field's text; `None` when the row has no value for the field.
    pub text: Option<&'a [u8]>,
}

/// Counts that describe an index; kept in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexStats {
    /// Distinct (benchmark, item id) pairs.
    pub items: u64,
    /// N-grams dropped because more than `max_item_frequency` items share them.
    pub excluded_by_frequency: u64,
    /// N-grams dropped because an allowlist text contains them.
    pub excluded_by_allowlist: u64,
    /// Entries all of whose n-grams were excluded (they can never match).
    pub entries_without_ngrams: u64,
    /// The frequency cap the index was built with.
    pub max_item_frequency: Option<u64>,
}

/// Options of [`IndexBuilder::finish`].
#[derive(Debug, Clone, Default)]
pub struct BuildOptions<'a> {
    /// Drop n-grams that occur in more than this many distinct items.
    pub max_item_frequency: Option<u64>,
    /// Texts whose n-grams (or, when shorter than n tokens, whose whole
    /// token sequence) never count as contamination.
    pub allowlist: &'a [&'a str],
    /// Free-form text stored with the index (the Python layer writes JSON).
    pub metadata: String,
}

/// Per-entry columns, shared by the builder and the index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Entries {
    benchmark: Vec<u32>,
    field: Vec<u32>,
    /// Distinct indexed n-grams (the denominator of coverage).
    num_ngrams: Vec<u32>,
    num_tokens: Vec<u32>,
    /// `item_id_data[item_id_offsets[e]..item_id_offsets[e + 1]]`.
    item_id_offsets: Vec<u64>,
    item_id_data: String,
}

impl Entries {
    fn len(&self) -> usize {
        self.benchmark.len()
    }

    fn item_id(&self, entry: usize) -> &str {
        let start = self.item_id_offsets.get(entry).copied().unwrap_or(0) as usize;
        let end = self.item_id_offsets.get(entry + 1).copied().unwrap_or(0) as usize;
        self.item_id_data.get(start..end).unwrap_or("")
    }
}

/// The n-gram fingerprints of a set of benchmarks, ready to scan with.
#[derive(Debug, Clone)]
pub struct NgramIndex {
    spec: ShingleSpec,
    min_tokens: usize,
    benchmarks: Vec<String>,
    fields: Vec<String>,
    entries: Entries,
    /// Sorted, distinct fingerprints.
    keys: Vec<u64>,
    /// `postings[posting_offsets[k]..posting_offsets[k + 1]]`: the entries of `keys[k]`.
    posting_offsets: Vec<u32>,
    postings: Vec<u32>,
    /// Sorted distinct token counts (< ngram) of the entries matched whole.
    short_lengths: Vec<u32>,
    /// Sorted distinct [`crate::text::units::token_hash`]es of the last unit of those entries.
    short_last: Vec<u64>,
    /// The rolling keys of every indexed n-gram (and whole short entry).
    window_filter: KeyFilter,
    stats: IndexStats,
    metadata: String,
    lookup: Lookup,
    /// Derived from the fields above on build and load.
    scan_plan: ScanPlan,
}

/// What a scan derives from the stored index.
#[derive(Debug, Clone)]
struct ScanPlan {
    /// [`window_factor`] of the n-gram size.
    ngram_factor: u64,
    /// [`window_factor`] of each of `short_lengths`.
    short_factors: Vec<u64>,
    short_last: KeyFilter,
}

impl ScanPlan {
    fn new(ngram: usize, short_lengths: &[u32], short_last: &[u64]) -> Self {
        Self {
            ngram_factor: window_factor(ngram),
            short_factors: short_lengths
                .iter()
                .map(|&len| window_factor(len as usize))
                .collect(),
            short_last: KeyFilter::of(short_last),
        }
    }
}

impl PartialEq for NgramIndex {
    fn eq(&self, other: &Self) -> bool {
        // `lookup` is derived from `keys`.
        self.spec == other.spec
            && self.min_tokens == other.min_tokens
            && self.benchmarks == other.benchmarks
            && self.fields == other.fields
            && self.entries == other.entries
            && self.keys == other.keys
            && self.posting_offsets == other.posting_offsets
            && self.postings == other.postings
            && self.short_lengths == other.short_lengths
            && self.short_last == other.short_last
            && self.window_filter == other.window_filter
            && self.stats == other.stats
            && self.metadata == other.metadata
    }
}

impl NgramIndex {
    /// How texts become fingerprints (tokenizer, n, seed).
    pub fn spec(&self) -> ShingleSpec {
        self.spec
    }

    /// Entries with fewer tokens than this were not indexed.
    pub fn min_tokens(&self) -> usize {
        self.min_tokens
    }

    /// Benchmark names, indexed by [`Self::entry_benchmarks`].
    pub fn benchmarks(&self) -> &[String] {
        &self.benchmarks
    }

    /// Field names, indexed by [`Self::entry_fields`].
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    pub fn num_entries(&self) -> usize {
        self.entries.len()
    }

    /// Number of distinct fingerprints.
    pub fn num_ngrams(&self) -> usize {
        self.keys.len()
    }

    /// Number of (fingerprint, entry) pairs.
    pub fn num_postings(&self) -> usize {
        self.postings.len()
    }

    pub fn entry_benchmarks(&self) -> &[u32] {
        &self.entries.benchmark
    }

    pub fn entry_fields(&self) -> &[u32] {
        &self.entries.field
    }

    /// Distinct indexed n-grams per entry: the denominator of coverage.
    pub fn entry_num_ngrams(&self) -> &[u32] {
        &self.entries.num_ngrams
    }

    /// Tokens (units) per entry.
    pub fn entry_num_tokens(&self) -> &[u32] {
        &self.entries.num_tokens
    }

    /// Item id of `entry` (empty for an id out of range).
    pub fn item_id(&self, entry: usize) -> &str {
        self.entries.item_id(entry)
    }

    /// Item ids as one UTF-8 buffer and `num_entries + 1` offsets into it.
    pub fn item_id_buffers(&self) -> (&[u64], &str) {
        (&self.entries.item_id_offsets, &self.entries.item_id_data)
    }

    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    /// The same index with `metadata` in place of its metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: String) -> Self {
        self.metadata = metadata;
        self
    }

    /// The free-form metadata stored at build time.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// The sorted distinct fingerprints.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// Refuse a scan whose tokenizer or n-gram size differs from the
    /// index's (`None` = take the index's).
    ///
    /// # Errors
    /// [`CoreError::IndexMismatch`] naming the setting.
    pub fn check_settings(&self, tokenizer: Option<Tokenizer>, ngram: Option<usize>) -> Result<()> {
        if let Some(tokenizer) = tokenizer {
            refuse_document_rule(tokenizer)?;
        }
        // `auto` and `auto-span` cut the same spans.
        if let Some(tokenizer) =
            tokenizer.filter(|&t| t.for_spans() != self.spec.tokenizer.for_spans())
        {
            return Err(CoreError::IndexMismatch {
                name: "tokenizer",
                index: self.spec.tokenizer.name().to_owned(),
                requested: tokenizer.name().to_owned(),
            });
        }
        if let Some(ngram) = ngram.filter(|&n| n != self.spec.ngram) {
            return Err(CoreError::IndexMismatch {
                name: "ngram",
                index: self.spec.ngram.to_string(),
                requested: ngram.to_string(),
            });
        }
        Ok(())
    }

    /// Whether `hash` is an indexed fingerprint.
    pub fn contains(&self, hash: u64) -> bool {
        self.lookup.find(&self.keys, hash).is_some()
    }

    /// The entries whose fingerprint sets contain `hash` (sorted).
    pub fn entries_of(&self, hash: u64) -> &[u32] {
        self.lookup
            .find(&self.keys, hash)
            .map_or(&[], |k| self.postings_at(k))
    }

    #[inline]
    fn postings_at(&self, key: usize) -> &[u32] {
        let start = self.posting_offsets[key] as usize;
        let end = self.posting_offsets[key + 1] as usize;
        &self.postings[start..end]
    }
}

/// Bitmap prefilter plus bucket table over the sorted keys. Most n-grams of
/// a corpus are not in the index: they cost one probe of a bitmap of 16 bits
/// per key. The rest find their key among the ~1 of its bucket (buckets are
/// the top `64 - shift` bits of the hash, so each holds a run of the sorted
/// keys).
#[derive(Debug, Clone)]
struct Lookup {
    shift: u32,
    bucket_starts: Vec<u32>,
    filter: Vec<u64>,
    filter_mask: u64,
}

impl Lookup {
    fn new(keys: &[u64]) -> Self {
        // ceil(log2(len)), at least 1 bit and at most 32 (keys fit in u32 ids).
        let bits = (usize::BITS - (keys.len().max(2) - 1).leading_zeros()).clamp(1, 32);
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut bucket_starts = vec![0u32; buckets + 1];
        let mut k = 0usize;
        for (bucket, start) in bucket_starts.iter_mut().enumerate().take(buckets) {
            *start = k as u32;
            while k < keys.len() && (keys[k] >> shift) as usize == bucket {
                k += 1;
            }
        }
        bucket_starts[buckets] = k as u32;
        let filter_bits = (keys.len() * 16).next_power_of_two().max(64);
        let mut filter = vec![0u64; filter_bits / 64];
        let filter_mask = filter_bits as u64 - 1;
        for &key in keys {
            let bit = key & filter_mask;
            filter[(bit >> 6) as usize] |= 1 << (bit & 63);
        }
        Self {
            shift,
            bucket_starts,
            filter,
            filter_mask,
        }
    }

    /// The prefilter alone: false means `hash` is not a key.
    #[inline]
    fn may_contain(&self, hash: u64) -> bool {
        let bit = hash & self.filter_mask;
        self.filter[(bit >> 6) as usize] & (1 << (bit & 63)) != 0
    }

    #[inline]
    fn find(&self, keys: &[u64], hash: u64) -> Option<usize> {
        if !self.may_contain(hash) {
            return None;
        }
        Self::find_in(keys, self.bucket(hash), hash)
    }

    /// The range of the sorted keys where `hash` would be.
    #[inline]
    fn bucket(&self, hash: u64) -> (u32, u32) {
        let bucket = (hash >> self.shift) as usize;
        (self.bucket_starts[bucket], self.bucket_starts[bucket + 1])
    }

    /// The index of `hash` in `keys`, given its [`Lookup::bucket`].
    #[inline]
    fn find_in(keys: &[u64], (start, end): (u32, u32), hash: u64) -> Option<usize> {
        let start = start as usize;
        keys[start..end as usize]
            .iter()
            .position(|&k| k == hash)
            .map(|p| start + p)
    }
}

/// Refuse `auto-document` for span matching: its units depend on the whole
/// document, so a benchmark item quoted in a page would not cut as the item
/// does on its own (`auto` uses `auto-span` here).
///
/// # Errors
/// [`CoreError::InvalidParameter`] for `auto-document`.
pub(crate) fn refuse_document_rule(tokenizer: Tokenizer) -> Result<()> {
    if tokenizer == Tokenizer::AutoDocument {
        return Err(CoreError::param(
            "tokenizer",
            "\"auto-document\" cuts whole documents and cannot match spans: the contamination \
             index and scan take \"auto\" (which cuts spans as \"auto-span\") or \"auto-span\"",
        ));
    }
    Ok(())
}

/// The fingerprint of one entry text.
struct Fingerprint {
    status: ItemStatus,
    /// Sorted distinct (XXH3 hash, rolling key) of its n-grams.
    hashes: Vec<(u64, u64)>,
    num_tokens: usize,
    /// Token hash of the last unit, for entries matched whole.
    last_unit: Option<u64>,
}

fn fingerprint(spec: ShingleSpec, min_tokens: usize, text: &str, units: &mut Units) -> Fingerprint {
    units.fill(spec.tokenizer.for_spans(), text);
    let (starts, gap, token_hashes) = (&units.starts, units.gap, &units.hashes);
    let bytes = units.bytes();
    let units = units.count();
    let status = if units == 0 {
        ItemStatus::Empty
    } else if units < min_tokens {
        ItemStatus::TooShort
    } else {
        ItemStatus::Indexed
    };
    if status != ItemStatus::Indexed {
        return Fingerprint {
            status,
            hashes: Vec::new(),
            num_tokens: units,
            last_unit: None,
        };
    }
    let n = spec.ngram;
    let (hashes, last_unit) = if units >= n {
        let mut hashes: Vec<(u64, u64)> = (0..=units - n)
            .map(|p| {
                (
                    xxh3_64_with_seed(&bytes[starts[p]..starts[p + n] - gap], spec.seed),
                    sequence_key(&token_hashes[p..p + n]),
                )
            })
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        (hashes, None)
    } else {
        (
            vec![(
                xxh3_64_with_seed(bytes, spec.seed),
                sequence_key(token_hashes),
            )],
            token_hashes.last().copied(),
        )
    };
    Fingerprint {
        status,
        hashes,
        num_tokens: units,
        last_unit,
    }
}

#[cfg(test)]
mod tests;
