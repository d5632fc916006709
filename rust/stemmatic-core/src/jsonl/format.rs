//! Scalar values as the bytes of JSON values: strings escaped per RFC 8259,
//! floats in their shortest round-trip form, ISO 8601 dates, times,
//! timestamps and durations, decimals with every digit, base64 (RFC 4648).
//!
//! The layouts are those of Arrow C++'s casts to string (what stemmatic's
//! JSONL writer wrote before this encoder): floats switch to exponent
//! notation outside `1e-6 <= |x| < 1e10` (`1e+20`, `1.5e-7`), decimals follow
//! Java's `BigDecimal.toString` (`1.5E+2` for a negative scale), years below
//! 1000 are zero-padded to four digits.

use std::fmt::Write as _;

/// Escape of each byte inside a JSON string value: 0 = as it is, else the
/// byte of its short escape (`n` for `\n`), or `u` for `\u00XX`.
const fn escape_table(short_b_f: bool) -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    if short_b_f {
        table[0x08] = b'b';
        table[0x0c] = b'f';
    }
    table
}

/// How values are escaped: `\u0008` and `\u000c` for backspace and form feed.
static VALUE_ESCAPES: [u8; 256] = escape_table(false);
/// How field names are escaped (Python's `json.dumps`): `\b` and `\f`.
static KEY_ESCAPES: [u8; 256] = escape_table(true);

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The high bit of each of the 8 bytes of `word` that must be escaped
/// (below 0x20, `"` or `\`); exact for the lowest such byte, which is all the
/// caller uses (a borrow can only mark bytes above a true one).
#[inline]
fn escape_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let has_quote = quote.wrapping_sub(ONES) & !quote;
    let has_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | has_quote | has_backslash) & HIGHS
}

fn push_escaped(out: &mut Vec<u8>, text: &[u8], table: &[u8; 256]) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut run_start = 0;
    let mut i = 0;
    while i < text.len() {
        // Eight bytes at a time while none needs escaping (most text), then
        // straight to the first that does.
        if let Some(chunk) = text.get(i..i + 8) {
            let mask = escape_mask(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
            if mask == 0 {
                i += 8;
                continue;
            }
            i += (mask.trailing_zeros() / 8) as usize;
        }
        let byte = text[i];
        let escape = table[byte as usize];
        if escape != 0 {
            out.extend_from_slice(&text[run_start..i]);
            if escape == b'u' {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(byte >> 4) as usize]);
                out.push(HEX[(byte & 0xf) as usize]);
            } else {
                out.push(b'\\');
                out.push(escape);
            }
            run_start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&text[run_start..]);
    out.push(b'"');
}

/// `text` (UTF-8) as a JSON string: quotes, backslashes and control
/// characters escaped (`\n`, `\r`, `\t`, else `\u00XX`), all else as it is.
pub fn push_json_string(out: &mut Vec<u8>, text: &[u8]) {
    push_escaped(out, text, &VALUE_ESCAPES);
}

/// A field name as Python's `json.dumps(name, ensure_ascii=False)` writes it
/// (`\b` and `\f` as short escapes).
pub fn push_json_key(out: &mut Vec<u8>, name: &str) {
    push_escaped(out, name.as_bytes(), &KEY_ESCAPES);
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` as a quoted base64 string (RFC 4648 alphabet, padded).
pub fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len().div_ceil(3) * 4 + 2);
    out.push(b'"');
    let mut chunks = bytes.chunks_exact(3);
    for chunk in &mut chunks {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        out.extend_from_slice(&[
            BASE64[(n >> 18) as usize & 63],
            BASE64[(n >> 12) as usize & 63],
            BASE64[(n >> 6) as usize & 63],
            BASE64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                BASE64[(n >> 18) as usize & 63],
                BASE64[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                BASE64[(n >> 18) as usize & 63],
                BASE64[(n >> 12) as usize & 63],
                BASE64[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
    out.push(b'"');
}

/// A finite float given as its shortest round-trip text (any layout Rust's
/// `ryu` writes: `1e20`, `0.001`, `-1.5e-7`) laid out as Arrow C++ writes
/// it, with `.0` added when it would otherwise read back as an integer.
fn push_float_text(out: &mut Vec<u8>, text: &str) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    // Position of the decimal point, counted in digits from the first one.
    let mut point = whole.len() as i32 + exponent;
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    if leading == digits.len() {
        digits = vec![b'0'];
        point = 1;
    } else {
        digits.drain(..leading);
        point -= leading as i32;
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
    }
    if negative {
        out.push(b'-');
    }
    let exponent = point - 1;
    let count = digits.len() as i32;
    if (-6..10).contains(&exponent) {
        if point <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-point) as usize));
            out.extend_from_slice(&digits);
        } else if point >= count {
            out.extend_from_slice(&digits);
            out.extend(std::iter::repeat_n(b'0', (point - count) as usize));
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..point as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[point as usize..]);
        }
    } else {
        push_scientific(out, &digits, i64::from(exponent), b'e');
    }
}

/// `d.ddd` and the signed exponent: `1.5e+20`, `1E-7` (`marker` is `e` or `E`).
fn push_scientific(out: &mut Vec<u8>, digits: &[u8], exponent: i64, marker: u8) {
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    out.push(marker);
    out.push(if exponent < 0 { b'-' } else { b'+' });
    push_int(out, exponent.unsigned_abs());
}

/// A double in its shortest round-trip form (`null` for NaN and infinities).
pub fn push_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        push_float_text(out, ryu::Buffer::new().format_finite(value));
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A single in its shortest round-trip form as a single (`null` for NaN and infinities).
pub fn push_f32(out: &mut Vec<u8>, value: f32) {
    if value.is_finite() {
        push_float_text(out, ryu::Buffer::new().format_finite(value));
    } else {
        out.extend_from_slice(b"null");
    }
}

/// An integer in decimal.
pub fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, value: I) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A decimal of unscaled value `digits` (optional `-`, then decimal digits)
/// and `scale`, as a quoted string in Java's `BigDecimal.toString` layout:
/// plain (`"-0.0100"`) unless the scale is negative or the number is below
/// 1e-6 (`"1.5E+2"`, `"1.200E-7"`).
pub fn push_decimal(out: &mut Vec<u8>, unscaled: &str, scale: i32) {
    let (negative, digits) = match unscaled.strip_prefix('-') {
        Some(rest) => (true, rest.as_bytes()),
        None => (false, unscaled.as_bytes()),
    };
    out.push(b'"');
    if negative {
        out.push(b'-');
    }
    let count = digits.len() as i64;
    let adjusted = count - 1 - i64::from(scale);
    if scale >= 0 && adjusted >= -6 {
        let scale = i64::from(scale);
        if scale == 0 {
            out.extend_from_slice(digits);
        } else if count > scale {
            let point = (count - scale) as usize;
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (scale - count) as usize));
            out.extend_from_slice(digits);
        }
    } else {
        push_scientific(out, digits, adjusted, b'E');
    }
    out.push(b'"');
}

/// Year, month, day of the proleptic Gregorian calendar for days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, exact for every `i64`
/// day count a timestamp can reach).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    (year as i64, month, day)
}

fn push_two(out: &mut Vec<u8>, value: u32) {
    out.push(b'0' + (value / 10 % 10) as u8);
    out.push(b'0' + (value % 10) as u8);
}

/// `YYYY-MM-DD` (years below 1000 zero-padded to four digits, `-0768` before year 0).
pub fn push_date(out: &mut Vec<u8>, days: i64) {
    let (year, month, day) = civil_from_days(days);
    if year < 0 {
        out.push(b'-');
    }
    let mut text = String::new();
    let _ = write!(text, "{:04}", year.unsigned_abs());
    out.extend_from_slice(text.as_bytes());
    out.push(b'-');
    push_two(out, month);
    out.push(b'-');
    push_two(out, day);
}

/// `HH:MM:SS` and, for `digits` > 0, `.` and the fraction of a second
/// `fraction` (in units of `10^-digits` s) zero-padded to `digits` digits.
pub fn push_time_of_day(out: &mut Vec<u8>, seconds: u32, fraction: u64, digits: u32) {
    push_two(out, seconds / 3600);
    out.push(b':');
    push_two(out, seconds / 60 % 60);
    out.push(b':');
    push_two(out, seconds % 60);
    push_fraction(out, fraction, digits);
}

fn push_fraction(out: &mut Vec<u8>, fraction: u64, digits: u32) {
    if digits > 0 {
        out.push(b'.');
        let text = itoa::Buffer::new().format(fraction).as_bytes().to_vec();
        out.extend(std::iter::repeat_n(
            b'0',
            (digits as usize).saturating_sub(text.len()),
        ));
        out.extend_from_slice(&text);
    }
}

/// A time zone suffix for an offset of `seconds` east of UTC: `+05:30`,
/// `-04:56` (seconds of an offset are dropped, as Arrow C++ does).
pub fn push_offset(out: &mut Vec<u8>, seconds: i32) {
    out.push(if seconds < 0 { b'-' } else { b'+' });
    let minutes = seconds.unsigned_abs() / 60;
    push_two(out, minutes / 60);
    out.push(b':');
    push_two(out, minutes % 60);
}

/// Units of one second for a number of fraction digits (0, 3, 6, 9).
pub fn units_per_second(digits: u32) -> i64 {
    10_i64.pow(digits)
}

/// A date and time `YYYY-MM-DDTHH:MM:SS[.fraction]` of `count` units of
/// `10^-digits` seconds since the epoch, shifted by `offset` seconds.
pub fn push_datetime(out: &mut Vec<u8>, count: i64, digits: u32, offset: i32) {
    let per_second = i128::from(units_per_second(digits));
    let count = i128::from(count);
    let seconds = count.div_euclid(per_second) + i128::from(offset);
    let fraction = count.rem_euclid(per_second) as u64;
    let days = seconds.div_euclid(86_400) as i64;
    let second_of_day = seconds.rem_euclid(86_400) as u32;
    push_date(out, days);
    out.push(b'T');
    push_time_of_day(out, second_of_day, fraction, digits);
}

/// `count` units of `10^-digits` seconds as an ISO 8601 duration: `"PT1.5S"`, `"-PT3S"`.
pub fn push_duration(out: &mut Vec<u8>, count: i64, digits: u32) {
    out.push(b'"');
    if count < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(b"PT");
    let magnitude = count.unsigned_abs();
    let per_second = units_per_second(digits) as u64;
    push_int(out, magnitude / per_second);
    let fraction = magnitude % per_second;
    if fraction > 0 {
        let mut text = vec![b'.'];
        let digits_text = itoa::Buffer::new().format(fraction).as_bytes().to_vec();
        text.extend(std::iter::repeat_n(
            b'0',
            (digits as usize).saturating_sub(digits_text.len()),
        ));
        text.extend_from_slice(&digits_text);
        while text.last() == Some(&b'0') {
            text.pop();
        }
        out.extend_from_slice(&text);
    }
    out.extend_from_slice(b"S\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_are_laid_out_like_arrow() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-7"),
            (1e-5, "0.00001"),
            (0.000_001, "0.000001"),
            (1e-7, "1e-7"),
            (123_456_789.123, "123456789.123"),
            (1_234_567_890.12, "1234567890.12"),
            (1e9, "1000000000.0"),
            (1e10, "1e+10"),
            (5e-324, "5e-324"),
            (1.0 / 3.0, "0.3333333333333333"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-1.234_567_890_123_456e15, "-1.234567890123456e+15"),
            (f64::NAN, "null"),
            (f64::NEG_INFINITY, "null"),
        ];
        for (value, expected) in cases {
            assert_eq!(text(|o| push_f64(o, value)), expected, "{value:e}");
        }
        assert_eq!(text(|o| push_f32(o, 1.0 / 3.0)), "0.33333334");
        assert_eq!(text(|o| push_f32(o, 1_234_567_890.0)), "1234568000.0");
        assert_eq!(text(|o| push_f32(o, 3.4e38)), "3.4e+38");
    }

    #[test]
    fn strings_escape_what_rfc_8259_requires() {
        assert_eq!(
            text(|o| push_json_string(o, "a\"b\\c\nd\re\tf\u{8}\u{c}\u{1}\u{7f}é😀".as_bytes())),
            "\"a\\\"b\\\\c\\nd\\re\\tf\\u0008\\u000c\\u0001\u{7f}é😀\""
        );
        assert_eq!(text(|o| push_json_key(o, "a\u{8}\u{c}")), "\"a\\b\\f\"");
        let long = "0123456789abcdef\"0123456789abcdef\\";
        assert_eq!(
            text(|o| push_json_string(o, long.as_bytes())),
            "\"0123456789abcdef\\\"0123456789abcdef\\\\\""
        );
    }

    proptest::proptest! {
        /// The word-at-a-time scan escapes exactly what a byte-by-byte one does.
        #[test]
        fn escaping_matches_a_byte_by_byte_reference(input in "[ -~\\x00-\\x1f\"\\\\é😀]{0,40}") {
            let mut expected = String::from("\"");
            for c in input.chars() {
                match c {
                    '"' => expected.push_str("\\\""),
                    '\\' => expected.push_str("\\\\"),
                    '\n' => expected.push_str("\\n"),
                    '\r' => expected.push_str("\\r"),
                    '\t' => expected.push_str("\\t"),
                    c if (c as u32) < 0x20 => {
                        let _ = write!(expected, "\\u{:04x}", c as u32);
                    }
                    c => expected.push(c),
                }
            }
            expected.push('"');
            proptest::prop_assert_eq!(text(|o| push_json_string(o, input.as_bytes())), expected);
        }
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (raw, encoded) in vectors {
            assert_eq!(
                text(|o| push_base64(o, raw.as_bytes())),
                format!("\"{encoded}\"")
            );
        }
    }

    #[test]
    fn decimals_follow_big_decimal_to_string() {
        let cases = [
            ("150", 2, "\"1.50\""),
            ("-1", 2, "\"-0.01\""),
            ("15", -1, "\"1.5E+2\""),
            ("0", 10, "\"0E-10\""),
            ("1", 10, "\"1E-10\""),
            ("10000", 10, "\"0.0000010000\""),
            ("1200", 10, "\"1.200E-7\""),
            ("0", -2, "\"0E+2\""),
            ("-123", -2, "\"-1.23E+4\""),
            ("12345", 0, "\"12345\""),
        ];
        for (digits, scale, expected) in cases {
            assert_eq!(text(|o| push_decimal(o, digits, scale)), expected);
        }
    }

    #[test]
    fn dates_and_times_are_iso_8601() {
        assert_eq!(text(|o| push_date(o, 0)), "1970-01-01");
        assert_eq!(text(|o| push_date(o, -719_163)), "0000-12-31");
        assert_eq!(text(|o| push_date(o, 2_932_897)), "10000-01-01");
        assert_eq!(text(|o| push_date(o, -1_000_000)), "-0768-02-04");
        assert_eq!(
            text(|o| push_datetime(o, -5, 6, 0)),
            "1969-12-31T23:59:59.999995"
        );
        assert_eq!(
            text(|o| push_datetime(o, 1_700_000_000, 0, 19_800)),
            "2023-11-15T03:43:20"
        );
        assert_eq!(
            text(|o| push_datetime(o, i64::MAX, 6, 0)),
            "294247-01-10T04:00:54.775807"
        );
        assert_eq!(
            text(|o| push_offset(o, -(4 * 3600 + 56 * 60 + 2))),
            "-04:56"
        );
        assert_eq!(text(|o| push_duration(o, 1500, 3)), "\"PT1.5S\"");
        assert_eq!(text(|o| push_duration(o, -3000, 3)), "\"-PT3S\"");
        assert_eq!(text(|o| push_duration(o, 1, 9)), "\"PT0.000000001S\"");
        assert_eq!(
            text(|o| push_duration(o, i64::MIN, 0)),
            "\"-PT9223372036854775808S\""
        );
    }

    /// Every day from year -10000 to 10000 round-trips through a plain
    /// day-by-day walk of the calendar.
    #[test]
    fn civil_from_days_walks_the_calendar() {
        let is_leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_days = |y: i64, m: u32| match m {
            2 if is_leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let (mut y, mut m, mut d) = (1970_i64, 1_u32, 1_u32);
        for days in 0..3_700_000_i64 {
            assert_eq!(civil_from_days(days), (y, m, d));
            d += 1;
            if d > month_days(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        let (mut y, mut m, mut d) = (1970_i64, 1_u32, 1_u32);
        for days in (-4_400_000..=0_i64).rev() {
            assert_eq!(civil_from_days(days), (y, m, d));
            if d == 1 {
                if m == 1 {
                    m = 12;
                    y -= 1;
                } else {
                    m -= 1;
                }
                d = month_days(y, m);
            } else {
                d -= 1;
            }
        }
    }
}
