//! Locality-sensitive hashing over MinHash signatures (Indyk & Motwani 1998;
//! the banding scheme of Leskovec, Rajaraman & Ullman, "Mining of Massive
//! Datasets", ch. 3), candidate pairs without quadratic buckets, exact
//! verification, and connected components.
//!
//! * [`band_keys`]: a signature of `bands * rows` values is cut into `bands`
//!   bands; each band's key is XXH3-64 of its values' little-endian bytes,
//!   seeded with the band number, so equal bands in different positions do
//!   not collide by construction.
//! * [`candidate_pairs`]: documents sharing a key form a bucket. A bucket of
//!   up to `clique_max` documents yields all its pairs; a larger one yields a
//!   star from its first (smallest) document, which keeps every bucket linear
//!   in its size (a bucket of 100k identical documents is 100k pairs, not
//!   5·10⁹) and still connects the whole bucket once verified.
//! * [`verify_pairs`]: exact Jaccard of the pairs' sorted shingle-hash sets.
//! * [`connected_components`]: union-find (union by size, path halving);
//!   every component is labelled by its smallest member, so labels do not
//!   depend on edge order or on the number of workers.

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{CoreError, Result};
use crate::minhash::{SigValue, jaccard_sorted};
use crate::parallel::run_in_pool;

/// The fewest signatures a parallel band-key task hashes: fewer cost more to hand over than to hash.
const MIN_TASK_DOCS: usize = 512;

/// A (band key, document) record, as stored in the band-key spill files.
pub type KeyedDoc = (u64, u64);

/// Band keys of a row-major signature matrix: `(rows_of_matrix, bands)` u64.
///
/// # Errors
/// `bands * rows` exceeds the signature length, or either is zero.
pub fn band_keys<T: SigValue + bytes::AsLeBytes>(
    signatures: &[T],
    num_perm: usize,
    bands: usize,
    rows: usize,
    workers: usize,
) -> Result<Vec<u64>> {
    check_banding(num_perm, bands, rows)?;
    let docs = signatures.len() / num_perm;
    let mut keys = vec![0u64; docs * bands];
    // Rows in runs (one buffer per run, not per row), about 8 runs per worker.
    let fill = |buf: &mut Vec<u8>, (sigs, out): (&[T], &mut [u64])| {
        for (sig, out) in sigs.chunks_exact(num_perm).zip(out.chunks_exact_mut(bands)) {
            band_keys_of(sig, rows, buf, out);
        }
    };
    let new_buf = || Vec::with_capacity(rows * std::mem::size_of::<T>());
    if workers <= 1 || docs < 2 * MIN_TASK_DOCS {
        fill(&mut new_buf(), (signatures, &mut keys));
    } else {
        let per_task = (docs / (workers * 8)).max(MIN_TASK_DOCS);
        run_in_pool(workers, || {
            signatures
                .par_chunks(per_task * num_perm)
                .zip(keys.par_chunks_mut(per_task * bands))
                .for_each_init(new_buf, fill);
        })?;
    }
    Ok(keys)
}

/// The band keys of one signature, written to `out` (one per band; `bands *
/// rows` checked against the signature's length by the caller). `buf` is
/// reused between calls.
#[inline]
pub(crate) fn band_keys_of<T: bytes::AsLeBytes>(
    signature: &[T],
    rows: usize,
    buf: &mut Vec<u8>,
    out: &mut [u64],
) {
    for (band, key) in out.iter_mut().enumerate() {
        buf.clear();
        for value in &signature[band * rows..(band + 1) * rows] {
            value.extend_le(buf);
        }
        *key = xxh3_64_with_seed(buf, band as u64);
    }
}

/// Refuse a banding that does not fit a signature of `num_perm` values.
///
/// # Errors
/// `bands * rows` exceeds `num_perm`, or either is zero.
pub(crate) fn check_banding(num_perm: usize, bands: usize, rows: usize) -> Result<()> {
    if bands == 0 || rows == 0 {
        return Err(CoreError::param("bands/rows", "both must be at least 1"));
    }
    if bands.saturating_mul(rows) > num_perm {
        return Err(CoreError::param(
            "bands/rows",
            format!(
                "bands × rows = {} exceeds num_perm = {num_perm}",
                bands.saturating_mul(rows)
            ),
        ));
    }
    Ok(())
}

/// Candidate pairs `(a, b)` with `a < b` from (key, doc) records, sorted and
/// distinct. Records are sorted in place.
pub fn candidate_pairs(
    records: &mut [KeyedDoc],
    clique_max: usize,
    workers: usize,
) -> Result<Vec<(u64, u64)>> {
    run_in_pool(workers, || records.par_sort_unstable())?;
    let mut pairs = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let key = records[start].0;
        let mut end = start + 1;
        while end < records.len() && records[end].0 == key {
            end += 1;
        }
        let bucket = &records[start..end];
        // Records are sorted by (key, doc): docs ascend within a bucket; a
        // document may repeat (two equal bands hashed to one key) -- skip it.
        if bucket.len() <= clique_max {
            for (i, &(_, a)) in bucket.iter().enumerate() {
                for &(_, b) in &bucket[i + 1..] {
                    if a != b {
                        pairs.push((a, b));
                    }
                }
            }
        } else {
            let pivot = bucket[0].1;
            pairs.extend(
                bucket[1..]
                    .iter()
                    .filter(|&&(_, d)| d != pivot)
                    .map(|&(_, d)| (pivot, d)),
            );
        }
        start = end;
    }
    sort_unique(&mut pairs, workers)?;
    Ok(pairs)
}

/// Sort pairs and drop repeats (in place).
pub fn sort_unique(pairs: &mut Vec<(u64, u64)>, workers: usize) -> Result<()> {
    run_in_pool(workers, || pairs.par_sort_unstable())?;
    pairs.dedup();
    Ok(())
}

/// Exact Jaccard similarity of each pair, where document `d`'s sorted,
/// distinct shingle hashes are `values[offsets[d]..offsets[d + 1]]`, with
/// `doc_slot[d]` mapping a document to its slot in `offsets`.
///
/// # Errors
/// A pair names a document without a slot, or a slot outside `offsets`.
pub fn verify_pairs(
    pairs: &[(u64, u64)],
    slot_of: impl Fn(u64) -> Option<usize> + Sync,
    values: &[u64],
    offsets: &[u64],
    workers: usize,
) -> Result<Vec<f64>> {
    verify_pairs_in(
        pairs,
        &[(0, values, offsets)],
        |doc| slot_of(doc).map(|slot| (0, slot)),
        workers,
    )
}

/// [`verify_pairs`] over sets held in batches, without joining them: batch
/// `b` is `(_, values, offsets)` as in [`verify_pairs`], and `place_of(doc)`
/// names the batch and the slot in it of a document's set.
///
/// # Errors
/// A pair names a document without a set, or a slot outside its batch.
pub fn verify_pairs_in<'a>(
    pairs: &[(u64, u64)],
    batches: &[(u64, &'a [u64], &'a [u64])],
    place_of: impl Fn(u64) -> Option<(usize, usize)> + Sync,
    workers: usize,
) -> Result<Vec<f64>> {
    let set = |doc: u64| -> Result<&'a [u64]> {
        let (batch, slot) = place_of(doc).ok_or_else(|| {
            CoreError::param("pairs", format!("document {doc} has no shingle set"))
        })?;
        let &(_, values, offsets) = batches
            .get(batch)
            .ok_or_else(|| CoreError::param("offsets", format!("batch {batch} is out of range")))?;
        let (start, end) = match (offsets.get(slot), offsets.get(slot + 1)) {
            (Some(&s), Some(&e)) if s <= e && (e as usize) <= values.len() => {
                (s as usize, e as usize)
            }
            _ => {
                return Err(CoreError::param(
                    "offsets",
                    format!("slot {slot} is out of range"),
                ));
            }
        };
        Ok(&values[start..end])
    };
    run_in_pool(workers, || {
        pairs
            .par_iter()
            .with_min_len(256)
            .map(|&(a, b)| Ok(jaccard_sorted(set(a)?, set(b)?)))
            .collect()
    })?
}

/// Connected components of `num_nodes` nodes joined by `edges`: each node's
/// label is the smallest node of its component.
///
/// # Errors
/// An edge names a node `>= num_nodes`.
pub fn connected_components(num_nodes: usize, edges: &[(u64, u64)]) -> Result<Vec<u64>> {
    fn find(parent: &mut [u64], mut x: u64) -> u64 {
        while parent[x as usize] != x {
            let grand = parent[parent[x as usize] as usize];
            parent[x as usize] = grand;
            x = grand;
        }
        x
    }
    let mut parent: Vec<u64> = (0..num_nodes as u64).collect();
    let mut size = vec![1u32; num_nodes];
    for &(a, b) in edges {
        if a as usize >= num_nodes || b as usize >= num_nodes {
            return Err(CoreError::param(
                "edges",
                format!("edge ({a}, {b}) names a node >= {num_nodes}"),
            ));
        }
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            let (big, small) = if size[ra as usize] >= size[rb as usize] {
                (ra, rb)
            } else {
                (rb, ra)
            };
            parent[small as usize] = big;
            size[big as usize] += size[small as usize];
        }
    }
    // Label = smallest member: the first node (in index order) seen per root.
    let mut label_of_root = vec![u64::MAX; num_nodes];
    let mut labels = vec![0u64; num_nodes];
    for node in 0..num_nodes as u64 {
        let root = find(&mut parent, node) as usize;
        if label_of_root[root] == u64::MAX {
            label_of_root[root] = node;
        }
        labels[node as usize] = label_of_root[root];
    }
    Ok(labels)
}

/// Little-endian serialisation of signature values (for band keys).
pub mod bytes {
    /// Append the value's little-endian bytes.
    pub trait AsLeBytes {
        fn extend_le(&self, out: &mut Vec<u8>);
    }
    impl AsLeBytes for u32 {
        fn extend_le(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_le_bytes());
        }
    }
    impl AsLeBytes for u64 {
        fn extend_le(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn band_keys_match_equal_bands_only() {
        // Two signatures of 4 values, 2 bands of 2: equal in band 0 only.
        let sigs: Vec<u32> = vec![1, 2, 3, 4, 1, 2, 9, 9];
        let keys = band_keys(&sigs, 4, 2, 2, 1).unwrap();
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[1], keys[3]);
        assert_eq!(keys[0], xxh3_64_with_seed(&[1, 0, 0, 0, 2, 0, 0, 0], 0));
        assert!(band_keys(&sigs, 4, 3, 2, 1).is_err());
    }

    #[test]
    fn small_buckets_give_cliques_large_ones_stars() {
        let mut records = vec![(7, 3), (7, 1), (7, 2), (9, 5), (9, 4)];
        assert_eq!(
            candidate_pairs(&mut records, 8, 1).unwrap(),
            [(1, 2), (1, 3), (2, 3), (4, 5)]
        );
        let mut records: Vec<KeyedDoc> = (0..100_000).map(|d| (42, d)).collect();
        let pairs = candidate_pairs(&mut records, 8, 2).unwrap();
        assert_eq!(pairs.len(), 99_999);
        assert!(pairs.iter().all(|&(a, _)| a == 0));
    }

    #[test]
    fn components_are_labelled_by_their_smallest_node() {
        let labels = connected_components(6, &[(4, 2), (5, 4), (1, 3)]).unwrap();
        assert_eq!(labels, [0, 1, 2, 1, 2, 2]);
        assert!(connected_components(2, &[(0, 2)]).is_err());
    }

    #[test]
    fn verify_uses_exact_jaccard() {
        let values = [1, 2, 3, 2, 3, 4];
        let offsets = [0, 3, 6];
        let sims = verify_pairs(
            &[(10, 11)],
            |d| Some((d - 10) as usize),
            &values,
            &offsets,
            1,
        )
        .unwrap();
        assert!((sims[0] - 0.5).abs() < 1e-12);
        assert!(
            verify_pairs(
                &[(10, 12)],
                |d| Some((d - 10) as usize),
                &values,
                &offsets,
                1
            )
            .is_err()
        );
    }

    proptest! {
        /// Labels equal those of a naive flood fill, whatever the edge order.
        #[test]
        fn components_match_flood_fill(edges in proptest::collection::vec((0u64..40, 0u64..40), 0..80)) {
            let labels = connected_components(40, &edges).unwrap();
            let mut reversed = edges.clone();
            reversed.reverse();
            prop_assert_eq!(&labels, &connected_components(40, &reversed).unwrap());
            for node in 0..40u64 {
                let mut seen = [false; 40];
                let mut stack = vec![node];
                seen[node as usize] = true;
                while let Some(x) = stack.pop() {
                    for &(a, b) in &edges {
                        for (u, v) in [(a, b), (b, a)] {
                            if u == x && !seen[v as usize] {
                                seen[v as usize] = true;
                                stack.push(v);
                            }
                        }
                    }
                }
                prop_assert_eq!(labels[node as usize], seen.iter().position(|&s| s).unwrap() as u64);
            }
        }

        /// Every pair of documents sharing a key ends up connected.
        #[test]
        fn candidates_connect_every_bucket(records in proptest::collection::vec((0u64..5, 0u64..30), 1..200), clique_max in 1usize..6) {
            let mut recs = records.clone();
            let pairs = candidate_pairs(&mut recs, clique_max, 1).unwrap();
            prop_assert!(pairs.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(pairs.iter().all(|&(a, b)| a < b));
            let labels = connected_components(30, &pairs).unwrap();
            for &(k1, d1) in &records {
                for &(k2, d2) in &records {
                    if k1 == k2 {
                        prop_assert_eq!(labels[d1 as usize], labels[d2 as usize]);
                    }
                }
            }
        }
    }
}
