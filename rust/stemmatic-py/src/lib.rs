//! `stemmatic._core`: the Python binding of the stemmatic engine.
//!
//! Only conversions live here: Python inputs become borrowed Arrow views or
//! owned Rust values, the GIL is released around every call into
//! `stemmatic-core`, and `CoreError`s become the exception hierarchy declared
//! in [`errors`]. One file per Python-facing area.

mod cluster;
mod contamination;
mod errors;
mod jsonl;
mod lsh;
mod minhash;
mod simd;
mod sketch;
mod stitch;
mod texts;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _core {
    #[pymodule_export]
    use super::cluster::{PyClusterArrays, PyGuardSplit, cluster_decision, split_giant_components};
    #[pymodule_export]
    use super::contamination::{PyEntryTokens, PyNgramIndex, PyOverlaps};
    #[pymodule_export]
    use super::jsonl::{PyJsonlEncoder, PyScreenedBlock, jsonl_screen};
    #[pymodule_export]
    use super::lsh::{
        band_keys, candidate_pairs, candidate_pairs_batched, connected_components, exact_keys,
        shingle_sets, unique_pairs, verify_pairs, verify_pairs_batched,
    };
    #[pymodule_export]
    use super::minhash::{
        minhash_signatures, minhash_sketch, resolve_workers, shingle_hashes, token_lengths,
        tokenize,
    };
    #[pymodule_export]
    use super::simd::kernel;
    #[pymodule_export]
    use super::sketch::{PySketchBatch, PySketcher};
    #[pymodule_export]
    use super::stitch::stitch_parquet;

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        super::simd::check_override()?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("UNICODE_VERSION", stemmatic_core::text::UNICODE_VERSION)?;
        m.add("MAX_NUM_PERM", stemmatic_core::minhash::MAX_NUM_PERM)?;
        m.add("TOKEN_BOUNDS_KERNEL", super::simd::token_bounds_kernel())?;
        Ok(())
    }
}
