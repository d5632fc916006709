//! [`RawUnits`]: a document's units for the contamination scan, cut from the
//! raw text by [`token_bounds`] with no normalized copy of it.

#[cfg(doc)]
use super::Units;
use super::ascii::push_ascii_token;
use super::bounds::token_bounds;
use super::fill::{MixedRun, tokens_of};
use super::hash::{ascii_token_hash, token_hash};
use crate::text::Tokenizer;

/// What [`RawUnits::cut`] feeds each unit's [`token_hash`] to, in order: a
/// trait rather than a closure so that the hot call inlines at both of its
/// call sites.
pub(crate) trait UnitSink {
    fn unit(&mut self, hash: u64);
}

/// Marks a [`RawUnits`] position as one in its side buffer.
pub(super) const EXTRA: u32 = 1 << 31;

/// A document's units for scanning, with no normalized copy of the text:
/// unit `p` is `units()[2p..2p + 2]`, the span of an ASCII token in the
/// text (lowercased when read) or, both positions marked with [`EXTRA`],
/// the span of a normalized token in a side buffer (the tokens of runs with
/// other characters). The units, their order and their bytes are exactly
/// those of [`Units::fill`].
#[derive(Debug, Default)]
pub(crate) struct RawUnits {
    /// [`token_bounds`] of the text.
    bounds: Vec<u32>,
    non_ascii: Vec<u32>,
    /// For an ASCII text, the units are `bounds[..count]`: `Some(count)`.
    ascii_count: Option<usize>,
    /// Otherwise the units are here.
    mixed: Vec<u32>,
    extra: Vec<u8>,
    normalized: String,
}

impl RawUnits {
    /// Cut `text` for `tokenizer` and give `sink` the [`token_hash`] of
    /// each unit in order; `ascii` says that the text is ASCII. False,
    /// before anything reaches `sink`, when the text needs [`Units::fill`]:
    /// `chars`, a text with `Σ` (see [`crate::text::units`]), or one of 2 GiB.
    #[inline]
    pub(crate) fn cut(
        &mut self,
        tokenizer: Tokenizer,
        text: &str,
        ascii: bool,
        sink: &mut impl UnitSink,
    ) -> bool {
        let bytes = text.as_bytes();
        if tokenizer.is_char_level()
            || (!ascii && memchr::memmem::find(bytes, "\u{03A3}".as_bytes()).is_some())
        {
            return false;
        }
        let words = tokenizer.ascii_words();
        let Some(count) = token_bounds(bytes, words, &mut self.bounds, &mut self.non_ascii) else {
            return false;
        };
        self.ascii_count = ascii.then_some(count);
        if ascii {
            // Hashed off the raw bytes: no copy at all.
            for token in self.bounds[..count].chunks_exact(2) {
                sink.unit(ascii_token_hash(
                    bytes,
                    token[0] as usize,
                    token[1] as usize,
                ));
            }
            return true;
        }
        self.mixed.clear();
        self.extra.clear();
        // Non-ASCII bytes are inside runs and in order: the next one is in
        // this run if it is before the run's end.
        let mut next = 0;
        for run in self.bounds[..count].chunks_exact(2) {
            let (start, end) = (run[0], run[1]);
            let first = next;
            while self.non_ascii.get(next).is_some_and(|&at| at < end) {
                next += 1;
            }
            if next > first {
                let run = MixedRun {
                    text,
                    start: start as usize,
                    end: end as usize,
                    tokenizer,
                };
                for token in tokens_of(run.normalize(&mut self.normalized)) {
                    let at = self.extra.len() as u32;
                    self.extra.extend_from_slice(token);
                    self.mixed
                        .extend([EXTRA | at, EXTRA | (at + token.len() as u32)]);
                    sink.unit(token_hash(token));
                }
            } else {
                self.mixed.extend([start, end]);
                sink.unit(ascii_token_hash(bytes, start as usize, end as usize));
            }
        }
        true
    }

    /// The unit spans, two positions per unit.
    pub(crate) fn units(&self) -> &[u32] {
        match self.ascii_count {
            Some(count) => &self.bounds[..count],
            None => &self.mixed,
        }
    }

    /// Append the normalized bytes of unit `unit` of `text` and a space to `out`.
    #[inline]
    pub(crate) fn push_unit(&self, text: &[u8], unit: usize, out: &mut Vec<u8>) {
        let units = self.units();
        let (start, end) = (units[2 * unit], units[2 * unit + 1]);
        if start & EXTRA == 0 {
            push_ascii_token(text, start as usize, end as usize, out);
        } else {
            out.extend_from_slice(&self.extra[(start & !EXTRA) as usize..(end & !EXTRA) as usize]);
            out.push(b' ');
        }
    }

    /// The normalized byte length of unit `unit`.
    #[inline]
    pub(crate) fn unit_len(&self, unit: usize) -> usize {
        let units = self.units();
        (units[2 * unit + 1] - units[2 * unit]) as usize
    }

    /// For an ASCII text, the character span of each unit into `out`
    /// (as [`crate::contamination::unit_char_spans`] gives it); false for
    /// another text.
    pub(crate) fn ascii_spans(&self, out: &mut Vec<(usize, usize)>) -> bool {
        if self.ascii_count.is_none() {
            return false;
        }
        out.clear();
        out.extend(
            self.units()
                .chunks_exact(2)
                .map(|unit| (unit[0] as usize, unit[1] as usize)),
        );
        true
    }
}
