//! An ASCII text's normalized units 64 bytes at a time, with no branch per
//! token: each block is classified ([`classify_avx512`]), lowercased,
//! its separators turned into spaces, and the token bytes plus the first
//! separator after each token packed by `vpcompressb` straight into the
//! unit buffer; the unit starts are the positions after the packed spaces,
//! packed the same way. What [`Units::fill_bytes`] runs for ASCII texts
//! under the AVX-512 kernel with VBMI2 (`Kernel::Avx512.token_bounds()`);
//! the same bytes and starts as the token runs of the other kernels (the
//! tests compare them).

#[cfg(doc)]
use super::Units;
use super::bounds::{IOTA, classify_avx512};

/// Bytes of `buffer` past the packed text: a block's store writes 64
/// bytes at the end of the text so far, and shingle hashing may read 16
/// bytes past a shingle ([`crate::shingle`]).
pub(super) const SLACK: usize = 64 + 32;

/// Normalize the text `bytes` for `words` (`words_tokenizer`) or
/// `whitespace` if it is ASCII: its tokens, lowercased and each followed
/// by one space, into `buffer` from 0 (grown to at least `bytes.len() +
/// SLACK` bytes, never shrunk), and `0` then the position after each space
/// into `starts` (so unit `p` is `buffer[starts[p]..starts[p + 1] - 1]`).
/// Returns the number of bytes written (0 when there is no token); `None`,
/// with the buffers in any state, at the first block with a byte that is
/// not ASCII: so an ASCII row needs no UTF-8 check of its own.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI2, and AVX2.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,avx2")]
pub(super) unsafe fn normalize_ascii_avx512(
    bytes: &[u8],
    words_tokenizer: bool,
    buffer: &mut Vec<u8>,
    starts: &mut Vec<usize>,
) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_unpackhi_epi64, _mm512_add_epi64, _mm512_castsi512_si128,
        _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_cvtepu8_epi64,
        _mm512_extracti32x4_epi32, _mm512_loadu_si512, _mm512_mask_add_epi8,
        _mm512_mask_blend_epi8, _mm512_mask_loadu_epi8, _mm512_maskz_compress_epi8,
        _mm512_set1_epi8, _mm512_set1_epi64, _mm512_storeu_si512, _mm512_sub_epi8,
    };
    if buffer.len() < bytes.len() + SLACK {
        buffer.resize(bytes.len() + SLACK, 0);
    }
    // A unit is at least one byte and its separator, so there are at most
    // `len / 2 + 1` of them; a block writes up to 32 slots past the count.
    starts.clear();
    starts.reserve(bytes.len() / 2 + 2 + 32);
    let slots = starts.as_mut_ptr();
    // SAFETY: `starts` has room for at least one value (reserved above).
    unsafe { slots.write(0) };
    let mut count = 1usize;
    let mut written = 0usize;
    let mut carry = 0u64;
    // SAFETY: `IOTA` is 64 readable bytes; the load is unaligned.
    let iota = unsafe { _mm512_loadu_si512(IOTA.as_ptr().cast()) };
    let space = _mm512_set1_epi8(b' ' as i8);
    // One block past the last whole one (padded with spaces, a separator
    // for both tokenizers) always follows, so every token ends in a block.
    for base in (0..=bytes.len()).step_by(64) {
        let rest = bytes.len() - base;
        let v = if rest >= 64 {
            // SAFETY: the 64 bytes from `base` are inside `bytes`; the load
            // is unaligned.
            unsafe { _mm512_loadu_si512(bytes.as_ptr().add(base).cast()) }
        } else {
            // SAFETY: `base` is at most `bytes.len()`, and only the `rest`
            // bytes from it, inside `bytes`, are read: a masked load does
            // not touch the others (they are spaces in the vector).
            unsafe {
                _mm512_mask_loadu_epi8(space, (1u64 << rest) - 1, bytes.as_ptr().add(base).cast())
            }
        };
        let (token, non_ascii) = classify_avx512(v, words_tokenizer);
        if non_ascii != 0 {
            return None;
        }
        let upper = _mm512_cmple_epu8_mask(
            _mm512_sub_epi8(v, _mm512_set1_epi8(b'A' as i8)),
            _mm512_set1_epi8(25),
        );
        let lowered = _mm512_mask_add_epi8(v, upper, v, _mm512_set1_epi8(0x20));
        let normalized = _mm512_mask_blend_epi8(token, space, lowered);
        // The token bytes and the first separator after each token.
        let keep = token | (((token << 1) | carry) & !token);
        carry = token >> 63;
        let packed = _mm512_maskz_compress_epi8(keep, normalized);
        // SAFETY: `written` is at most `base` (a block packs at most its
        // 64 bytes), and `buffer` has `bytes.len() + SLACK` bytes, `base`
        // being at most `bytes.len()`: the 64 bytes from `written` are
        // inside it (unaligned store).
        unsafe { _mm512_storeu_si512(buffer.as_mut_ptr().add(written).cast(), packed) };
        // Token bytes are never spaces, and bytes past the packed ones are
        // zero: the set bits are the packed separators, at most 32.
        let spaces = _mm512_cmpeq_epi8_mask(packed, space);
        let found = spaces.count_ones() as usize;
        let positions = _mm512_maskz_compress_epi8(spaces, iota);
        let offset = _mm512_set1_epi64(written as i64 + 1);
        let eight = |bytes: __m128i| _mm512_add_epi64(_mm512_cvtepu8_epi64(bytes), offset);
        // The first 16 always (most blocks have fewer), then the rest.
        let store = |slot: usize, bytes: __m128i| {
            // SAFETY: `count` is at most the units so far plus one, and
            // `starts` has room for `len / 2 + 2 + 32` values: the 8 values
            // from `count + slot` (`slot` < 32) are inside it (unaligned store).
            unsafe { _mm512_storeu_si512(slots.add(count + slot).cast(), eight(bytes)) };
        };
        let low = _mm512_castsi512_si128(positions);
        store(0, low);
        store(8, _mm_unpackhi_epi64(low, low));
        if found > 16 {
            let high = _mm512_extracti32x4_epi32::<1>(positions);
            store(16, high);
            store(24, _mm_unpackhi_epi64(high, high));
        }
        count += found;
        written += keep.count_ones() as usize;
    }
    // SAFETY: values `0..count` were written above (0, then the `found`
    // positions of each block in order), and `count` is within the capacity.
    unsafe { starts.set_len(count) };
    Some(written)
}
