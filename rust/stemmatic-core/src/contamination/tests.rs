use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::text::units::unit_starts;

fn spec(n: usize) -> ShingleSpec {
    ShingleSpec::new(Tokenizer::Words, n, 7).unwrap()
}

/// An index of `(benchmark, item id, field, text)` rows.
fn index_of(
    spec: ShingleSpec,
    rows: &[(&str, &str, &str, &str)],
    options: &BuildOptions<'_>,
) -> NgramIndex {
    let mut builder = IndexBuilder::new(spec, 1).unwrap();
    let items: Vec<ItemRow<'_>> = rows
        .iter()
        .map(|&(benchmark, item_id, field, text)| ItemRow {
            benchmark: builder.benchmark(benchmark),
            field: builder.field(field),
            item_id,
            text: Some(text.as_bytes()),
        })
        .collect();
    builder.add_items(&items, 1).unwrap();
    builder.finish(options).unwrap()
}

fn scan(index: &NgramIndex, text: &str) -> Vec<DocHit> {
    index.scan_text(text, &ScanOptions::default(), &mut ScanScratch::default())
}

fn slice(text: &str, (start, end): (usize, usize)) -> String {
    text.chars().skip(start).take(end - start).collect()
}

#[test]
fn exact_small_case() {
    let index = index_of(
        spec(3),
        &[
            (
                "quiz",
                "q1",
                "prompt",
                "The quick brown fox jumps over the lazy dog",
            ),
            (
                "quiz",
                "q2",
                "prompt",
                "Completely unrelated words live here",
            ),
        ],
        &BuildOptions::default(),
    );
    assert_eq!(index.num_entries(), 2);
    assert_eq!(index.entry_num_ngrams(), [7, 3]);
    let doc = "Intro. THE quick  brown\nfox jumps! Then: over the lazy dog.";
    let hits = scan(&index, doc);
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.entry, 0);
    // "the quick brown", "quick brown fox", "brown fox jumps", "over the lazy", "the lazy dog".
    assert_eq!(hit.matched_ngrams, 5);
    assert!((hit.coverage - 5.0 / 7.0).abs() < 1e-12);
    let spans: Vec<String> = hit.spans.iter().map(|&s| slice(doc, s)).collect();
    assert_eq!(spans, ["THE quick  brown\nfox jumps", "over the lazy dog"]);
    assert_eq!(index.item_id(0), "q1");
    assert!(scan(&index, "nothing of the sort").is_empty());
}

#[test]
fn short_items_are_matched_whole() {
    let index = index_of(
        spec(5),
        &[
            ("b", "1", "answer", "forty two"),
            ("b", "2", "answer", "x"),
            ("b", "3", "question", "what is six times seven exactly"),
        ],
        &BuildOptions::default(),
    );
    assert_eq!(index.short_lengths, [1, 2]);
    let doc = "The answer is Forty-Two, says x.";
    let hits = scan(&index, doc);
    let found: Vec<(u32, Vec<String>)> = hits
        .iter()
        .map(|h| (h.entry, h.spans.iter().map(|&s| slice(doc, s)).collect()))
        .collect();
    assert_eq!(
        found,
        [(0, vec!["Forty-Two".to_owned()]), (1, vec!["x".to_owned()])]
    );
    assert!(
        hits.iter()
            .all(|h| h.matched_ngrams == 1 && (h.coverage - 1.0).abs() < 1e-12)
    );
    // Split tokens do not match: "forty" and "two" must be consecutive.
    assert!(scan(&index, "forty and two").is_empty());
    // A document shorter than n still finds the longer item's absence and
    // the short item's presence.
    assert_eq!(scan(&index, "forty two").len(), 1);
}

#[test]
fn thresholds_filter_hits() {
    let index = index_of(
        spec(2),
        &[("b", "1", "f", "a b c d e")],
        &BuildOptions::default(),
    );
    let doc = "a b x c d";
    let mut scratch = ScanScratch::default();
    let all = index.scan_text(doc, &ScanOptions::new(1, 0.0).unwrap(), &mut scratch);
    assert_eq!(all[0].matched_ngrams, 2);
    assert!(
        index
            .scan_text(doc, &ScanOptions::new(3, 0.0).unwrap(), &mut scratch)
            .is_empty()
    );
    assert!(
        index
            .scan_text(doc, &ScanOptions::new(1, 0.6).unwrap(), &mut scratch)
            .is_empty()
    );
    assert_eq!(
        index
            .scan_text(doc, &ScanOptions::new(2, 0.5).unwrap(), &mut scratch)
            .len(),
        1
    );
    assert!(ScanOptions::new(0, 0.0).is_err());
    assert!(ScanOptions::new(1, 1.5).is_err());
}

#[test]
fn frequency_cap_and_allowlist_exclude_ngrams() {
    let rows = [
        ("b", "1", "prompt", "answer with one letter please alpha"),
        ("b", "1", "solution", "answer with one letter please"),
        ("b", "2", "prompt", "answer with one letter please beta"),
        ("c", "1", "prompt", "answer with one letter please gamma"),
    ];
    let plain = index_of(spec(3), &rows, &BuildOptions::default());
    // Item b/1 counts once although two of its fields share the n-grams.
    let capped = index_of(
        spec(3),
        &rows,
        &BuildOptions {
            max_item_frequency: Some(2),
            ..BuildOptions::default()
        },
    );
    assert_eq!(capped.stats().items, 3);
    assert_eq!(capped.stats().excluded_by_frequency, 3);
    assert_eq!(capped.num_ngrams(), plain.num_ngrams() - 3);
    // The solution field had only shared n-grams: it can never match.
    assert_eq!(capped.stats().entries_without_ngrams, 1);
    assert_eq!(capped.entry_num_ngrams(), [1, 0, 1, 1]);
    assert!(scan(&capped, "answer with one letter please").is_empty());
    let allowed = index_of(
        spec(3),
        &rows,
        &BuildOptions {
            allowlist: &["Answer with one letter"],
            ..BuildOptions::default()
        },
    );
    assert_eq!(allowed.stats().excluded_by_allowlist, 2);
    assert_eq!(allowed.stats().excluded_by_frequency, 0);
}

#[test]
fn bytes_round_trip_and_damage_is_an_error() {
    let index = index_of(
        spec(3),
        &[
            ("bench", "id-1", "prompt", "one two three four"),
            ("bench", "id-2", "answer", "five"),
            ("other", "é", "prompt", "six seven eight nine ten"),
        ],
        &BuildOptions {
            metadata: "{\"k\": 1}".to_owned(),
            ..BuildOptions::default()
        },
    );
    let bytes = index.to_bytes();
    let loaded = NgramIndex::from_bytes(&bytes).unwrap();
    assert_eq!(loaded, index);
    assert_eq!(loaded.metadata(), "{\"k\": 1}");
    assert_eq!(
        scan(&loaded, "x one two three"),
        scan(&index, "x one two three")
    );

    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    assert!(matches!(
        NgramIndex::from_bytes(&damaged),
        Err(CoreError::IndexFormat { .. })
    ));
    assert!(matches!(
        NgramIndex::from_bytes(&bytes[..bytes.len() - 3]),
        Err(CoreError::IndexFormat { .. })
    ));
    assert!(matches!(
        NgramIndex::from_bytes(b"PAR1 not an index"),
        Err(CoreError::IndexFormat { .. })
    ));
    let mut future = bytes;
    future[8..12].copy_from_slice(&99u32.to_le_bytes());
    assert_eq!(
        NgramIndex::from_bytes(&future).unwrap_err(),
        CoreError::IndexVersion {
            found: 99,
            expected: FORMAT_VERSION
        }
    );
}

#[test]
fn empty_null_and_short_rows_are_not_indexed() {
    let mut builder = IndexBuilder::new(spec(3), 2).unwrap();
    let (b, f) = (builder.benchmark("b"), builder.field("f"));
    let row = |text: Option<&'static str>| ItemRow {
        benchmark: b,
        field: f,
        item_id: "i",
        text: text.map(str::as_bytes),
    };
    let statuses = builder
        .add_items(
            &[
                row(None),
                row(Some(" ... ")),
                row(Some("one")),
                row(Some("one two")),
            ],
            1,
        )
        .unwrap();
    assert_eq!(
        statuses,
        [
            ItemStatus::Null,
            ItemStatus::Empty,
            ItemStatus::TooShort,
            ItemStatus::Indexed
        ]
    );
    let bad = ItemRow {
        text: Some(b"ok \xff".as_slice()),
        ..row(None)
    };
    assert_eq!(
        builder.add_items(&[row(None), bad], 1).unwrap_err(),
        CoreError::InvalidUtf8 { row: 1, byte: 3 }
    );
    let index = builder.finish(&BuildOptions::default()).unwrap();
    assert_eq!(index.num_entries(), 1);
    assert!(IndexBuilder::new(spec(3), 0).is_err());
}

#[test]
fn batch_scan_is_independent_of_workers_and_names_bad_rows() {
    let items: Vec<String> = (0..50)
        .map(|i| format!("item {i} alpha beta gamma delta {i}"))
        .collect();
    let rows: Vec<(&str, String, &str, &str)> = items
        .iter()
        .enumerate()
        .map(|(i, t)| ("b", i.to_string(), "f", t.as_str()))
        .collect();
    let rows: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|(b, i, f, t)| (*b, i.as_str(), *f, *t))
        .collect();
    let index = index_of(spec(4), &rows, &BuildOptions::default());
    let mut docs: Vec<String> = (0..400)
        .map(|i| {
            format!(
                "doc {i} {} filler {}",
                items[i % 50],
                "word ".repeat(i % 300)
            )
        })
        .collect();
    // Non-ASCII documents, and one over the size whose buffers the threads
    // keep, among the others.
    docs[3] = format!("Ünïcode — {} — ünïcode", items[3].to_uppercase());
    docs[100] = format!("{}{} {}", "word ".repeat(300_000), items[10], items[11]);
    let mut input: Vec<Option<&[u8]>> = docs.iter().map(|d| Some(d.as_bytes())).collect();
    input[7] = None;
    let options = ScanOptions::default();
    let one = index.scan_batch(&input, &options, 1).unwrap();
    let two = index.scan_batch(&input, &options, 2).unwrap();
    assert_eq!(one, two);
    assert_eq!(one.null_rows, 1);
    assert_eq!(one.span_offsets.len(), one.rows.len() + 1);
    assert!(one.rows.windows(2).all(|w| w[0] <= w[1]));
    // Each row's hits are those of scanning it alone with fresh buffers.
    let alone: Vec<(u64, u32, u32)> = docs
        .iter()
        .enumerate()
        .filter(|&(row, _)| row != 7)
        .flat_map(|(row, doc)| {
            scan(&index, doc)
                .into_iter()
                .map(move |hit| (row as u64, hit.entry, hit.matched_ngrams))
        })
        .collect();
    let batched: Vec<(u64, u32, u32)> = (0..two.rows.len())
        .map(|i| (two.rows[i], two.entries[i], two.matched_ngrams[i]))
        .collect();
    assert_eq!(batched, alone);
    assert!(batched.iter().any(|&(row, _, _)| row == 3));
    // Every item shares "alpha beta gamma delta" with the long document.
    assert_eq!(
        batched.iter().filter(|&&(row, _, _)| row == 100).count(),
        50
    );
    input[9] = Some(b"bad \xff".as_slice());
    assert_eq!(
        index.scan_batch(&input, &options, 2).unwrap_err(),
        CoreError::InvalidUtf8 { row: 9, byte: 4 }
    );
}

#[test]
fn unit_spans_follow_lowercase_expansions() {
    let mut spans = Vec::new();
    // İ lowercases to "i" + U+0307; the token "i" comes from İ (char 0).
    unit_char_spans(Tokenizer::Words, "İstanbul ΟΔΟΣ", &mut spans);
    assert_eq!(spans, [(0, 1), (1, 8), (9, 13)]);
    unit_char_spans(Tokenizer::Whitespace, "  a-b \t C ", &mut spans);
    assert_eq!(spans, [(2, 5), (8, 9)]);
    unit_char_spans(Tokenizer::Chars, "ab \n c", &mut spans);
    assert_eq!(spans, [(0, 1), (1, 2), (2, 5), (5, 6)]);
    // `auto`: each ideograph is a unit of one character.
    unit_char_spans(Tokenizer::Auto, "İx北京ab。", &mut spans);
    assert_eq!(spans, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 6)]);
}

#[test]
fn chars_and_whitespace_tokenizers_scan_too() {
    for tokenizer in [Tokenizer::Whitespace, Tokenizer::Chars] {
        let spec = ShingleSpec::new(tokenizer, 4, 1).unwrap();
        let index = index_of(
            spec,
            &[("b", "1", "f", "hello-world foo bar")],
            &BuildOptions::default(),
        );
        let doc = "say HELLO-WORLD  foo bar now";
        let hits = scan(&index, doc);
        assert_eq!(hits.len(), 1, "{tokenizer}");
        assert!((hits[0].coverage - 1.0).abs() < 1e-12, "{tokenizer}");
        assert_eq!(
            slice(doc, hits[0].spans[0]),
            "HELLO-WORLD  foo bar",
            "{tokenizer}"
        );
    }
}

/// The tokenizers an index takes (every one but `auto-document`).
const SPAN_TOKENIZERS: [Tokenizer; 5] = [
    Tokenizer::Words,
    Tokenizer::Whitespace,
    Tokenizer::Chars,
    Tokenizer::Auto,
    Tokenizer::AutoSpan,
];

#[test]
fn spans_keep_per_script_units() {
    // `auto` indexes and scans as `auto-span`: an English item quoted in a
    // mostly Chinese page is found, though the page as a whole document
    // would be cut into characters.
    let item = "def has_close_elements(numbers, threshold): return any";
    let doc = format!("这道题的要求如下：{item}。我们的解法是两重循环。");
    assert!(Tokenizer::Auto.in_characters(&doc));
    for tokenizer in [Tokenizer::Auto, Tokenizer::AutoSpan] {
        let spec = ShingleSpec::new(tokenizer, 5, 1).unwrap();
        let index = index_of(spec, &[("b", "i", "f", item)], &BuildOptions::default());
        let hits = scan(&index, &doc);
        assert_eq!(hits.len(), 1, "{tokenizer}");
        assert_eq!(slice(&doc, hits[0].spans[0]), item, "{tokenizer}");
        index
            .check_settings(Some(Tokenizer::AutoSpan), None)
            .unwrap();
        index.check_settings(Some(Tokenizer::Auto), None).unwrap();
        assert!(
            index
                .check_settings(Some(Tokenizer::AutoDocument), None)
                .is_err()
        );
        assert!(index.check_settings(Some(Tokenizer::Words), None).is_err());
    }
    let spec = ShingleSpec::new(Tokenizer::AutoDocument, 5, 1).unwrap();
    assert!(IndexBuilder::new(spec, 1).is_err());
    assert!(EntryTokens::new(Tokenizer::AutoDocument, &[item]).is_err());
}

/// The plain reference: n-grams as strings, distinct matches per entry.
fn reference(spec: ShingleSpec, items: &[String], doc: &str) -> BTreeMap<u32, u32> {
    let grams = |text: &str| -> BTreeSet<String> {
        let tokens = spec.tokenizer.for_spans().tokenize(text);
        if tokens.is_empty() {
            return BTreeSet::new();
        }
        if tokens.len() < spec.ngram {
            return BTreeSet::from([tokens.join(" ")]);
        }
        tokens.windows(spec.ngram).map(|w| w.join(" ")).collect()
    };
    let doc_tokens = spec.tokenizer.for_spans().tokenize(doc);
    let mut doc_grams = BTreeSet::new();
    for len in 1..=spec.ngram {
        for w in doc_tokens.windows(len) {
            doc_grams.insert(w.join(" "));
        }
    }
    let mut out = BTreeMap::new();
    for (entry, item) in items.iter().enumerate() {
        let item_grams = grams(item);
        let matched = item_grams.intersection(&doc_grams).count() as u32;
        if matched > 0 {
            out.insert(entry as u32, matched);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn scan_agrees_with_a_plain_reference(
        items in proptest::collection::vec(proptest::collection::vec(0u8..6, 1..9), 1..6),
        doc in proptest::collection::vec(0u8..6, 0..40),
        n in 1usize..5,
    ) {
        let words = ["a", "B", "c", "Dd", "e", "ΣΣ"];
        let text = |ws: &[u8]| ws.iter().map(|&w| words[w as usize]).collect::<Vec<_>>().join(" ");
        let item_texts: Vec<String> = items.iter().map(|i| text(i)).collect();
        let rows: Vec<(&str, &str, &str, &str)> = item_texts.iter().map(|t| ("b", "i", "f", t.as_str())).collect();
        let spec = spec(n);
        let index = index_of(spec, &rows, &BuildOptions::default());
        let doc = text(&doc);
        let found: BTreeMap<u32, u32> = scan(&index, &doc).iter().map(|h| (h.entry, h.matched_ngrams)).collect();
        prop_assert_eq!(found, reference(spec, &item_texts, &doc));
    }

    #[test]
    fn unit_spans_slice_back_to_their_tokens(text in "[a-zA-Z0-9 _.,İß\u{300}σ\t\n-]{0,40}") {
        for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace] {
            let mut spans = Vec::new();
            unit_char_spans(tokenizer, &text, &mut spans);
            let tokens = tokenizer.tokenize(&text);
            prop_assert_eq!(spans.len(), tokens.len());
            for (span, token) in spans.iter().zip(&tokens) {
                prop_assert_eq!(&tokenizer.tokenize(&slice(&text, *span)).join(" "), token);
            }
        }
    }
}

#[test]
fn scans_with_other_settings_are_refused() {
    let index = index_of(
        spec(3),
        &[("b", "1", "f", "a b c")],
        &BuildOptions::default(),
    );
    assert!(
        index
            .check_settings(Some(Tokenizer::Words), Some(3))
            .is_ok()
    );
    assert!(index.check_settings(None, None).is_ok());
    assert!(matches!(
        index.check_settings(Some(Tokenizer::Whitespace), None),
        Err(CoreError::IndexMismatch {
            name: "tokenizer",
            ..
        })
    ));
    assert!(matches!(
        index.check_settings(None, Some(13)),
        Err(CoreError::IndexMismatch { name: "ngram", .. })
    ));
}

/// Every window's XXH3 hash looked up, no prefilter: (entry, distinct matched n-grams).
fn scan_without_prefilter(index: &NgramIndex, doc: &str) -> BTreeMap<u32, u32> {
    let spec = index.spec();
    let mut normalized = String::new();
    let mut starts = Vec::new();
    spec.tokenizer
        .for_spans()
        .normalize_into(doc, &mut normalized);
    let gap = unit_starts(&normalized, spec.tokenizer.is_char_level(), &mut starts);
    let units = starts.len() - 1;
    let bytes = normalized.as_bytes();
    let mut lengths: Vec<usize> = index.short_lengths.iter().map(|&l| l as usize).collect();
    lengths.push(spec.ngram);
    let mut found: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for len in lengths {
        for start in 0..(units + 1).saturating_sub(len) {
            let hash =
                xxh3_64_with_seed(&bytes[starts[start]..starts[start + len] - gap], spec.seed);
            for &entry in index.entries_of(hash) {
                found.entry(entry).or_default().insert(hash);
            }
        }
    }
    found
        .into_iter()
        .map(|(e, hashes)| (e, hashes.len() as u32))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// The rolling prefilter only skips work: a scan finds exactly what
    /// looking up every window's hash finds, for every tokenizer, with
    /// short entries, non-ASCII tokens and tokens longer than 8 bytes.
    #[test]
    fn prefilter_never_drops_a_hit(
        items in proptest::collection::vec(proptest::collection::vec(0usize..12, 1..10), 1..6),
        noise in proptest::collection::vec(0usize..12, 0..30),
        planted in proptest::collection::vec(0usize..6, 0..3),
        n in 1usize..6,
        tokenizer in 0usize..SPAN_TOKENIZERS.len(),
    ) {
        let words = [
            "a", "Bb", "ccc-D", "İstanbul", "x_y", "Straße.", "VeryLongIdentifierName",
            "e\u{301}", "ΟΔΟΣ", "42,", "UPPER", "\u{3000}zz", "北京大学", "ที่นี่",
        ];
        let join = |ws: &[usize]| ws.iter().map(|&w| words[w]).collect::<Vec<_>>().join(" ");
        let item_texts: Vec<String> = items.iter().map(|i| join(i)).collect();
        let rows: Vec<(&str, &str, &str, &str)> =
            item_texts.iter().map(|t| ("b", "i", "f", t.as_str())).collect();
        let spec = ShingleSpec::new(SPAN_TOKENIZERS[tokenizer], n, 3).unwrap();
        let index = index_of(spec, &rows, &BuildOptions::default());
        let mut doc = join(&noise);
        for &p in &planted {
            if let Some(text) = item_texts.get(p) {
                doc = format!("{doc}\n{text} {}", join(&noise[..noise.len() / 2]));
            }
        }
        let found: BTreeMap<u32, u32> =
            scan(&index, &doc).iter().map(|h| (h.entry, h.matched_ngrams)).collect();
        prop_assert_eq!(found, scan_without_prefilter(&index, &doc));
        let loaded = NgramIndex::from_bytes(&index.to_bytes()).unwrap();
        prop_assert_eq!(scan(&loaded, &doc), scan(&index, &doc));
    }
}

/// A word, or a run of separators, for the one-pass agreement test: ASCII
/// tokens up to and past 8, 16 and 64 bytes, non-ASCII tokens (with `Σ`,
/// which sends a text down the general path) and separators of both kinds.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "a", "Bb", "the", "x_y", "QUICK", "42", "fox", "jumps", "over", "lazy", "DOG", "éa",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z0-9_]{7,70}",
        1 => prop::sample::select(vec![
            "İstanbul", "Straße", "ΟΔΟΣ", "e\u{301}", "\u{3000}", "—", "café", "σς", "漢字", "カタカナ",
        ])
        .prop_map(str::to_owned),
        3 => prop::sample::select(vec![" ", "  ", "\n", ", ", ".\t", " - ", "\u{1F}", "!"])
            .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// The one-pass scan (windows probed as the tokenizer cuts them) finds
    /// exactly what the two-pass scan (all units, then all windows) finds:
    /// hits, counts and spans, on ASCII and non-ASCII texts, texts shorter
    /// than n, long tokens and runs across 64-byte blocks; ASCII texts also
    /// cut as if they had other characters.
    #[test]
    fn one_pass_scan_matches_the_two_pass_scan(
        items in proptest::collection::vec(proptest::collection::vec(piece(), 1..12), 1..6),
        noise in proptest::collection::vec(piece(), 0..60),
        planted in proptest::collection::vec((0usize..6, 0usize..60), 0..4),
        n in 1usize..8,
        tokenizer in 0usize..SPAN_TOKENIZERS.len(),
        ascii in any::<bool>(),
    ) {
        // Half of the cases all ASCII, the one-pass tokenizer's fastest path.
        let keep = |text: String| if ascii { text.replace(|c: char| !c.is_ascii(), "") } else { text };
        let noise: Vec<String> = noise.into_iter().map(keep).collect();
        let item_texts: Vec<String> = items
            .iter()
            .map(|pieces| keep(pieces.join(" ")))
            .collect();
        let rows: Vec<(&str, &str, &str, &str)> =
            item_texts.iter().map(|t| ("b", "i", "f", t.as_str())).collect();
        let spec = ShingleSpec::new(SPAN_TOKENIZERS[tokenizer], n, 5).unwrap();
        let index = index_of(spec, &rows, &BuildOptions::default());
        let mut pieces = noise.clone();
        for &(item, at) in &planted {
            if let Some(text) = item_texts.get(item) {
                let at = at.min(pieces.len());
                pieces.insert(at, format!(" {text} "));
            }
        }
        let doc = pieces.concat();
        let options = ScanOptions::default();
        let mut scratch = ScanScratch::default();
        // Scratch reused across texts and paths, as in a batch.
        let general = index.scan_text_as(&doc, doc.is_ascii(), &options, &mut scratch, false);
        let fast = index.scan_text_as(&doc, doc.is_ascii(), &options, &mut scratch, true);
        prop_assert_eq!(&fast, &general);
        let fresh = index.scan_text_as(&doc, doc.is_ascii(), &options, &mut ScanScratch::default(), true);
        prop_assert_eq!(&fresh, &general);
        // An ASCII text cut as if it had other characters.
        let tokenizer_path = index.scan_text_as(&doc, false, &options, &mut scratch, true);
        prop_assert_eq!(&tokenizer_path, &general);
        prop_assert_eq!(
            scan_without_prefilter(&index, &doc),
            general.iter().map(|h| (h.entry, h.matched_ngrams)).collect::<BTreeMap<_, _>>()
        );
    }
}
