//! Where the runs of token bytes of a text start and end: each 64-byte block
//! classified into bit masks (SWAR, AVX2 or AVX-512, the kernel that
//! [`crate::simd::kernel`] chose) and the runs read off the masks' bit
//! transitions, with no branch per byte. [`for_each_token_run`] gives the
//! runs to a callback; [`token_bounds`] writes them as positions, with no
//! branch per token either.

#[cfg(doc)]
use super::Units;
use crate::simd::{self, Kernel};
use crate::text::Tokenizer;

/// Bit `k` set when byte `k` of the little-endian word is a token byte,
/// and bit `k` set when it is not ASCII.
#[inline(always)]
pub(super) fn word_token_bits(word: u64, words_tokenizer: bool) -> (u64, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW_SEVEN: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = word & LOW_SEVEN;
    // High bit of each byte set when `low` is in `lo..=hi` (no carries: low <= 0x7F).
    let in_range =
        |value: u64, lo: u64, hi: u64| (value + (0x80 - lo) * ONES) & !(value + (0x7F - hi) * ONES);
    let token = if words_tokenizer {
        let folded = low | 0x2020_2020_2020_2020;
        in_range(folded, 0x61, 0x7A)
            | in_range(low, 0x30, 0x39)
            | !((low ^ 0x5F5F_5F5F_5F5F_5F5F) + LOW_SEVEN)
    } else {
        // Not `str.isspace()`: outside 0x09..=0x0D, 0x1C..=0x20.
        !(in_range(low, 0x09, 0x0D) | in_range(low, 0x1C, 0x20))
    };
    // Non-ASCII bytes always belong to a run.
    let high_bits = (token | word) & HIGH;
    // Gather the 8 high bits into the top byte.
    let gather = |bits: u64| bits.wrapping_mul(0x0002_0408_1020_4081) >> 56;
    (gather(high_bits), gather(word & HIGH))
}

/// How a 64-byte block is classified: bit `k` of the first mask set when
/// byte `k` is a token byte, of the second when it is not ASCII; and how
/// [`token_bounds`] writes a block's transitions.
///
/// The methods may run instructions of CPU features that the implementing
/// type names in its documentation ([`Swar`]: none): they are `unsafe`, and
/// so is every function generic over `Classify`, with the same contract.
pub(super) trait Classify {
    /// # Safety
    /// The CPU has the features the implementing type names.
    unsafe fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64);

    /// Write `base` plus the position of each set bit of `transitions`
    /// (`found` of them) to the front of `slots`, in order; the slots past
    /// them may get junk. Here 16, then 8 at a time whatever their number:
    /// no branch per transition.
    ///
    /// # Safety
    /// The CPU has the features the implementing type names.
    #[inline(always)]
    unsafe fn write_transitions(
        base: u32,
        mut transitions: u64,
        found: usize,
        slots: &mut [u32; 64],
    ) {
        // Past the last transition, `trailing_zeros` is 64.
        for slot in &mut slots[..16] {
            *slot = base + transitions.trailing_zeros();
            transitions &= transitions.wrapping_sub(1);
        }
        let mut written = 16;
        while written < found {
            for slot in &mut slots[written..written + 8] {
                *slot = base + transitions.trailing_zeros();
                transitions &= transitions.wrapping_sub(1);
            }
            written += 8;
        }
    }
}

/// Eight bytes at a time with [`word_token_bits`]: every target, no CPU
/// feature ([`Kernel::Portable`]).
pub(super) struct Swar;

impl Classify for Swar {
    #[inline(always)]
    unsafe fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
        let (mut mask, mut non_ascii) = (0u64, 0u64);
        for (k, chunk) in block.chunks_exact(8).enumerate() {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(chunk);
            let (token, high) = word_token_bits(u64::from_le_bytes(raw), words_tokenizer);
            mask |= token << (8 * k);
            non_ascii |= high << (8 * k);
        }
        (mask, non_ascii)
    }
}

/// The whole block in a few AVX2 compares, 32 bytes at a time: needs AVX2
/// ([`Kernel::Avx2`]). Fast only inlined into code compiled with AVX2
/// enabled (see [`Units::fill_token_runs_avx2`]).
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Classify for Avx2 {
    #[inline(always)]
    unsafe fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
        let (low, high) = block.split_at(32);
        // SAFETY: the CPU has AVX2 (the caller's contract), and both halves
        // have 32 bytes.
        let (low, high) = unsafe {
            (
                classify_avx2(low, words_tokenizer),
                classify_avx2(high, words_tokenizer),
            )
        };
        (
            u64::from(low.0) | u64::from(high.0) << 32,
            u64::from(low.1) | u64::from(high.1) << 32,
        )
    }
}

/// The token and non-ASCII bits of the first 32 bytes of `half` with AVX2:
/// the same masks as [`Swar`].
///
/// # Safety
/// The CPU must support AVX2, and `half` must have at least 32 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
// The intrinsics are safe to call here from Rust 1.87 on, unsafe before.
#[allow(unused_unsafe)]
pub(super) unsafe fn classify_avx2(half: &[u8], words_tokenizer: bool) -> (u32, u32) {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8, _mm256_sub_epi8,
    };
    debug_assert!(half.len() >= 32);
    // SAFETY: `half` has 32 readable bytes (the caller's contract); the
    // load is unaligned. The other intrinsics only need AVX2.
    unsafe {
        let v = _mm256_loadu_si256(half.as_ptr().cast());
        let byte = |b: u8| _mm256_set1_epi8(b as i8);
        // `lo <= v <= hi` as `min(v - lo, hi - lo) == v - lo`, unsigned.
        let in_range = |v: __m256i, lo: u8, hi: u8| {
            let shifted = _mm256_sub_epi8(v, byte(lo));
            _mm256_cmpeq_epi8(_mm256_min_epu8(shifted, byte(hi - lo)), shifted)
        };
        // The sign bit of each byte: not ASCII.
        let non_ascii = _mm256_movemask_epi8(v) as u32;
        let token = if words_tokenizer {
            let folded = _mm256_or_si256(v, byte(0x20));
            let word = _mm256_or_si256(
                _mm256_or_si256(in_range(folded, b'a', b'z'), in_range(v, b'0', b'9')),
                _mm256_cmpeq_epi8(v, byte(b'_')),
            );
            _mm256_movemask_epi8(word) as u32 | non_ascii
        } else {
            // Not `str.isspace()`: outside 0x09..=0x0D, 0x1C..=0x20.
            let space = _mm256_or_si256(in_range(v, 0x09, 0x0D), in_range(v, 0x1C, 0x20));
            !(_mm256_movemask_epi8(space) as u32)
        };
        (token, non_ascii)
    }
}

/// The whole block in one 64-byte vector, compares straight into bit
/// masks: needs AVX-512 F, BW and VBMI2 (`Kernel::Avx512.token_bounds()`).
/// Fast only inlined into code compiled with them (see
/// [`token_bounds_avx512`]).
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Classify for Avx512 {
    #[inline(always)]
    unsafe fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
        // SAFETY: `block` is 64 readable bytes; the load is unaligned.
        let v = unsafe { std::arch::x86_64::_mm512_loadu_si512(block.as_ptr().cast()) };
        // SAFETY: the CPU has AVX-512 F and BW (the caller's contract).
        unsafe { classify_avx512(v, words_tokenizer) }
    }

    #[inline(always)]
    unsafe fn write_transitions(base: u32, transitions: u64, found: usize, slots: &mut [u32; 64]) {
        // SAFETY: the CPU has AVX-512 F and VBMI2 (the caller's contract).
        unsafe { write_transitions_avx512(base, transitions, found, slots) }
    }
}

/// The token and non-ASCII bits of a 64-byte block (in a vector) with
/// AVX-512: the same masks as [`Swar`].
///
/// # Safety
/// The CPU must support AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
pub(super) fn classify_avx512(v: std::arch::x86_64::__m512i, words_tokenizer: bool) -> (u64, u64) {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_movepi8_mask,
        _mm512_or_si512, _mm512_set1_epi8, _mm512_sub_epi8,
    };
    let byte = |b: u8| _mm512_set1_epi8(b as i8);
    // `lo <= v <= hi` as `v - lo <= hi - lo`, unsigned.
    let in_range = |v: __m512i, lo: u8, hi: u8| {
        _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, byte(lo)), byte(hi - lo))
    };
    let non_ascii = _mm512_movepi8_mask(v);
    let token = if words_tokenizer {
        let folded = _mm512_or_si512(v, byte(0x20));
        in_range(folded, b'a', b'z')
            | in_range(v, b'0', b'9')
            | _mm512_cmpeq_epi8_mask(v, byte(b'_'))
            | non_ascii
    } else {
        // Not `str.isspace()`: outside 0x09..=0x0D, 0x1C..=0x20.
        !(in_range(v, 0x09, 0x0D) | in_range(v, 0x1C, 0x20))
    };
    (token, non_ascii)
}

/// Call `on_run(start, end, ascii)` for each maximal run of token bytes
/// of `bytes`, in order; `ascii` is false when the run has a non-ASCII byte.
#[inline(always)]
pub(super) fn for_each_run(
    bytes: &[u8],
    words_tokenizer: bool,
    on_run: impl FnMut(usize, usize, bool),
) {
    // SAFETY: `Swar` needs no CPU feature.
    unsafe { for_each_run_with::<Swar>(bytes, words_tokenizer, on_run) };
}

/// Call `on_block(base, transitions, non_ascii)` for each 64-byte block
/// of `bytes`, in order: bit `k` of `transitions` is set where a run of
/// token bytes starts or ends at byte `base + k`, of `non_ascii` where that
/// byte is not ASCII. The last block is padded with spaces (a separator for
/// both tokenizers) and there always is one, so every run ends in a block.
///
/// # Safety
/// The CPU has the features `C` names.
#[inline(always)]
pub(super) unsafe fn for_each_block<C: Classify>(
    bytes: &[u8],
    words_tokenizer: bool,
    mut on_block: impl FnMut(usize, u64, u64),
) {
    let mut carry = 0u64;
    let mut padded = [b' '; 64];
    for base in (0..=bytes.len()).step_by(64) {
        let block = if let Some(block) = bytes.get(base..).and_then(<[u8]>::first_chunk::<64>) {
            block
        } else {
            let rest = bytes.get(base..).unwrap_or_default();
            padded[..rest.len()].copy_from_slice(rest);
            &padded
        };
        // SAFETY: the CPU has `C`'s features (this function's contract).
        let (mask, non_ascii) = unsafe { C::block(block, words_tokenizer) };
        let transitions = mask ^ ((mask << 1) | carry);
        carry = mask >> 63;
        on_block(base, transitions, non_ascii);
    }
}

/// [`for_each_run`] with blocks classified by `C`.
///
/// # Safety
/// The CPU has the features `C` names.
#[inline(always)]
pub(super) unsafe fn for_each_run_with<C: Classify>(
    bytes: &[u8],
    words_tokenizer: bool,
    mut on_run: impl FnMut(usize, usize, bool),
) {
    let mut run_start = 0usize;
    let mut run_ascii = true;
    let mut in_run = false;
    // Every run ends in a block, so `on_run` is inlined once.
    // SAFETY: the CPU has `C`'s features (this function's contract).
    unsafe {
        for_each_block::<C>(
            bytes,
            words_tokenizer,
            |base, mut transitions, non_ascii| {
                // Bits from the start of the current run (or of the block) on.
                let mut from = 0u32;
                while transitions != 0 {
                    let bit = transitions.trailing_zeros();
                    transitions &= transitions - 1;
                    if in_run {
                        let run_bits = (u64::MAX << from) & !(u64::MAX << bit);
                        run_ascii &= non_ascii & run_bits == 0;
                        on_run(run_start, base + bit as usize, run_ascii);
                    } else {
                        run_start = base + bit as usize;
                        run_ascii = true;
                        from = bit;
                    }
                    in_run = !in_run;
                }
                if in_run {
                    run_ascii &= non_ascii & (u64::MAX << from) == 0;
                }
            },
        );
    }
}

/// For an ASCII text cut by `words` or `whitespace`, the character span of
/// each unit (as [`crate::contamination::unit_char_spans`] gives it) into `out`; false,
/// with `out` untouched, for any other text.
pub(crate) fn ascii_unit_spans(
    tokenizer: Tokenizer,
    text: &str,
    out: &mut Vec<(usize, usize)>,
) -> bool {
    if tokenizer.is_char_level() || !text.is_ascii() {
        return false;
    }
    out.clear();
    for_each_token_run(text.as_bytes(), tokenizer.ascii_words(), |start, end, _| {
        out.push((start, end));
    });
    true
}

/// [`for_each_run`], with the AVX2 classifier under the AVX2 and AVX-512
/// kernels ([`simd::kernel`]).
#[inline]
pub(crate) fn for_each_token_run(
    bytes: &[u8],
    words_tokenizer: bool,
    on_run: impl FnMut(usize, usize, bool),
) {
    match simd::kernel() {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 | Kernel::Avx512 => {
            // SAFETY: `simd::kernel` is one the CPU supports, and both of
            // these kernels include AVX2.
            unsafe { for_each_run_avx2(bytes, words_tokenizer, on_run) };
        }
        _ => for_each_run(bytes, words_tokenizer, on_run),
    }
}

/// [`for_each_run`] compiled for AVX2, blocks classified by [`Avx2`].
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn for_each_run_avx2(
    bytes: &[u8],
    words_tokenizer: bool,
    on_run: impl FnMut(usize, usize, bool),
) {
    // SAFETY: the CPU has AVX2 (this function's contract).
    unsafe { for_each_run_with::<Avx2>(bytes, words_tokenizer, on_run) };
}

/// The longest text [`token_bounds`] takes: positions are `u32`, and
/// [`RawUnits`](super::RawUnits) marks positions in its side buffer with the top bit.
pub(super) const MAX_BOUNDS_TEXT: usize = (1 << 31) - 128;

/// Where the runs of token bytes of `bytes` start and end, for `words`
/// (`words_tokenizer`) or `whitespace`: into `out`, run `p` is
/// `bytes[out[2p]..out[2p + 1]]`; the positions of the bytes that are not
/// ASCII (always inside runs) into `non_ascii`. Returns the number of
/// positions written to `out` (twice the number of runs); `None` for a text
/// of 2 GiB or more. In an ASCII text the runs are the tokens.
///
/// The run transitions of each 64-byte block are written in fixed-size
/// groups whatever their number ([`Classify::write_transitions`]), and the
/// count advanced by their number: no branch per token, unlike
/// [`for_each_run`]. The kernel is [`simd::kernel`]'s
/// [`Kernel::token_bounds`]: whole blocks in one AVX-512 vector with bounds
/// packed by `vpcompressb`, two AVX2 vectors, or SWAR.
pub(crate) fn token_bounds(
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> Option<usize> {
    if bytes.len() > MAX_BOUNDS_TEXT {
        return None;
    }
    let kernel = simd::kernel().token_bounds();
    // SAFETY: `simd::kernel` is one the CPU supports, and so is its
    // `token_bounds` (it checks VBMI2 itself).
    Some(unsafe { token_bounds_on(kernel, bytes, words_tokenizer, out, non_ascii) })
}

/// [`token_bounds`] of a text at most [`MAX_BOUNDS_TEXT`] long with the
/// kernel `kernel`.
///
/// # Safety
/// `kernel` is the [`Kernel::token_bounds`] of a kernel the CPU supports
/// ([`Kernel::is_supported`]).
pub(super) unsafe fn token_bounds_on(
    kernel: Kernel,
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> usize {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            // SAFETY: `Kernel::token_bounds` is `Avx512` only where the CPU
            // has VBMI2 besides AVX-512 F, BW and AVX2 (this contract).
            unsafe { token_bounds_avx512(bytes, words_tokenizer, out, non_ascii) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            // SAFETY: the CPU has AVX2 (this function's contract).
            unsafe { token_bounds_avx2(bytes, words_tokenizer, out, non_ascii) }
        }
        // SAFETY: `Swar` needs no CPU feature.
        _ => unsafe { token_bounds_with::<Swar>(bytes, words_tokenizer, out, non_ascii) },
    }
}

/// [`token_bounds_with`] compiled for AVX2, blocks classified by [`Avx2`].
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn token_bounds_avx2(
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> usize {
    // SAFETY: the CPU has AVX2 (this function's contract).
    unsafe { token_bounds_with::<Avx2>(bytes, words_tokenizer, out, non_ascii) }
}

/// [`token_bounds_with`] compiled for AVX-512, blocks classified by
/// [`Avx512`] and their transitions written by [`write_transitions_avx512`].
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,avx2")]
pub(super) unsafe fn token_bounds_avx512(
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> usize {
    // SAFETY: the CPU has AVX-512 F, BW and VBMI2 (this function's contract).
    unsafe { token_bounds_with::<Avx512>(bytes, words_tokenizer, out, non_ascii) }
}

/// Byte `k` is `k`: packed by a block's bits (`vpcompressb`), their positions.
#[cfg(target_arch = "x86_64")]
pub(super) const IOTA: [u8; 64] = {
    let mut iota = [0u8; 64];
    let mut k = 0;
    while k < 64 {
        iota[k] = k as u8;
        k += 1;
    }
    iota
};

/// [`Classify::write_transitions`] as a few vectors: the bit positions
/// packed by `vpcompressb`, widened to 32 bits and offset, 16 at a time.
///
/// # Safety
/// The CPU must support AVX-512 F and VBMI2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vbmi2")]
#[inline]
pub(super) fn write_transitions_avx512(
    base: u32,
    transitions: u64,
    found: usize,
    slots: &mut [u32; 64],
) {
    use std::arch::x86_64::{
        _mm512_add_epi32, _mm512_castsi512_si128, _mm512_cvtepu8_epi32, _mm512_extracti32x4_epi32,
        _mm512_loadu_si512, _mm512_maskz_compress_epi8, _mm512_set1_epi32, _mm512_storeu_si512,
    };
    // SAFETY: `IOTA` is 64 readable bytes; the load is unaligned.
    let iota = unsafe { _mm512_loadu_si512(IOTA.as_ptr().cast()) };
    let packed = _mm512_maskz_compress_epi8(transitions, iota);
    let offset = _mm512_set1_epi32(base as i32);
    let quarter = |q: usize| {
        let bytes = match q {
            0 => _mm512_castsi512_si128(packed),
            1 => _mm512_extracti32x4_epi32::<1>(packed),
            2 => _mm512_extracti32x4_epi32::<2>(packed),
            _ => _mm512_extracti32x4_epi32::<3>(packed),
        };
        _mm512_add_epi32(_mm512_cvtepu8_epi32(bytes), offset)
    };
    // The first 32 always (most blocks have fewer transitions), then the rest.
    for q in 0..(if found > 32 { 4 } else { 2 }) {
        // SAFETY: `slots` has 64 `u32`s, and quarter `q` writes 16 of them
        // from `16 q` (unaligned store).
        unsafe { _mm512_storeu_si512(slots[16 * q..].as_mut_ptr().cast(), quarter(q)) };
    }
}

/// [`token_bounds`] with blocks classified by `C`; `bytes` is at most
/// [`MAX_BOUNDS_TEXT`] long.
///
/// # Safety
/// The CPU has the features `C` names.
#[inline(always)]
pub(super) unsafe fn token_bounds_with<C: Classify>(
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> usize {
    // A text has at most one transition per byte boundary, plus the end;
    // each block writes up to 64 slots past the count.
    if out.len() < bytes.len() + 128 {
        out.resize(bytes.len() + 128, 0);
    }
    non_ascii.clear();
    let mut count = 0usize;
    let each_block = |base: usize, transitions: u64, mut high: u64| {
        // `base` fits: the text is at most `MAX_BOUNDS_TEXT` long.
        let base = base as u32;
        while high != 0 {
            non_ascii.push(base + high.trailing_zeros());
            high &= high - 1;
        }
        let found = transitions.count_ones() as usize;
        // Junk past the transitions is written over by the next block.
        if let Some(slots) = out
            .get_mut(count..)
            .and_then(<[u32]>::first_chunk_mut::<64>)
        {
            // SAFETY: the CPU has `C`'s features (this function's contract).
            unsafe { C::write_transitions(base, transitions, found, slots) };
        }
        count += found;
    };
    // SAFETY: the CPU has `C`'s features (this function's contract).
    unsafe { for_each_block::<C>(bytes, words_tokenizer, each_block) };
    count
}
