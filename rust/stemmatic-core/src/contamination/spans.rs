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

use crate::text::units::for_each_token_run;
use crate::text::{Keep, Tokenizer, auto_keep, for_each_lower_char, is_space, is_word};

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
    if tokenizer.is_char_level() {
        char_by_char_spans(tokenizer, text, out);
    } else {
        token_run_spans(tokenizer, text, out);
    }
}

/// [`unit_char_spans`] for `words`, `auto` and `whitespace`, from the runs of token
/// bytes of [`for_each_token_run`] (classified a block at a time): a run
/// of ASCII bytes is one token, and only runs with other characters are
/// lowercased character by character. A run starts after an ASCII
/// separator (or at the start), which ends any token in the
/// character-by-character walk too.
fn token_run_spans(tokenizer: Tokenizer, text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let bytes = text.as_bytes();
    let mut walk = CharWalk::new(tokenizer);
    // The character index of byte `byte_at`.
    let (mut byte_at, mut char_at) = (0usize, 0usize);
    for_each_token_run(bytes, tokenizer.ascii_words(), |start, end, ascii| {
        let between = bytes.get(byte_at..start).unwrap_or_default();
        // Characters are their bytes that are not continuation bytes.
        char_at += between.iter().filter(|&&b| (b as i8) >= -0x40).count();
        if ascii {
            out.push((char_at, char_at + (end - start)));
            char_at += end - start;
        } else {
            walk.state.in_token = false;
            char_at = walk.walk(text.get(start..end).unwrap_or_default(), char_at, out);
        }
        byte_at = end;
    });
}

/// The spans of every character: what [`unit_char_spans`] does for `chars`,
/// and for the other tokenizers (where the tests compare it with
/// [`token_run_spans`]).
fn char_by_char_spans(tokenizer: Tokenizer, text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    CharWalk::new(tokenizer).walk(text, 0, out);
}

/// Spans character by character, with the keep flags of the lowercase
/// forms of non-ASCII characters cached (lowercasing and the Unicode tables
/// are binary searches).
struct CharWalk {
    state: SpanState,
    /// By character modulo its length: (character, lowercase length, [`Keep`]
    /// of each lowercase character, 2 bits each).
    cache: [(u32, u8, u8); 512],
}

impl CharWalk {
    fn new(tokenizer: Tokenizer) -> Self {
        Self {
            state: SpanState {
                tokenizer,
                in_token: false,
                previous_end: 0,
            },
            cache: [(u32::MAX, 0, 0); 512],
        }
    }

    /// Visit the characters of `text`, the first being character `index`;
    /// returns the index after the last.
    fn walk(&mut self, text: &str, mut index: usize, out: &mut Vec<(usize, usize)>) -> usize {
        let state = &mut self.state;
        let bytes = text.as_bytes();
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            if byte.is_ascii() {
                // Lowercasing cannot change whether an ASCII character is kept.
                state.visit(state.keeps(char::from(byte)), index, out);
                at += 1;
            } else {
                let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
                    break;
                };
                let slot = &mut self.cache[c as usize % 512];
                if slot.0 != c as u32 {
                    let (mut count, mut keeps) = (0u8, 0u8);
                    for_each_lower_char(c, |lowered| {
                        keeps |= (state.keeps(lowered) as u8) << (2 * count);
                        count += 1;
                    });
                    *slot = (c as u32, count, keeps);
                }
                let (_, count, keeps) = *slot;
                for k in 0..count {
                    let keep = match keeps >> (2 * k) & 3 {
                        0 => Keep::Drop,
                        1 => Keep::Join,
                        _ => Keep::Alone,
                    };
                    state.visit(keep, index, out);
                }
                at += c.len_utf8();
            }
            index += 1;
        }
        index
    }
}

struct SpanState {
    tokenizer: Tokenizer,
    in_token: bool,
    /// End (exclusive) of the last kept character, for the `chars` separators.
    previous_end: usize,
}

impl SpanState {
    /// Whether the lowercased character `lowered` belongs to a unit, and
    /// to which.
    #[inline(always)]
    fn keeps(&self, lowered: char) -> Keep {
        match self.tokenizer {
            Tokenizer::Words => Keep::from(is_word(lowered)),
            Tokenizer::Whitespace | Tokenizer::Chars => Keep::from(!is_space(lowered)),
            Tokenizer::Auto | Tokenizer::AutoSpan | Tokenizer::AutoDocument => auto_keep(lowered),
        }
    }

    /// The next lowercased character, of source character `index`, by
    /// whether it is kept.
    #[inline(always)]
    fn visit(&mut self, keep: Keep, index: usize, out: &mut Vec<(usize, usize)>) {
        if keep == Keep::Drop {
            self.in_token = false;
            return;
        }
        if self.tokenizer.is_char_level() {
            if !self.in_token && !out.is_empty() {
                out.push((self.previous_end, index));
            }
            out.push((index, index + 1));
        } else if self.in_token && keep == Keep::Join {
            if let Some(last) = out.last_mut() {
                last.1 = index + 1;
            }
        } else {
            out.push((index, index + 1));
        }
        // A character alone ends its unit (never in `chars`).
        self.in_token = keep == Keep::Join;
        self.previous_end = index + 1;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        /// Spans from runs of token bytes are the character-by-character
        /// spans, across 64-byte blocks, with expansions (`İ`), `Σ`,
        /// combining marks and non-ASCII separators inside and beside tokens.
        #[test]
        fn token_runs_give_the_character_spans(
            text in "([a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]|İ|ß|é|\u{301}|σ|Σ|\u{3000}|\u{2014}|𝔘|ǅ|ﬁ|[a-z]{20,70}|漢|。|ー|ท|\u{e48}|𠀀){0,120}",
        ) {
            for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
                let (mut runs, mut chars) = (Vec::new(), Vec::new());
                token_run_spans(tokenizer, &text, &mut runs);
                char_by_char_spans(tokenizer, &text, &mut chars);
                prop_assert_eq!(runs, chars);
            }
        }
    }
}
