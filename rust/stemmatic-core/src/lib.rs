//! The stemmatic engine: pure Rust, no Python.
//!
//! * [`text`]: normalization and the `words`, `whitespace` and `chars`
//!   tokenizers (the `words` tokenizer equals Python's
//!   `re.findall(r"\w+", text.lower())` on every string).
//! * [`shingle`]: word or character n-grams hashed with seeded XXH3-64.
//! * [`minhash`]: MinHash signatures (Broder 1997, "On the resemblance and
//!   containment of documents") over shingle sets, batched with rayon.
//! * [`lsh`]: band keys, candidate pairs without quadratic buckets, exact
//!   verification and connected components for near-duplicate detection.
//! * [`cluster`]: decisions over verified edges (connected components or
//!   greedy star centers) and the giant-component guard.
//! * [`sketch`]: one fused pass per batch: signatures, band keys, exact
//!   keys, shingle sets, lengths from one tokenization of each text.
//! * [`contamination`]: n-gram indexes of benchmark items and the scanner
//!   that finds them in documents, with character spans (Brown et al. 2020).
//! * [`jsonl`]: screening JSONL lines (nesting depth, UTF-8, lone
//!   surrogates, 64-bit integers) before a JSON parser sees them, and
//!   writing Arrow record batches as always-valid JSON lines.
//! * [`stitch`]: joining Parquet files by their row groups, pages copied
//!   as they are (the parts of an output shard written side by side).
//! * [`parallel`]: the sized, cached rayon pools every batch function runs on.
//! * [`simd`]: the one choice of CPU kernel (portable, AVX2, AVX-512) every
//!   SIMD call site runs, with the `STEMMATIC_KERNEL` override.
//!
//! The binding crate `stemmatic-py` only converts types and maps [`CoreError`].

pub mod cluster;
pub mod contamination;
pub mod error;
pub mod jsonl;
pub mod lsh;
pub mod minhash;
pub mod parallel;
mod sets;
pub mod shingle;
pub mod simd;
pub mod sketch;
pub mod stitch;
pub mod text;

pub use error::{CoreError, Result};
