//! A document as units: its normalized bytes (exactly
//! [`Tokenizer::normalize_into`](super::Tokenizer::normalize_into)'s), where each unit starts, and each
//! unit's [`token_hash`].
//!
//! For `words`, `auto` and `whitespace` this is one pass over the text: the bytes
//! that can belong to a token (ASCII token characters and every byte of a
//! non-ASCII character) are marked 8 at a time with SWAR range tests into a
//! 64-bit mask per 64 bytes, and runs of marked bytes are read off the mask's
//! bit transitions, so a token costs no mispredicted branch per byte. An ASCII run is a token: it
//! is lowercased and copied 8 bytes at a time, and hashed from the same
//! words. A run with non-ASCII characters is normalized on its own by
//! [`Tokenizer::normalize_into`](super::Tokenizer::normalize_into) (for `auto`, which cuts ASCII as `words`
//! does, that is where characters of unspaced scripts become units): the ASCII separators around it separate in
//! the whole text too, and lowercasing is per character except for the
//! final sigma, whose context can reach past separators, so a text with `Σ`
//! (and every `chars` text) takes the general path: normalize the whole text,
//! then hash each unit.
//!
//! The contamination scan needs the normalized bytes of only the few
//! windows its prefilter passes, so it cuts a text into [`RawUnits`]
//! instead: the run bounds of the whole text in one branch-free pass
//! ([`token_bounds`](bounds::token_bounds); with AVX-512, a block's bounds are packed by
//! `vpcompressb` and written as vectors), ASCII tokens hashed off the raw
//! bytes (the
//! [`token_hash`] of a token and of its lowercase are the same), and only
//! the runs with other characters normalized, into a side buffer.
//!
//! | file | what |
//! |---|---|
//! | `hash.rs` | [`token_hash`], the per-unit hash |
//! | `ascii.rs` | lowercasing and copying ASCII tokens a word at a time |
//! | `bounds.rs` | the runs of token bytes (SWAR, AVX2, AVX-512 block classifiers) |
//! | `compress.rs` | an ASCII text's units packed 64 bytes at a time (AVX-512 VBMI2) |
//! | `fill.rs` | [`Units`], the normalized units of MinHash and verification |
//! | `raw.rs` | [`RawUnits`], the units of the contamination scan |

mod ascii;
mod bounds;
#[cfg(target_arch = "x86_64")]
mod compress;
mod fill;
mod hash;
mod raw;
#[cfg(test)]
mod tests;

pub(crate) use bounds::{ascii_unit_spans, for_each_token_run};
pub(crate) use fill::Units;
#[cfg(test)]
pub(crate) use fill::unit_starts;
#[cfg(any(test, doc))]
pub(crate) use hash::token_hash;
#[cfg(test)]
pub(crate) use hash::{low_bytes, mix_word};
pub(crate) use raw::{RawUnits, UnitSink};
