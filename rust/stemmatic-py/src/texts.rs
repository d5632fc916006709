//! Borrowed views of text columns that arrive through the Arrow C data
//! interface (`__arrow_c_stream__`): no per-row Python call, no copy of text.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, OffsetSizeTrait};
use arrow_schema::DataType;
use pyo3::prelude::*;

use crate::errors::InvalidInputError;

/// The rows of a chunked string/binary column, as byte slices (`None` = null).
/// UTF-8 is checked by the engine, per row, so that a bad row is named.
pub(crate) fn rows_of(chunks: &[ArrayRef]) -> PyResult<Vec<Option<&[u8]>>> {
    let total: usize = chunks.iter().map(Array::len).sum();
    let mut rows = Vec::with_capacity(total);
    for chunk in chunks {
        match chunk.data_type() {
            DataType::Utf8 => {
                let a = chunk.as_string::<i32>();
                push_offsets(a.value_offsets(), a.value_data(), chunk, &mut rows)?;
            }
            DataType::LargeUtf8 => {
                let a = chunk.as_string::<i64>();
                push_offsets(a.value_offsets(), a.value_data(), chunk, &mut rows)?;
            }
            DataType::Binary => {
                let a = chunk.as_binary::<i32>();
                push_offsets(a.value_offsets(), a.value_data(), chunk, &mut rows)?;
            }
            DataType::LargeBinary => {
                let a = chunk.as_binary::<i64>();
                push_offsets(a.value_offsets(), a.value_data(), chunk, &mut rows)?;
            }
            DataType::Utf8View => {
                let view = chunk.as_string_view();
                rows.extend(
                    (0..view.len()).map(|i| view.is_valid(i).then(|| view.value(i).as_bytes())),
                );
            }
            DataType::BinaryView => {
                let view = chunk.as_binary_view();
                rows.extend((0..view.len()).map(|i| view.is_valid(i).then(|| view.value(i))));
            }
            other => {
                return Err(InvalidInputError::new_err(format!(
                    "expected a column of strings, got Arrow type {other}"
                )));
            }
        }
    }
    Ok(rows)
}

fn push_offsets<'a, O: OffsetSizeTrait>(
    offsets: &'a [O],
    values: &'a [u8],
    array: &'a ArrayRef,
    rows: &mut Vec<Option<&'a [u8]>>,
) -> PyResult<()> {
    let first_row = rows.len();
    for (i, w) in offsets.windows(2).enumerate() {
        if array.is_valid(i) {
            let bytes = values
                .get(w[0].as_usize()..w[1].as_usize())
                .ok_or_else(|| {
                    InvalidInputError::new_err(format!(
                        "row {}: Arrow offsets point outside the data buffer",
                        first_row + i
                    ))
                })?;
            rows.push(Some(bytes));
        } else {
            rows.push(None);
        }
    }
    Ok(())
}
