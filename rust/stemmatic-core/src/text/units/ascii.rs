//! Lowercasing ASCII tokens 8 bytes at a time (SWAR), and copying them into a
//! unit buffer while they are hashed.

use super::hash::{CASE_BITS, low_bytes, mix_word};

/// ASCII uppercase letters of a word plus 0x20; other bytes unchanged.
#[inline(always)]
pub(super) fn ascii_lowercase_word(word: u64) -> u64 {
    const LOW_SEVEN: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = word & LOW_SEVEN;
    // High bit of each byte: low >= b'A', then low > b'Z' (no carries: low <= 0x7F).
    let at_least_a = low + 0x3F3F_3F3F_3F3F_3F3F;
    let above_z = low + 0x2525_2525_2525_2525;
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

/// The 8 bytes of `bytes` from `at`, zero-padded past its end.
#[inline(always)]
pub(super) fn load_word(bytes: &[u8], at: usize) -> u64 {
    if let Some(word) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        return u64::from_le_bytes(*word);
    }
    let mut raw = [0u8; 8];
    let rest = bytes.get(at..).unwrap_or_default();
    raw[..rest.len()].copy_from_slice(rest);
    u64::from_le_bytes(raw)
}

/// Append the ASCII token `bytes[start..end]`, lowercased, and a space to
/// `out`, a word at a time.
#[inline]
pub(crate) fn push_ascii_token(bytes: &[u8], start: usize, end: usize, out: &mut Vec<u8>) {
    let len = end - start;
    let at = out.len();
    out.reserve(len + 8);
    for offset in (0..len).step_by(8) {
        let word = ascii_lowercase_word(load_word(bytes, start + offset));
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.truncate(at + len);
    out.push(b' ');
}

/// Copy the ASCII token `bytes[start..end]`, lowercased, to `buffer` at
/// `written`, followed by a space, a word at a time; returns its
/// [`token_hash`](super::hash::token_hash) (computed from the same words) and the new end. `buffer`
/// must have 8 spare bytes past the space.
#[inline(always)]
pub(super) fn add_ascii_token(
    buffer: &mut [u8],
    bytes: &[u8],
    start: usize,
    end: usize,
    written: usize,
) -> (u64, usize) {
    let len = end - start;
    let mut state = len as u64;
    let mut offset = 0;
    loop {
        let word = ascii_lowercase_word(load_word(bytes, start + offset));
        let at = written + offset;
        buffer[at..at + 8].copy_from_slice(&word.to_le_bytes());
        state = mix_word(state, low_bytes(word | CASE_BITS, len - offset));
        offset += 8;
        if offset >= len {
            break;
        }
    }
    buffer[written + len] = b' ';
    (state, written + len + 1)
}
