//! [`token_hash`]: the cheap per-unit hash the contamination prefilter keys
//! its windows with, read off raw ASCII bytes a word at a time.

use super::ascii::load_word;

pub(super) const TOKEN_XOR: u64 = 0x243F_6A88_85A3_08D3;
pub(super) const TOKEN_MULTIPLIER: u64 = 0x1319_8A2E_0370_7345;

/// The 128-bit product of `a` and `b`, folded to 64 bits (high half XOR low
/// half): one multiply that mixes every input bit into the output.
#[inline(always)]
pub(super) fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// One step of [`token_hash`]: mix the next 8-byte word into the state.
#[inline(always)]
pub(crate) fn mix_word(state: u64, word: u64) -> u64 {
    folded_multiply(state ^ word ^ TOKEN_XOR, TOKEN_MULTIPLIER)
}

/// The low `len` bytes of a little-endian word (`len` in 1..=8).
#[inline(always)]
pub(crate) fn low_bytes(word: u64, len: usize) -> u64 {
    word & (u64::MAX >> (64 - 8 * len.clamp(1, 8)))
}

/// Bit 5 of every byte: set, it makes an ASCII letter lowercase.
pub(super) const CASE_BITS: u64 = 0x2020_2020_2020_2020;

/// The prefilter hash of one unit's normalized bytes: the state starts at
/// the byte length, and each 8-byte little-endian word of the bytes, with
/// bit 5 of every byte set ([`CASE_BITS`]) and the last word zero-padded,
/// is mixed in with [`mix_word`]. Setting bit 5 maps an ASCII byte and its
/// lowercase to the same value, so [`ascii_token_hash`] reads the hash of
/// a token off its raw bytes, with no lowercase copy; the other bytes it
/// merges (`@` and `` ` ``, say) only make the prefilter pass a little more.
/// [`crate::text::units`] computes the same value while it copies tokens.
pub(crate) fn token_hash(token: &[u8]) -> u64 {
    let mut state = token.len() as u64;
    let mut words = token.chunks_exact(8);
    for word in &mut words {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(word);
        state = mix_word(state, u64::from_le_bytes(raw) | CASE_BITS);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut raw = [0u8; 8];
        raw[..rest.len()].copy_from_slice(rest);
        state = mix_word(
            state,
            low_bytes(u64::from_le_bytes(raw) | CASE_BITS, rest.len()),
        );
    }
    state
}

/// [`token_hash`] of the lowercase of the ASCII token `bytes[start..end]`
/// (not empty), read off the raw bytes a word at a time.
#[inline(always)]
pub(crate) fn ascii_token_hash(bytes: &[u8], start: usize, end: usize) -> u64 {
    let len = end - start;
    let mut state = len as u64;
    let mut offset = 0;
    loop {
        let word = load_word(bytes, start + offset) | CASE_BITS;
        state = mix_word(state, low_bytes(word, len - offset));
        offset += 8;
        if offset >= len {
            break;
        }
    }
    state
}
