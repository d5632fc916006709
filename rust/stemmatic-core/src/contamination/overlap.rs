//! Token overlap between benchmark entries and the documents that hit them:
//! the longest run of consecutive entry tokens found in a document, and the
//! matched spans of the Llama 2 contamination study (Touvron et al. 2023,
//! "Llama 2: Open Foundation and Fine-Tuned Chat Models", appendix A.6).
//!
//! Llama 2 calls a token of an evaluation sample contaminated when it lies in
//! a token n-gram of at least `min_span` (10) tokens that the sample and a
//! training document share, where a matched span may differ in at most
//! `skip_budget` (4) positions, never within its first `min_span` tokens and
//! never at its end ("trailing mismatches"). Here a span starts at an exact
//! match of `min_span` tokens (a seed) and is extended along the same
//! alignment (entry token `p` against document token `p + offset`) while at
//! most `skip_budget` positions differ; it ends on its last matching token.
//! A seed inside a span already found on the same alignment adds nothing.
//!
//! Both measures come from one pass over the document's tokens: for each
//! document token, the entry positions holding the same token (a sorted
//! lookup per entry, behind a 1,024-bit filter) extend the common runs that
//! end there (`run[i] = run[i - 1] + 1` along the alignment), which gives
//! the longest run and every seed in O(document tokens + matches).
//! Tokens are those of the index's tokenizer ([`Units`]), compared by the
//! XXH3-64 hash of their normalized bytes.

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{CoreError, Result};
use crate::parallel::run_in_pool;
use crate::text::Tokenizer;
use crate::text::units::Units;

/// The shortest matched span Llama 2 counts.
pub const LLAMA2_MIN_SPAN: usize = 10;
/// The positions a Llama 2 span may differ in.
pub const LLAMA2_SKIP_BUDGET: usize = 4;

/// Documents with less text than this are compared on the calling thread.
const PARALLEL_MIN_BYTES: usize = 1 << 16;

/// The tokens of every entry, ready to be compared with documents.
#[derive(Debug, Clone)]
pub struct EntryTokens {
    tokenizer: Tokenizer,
    /// Entry `e`'s tokens are `tokens[offsets[e]..offsets[e + 1]]`.
    offsets: Vec<usize>,
    tokens: Vec<u64>,
    /// Per entry (same offsets): `(token, position)` sorted by token, then by
    /// position descending (the order the run update needs).
    lookup: Vec<(u64, u32)>,
}

/// What [`EntryTokens::compare`] finds for each (document, entry) pair it is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlaps {
    /// Longest run of consecutive entry tokens found in the document, per pair.
    pub longest: Vec<u32>,
    /// Pair `k`'s Llama 2 spans are `span_starts/ends[span_offsets[k]..span_offsets[k + 1]]`,
    /// entry token positions `[start, end)`.
    pub span_offsets: Vec<u64>,
    pub span_starts: Vec<u32>,
    pub span_ends: Vec<u32>,
}

/// One pair's result: (pair number, longest run, Llama 2 spans).
type PairOverlap = (u32, u32, Vec<(u32, u32)>);

/// Buffers reused across the pairs one thread compares.
#[derive(Debug, Default)]
struct Scratch {
    run: Vec<u32>,
    /// `1 + document position` where `run[i]` was last set (0: never).
    stamp: Vec<u32>,
    seeds: Vec<(i64, u32)>,
}

impl EntryTokens {
    /// Tokenize every entry text with `tokenizer` (`auto` as `auto-span`:
    /// the units of the scan).
    ///
    /// # Errors
    /// An entry with more than `u32::MAX` tokens, or the tokenizer
    /// `auto-document` ([`super::refuse_document_rule`]).
    pub fn new(tokenizer: Tokenizer, texts: &[&str]) -> Result<Self> {
        super::refuse_document_rule(tokenizer)?;
        let tokenizer = tokenizer.for_spans();
        let mut units = Units::default();
        let mut keys = Vec::new();
        let mut offsets = Vec::with_capacity(texts.len() + 1);
        offsets.push(0);
        let mut tokens = Vec::new();
        let mut lookup = Vec::new();
        for text in texts {
            token_keys(tokenizer, text, &mut units, &mut keys);
            if u32::try_from(keys.len()).is_err() {
                return Err(CoreError::param(
                    "texts",
                    "an entry has more than 2^32 - 1 tokens",
                ));
            }
            tokens.extend_from_slice(&keys);
            let mut pairs: Vec<(u64, u32)> = keys
                .iter()
                .enumerate()
                .map(|(i, &h)| (h, i as u32))
                .collect();
            pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            lookup.extend(pairs);
            offsets.push(tokens.len());
        }
        Ok(Self {
            tokenizer,
            offsets,
            tokens,
            lookup,
        })
    }

    /// Number of entries.
    #[must_use]
    pub fn num_entries(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The number of tokens of each entry.
    #[must_use]
    pub fn lengths(&self) -> Vec<u32> {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect()
    }

    /// Compare entry `entries[k]` with document `docs[rows[k]]` for every `k`
    /// (each document tokenized once), on `workers` threads. A null document
    /// shares nothing.
    ///
    /// # Errors
    /// `rows`/`entries` of different lengths or out of range, `min_span` 0, a
    /// document that is not UTF-8 ([`CoreError::InvalidUtf8`], naming its
    /// row), a thread pool that cannot start.
    pub fn compare(
        &self,
        docs: &[Option<&[u8]>],
        rows: &[u32],
        entries: &[u32],
        min_span: usize,
        skip_budget: usize,
        workers: usize,
    ) -> Result<Overlaps> {
        if rows.len() != entries.len() {
            return Err(CoreError::param(
                "entries",
                format!("{} rows for {} entries", rows.len(), entries.len()),
            ));
        }
        if min_span == 0 {
            return Err(CoreError::param("min_span", "must be at least 1"));
        }
        if let Some(&row) = rows.iter().find(|&&r| r as usize >= docs.len()) {
            return Err(CoreError::param(
                "rows",
                format!("row {row} of {} documents", docs.len()),
            ));
        }
        if let Some(&entry) = entries.iter().find(|&&e| e as usize >= self.num_entries()) {
            return Err(CoreError::param(
                "entries",
                format!("entry {entry} of {}", self.num_entries()),
            ));
        }
        // The pairs of each document, in document order: a document is tokenized once.
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        order.sort_by_key(|&k| rows[k as usize]);
        let groups: Vec<&[u32]> = order
            .chunk_by(|&a, &b| rows[a as usize] == rows[b as usize])
            .collect();
        for group in &groups {
            let row = rows[group[0] as usize] as usize;
            if let Some(Err(err)) = docs[row].map(std::str::from_utf8) {
                return Err(CoreError::InvalidUtf8 {
                    row,
                    byte: err.valid_up_to(),
                });
            }
        }
        let one_document =
            |group: &[u32], (units, keys, scratch): &mut (Units, Vec<u64>, Scratch)| {
                let row = rows[group[0] as usize] as usize;
                // Checked above.
                let text = docs[row].map_or("", |bytes| std::str::from_utf8(bytes).unwrap_or(""));
                token_keys(self.tokenizer, text, units, keys);
                group
                    .iter()
                    .map(|&k| {
                        let mut spans = Vec::new();
                        let longest = self.overlap(
                            entries[k as usize] as usize,
                            keys,
                            min_span,
                            skip_budget,
                            scratch,
                            &mut spans,
                        );
                        (k, longest, spans)
                    })
                    .collect::<Vec<_>>()
            };
        let total_bytes: usize = groups
            .iter()
            .map(|g| docs[rows[g[0] as usize] as usize].map_or(0, <[u8]>::len))
            .sum();
        let results: Vec<Vec<PairOverlap>> =
            if workers <= 1 || groups.len() < 2 || total_bytes < PARALLEL_MIN_BYTES {
                let mut buffers = (Units::default(), Vec::new(), Scratch::default());
                groups
                    .iter()
                    .map(|g| one_document(g, &mut buffers))
                    .collect()
            } else {
                run_in_pool(workers, || {
                    groups
                        .par_iter()
                        .map_init(
                            || (Units::default(), Vec::new(), Scratch::default()),
                            |buffers, g| one_document(g, buffers),
                        )
                        .collect()
                })?
            };
        let mut per_pair: Vec<(u32, Vec<(u32, u32)>)> = vec![(0, Vec::new()); rows.len()];
        for (k, longest, spans) in results.into_iter().flatten() {
            per_pair[k as usize] = (longest, spans);
        }
        let mut out = Overlaps {
            longest: Vec::with_capacity(rows.len()),
            span_offsets: Vec::with_capacity(rows.len() + 1),
            ..Overlaps::default()
        };
        out.span_offsets.push(0);
        for (longest, spans) in per_pair {
            out.longest.push(longest);
            for (start, end) in spans {
                out.span_starts.push(start);
                out.span_ends.push(end);
            }
            out.span_offsets.push(out.span_starts.len() as u64);
        }
        Ok(out)
    }

    /// The longest common run of entry `entry` and `doc`; its Llama 2 spans go to `spans`.
    fn overlap(
        &self,
        entry: usize,
        doc: &[u64],
        min_span: usize,
        skip_budget: usize,
        scratch: &mut Scratch,
        spans: &mut Vec<(u32, u32)>,
    ) -> u32 {
        let (lo, hi) = (self.offsets[entry], self.offsets[entry + 1]);
        let tokens = &self.tokens[lo..hi];
        let lookup = &self.lookup[lo..hi];
        if tokens.is_empty() || doc.is_empty() {
            return 0;
        }
        let mut filter = [0u64; 16];
        for &(token, _) in lookup {
            filter[(token >> 60) as usize] |= 1 << ((token >> 54) & 63);
        }
        let Scratch { run, stamp, seeds } = scratch;
        run.clear();
        run.resize(tokens.len(), 0);
        stamp.clear();
        stamp.resize(tokens.len(), 0);
        seeds.clear();
        let mut longest = 0u32;
        for (j, &token) in doc.iter().enumerate() {
            if filter[(token >> 60) as usize] & (1 << ((token >> 54) & 63)) == 0 {
                continue;
            }
            let first = lookup.partition_point(|&(t, _)| t < token);
            // Positions descending: run[i - 1] still holds the previous document token's value.
            for &(t, i) in &lookup[first..] {
                if t != token {
                    break;
                }
                let i = i as usize;
                let previous = if i > 0 && stamp[i - 1] == j as u32 {
                    run[i - 1]
                } else {
                    0
                };
                let length = previous + 1;
                run[i] = length;
                stamp[i] = j as u32 + 1;
                longest = longest.max(length);
                if length as usize >= min_span {
                    // An exact match of min_span tokens ends here: a seed (alignment, start).
                    let start = i + 1 - min_span;
                    seeds.push((j as i64 - i as i64, start as u32));
                }
            }
        }
        if (longest as usize) < min_span {
            return longest;
        }
        seeds.sort_unstable();
        let mut alignment = None;
        let mut reached = 0usize;
        for &(offset, start) in seeds.iter() {
            let start = start as usize;
            if alignment == Some(offset) && reached > start {
                continue;
            }
            let mut last = start + min_span; // one past the last matching token
            let mut misses = 0;
            let (mut p, mut q) = (last, (start as i64 + offset) as usize + min_span);
            while p < tokens.len() && q < doc.len() {
                if tokens[p] == doc[q] {
                    last = p + 1;
                } else {
                    misses += 1;
                    if misses > skip_budget {
                        break;
                    }
                }
                p += 1;
                q += 1;
            }
            alignment = Some(offset);
            reached = last;
            spans.push((start as u32, last as u32));
        }
        longest
    }
}

/// The XXH3-64 hash of each token of `text` (its normalized bytes), into `keys`.
fn token_keys(tokenizer: Tokenizer, text: &str, units: &mut Units, keys: &mut Vec<u64>) {
    units.fill_bytes(tokenizer, text);
    let (bytes, gap) = (units.bytes(), units.gap);
    keys.clear();
    keys.extend(
        units
            .starts
            .windows(2)
            .map(|w| xxh3_64(&bytes[w[0]..w[1] - gap])),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    fn compare_one(entry: &str, doc: &str) -> (u32, Vec<(u32, u32)>) {
        let tokens = EntryTokens::new(Tokenizer::Whitespace, &[entry]).unwrap();
        let out = tokens
            .compare(&[Some(doc.as_bytes())], &[0], &[0], 10, 4, 1)
            .unwrap();
        let spans = out
            .span_starts
            .iter()
            .zip(&out.span_ends)
            .map(|(&s, &e)| (s, e))
            .collect();
        (out.longest[0], spans)
    }

    #[test]
    fn llama2_spans_follow_the_skip_budget() {
        let entry: Vec<String> = (0..40).map(|k| format!("w{k}")).collect();
        let joined = entry.join(" ");
        // Four mismatches inside a span: one span, ending on its last match.
        let mut four = entry[..25].to_vec();
        for k in [12, 14, 16, 18] {
            four[k] = "x".into();
        }
        assert_eq!(compare_one(&joined, &four.join(" ")), (12, vec![(0, 25)]));
        // Five mismatches in a row end it; the next exact run of 13 starts another.
        let mut five = entry[..12].to_vec();
        five.extend(words("a b c d e"));
        five.extend_from_slice(&entry[17..30]);
        assert_eq!(
            compare_one(&joined, &five.join(" ")),
            (13, vec![(0, 12), (17, 30)])
        );
        // A trailing mismatch is not part of the span; nine tokens are no span at all.
        let mut trailing = entry[..11].to_vec();
        trailing.push("a".into());
        assert_eq!(
            compare_one(&joined, &trailing.join(" ")),
            (11, vec![(0, 11)])
        );
        assert_eq!(compare_one(&joined, &entry[22..31].join(" ")), (9, vec![]));
    }

    #[test]
    fn bad_arguments_are_refused() {
        let tokens = EntryTokens::new(Tokenizer::Words, &["a b c"]).unwrap();
        let doc = [Some(&b"a b c"[..])];
        assert!(tokens.compare(&doc, &[1], &[0], 10, 4, 1).is_err());
        assert!(tokens.compare(&doc, &[0], &[1], 10, 4, 1).is_err());
        assert!(tokens.compare(&doc, &[0], &[0, 0], 10, 4, 1).is_err());
        assert!(tokens.compare(&doc, &[0], &[0], 0, 4, 1).is_err());
        let bad = [Some(&b"a \xff"[..])];
        assert!(matches!(
            tokens.compare(&bad, &[0], &[0], 10, 4, 1),
            Err(CoreError::InvalidUtf8 { row: 0, byte: 2 })
        ));
        assert_eq!(
            tokens
                .compare(&[None], &[0], &[0], 10, 4, 1)
                .unwrap()
                .longest,
            vec![0]
        );
    }

    /// Brute force: the longest common run, and Llama 2's spans by trying every seed.
    fn reference(entry: &[u8], doc: &[u8], min_span: usize, skip: usize) -> (u32, Vec<(u32, u32)>) {
        let mut longest = 0;
        let mut seeds = Vec::new();
        for i in 0..entry.len() {
            for j in 0..doc.len() {
                let mut k = 0;
                while i + k < entry.len() && j + k < doc.len() && entry[i + k] == doc[j + k] {
                    k += 1;
                }
                longest = longest.max(k);
                if k >= min_span {
                    seeds.push((j as i64 - i as i64, i));
                }
            }
        }
        seeds.sort_unstable();
        let mut spans = Vec::new();
        let mut reached: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for (offset, i) in seeds {
            if reached.get(&offset).is_some_and(|&r| r > i) {
                continue;
            }
            let (mut last, mut misses, mut p) = (i + min_span, 0, i + min_span);
            while p < entry.len() && ((p as i64 + offset) as usize) < doc.len() {
                if entry[p] == doc[(p as i64 + offset) as usize] {
                    last = p + 1;
                } else {
                    misses += 1;
                    if misses > skip {
                        break;
                    }
                }
                p += 1;
            }
            reached.insert(offset, last);
            spans.push((i as u32, last as u32));
        }
        spans.sort_unstable();
        (longest as u32, spans)
    }

    proptest! {
        #[test]
        fn matches_the_brute_force(
            entry in proptest::collection::vec(0u8..3, 0..40),
            doc in proptest::collection::vec(0u8..3, 0..60),
            min_span in 1usize..6,
            skip in 0usize..3,
        ) {
            let text = |t: &[u8]| t.iter().map(|b| format!("t{b}")).collect::<Vec<_>>().join(" ");
            let tokens = EntryTokens::new(Tokenizer::Words, &[&text(&entry)]).unwrap();
            let doc_text = text(&doc);
            let out = tokens.compare(&[Some(doc_text.as_bytes())], &[0], &[0], min_span, skip, 1).unwrap();
            let mut spans: Vec<(u32, u32)> =
                out.span_starts.iter().zip(&out.span_ends).map(|(&s, &e)| (s, e)).collect();
            spans.sort_unstable();
            prop_assert_eq!((out.longest[0], spans), reference(&entry, &doc, min_span, skip));
        }
    }
}
