//! [`Units`]: a document's normalized units, each one's start and
//! [`token_hash`], cut in one pass over the runs of token bytes (or, for
//! `chars` and texts with `Σ`, by normalizing the whole text first).

use super::ascii::add_ascii_token;
#[cfg(target_arch = "x86_64")]
use super::bounds::Avx2;
use super::bounds::{Classify, Swar, for_each_run_with};
#[cfg(target_arch = "x86_64")]
use super::compress::normalize_ascii_avx512;
use super::hash::token_hash;
use crate::simd::{self, Kernel};
use crate::text::Tokenizer;

/// Start byte of every unit of a normalized buffer, then a sentinel: unit
/// `p` is `normalized[starts[p]..starts[p + 1] - gap]`, with `gap` 1 for
/// tokens (joined by one space) and 0 for characters.
pub(crate) fn unit_starts(normalized: &str, char_level: bool, starts: &mut Vec<usize>) -> usize {
    starts.clear();
    if normalized.is_empty() {
        starts.push(0);
        return 0;
    }
    if char_level {
        starts.extend(normalized.char_indices().map(|(i, _)| i));
        starts.push(normalized.len());
        0
    } else {
        starts.push(0);
        starts.extend(
            normalized
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b' ')
                .map(|(i, _)| i + 1),
        );
        starts.push(normalized.len() + 1);
        1
    }
}

/// Reusable buffers holding the units of one document.
#[derive(Debug, Default)]
pub(crate) struct Units {
    /// The normalized text, possibly followed by spare bytes.
    buffer: Vec<u8>,
    len: usize,
    /// Start of each unit in the normalized bytes, then a sentinel: unit `p`
    /// is `bytes()[starts[p]..starts[p + 1] - gap]`.
    pub(crate) starts: Vec<usize>,
    /// [`token_hash`] of each unit.
    pub(crate) hashes: Vec<u64>,
    /// 1 for tokens (joined by one space), 0 for characters.
    pub(crate) gap: usize,
    text: String,
}

impl Units {
    /// The normalized text.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buffer[..self.len]
    }

    /// Number of units.
    pub(crate) fn count(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Cut `text` into units.
    pub(crate) fn fill(&mut self, tokenizer: Tokenizer, text: &str) {
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        let fast = self.fill_tokens(tokenizer, text, |hash| hashes.push(hash));
        self.hashes = hashes;
        if !fast {
            self.fill_general(tokenizer, text);
        }
    }

    /// Cut `text` into units for their bytes only ([`Units::bytes`] and
    /// `starts`, not the unit hashes, which are left stale): what shingling
    /// needs. The hash a token would get is never computed (the callback is a
    /// no-op, so the compiler drops it) but on the general path.
    pub(crate) fn fill_bytes(&mut self, tokenizer: Tokenizer, text: &str) {
        if text.is_ascii() && self.fill_ascii(tokenizer, text.as_bytes()) {
            return;
        }
        if !self.fill_tokens(tokenizer, text, |_| {}) {
            self.fill_general(tokenizer, text);
        }
    }

    /// [`Units::fill_bytes`] of `bytes` if they are ASCII (so UTF-8) and the
    /// kernel packs ASCII units ([`compress`](super::compress): AVX-512
    /// with VBMI2, every tokenizer but `chars`); false, with the
    /// buffers in any state, for other bytes or kernels.
    #[inline]
    pub(crate) fn fill_ascii(&mut self, tokenizer: Tokenizer, bytes: &[u8]) -> bool {
        #[cfg(target_arch = "x86_64")]
        if !tokenizer.is_char_level() && simd::kernel().token_bounds() == Kernel::Avx512 {
            // SAFETY: `simd::kernel` is one the CPU supports, and its
            // `token_bounds` is `Avx512` only where the CPU has VBMI2 besides
            // AVX-512 F, BW and AVX2.
            let written = unsafe {
                normalize_ascii_avx512(
                    bytes,
                    tokenizer.ascii_words(),
                    &mut self.buffer,
                    &mut self.starts,
                )
            };
            if let Some(written) = written {
                self.gap = 1;
                self.len = written.saturating_sub(1);
                return true;
            }
        }
        let _ = (tokenizer, bytes);
        false
    }

    /// The one-pass tokenizer for `words` and `whitespace`: fills
    /// [`Units::bytes`] and `starts` as [`Units::fill`] does and calls
    /// `on_unit` with the [`token_hash`] of each unit in order, but leaves
    /// `hashes` alone. False, before any call of `on_unit` and with the
    /// buffers in any state, when the text needs the general path: `chars`,
    /// a text with `Σ`, or one that `auto`'s document rule cuts into
    /// characters ([`Tokenizer::in_characters`]).
    #[inline]
    pub(crate) fn fill_tokens(
        &mut self,
        tokenizer: Tokenizer,
        text: &str,
        on_unit: impl FnMut(u64),
    ) -> bool {
        if tokenizer.is_char_level() {
            return false;
        }
        match simd::kernel() {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::Avx512 => {
                // SAFETY: `simd::kernel` is one the CPU supports, and both of
                // these kernels include AVX2.
                unsafe { self.fill_token_runs_avx2(text, tokenizer, on_unit) }
            }
            // SAFETY: `Swar` needs no CPU feature.
            _ => unsafe { self.fill_token_runs::<Swar>(text, tokenizer, on_unit) },
        }
    }

    /// [`Units::fill_token_runs`] compiled for AVX2, blocks classified by
    /// [`Avx2`].
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fill_token_runs_avx2(
        &mut self,
        text: &str,
        tokenizer: Tokenizer,
        on_unit: impl FnMut(u64),
    ) -> bool {
        // SAFETY: the CPU has AVX2 (this function's contract).
        unsafe { self.fill_token_runs::<Avx2>(text, tokenizer, on_unit) }
    }

    /// Normalize the whole text, then hash each unit.
    pub(crate) fn fill_general(&mut self, tokenizer: Tokenizer, text: &str) {
        tokenizer.normalize_into(text, &mut self.text);
        self.buffer.clear();
        self.buffer.extend_from_slice(self.text.as_bytes());
        self.len = self.buffer.len();
        self.gap = unit_starts(&self.text, tokenizer.is_char_level(), &mut self.starts);
        self.hashes.clear();
        let (bytes, gap) = (&self.buffer, self.gap);
        self.hashes.extend(
            self.starts
                .windows(2)
                .map(|w| token_hash(&bytes[w[0]..w[1] - gap])),
        );
    }

    /// [`Units::fill_tokens`] for `words` and `whitespace`, in one pass over
    /// the runs of token bytes: an ASCII run is copied and hashed as it is
    /// cut, a run with other characters is normalized on its own.
    ///
    /// # Safety
    /// The CPU has the features `C` names.
    #[inline(always)]
    pub(super) unsafe fn fill_token_runs<C: Classify>(
        &mut self,
        text: &str,
        tokenizer: Tokenizer,
        mut on_unit: impl FnMut(u64),
    ) -> bool {
        let bytes = text.as_bytes();
        self.starts.clear();
        self.gap = 1;
        // Spare bytes are overwritten, never read: grow, but do not clear.
        if self.buffer.len() < bytes.len() + 16 {
            self.buffer.resize(bytes.len() + 16, 0);
        }
        let words_tokenizer = tokenizer.ascii_words();
        let (buffer, starts) = (&mut self.buffer, &mut self.starts);
        let mut written = 0;
        if bytes.is_ascii() {
            let each_run = |start, end, _| {
                // Every run is a token.
                starts.push(written);
                let (hash, next) = add_ascii_token(buffer, bytes, start, end, written);
                on_unit(hash);
                written = next;
            };
            // SAFETY: the CPU has `C`'s features (this function's contract).
            unsafe { for_each_run_with::<C>(bytes, words_tokenizer, each_run) };
        } else {
            // `memmem` rather than `str::contains`: the std two-byte search was a
            // fifth of the scan time on non-ASCII documents.
            // A document that `auto`'s document rule cuts into characters
            // takes the general path too.
            if memchr::memmem::find(bytes, "\u{03A3}".as_bytes()).is_some()
                || tokenizer.in_characters(text)
            {
                return false;
            }
            let normalized = &mut self.text;
            let each_run = |start, end, ascii| {
                if ascii {
                    // Each token is preceded by a separator in `bytes` (or is
                    // the first), so `written - start` never grows along ASCII
                    // runs: the buffer, sized by the text or by the last mixed
                    // run, holds them.
                    starts.push(written);
                    let (hash, next) = add_ascii_token(buffer, bytes, start, end, written);
                    on_unit(hash);
                    written = next;
                } else {
                    let run = MixedRun {
                        text,
                        start,
                        end,
                        tokenizer,
                    };
                    written = add_mixed_run(run, buffer, starts, normalized, written, &mut on_unit);
                }
            };
            // SAFETY: the CPU has `C`'s features (this function's contract).
            unsafe { for_each_run_with::<C>(bytes, words_tokenizer, each_run) };
        }
        // `written` counts a space after the last unit: the sentinel of `starts`.
        self.starts.push(written);
        self.len = written.saturating_sub(1);
        true
    }
}

/// A run of token bytes with non-ASCII characters: `text[start..end]`.
#[derive(Clone, Copy)]
pub(super) struct MixedRun<'a> {
    pub(super) text: &'a str,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) tokenizer: Tokenizer,
}

impl MixedRun<'_> {
    /// The run normalized on its own (into `normalized`), its tokens joined
    /// by single spaces. The run starts and ends at ASCII bytes (or the
    /// text's ends), so it is whole characters, the ASCII separators around
    /// it separate in the whole text too, and it has no `Σ` (checked by the
    /// caller).
    pub(super) fn normalize<'n>(&self, normalized: &'n mut String) -> &'n str {
        let piece = self.text.get(self.start..self.end).unwrap_or_default();
        self.tokenizer.normalize_span_into(piece, normalized);
        normalized
    }
}

/// The tokens of a normalized text.
pub(super) fn tokens_of(normalized: &str) -> impl Iterator<Item = &[u8]> {
    normalized
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::as_bytes)
}

/// Append the tokens of a run with non-ASCII characters at `written`; the
/// new end (past the separating space).
#[cold]
pub(super) fn add_mixed_run(
    run: MixedRun<'_>,
    buffer: &mut Vec<u8>,
    starts: &mut Vec<usize>,
    normalized: &mut String,
    mut written: usize,
    on_unit: &mut impl FnMut(u64),
) -> usize {
    let normalized = run.normalize(normalized);
    // Room for the run and, at the invariant of the ASCII runs, the rest of the text.
    let need = written + normalized.len() + 1 + (run.text.len() - run.end) + 16;
    if buffer.len() < need {
        buffer.resize(need, 0);
    }
    for token in tokens_of(normalized) {
        starts.push(written);
        on_unit(token_hash(token));
        buffer[written..written + token.len()].copy_from_slice(token);
        written += token.len();
        buffer[written] = b' ';
        written += 1;
    }
    written
}
