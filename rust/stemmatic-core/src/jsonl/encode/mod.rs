//! Arrow record batches as JSON lines (RFC 8259 values, one object per row).
//!
//! Always valid JSON, whatever the columns hold: NaN and infinities are
//! `null`; timestamps, dates and times ISO 8601 strings (`T` between date and
//! time, `Z` or `+01:00` when the type has a time zone); decimals strings
//! with every digit; durations ISO 8601 durations (`PT1.5S`); a binary column
//! its text when its bytes are UTF-8, else base64 (and base64 from then on,
//! for the rest of the encoder's file); maps with string keys objects, other
//! maps arrays of `[key, value]` pairs; dictionaries their values; lists and
//! structs arrays and objects of the same. A string column with invalid
//! UTF-8 (which Arrow forbids) is an error, never invalid output.
//!
//! An encoder is a tree of typed column writers built once per batch; rows
//! are written one after the other into the buffer of their part (about
//! [`PART_BYTES`] of Arrow data; buffers kept and reused from call to call),
//! and the parts of a round are encoded in parallel by rayon.
//!
//! This file holds the typed writers (one JSON value of one row each);
//! `encoder.rs` the [`JsonlEncoder`] that plans a batch into a tree of them.

mod encoder;

use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::types::{ArrowPrimitiveType, Date32Type, Date64Type};
use arrow_array::{
    Array, BinaryViewArray, BooleanArray, FixedSizeBinaryArray, GenericBinaryArray,
    GenericStringArray, OffsetSizeTrait, PrimitiveArray, StringViewArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType;
use chrono::{DateTime, TimeZone};

use crate::error::{CoreError, Result};
use crate::jsonl::format::{
    push_base64, push_date, push_datetime, push_decimal, push_duration, push_f32, push_f64,
    push_int, push_json_string, push_offset, push_time_of_day, units_per_second,
};

pub use encoder::{JsonlEncoder, PART_BYTES, RAW_JSON_METADATA};

/// Writes the JSON value of one row of one column (never called for a null row).
trait Write: Sync {
    fn write(&self, row: usize, out: &mut Vec<u8>);
}

/// A column's writer and its nulls.
struct Column<'a> {
    nulls: Option<&'a NullBuffer>,
    writer: Box<dyn Write + 'a>,
}

impl Column<'_> {
    #[inline]
    fn write_value(&self, row: usize, out: &mut Vec<u8>) {
        if self.nulls.is_some_and(|nulls| nulls.is_null(row)) {
            out.extend_from_slice(b"null");
        } else {
            self.writer.write(row, out);
        }
    }
}

struct NullWriter;

impl Write for NullWriter {
    fn write(&self, _row: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(b"null");
    }
}

/// The byte values of a string or binary array of any layout.
enum BytesOf<'a> {
    Small(&'a GenericBinaryArray<i32>),
    Large(&'a GenericBinaryArray<i64>),
    SmallText(&'a GenericStringArray<i32>),
    LargeText(&'a GenericStringArray<i64>),
    View(&'a BinaryViewArray),
    TextView(&'a StringViewArray),
    Fixed(&'a FixedSizeBinaryArray),
}

impl<'a> BytesOf<'a> {
    fn of(array: &'a dyn Array) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Binary => Self::Small(array.as_binary::<i32>()),
            DataType::LargeBinary => Self::Large(array.as_binary::<i64>()),
            DataType::Utf8 => Self::SmallText(array.as_string::<i32>()),
            DataType::LargeUtf8 => Self::LargeText(array.as_string::<i64>()),
            DataType::BinaryView => Self::View(array.as_binary_view()),
            DataType::Utf8View => Self::TextView(array.as_string_view()),
            DataType::FixedSizeBinary(_) => Self::Fixed(array.as_fixed_size_binary()),
            other => return Err(unsupported("", other)),
        })
    }

    #[inline]
    fn get(&self, row: usize) -> &'a [u8] {
        match self {
            Self::Small(a) => a.value(row),
            Self::Large(a) => a.value(row),
            Self::SmallText(a) => a.value(row).as_bytes(),
            Self::LargeText(a) => a.value(row).as_bytes(),
            Self::View(a) => a.value(row),
            Self::TextView(a) => a.value(row).as_bytes(),
            Self::Fixed(a) => a.value(row),
        }
    }

    /// Whether the values of rows `valid` (none of them null) are all valid UTF-8.
    fn is_utf8(&self, valid: &[Range<usize>]) -> bool {
        // Offset layouts: a range's values are contiguous, so one check of
        // its bytes and a check that no value starts inside a character suffice.
        fn contiguous<O: OffsetSizeTrait>(offsets: &[O], data: &[u8], rows: &Range<usize>) -> bool {
            let first = offsets[rows.start].as_usize();
            let last = offsets[rows.end].as_usize();
            std::str::from_utf8(&data[first..last]).is_ok()
                && offsets[rows.start..rows.end]
                    .iter()
                    .all(|o| o.as_usize() == last || (data[o.as_usize()] as i8) >= -0x40)
        }
        valid
            .iter()
            .filter(|rows| !rows.is_empty())
            .all(|rows| match self {
                Self::Small(a) => contiguous(a.value_offsets(), a.value_data(), rows),
                Self::Large(a) => contiguous(a.value_offsets(), a.value_data(), rows),
                Self::SmallText(a) => contiguous(a.value_offsets(), a.value_data(), rows),
                Self::LargeText(a) => contiguous(a.value_offsets(), a.value_data(), rows),
                _ => rows
                    .clone()
                    .all(|row| std::str::from_utf8(self.get(row)).is_ok()),
            })
    }
}

struct StringWriter<'a>(BytesOf<'a>);

impl Write for StringWriter<'_> {
    #[inline]
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        push_json_string(out, self.0.get(row));
    }
}

struct Base64Writer<'a>(BytesOf<'a>);

impl Write for Base64Writer<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        push_base64(out, self.0.get(row));
    }
}

struct RawWriter<'a>(BytesOf<'a>);

impl Write for RawWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.get(row));
    }
}

struct BoolWriter<'a>(&'a BooleanArray);

impl Write for BoolWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.0.value(row) { b"true" } else { b"false" });
    }
}

struct IntWriter<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>);

impl<T: ArrowPrimitiveType> Write for IntWriter<'_, T>
where
    T::Native: itoa::Integer,
{
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        push_int(out, self.0.value(row));
    }
}

/// A float type's shortest form.
trait JsonFloat {
    fn push(self, out: &mut Vec<u8>);
}

impl JsonFloat for f64 {
    fn push(self, out: &mut Vec<u8>) {
        push_f64(out, self);
    }
}

impl JsonFloat for f32 {
    fn push(self, out: &mut Vec<u8>) {
        push_f32(out, self);
    }
}

impl JsonFloat for half::f16 {
    fn push(self, out: &mut Vec<u8>) {
        // As the single it widens to (every half is exactly a single).
        push_f32(out, self.to_f32());
    }
}

struct FloatWriter<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>);

impl<T: ArrowPrimitiveType> Write for FloatWriter<'_, T>
where
    T::Native: JsonFloat,
{
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        self.0.value(row).push(out);
    }
}

struct DecimalWriter<'a, T: ArrowPrimitiveType> {
    values: &'a PrimitiveArray<T>,
    scale: i32,
}

impl<T: ArrowPrimitiveType> Write for DecimalWriter<'_, T>
where
    T::Native: std::fmt::Display,
{
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        push_decimal(out, &self.values.value(row).to_string(), self.scale);
    }
}

enum Zone {
    Naive,
    Utc,
    Named(Tz),
}

struct TimestampWriter<'a> {
    counts: &'a [i64],
    digits: u32,
    zone: Zone,
}

impl Write for TimestampWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        let count = self.counts[row];
        out.push(b'"');
        match &self.zone {
            Zone::Naive => push_datetime(out, count, self.digits, 0),
            Zone::Utc => {
                push_datetime(out, count, self.digits, 0);
                out.push(b'Z');
            }
            Zone::Named(tz) => {
                let offset = offset_at(*tz, count.div_euclid(units_per_second(self.digits)));
                push_datetime(out, count, self.digits, offset);
                push_offset(out, offset);
            }
        }
        out.push(b'"');
    }
}

/// The UTC offset of `tz` (seconds east) at `seconds` since the epoch; an
/// instant beyond chrono's range (±262,000 years) takes the offset of its end.
fn offset_at(tz: Tz, seconds: i64) -> i32 {
    use chrono::Offset;
    let bound = |s: i64| DateTime::from_timestamp(s, 0);
    let instant = bound(seconds)
        .or_else(|| {
            bound(if seconds < 0 {
                -8_210_298_412_800
            } else {
                8_210_298_412_799
            })
        })
        .unwrap_or_default();
    tz.offset_from_utc_datetime(&instant.naive_utc())
        .fix()
        .local_minus_utc()
}

/// Days since the epoch of a date type's value.
trait DayCount: ArrowPrimitiveType {
    fn days(value: Self::Native) -> i64;
}

impl DayCount for Date32Type {
    fn days(value: i32) -> i64 {
        i64::from(value)
    }
}

impl DayCount for Date64Type {
    fn days(value: i64) -> i64 {
        // Truncated toward zero, as Arrow C++ formats a date64.
        value / 86_400_000
    }
}

struct DateWriter<'a, T: DayCount> {
    days: &'a PrimitiveArray<T>,
}

impl<T: DayCount> Write for DateWriter<'_, T> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        out.push(b'"');
        push_date(out, T::days(self.days.value(row)));
        out.push(b'"');
    }
}

enum Counts<'a> {
    Borrowed(&'a [i64]),
    Owned(Vec<i64>),
}

impl Counts<'_> {
    fn get(&self, row: usize) -> i64 {
        match self {
            Self::Borrowed(values) => values[row],
            Self::Owned(values) => values[row],
        }
    }
}

struct TimeWriter<'a> {
    counts: Counts<'a>,
    digits: u32,
}

impl Write for TimeWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        let count = self.counts.get(row);
        let per_second = units_per_second(self.digits);
        out.push(b'"');
        if (0..86_400 * per_second).contains(&count) {
            let seconds = (count / per_second) as u32;
            push_time_of_day(out, seconds, (count % per_second) as u64, self.digits);
        } else {
            // Not a time of day (Arrow forbids it); written as Arrow C++ writes it.
            out.extend_from_slice(b"<value out of range: ");
            push_int(out, count);
            out.push(b'>');
        }
        out.push(b'"');
    }
}

struct DurationWriter<'a> {
    counts: &'a [i64],
    digits: u32,
}

impl Write for DurationWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        push_duration(out, self.counts[row], self.digits);
    }
}

/// `{"a":…,"b":…}` of a struct's (or a batch's) fields.
struct ObjectWriter<'a> {
    fields: Vec<(Vec<u8>, Column<'a>)>,
}

impl Write for ObjectWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        if self.fields.is_empty() {
            out.extend_from_slice(b"{}");
            return;
        }
        for (prefix, column) in &self.fields {
            out.extend_from_slice(prefix);
            column.write_value(row, out);
        }
        out.push(b'}');
    }
}

enum Offsets<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
    Fixed { first: usize, size: usize },
}

impl Offsets<'_> {
    #[inline]
    fn range(&self, row: usize) -> std::ops::Range<usize> {
        match self {
            Self::I32(o) => o[row] as usize..o[row + 1] as usize,
            Self::I64(o) => o[row] as usize..o[row + 1] as usize,
            Self::Fixed { first, size } => (first + row) * size..(first + row + 1) * size,
        }
    }
}

struct ListWriter<'a> {
    offsets: Offsets<'a>,
    items: Column<'a>,
}

impl Write for ListWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, item) in self.offsets.range(row).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.items.write_value(item, out);
        }
        out.push(b']');
    }
}

struct MapWriter<'a> {
    offsets: &'a [i32],
    keys: Column<'a>,
    values: Column<'a>,
    string_keys: bool,
}

impl Write for MapWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        let entries = self.offsets[row] as usize..self.offsets[row + 1] as usize;
        out.push(if self.string_keys { b'{' } else { b'[' });
        for (n, entry) in entries.enumerate() {
            if n > 0 {
                out.push(b',');
            }
            if self.string_keys {
                self.keys.write_value(entry, out);
                out.push(b':');
                self.values.write_value(entry, out);
            } else {
                out.push(b'[');
                self.keys.write_value(entry, out);
                out.push(b',');
                self.values.write_value(entry, out);
                out.push(b']');
            }
        }
        out.push(if self.string_keys { b'}' } else { b']' });
    }
}

struct DictionaryWriter<'a> {
    keys: Vec<usize>,
    values: Column<'a>,
}

impl Write for DictionaryWriter<'_> {
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        self.values.write_value(self.keys[row], out);
    }
}

pub(super) fn unsupported(path: &str, kind: &DataType) -> CoreError {
    CoreError::Unencodable {
        column: path.to_string(),
        reason: format!("no JSON form for Arrow type {kind}"),
    }
}
