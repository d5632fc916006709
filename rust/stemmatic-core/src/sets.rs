//! Sorted sets of 64-bit shingle hashes.
//!
//! A document's shingle hashes are XXH3 outputs, so their top bits are
//! uniform: one counting pass by the top `b` bits (about one value a
//! bucket) and one scatter leave the values sorted but for the few pairs
//! that share a bucket, which one insertion pass fixes with a predictable
//! branch. That is a few cheap passes per value instead of a comparison
//! sort's `log n` mispredicted compares. Skewed inputs (many equal values,
//! or a crafted input that fills a bucket) only make some buckets larger;
//! those are sorted by `sort_unstable` first, so the insertion pass moves no
//! value further than its bucket and the worst case stays `O(n log n)`.

/// Below this many values a comparison sort is as fast.
const SMALL: usize = 64;
/// Above this many values the bucket counts outgrow the caches.
const LARGE: usize = 1 << 18;
/// Buckets larger than this are sorted on their own before the insertion pass.
const BUCKET_MAX: usize = 16;

/// Reusable buffers of [`sort_dedup`].
#[derive(Debug, Default)]
pub(crate) struct SortScratch {
    values: Vec<u64>,
    counts: Vec<u32>,
}

/// Sort `values` ascending and drop repeated values, in place.
pub(crate) fn sort_dedup(values: &mut Vec<u64>, scratch: &mut SortScratch) {
    let n = values.len();
    if !(SMALL..=LARGE).contains(&n) {
        values.sort_unstable();
        values.dedup();
        return;
    }
    let bits = n.next_power_of_two().trailing_zeros();
    let shift = 64 - bits;
    let buckets = 1usize << bits;
    let counts = &mut scratch.counts;
    counts.clear();
    counts.resize(buckets + 1, 0);
    for &value in values.iter() {
        counts[(value >> shift) as usize + 1] += 1;
    }
    let mut crowded = false;
    for b in 1..=buckets {
        crowded |= counts[b] as usize > BUCKET_MAX;
        counts[b] += counts[b - 1];
    }
    // counts[b] is where bucket b starts; used as its cursor, it ends where
    // bucket b ends (= where b + 1 starts).
    let sorted = &mut scratch.values;
    sorted.clear();
    sorted.resize(n, 0);
    for &value in values.iter() {
        let cursor = &mut counts[(value >> shift) as usize];
        sorted[*cursor as usize] = value;
        *cursor += 1;
    }
    if crowded {
        let mut start = 0usize;
        for &end in &counts[..buckets] {
            let end = end as usize;
            if end - start > BUCKET_MAX {
                sorted[start..end].sort_unstable();
            }
            start = end;
        }
    }
    insertion_sort(sorted);
    values.clear();
    let mut last = None;
    for &value in sorted.iter() {
        if last != Some(value) {
            values.push(value);
            last = Some(value);
        }
    }
}

/// Insertion sort: linear on the nearly sorted slices it is given here (and
/// by [`crate::lsh`]'s partition sort).
#[inline(always)]
pub(crate) fn insertion_sort<T: Copy + Ord>(values: &mut [T]) {
    for i in 1..values.len() {
        let value = values[i];
        if values[i - 1] <= value {
            continue;
        }
        let mut j = i;
        while j > 0 && values[j - 1] > value {
            values[j] = values[j - 1];
            j -= 1;
        }
        values[j] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(values: &[u64]) -> Vec<u64> {
        let mut out = values.to_vec();
        out.sort_unstable();
        out.dedup();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Equal to sort + dedup for uniform values, few distinct values,
        /// and values sharing their top bits (one overfull bucket).
        #[test]
        fn equals_sort_and_dedup(
            uniform in proptest::collection::vec(any::<u64>(), 0..3000),
            few in proptest::collection::vec(0u64..8, 0..600),
            low in proptest::collection::vec(0u64..1_000_000, 0..600),
        ) {
            let mut scratch = SortScratch::default();
            for input in [&uniform, &few, &low] {
                let mut values = input.clone();
                sort_dedup(&mut values, &mut scratch);
                prop_assert_eq!(&values, &reference(input));
            }
            let mut mixed: Vec<u64> = uniform.iter().chain(&few).chain(&low).copied().collect();
            let expected = reference(&mixed);
            sort_dedup(&mut mixed, &mut scratch);
            prop_assert_eq!(mixed, expected);
        }
    }

    #[test]
    fn extremes_and_repeats() {
        let mut scratch = SortScratch::default();
        let mut values: Vec<u64> = (0..1000u64)
            .flat_map(|i| [u64::MAX - i, i, u64::MAX - i, 1 << 63])
            .collect();
        let expected = reference(&values);
        sort_dedup(&mut values, &mut scratch);
        assert_eq!(values, expected);
        let mut empty: Vec<u64> = Vec::new();
        sort_dedup(&mut empty, &mut scratch);
        assert!(empty.is_empty());
    }
}
