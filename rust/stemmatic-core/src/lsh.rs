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

use crate::error::{CoreError, Result};
use crate::minhash::{SigValue, jaccard_sorted};
use crate::parallel::run_in_pool;
use crate::sets::insertion_sort;
use crate::shingle::SeededXxh3;

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
    let hashers = band_hashers(bands);
    let fill = |buf: &mut Vec<u8>, (sigs, out): (&[T], &mut [u64])| {
        for (sig, out) in sigs.chunks_exact(num_perm).zip(out.chunks_exact_mut(bands)) {
            band_keys_of(sig, rows, &hashers, buf, out);
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
/// reused between calls; `hashers` are [`band_hashers`].
#[inline]
pub(crate) fn band_keys_of<T: bytes::AsLeBytes>(
    signature: &[T],
    rows: usize,
    hashers: &[SeededXxh3],
    buf: &mut Vec<u8>,
    out: &mut [u64],
) {
    buf.resize(rows * std::mem::size_of::<T>(), 0);
    for (band, (key, hasher)) in out.iter_mut().zip(hashers).enumerate() {
        T::write_le(&signature[band * rows..(band + 1) * rows], buf);
        *key = hasher.hash(buf);
    }
}

/// The hash of each band's values: XXH3-64 seeded with the band number (its
/// seeded secret worked out once, not per key).
pub(crate) fn band_hashers(bands: usize) -> Vec<SeededXxh3> {
    (0..bands as u64).map(SeededXxh3::new).collect()
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

/// Band-key records held where the sketch left them: record `i` of a batch
/// is `(keys[i], docs[i / k])`, `k = keys.len() / docs.len()` keys per
/// document (a row-major `(docs, bands)` band-key matrix, or one key per
/// document for flat records).
#[derive(Debug, Clone, Copy)]
pub struct KeyBatch<'a> {
    pub keys: &'a [u64],
    pub docs: &'a [u64],
}

impl KeyBatch<'_> {
    /// Keys per document.
    ///
    /// # Errors
    /// The keys are not a whole number of keys per document.
    fn per_doc(&self) -> Result<usize> {
        match (self.keys.len(), self.docs.len()) {
            (0, 0) => Ok(1),
            (keys, docs) if docs > 0 && keys % docs == 0 => Ok(keys / docs),
            (keys, docs) => Err(CoreError::param(
                "keys",
                format!("{keys} keys are not a whole number of keys for each of {docs} documents"),
            )),
        }
    }
}

/// About this many records per partition of [`candidate_pairs`]: a
/// partition and its counts fit a core's own cache.
const PARTITION_RECORDS: usize = 1 << 15;
/// At most `2^PARTITION_BITS` partitions: the scatter writes to that many
/// places at once.
const PARTITION_BITS: u32 = 10;
/// Slots of a partition's counting sort holding more records than this are
/// sorted on their own before the insertion pass.
const SLOT_MAX: usize = 16;
/// Partitions of up to this many records are sorted by comparison.
const SMALL_PARTITION: usize = 64;

/// Reusable buffers of a partition sort.
#[derive(Debug, Default)]
struct PartitionScratch {
    sorted: Vec<KeyedDoc>,
    counts: Vec<u32>,
}

/// The records of one partition (their keys share the top `shared_bits`
/// bits) sorted by (key, doc), in `scratch`: one counting pass and one
/// scatter by the next bits (about one record a slot), sort the slots that
/// hold many records (equal keys: a bucket), then one insertion pass fixes
/// the few neighbours left out of order, as [`crate::sets`] sorts shingle
/// hashes.
fn sort_partition<'s>(
    part: &[KeyedDoc],
    shared_bits: u32,
    scratch: &'s mut PartitionScratch,
) -> &'s [KeyedDoc] {
    let n = part.len();
    let sorted = &mut scratch.sorted;
    sorted.clear();
    if n <= SMALL_PARTITION {
        sorted.extend_from_slice(part);
        sorted.sort_unstable();
        return sorted;
    }
    let bits = n.next_power_of_two().trailing_zeros().min(16);
    let slot_of = |key: u64| ((key << shared_bits) >> (64 - bits)) as usize;
    let counts = &mut scratch.counts;
    counts.clear();
    counts.resize((1 << bits) + 1, 0);
    for &(key, _) in part {
        counts[slot_of(key) + 1] += 1;
    }
    let mut crowded = false;
    for s in 1..counts.len() {
        crowded |= counts[s] as usize > SLOT_MAX;
        counts[s] += counts[s - 1];
    }
    sorted.resize(n, (0, 0));
    for &record in part {
        let cursor = &mut counts[slot_of(record.0)];
        sorted[*cursor as usize] = record;
        *cursor += 1;
    }
    if crowded {
        // counts[s] is now where slot s ends.
        let mut start = 0usize;
        for &end in &counts[..1 << bits] {
            let end = end as usize;
            if end - start > SLOT_MAX {
                sorted[start..end].sort_unstable();
            }
            start = end;
        }
    }
    insertion_sort(sorted);
    sorted
}

/// Candidate pairs `(a, b)` with `a < b` from (key, doc) records, sorted and
/// distinct; records of documents marked in `excluded` (indexed by document)
/// are left out.
///
/// Band keys are XXH3 outputs, so their bits are uniform: one counting pass
/// and one scatter by the top bits put the records of every key in one
/// partition of about [`PARTITION_RECORDS`] records, and each partition is
/// sorted by (key, doc) in cache (a counting sort by the next bits, see
/// [`sort_partition`]), on its own worker, and cut into buckets there. The
/// buckets, and so the pairs, are those of one sort of all records.
///
/// # Errors
/// A batch's keys are not a whole number per document, a document is not in
/// `excluded`, or the thread pool cannot be started.
pub fn candidate_pairs(
    batches: &[KeyBatch<'_>],
    excluded: Option<&[bool]>,
    clique_max: usize,
    workers: usize,
) -> Result<Vec<(u64, u64)>> {
    let per_doc: Vec<usize> = batches
        .iter()
        .map(KeyBatch::per_doc)
        .collect::<Result<_>>()?;
    let total: usize = batches.iter().map(|b| b.keys.len()).sum();
    let bits = (total / PARTITION_RECORDS)
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .min(PARTITION_BITS);
    let partition_of = |key: u64| {
        if bits == 0 {
            0
        } else {
            (key >> (64 - bits)) as usize
        }
    };
    let kept = |doc: u64| -> Result<bool> {
        match excluded {
            None => Ok(true),
            Some(excluded) => usize::try_from(doc)
                .ok()
                .and_then(|d| excluded.get(d))
                .map(|&out| !out)
                .ok_or_else(|| {
                    CoreError::param("excluded", format!("has no entry for document {doc}"))
                }),
        }
    };
    let mut starts = vec![0usize; (1 << bits) + 1];
    for_each_record(batches, &per_doc, kept, |key, _| {
        starts[partition_of(key) + 1] += 1;
    })?;
    for p in 1..starts.len() {
        starts[p] += starts[p - 1];
    }
    let mut records: Vec<KeyedDoc> = vec![(0, 0); starts[1 << bits]];
    let mut cursors = starts.clone();
    for_each_record(batches, &per_doc, kept, |key, doc| {
        let cursor = &mut cursors[partition_of(key)];
        records[*cursor] = (key, doc);
        *cursor += 1;
    })?;
    let mut partitions = Vec::with_capacity(1 << bits);
    let mut rest = records.as_slice();
    for w in starts.windows(2) {
        let (part, tail) = rest.split_at(w[1] - w[0]);
        partitions.push(part);
        rest = tail;
    }
    let found: Vec<Vec<(u64, u64)>> = run_in_pool(workers, || {
        partitions
            .into_par_iter()
            .fold(
                || (Vec::new(), PartitionScratch::default()),
                |(mut pairs, mut scratch), part| {
                    let sorted = sort_partition(part, bits, &mut scratch);
                    bucket_pairs(sorted, clique_max, &mut pairs);
                    (pairs, scratch)
                },
            )
            .map(|(pairs, _)| pairs)
            .collect()
    })?;
    drop(records);
    let mut pairs = Vec::with_capacity(found.iter().map(Vec::len).sum());
    for part in found {
        pairs.extend_from_slice(&part);
    }
    sort_unique(&mut pairs, workers)?;
    Ok(pairs)
}

/// `visit(key, doc)` for each record of the documents `kept`, batch by batch.
fn for_each_record(
    batches: &[KeyBatch<'_>],
    per_doc: &[usize],
    kept: impl Fn(u64) -> Result<bool>,
    mut visit: impl FnMut(u64, u64),
) -> Result<()> {
    for (batch, &k) in batches.iter().zip(per_doc) {
        for (keys, &doc) in batch.keys.chunks_exact(k).zip(batch.docs) {
            if kept(doc)? {
                for &key in keys {
                    visit(key, doc);
                }
            }
        }
    }
    Ok(())
}

/// The pairs of the buckets of `records`, sorted by (key, doc): every pair of
/// a bucket of up to `clique_max` records, a star from its first (smallest)
/// document for a larger one.
fn bucket_pairs(records: &[KeyedDoc], clique_max: usize, pairs: &mut Vec<(u64, u64)>) {
    for bucket in records.chunk_by(|a, b| a.0 == b.0) {
        // Docs ascend within a bucket; a document may repeat (two equal
        // bands hashed to one key) -- skip it.
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
    }
}

/// Sort pairs and drop repeats (in place). Pairs of 32-bit documents (the
/// usual case) are sorted as one 64-bit value each, which orders them alike.
pub fn sort_unique(pairs: &mut Vec<(u64, u64)>, workers: usize) -> Result<()> {
    let small = |d: u64| u32::try_from(d).is_ok();
    if pairs.iter().all(|&(a, b)| small(a) && small(b)) {
        let mut packed: Vec<u64> = pairs.iter().map(|&(a, b)| (a << 32) | b).collect();
        run_in_pool(workers, || packed.par_sort_unstable())?;
        packed.dedup();
        pairs.clear();
        pairs.extend(packed.iter().map(|&p| (p >> 32, p & u64::from(u32::MAX))));
    } else {
        run_in_pool(workers, || pairs.par_sort_unstable())?;
        pairs.dedup();
    }
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
    /// Little-endian bytes of signature values.
    pub trait AsLeBytes: Sized {
        /// Write `values`' little-endian bytes to `out`, which holds exactly
        /// as many bytes (a copy on a little-endian machine).
        fn write_le(values: &[Self], out: &mut [u8]);
    }
    impl AsLeBytes for u32 {
        #[inline]
        fn write_le(values: &[Self], out: &mut [u8]) {
            for (bytes, value) in out.chunks_exact_mut(4).zip(values) {
                bytes.copy_from_slice(&value.to_le_bytes());
            }
        }
    }
    impl AsLeBytes for u64 {
        #[inline]
        fn write_le(values: &[Self], out: &mut [u8]) {
            for (bytes, value) in out.chunks_exact_mut(8).zip(values) {
                bytes.copy_from_slice(&value.to_le_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use xxhash_rust::xxh3::xxh3_64_with_seed;

    #[test]
    fn band_keys_match_equal_bands_only() {
        // Two signatures of 4 values, 2 bands of 2: equal in band 0 only.
        let sigs: Vec<u32> = vec![1, 2, 3, 4, 1, 2, 9, 9];
        let keys = band_keys(&sigs, 4, 2, 2, 1).unwrap();
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[1], keys[3]);
        assert_eq!(keys[0], xxh3_64_with_seed(&[1, 0, 0, 0, 2, 0, 0, 0], 0));
        assert!(band_keys(&sigs, 4, 3, 2, 1).is_err());
        // Every band width of the usual bandings: XXH3 of the values' LE bytes.
        let sigs: Vec<u32> = (0..128u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let wide: Vec<u64> = sigs.iter().map(|&v| u64::from(v) << 29 | 7).collect();
        for rows in 1..=32 {
            let bands = 128 / rows;
            let keys = band_keys(&sigs, 128, bands, rows, 1).unwrap();
            let wide_keys = band_keys(&wide, 128, bands, rows, 1).unwrap();
            for band in 0..bands {
                let values = band * rows..(band + 1) * rows;
                let le: Vec<u8> = sigs[values.clone()]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                assert_eq!(keys[band], xxh3_64_with_seed(&le, band as u64));
                let le: Vec<u8> = wide[values].iter().flat_map(|v| v.to_le_bytes()).collect();
                assert_eq!(wide_keys[band], xxh3_64_with_seed(&le, band as u64));
            }
        }
    }

    /// Candidate pairs of flat `(key, doc)` records.
    fn pairs_of_records(
        records: &[KeyedDoc],
        clique_max: usize,
        workers: usize,
    ) -> Vec<(u64, u64)> {
        let keys: Vec<u64> = records.iter().map(|r| r.0).collect();
        let docs: Vec<u64> = records.iter().map(|r| r.1).collect();
        let batch = KeyBatch {
            keys: &keys,
            docs: &docs,
        };
        candidate_pairs(&[batch], None, clique_max, workers).unwrap()
    }

    /// The pairs of one comparison sort of all records, bucket by bucket.
    fn reference_pairs(records: &[KeyedDoc], clique_max: usize) -> Vec<(u64, u64)> {
        let mut records = records.to_vec();
        records.sort_unstable();
        let mut pairs = Vec::new();
        bucket_pairs(&records, clique_max, &mut pairs);
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }

    #[test]
    fn small_buckets_give_cliques_large_ones_stars() {
        let records = vec![(7, 3), (7, 1), (7, 2), (9, 5), (9, 4)];
        assert_eq!(
            pairs_of_records(&records, 8, 1),
            [(1, 2), (1, 3), (2, 3), (4, 5)]
        );
        let records: Vec<KeyedDoc> = (0..100_000).map(|d| (42, d)).collect();
        let pairs = pairs_of_records(&records, 8, 2);
        assert_eq!(pairs.len(), 99_999);
        assert!(pairs.iter().all(|&(a, _)| a == 0));
    }

    #[test]
    fn batches_of_band_keys_equal_flat_records() {
        // Documents 0..3000 with 4 bands each, keys spread over the top bits,
        // every 7th document sharing band 2 with document 0; documents past
        // 2^32 take the unpacked sort.
        for base in [0u64, 1 << 40] {
            let docs: Vec<u64> = (0..3000u64).map(|d| base + d).collect();
            let mut keys = Vec::new();
            for (i, _) in docs.iter().enumerate() {
                for band in 0..4u64 {
                    let shared = band == 2 && i % 7 == 0;
                    let seed = if shared { 0 } else { i as u64 };
                    keys.push(xxh3_64_with_seed(&seed.to_le_bytes(), band) >> (i % 3));
                }
            }
            let records: Vec<KeyedDoc> = keys
                .iter()
                .enumerate()
                .map(|(r, &k)| (k, docs[r / 4]))
                .collect();
            let (left, right) = (
                KeyBatch {
                    keys: &keys[..4000],
                    docs: &docs[..1000],
                },
                KeyBatch {
                    keys: &keys[4000..],
                    docs: &docs[1000..],
                },
            );
            for clique_max in [1, 8, 1000] {
                let expected = reference_pairs(&records, clique_max);
                assert!(!expected.is_empty());
                for workers in [1, 2] {
                    assert_eq!(
                        candidate_pairs(&[left, right], None, clique_max, workers).unwrap(),
                        expected
                    );
                }
            }
        }
        let keys = [1u64, 2, 1, 2, 1, 2];
        assert!(
            candidate_pairs(
                &[KeyBatch {
                    keys: &keys,
                    docs: &[0, 1, 2, 3]
                }],
                None,
                8,
                1
            )
            .is_err()
        );
    }

    #[test]
    fn excluded_documents_give_no_pairs() {
        let keys = [5u64, 5, 5, 6, 6];
        let docs = [0u64, 1, 2, 3, 4];
        let batch = KeyBatch {
            keys: &keys,
            docs: &docs,
        };
        let excluded = [false, true, false, false, false];
        assert_eq!(
            candidate_pairs(&[batch], Some(&excluded), 8, 1).unwrap(),
            [(0, 2), (3, 4)]
        );
        assert!(candidate_pairs(&[batch], Some(&excluded[..3]), 8, 1).is_err());
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
            let pairs = pairs_of_records(&records, clique_max, 1);
            prop_assert_eq!(&pairs, &reference_pairs(&records, clique_max));
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
