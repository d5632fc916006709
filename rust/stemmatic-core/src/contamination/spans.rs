//! Where each token of a normalized text came from in the original text.
//!
//! Lowercasing can change lengths (`İ` becomes `i` + U+0307, and the token
//! may start inside that expansion), so offsets in the normalized buffer are
//! not offsets in the text. Here every lowercased character is mapped back
//! to the source character it came from, and a unit's span runs from the
//! source of its first character to the source of its last, inclusive.
//!
//! Offsets are **character** (code point) indices, what Python's `str`
//! slicing uses. This lives beside the scanner rather than in
//! [`crate::text`] because only documents that match need it: the hot path
//! ([`crate::text::Tokenizer::normalize_into`]) stays untouched.

use crate::text::{Tokenizer, for_each_lower_char, is_space, is_word};

/// For each unit of `tokenizer.normalize_into(text)` (a token, or for
/// `chars` a character of the collapsed text), the half-open range of
/// character indices of `text` it comes from, written into `out` (cleared
/// first). For `chars`, the single space between two tokens spans the
/// characters between them.
///
/// Python's `str.lower()` maps each character on its own, except for the
/// final-sigma rule, which picks between `σ` and `ς`; both are word
/// characters, so the unit boundaries do not depend on it and each
/// character is lowercased alone here.
pub fn unit_char_spans(tokenizer: Tokenizer, text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut state = SpanState {
        tokenizer,
        in_token: false,
        previous_end: 0,
    };
    let bytes = text.as_bytes();
    let (mut at, mut index) = (0, 0);
    while let Some(&byte) = bytes.get(at) {
        if byte.is_ascii() {
            // Most characters: lowercasing cannot change whether they are kept.
            state.visit(char::from(byte), index, out);
            at += 1;
        } else {
            let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            for_each_lower_char(c, |lowered| state.visit(lowered, index, out));
            at += c.len_utf8();
        }
        index += 1;
    }
}

struct SpanState {
    tokenizer: Tokenizer,
    in_token: bool,
    /// End (exclusive) of the last kept character, for the `chars` separators.
    previous_end: usize,
}

impl SpanState {
    #[inline(always)]
    fn visit(&mut self, lowered: char, index: usize, out: &mut Vec<(usize, usize)>) {
        let keep = match self.tokenizer {
            Tokenizer::Words => is_word(lowered),
            Tokenizer::Whitespace | Tokenizer::Chars => !is_space(lowered),
        };
        if !keep {
            self.in_token = false;
            return;
        }
        if self.tokenizer.is_char_level() {
            if !self.in_token && !out.is_empty() {
                out.push((self.previous_end, index));
            }
            out.push((index, index + 1));
        } else if self.in_token {
            if let Some(last) = out.last_mut() {
                last.1 = index + 1;
            }
        } else {
            out.push((index, index + 1));
        }
        self.in_token = true;
        self.previous_end = index + 1;
    }
}
