//! Screening JSONL lines before a JSON parser sees them.
//!
//! pyarrow's JSON reader (RapidJSON underneath) recurses once per nesting
//! level (a 200 KB line nested 100,000 deep overflows its stack and kills the
//! process), infers one nested Arrow type per level (1,000–2,000 levels take
//! gigabytes to write), stores invalid UTF-8 and escaped lone surrogates
//! (`"\ud800"`) into string columns that then fail validation, and reads an
//! integer beyond the 64-bit range as a float, silently turning a whole id
//! column into floats. [`screen_lines`] finds the lines that would do any of
//! that, in one pass over a block of lines, so the reader can refuse or skip
//! them (naming the line) before the parser runs.
//!
//! Most lines are cleared by cheap filters (a count of opening brackets, a
//! search for `\u`, the longest run of digits); only lines that fail a filter
//! get the exact, string-aware scan.

use memchr::memchr_iter;
use memchr::memmem;

/// Why a line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineProblem {
    /// The line is not valid UTF-8; `byte` is the offset of the first bad byte.
    InvalidUtf8 { byte: usize },
    /// Arrays and objects are nested deeper than the limit (`depth` is the
    /// depth reached when the limit was crossed, i.e. `limit + 1`).
    TooDeep { depth: usize },
    /// A `\uXXXX` escape names a UTF-16 surrogate that has no partner.
    LoneSurrogate { byte: usize },
    /// An integer literal outside the signed 64-bit range.
    IntegerOutOfRange { byte: usize },
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidUtf8 { byte } => {
                write!(f, "not valid UTF-8 (first bad byte at offset {byte})")
            }
            Self::TooDeep { depth } => write!(
                f,
                "arrays/objects nested more than {} levels deep",
                depth.saturating_sub(1)
            ),
            Self::LoneSurrogate { byte } => write!(
                f,
                "escaped lone UTF-16 surrogate at offset {byte} (not a valid character)"
            ),
            Self::IntegerOutOfRange { byte } => write!(
                f,
                "integer at offset {byte} is outside the 64-bit range (quote it to keep it exact)"
            ),
        }
    }
}

/// The problem lines of `block` (lines separated by `\n`; a last line without
/// one counts), as `(0-based line index within the block, problem)`, in order.
/// At most one problem is reported per line (the first found).
pub fn screen_lines(block: &[u8], max_depth: usize) -> Vec<(usize, LineProblem)> {
    let block_is_utf8 = simdutf8_ok(block);
    let mut problems = Vec::new();
    let mut start = 0;
    let mut index = 0;
    let mut check = |index: usize, line: &[u8]| {
        if let Some(problem) = screen_line(line, max_depth, block_is_utf8) {
            problems.push((index, problem));
        }
    };
    for end in memchr_iter(b'\n', block) {
        check(index, &block[start..end]);
        start = end + 1;
        index += 1;
    }
    if start < block.len() {
        check(index, &block[start..]);
    }
    problems
}

fn simdutf8_ok(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok()
}

fn screen_line(line: &[u8], max_depth: usize, known_utf8: bool) -> Option<LineProblem> {
    if !known_utf8 && let Err(err) = std::str::from_utf8(line) {
        return Some(LineProblem::InvalidUtf8 {
            byte: err.valid_up_to(),
        });
    }
    let opens = line.iter().filter(|&&b| b == b'[' || b == b'{').count();
    let may_be_deep = opens > max_depth;
    let may_have_surrogate = memmem::find(line, b"\\u").is_some();
    let may_have_big_int = longest_digit_run(line) >= 19;
    if may_be_deep || may_have_surrogate || may_have_big_int {
        exact_scan(line, max_depth)
    } else {
        None
    }
}

fn longest_digit_run(line: &[u8]) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for &b in line {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// The string-aware scan: nesting depth outside strings, `\u` escapes inside
/// them, integer literals outside them.
fn exact_scan(line: &[u8], max_depth: usize) -> Option<LineProblem> {
    let mut depth = 0usize;
    let mut i = 0;
    let n = line.len();
    while i < n {
        match line[i] {
            b'"' => {
                i += 1;
                // Inside a string: find its end, checking escapes.
                while i < n {
                    match line[i] {
                        b'"' => break,
                        b'\\' => match escape(line, i) {
                            Ok(len) => i += len,
                            Err(problem) => return Some(problem),
                        },
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Some(LineProblem::TooDeep { depth });
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                if line[i] == b'-' {
                    i += 1;
                }
                let digits_start = i;
                while i < n && line[i].is_ascii_digit() {
                    i += 1;
                }
                let is_integer = !matches!(line.get(i), Some(b'.' | b'e' | b'E'));
                if is_integer && !fits_i64(&line[start..i], i - digits_start) {
                    return Some(LineProblem::IntegerOutOfRange { byte: start });
                }
                // The rest of a float (fraction, exponent) is skipped as plain bytes.
            }
            _ => i += 1,
        }
    }
    None
}

/// The length of the escape at `line[i]` (a backslash inside a string), or
/// the problem it is: a `\u` escape of a surrogate must be a high surrogate
/// followed by an escaped low one.
fn escape(line: &[u8], i: usize) -> Result<usize, LineProblem> {
    let Some(unit) = (line.get(i + 1) == Some(&b'u'))
        .then(|| hex4(line, i + 2))
        .flatten()
    else {
        return Ok(2);
    };
    let unpaired = LineProblem::LoneSurrogate { byte: i };
    if (0xDC00..0xE000).contains(&unit) {
        return Err(unpaired);
    }
    if !(0xD800..0xDC00).contains(&unit) {
        return Ok(6);
    }
    let low = (line.get(i + 6) == Some(&b'\\') && line.get(i + 7) == Some(&b'u'))
        .then(|| hex4(line, i + 8))
        .flatten();
    if low.is_some_and(|u| (0xDC00..0xE000).contains(&u)) {
        Ok(12)
    } else {
        Err(unpaired)
    }
}

fn hex4(line: &[u8], at: usize) -> Option<u32> {
    let digits = line.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(text, 16).ok()
}

fn fits_i64(literal: &[u8], digit_count: usize) -> bool {
    if digit_count < 19 {
        return true;
    }
    std::str::from_utf8(literal)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn problems(text: &str, max_depth: usize) -> Vec<(usize, LineProblem)> {
        screen_lines(text.as_bytes(), max_depth)
    }

    #[test]
    fn ordinary_lines_pass() {
        let text = "{\"text\": \"a [b] {c}\", \"n\": 9223372036854775807, \"m\": -9223372036854775808}\n\
                    {\"x\": [[1, 2], {\"y\": \"\\u00e9 \\ud83d\\ude00\"}], \"f\": 123456789012345678901.5}\n";
        assert_eq!(problems(text, 3), vec![]);
    }

    #[test]
    fn depth_is_counted_outside_strings_only() {
        let line = format!("{{\"a\": \"{}\"}}", "[".repeat(100));
        assert_eq!(problems(&line, 2), vec![]);
        let deep = format!("{}{}", "[".repeat(5), "]".repeat(5));
        assert_eq!(problems(&deep, 5), vec![]);
        assert_eq!(
            problems(&deep, 4),
            vec![(0, LineProblem::TooDeep { depth: 5 })]
        );
        // Depth resets per line; an escaped quote does not end a string.
        let text = format!("{{\"a\": \"\\\" [[[[[[\"}}\n{}\n", "[".repeat(9));
        assert_eq!(
            problems(&text, 4),
            vec![(1, LineProblem::TooDeep { depth: 5 })]
        );
    }

    #[test]
    fn lone_surrogates_are_found() {
        assert_eq!(
            problems(r#"{"t": "\ud800"}"#, 8),
            vec![(0, LineProblem::LoneSurrogate { byte: 7 })]
        );
        assert_eq!(
            problems(r#"{"t": "x\udc00"}"#, 8),
            vec![(0, LineProblem::LoneSurrogate { byte: 8 })]
        );
        assert_eq!(
            problems(r#"{"t": "\ud800\u0041"}"#, 8),
            vec![(0, LineProblem::LoneSurrogate { byte: 7 })]
        );
        // An escaped backslash followed by "ud800" is plain text.
        assert_eq!(problems(r#"{"t": "\\ud800"}"#, 8), vec![]);
    }

    #[test]
    fn big_integers_are_found_outside_strings() {
        assert_eq!(
            problems(r#"{"id": 9223372036854775808}"#, 8),
            vec![(0, LineProblem::IntegerOutOfRange { byte: 7 })]
        );
        assert_eq!(
            problems(r#"{"id": -99999999999999999999}"#, 8),
            vec![(0, LineProblem::IntegerOutOfRange { byte: 7 })]
        );
        assert_eq!(problems(r#"{"id": "99999999999999999999"}"#, 8), vec![]);
        assert_eq!(problems(r#"{"x": 99999999999999999999e3}"#, 8), vec![]);
    }

    #[test]
    fn invalid_utf8_is_named_per_line() {
        let block = b"{\"a\": 1}\n{\"a\": \"\xff\"}\n{\"a\": 2}";
        assert_eq!(
            screen_lines(block, 8),
            vec![(1, LineProblem::InvalidUtf8 { byte: 7 })]
        );
    }

    proptest! {
        /// The exact scan agrees with a plain recursive reading of depth on
        /// arbitrary bracket/quote soup (filters never hide a deep line).
        #[test]
        fn depth_matches_reference(s in "[\\[\\]{}\"\\\\a ]{0,64}", max_depth in 0usize..6) {
            let mut depth = 0usize;
            let mut deepest = 0usize;
            let mut in_string = false;
            let mut escaped = false;
            for c in s.chars() {
                if in_string {
                    if escaped { escaped = false; }
                    else if c == '\\' { escaped = true; }
                    else if c == '"' { in_string = false; }
                    continue;
                }
                match c {
                    '"' => in_string = true,
                    '[' | '{' => { depth += 1; deepest = deepest.max(depth); }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            let found = problems(&s, max_depth);
            prop_assert_eq!(!found.is_empty(), deepest > max_depth);
        }
    }
}
