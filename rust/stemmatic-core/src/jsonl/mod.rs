//! JSON lines: screening lines before a JSON parser sees them ([`screen`]),
//! and writing Arrow record batches as always-valid JSON lines ([`encode`]).

pub mod encode;
pub mod format;
pub mod screen;

pub use encode::{JsonlEncoder, RAW_JSON_METADATA};
pub use screen::{LineProblem, ScreenedBlock, screen_block, screen_lines};
