//! [`JsonlEncoder`]: a batch planned into a tree of the typed writers of the
//! parent module, its rows encoded in parts on the workers.

use std::collections::HashSet;
use std::ops::Range;
use std::str::FromStr;

use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::types::{
    ArrowDictionaryKeyType, Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type,
    Decimal256Type, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{AnyDictionaryArray, Array, DictionaryArray, MapArray, RecordBatch};
use arrow_buffer::{ArrowNativeType, NullBuffer};
use arrow_schema::{DataType, Field, TimeUnit};
use rayon::prelude::*;

use super::{
    Base64Writer, BoolWriter, BytesOf, Column, Counts, DateWriter, DecimalWriter, DictionaryWriter,
    DurationWriter, FloatWriter, IntWriter, ListWriter, MapWriter, NullWriter, ObjectWriter,
    Offsets, RawWriter, StringWriter, TimeWriter, TimestampWriter, Write, Zone, unsupported,
};
use crate::error::{CoreError, Result};
use crate::jsonl::format::push_json_key;
use crate::parallel::{MIN_TASK_BYTES, run_in_pool};

/// Field metadata key that marks a string column as holding JSON values
/// already (written as they are, not quoted): how the Python layer passes the
/// rare types it encodes itself (unions, intervals).
pub const RAW_JSON_METADATA: &str = "stemmatic.jsonl.raw";

/// Rows of a part, at least.
const MIN_TASK_ROWS: usize = 64;
/// Bytes of Arrow data encoded into one part: small enough that a round of
/// parts stays in cache, large enough that a hand-off to a thread and a call
/// of the sink are a small cost beside it.
pub const PART_BYTES: usize = 1 << 19;
/// Tasks per worker thread: the last, unequal ones leave no thread idle long.
const TASKS_PER_WORKER: usize = 4;

/// Encodes record batches as JSON lines; remembers the binary columns it
/// writes as base64 (by path: `a`, `a.b`, `a[]`, `m{key}`, `m{}`), so one
/// output file never mixes text and base64 in one column after the switch.
#[derive(Debug, Default, Clone)]
pub struct JsonlEncoder {
    base64_columns: HashSet<String>,
    /// The output buffers, kept from call to call ([`JsonlEncoder::encode_each`]).
    parts: Vec<Vec<u8>>,
}

impl JsonlEncoder {
    /// A new encoder (no column is base64 yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// The paths of the binary columns written as base64 so far, sorted.
    pub fn base64_columns(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.base64_columns.iter().cloned().collect();
        paths.sort();
        paths
    }

    /// The rows of `batches` as JSON lines (each ends with `\n`), in order,
    /// on `threads` threads for big inputs: the output is the bytes of the
    /// parts, end to end (one buffer per part).
    ///
    /// A binary column whose bytes in a batch are not all UTF-8 is base64
    /// from that batch on (for the rest of this encoder's file).
    ///
    /// # Errors
    /// As [`JsonlEncoder::encode_each`].
    pub fn encode(&mut self, batches: &[RecordBatch], threads: usize) -> Result<Vec<Vec<u8>>> {
        let mut parts = Vec::new();
        self.encode_each(batches, threads, |part| {
            parts.push(part.to_vec());
            Ok::<(), CoreError>(())
        })?;
        Ok(parts)
    }

    /// Hands the rows of `batches` as JSON lines to `emit`, in order, a part
    /// of about [`PART_BYTES`] of Arrow data at a time, the parts of a round
    /// encoded on `threads` threads. The parts are buffers the encoder keeps
    /// and reuses (from call to call too): the output touches no new memory
    /// and stays in cache until `emit` has written it.
    ///
    /// # Errors
    /// A string column holds invalid UTF-8; a column has a type with no JSON
    /// form here (unions, intervals, run-end encoded and list-view arrays:
    /// the caller encodes those itself and passes them as raw JSON, see
    /// [`RAW_JSON_METADATA`]); the thread pool cannot be built; `emit` fails.
    pub fn encode_each<E: From<CoreError>>(
        &mut self,
        batches: &[RecordBatch],
        threads: usize,
        mut emit: impl FnMut(&[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut objects = Vec::with_capacity(batches.len());
        for batch in batches {
            let schema = batch.schema();
            let mut fields = Vec::with_capacity(batch.num_columns());
            for (index, (field, column)) in schema.fields().iter().zip(batch.columns()).enumerate()
            {
                let all = 0..batch.num_rows();
                let writer = self.build(
                    column.as_ref(),
                    field,
                    field.name(),
                    std::slice::from_ref(&all),
                )?;
                fields.push((key_prefix(index, field.name()), writer));
            }
            objects.push(ObjectWriter { fields });
        }
        // Bytes the rows hold (of a slice, not of the buffers it shares).
        let bytes: usize = batches
            .iter()
            .flat_map(RecordBatch::columns)
            .map(|column| column.to_data().get_slice_memory_size().unwrap_or(0))
            .sum();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Ok(());
        }
        // Row ranges of about PART_BYTES each (at least MIN_TASK_ROWS rows), never across batches.
        let per_part = (PART_BYTES * rows / bytes.max(1))
            .max(MIN_TASK_ROWS)
            .min(rows);
        let ranges: Vec<(usize, usize, usize)> = batches
            .iter()
            .enumerate()
            .flat_map(|(index, batch)| {
                let n = batch.num_rows();
                (0..n.div_ceil(per_part))
                    .map(move |t| (index, t * per_part, ((t + 1) * per_part).min(n)))
            })
            .collect();
        let parallel = threads > 1 && bytes >= 2 * MIN_TASK_BYTES && ranges.len() > 1;
        let round = if parallel {
            threads * TASKS_PER_WORKER
        } else {
            1
        };
        let encode_range = |(&(batch, start, end), out): (&(usize, usize, usize), &mut Vec<u8>)| {
            out.clear();
            let object = &objects[batch];
            for row in start..end {
                object.write(row, out);
                out.push(b'\n');
            }
        };
        // Taken for the call: `self` is borrowed by nothing while they are filled.
        let mut parts = std::mem::take(&mut self.parts);
        if parts.len() < round {
            parts.resize_with(round, Vec::new);
        }
        let mut result = Ok(());
        for group in ranges.chunks(round) {
            let filled = &mut parts[..group.len()];
            if parallel && group.len() > 1 {
                if let Err(err) = run_in_pool(threads, || {
                    group
                        .par_iter()
                        .zip(filled.par_iter_mut())
                        .for_each(encode_range);
                }) {
                    result = Err(E::from(err));
                    break;
                }
            } else {
                group.iter().zip(filled.iter_mut()).for_each(encode_range);
            }
            if let Err(err) = filled.iter().try_for_each(|part| emit(part)) {
                result = Err(err);
                break;
            }
        }
        self.parts = parts;
        result
    }

    /// The writer of `array`; rows `used` of it are the ones the output
    /// reaches (not under a null list, struct or map): only their bytes
    /// decide whether a binary column is text.
    fn build<'a>(
        &mut self,
        array: &'a dyn Array,
        field: &Field,
        path: &str,
        used: &[Range<usize>],
    ) -> Result<Column<'a>> {
        let nulls = array.nulls();
        let valid = valid_rows(used, nulls);
        let writer: Box<dyn Write + 'a> = match array.data_type() {
            DataType::Null => {
                return Ok(Column {
                    nulls: None,
                    writer: Box::new(NullWriter),
                });
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                if field.metadata().contains_key(RAW_JSON_METADATA) =>
            {
                Box::new(RawWriter(BytesOf::of(array)?))
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let values = BytesOf::of(array)?;
                if !values.is_utf8(&valid) {
                    return Err(CoreError::Unencodable {
                        column: path.to_string(),
                        reason: "a string column holds bytes that are not valid UTF-8".into(),
                    });
                }
                Box::new(StringWriter(values))
            }
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => {
                let values = BytesOf::of(array)?;
                if !self.base64_columns.contains(path) && values.is_utf8(&valid) {
                    Box::new(StringWriter(values))
                } else {
                    self.base64_columns.insert(path.to_string());
                    Box::new(Base64Writer(values))
                }
            }
            DataType::Struct(children) => {
                let structs = array.as_struct();
                let mut fields = Vec::with_capacity(children.len());
                for (index, (child, values)) in children.iter().zip(structs.columns()).enumerate() {
                    let child_path = format!("{path}.{}", child.name());
                    let writer = self.build(values.as_ref(), child, &child_path, &valid)?;
                    fields.push((key_prefix(index, child.name()), writer));
                }
                Box::new(ObjectWriter { fields })
            }
            DataType::List(item) => {
                let lists = array.as_list::<i32>();
                let offsets = Offsets::I32(lists.value_offsets());
                self.list_writer(lists.values().as_ref(), item, offsets, path, &valid)?
            }
            DataType::LargeList(item) => {
                let lists = array.as_list::<i64>();
                let offsets = Offsets::I64(lists.value_offsets());
                self.list_writer(lists.values().as_ref(), item, offsets, path, &valid)?
            }
            DataType::FixedSizeList(item, size) => {
                let lists = array.as_fixed_size_list();
                let offsets = Offsets::Fixed {
                    first: lists.offset(),
                    size: usize::try_from(*size).unwrap_or(0),
                };
                self.list_writer(lists.values().as_ref(), item, offsets, path, &valid)?
            }
            DataType::Map(entries, _) => self.map_writer(array.as_map(), entries, path, &valid)?,
            DataType::Dictionary(key_type, value_type) => {
                let dictionary: &dyn AnyDictionaryArray = match key_type.as_ref() {
                    DataType::Int8 => dictionary_of::<Int8Type>(array),
                    DataType::Int16 => dictionary_of::<Int16Type>(array),
                    DataType::Int32 => dictionary_of::<Int32Type>(array),
                    DataType::Int64 => dictionary_of::<Int64Type>(array),
                    DataType::UInt8 => dictionary_of::<UInt8Type>(array),
                    DataType::UInt16 => dictionary_of::<UInt16Type>(array),
                    DataType::UInt32 => dictionary_of::<UInt32Type>(array),
                    DataType::UInt64 => dictionary_of::<UInt64Type>(array),
                    _ => return Err(unsupported(path, array.data_type())),
                };
                if dictionary.values().is_empty() {
                    // No value to point at: every row is null.
                    return Ok(Column {
                        nulls: None,
                        writer: Box::new(NullWriter),
                    });
                }
                self.dictionary_writer(dictionary, value_type, path, &valid)?
            }
            other => scalar_writer(array, other, path)?,
        };
        Ok(Column { nulls, writer })
    }

    fn list_writer<'a>(
        &mut self,
        items: &'a dyn Array,
        item: &Field,
        offsets: Offsets<'a>,
        path: &str,
        valid: &[Range<usize>],
    ) -> Result<Box<dyn Write + 'a>> {
        let reached = reached_items(valid, |row| offsets.range(row));
        let items = self.build(items, item, &format!("{path}[]"), &reached)?;
        Ok(Box::new(ListWriter { offsets, items }))
    }

    fn map_writer<'a>(
        &mut self,
        maps: &'a MapArray,
        entries: &Field,
        path: &str,
        valid: &[Range<usize>],
    ) -> Result<Box<dyn Write + 'a>> {
        let offsets = maps.value_offsets();
        let used_entries =
            reached_items(valid, |r| offsets[r].as_usize()..offsets[r + 1].as_usize());
        let DataType::Struct(pair) = entries.data_type() else {
            return Err(unsupported(path, maps.data_type()));
        };
        let keys = self.build(
            maps.keys().as_ref(),
            &pair[0],
            &format!("{path}{{key}}"),
            &used_entries,
        )?;
        let values = self.build(
            maps.values().as_ref(),
            &pair[1],
            &format!("{path}{{}}"),
            &used_entries,
        )?;
        let string_keys = matches!(
            pair[0].data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        Ok(Box::new(MapWriter {
            offsets,
            keys,
            values,
            string_keys,
        }))
    }

    fn dictionary_writer<'a>(
        &mut self,
        dictionary: &'a dyn AnyDictionaryArray,
        value_type: &DataType,
        path: &str,
        valid: &[Range<usize>],
    ) -> Result<Box<dyn Write + 'a>> {
        let value_field = Field::new("", value_type.clone(), true);
        let keys = dictionary.normalized_keys();
        // The values the valid rows point at, as ranges.
        let mut pointed: Vec<usize> = valid
            .iter()
            .flat_map(Clone::clone)
            .map(|r| keys[r])
            .collect();
        pointed.sort_unstable();
        pointed.dedup();
        let pointed: Vec<Range<usize>> = pointed.into_iter().map(|k| k..k + 1).collect();
        let values = self.build(dictionary.values().as_ref(), &value_field, path, &pointed)?;
        Ok(Box::new(DictionaryWriter { keys, values }))
    }
}

/// The writer of a column of numbers, booleans, decimals or temporal values.
fn scalar_writer<'a>(
    array: &'a dyn Array,
    kind: &DataType,
    path: &str,
) -> Result<Box<dyn Write + 'a>> {
    Ok(match kind {
        DataType::Boolean => Box::new(BoolWriter(array.as_boolean())),
        DataType::Int8 => Box::new(IntWriter(array.as_primitive::<Int8Type>())),
        DataType::Int16 => Box::new(IntWriter(array.as_primitive::<Int16Type>())),
        DataType::Int32 => Box::new(IntWriter(array.as_primitive::<Int32Type>())),
        DataType::Int64 => Box::new(IntWriter(array.as_primitive::<Int64Type>())),
        DataType::UInt8 => Box::new(IntWriter(array.as_primitive::<UInt8Type>())),
        DataType::UInt16 => Box::new(IntWriter(array.as_primitive::<UInt16Type>())),
        DataType::UInt32 => Box::new(IntWriter(array.as_primitive::<UInt32Type>())),
        DataType::UInt64 => Box::new(IntWriter(array.as_primitive::<UInt64Type>())),
        DataType::Float16 => Box::new(FloatWriter(array.as_primitive::<Float16Type>())),
        DataType::Float32 => Box::new(FloatWriter(array.as_primitive::<Float32Type>())),
        DataType::Float64 => Box::new(FloatWriter(array.as_primitive::<Float64Type>())),
        DataType::Decimal32(_, scale) => Box::new(DecimalWriter {
            values: array.as_primitive::<Decimal32Type>(),
            scale: i32::from(*scale),
        }),
        DataType::Decimal64(_, scale) => Box::new(DecimalWriter {
            values: array.as_primitive::<Decimal64Type>(),
            scale: i32::from(*scale),
        }),
        DataType::Decimal128(_, scale) => Box::new(DecimalWriter {
            values: array.as_primitive::<Decimal128Type>(),
            scale: i32::from(*scale),
        }),
        DataType::Decimal256(_, scale) => Box::new(DecimalWriter {
            values: array.as_primitive::<Decimal256Type>(),
            scale: i32::from(*scale),
        }),
        DataType::Timestamp(unit, tz) => {
            let counts = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().values(),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().values(),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().values(),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().values(),
            };
            let zone = match tz.as_deref() {
                None => Zone::Naive,
                Some("UTC") => Zone::Utc,
                Some(name) => {
                    Zone::Named(Tz::from_str(name).map_err(|err| CoreError::Unencodable {
                        column: path.to_string(),
                        reason: format!("unknown time zone {name:?}: {err}"),
                    })?)
                }
            };
            Box::new(TimestampWriter {
                counts,
                digits: fraction_digits(*unit),
                zone,
            })
        }
        DataType::Date32 => Box::new(DateWriter {
            days: array.as_primitive::<Date32Type>(),
        }),
        DataType::Date64 => Box::new(DateWriter {
            days: array.as_primitive::<Date64Type>(),
        }),
        DataType::Time32(unit) => {
            let counts: Vec<i64> = if *unit == TimeUnit::Millisecond {
                let values = array.as_primitive::<Time32MillisecondType>().values();
                values.iter().map(|&v| i64::from(v)).collect()
            } else {
                let values = array.as_primitive::<Time32SecondType>().values();
                values.iter().map(|&v| i64::from(v)).collect()
            };
            Box::new(TimeWriter {
                counts: Counts::Owned(counts),
                digits: fraction_digits(*unit),
            })
        }
        DataType::Time64(unit) => {
            let counts = match unit {
                TimeUnit::Nanosecond => array.as_primitive::<Time64NanosecondType>().values(),
                _ => array.as_primitive::<Time64MicrosecondType>().values(),
            };
            Box::new(TimeWriter {
                counts: Counts::Borrowed(counts),
                digits: fraction_digits(*unit),
            })
        }
        DataType::Duration(unit) => {
            let counts = match unit {
                TimeUnit::Second => array.as_primitive::<DurationSecondType>().values(),
                TimeUnit::Millisecond => array.as_primitive::<DurationMillisecondType>().values(),
                TimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().values(),
                TimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().values(),
            };
            Box::new(DurationWriter {
                counts,
                digits: fraction_digits(*unit),
            })
        }
        other => return Err(unsupported(path, other)),
    })
}

fn dictionary_of<K: ArrowDictionaryKeyType>(array: &dyn Array) -> &dyn AnyDictionaryArray {
    array.as_dictionary::<K>() as &DictionaryArray<K>
}

/// `used` without the rows that `nulls` marks null.
fn valid_rows(used: &[Range<usize>], nulls: Option<&NullBuffer>) -> Vec<Range<usize>> {
    let Some(nulls) = nulls.filter(|n| n.null_count() > 0) else {
        return used.to_vec();
    };
    let mut valid = Vec::new();
    for range in used {
        let mut start = None;
        for row in range.clone() {
            match (nulls.is_valid(row), start) {
                (true, None) => start = Some(row),
                (false, Some(s)) => {
                    valid.push(s..row);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            valid.push(s..range.end);
        }
    }
    valid
}

/// The child rows that rows `valid` reach (row `r` reaches `items_of(r)`);
/// the items of consecutive rows are consecutive.
fn reached_items(
    valid: &[Range<usize>],
    items_of: impl Fn(usize) -> Range<usize>,
) -> Vec<Range<usize>> {
    valid
        .iter()
        .filter(|range| !range.is_empty())
        .map(|range| items_of(range.start).start..items_of(range.end - 1).end)
        .collect()
}

fn fraction_digits(unit: TimeUnit) -> u32 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

/// `{"name":` for the first field, `,"name":` for the others.
fn key_prefix(index: usize, name: &str) -> Vec<u8> {
    let mut prefix = vec![if index == 0 { b'{' } else { b',' }];
    push_json_key(&mut prefix, name);
    prefix.push(b':');
    prefix
}
