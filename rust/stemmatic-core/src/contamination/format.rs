//! The on-disk form of an [`NgramIndex`]: one little-endian file.
//!
//! ```text
//! magic "STMNGIDX" | format version u32
//! tokenizer (str) | ngram u64 | seed u64 | min_tokens u64 | max_item_frequency u64 (u64::MAX = none)
//! items u64 | excluded_by_frequency u64 | excluded_by_allowlist u64 | entries_without_ngrams u64
//! benchmarks (u64 count, str each) | fields (same) | metadata (str)
//! keys [u64] | posting_offsets [u32] | postings [u32]
//! entry_benchmark [u32] | entry_field [u32] | entry_num_ngrams [u32] | entry_num_tokens [u32]
//! item_id_offsets [u64] | item_id_data (str)
//! short_lengths [u32] | short_last [u64] | window_filter [u64]
//! checksum u64: XXH3-64 (seed 0) of every byte before it
//! ```
//!
//! A `str` is a u64 byte length then UTF-8; an array is a u64 element count
//! then the elements. Loading reads the file with one `read` and decodes the
//! arrays into vectors (the file is a few bytes per benchmark token), then
//! checks every invariant the scanner relies on, so a damaged or hostile
//! file is an error, never a panic.
//!
//! `short_last` and `window_filter` hold the prefilter's token hashes and
//! rolling keys ([`super::prefilter`]): the format version names their
//! definition too. Version 2 added them (version 1 had `short_first`, XXH3
//! hashes of the first unit, and no bitset); version 3 sets bit 5 of every
//! byte in the token hash (so raw ASCII hashes like its lowercase) and sets
//! four bits per key in the window filter, one of a fixed table of patterns
//! (version 2: one bit). An index of
//! another version is refused and must be rebuilt.

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use super::prefilter::KeyFilter;
use super::{Entries, IndexStats, Lookup, NgramIndex, ScanPlan};
use crate::error::{CoreError, Result};
use crate::shingle::ShingleSpec;
use crate::text::Tokenizer;

/// The first bytes of every index file.
pub const MAGIC: [u8; 8] = *b"STMNGIDX";
/// The layout version this build writes and reads.
pub const FORMAT_VERSION: u32 = 3;

fn format_error(reason: impl Into<String>) -> CoreError {
    CoreError::IndexFormat {
        reason: reason.into(),
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn str(&mut self, value: &str) {
        self.u64(value.len() as u64);
        self.0.extend_from_slice(value.as_bytes());
    }
    fn strs(&mut self, values: &[String]) {
        self.u64(values.len() as u64);
        for value in values {
            self.str(value);
        }
    }
    fn u32s(&mut self, values: &[u32]) {
        self.u64(values.len() as u64);
        self.0.reserve(values.len() * 4);
        for v in values {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
    fn u64s(&mut self, values: &[u64]) {
        self.u64(values.len() as u64);
        self.0.reserve(values.len() * 8);
        for v in values {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| format_error("the file is truncated"))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }
    fn u32(&mut self) -> Result<u32> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(raw))
    }
    fn u64(&mut self) -> Result<u64> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }
    /// An element count, checked against the bytes left.
    fn count(&mut self, element_size: usize) -> Result<usize> {
        let count = self.u64()?;
        usize::try_from(count)
            .ok()
            .filter(|&c| {
                c.checked_mul(element_size)
                    .is_some_and(|b| b <= self.data.len() - self.pos)
            })
            .ok_or_else(|| format_error("the file is truncated"))
    }
    fn str(&mut self) -> Result<String> {
        let len = self.count(1)?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format_error("a name is not UTF-8"))
    }
    fn strs(&mut self) -> Result<Vec<String>> {
        let count = self.count(8)?;
        (0..count).map(|_| self.str()).collect()
    }
    fn u32s(&mut self) -> Result<Vec<u32>> {
        let count = self.count(4)?;
        Ok(self
            .take(count * 4)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn u64s(&mut self) -> Result<Vec<u64>> {
        let count = self.count(8)?;
        Ok(self
            .take(count * 8)?
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }
}

impl NgramIndex {
    /// The index as the bytes of its file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let capacity = 256
            + self.keys.len() * 12
            + self.postings.len() * 4
            + self.entries.len() * 24
            + self.entries.item_id_data.len()
            + self.window_filter.words().len() * 8
            + self.metadata.len();
        let mut w = Writer(Vec::with_capacity(capacity));
        w.0.extend_from_slice(&MAGIC);
        w.u32(FORMAT_VERSION);
        w.str(self.spec.tokenizer.name());
        w.u64(self.spec.ngram as u64);
        w.u64(self.spec.seed);
        w.u64(self.min_tokens as u64);
        w.u64(self.stats.max_item_frequency.unwrap_or(u64::MAX));
        w.u64(self.stats.items);
        w.u64(self.stats.excluded_by_frequency);
        w.u64(self.stats.excluded_by_allowlist);
        w.u64(self.stats.entries_without_ngrams);
        w.strs(&self.benchmarks);
        w.strs(&self.fields);
        w.str(&self.metadata);
        w.u64s(&self.keys);
        w.u32s(&self.posting_offsets);
        w.u32s(&self.postings);
        w.u32s(&self.entries.benchmark);
        w.u32s(&self.entries.field);
        w.u32s(&self.entries.num_ngrams);
        w.u32s(&self.entries.num_tokens);
        w.u64s(&self.entries.item_id_offsets);
        w.str(&self.entries.item_id_data);
        w.u32s(&self.short_lengths);
        w.u64s(&self.short_last);
        w.u64s(self.window_filter.words());
        let checksum = xxh3_64(&w.0);
        w.u64(checksum);
        w.0
    }

    /// Decode an index from the bytes of its file.
    ///
    /// # Errors
    /// [`CoreError::IndexFormat`] for bytes that are not an index or are
    /// damaged; [`CoreError::IndexVersion`] for an index written in another
    /// format version.
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        if data.len() < MAGIC.len() + 4 || data[..MAGIC.len()] != MAGIC {
            return Err(format_error(
                "the file does not start with the index magic bytes (is it a stemmatic contamination index?)",
            ));
        }
        let mut r = Reader {
            data,
            pos: MAGIC.len(),
        };
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(CoreError::IndexVersion {
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        if data.len() < r.pos + 8 {
            return Err(format_error("the file is truncated"));
        }
        let (body, trailer) = data.split_at(data.len() - 8);
        let mut stored = [0u8; 8];
        stored.copy_from_slice(trailer);
        if xxh3_64(body) != u64::from_le_bytes(stored) {
            return Err(format_error(
                "checksum mismatch: the file is damaged or truncated",
            ));
        }
        let mut r = Reader {
            data: body,
            pos: r.pos,
        };
        let tokenizer: Tokenizer = r
            .str()?
            .parse()
            .map_err(|_| format_error("unknown tokenizer"))?;
        let ngram = usize::try_from(r.u64()?).map_err(|_| format_error("ngram out of range"))?;
        let seed = r.u64()?;
        let spec =
            ShingleSpec::new(tokenizer, ngram, seed).map_err(|_| format_error("ngram is 0"))?;
        let min_tokens =
            usize::try_from(r.u64()?).map_err(|_| format_error("min_tokens out of range"))?;
        let max_item_frequency = Some(r.u64()?).filter(|&v| v != u64::MAX);
        let stats = IndexStats {
            items: r.u64()?,
            excluded_by_frequency: r.u64()?,
            excluded_by_allowlist: r.u64()?,
            entries_without_ngrams: r.u64()?,
            max_item_frequency,
        };
        let benchmarks = r.strs()?;
        let fields = r.strs()?;
        let metadata = r.str()?;
        let keys = r.u64s()?;
        let posting_offsets = r.u32s()?;
        let postings = r.u32s()?;
        let entries = Entries {
            benchmark: r.u32s()?,
            field: r.u32s()?,
            num_ngrams: r.u32s()?,
            num_tokens: r.u32s()?,
            item_id_offsets: r.u64s()?,
            item_id_data: r.str()?,
        };
        let short_lengths = r.u32s()?;
        let short_last = r.u64s()?;
        let window_filter = KeyFilter::from_words(r.u64s()?)
            .ok_or_else(|| format_error("inconsistent index: window filter size"))?;
        if r.pos != body.len() {
            return Err(format_error("unexpected bytes after the last section"));
        }
        let index = NgramIndex {
            spec,
            min_tokens,
            benchmarks,
            fields,
            entries,
            lookup: Lookup::new(&[]),
            keys,
            posting_offsets,
            postings,
            scan_plan: ScanPlan::new(spec.ngram, &[], &[]),
            short_lengths,
            short_last,
            window_filter,
            stats,
            metadata,
        };
        index.validate()?;
        Ok(NgramIndex {
            lookup: Lookup::new(&index.keys),
            scan_plan: ScanPlan::new(index.spec.ngram, &index.short_lengths, &index.short_last),
            ..index
        })
    }

    /// Check every invariant that lookups and scans index by.
    fn validate(&self) -> Result<()> {
        let entries = self.entries.len();
        let bad = |what: &str| Err(format_error(format!("inconsistent index: {what}")));
        if self.min_tokens == 0 {
            return bad("min_tokens is 0");
        }
        if u32::try_from(self.keys.len()).is_err() || u32::try_from(entries).is_err() {
            return bad("too many n-grams or entries");
        }
        if !self.keys.windows(2).all(|w| w[0] < w[1]) {
            return bad("n-grams are not sorted");
        }
        let offsets = &self.posting_offsets;
        if offsets.len() != self.keys.len() + 1
            || offsets.first() != Some(&0)
            || offsets.last().map(|&o| o as usize) != Some(self.postings.len())
            || !offsets.windows(2).all(|w| w[0] < w[1])
        {
            return bad("posting offsets");
        }
        if self.postings.iter().any(|&e| e as usize >= entries) {
            return bad("posting names an unknown entry");
        }
        let e = &self.entries;
        if e.field.len() != entries
            || e.num_ngrams.len() != entries
            || e.num_tokens.len() != entries
            || e.item_id_offsets.len() != entries + 1
        {
            return bad("entry columns differ in length");
        }
        if e.benchmark
            .iter()
            .any(|&b| b as usize >= self.benchmarks.len())
            || e.field.iter().any(|&f| f as usize >= self.fields.len())
        {
            return bad("entry names an unknown benchmark or field");
        }
        if e.item_id_offsets.first() != Some(&0)
            || e.item_id_offsets.last().map(|&o| o as usize) != Some(e.item_id_data.len())
            || !e.item_id_offsets.windows(2).all(|w| w[0] <= w[1])
            || !e
                .item_id_offsets
                .iter()
                .all(|&o| e.item_id_data.is_char_boundary(o as usize))
        {
            return bad("item id offsets");
        }
        if !self.short_lengths.windows(2).all(|w| w[0] < w[1])
            || self
                .short_lengths
                .iter()
                .any(|&l| l == 0 || l as usize >= self.spec.ngram)
            || !self.short_last.windows(2).all(|w| w[0] < w[1])
        {
            return bad("short entries");
        }
        Ok(())
    }

    /// Write the index to `path` (through a temporary file renamed into
    /// place, so a crash leaves no half-written index).
    ///
    /// # Errors
    /// [`CoreError::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io_error = |err: std::io::Error| CoreError::Io {
            path: path.display().to_string(),
            reason: err.to_string(),
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.to_bytes()).map_err(io_error)?;
        std::fs::rename(&tmp, path).map_err(io_error)
    }

    /// Read an index written by [`Self::save`].
    ///
    /// # Errors
    /// [`CoreError::Io`] when the file cannot be read; the errors of
    /// [`Self::from_bytes`], prefixed with the path.
    pub fn load(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|err| CoreError::Io {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        Self::from_bytes(&data).map_err(|err| match err {
            CoreError::IndexFormat { reason } => CoreError::IndexFormat {
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }
}
