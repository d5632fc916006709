//! The document rule of `auto`: a document written mostly in scripts without
//! spaces is cut into characters throughout, Latin letters and digits
//! included.
//!
//! `auto`'s per-script units ([`super::auto_keep`]) keep a Latin word or a
//! number whole inside Chinese text (`用Python写代码` gives `python`), so an
//! edit inside it changes one unit where an edit of a Han character changes
//! one character; a reader (and character n-gram Jaccard, the usual measure
//! for these languages) weighs every character alike. For whole-document
//! similarity (dedup, the hashing embedder, lineage containment) `auto`
//! therefore cuts a document into its letters and digits, one unit each
//! (`str.isalnum()`, and the characters of `U`, the letters, marks and
//! numbers of the scripts without spaces, [`super::is_unspaced`]), when at
//! least [`DOCUMENT_SHARE`] of them are of `U`. The contamination scan keeps
//! the per-script units (`auto-span`): a span must match whatever surrounds
//! it.
//!
//! Python reference (`U` and the per-script tokens as in docs/hashing.md):
//!
//! ```python
//! lower = text.lower()
//! chars = [c for c in lower if c.isalnum() or c in U]
//! unspaced = sum(c in U for c in chars)
//! if unspaced and 10 * unspaced >= len(chars):
//!     tokens = chars
//! else:
//!     tokens = re.findall(f"[{U}]|[^\\W{U}]+", lower)
//! ```
//!
//! `_`, which `\w` adds to `str.isalnum()`, is no unit here: like `。` or
//! `-`, it is punctuation between letters. The count runs over the raw
//! characters, not their lowercase: no character of `U` changes under
//! `str.lower()` and no other character lowercases into `U`, and a
//! character is `\w` exactly when its lowercase holds one `\w` character
//! (`İ` gives `i` and a combining dot), which the tests check over every
//! code point. So the count needs no lowercasing, and a text with no byte of
//! a three- or four-byte character (every character of `U` is at U+0E00 or
//! above) needs no count at all.

use super::{Lower, is_unspaced, is_word, lowercase};

/// The share of unspaced-script characters among a document's letters and
/// digits from which `auto` cuts the whole document into characters, as
/// `(numerator, denominator)`: 1/10.
pub const DOCUMENT_SHARE: (u64, u64) = (1, 10);

/// Whether `text` is cut into characters by `auto`'s document rule: it has
/// a character of an unspaced script, and such characters are at least
/// [`DOCUMENT_SHARE`] of its letters and digits (`str.isalnum()` or
/// unspaced).
#[must_use]
pub fn in_characters(text: &str) -> bool {
    // Lead bytes of three- and four-byte characters; ASCII, Latin, Greek,
    // Cyrillic, Arabic and Hebrew text stops here.
    if !has_byte_from(text.as_bytes(), 0xE0) {
        return false;
    }
    // Unspaced characters are all three- or four-byte ones (from U+0E00,
    // [`is_unspaced`]): a document without one, as most with typographic
    // quotes or dashes are, stops here, before counting its letters.
    if !any_unspaced(text) {
        return false;
    }
    let mut unspaced = 0u64;
    let mut total = 0u64;
    for c in text.chars() {
        if c.is_ascii() {
            total += u64::from(c.is_ascii_alphanumeric());
        } else if is_unspaced(c) {
            unspaced += 1;
            total += 1;
        } else {
            total += u64::from(is_word(c));
        }
    }
    let (numerator, denominator) = DOCUMENT_SHARE;
    unspaced > 0 && unspaced * denominator >= numerator * total
}

/// Whether `text` has a character of an unspaced script: only its three-
/// and four-byte characters are decoded.
fn any_unspaced(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(skip) = bytes[at..].iter().position(|&b| b >= 0xE0) {
        at += skip;
        // A lead byte of valid UTF-8 starts a character.
        let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else {
            return false;
        };
        if is_unspaced(c) {
            return true;
        }
        at += c.len_utf8();
    }
    false
}

/// Whether a byte of `bytes` is at least `least`: 64 bytes at a time (the
/// maximum of a block vectorises; a search that stops at the first hit
/// does not), as most documents have no such byte and are read whole.
fn has_byte_from(bytes: &[u8], least: u8) -> bool {
    let mut blocks = bytes.chunks_exact(64);
    blocks.any(|block| block.iter().fold(0u8, |high, &b| high.max(b)) >= least)
        || blocks.remainder().iter().any(|&b| b >= least)
}

/// Append the lowercase letters and digits of `text` (`str.isalnum()` or
/// unspaced) to `out`, separated by single spaces: the normalized form of a
/// document that [`in_characters`] switches.
pub(super) fn join_characters(text: &str, out: &mut String) {
    out.reserve(2 * text.len());
    let push = |c: char, out: &mut String| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push(c);
    };
    for (offset, c) in text.char_indices() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                push(c.to_ascii_lowercase(), out);
            }
            continue;
        }
        match lowercase(text, offset, c) {
            Lower::One(l) => {
                if is_word(l) || is_unspaced(l) {
                    push(l, out);
                }
            }
            Lower::Many(len, chars) => {
                for &l in &chars[..len] {
                    if is_word(l) || is_unspaced(l) {
                        push(l, out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{Tokenizer, python_lower};

    #[test]
    fn unspaced_characters_all_take_three_bytes_or_more() {
        // What lets `in_characters` skip documents by their lead bytes.
        assert!(
            (0..0x800)
                .filter_map(char::from_u32)
                .all(|c| !is_unspaced(c))
        );
        for text in [
            "",
            "abc",
            "“quoted” — dashed…",
            "é ü ñ",
            "東",
            "a“b”c東",
            "“𝐀” ไทย",
        ] {
            assert_eq!(
                any_unspaced(text),
                text.chars().any(is_unspaced),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_block_search_finds_a_high_byte_wherever_it_is() {
        for len in 0..300 {
            let mut bytes = vec![0xDFu8; len];
            assert!(!has_byte_from(&bytes, 0xE0), "{len}");
            for at in 0..len {
                bytes[at] = 0xE0;
                assert!(has_byte_from(&bytes, 0xE0), "{len} {at}");
                bytes[at] = 0x41;
            }
        }
    }

    #[test]
    fn counts_need_no_lowercasing() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let lower = python_lower(&c.to_string());
            let words = lower.chars().filter(|&l| is_word(l)).count();
            assert_eq!(words, usize::from(is_word(c)), "{c:?}");
            let unspaced = lower.chars().filter(|&l| is_unspaced(l)).count();
            assert_eq!(unspaced, usize::from(is_unspaced(c)), "{c:?}");
            if is_unspaced(c) {
                assert_eq!(lower, c.to_string(), "{c:?}");
                assert!((c as u32) >= 0x0E00 && c.len_utf8() >= 3, "{c:?}");
            }
        }
    }

    #[test]
    fn the_share_decides() {
        // 1 unspaced character of 10 letters: switched.
        assert!(in_characters("漢 abcdefghi"));
        assert!(!in_characters("漢 abcdefghij"));
        assert!(!in_characters("Hello, world"));
        assert!(!in_characters("Привет, мир"));
        assert!(!in_characters("안녕하세요 세계"));
        assert!(!in_characters(""));
        // Punctuation of the CJK blocks counts for nothing.
        assert!(!in_characters("「」。 abc"));
        let auto = |text: &str| Tokenizer::Auto.tokenize(text);
        assert_eq!(
            auto("用Python写代码"),
            ["用", "p", "y", "t", "h", "o", "n", "写", "代", "码"]
        );
        assert_eq!(
            Tokenizer::AutoSpan.tokenize("用Python写代码"),
            ["用", "python", "写", "代", "码"]
        );
        assert_eq!(auto("İ東_x"), ["i", "東", "x"]);
        assert_eq!(auto("東_"), ["東"]);
        assert_eq!(auto("漢 abcdefghij"), ["漢", "abcdefghij"]);
    }
}
