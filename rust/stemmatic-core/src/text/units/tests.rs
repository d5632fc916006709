//! The one-pass units against the general path, and every kernel the CPU
//! supports against the portable one.

use proptest::prelude::*;

use super::ascii::*;
use super::bounds::*;
use super::fill::*;
use super::hash::*;
use crate::simd::Kernel;
use crate::text::Tokenizer;

/// For each byte: 1 if it can be part of a `words` token.
static WORD_BYTES: [u8; 256] = byte_classes(true);
/// For each byte: 1 if it can be part of a `whitespace` token.
static NON_SPACE_BYTES: [u8; 256] = byte_classes(false);

const fn byte_classes(words: bool) -> [u8; 256] {
    let mut table = [1u8; 256];
    let mut i = 0;
    while i < 128 {
        table[i] = crate::text::is_ascii_token_byte(i as u8, words) as u8;
        i += 1;
    }
    table
}

fn general(tokenizer: Tokenizer, text: &str) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
    let mut units = Units::default();
    units.fill_general(tokenizer, text);
    (units.bytes().to_vec(), units.starts, units.hashes)
}

fn fast(tokenizer: Tokenizer, text: &str) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
    let mut units = Units::default();
    // Dirty buffers must not leak into the next text.
    units.fill(
        tokenizer,
        "SOME earlier text, longer than the next one: İİİ ß",
    );
    units.fill(tokenizer, text);
    let filled = (units.bytes().to_vec(), units.starts.clone(), units.hashes);
    // The bytes-only fill cuts the same units.
    let mut bytes_only = Units::default();
    bytes_only.fill_bytes(tokenizer, "SOME earlier text: İİİ ß, Σ");
    bytes_only.fill_bytes(tokenizer, text);
    assert_eq!(
        (bytes_only.bytes(), &bytes_only.starts),
        (&filled.0[..], &filled.1)
    );
    assert_eq!(bytes_only.gap, units.gap);
    filled
}

#[test]
fn word_masks_match_the_tables() {
    for words in [true, false] {
        let table = if words { &WORD_BYTES } else { &NON_SPACE_BYTES };
        for b in 0..=255u8 {
            for position in 0..8 {
                let mut raw = [b'x'; 8];
                raw[position] = b;
                let (bits, high) = word_token_bits(u64::from_le_bytes(raw), words);
                assert_eq!(high, u64::from(b >> 7) << position);
                let expected: u64 = raw
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| u64::from(table[usize::from(c)]) << k)
                    .sum();
                assert_eq!(bits, expected, "byte {b:#x} at {position}");
            }
        }
    }
}

/// [`fast`] with the classifier of `kernel` (which the CPU supports),
/// whatever the process's own [`simd::kernel`].
fn fast_on(kernel: Kernel, tokenizer: Tokenizer, text: &str) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
    assert!(kernel.is_supported());
    let mut units = Units::default();
    let mut hashes = Vec::new();
    units.fill(tokenizer, "SOME earlier text: İİİ ß");
    let on_unit = |h| hashes.push(h);
    let cut = !tokenizer.is_char_level()
        && match kernel {
            // SAFETY: the CPU supports `kernel` (asserted), which has AVX2.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::Avx512 => unsafe {
                units.fill_token_runs_avx2(text, tokenizer, on_unit)
            },
            // SAFETY: `Swar` needs no CPU feature.
            _ => unsafe { units.fill_token_runs::<Swar>(text, tokenizer, on_unit) },
        };
    if !cut {
        units.fill_general(tokenizer, text);
        hashes.clone_from(&units.hashes);
    }
    (units.bytes().to_vec(), units.starts, hashes)
}

/// Every kernel the CPU supports cuts `text` as the general path does.
fn every_kernel_matches_the_general_path(tokenizer: Tokenizer, text: &str) {
    let expected = general(tokenizer, text);
    for kernel in Kernel::supported() {
        assert_eq!(
            fast_on(kernel, tokenizer, text),
            expected,
            "{kernel} {tokenizer} {text:?}"
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn simd_blocks_match_swar() {
    if !Kernel::Avx2.is_supported() {
        return;
    }
    let mut blocks = Vec::new();
    for b in 0..=255u8 {
        for position in [0, 1, 7, 8, 31, 32, 62, 63] {
            let mut block = [b'x'; 64];
            block[position] = b;
            blocks.push(block);
            let mut block = [b' '; 64];
            block[position] = b;
            blocks.push(block);
        }
    }
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..2000 {
        let mut block = [0u8; 64];
        for byte in &mut block {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            *byte = (state >> 56) as u8;
        }
        blocks.push(block);
    }
    // `Avx512` needs what the token-bounds AVX-512 kernel needs.
    let avx512 = Kernel::Avx512.is_supported() && Kernel::Avx512.token_bounds() == Kernel::Avx512;
    for block in &blocks {
        for words in [true, false] {
            // SAFETY: `Swar` needs no CPU feature.
            let expected = unsafe { Swar::block(block, words) };
            // SAFETY: the CPU has AVX2, checked above.
            let avx2 = unsafe { Avx2::block(block, words) };
            assert_eq!(avx2, expected, "{block:?} {words}");
            if avx512 {
                // SAFETY: the CPU has AVX-512 F, BW and VBMI2, checked above.
                let avx512 = unsafe { Avx512::block(block, words) };
                assert_eq!(avx512, expected, "{block:?} {words}");
            }
        }
    }
}

#[test]
fn token_bounds_at_every_length() {
    // Texts ending in and after a token at every offset of a block,
    // and blocks of 32 tokens (64 transitions, the most one holds).
    for pattern in ["Ab_c9 ", "a ", "a"] {
        let full = pattern.repeat(300);
        for len in 0..=260 {
            let text = &full.as_bytes()[..len];
            let mut runs = Vec::new();
            for_each_run(text, true, |start, end, _| {
                runs.extend([start as u32, end as u32]);
            });
            let (mut bounds, mut non_ascii) = (Vec::new(), Vec::new());
            let count = token_bounds(text, true, &mut bounds, &mut non_ascii);
            assert_eq!(
                &bounds[..count.unwrap_or(0)],
                &runs[..],
                "{pattern:?} {len}"
            );
        }
    }
}

/// The ASCII units packed by [`super::compress`] (where the CPU has
/// AVX-512 VBMI2), into dirty buffers: the general path's bytes and starts,
/// or `None` for a text that is not ASCII.
#[cfg(target_arch = "x86_64")]
fn packed_matches_the_general_path(tokenizer: Tokenizer, text: &str) {
    if tokenizer.is_char_level() || Kernel::Avx512.token_bounds() != Kernel::Avx512 {
        return;
    }
    let (mut buffer, mut starts) = (vec![b'#'; 5], vec![9; 700]);
    // SAFETY: the CPU has AVX-512 F, BW and VBMI2 (checked above), and AVX2.
    let written = unsafe {
        super::compress::normalize_ascii_avx512(
            text.as_bytes(),
            tokenizer.ascii_words(),
            &mut buffer,
            &mut starts,
        )
    };
    if !text.is_ascii() {
        assert_eq!(written, None, "{text:?}");
        return;
    }
    let written = written.unwrap();
    let (bytes, general_starts, _) = general(tokenizer, text);
    assert_eq!(
        &buffer[..written.saturating_sub(1)],
        &bytes[..],
        "{tokenizer} {text:?}"
    );
    assert_eq!(starts, general_starts, "{tokenizer} {text:?}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn packed_units_at_every_length() {
    // Texts ending in and after a token at every offset of a block, blocks
    // of 32 tokens (the most one packs), runs of separators, long tokens,
    // a non-ASCII byte anywhere.
    for pattern in [
        "Ab_c9 ",
        "a ",
        "a",
        " .",
        "Z\t\u{1F}\u{0}x-",
        "LongTokenOfManyLetters_42 ,, ",
    ] {
        let full = pattern.repeat(120);
        for len in (0..=260).filter(|&len| full.is_char_boundary(len)) {
            for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
                packed_matches_the_general_path(tokenizer, &full[..len]);
            }
        }
    }
    let text = "ab ".repeat(60);
    for at in [0, 1, 63, 64, 65, 127, 179] {
        let mut with_e = text.clone();
        with_e.replace_range(at..=at, "é");
        packed_matches_the_general_path(Tokenizer::Words, &with_e);
    }
}

#[test]
fn examples_match_the_general_path() {
    let long = "Xy_z ".repeat(40);
    for text in [
        "",
        " ",
        "a",
        "Hello, World! foo_bar 42x",
        "İstanbul ΟΔΟΣ. x",
        "café—Straße ñ 𝔘𝔫𝔦 cafe\u{301}x",
        "trailing  ",
        "AVeryLongIdentifierThatSpansSeveralWordsOfEightBytes x",
        "我爱北京天安门。Hello世界 2024年コーヒー ที่นี่ x",
        &long,
    ] {
        for tokenizer in Tokenizer::ALL {
            assert_eq!(
                fast(tokenizer, text),
                general(tokenizer, text),
                "{tokenizer} {text:?}"
            );
            every_kernel_matches_the_general_path(tokenizer, text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn ascii_spans_match_unit_char_spans(text in "[a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]{0,200}") {
        for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            prop_assert!(ascii_unit_spans(tokenizer, &text, &mut fast));
            crate::contamination::unit_char_spans(tokenizer, &text, &mut general);
            prop_assert_eq!(fast, general);
        }
    }

    #[test]
    fn long_ascii_tokens_match_the_general_path(
        text in "([a-zA-Z0-9_]{1,80}[ .,\t\n-]{1,3}){0,12}[a-zA-Z0-9_]{0,70}",
    ) {
        for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
            prop_assert_eq!(fast(tokenizer, &text), general(tokenizer, &text));
            every_kernel_matches_the_general_path(tokenizer, &text);
        }
    }

    #[test]
    fn token_bounds_are_the_runs(
        text in "([a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]|é|\u{3000}){0,300}",
        words in any::<bool>(),
    ) {
        let mut runs = Vec::new();
        for_each_run(text.as_bytes(), words, |start, end, _| {
            runs.extend([start as u32, end as u32]);
        });
        let high: Vec<u32> = (0..text.len() as u32).filter(|&i| text.as_bytes()[i as usize] >= 0x80).collect();
        // Dirty and too short: written over, grown.
        let (mut bounds, mut non_ascii) = (vec![7; 3], vec![7]);
        let count = token_bounds(text.as_bytes(), words, &mut bounds, &mut non_ascii);
        prop_assert_eq!(&bounds[..count.unwrap_or(0)], &runs[..]);
        prop_assert_eq!(&non_ascii, &high);
        // Every kernel the CPU has, whichever the process runs.
        for kernel in Kernel::supported() {
            let (mut kernel_bounds, mut non_ascii) = (vec![7; 3], vec![7]);
            // SAFETY: the CPU supports `kernel`, so its `token_bounds` too.
            let count = unsafe {
                token_bounds_on(kernel.token_bounds(), text.as_bytes(), words, &mut kernel_bounds, &mut non_ascii)
            };
            prop_assert_eq!(&kernel_bounds[..count], &runs[..], "{}", kernel);
            prop_assert_eq!(&non_ascii, &high);
        }
    }

    #[test]
    fn raw_ascii_hashes_are_the_lowercase_token_hashes(token in "[ -~]{1,40}", pad in "[ -~]{0,9}") {
        let text = format!("{token}{pad}");
        let lower = token.to_ascii_lowercase();
        prop_assert_eq!(
            ascii_token_hash(text.as_bytes(), 0, token.len()),
            token_hash(lower.as_bytes())
        );
        let mut joined = b"x ".to_vec();
        push_ascii_token(text.as_bytes(), 0, token.len(), &mut joined);
        prop_assert_eq!(joined, format!("x {lower} ").into_bytes());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn packed_units_match_the_general_path(
        text in "([a-zA-Z0-9_ .,\t\n\u{0}\u{1F}\u{7F}-]{0,150}|[a-zA-Z0-9_]{60,70}){0,4}(é)?",
    ) {
        for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
            packed_matches_the_general_path(tokenizer, &text);
        }
    }

    #[test]
    fn one_pass_units_match_the_general_path(
        text in "([a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]|İ|ß|é|\u{301}|σ|Σ|\u{3000}|\u{2014}|𝔘|漢|字|。|ー|ท|\u{e48}|ຄ|က|ក|𠀀){0,150}",
    ) {
        for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
            prop_assert_eq!(fast(tokenizer, &text), general(tokenizer, &text));
            every_kernel_matches_the_general_path(tokenizer, &text);
        }
    }
}
