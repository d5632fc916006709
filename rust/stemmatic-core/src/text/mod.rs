//! Text normalization and tokenization, defined by Python's own behaviour so
//! that a plain-Python reference gives the same tokens on every string.
//!
//! | tokenizer    | tokens (Python)                              | shingle unit |
//! |--------------|----------------------------------------------|--------------|
//! | `words`      | `re.findall(r"\w+", text.lower())`           | token        |
//! | `whitespace` | `text.lower().split()`                       | token        |
//! | `chars`      | characters of `" ".join(text.lower().split())` | character  |
//! | `auto-span`  | `re.findall(f"[{U}]\|[^\\W{U}]+", text.lower())` | token     |
//! | `auto-document` | `auto-span`, or its characters one by one if [`document::in_characters`] | token |
//! | `auto`       | `auto-document` for whole documents, `auto-span` for spans | token |
//!
//! `auto-span` is `words`, except that each character of a script written
//! without spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar,
//! Tibetan, ...: the letters, marks and numbers of [`is_unspaced`]'s blocks,
//! `U` above) is a token of its own. `auto-document` adds the [`document`]
//! rule: a document at least a tenth of whose letters and digits are of `U` is
//! cut into its letters and digits, Latin included. `auto`, the default of the
//! Python API and CLI, is `auto-document` wherever whole documents are
//! compared and `auto-span` in the contamination index and scan
//! ([`Tokenizer::for_spans`]). On a text without characters of `U` all three
//! give exactly the `words` tokens.
//!
//! `text.lower()` is Python's full lowercase mapping (U+0130 `İ` becomes
//! `i` + U+0307) with its final-sigma rule; `\w` is what Python's `re` matches
//! for `str` patterns (letters, digits and numerics of every script, and `_`);
//! whitespace is `str.isspace()`. The character properties are generated from
//! CPython by `tools/gen_unicode_tables.py` (see [`UNICODE_VERSION`]) rather
//! than taken from Rust's `char`, which follows a different Unicode version
//! and a different definition of whitespace.
//!
//! The tokenizers write the normalized tokens, joined by single spaces, into a
//! caller-owned buffer: an n-gram of tokens is then one contiguous slice of
//! that buffer, hashed without copying (see [`crate::shingle`]).
//! [`units`] is the fast one-pass form of the same tokenizers (8 bytes at a
//! time for ASCII), used by MinHash, verification and the contamination
//! scanner, with each unit's start and a cheap per-unit hash.

pub mod document;
mod unicode_tables;
pub(crate) mod units;

use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;
pub use unicode_tables::UNICODE_VERSION;
use unicode_tables::{CASE_IGNORABLE, CASED, LOWER_MULTI, LOWER_SINGLE, SPACE, UNSPACED, WORD};

/// How a text is cut into the units that shingles are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tokenizer {
    /// Lowercased `\w+` runs: `re.findall(r"\w+", text.lower())`.
    Words,
    /// Lowercased whitespace-separated tokens: `text.lower().split()`.
    Whitespace,
    /// Characters of the lowercased, whitespace-collapsed text.
    Chars,
    /// `auto-document` for whole documents (dedup, MinHash, verification,
    /// exact keys, [`Tokenizer::tokenize`]); `auto-span` for the spans of the
    /// contamination index and scan ([`Tokenizer::for_spans`]).
    Auto,
    /// `words`, with each character of the scripts written without spaces
    /// ([`is_unspaced`]) a token of its own: context-free units.
    AutoSpan,
    /// `auto-span`, except that a document that [`document::in_characters`]
    /// switches is cut into its letters and digits, one unit each.
    AutoDocument,
}

impl Tokenizer {
    /// All tokenizers, in their documented order.
    pub const ALL: [Tokenizer; 6] = [
        Tokenizer::Words,
        Tokenizer::Whitespace,
        Tokenizer::Chars,
        Tokenizer::Auto,
        Tokenizer::AutoSpan,
        Tokenizer::AutoDocument,
    ];

    /// The name used in APIs, files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::Words => "words",
            Tokenizer::Whitespace => "whitespace",
            Tokenizer::Chars => "chars",
            Tokenizer::Auto => "auto",
            Tokenizer::AutoSpan => "auto-span",
            Tokenizer::AutoDocument => "auto-document",
        }
    }

    /// Whether ASCII characters are cut as `\w` runs (`words` and the
    /// `auto` family, which differ only on non-ASCII characters) rather than
    /// at whitespace.
    #[inline]
    pub fn ascii_words(self) -> bool {
        !matches!(self, Tokenizer::Whitespace | Tokenizer::Chars)
    }

    /// The tokenizer whose units span matching uses: `auto-span` for the
    /// `auto` family (a span must match whatever surrounds it, so its units
    /// cannot depend on the rest of the document), the tokenizer itself
    /// otherwise.
    #[must_use]
    pub fn for_spans(self) -> Self {
        match self {
            Tokenizer::Auto | Tokenizer::AutoDocument => Tokenizer::AutoSpan,
            other => other,
        }
    }

    /// Whether the document rule applies: `text` is cut into its token
    /// characters ([`document::in_characters`], for `auto` and
    /// `auto-document`). False without looking at the text for the other
    /// tokenizers.
    #[inline]
    pub fn in_characters(self, text: &str) -> bool {
        matches!(self, Tokenizer::Auto | Tokenizer::AutoDocument) && document::in_characters(text)
    }

    /// Whether shingles are n-grams of characters rather than of tokens.
    pub fn is_char_level(self) -> bool {
        matches!(self, Tokenizer::Chars)
    }

    /// Write the normalized form of the document `text` into `out` (cleared
    /// first): the tokens joined by single spaces for `words`, `whitespace`
    /// and the `auto` family, the collapsed text for `chars` (the same
    /// string as for `whitespace`).
    pub fn normalize_into(self, text: &str, out: &mut String) {
        if self.in_characters(text) {
            out.clear();
            document::join_characters(text, out);
        } else {
            self.normalize_span_into(text, out);
        }
    }

    /// [`Tokenizer::normalize_into`] without the document rule: the
    /// context-free units of a piece of text, the same wherever the piece
    /// stands (`auto` and `auto-document` cut as `auto-span`).
    pub(crate) fn normalize_span_into(self, text: &str, out: &mut String) {
        out.clear();
        match self {
            Tokenizer::Words => join_tokens(text, out, &ASCII_WORD, |c| Keep::from(is_word(c))),
            Tokenizer::Whitespace | Tokenizer::Chars => {
                join_tokens(text, out, &ASCII_NON_SPACE, |c| Keep::from(!is_space(c)));
            }
            Tokenizer::Auto | Tokenizer::AutoSpan | Tokenizer::AutoDocument => {
                join_tokens(text, out, &ASCII_WORD, auto_keep);
            }
        }
    }

    /// The tokens of `text` as owned strings (for tests and small inputs).
    pub fn tokenize(self, text: &str) -> Vec<String> {
        let mut buffer = String::new();
        self.normalize_into(text, &mut buffer);
        if self.is_char_level() {
            buffer.chars().map(String::from).collect()
        } else {
            buffer
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect()
        }
    }
}

impl fmt::Display for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tokenizer {
    type Err = CoreError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "words" => Ok(Tokenizer::Words),
            "whitespace" => Ok(Tokenizer::Whitespace),
            "chars" => Ok(Tokenizer::Chars),
            "auto" => Ok(Tokenizer::Auto),
            "auto-span" => Ok(Tokenizer::AutoSpan),
            "auto-document" => Ok(Tokenizer::AutoDocument),
            other => Err(CoreError::param(
                "tokenizer",
                format!(
                    "unknown tokenizer {other:?}; expected one of \"auto\", \"auto-span\", \"auto-document\", \"words\", \"whitespace\", \"chars\""
                ),
            )),
        }
    }
}

/// For each ASCII byte: its lowercase form if it belongs to a token, else
/// [`AsciiTable::SEPARATOR`] (NUL is a token character for `whitespace`).
struct AsciiTable([u8; 128]);

impl AsciiTable {
    const SEPARATOR: u8 = 0xFF;

    const fn new(words: bool) -> Self {
        let mut table = [Self::SEPARATOR; 128];
        let mut i = 0;
        while i < 128 {
            let b = i as u8;
            if is_ascii_token_byte(b, words) {
                table[i] = b.to_ascii_lowercase();
            }
            i += 1;
        }
        Self(table)
    }
}

/// Whether the ASCII byte `b` belongs to a token: `\w` (letters, digits,
/// `_`) for `words`, not `str.isspace()` for `whitespace`.
pub(crate) const fn is_ascii_token_byte(b: u8, words: bool) -> bool {
    if words {
        b.is_ascii_alphanumeric() || b == b'_'
    } else {
        !matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | 0x1C..=0x1F)
    }
}

/// `\w` for ASCII: letters, digits, `_`.
static ASCII_WORD: AsciiTable = AsciiTable::new(true);
/// Not `str.isspace()` for ASCII.
static ASCII_NON_SPACE: AsciiTable = AsciiTable::new(false);

/// What becomes of a lowercased character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// A separator: it ends the current token.
    Drop,
    /// It joins the current token (or starts one).
    Join,
    /// A token of its own.
    Alone,
}

impl From<bool> for Keep {
    #[inline(always)]
    fn from(keep: bool) -> Self {
        if keep { Keep::Join } else { Keep::Drop }
    }
}

/// [`Keep`] for `auto`: characters of unspaced scripts alone, other `\w`
/// characters joined.
#[inline]
pub(crate) fn auto_keep(c: char) -> Keep {
    if is_unspaced(c) {
        Keep::Alone
    } else {
        Keep::from(is_word(c))
    }
}

/// Lowercase `text` as Python's `str.lower()` does and append its tokens,
/// separated by single spaces: the runs of characters that `keep` joins,
/// and each character it keeps alone.
///
/// ASCII bytes, the bulk of most corpora, go through a 128-entry table
/// (`ascii`, which must agree with `keep`); any other character is decoded
/// and lowercased through the generated tables.
#[inline]
fn join_tokens(text: &str, out: &mut String, ascii: &AsciiTable, keep: impl Fn(char) -> Keep) {
    let bytes = text.as_bytes();
    let mut buf = std::mem::take(out).into_bytes();
    buf.reserve(bytes.len());
    let mut in_token = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            let lower = ascii.0[usize::from(b)];
            if lower == AsciiTable::SEPARATOR {
                in_token = false;
            } else {
                if !in_token && !buf.is_empty() {
                    buf.push(b' ');
                }
                in_token = true;
                buf.push(lower);
            }
            i += 1;
            continue;
        }
        // A non-ASCII byte starts a multi-byte character: `i` is on a char
        // boundary because every earlier step advanced by whole characters.
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        let (len, chars) = match lowercase(text, i, c) {
            Lower::One(l) => (1, [l; 3]),
            Lower::Many(len, chars) => (len, chars),
        };
        for &l in &chars[..len] {
            let keep = keep(l);
            if keep == Keep::Drop {
                in_token = false;
                continue;
            }
            if (!in_token || keep == Keep::Alone) && !buf.is_empty() {
                buf.push(b' ');
            }
            in_token = keep == Keep::Join;
            buf.extend_from_slice(l.encode_utf8(&mut [0; 4]).as_bytes());
        }
        i += c.len_utf8();
    }
    // Only whole characters were appended (ASCII bytes or `encode_utf8`
    // output), so this conversion always succeeds; it is checked rather than
    // `unsafe` because the check costs little next to hashing.
    *out = String::from_utf8(buf)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
}

/// The lowercase form of one character.
enum Lower {
    One(char),
    Many(usize, [char; 3]),
}

/// Python's `str.lower()` of the character `c` at byte `offset` of `text`.
#[inline]
fn lowercase(text: &str, offset: usize, c: char) -> Lower {
    let cp = c as u32;
    if cp == 0x03A3 {
        return Lower::One(if is_final_sigma(text, offset) {
            '\u{03C2}'
        } else {
            '\u{03C3}'
        });
    }
    if let Ok(i) = LOWER_SINGLE.binary_search_by_key(&cp, |&(from, _)| from) {
        return Lower::One(char::from_u32(LOWER_SINGLE[i].1).unwrap_or(c));
    }
    if let Ok(i) = LOWER_MULTI.binary_search_by_key(&cp, |&(from, _, _)| from) {
        let (_, len, chars) = LOWER_MULTI[i];
        let mut out = [c; 3];
        for (slot, &cp) in out.iter_mut().zip(&chars[..usize::from(len)]) {
            *slot = char::from_u32(cp).unwrap_or(c);
        }
        return Lower::Many(usize::from(len), out);
    }
    Lower::One(c)
}

/// Call `f` with each character of `python_lower` of `c` on its own (the
/// same characters, without a `String`).
#[inline]
pub(crate) fn for_each_lower_char(c: char, mut f: impl FnMut(char)) {
    let mut buffer = [0u8; 4];
    let alone: &str = c.encode_utf8(&mut buffer);
    match lowercase(alone, 0, c) {
        Lower::One(l) => f(l),
        Lower::Many(len, chars) => chars[..len].iter().for_each(|&l| f(l)),
    }
}

/// CPython's `handle_capital_sigma`: U+03A3 at `offset` lowercases to final
/// sigma when preceded by a cased letter and not followed by one, skipping
/// case-ignorable characters on both sides.
fn is_final_sigma(text: &str, offset: usize) -> bool {
    let before = text[..offset]
        .chars()
        .rev()
        .find(|&c| !is_case_ignorable(c));
    if !before.is_some_and(is_cased) {
        return false;
    }
    let after_start = offset + '\u{03A3}'.len_utf8();
    let after = text[after_start..].chars().find(|&c| !is_case_ignorable(c));
    !after.is_some_and(is_cased)
}

#[inline]
fn in_ranges(table: &[(u32, u32)], cp: u32) -> bool {
    // Index of the first range starting after cp; the range before it is the
    // only one that can contain cp.
    let idx = table.partition_point(|&(start, _)| start <= cp);
    idx > 0 && cp <= table[idx - 1].1
}

/// Whether Python's `re` matches `c` with `\w` (a `str` pattern).
#[inline]
pub fn is_word(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        in_ranges(WORD, c as u32)
    }
}

/// Whether `c` is a unit of its own for `auto`: a letter, mark or number
/// (Unicode general category `L*`, `M*` or `N*`) in one of the blocks of
/// the scripts written without spaces between words that
/// `tools/gen_unicode_tables.py` lists (Han, kana, Bopomofo, Yi, Thai, Lao,
/// Tibetan, Myanmar, Khmer, Tai scripts, Balinese, Javanese, ...).
#[inline]
pub fn is_unspaced(c: char) -> bool {
    // Every block starts above U+0E00.
    (c as u32) >= 0x0E00 && in_ranges(UNSPACED, c as u32)
}

/// Whether Python's `str.isspace()` is true for `c`.
#[inline]
pub fn is_space(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r' | '\x1C'..='\x1F'
        )
    } else {
        in_ranges(SPACE, c as u32)
    }
}

fn is_case_ignorable(c: char) -> bool {
    in_ranges(CASE_IGNORABLE, c as u32)
}

fn is_cased(c: char) -> bool {
    in_ranges(CASED, c as u32)
}

/// Python's `str.lower()` of a whole string (final sigma included).
pub fn python_lower(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (offset, c) in text.char_indices() {
        match lowercase(text, offset, c) {
            Lower::One(l) => out.push(l),
            Lower::Many(len, chars) => out.extend(&chars[..len]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        Tokenizer::Words.tokenize(text)
    }

    #[test]
    fn words_are_lowercase_word_runs() {
        assert_eq!(
            words("Hello, World! foo_bar 42x"),
            ["hello", "world", "foo_bar", "42x"]
        );
        assert_eq!(words("  \t\n"), Vec::<String>::new());
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn words_follow_python_unicode_rules() {
        // İ lowercases to i + COMBINING DOT ABOVE, which is not \w in Python.
        assert_eq!(words("İstanbul"), ["i", "stanbul"]);
        // Digits of other scripts and astral letters are \w.
        assert_eq!(words("٣٤ 𝔘𝔫𝔦"), ["٣٤", "𝔘𝔫𝔦"]);
        // Final sigma: word-final Σ lowercases to ς.
        assert_eq!(words("ΟΔΟΣ ΟΔΟΣ."), ["οδος", "οδος"]);
        assert_eq!(python_lower("ΟΔΟΣ ΣΑ Σ"), "οδος σα σ");
        // A combining mark is not \w: it splits the word.
        assert_eq!(words("cafe\u{301} x"), ["cafe", "x"]);
    }

    #[test]
    fn whitespace_uses_python_isspace() {
        // U+001F is whitespace to str.split() but not to Unicode White_Space.
        assert_eq!(
            Tokenizer::Whitespace.tokenize("A\u{1F}b  C\u{3000}d"),
            ["a", "b", "c", "d"]
        );
        assert_eq!(Tokenizer::Chars.tokenize(" Ab \n c "), ["a", "b", " ", "c"]);
    }

    #[test]
    fn auto_span_cuts_unspaced_scripts_into_characters() {
        let auto = |text: &str| Tokenizer::AutoSpan.tokenize(text);
        assert_eq!(
            auto("我爱北京。Hello, World!"),
            ["我", "爱", "北", "京", "hello", "world"]
        );
        // Digits and Latin stay runs beside ideographs; ー and 々 are units.
        assert_eq!(
            auto("2024年コーヒー々x1"),
            ["2024", "年", "コ", "ー", "ヒ", "ー", "々", "x1"]
        );
        // Thai marks are units too (not \w, so `words` splits at them).
        assert_eq!(
            auto("ที่นี่"),
            ["ท", "\u{e35}", "\u{e48}", "น", "\u{e35}", "\u{e48}"]
        );
        // Spaced scripts keep word units.
        for text in [
            "Привет, мир",
            "안녕하세요 세계",
            "مرحبا بالعالم",
            "नमस्ते दुनिया",
            "ΟΔΟΣ İx",
        ] {
            for tokenizer in [
                Tokenizer::AutoSpan,
                Tokenizer::Auto,
                Tokenizer::AutoDocument,
            ] {
                assert_eq!(tokenizer.tokenize(text), words(text), "{tokenizer} {text}");
            }
        }
        let mut normalized = String::new();
        Tokenizer::AutoSpan.normalize_into("ab漢字cdefghijklmnopq", &mut normalized);
        assert_eq!(normalized, "ab 漢 字 cdefghijklmnopq");
        // The document rule: 2 of 19 letters are Han.
        for tokenizer in [Tokenizer::Auto, Tokenizer::AutoDocument] {
            tokenizer.normalize_into("ab漢字cdefghijklmnopq", &mut normalized);
            assert_eq!(normalized, "a b 漢 字 c d e f g h i j k l m n o p q");
        }
        // 2 of 21: per-script units.
        Tokenizer::Auto.normalize_into("ab漢字cdefghijklmnopqrs", &mut normalized);
        assert_eq!(normalized, "ab 漢 字 cdefghijklmnopqrs");
    }

    #[test]
    fn tokenizer_names_round_trip() {
        for tokenizer in Tokenizer::ALL {
            assert_eq!(tokenizer.name().parse::<Tokenizer>().unwrap(), tokenizer);
        }
        assert!("bpe".parse::<Tokenizer>().is_err());
    }
}
