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
//! Most lines are cleared by one pass of cheap filters over the whole block
//! ([`screen_block`]: UTF-8 validated once, and per 64-byte chunk a count of
//! opening brackets, a search for `\u` escapes that may name a surrogate and
//! for 8-digit words); only the lines a filter marks get the exact,
//! string-aware scan.

use memchr::memchr_iter;

use crate::simd::{self, Kernel};

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

/// What [`screen_block`] found in a block of lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenedBlock {
    /// The number of lines: the `\n` bytes, plus one if the block does not
    /// end with one (a last line without its newline counts).
    pub lines: usize,
    /// The problem lines, as `(0-based line index within the block,
    /// problem)`, in order; at most one per line (the first found).
    pub problems: Vec<(usize, LineProblem)>,
}

/// The problem lines of `block` (lines separated by `\n`; a last line without
/// one counts), as `(0-based line index within the block, problem)`, in order.
/// At most one problem is reported per line (the first found).
pub fn screen_lines(block: &[u8], max_depth: usize) -> Vec<(usize, LineProblem)> {
    screen_block(block, max_depth).problems
}

/// The problem lines of `block` and its number of lines, with the kernel
/// [`simd::kernel`] chose.
///
/// One vectorised pass over the block summarises each 64-byte chunk: its
/// counts of `[`/`{` and of newlines, a mark if it holds a `\u` escape that
/// may name a surrogate or an aligned word of 8 digits, and whether it holds
/// a byte outside ASCII (UTF-8 is validated only there). A walk over the
/// summaries counts the lines and clears every line whose chunks hold at
/// most `max_depth` brackets together and no mark; only the others are split
/// out and checked. Every filter errs only towards the exact scan, so the
/// result is that of [`exact_scan`] on every line (the proptest below checks
/// it under every kernel).
pub fn screen_block(block: &[u8], max_depth: usize) -> ScreenedBlock {
    // SAFETY: `simd::kernel` is a kernel the CPU supports.
    unsafe { screen_block_on(simd::kernel(), block, max_depth) }
}

/// [`screen_block`] with the kernel `kernel`.
///
/// # Safety
/// `kernel` is one the CPU supports ([`Kernel::is_supported`]).
pub(crate) unsafe fn screen_block_on(
    kernel: Kernel,
    block: &[u8],
    max_depth: usize,
) -> ScreenedBlock {
    // SAFETY: passed on from this function's contract.
    let summary = unsafe { chunk_summaries_on(kernel, block) };
    let mut screen = Screen {
        block,
        summary: &summary,
        max_depth,
        problems: Vec::new(),
    };
    if !non_ascii_is_utf8(block, &summary) {
        // Every line checked on its own, UTF-8 first.
        let mut start = 0;
        let mut lines = 0;
        for end in memchr_iter(b'\n', block) {
            screen.check_line(lines, start, end, true);
            start = end + 1;
            lines += 1;
        }
        if start < block.len() {
            screen.check_line(lines, start, block.len(), true);
            lines += 1;
        }
        return ScreenedBlock {
            lines,
            problems: screen.problems,
        };
    }
    // Walk the chunks, counting lines by their newlines. A line lies within
    // the chunks from the one holding the newline before it to the one
    // holding its own: while those chunks hold no mark and at most
    // `max_depth` brackets together, none of their lines can be a problem,
    // and only the other stretches are split into lines and checked.
    let mut line = 0; // index of the line in progress
    let mut opens = 0usize; // brackets in the chunks of the line in progress
    let mut marked = false;
    for (index, &chunk) in summary.iter().enumerate() {
        opens += usize::from(chunk & OPENS);
        marked |= chunk & MARK != 0;
        let newlines = usize::from((chunk & NEWLINES) >> NEWLINES_SHIFT);
        if newlines == 0 {
            continue;
        }
        if marked || opens > max_depth {
            let chunk_start = index * CHUNK;
            let chunk_end = (chunk_start + CHUNK).min(block.len());
            let mut start = line_start(block, chunk_start);
            for end in memchr_iter(b'\n', &block[chunk_start..chunk_end]) {
                screen.check_line(line, start, chunk_start + end, false);
                start = chunk_start + end + 1;
                line += 1;
            }
        } else {
            line += newlines;
        }
        // The next line starts in this chunk: its brackets and mark count.
        opens = usize::from(chunk & OPENS);
        marked = chunk & MARK != 0;
    }
    if block.last().is_some_and(|&last| last != b'\n') {
        if marked || opens > max_depth {
            screen.check_line(line, line_start(block, block.len()), block.len(), false);
        }
        line += 1;
    }
    ScreenedBlock {
        lines: line,
        problems: screen.problems,
    }
}

/// The offset of the line in progress at `offset`: after the last newline
/// before it.
fn line_start(block: &[u8], offset: usize) -> usize {
    memchr::memrchr(b'\n', &block[..offset]).map_or(0, |newline| newline + 1)
}

/// The state of [`screen_block_on`]: the block, its chunk summaries, and the
/// problems found so far.
struct Screen<'a> {
    block: &'a [u8],
    summary: &'a [u16],
    max_depth: usize,
    problems: Vec<(usize, LineProblem)>,
}

impl Screen<'_> {
    /// Checks the line `block[start..end]` (line `index`), UTF-8 first if
    /// `check_utf8`: the exact scan runs if a chunk it touches is marked, or
    /// if it holds more than `max_depth` brackets.
    fn check_line(&mut self, index: usize, start: usize, end: usize, check_utf8: bool) {
        let line = &self.block[start..end];
        if check_utf8 && let Err(err) = std::str::from_utf8(line) {
            self.problems.push((
                index,
                LineProblem::InvalidUtf8 {
                    byte: err.valid_up_to(),
                },
            ));
            return;
        }
        if line.is_empty() {
            return;
        }
        let chunks = &self.summary[start / CHUNK..=(end - 1) / CHUNK];
        let marked = chunks.iter().any(|&chunk| chunk & MARK != 0);
        if (marked || count_opens(line) > self.max_depth)
            && let Some(problem) = exact_scan(line, self.max_depth)
        {
            self.problems.push((index, problem));
        }
    }
}

/// Bytes summarised together: a line is screened by the chunks it touches.
const CHUNK: usize = 64;
/// Bytes read past a chunk's end (a `\u` escape's `u`, `d` and next digit).
const LOOKAHEAD: usize = 3;
/// The summary bits that count a chunk's opening brackets (at most 64).
const OPENS: u16 = 0x7F;
/// The summary bits that count a chunk's newlines (at most 64).
const NEWLINES: u16 = 0x7F << NEWLINES_SHIFT;
const NEWLINES_SHIFT: u16 = 7;
/// The summary bit that sends the lines of a chunk to the exact scan.
const MARK: u16 = 1 << 14;
/// The summary bit of a chunk with a byte outside ASCII.
const NON_ASCII: u16 = 1 << 15;

/// Whether `block` is UTF-8, validating only its runs of chunks with a byte
/// outside ASCII: a run starts after an ASCII byte and ends before one, so
/// no character crosses its edges, and ASCII bytes are valid alone.
fn non_ascii_is_utf8(block: &[u8], summary: &[u16]) -> bool {
    let mut chunk = 0;
    while chunk < summary.len() {
        if summary[chunk] & NON_ASCII == 0 {
            chunk += 1;
            continue;
        }
        let first = chunk;
        while chunk < summary.len() && summary[chunk] & NON_ASCII != 0 {
            chunk += 1;
        }
        let run = &block[first * CHUNK..(chunk * CHUNK).min(block.len())];
        if std::str::from_utf8(run).is_err() {
            return false;
        }
    }
    true
}

/// One summary per [`CHUNK`] bytes of `block`, the last chunk padded.
///
/// # Safety
/// `kernel` is one the CPU supports.
unsafe fn chunk_summaries_on(kernel: Kernel, block: &[u8]) -> Vec<u16> {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            // SAFETY: the CPU supports this kernel (this function's contract).
            unsafe { chunk_summaries_avx512(block) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            // SAFETY: the CPU supports this kernel (this function's contract).
            unsafe { chunk_summaries_avx2(block) }
        }
        _ => chunk_summaries(block),
    }
}

/// [`chunk_summaries`] compiled for AVX2 (the same code, 32 bytes a vector).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chunk_summaries_avx2(block: &[u8]) -> Vec<u16> {
    chunk_summaries(block)
}

/// [`chunk_summaries`] compiled for AVX-512 (64 bytes a vector).
///
/// # Safety
/// The CPU must support AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn chunk_summaries_avx512(block: &[u8]) -> Vec<u16> {
    chunk_summaries(block)
}

#[inline(always)]
fn chunk_summaries(block: &[u8]) -> Vec<u16> {
    let mut out = Vec::with_capacity(block.len().div_ceil(CHUNK));
    let mut start = 0;
    while let Some(chunk) = block
        .get(start..)
        .and_then(<[u8]>::first_chunk::<{ CHUNK + LOOKAHEAD }>)
    {
        out.push(summarise(chunk));
        start += CHUNK;
    }
    // The last chunk or two, padded with zeros (no bracket, digit or escape).
    while start < block.len() {
        let rest = &block[start..];
        let take = rest.len().min(CHUNK + LOOKAHEAD);
        let mut padded = [0u8; CHUNK + LOOKAHEAD];
        padded[..take].copy_from_slice(&rest[..take]);
        out.push(summarise(&padded));
        start += CHUNK;
    }
    out
}

/// The summary of `chunk[..CHUNK]` (the rest is lookahead): its count of
/// `[`/`{` and of newlines, [`NON_ASCII`] if it holds a byte above 127, and [`MARK`] if it holds a backslash followed by `u`, `d` or
/// `D`, and one of `89abcdefABCDEF` (a `\u` escape that may name a surrogate
/// starts so), or an 8-byte word (aligned to the chunk) of ASCII digits:
/// every run of 15 or more digits holds one, so every integer of 19 digits
/// or more is marked.
#[inline(always)]
fn summarise(chunk: &[u8; CHUNK + LOOKAHEAD]) -> u16 {
    let mut opens = 0u8;
    let mut newlines = 0u8;
    let mut escape = 0u8;
    let mut any_high_bit = 0u8;
    for i in 0..CHUNK {
        any_high_bit |= chunk[i];
        newlines += u8::from(chunk[i] == b'\n');
        // `[` is 0x5B, `{` 0x7B: the two bytes that are 0x7B with bit 5 set.
        opens += u8::from(chunk[i] | 0x20 == b'{');
        let last = chunk[i + 3];
        let high =
            u8::from((last | 0x20).wrapping_sub(b'a') < 6) | u8::from(last.wrapping_sub(b'8') < 2);
        escape |= u8::from(chunk[i] == b'\\')
            & u8::from(chunk[i + 1] == b'u')
            & u8::from(chunk[i + 2] | 0x20 == b'd')
            & high;
    }
    let mut digits = false;
    let (words, _) = chunk[..CHUNK].as_chunks::<8>();
    for word in words {
        digits |= all_digits(u64::from_le_bytes(*word));
    }
    let mut summary = u16::from(opens) | u16::from(newlines) << NEWLINES_SHIFT;
    if escape != 0 || digits {
        summary |= MARK;
    }
    if any_high_bit & 0x80 != 0 {
        summary |= NON_ASCII;
    }
    summary
}

/// Whether the 8 bytes of `word` are all ASCII digits: high nibble 3 and low
/// nibble at most 9 (adding 6 to it does not carry into bit 4).
#[inline(always)]
fn all_digits(word: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const LOW: u64 = 0x0F0F_0F0F_0F0F_0F0F;
    (word & HIGH) == 0x3030_3030_3030_3030 && ((word & LOW) + 0x0606_0606_0606_0606) & HIGH == 0
}

fn count_opens(line: &[u8]) -> usize {
    line.iter().filter(|&&b| b | 0x20 == b'{').count()
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
        #![proptest_config(ProptestConfig::with_cases(1024))]

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

        /// The fast screen finds exactly what the exact scan finds on every
        /// line (and the line count), under every kernel this CPU runs, on
        /// lines of brackets, quotes, escapes (surrogates among them), digit
        /// runs of 14-24 inside and outside strings and invalid UTF-8, at
        /// every alignment to the 64-byte chunks.
        #[test]
        fn fast_screen_matches_exact_scan(
            parts in prop::collection::vec(
                prop_oneof![12 => prop::sample::select(HARMLESS), 1 => prop::sample::select(HOSTILE)],
                0..200,
            ),
            lead in 0usize..70,
            max_depth in prop::sample::select(vec![0usize, 1, 2, 3, 5, 8, 16, 63, 64, 65]),
        ) {
            let mut block = vec![b' '; lead];
            for part in &parts {
                block.extend_from_slice(part);
            }
            let expected = reference(&block, max_depth);
            for kernel in Kernel::supported() {
                // SAFETY: `Kernel::supported` lists kernels the CPU runs.
                let found = unsafe { screen_block_on(kernel, &block, max_depth) };
                prop_assert_eq!(&found, &expected, "kernel {}", kernel.name());
            }
        }
    }

    /// Pieces of JSON lines that no filter marks alone.
    const HARMLESS: &[&[u8]] = &[
        b"{\"a\": ",
        b"}",
        b"[",
        b"]",
        b"{",
        b"\"",
        b" ",
        b"x",
        b", ",
        b"\n",
        b"\n",
        b"plain words here",
        b"\\",
        b"\\\\",
        b"\\u",
        b"\\\"",
        b"\\u00e9",
        b"\\ud7ff",
        b"\\u0041",
        b"\\uE000",
        b"d8",
        b"12345678901234",
        b"0.5e3",
        b".",
        b"e",
        b"-",
        b"\xc3\xa9",
        b"\xe2\x82\xac",
    ];

    /// Pieces that may make a line a problem (or mark it for the exact scan).
    const HOSTILE: &[&[u8]] = &[
        b"\\ud800",
        b"\\uD83D",
        b"\\udc00",
        b"\\uDFFF",
        b"\\ude00",
        b"\\uD83D\\uDE00",
        b"123456789012345",
        b"1234567890123456789",
        b"9223372036854775807",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"123456789012345678901234",
        b"[[[[[[[[[[[[[[[[",
        b"{{{{{{{{{{{{{{{{",
        b"]]]]]]]]]]]]]]]]",
        b"\xff",
        b"\xc3",
        b"\xed\xa0\x80",
        b"\xf0\x9f\x98",
    ];

    /// The screen without filters: UTF-8, then the exact scan, on every line.
    fn reference(block: &[u8], max_depth: usize) -> ScreenedBlock {
        let mut lines: Vec<&[u8]> = block.split(|&b| b == b'\n').collect();
        if block.is_empty() || block.ends_with(b"\n") {
            lines.pop();
        }
        let problems = lines
            .iter()
            .enumerate()
            .filter_map(|(index, line)| {
                let problem = match std::str::from_utf8(line) {
                    Err(err) => Some(LineProblem::InvalidUtf8 {
                        byte: err.valid_up_to(),
                    }),
                    Ok(_) => exact_scan(line, max_depth),
                };
                problem.map(|problem| (index, problem))
            })
            .collect();
        ScreenedBlock {
            lines: lines.len(),
            problems,
        }
    }

    #[test]
    fn lines_are_counted_with_or_without_a_last_newline() {
        assert_eq!(screen_block(b"", 4).lines, 0);
        assert_eq!(screen_block(b"\n", 4).lines, 1);
        assert_eq!(screen_block(b"{}\n{}", 4).lines, 2);
        assert_eq!(screen_block(b"{}\n\n{}\n", 4).lines, 3);
    }

    #[test]
    fn marks_across_chunk_edges_are_seen() {
        // A surrogate escape and a 19-digit integer straddling byte 64, and
        // a line whose brackets are split between two chunks.
        for lead in 50..70 {
            let pad = " ".repeat(lead);
            let text =
                format!("{pad}{{\"t\": \"\\udc00\"}}\n{pad}{{\"n\": 99999999999999999999}}\n");
            let found = screen_lines(text.as_bytes(), 8);
            assert_eq!(found.len(), 2, "lead {lead}: {found:?}");
            let deep = format!("{pad}{}{}\n", "[".repeat(9), "]".repeat(9));
            assert_eq!(
                screen_lines(deep.as_bytes(), 8),
                vec![(0, LineProblem::TooDeep { depth: 9 })]
            );
            assert_eq!(screen_lines(deep.as_bytes(), 9), vec![]);
        }
    }
}
