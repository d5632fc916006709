//! MinHash signatures (Broder 1997, "On the resemblance and containment of
//! documents"): for each of `num_perm` seeded hash permutations, the minimum
//! over a document's shingle hashes. Two documents agree in one position with
//! probability equal to the Jaccard similarity of their shingle sets.
//!
//! Permutation `i` of a 64-bit shingle hash `x` is a seeded multiplicative
//! bijection. With `r_0, r_1, ...` the outputs of SplitMix64 seeded with
//! `seed ^ 0x5851_F42D_4C95_7F2D`, let `s_i = r_{2i}` and `m_i = r_{2i+1} | 1`:
//!
//! * 32-bit values (default): `((lo32(x) ^ hi32(x)) ^ lo32(s_i)) * lo32(m_i) mod 2^32`
//! * 64-bit values: `(x ^ s_i) * m_i mod 2^64`
//!
//! Because `x` is already a uniform XXH3 output, one xor and one multiply by a
//! random odd constant per permutation give estimates with binomial variance
//! (checked by the property tests here and in the Python suite) at half the
//! cost of a full finalizer: eight 32-bit lanes per AVX2 multiply, sixteen per
//! AVX-512 one (chosen once by [`crate::simd`]; every kernel gives the same values). A document
//! without shingles gets [`SigValue::EMPTY`] (all bits set) in every position.
//! Signatures depend only on the text, the parameters and the seed: never on
//! the batch, its order, or the number of workers.

use rayon::prelude::*;

use crate::error::{CoreError, Result};
use std::mem::MaybeUninit;
use std::ops::Range;

use crate::parallel::{init_with, ranges_by_bytes, run_in_pool, split_by_ranges};
use crate::sets::{SortScratch, sort_dedup};
use crate::shingle::{FlatSets, ShingleSpec};
use crate::simd::{self, Kernel};

/// Default number of permutations.
pub const DEFAULT_NUM_PERM: usize = 128;
/// The most permutations a signature may have: 8,192 is far beyond what
/// dedup needs (128–450 in the literature) and keeps one signature at 64 KiB.
pub const MAX_NUM_PERM: usize = 8192;

/// A signature value type: `u32` (default) or `u64`.
pub trait SigValue: Copy + Ord + Default + Send + Sync + 'static {
    /// The value of every position of an empty document's signature.
    const EMPTY: Self;
    /// Width in bits.
    const BITS: u32;
    /// The per-permutation seed taken from one SplitMix64 output.
    fn perm_seed(raw: u64) -> Self;
    /// The input of the permutations for one shingle hash.
    fn fold(shingle: u64) -> Self;
    /// Permutation keyed by `seed` and the odd `mult`, applied to a folded shingle hash.
    fn permute(folded: Self, seed: Self, mult: Self) -> Self;
}

impl SigValue for u32 {
    const EMPTY: Self = u32::MAX;
    const BITS: u32 = 32;
    #[inline(always)]
    fn perm_seed(raw: u64) -> Self {
        raw as u32
    }
    #[inline(always)]
    fn fold(shingle: u64) -> Self {
        (shingle ^ (shingle >> 32)) as u32
    }
    #[inline(always)]
    fn permute(folded: Self, seed: Self, mult: Self) -> Self {
        (folded ^ seed).wrapping_mul(mult)
    }
}

impl SigValue for u64 {
    const EMPTY: Self = u64::MAX;
    const BITS: u32 = 64;
    #[inline(always)]
    fn perm_seed(raw: u64) -> Self {
        raw
    }
    #[inline(always)]
    fn fold(shingle: u64) -> Self {
        shingle
    }
    #[inline(always)]
    fn permute(folded: Self, seed: Self, mult: Self) -> Self {
        (folded ^ seed).wrapping_mul(mult)
    }
}

/// SplitMix64 (Steele et al. 2014): the stream that seeds the permutations.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next output; a `const fn`, for tables built at compile time.
    pub const fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Iterator for SplitMix64 {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        Some(self.next_u64())
    }
}

/// What to do with a null or non-UTF-8 row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    /// Fail with an error naming the first such row.
    Raise,
    /// Give it the empty signature and mark it in [`RowStatus`].
    Skip,
}

/// What happened to one row of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RowStatus {
    /// Hashed; at least one shingle.
    Ok = 0,
    /// Valid text without any token: empty signature.
    Empty = 1,
    /// Null row, skipped.
    Null = 2,
    /// Not UTF-8, skipped.
    InvalidUtf8 = 3,
}

/// Signatures of a batch, row-major `(rows, num_perm)`.
#[derive(Debug, Clone)]
pub struct SignatureBatch<T> {
    pub num_perm: usize,
    pub signatures: Vec<T>,
    /// Number of shingles per row (repeats included).
    pub num_shingles: Vec<u32>,
    pub status: Vec<RowStatus>,
}

/// Computes MinHash signatures with fixed parameters.
#[derive(Debug, Clone)]
pub struct MinHasher<T: SigValue> {
    spec: ShingleSpec,
    seeds: Vec<T>,
    mults: Vec<T>,
}

impl<T: SigValue> MinHasher<T> {
    /// # Errors
    /// `num_perm` is zero.
    pub fn new(spec: ShingleSpec, num_perm: usize) -> Result<Self> {
        if !(1..=MAX_NUM_PERM).contains(&num_perm) {
            return Err(CoreError::param(
                "num_perm",
                format!("{num_perm}: must be between 1 and {MAX_NUM_PERM}"),
            ));
        }
        let stream: Vec<u64> = SplitMix64::new(spec.seed ^ 0x5851_F42D_4C95_7F2D)
            .take(2 * num_perm)
            .collect();
        let seeds = stream.iter().step_by(2).map(|&r| T::perm_seed(r)).collect();
        let mults = stream
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&r| T::perm_seed(r | 1))
            .collect();
        Ok(Self { spec, seeds, mults })
    }

    pub fn spec(&self) -> &ShingleSpec {
        &self.spec
    }

    pub fn num_perm(&self) -> usize {
        self.seeds.len()
    }

    /// Write the signature of `text` into `out` (length `num_perm`) and return
    /// its number of shingles. `scratch` is reused between calls.
    pub fn signature_into(&self, text: &str, scratch: &mut Scratch, out: &mut [T]) -> usize {
        debug_assert_eq!(out.len(), self.seeds.len());
        let hashes = &mut scratch.hashes;
        hashes.clear();
        let count = self
            .spec
            .for_each_hash_fast(text, &mut scratch.units, |h| hashes.push(h));
        self.signature_of_hashes(hashes, out);
        count
    }

    /// The signature of `text` as a new vector.
    pub fn signature(&self, text: &str) -> Vec<T> {
        let mut out = vec![T::EMPTY; self.seeds.len()];
        self.signature_into(text, &mut Scratch::default(), &mut out);
        out
    }

    /// Minima over shingle hashes, written to `out`.
    pub(crate) fn signature_of_hashes(&self, hashes: &[u64], out: &mut [T]) {
        match simd::kernel() {
            // SAFETY: `simd::kernel` is one the CPU supports: `Avx512` has
            // every feature `min_kernel_avx512` is compiled for.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { min_kernel_avx512(&self.seeds, &self.mults, hashes, out) },
            // SAFETY: as above, `Avx2` is AVX2.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { min_kernel_avx2(&self.seeds, &self.mults, hashes, out) },
            _ => min_kernel::<T, LANES>(&self.seeds, &self.mults, hashes, out),
        }
    }

    /// Signatures of a batch of rows (`None` = null), on `workers` threads.
    /// The result is the same for every number of workers.
    ///
    /// # Errors
    /// With [`OnInvalid::Raise`], the first null or non-UTF-8 row; a thread
    /// pool that cannot be started.
    pub fn batch(
        &self,
        rows: &[Option<&[u8]>],
        on_invalid: OnInvalid,
        workers: usize,
    ) -> Result<SignatureBatch<T>> {
        Ok(self.batch_with_sets(rows, on_invalid, workers, false)?.0)
    }

    /// Like [`MinHasher::batch`], and with `keep_sets` also each row's sorted,
    /// distinct shingle hashes, flattened as `(values, offsets)` (row `i` is
    /// `values[offsets[i]..offsets[i + 1]]`) -- from the same tokenization
    /// pass, for exact verification later without reading the text again.
    ///
    /// # Errors
    /// As [`MinHasher::batch`].
    pub fn batch_with_sets(
        &self,
        rows: &[Option<&[u8]>],
        on_invalid: OnInvalid,
        workers: usize,
        keep_sets: bool,
    ) -> Result<(SignatureBatch<T>, Option<FlatSets>)> {
        let num_perm = self.seeds.len();
        // The matrix is left unwritten here: each task's worker writes its own
        // rows (`init_with`, then the row's signature), so no thread fills the
        // whole matrix first (calloc does, serially, when it reuses freed
        // memory: a batch's matrix is tens of MB).
        let cells = rows.len() * num_perm;
        let mut signatures: Vec<T> = Vec::with_capacity(cells);
        let mut num_shingles = vec![0u32; rows.len()];
        let mut status = vec![RowStatus::Ok; rows.len()];
        let mut set_lens = vec![0u64; if keep_sets { rows.len() } else { 0 }];
        let ranges = ranges_by_bytes(rows, |row| row.map_or(0, <[u8]>::len), workers);
        let set_width = usize::from(keep_sets);
        let tasks: Vec<_> = ranges
            .iter()
            .cloned()
            .zip(split_by_ranges(
                &mut signatures.spare_capacity_mut()[..cells],
                &ranges,
                num_perm,
            ))
            .zip(split_by_ranges(&mut num_shingles, &ranges, 1))
            .zip(split_by_ranges(&mut status, &ranges, 1))
            .zip(split_by_ranges(&mut set_lens, &ranges, set_width))
            .collect();
        // One task: a run of rows, its buffers reused from row to row; its
        // sets go to one vector of its own (no allocation per row).
        let run = |scratch: &mut Scratch,
                   ((((range, sigs), counts), states), lens): Task<'_, T>| {
            let mut values = Vec::new();
            if keep_sets {
                // Room for the usual number of shingles (under one per 6 bytes
                // of text), so the vector is not copied as it grows; memory
                // reserved and never written is never touched.
                let bytes: usize = rows[range.clone()]
                    .iter()
                    .map(|row| row.map_or(0, <[u8]>::len))
                    .sum();
                values.reserve(bytes / 6);
            }
            let mut lens = lens.iter_mut();
            for (((row, out), count), state) in rows[range]
                .iter()
                .zip(sigs.chunks_exact_mut(num_perm))
                .zip(counts)
                .zip(states)
            {
                *state = self.row_into(*row, scratch, init_with(out, T::EMPTY), count);
                if let Some(len) = lens.next()
                    && matches!(*state, RowStatus::Ok)
                {
                    // The signature is done: the hashes may be reordered.
                    sort_dedup(&mut scratch.hashes, &mut scratch.sort);
                    values.extend_from_slice(&scratch.hashes);
                    *len = scratch.hashes.len() as u64;
                }
            }
            values
        };
        let chunk_values: Vec<Vec<u64>> = if tasks.len() <= 1 {
            let mut scratch = Scratch::default();
            tasks
                .into_iter()
                .map(|task| run(&mut scratch, task))
                .collect()
        } else {
            run_in_pool(workers, || {
                tasks
                    .into_par_iter()
                    .map_init(Scratch::default, run)
                    .collect()
            })?
        };
        // SAFETY: the tasks' ranges cover every row (`ranges_by_bytes`), and
        // each task initialised its rows' `num_perm` slots (`init_with`) and
        // ran to completion (`run_in_pool` returned): all `cells` are written.
        unsafe { signatures.set_len(cells) };
        if on_invalid == OnInvalid::Raise
            && let Some(err) = first_invalid_row(rows, &status)
        {
            return Err(err);
        }
        let flat_sets = if keep_sets {
            Some(join_sets(chunk_values, &set_lens, workers)?)
        } else {
            None
        };
        let batch = SignatureBatch {
            num_perm,
            signatures,
            num_shingles,
            status,
        };
        Ok((batch, flat_sets))
    }

    /// Hash one row into `out` (every slot written) and say what it was.
    fn row_into(
        &self,
        row: Option<&[u8]>,
        scratch: &mut Scratch,
        out: &mut [T],
        count: &mut u32,
    ) -> RowStatus {
        scratch.hashes.clear();
        let Some(bytes) = row else {
            out.fill(T::EMPTY);
            return RowStatus::Null;
        };
        let hashes = &mut scratch.hashes;
        let Some(n) = self
            .spec
            .for_each_row_hash(bytes, &mut scratch.units, |h| hashes.push(h))
        else {
            out.fill(T::EMPTY);
            return RowStatus::InvalidUtf8;
        };
        self.signature_of_hashes(hashes, out);
        *count = u32::try_from(n).unwrap_or(u32::MAX);
        if n == 0 {
            RowStatus::Empty
        } else {
            RowStatus::Ok
        }
    }
}

/// The error of the first null or non-UTF-8 row of a batch (by its `status`), if any.
pub(crate) fn first_invalid_row(rows: &[Option<&[u8]>], status: &[RowStatus]) -> Option<CoreError> {
    let row = status
        .iter()
        .position(|s| matches!(s, RowStatus::Null | RowStatus::InvalidUtf8))?;
    Some(match rows[row] {
        None => CoreError::NullText { row },
        Some(bytes) => CoreError::InvalidUtf8 {
            row,
            byte: std::str::from_utf8(bytes)
                .err()
                .map_or(0, |e| e.valid_up_to()),
        },
    })
}

/// One parallel task of [`MinHasher::batch_with_sets`]: its rows and the
/// slices of the outputs they write (signatures, counts, statuses, set sizes).
type Task<'a, T> = (
    (
        ((Range<usize>, &'a mut [MaybeUninit<T>]), &'a mut [u32]),
        &'a mut [RowStatus],
    ),
    &'a mut [u64],
);

/// The tasks' set values joined in row order, with the offsets of each row's
/// set (`set_lens` per row): one task's vector is kept as it is, several are
/// copied in parallel into one.
pub(crate) fn join_sets(
    mut chunks: Vec<Vec<u64>>,
    set_lens: &[u64],
    workers: usize,
) -> Result<FlatSets> {
    let mut offsets = Vec::with_capacity(set_lens.len() + 1);
    offsets.push(0u64);
    let mut end = 0u64;
    for &len in set_lens {
        end += len;
        offsets.push(end);
    }
    if chunks.len() <= 1 {
        return Ok((chunks.pop().unwrap_or_default(), offsets));
    }
    let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let mut values = vec![0u64; sizes.iter().sum()];
    let mut parts = Vec::with_capacity(chunks.len());
    let mut rest = values.as_mut_slice();
    for &size in &sizes {
        let (part, tail) = rest.split_at_mut(size);
        parts.push(part);
        rest = tail;
    }
    run_in_pool(workers, || {
        parts
            .into_par_iter()
            .zip(chunks.par_iter())
            .for_each(|(part, chunk)| part.copy_from_slice(chunk));
    })?;
    Ok((values, offsets))
}

/// Reusable buffers of one worker: the normalized text and the shingle hashes.
#[derive(Debug, Default)]
pub struct Scratch {
    units: crate::text::units::Units,
    hashes: Vec<u64>,
    sort: SortScratch,
}

/// Permutations handled per pass over a document's hashes: their minima stay
/// in registers (4 AVX2 registers of 8 x u32) instead of memory.
const LANES: usize = 32;

/// [`LANES`] for AVX-512: 4 registers of 16 x u32 (8 of 8 x u64).
const LANES_AVX512: usize = 64;

/// `out[i] = min over h in hashes of permute(fold(h), seeds[i], mults[i])` (EMPTY if none).
/// `L` permutations at a time (their minima held in registers).
#[inline(always)]
fn min_kernel<T: SigValue, const L: usize>(
    seeds: &[T],
    mults: &[T],
    hashes: &[u64],
    out: &mut [T],
) {
    let mut seed_blocks = seeds.chunks_exact(L);
    let mut mult_blocks = mults.chunks_exact(L);
    let mut out_blocks = out.chunks_exact_mut(L);
    for ((seed_block, mult_block), out_block) in (&mut seed_blocks)
        .zip(&mut mult_blocks)
        .zip(&mut out_blocks)
    {
        let seed_block: [T; L] = std::array::from_fn(|k| seed_block[k]);
        let mult_block: [T; L] = std::array::from_fn(|k| mult_block[k]);
        let mut acc = [T::EMPTY; L];
        for &h in hashes {
            let h = T::fold(h);
            for k in 0..L {
                acc[k] = acc[k].min(T::permute(h, seed_block[k], mult_block[k]));
            }
        }
        out_block.copy_from_slice(&acc);
    }
    let rest = seed_blocks.remainder().iter().zip(mult_blocks.remainder());
    for (min, (&seed, &mult)) in out_blocks.into_remainder().iter_mut().zip(rest) {
        *min = hashes
            .iter()
            .fold(T::EMPTY, |m, &h| m.min(T::permute(T::fold(h), seed, mult)));
    }
}

/// [`min_kernel`] compiled for AVX2 (8 lanes of 32-bit multiplies).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn min_kernel_avx2<T: SigValue>(seeds: &[T], mults: &[T], hashes: &[u64], out: &mut [T]) {
    min_kernel::<T, LANES>(seeds, mults, hashes, out);
}

/// [`min_kernel`] compiled for AVX-512 (16 lanes of 32-bit or 8 of 64-bit
/// multiplies; `vpmullq` is AVX-512DQ). A remainder of fewer than 64
/// permutations (e.g. `num_perm` 32) runs 32 at a time, then one by one.
///
/// # Safety
/// The CPU must support AVX-512 F, DQ, VL and BW, and AVX2 (the features it
/// is compiled for: [`Kernel::Avx512`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2")]
unsafe fn min_kernel_avx512<T: SigValue>(seeds: &[T], mults: &[T], hashes: &[u64], out: &mut [T]) {
    let wide = seeds.len() / LANES_AVX512 * LANES_AVX512;
    let (seeds_wide, seeds_rest) = seeds.split_at(wide);
    let (mults_wide, mults_rest) = mults.split_at(wide);
    let (out_wide, out_rest) = out.split_at_mut(wide);
    min_kernel::<T, LANES_AVX512>(seeds_wide, mults_wide, hashes, out_wide);
    min_kernel::<T, LANES>(seeds_rest, mults_rest, hashes, out_rest);
}

/// Fraction of positions where two signatures agree: the MinHash estimate of
/// their Jaccard similarity.
pub fn estimate_jaccard<T: SigValue>(a: &[T], b: &[T]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    equal as f64 / a.len() as f64
}

/// Exact Jaccard similarity of two sorted, distinct hash sets.
pub fn jaccard_sorted(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Tokenizer;
    use proptest::prelude::*;

    fn hasher32(num_perm: usize) -> MinHasher<u32> {
        MinHasher::new(ShingleSpec::new(Tokenizer::Words, 3, 7).unwrap(), num_perm).unwrap()
    }

    #[test]
    fn identical_texts_have_identical_signatures() {
        let h = hasher32(64);
        assert_eq!(
            h.signature("The quick brown fox jumps"),
            h.signature("the QUICK brown  fox, jumps!")
        );
        assert_ne!(
            h.signature("The quick brown fox jumps"),
            h.signature("A slow green turtle sleeps")
        );
    }

    #[test]
    fn empty_text_gets_the_empty_signature() {
        let h = hasher32(16);
        assert_eq!(h.signature(" ... "), vec![u32::MAX; 16]);
        let batch = h
            .batch(
                &[Some(b"".as_slice()), Some(b"a b c".as_slice())],
                OnInvalid::Raise,
                1,
            )
            .unwrap();
        assert_eq!(batch.status, [RowStatus::Empty, RowStatus::Ok]);
        assert_eq!(batch.num_shingles, [0, 1]);
    }

    #[test]
    fn invalid_rows_raise_with_their_row_or_are_skipped() {
        let h = hasher32(8);
        let rows = [
            Some(b"ok text".as_slice()),
            None,
            Some(b"bad \xff".as_slice()),
        ];
        assert_eq!(
            h.batch(&rows, OnInvalid::Raise, 1).unwrap_err(),
            CoreError::NullText { row: 1 }
        );
        let rows = [Some(b"ok text".as_slice()), Some(b"bad \xff".as_slice())];
        assert_eq!(
            h.batch(&rows, OnInvalid::Raise, 1).unwrap_err(),
            CoreError::InvalidUtf8 { row: 1, byte: 4 }
        );
        let batch = h.batch(&rows, OnInvalid::Skip, 1).unwrap();
        assert_eq!(batch.status, [RowStatus::Ok, RowStatus::InvalidUtf8]);
        assert_eq!(&batch.signatures[8..], &[u32::MAX; 8]);
    }

    #[test]
    fn batch_is_independent_of_workers() {
        let texts: Vec<String> = (0..500)
            .map(|i| format!("document {i} {}", "word ".repeat(i % 97)))
            .collect();
        let rows: Vec<Option<&[u8]>> = texts.iter().map(|t| Some(t.as_bytes())).collect();
        let h = hasher32(32);
        let one = h.batch(&rows, OnInvalid::Raise, 1).unwrap();
        let two = h.batch(&rows, OnInvalid::Raise, 2).unwrap();
        let four = h.batch(&rows, OnInvalid::Raise, 4).unwrap();
        assert_eq!(one.signatures, two.signatures);
        assert_eq!(one.signatures, four.signatures);
        assert_eq!(one.signatures[..32], h.signature(&texts[0])[..]);
    }

    #[test]
    fn tasks_by_bytes_give_the_serial_result() {
        // Short and long rows, nulls and non-UTF-8 rows: several tasks on 2 or
        // 3 workers, each with its own set vector, joined in row order.
        let texts: Vec<String> = (0..3000)
            .map(|i| {
                let words = if i % 997 == 0 { 20_000 } else { i % 61 };
                format!("row {i} {}", "alpha beta gamma ".repeat(words))
            })
            .collect();
        let rows: Vec<Option<&[u8]>> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| match i % 101 {
                7 => None,
                8 => Some(b"bad \xff".as_slice()),
                _ => Some(t.as_bytes()),
            })
            .collect();
        let h = hasher32(48);
        let (one, one_sets) = h.batch_with_sets(&rows, OnInvalid::Skip, 1, true).unwrap();
        for workers in [2, 3] {
            let (many, many_sets) = h
                .batch_with_sets(&rows, OnInvalid::Skip, workers, true)
                .unwrap();
            assert_eq!(one.signatures, many.signatures);
            assert_eq!(one.num_shingles, many.num_shingles);
            assert_eq!(one.status, many.status);
            assert_eq!(one_sets, many_sets);
        }
        assert_eq!(one.status[7], RowStatus::Null);
        assert_eq!(&one.signatures[7 * 48..8 * 48], &[u32::MAX; 48]);
        assert_eq!(one.status[8], RowStatus::InvalidUtf8);
        let (values, offsets) = one_sets.unwrap();
        assert_eq!(offsets.len(), rows.len() + 1);
        assert_eq!(offsets[8], offsets[7], "a null row has an empty set");
        let row = 997;
        let expected = h.spec().hash_set(&texts[row], &mut String::new());
        assert_eq!(
            &values[offsets[row] as usize..offsets[row + 1] as usize],
            expected.as_slice()
        );
        assert_eq!(
            h.batch_with_sets(&rows, OnInvalid::Raise, 2, true)
                .unwrap_err(),
            CoreError::NullText { row: 7 }
        );
    }

    #[test]
    fn sets_from_the_batch_pass_equal_hash_sets() {
        let texts = [
            "a b c d a b c d",
            "",
            "x y z",
            "one two three four five six",
        ];
        let rows: Vec<Option<&[u8]>> = texts.iter().map(|t| Some(t.as_bytes())).collect();
        let h = hasher32(16);
        let (batch, sets) = h.batch_with_sets(&rows, OnInvalid::Raise, 2, true).unwrap();
        let (values, offsets) = sets.unwrap();
        assert_eq!(
            batch.signatures,
            h.batch(&rows, OnInvalid::Raise, 1).unwrap().signatures
        );
        for (i, text) in texts.iter().enumerate() {
            let expected = h.spec().hash_set(text, &mut String::new());
            assert_eq!(
                &values[offsets[i] as usize..offsets[i + 1] as usize],
                expected.as_slice()
            );
        }
    }

    #[test]
    fn pinned_signature_values() {
        // Part of the cross-version contract: a change here invalidates stored signatures.
        let h =
            MinHasher::<u32>::new(ShingleSpec::new(Tokenizer::Words, 5, 1).unwrap(), 4).unwrap();
        let sig = h.signature("the cat sat on the mat today");
        let mut expected = [u32::MAX; 4];
        let mut stream = SplitMix64::new(1 ^ 0x5851_F42D_4C95_7F2D);
        for e in &mut expected {
            let s = stream.next().unwrap() as u32;
            let m = (stream.next().unwrap() | 1) as u32;
            for gram in [
                "the cat sat on the",
                "cat sat on the mat",
                "sat on the mat today",
            ] {
                let x = xxhash_rust::xxh3::xxh3_64_with_seed(gram.as_bytes(), 1);
                *e = (*e).min((((x ^ (x >> 32)) as u32) ^ s).wrapping_mul(m));
            }
        }
        assert_eq!(sig, expected);
    }

    fn shingles(words: &[u16]) -> String {
        words
            .iter()
            .map(|w| format!("w{w}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every compiled kernel (portable, AVX2, AVX-512) gives the portable
    /// kernel's minima, for widths that are and are not multiples of the
    /// lane counts, 32- and 64-bit.
    fn kernels_agree<T: SigValue + std::fmt::Debug>() {
        let mut rng = SplitMix64::new(11);
        for num_perm in [1usize, 16, 32, 48, 64, 96, 100, 128, 200, 256] {
            let seeds: Vec<T> = (0..num_perm)
                .map(|_| T::perm_seed(rng.next().unwrap_or(0)))
                .collect();
            let mults: Vec<T> = (0..num_perm)
                .map(|_| T::perm_seed(rng.next().unwrap_or(0) | 1))
                .collect();
            for count in [0usize, 1, 7, 300] {
                let hashes: Vec<u64> = (0..count).map(|_| rng.next().unwrap_or(0)).collect();
                let mut expected = vec![T::EMPTY; num_perm];
                let rest = num_perm % LANES;
                let (wide, tail) = expected.split_at_mut(num_perm - rest);
                min_kernel::<T, LANES>(
                    &seeds[..num_perm - rest],
                    &mults[..num_perm - rest],
                    &hashes,
                    wide,
                );
                for (k, min) in tail.iter_mut().enumerate() {
                    let i = num_perm - rest + k;
                    *min = hashes.iter().fold(T::EMPTY, |m, &h| {
                        m.min(T::permute(T::fold(h), seeds[i], mults[i]))
                    });
                }
                #[cfg(target_arch = "x86_64")]
                {
                    if Kernel::Avx2.is_supported() {
                        let mut out = vec![T::EMPTY; num_perm];
                        // SAFETY: the CPU has AVX2, checked just above.
                        unsafe { min_kernel_avx2(&seeds, &mults, &hashes, &mut out) };
                        assert_eq!(out, expected, "avx2, num_perm {num_perm}, {count} hashes");
                    }
                    if Kernel::Avx512.is_supported() {
                        let mut out = vec![T::EMPTY; num_perm];
                        // SAFETY: the CPU has the AVX-512 kernel's features,
                        // checked just above.
                        unsafe { min_kernel_avx512(&seeds, &mults, &hashes, &mut out) };
                        assert_eq!(out, expected, "avx512, num_perm {num_perm}, {count} hashes");
                    }
                }
                let mut out = vec![T::EMPTY; num_perm];
                min_kernel::<T, LANES>(&seeds, &mults, &hashes, &mut out);
                assert_eq!(
                    out, expected,
                    "portable, num_perm {num_perm}, {count} hashes"
                );
            }
        }
    }

    #[test]
    fn simd_kernels_agree_with_the_portable_one() {
        kernels_agree::<u32>();
        kernels_agree::<u64>();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The estimate stays within 5 standard errors of the exact Jaccard
        /// similarity of the shingle sets (binomial with p = J, n = num_perm).
        #[test]
        fn estimate_tracks_exact_jaccard(
            common in proptest::collection::vec(0u16..2000, 1..200),
            only_a in proptest::collection::vec(2000u16..4000, 0..100),
            only_b in proptest::collection::vec(4000u16..6000, 0..100),
        ) {
            let spec = ShingleSpec::new(Tokenizer::Words, 1, 3).unwrap();
            let h = MinHasher::<u64>::new(spec, 256).unwrap();
            let a = shingles(&[common.clone(), only_a].concat());
            let b = shingles(&[common, only_b].concat());
            let mut scratch = String::new();
            let exact = jaccard_sorted(&spec.hash_set(&a, &mut scratch), &spec.hash_set(&b, &mut scratch));
            let estimate = estimate_jaccard(&h.signature(&a), &h.signature(&b));
            let sigma = (exact * (1.0 - exact) / 256.0).sqrt().max(1.0 / 256.0);
            prop_assert!((estimate - exact).abs() <= 5.0 * sigma, "exact {exact} estimate {estimate}");
        }
    }
}
