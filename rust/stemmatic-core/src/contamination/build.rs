//! Building an [`NgramIndex`] from benchmark entries ([`IndexBuilder`]).

use std::collections::HashMap;

use rayon::prelude::*;

use super::{
    BuildOptions, Entries, Fingerprint, IndexStats, ItemRow, ItemStatus, KeyFilter, Lookup,
    NgramIndex, PARALLEL_MIN_BYTES, ScanPlan, fingerprint, refuse_document_rule,
};
use crate::error::{CoreError, Result};
use crate::parallel::run_in_pool;
use crate::shingle::ShingleSpec;
use crate::text::units::Units;

/// Accumulates benchmark entries, then builds an [`NgramIndex`].
#[derive(Debug, Clone)]
pub struct IndexBuilder {
    spec: ShingleSpec,
    min_tokens: usize,
    benchmarks: Vec<String>,
    fields: Vec<String>,
    entries: Entries,
    /// Item number (distinct benchmark + item id) of every entry.
    entry_item: Vec<u32>,
    items: HashMap<(u32, String), u32>,
    /// (fingerprint, entry, rolling key) triples.
    pairs: Vec<(u64, u32, u64)>,
    last_unit: Vec<Option<u64>>,
}

impl IndexBuilder {
    /// # Errors
    /// `min_tokens` is zero, or the tokenizer is `auto-document`
    /// ([`refuse_document_rule`]).
    pub fn new(spec: ShingleSpec, min_tokens: usize) -> Result<Self> {
        if min_tokens == 0 {
            return Err(CoreError::param("min_tokens", "must be at least 1"));
        }
        refuse_document_rule(spec.tokenizer)?;
        Ok(Self {
            spec,
            min_tokens,
            benchmarks: Vec::new(),
            fields: Vec::new(),
            entries: Entries {
                item_id_offsets: vec![0],
                ..Entries::default()
            },
            entry_item: Vec::new(),
            items: HashMap::new(),
            pairs: Vec::new(),
            last_unit: Vec::new(),
        })
    }

    /// The id of the benchmark `name` (added on first use).
    pub fn benchmark(&mut self, name: &str) -> u32 {
        intern(&mut self.benchmarks, name)
    }

    /// The id of the field `name` (added on first use).
    pub fn field(&mut self, name: &str) -> u32 {
        intern(&mut self.fields, name)
    }

    /// Fingerprint `items` (in parallel on `workers` threads) and add those
    /// with at least `min_tokens` tokens as entries, in order.
    ///
    /// # Errors
    /// A text that is not UTF-8 ([`CoreError::InvalidUtf8`], with its row in
    /// `items`); an unknown benchmark or field id; more than `u32::MAX`
    /// entries; a thread pool that cannot start.
    pub fn add_items(&mut self, items: &[ItemRow<'_>], workers: usize) -> Result<Vec<ItemStatus>> {
        for (row, item) in items.iter().enumerate() {
            if item.benchmark as usize >= self.benchmarks.len() {
                return Err(CoreError::param(
                    "benchmark",
                    format!("row {row}: unknown benchmark id {}", item.benchmark),
                ));
            }
            if item.field as usize >= self.fields.len() {
                return Err(CoreError::param(
                    "field",
                    format!("row {row}: unknown field id {}", item.field),
                ));
            }
            if let Some(Err(err)) = item.text.map(std::str::from_utf8) {
                return Err(CoreError::InvalidUtf8 {
                    row,
                    byte: err.valid_up_to(),
                });
            }
        }
        let (spec, min_tokens) = (self.spec, self.min_tokens);
        let one = |item: &ItemRow<'_>, units: &mut Units| match item.text {
            None => Fingerprint {
                status: ItemStatus::Null,
                hashes: Vec::new(),
                num_tokens: 0,
                last_unit: None,
            },
            Some(bytes) => {
                // Checked above.
                let text = std::str::from_utf8(bytes).unwrap_or("");
                fingerprint(spec, min_tokens, text, units)
            }
        };
        let total_bytes: usize = items.iter().map(|i| i.text.map_or(0, <[u8]>::len)).sum();
        let prints: Vec<Fingerprint> =
            if workers <= 1 || items.len() < 2 || total_bytes < PARALLEL_MIN_BYTES {
                let mut units = Units::default();
                items.iter().map(|item| one(item, &mut units)).collect()
            } else {
                run_in_pool(workers, || {
                    items
                        .par_iter()
                        .with_max_len(64)
                        .map_init(Units::default, |units, item| one(item, units))
                        .collect()
                })?
            };
        let mut statuses = Vec::with_capacity(items.len());
        for (item, print) in items.iter().zip(prints) {
            statuses.push(print.status);
            if print.status != ItemStatus::Indexed {
                continue;
            }
            let entry = u32::try_from(self.entries.len())
                .ok()
                .filter(|&e| e < u32::MAX)
                .ok_or_else(|| CoreError::param("items", "more than 2^32 - 1 entries"))?;
            let next_item = self.items.len() as u32;
            let item_number = *self
                .items
                .entry((item.benchmark, item.item_id.to_owned()))
                .or_insert(next_item);
            self.entries.benchmark.push(item.benchmark);
            self.entries.field.push(item.field);
            self.entries.num_ngrams.push(0);
            self.entries
                .num_tokens
                .push(u32::try_from(print.num_tokens).unwrap_or(u32::MAX));
            self.entries.item_id_data.push_str(item.item_id);
            self.entries
                .item_id_offsets
                .push(self.entries.item_id_data.len() as u64);
            self.entry_item.push(item_number);
            self.last_unit.push(print.last_unit);
            self.pairs.extend(
                print
                    .hashes
                    .into_iter()
                    .map(|(hash, key)| (hash, entry, key)),
            );
        }
        Ok(statuses)
    }

    /// Build the index: drop the excluded n-grams and lay out the postings.
    ///
    /// # Errors
    /// More than `u32::MAX` postings or distinct n-grams.
    pub fn finish(mut self, options: &BuildOptions<'_>) -> Result<NgramIndex> {
        self.pairs.sort_unstable();
        self.pairs.dedup();
        let mut allow = Vec::new();
        let mut scratch = String::new();
        for text in options.allowlist {
            self.spec
                .for_each_hash(text, &mut scratch, |h| allow.push(h));
        }
        allow.sort_unstable();
        allow.dedup();

        let mut stats = IndexStats {
            items: self.items.len() as u64,
            max_item_frequency: options.max_item_frequency,
            ..IndexStats::default()
        };
        let mut keys = Vec::new();
        let mut posting_offsets = vec![0u32];
        let mut postings = Vec::new();
        let mut group_items = Vec::new();
        let mut num_ngrams = vec![0u32; self.entries.len()];
        let mut window_keys = Vec::new();
        for group in self.pairs.chunk_by(|a, b| a.0 == b.0) {
            let hash = group[0].0;
            if allow.binary_search(&hash).is_ok() {
                stats.excluded_by_allowlist += 1;
                continue;
            }
            if let Some(cap) = options.max_item_frequency {
                group_items.clear();
                group_items.extend(group.iter().map(|&(_, e, _)| self.entry_item[e as usize]));
                group_items.sort_unstable();
                group_items.dedup();
                if group_items.len() as u64 > cap {
                    stats.excluded_by_frequency += 1;
                    continue;
                }
            }
            keys.push(hash);
            let first_posting = postings.len();
            for &(_, entry, window_key) in group {
                window_keys.push(window_key);
                // Sorted by entry: one posting per entry, even if (only
                // through an XXH3 collision) the group has several keys.
                if postings.len() == first_posting || postings.last() != Some(&entry) {
                    postings.push(entry);
                    num_ngrams[entry as usize] += 1;
                }
            }
            let end = u32::try_from(postings.len())
                .map_err(|_| CoreError::param("items", "more than 2^32 - 1 postings"))?;
            posting_offsets.push(end);
        }
        if u32::try_from(keys.len()).is_err() {
            return Err(CoreError::param(
                "items",
                "more than 2^32 - 1 distinct n-grams",
            ));
        }
        stats.entries_without_ngrams = num_ngrams.iter().filter(|&&n| n == 0).count() as u64;
        self.entries.num_ngrams = num_ngrams;

        let mut short_lengths = Vec::new();
        let mut short_last = Vec::new();
        for (entry, last) in self.last_unit.iter().enumerate() {
            if let Some(last) = *last
                && self.entries.num_ngrams[entry] > 0
            {
                short_lengths.push(self.entries.num_tokens[entry]);
                short_last.push(last);
            }
        }
        short_lengths.sort_unstable();
        short_lengths.dedup();
        short_last.sort_unstable();
        short_last.dedup();
        window_keys.sort_unstable();
        window_keys.dedup();

        let lookup = Lookup::new(&keys);
        let scan_plan = ScanPlan::new(self.spec.ngram, &short_lengths, &short_last);
        Ok(NgramIndex {
            spec: self.spec,
            min_tokens: self.min_tokens,
            benchmarks: self.benchmarks,
            fields: self.fields,
            entries: self.entries,
            keys,
            posting_offsets,
            postings,
            short_lengths,
            short_last,
            window_filter: KeyFilter::of(&window_keys),
            stats,
            metadata: options.metadata.clone(),
            lookup,
            scan_plan,
        })
    }
}

fn intern(names: &mut Vec<String>, name: &str) -> u32 {
    if let Some(i) = names.iter().position(|n| n == name) {
        return i as u32;
    }
    names.push(name.to_owned());
    (names.len() - 1) as u32
}
