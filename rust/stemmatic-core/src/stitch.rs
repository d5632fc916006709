//! Joining Parquet files by their row groups, without decoding a page.
//!
//! A file that several threads write side by side is written as parts (each
//! thread one file of whole row groups); [`stitch_parquet`] then copies the
//! parts' column chunks, byte for byte, into one file in the order asked for
//! and writes one footer: the statistics, encodings, page indexes and bloom
//! filters of every chunk, and the first part's key-value metadata (Arrow's
//! schema among it) and `created_by`. The pages are not decompressed or
//! re-encoded, so a stitched file reads back exactly as its parts do, and
//! costs a copy of its bytes to make.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;

use crate::error::{CoreError, Result};

/// The most row groups one Parquet file holds (its ordinals are 16-bit).
pub const MAX_ROW_GROUPS: usize = i16::MAX as usize;

/// Buffer of the stitched file's writer.
const WRITE_BUFFER: usize = 1 << 20;

fn io_error(path: &Path, err: impl std::fmt::Display) -> CoreError {
    CoreError::Io {
        path: path.display().to_string(),
        reason: err.to_string(),
    }
}

fn open_part(path: &Path) -> Result<(File, ParquetMetaData)> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let metadata = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .parse_and_finish(&file)
        .map_err(|e| io_error(path, e))?;
    Ok((file, metadata))
}

/// Write `out` with the row groups `order` of the Parquet files `parts`:
/// `(part, row_group)` indexes, in the order they are to appear. Every part
/// must have the same Parquet schema; a row group may be named more than
/// once, and one not named is left out.
///
/// `out` is created (or truncated); on an error it is left incomplete and
/// the caller removes it.
pub fn stitch_parquet(out: &Path, parts: &[&Path], order: &[(usize, usize)]) -> Result<()> {
    if parts.is_empty() {
        return Err(CoreError::param("parts", "no Parquet file to stitch"));
    }
    if order.len() > MAX_ROW_GROUPS {
        return Err(CoreError::param(
            "order",
            format!(
                "{} row groups; a Parquet file holds at most {MAX_ROW_GROUPS}",
                order.len()
            ),
        ));
    }
    let opened = parts
        .iter()
        .map(|path| open_part(path))
        .collect::<Result<Vec<_>>>()?;
    let first = opened[0].1.file_metadata();
    for ((_, metadata), path) in opened.iter().zip(parts).skip(1) {
        if metadata.file_metadata().schema_descr().root_schema()
            != first.schema_descr().root_schema()
        {
            return Err(io_error(
                path,
                format!(
                    "its Parquet schema differs from that of {}; parts to stitch share one schema",
                    parts[0].display()
                ),
            ));
        }
    }
    for &(part, group) in order {
        let Some((_, metadata)) = opened.get(part) else {
            return Err(CoreError::param(
                "order",
                format!("part {part} of {}", parts.len()),
            ));
        };
        if group >= metadata.num_row_groups() {
            return Err(CoreError::param(
                "order",
                format!(
                    "row group {group} of {}, which has {}",
                    parts[part].display(),
                    metadata.num_row_groups()
                ),
            ));
        }
    }
    let mut properties = WriterProperties::builder()
        .set_key_value_metadata(first.key_value_metadata().cloned())
        .set_writer_version(if first.version() >= 2 {
            WriterVersion::PARQUET_2_0
        } else {
            WriterVersion::PARQUET_1_0
        });
    if let Some(created_by) = first.created_by() {
        properties = properties.set_created_by(created_by.to_owned());
    }
    let file = File::create(out).map_err(|e| io_error(out, e))?;
    let mut writer = SerializedFileWriter::new(
        BufWriter::with_capacity(WRITE_BUFFER, file),
        first.schema_descr().root_schema_ptr(),
        Arc::new(properties.build()),
    )
    .map_err(|e| io_error(out, e))?;
    for &(part, group) in order {
        let (input, metadata) = &opened[part];
        copy_row_group(&mut writer, input, metadata, group).map_err(|e| {
            io_error(
                out,
                format!("row group {group} of {}: {e}", parts[part].display()),
            )
        })?;
    }
    writer.close().map_err(|e| io_error(out, e))?;
    Ok(())
}

fn copy_row_group(
    writer: &mut SerializedFileWriter<BufWriter<File>>,
    input: &File,
    metadata: &ParquetMetaData,
    group: usize,
) -> std::result::Result<(), ParquetError> {
    let row_group = metadata.row_group(group);
    let column_indexes = metadata.column_index().and_then(|c| c.get(group));
    let offset_indexes = metadata.offset_index().and_then(|o| o.get(group));
    let mut out = writer.next_row_group()?;
    for (i, column) in row_group.columns().iter().enumerate() {
        let bloom_filter = parquet::bloom_filter::Sbbf::read_from_column_chunk(column, input)
            .ok()
            .flatten();
        out.append_column(
            input,
            ColumnCloseResult {
                bytes_written: column.compressed_size() as u64,
                rows_written: row_group.num_rows() as u64,
                metadata: column.clone(),
                bloom_filter,
                column_index: column_indexes.and_then(|c| c.get(i)).cloned(),
                offset_index: offset_indexes.and_then(|o| o.get(i)).cloned(),
            },
        )?;
    }
    out.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use parquet::data_type::Int64Type;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    use parquet::schema::parser::parse_message_type;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stemmatic-stitch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// A file of one INT64 column `x`, a row group per slice of `groups`.
    fn write(path: &Path, groups: &[&[i64]], key: &str) {
        let schema = Arc::new(parse_message_type("message m { required int64 x; }").unwrap());
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                "k".to_owned(),
                key.to_owned(),
            )]))
            .build();
        let mut writer =
            SerializedFileWriter::new(File::create(path).unwrap(), schema, Arc::new(props))
                .unwrap();
        for values in groups {
            let mut group = writer.next_row_group().unwrap();
            let mut column = group.next_column().unwrap().unwrap();
            column
                .typed::<Int64Type>()
                .write_batch(values, None, None)
                .unwrap();
            column.close().unwrap();
            group.close().unwrap();
        }
        writer.close().unwrap();
    }

    fn read(path: &Path) -> (Vec<i64>, Vec<i64>, Option<String>) {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let metadata = reader.metadata();
        let sizes = metadata
            .row_groups()
            .iter()
            .map(parquet::file::metadata::RowGroupMetaData::num_rows)
            .collect();
        let key = metadata
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.first())
            .and_then(|kv| kv.value.clone());
        let values = reader
            .get_row_iter(None)
            .unwrap()
            .map(|row| row.unwrap().get_long(0).unwrap())
            .collect();
        (values, sizes, key)
    }

    #[test]
    fn row_groups_come_in_the_order_asked_with_the_first_parts_metadata() {
        let (a, b, out) = (
            scratch("a.parquet"),
            scratch("b.parquet"),
            scratch("out.parquet"),
        );
        write(&a, &[&[0, 1], &[4]], "first");
        write(&b, &[&[2, 3], &[5, 6, 7]], "second");
        stitch_parquet(&out, &[&a, &b], &[(0, 0), (1, 0), (0, 1), (1, 1)]).unwrap();
        assert_eq!(
            read(&out),
            ((0..8).collect(), vec![2, 2, 1, 3], Some("first".to_owned()))
        );
        stitch_parquet(&out, &[&a, &b], &[(1, 1), (1, 1)]).unwrap();
        assert_eq!(read(&out).0, vec![5, 6, 7, 5, 6, 7]);
    }

    #[test]
    fn what_cannot_be_joined_is_refused_before_anything_is_written() {
        let (a, out) = (scratch("one.parquet"), scratch("refused.parquet"));
        write(&a, &[&[1]], "k");
        let missing = scratch("missing.parquet");
        for (parts, order) in [
            (vec![a.as_path()], vec![(0, 1)]),
            (vec![a.as_path()], vec![(1, 0)]),
            (vec![], vec![]),
            (vec![missing.as_path()], vec![(0, 0)]),
            (vec![a.as_path()], vec![(0, 0); MAX_ROW_GROUPS + 1]),
        ] {
            assert!(stitch_parquet(&out, &parts, &order).is_err());
        }
        assert!(!out.exists());
    }
}
