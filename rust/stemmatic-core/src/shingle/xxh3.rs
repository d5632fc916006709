//! XXH3-64 (Collet, xxHash 0.8) of short inputs with a fixed seed: the
//! shingle hash of the contract, computed inline with the seeded secret
//! words worked out once per document instead of per shingle. The values
//! are exactly `xxhash_rust::xxh3::xxh3_64_with_seed`'s (the tests compare
//! every length to 300 bytes under many seeds); inputs over 128 bytes go
//! to that function.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The first 128 bytes of XXH3's default secret (`XXH3_kSecret`): what
/// inputs of up to 128 bytes read.
const SECRET: [u8; 128] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
];

const PRIME64_1: u64 = 0x9E37_79B1_85EB_CA87;

/// The little-endian word of `bytes` at `at`.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

/// The 128-bit product of `a` and `b`, its halves XORed.
#[inline(always)]
fn mul128_fold64(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// XXH3's final mix of inputs over 8 bytes.
#[inline(always)]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(0x1656_6791_9E37_79F9);
    h ^ (h >> 32)
}

/// XXH3-64 seeded with one seed: the secret's words with the seed added
/// and subtracted, as XXH3's 17–128-byte and 9–16-byte paths use them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeededXxh3 {
    seed: u64,
    /// Pair `k`: `secret[16k..]` plus the seed, `secret[16k + 8..]` minus it.
    keys: [[u64; 2]; 8],
    /// The 9–16-byte path's two flips.
    flips: [u64; 2],
}

impl SeededXxh3 {
    #[inline]
    pub(crate) fn new(seed: u64) -> Self {
        let keys = std::array::from_fn(|k| {
            [
                word(&SECRET, 16 * k).wrapping_add(seed),
                word(&SECRET, 16 * k + 8).wrapping_sub(seed),
            ]
        });
        let flips = [
            (word(&SECRET, 24) ^ word(&SECRET, 32)).wrapping_add(seed),
            (word(&SECRET, 40) ^ word(&SECRET, 48)).wrapping_sub(seed),
        ];
        Self { seed, keys, flips }
    }

    /// XXH3's `mix16B` of `bytes[at..at + 16]` with key pair `k`.
    #[inline(always)]
    fn mix16(&self, bytes: &[u8], at: usize, k: usize) -> u64 {
        mul128_fold64(
            word(bytes, at) ^ self.keys[k][0],
            word(bytes, at + 8) ^ self.keys[k][1],
        )
    }

    /// XXH3-64 of `input` with the seed.
    #[inline(always)]
    pub(crate) fn hash(&self, input: &[u8]) -> u64 {
        let len = input.len();
        if len > 16 && len <= 128 {
            let mut acc = (len as u64).wrapping_mul(PRIME64_1);
            if len > 32 {
                if len > 64 {
                    if len > 96 {
                        acc = acc.wrapping_add(self.mix16(input, 48, 6));
                        acc = acc.wrapping_add(self.mix16(input, len - 64, 7));
                    }
                    acc = acc.wrapping_add(self.mix16(input, 32, 4));
                    acc = acc.wrapping_add(self.mix16(input, len - 48, 5));
                }
                acc = acc.wrapping_add(self.mix16(input, 16, 2));
                acc = acc.wrapping_add(self.mix16(input, len - 32, 3));
            }
            acc = acc.wrapping_add(self.mix16(input, 0, 0));
            acc = acc.wrapping_add(self.mix16(input, len - 16, 1));
            avalanche(acc)
        } else if len > 8 && len <= 16 {
            let lo = word(input, 0) ^ self.flips[0];
            let hi = word(input, len - 8) ^ self.flips[1];
            let acc = (len as u64)
                .wrapping_add(lo.swap_bytes())
                .wrapping_add(hi)
                .wrapping_add(mul128_fold64(lo, hi));
            avalanche(acc)
        } else {
            xxh3_64_with_seed(input, self.seed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_xxh3_at_every_length_and_offset() {
        let bytes: Vec<u8> = (0..400u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for seed in [0, 1, 7, 42, u64::MAX, 0x5851_F42D_4C95_7F2D] {
            let hasher = SeededXxh3::new(seed);
            for len in 0..=300 {
                for start in [0, 1, 15, 16, 17, 40] {
                    let end = start + len;
                    if end > bytes.len() {
                        continue;
                    }
                    let expected = xxh3_64_with_seed(&bytes[start..end], seed);
                    assert_eq!(hasher.hash(&bytes[start..end]), expected, "{seed} {len}");
                }
            }
        }
    }
}
