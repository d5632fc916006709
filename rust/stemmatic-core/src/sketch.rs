//! One fused pass over a batch of texts: everything near-duplicate detection
//! needs of a row, from one tokenization.
//!
//! Per row, the text is cut into its normalized units once
//! ([`ShingleSpec`]'s one-pass tokenizer), and from those units and their
//! shingle hashes come:
//!
//! * the MinHash signature (Broder 1997) and the shingle count and
//!   [`RowStatus`], exactly as [`MinHasher::batch`] gives them;
//! * the LSH band keys of the signature (Leskovec, Rajaraman & Ullman,
//!   "Mining of Massive Datasets", ch. 3), exactly as [`lsh::band_keys`];
//! * with `exact`, the exact-duplicate key: XXH3-128 of the normalized text,
//!   which *is* the units' bytes, so it equals [`exact_keys_batch`] bit for bit
//!   without normalizing the text a second time;
//! * with `keep_sets`, the sorted distinct shingle hashes (for exact
//!   verification), as [`MinHasher::batch_with_sets`], in the chunks the
//!   workers wrote them to ([`SetChunk`]; joined only when asked);
//! * the text's byte length, and for the first `length_rows` rows the token
//!   lengths of [`token_lengths_batch`] (the check for a tokenizer that does
//!   not fit the text).
//!
//! Rows are split across workers by bytes ([`ranges_by_bytes`]), each task
//! writing its own rows' slots, so the result never depends on the number of
//! workers.
//!
//! [`exact_keys_batch`]: crate::shingle::exact_keys_batch
//! [`token_lengths_batch`]: crate::shingle::token_lengths_batch

use std::ops::Range;

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::error::Result;
use crate::lsh::{self, bytes::AsLeBytes};
use crate::minhash::{MinHasher, OnInvalid, RowStatus, SigValue, first_invalid_row};
use crate::parallel::{ranges_by_bytes, run_in_pool, split_by_ranges};
use crate::sets::{SortScratch, sort_dedup};
use crate::shingle::{FlatSets, ShingleSpec};
use crate::text::units::Units;

/// What a [`Sketcher`] computes besides signatures, band keys and lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SketchOptions {
    /// Bands of the LSH banding.
    pub bands: usize,
    /// Signature values per band.
    pub rows: usize,
    /// Compute the exact-duplicate key of every row.
    pub exact: bool,
    /// Keep every row's sorted distinct shingle hashes.
    pub keep_sets: bool,
    /// Keep the signatures (else each row's is made in a reused buffer for
    /// its band keys, and [`Sketch::signatures`] is empty).
    pub keep_signatures: bool,
    /// Token lengths of the first this many rows of each batch.
    pub length_rows: usize,
    /// A token of this many characters or more is long (for the token lengths).
    pub long_chars: usize,
}

/// The fused sketch of one batch; row `i`'s values are at `i` (times the
/// width) in every vector.
#[derive(Debug, Clone)]
pub struct Sketch<T> {
    pub num_perm: usize,
    pub bands: usize,
    /// Row-major `(rows, num_perm)`; empty without `keep_signatures`.
    pub signatures: Vec<T>,
    /// Shingles per row (repeats included).
    pub num_shingles: Vec<u32>,
    pub status: Vec<RowStatus>,
    /// Row-major `(rows, bands)`: the band keys of every row's signature
    /// (of the empty signature for rows without shingles).
    pub band_keys: Vec<u64>,
    /// With `exact`: `(rows, 2)`, `[low, high]` halves of the key (`[0, 0]`
    /// for rows without tokens, null or non-UTF-8 rows).
    pub exact_keys: Option<Vec<u64>>,
    /// With `keep_sets`: the sets (empty for rows that are not
    /// [`RowStatus::Ok`]) of consecutive runs of rows, in row order.
    pub sets: Option<Vec<SetChunk>>,
    /// Bytes of each row's text (0 for null).
    pub lengths: Vec<u64>,
    /// `(min(rows, length_rows), 3)`: `[token characters, characters in long
    /// tokens, longest token]` as [`token_lengths_batch`](crate::shingle::token_lengths_batch).
    pub token_lengths: Vec<u64>,
}

/// The shingle sets of a run of rows, as one worker wrote them: row
/// `first_row + i`'s set is `values[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetChunk {
    pub first_row: usize,
    pub values: Vec<u64>,
    pub offsets: Vec<u64>,
}

impl SetChunk {
    fn new(first_row: usize, values: Vec<u64>, set_lens: &[u64]) -> Self {
        let mut offsets = Vec::with_capacity(set_lens.len() + 1);
        let mut end = 0u64;
        offsets.push(end);
        for &len in set_lens {
            end += len;
            offsets.push(end);
        }
        Self {
            first_row,
            values,
            offsets,
        }
    }

    /// The chunks' sets as one [`FlatSets`] (a copy).
    pub fn join(chunks: &[SetChunk]) -> FlatSets {
        let mut values = Vec::with_capacity(chunks.iter().map(|c| c.values.len()).sum());
        let mut offsets = vec![0u64];
        for chunk in chunks {
            let base = values.len() as u64;
            values.extend_from_slice(&chunk.values);
            offsets.extend(chunk.offsets[1..].iter().map(|&o| o + base));
        }
        (values, offsets)
    }
}

/// Fixed parameters of the fused sketch: a [`MinHasher`] and [`SketchOptions`].
#[derive(Debug, Clone)]
pub struct Sketcher<T: SigValue> {
    hasher: MinHasher<T>,
    options: SketchOptions,
}

impl<T: SigValue + AsLeBytes> Sketcher<T> {
    /// # Errors
    /// `num_perm` out of range (see [`MinHasher::new`]), or a banding that
    /// does not fit the signature.
    pub fn new(spec: ShingleSpec, num_perm: usize, options: SketchOptions) -> Result<Self> {
        let hasher = MinHasher::new(spec, num_perm)?;
        lsh::check_banding(num_perm, options.bands, options.rows)?;
        Ok(Self { hasher, options })
    }

    pub fn hasher(&self) -> &MinHasher<T> {
        &self.hasher
    }

    pub fn options(&self) -> SketchOptions {
        self.options
    }

    /// The sketch of a batch of rows (`None` = null) on `workers` threads.
    ///
    /// # Errors
    /// With [`OnInvalid::Raise`], the first null or non-UTF-8 row (its row
    /// number and first bad byte in the error); a thread pool that cannot be
    /// started.
    pub fn sketch(
        &self,
        rows: &[Option<&[u8]>],
        on_invalid: OnInvalid,
        workers: usize,
    ) -> Result<Sketch<T>> {
        let n = rows.len();
        let num_perm = self.hasher.num_perm();
        let opts = self.options;
        let mut out = Columns {
            signatures: vec![
                T::default();
                if opts.keep_signatures {
                    n * num_perm
                } else {
                    0
                }
            ],
            num_shingles: vec![0u32; n],
            status: vec![RowStatus::Ok; n],
            band_keys: vec![0u64; n * opts.bands],
            exact_keys: vec![0u64; if opts.exact { 2 * n } else { 0 }],
            set_lens: vec![0u64; if opts.keep_sets { n } else { 0 }],
            lengths: vec![0u64; n],
            token_lengths: vec![0u64; 3 * n.min(opts.length_rows)],
        };
        let ranges = ranges_by_bytes(rows, |row| row.map_or(0, <[u8]>::len), workers);
        let tasks = out.split(&ranges, num_perm, opts);
        let chunk_values: Vec<Vec<u64>> = if tasks.len() <= 1 {
            let mut scratch = Scratch::new(num_perm);
            tasks
                .into_iter()
                .map(|task| self.run(rows, task, &mut scratch))
                .collect()
        } else {
            run_in_pool(workers, || {
                tasks
                    .into_par_iter()
                    .map_init(
                        || Scratch::new(num_perm),
                        |scratch, task| self.run(rows, task, scratch),
                    )
                    .collect()
            })?
        };
        if on_invalid == OnInvalid::Raise
            && let Some(err) = first_invalid_row(rows, &out.status)
        {
            return Err(err);
        }
        let sets = opts.keep_sets.then(|| {
            ranges
                .iter()
                .zip(chunk_values)
                .map(|(range, values)| {
                    SetChunk::new(range.start, values, &out.set_lens[range.clone()])
                })
                .collect()
        });
        Ok(Sketch {
            num_perm,
            bands: opts.bands,
            signatures: out.signatures,
            num_shingles: out.num_shingles,
            status: out.status,
            band_keys: out.band_keys,
            exact_keys: opts.exact.then_some(out.exact_keys),
            sets,
            lengths: out.lengths,
            token_lengths: out.token_lengths,
        })
    }

    /// One task: its rows in order, buffers reused from row to row; its sets
    /// go to one vector of its own, returned.
    fn run(&self, rows: &[Option<&[u8]>], task: Task<'_, T>, scratch: &mut Scratch<T>) -> Vec<u64> {
        let opts = self.options;
        let num_perm = self.hasher.num_perm();
        let mut values = Vec::new();
        if opts.keep_sets {
            // Room for the usual number of shingles (under one per 6 bytes of
            // text), as in `MinHasher::batch_with_sets`.
            let bytes: usize = rows[task.range.clone()]
                .iter()
                .map(|row| row.map_or(0, <[u8]>::len))
                .sum();
            values.reserve(bytes / 6);
        }
        let first = task.range.start;
        let band_hashers = lsh::band_hashers(opts.bands);
        for (k, row) in rows[task.range.clone()].iter().enumerate() {
            let signature = if opts.keep_signatures {
                &mut task.signatures[k * num_perm..(k + 1) * num_perm]
            } else {
                scratch.signature.as_mut_slice()
            };
            task.lengths[k] = row.map_or(0, |bytes| bytes.len() as u64);
            let spec = self.hasher.spec();
            let hashes = &mut scratch.hashes;
            hashes.clear();
            let count = match row {
                None => Err(RowStatus::Null),
                Some(bytes) => spec
                    .for_each_row_hash(bytes, &mut scratch.units, |h| hashes.push(h))
                    .ok_or(RowStatus::InvalidUtf8),
            };
            let status = match count {
                Err(status) => {
                    signature.fill(T::EMPTY);
                    status
                }
                Ok(count) => {
                    self.hasher.signature_of_hashes(hashes, signature);
                    task.num_shingles[k] = u32::try_from(count).unwrap_or(u32::MAX);
                    let normalized = scratch.units.bytes();
                    if opts.exact && !normalized.is_empty() {
                        let h = xxh3_128_with_seed(normalized, 0);
                        task.exact_keys[2 * k] = h as u64;
                        task.exact_keys[2 * k + 1] = (h >> 64) as u64;
                    }
                    if first + k < opts.length_rows {
                        task.token_lengths[3 * k..3 * k + 3]
                            .copy_from_slice(&token_lengths_of(&scratch.units, opts.long_chars));
                    }
                    if count == 0 {
                        RowStatus::Empty
                    } else {
                        RowStatus::Ok
                    }
                }
            };
            task.status[k] = status;
            lsh::band_keys_of(
                signature,
                opts.rows,
                &band_hashers,
                &mut scratch.band_buf,
                &mut task.band_keys[k * opts.bands..(k + 1) * opts.bands],
            );
            if opts.keep_sets && status == RowStatus::Ok {
                // The signature is done: the hashes may be reordered.
                sort_dedup(&mut scratch.hashes, &mut scratch.sort);
                values.extend_from_slice(&scratch.hashes);
                task.set_lens[k] = scratch.hashes.len() as u64;
            }
        }
        values
    }
}

/// `[token characters, characters in tokens of at least `long_chars`
/// characters, longest token]` of the units just cut: the values of
/// [`token_lengths_batch`](crate::shingle::token_lengths_batch) for the same text.
fn token_lengths_of(units: &Units, long_chars: usize) -> [u64; 3] {
    let (bytes, gap) = (units.bytes(), units.gap);
    let mut out = [0u64; 3];
    for w in units.starts.windows(2) {
        // Characters are the bytes that are not continuation bytes.
        let chars = bytes[w[0]..w[1] - gap]
            .iter()
            .filter(|&&b| (b as i8) >= -0x40)
            .count() as u64;
        out[0] += chars;
        if chars >= long_chars as u64 {
            out[1] += chars;
        }
        out[2] = out[2].max(chars);
    }
    out
}

/// Reusable buffers of one worker.
#[derive(Debug)]
struct Scratch<T> {
    units: Units,
    hashes: Vec<u64>,
    sort: SortScratch,
    band_buf: Vec<u8>,
    /// The signature of the row at hand, when the signatures are not kept.
    signature: Vec<T>,
}

impl<T: SigValue> Scratch<T> {
    fn new(num_perm: usize) -> Self {
        Self {
            units: Units::default(),
            hashes: Vec::new(),
            sort: SortScratch::default(),
            band_buf: Vec::new(),
            signature: vec![T::default(); num_perm],
        }
    }
}

/// The output vectors of a batch, before they are handed out.
struct Columns<T> {
    signatures: Vec<T>,
    num_shingles: Vec<u32>,
    status: Vec<RowStatus>,
    band_keys: Vec<u64>,
    exact_keys: Vec<u64>,
    set_lens: Vec<u64>,
    lengths: Vec<u64>,
    token_lengths: Vec<u64>,
}

/// One parallel task: its rows and the slices of every output they write.
struct Task<'a, T> {
    range: Range<usize>,
    signatures: &'a mut [T],
    num_shingles: &'a mut [u32],
    status: &'a mut [RowStatus],
    band_keys: &'a mut [u64],
    exact_keys: &'a mut [u64],
    set_lens: &'a mut [u64],
    lengths: &'a mut [u64],
    token_lengths: &'a mut [u64],
}

impl<T> Columns<T> {
    /// The slices of each range (empty where an output is off; the token
    /// lengths cover only the rows below `length_rows`).
    fn split<'a>(
        &'a mut self,
        ranges: &[Range<usize>],
        num_perm: usize,
        opts: SketchOptions,
    ) -> Vec<Task<'a, T>> {
        let n = self.status.len();
        let measured = n.min(opts.length_rows);
        let clipped: Vec<Range<usize>> = ranges
            .iter()
            .map(|r| r.start.min(measured)..r.end.min(measured))
            .collect();
        let signature_width = if opts.keep_signatures { num_perm } else { 0 };
        let mut signatures =
            split_by_ranges(&mut self.signatures, ranges, signature_width).into_iter();
        let mut num_shingles = split_by_ranges(&mut self.num_shingles, ranges, 1).into_iter();
        let mut status = split_by_ranges(&mut self.status, ranges, 1).into_iter();
        let mut band_keys = split_by_ranges(&mut self.band_keys, ranges, opts.bands).into_iter();
        let mut exact_keys =
            split_by_ranges(&mut self.exact_keys, ranges, if opts.exact { 2 } else { 0 })
                .into_iter();
        let mut set_lens =
            split_by_ranges(&mut self.set_lens, ranges, usize::from(opts.keep_sets)).into_iter();
        let mut lengths = split_by_ranges(&mut self.lengths, ranges, 1).into_iter();
        let mut token_lengths = split_by_ranges(&mut self.token_lengths, &clipped, 3).into_iter();
        ranges
            .iter()
            .map(|range| Task {
                range: range.clone(),
                signatures: signatures.next().unwrap_or_default(),
                num_shingles: num_shingles.next().unwrap_or_default(),
                status: status.next().unwrap_or_default(),
                band_keys: band_keys.next().unwrap_or_default(),
                exact_keys: exact_keys.next().unwrap_or_default(),
                set_lens: set_lens.next().unwrap_or_default(),
                lengths: lengths.next().unwrap_or_default(),
                token_lengths: token_lengths.next().unwrap_or_default(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::CoreError;
    use crate::shingle::{exact_keys_batch, token_lengths_batch};
    use crate::text::Tokenizer;

    const TOKENIZERS: [Tokenizer; 4] = [
        Tokenizer::Auto,
        Tokenizer::Words,
        Tokenizer::Whitespace,
        Tokenizer::Chars,
    ];

    fn options(exact: bool, keep_sets: bool) -> SketchOptions {
        SketchOptions {
            bands: 4,
            rows: 3,
            exact,
            keep_sets,
            keep_signatures: true,
            length_rows: 5,
            long_chars: 4,
        }
    }

    /// The fused sketch equals the separate batch functions, field by field.
    fn check_equal_to_separate_calls<T: SigValue + AsLeBytes + std::fmt::Debug>(
        texts: &[Option<Vec<u8>>],
        tokenizer: Tokenizer,
        workers: usize,
    ) {
        let rows: Vec<Option<&[u8]>> = texts.iter().map(Option::as_deref).collect();
        let spec = ShingleSpec::new(tokenizer, 2, 7).unwrap();
        let sketcher = Sketcher::<T>::new(spec, 16, options(true, true)).unwrap();
        let got = sketcher.sketch(&rows, OnInvalid::Skip, workers).unwrap();
        let (batch, sets) = sketcher
            .hasher()
            .batch_with_sets(&rows, OnInvalid::Skip, workers, true)
            .unwrap();
        assert_eq!(got.signatures, batch.signatures);
        assert_eq!(got.num_shingles, batch.num_shingles);
        assert_eq!(got.status, batch.status);
        let chunks = got.sets.as_deref().unwrap();
        assert_eq!(Some(SetChunk::join(chunks)), sets);
        let mut next = 0;
        for chunk in chunks {
            assert_eq!(chunk.first_row, next);
            next += chunk.offsets.len() - 1;
        }
        assert_eq!(next, rows.len());
        let keys = lsh::band_keys(&batch.signatures, 16, 4, 3, workers).unwrap();
        assert_eq!(got.band_keys, keys);
        let exact: Vec<u64> = exact_keys_batch(tokenizer, &rows, workers)
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(got.exact_keys, Some(exact));
        let lengths: Vec<u64> = rows
            .iter()
            .map(|r| r.map_or(0, |b| b.len() as u64))
            .collect();
        assert_eq!(got.lengths, lengths);
        let head = &rows[..rows.len().min(5)];
        let token_lengths: Vec<u64> = token_lengths_batch(tokenizer, head, 4)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(got.token_lengths, token_lengths);
        // Without the signatures kept: the same band keys (and the rest).
        let mut opts = options(true, true);
        opts.keep_signatures = false;
        let sketcher = Sketcher::<T>::new(spec, 16, opts).unwrap();
        let lean = sketcher.sketch(&rows, OnInvalid::Skip, workers).unwrap();
        assert!(lean.signatures.is_empty());
        assert_eq!(lean.band_keys, got.band_keys);
        assert_eq!(lean.status, got.status);
        assert_eq!(lean.sets, got.sets);
    }

    fn text_strategy() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![
            8 => "(\\PC|\\s|Σ|ς|İ|中文|ๆ){0,60}".prop_map(|s| Some(s.into_bytes())),
            1 => Just(None),
            1 => Just(Some(vec![b'a', 0xff, b' ', b'b'])),
        ]
    }

    proptest! {
        #[test]
        fn fused_equals_separate_calls(
            texts in prop::collection::vec(text_strategy(), 0..40),
            tokenizer in prop::sample::select(TOKENIZERS.to_vec()),
        ) {
            check_equal_to_separate_calls::<u32>(&texts, tokenizer, 1);
            check_equal_to_separate_calls::<u64>(&texts, tokenizer, 1);
        }
    }

    #[test]
    fn fused_equals_separate_calls_on_many_workers() {
        // Enough text for several tasks per worker.
        let texts: Vec<Option<Vec<u8>>> = (0..4000)
            .map(|i| match i % 97 {
                0 => None,
                1 => Some(vec![0xc3, b'x']),
                _ => Some(
                    format!(
                        "Row {i} has words, ÄÖÜ {} and {}",
                        i % 13,
                        "abc ".repeat(i % 40)
                    )
                    .into_bytes(),
                ),
            })
            .collect();
        for tokenizer in TOKENIZERS {
            check_equal_to_separate_calls::<u32>(&texts, tokenizer, 3);
        }
    }

    #[test]
    fn options_off_leave_their_outputs_out() {
        let spec = ShingleSpec::new(Tokenizer::Words, 2, 1).unwrap();
        let mut opts = options(false, false);
        opts.length_rows = 0;
        let sketcher = Sketcher::<u32>::new(spec, 16, opts).unwrap();
        let got = sketcher
            .sketch(&[Some(b"a b c".as_slice()), None], OnInvalid::Skip, 1)
            .unwrap();
        assert!(got.exact_keys.is_none() && got.sets.is_none() && got.token_lengths.is_empty());
        assert_eq!(got.band_keys.len(), 2 * 4);
        assert_eq!(got.status, [RowStatus::Ok, RowStatus::Null]);
    }

    #[test]
    fn invalid_rows_raise_with_row_and_byte() {
        let spec = ShingleSpec::new(Tokenizer::Words, 2, 1).unwrap();
        let sketcher = Sketcher::<u32>::new(spec, 16, options(true, true)).unwrap();
        let rows = [Some(b"ok".as_slice()), Some(b"ab\xffc".as_slice())];
        let err = sketcher.sketch(&rows, OnInvalid::Raise, 1).unwrap_err();
        assert!(matches!(err, CoreError::InvalidUtf8 { row: 1, byte: 2 }));
        let err = sketcher.sketch(&[None], OnInvalid::Raise, 1).unwrap_err();
        assert!(matches!(err, CoreError::NullText { row: 0 }));
    }

    #[test]
    fn banding_is_checked() {
        let spec = ShingleSpec::new(Tokenizer::Words, 2, 1).unwrap();
        let mut opts = options(false, false);
        opts.bands = 9;
        assert!(Sketcher::<u32>::new(spec, 16, opts).is_err());
    }
}
