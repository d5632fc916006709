//! Criterion micro-benchmarks of the engine kernels (run: `make bench-rust`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stemmatic_core::minhash::{MinHasher, OnInvalid};
use stemmatic_core::shingle::ShingleSpec;
use stemmatic_core::text::Tokenizer;

/// A deterministic xorshift stream for pseudo-text.
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

fn corpus() -> Vec<String> {
    // Deterministic pseudo-text: 2,000 documents of 50..1,000 words.
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    (0..2000)
        .map(|_| {
            let len = 50 + (next() % 950) as usize;
            (0..len)
                .map(|_| format!("w{}", next() % 20_000))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// 20,000 short documents of about 400 bytes (docstring-like: 40–90 words,
/// capitals and punctuation): where per-document costs and per-shingle
/// hashing, not long-text throughput, decide the speed.
fn short_corpus() -> Vec<String> {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    (0..20_000)
        .map(|_| {
            let len = 40 + (next() % 50) as usize;
            (0..len)
                .map(|i| {
                    let word = format!("w{}", next() % 5_000);
                    match next() % 8 {
                        0 if i > 0 => format!("{word}."),
                        1 => word.to_uppercase(),
                        2 => format!("`{word}`,"),
                        _ => word,
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn bench_short_documents(c: &mut Criterion) {
    let docs = short_corpus();
    let bytes: usize = docs.iter().map(String::len).sum();
    let rows: Vec<Option<&[u8]>> = docs.iter().map(|d| Some(d.as_bytes())).collect();
    let mut group = c.benchmark_group("short_documents");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    let hasher =
        MinHasher::<u32>::new(ShingleSpec::new(Tokenizer::Auto, 5, 1).unwrap(), 128).unwrap();
    for workers in [1, 2] {
        group.bench_function(format!("minhash128_auto5_{workers}thread"), |b| {
            b.iter(|| hasher.batch(&rows, OnInvalid::Raise, workers).unwrap());
        });
    }
    group.finish();
}

fn bench_kernels(c: &mut Criterion) {
    let docs = corpus();
    let bytes: usize = docs.iter().map(String::len).sum();
    let rows: Vec<Option<&[u8]>> = docs.iter().map(|d| Some(d.as_bytes())).collect();
    let mut group = c.benchmark_group("kernels");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("tokenize_words", |b| {
        let mut buf = String::new();
        b.iter(|| {
            docs.iter()
                .map(|d| {
                    Tokenizer::Words.normalize_into(d, &mut buf);
                    buf.len()
                })
                .sum::<usize>()
        });
    });
    let hasher =
        MinHasher::<u32>::new(ShingleSpec::new(Tokenizer::Words, 5, 1).unwrap(), 128).unwrap();
    group.bench_function("minhash128_words5_1thread", |b| {
        b.iter(|| hasher.batch(&rows, OnInvalid::Raise, 1).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench_kernels, bench_short_documents);
criterion_main!(benches);
