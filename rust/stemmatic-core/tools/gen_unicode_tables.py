"""Generate `src/text/unicode_tables.rs` from this Python's own Unicode behaviour.

The `words` tokenizer promises to equal ``re.findall(r"\\w+", text.lower())``.
Rust's `char` methods follow a newer Unicode version than CPython 3.11 and a
different definition of whitespace, so instead of approximating we read every
property off CPython itself:

* word characters: ``re.fullmatch(r"\\w", c)`` (what `re` really does);
* whitespace: ``c.isspace()`` (what ``str.split()`` uses);
* lowercase mapping: ``c.lower()`` (full mapping, e.g. U+0130 -> "i\\u0307");
* Case_Ignorable and Cased, which CPython uses for the final-sigma rule of
  ``str.lower()`` but does not expose, are recovered from ``str.lower()``'s own
  behaviour around U+03A3 (see `probe_case_ignorable` and `probe_cased`).

The `auto` tokenizer also cuts the scripts written without spaces between
words into one unit per character: a character is such a unit when it lies in
one of `UNSPACED_BLOCKS` and its general category is a letter, mark or number
(``unicodedata.category(c)[0] in "LMN"``). docs/hashing.md lists the same
blocks; tests/test_tokenizer_scripts.py checks the engine against them.

Run: ``python3 rust/stemmatic-core/tools/gen_unicode_tables.py`` (the output
records the Unicode version it was made from).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

SIGMA = "\u03a3"

# Blocks of the scripts written without spaces between words (inclusive code
# point ranges). Only their letters, marks and numbers become units.
UNSPACED_BLOCKS: list[tuple[int, int, str]] = [
    (0x0E00, 0x0E7F, "Thai"),
    (0x0E80, 0x0EFF, "Lao"),
    (0x0F00, 0x0FFF, "Tibetan"),
    (0x1000, 0x109F, "Myanmar"),
    (0x1780, 0x17FF, "Khmer"),
    (0x1950, 0x197F, "Tai Le"),
    (0x1980, 0x19DF, "New Tai Lue"),
    (0x1A00, 0x1A1F, "Buginese"),
    (0x1A20, 0x1AAF, "Tai Tham"),
    (0x1B00, 0x1B7F, "Balinese"),
    (0x3000, 0x303F, "CJK Symbols and Punctuation (iteration marks, ideographic numbers)"),
    (0x3040, 0x309F, "Hiragana"),
    (0x30A0, 0x30FF, "Katakana"),
    (0x3100, 0x312F, "Bopomofo"),
    (0x3190, 0x319F, "Kanbun"),
    (0x31A0, 0x31BF, "Bopomofo Extended"),
    (0x31F0, 0x31FF, "Katakana Phonetic Extensions"),
    (0x3400, 0x4DBF, "CJK Unified Ideographs Extension A"),
    (0x4E00, 0x9FFF, "CJK Unified Ideographs"),
    (0xA000, 0xA4CF, "Yi Syllables, Yi Radicals"),
    (0xA980, 0xA9DF, "Javanese"),
    (0xA9E0, 0xA9FF, "Myanmar Extended-B"),
    (0xAA60, 0xAA7F, "Myanmar Extended-A"),
    (0xAA80, 0xAADF, "Tai Viet"),
    (0xF900, 0xFAFF, "CJK Compatibility Ideographs"),
    (0xFF66, 0xFF9F, "Halfwidth Katakana"),
    (0x16FE0, 0x16FFF, "Ideographic Symbols and Punctuation"),
    (0x17000, 0x18D7F, "Tangut, Khitan Small Script"),
    (0x1AFF0, 0x1B16F, "Kana Extended-B, Kana Supplement, Kana Extended-A, Small Kana Extension"),
    (0x1B170, 0x1B2FF, "Nushu"),
    (0x20000, 0x3134F, "CJK Unified Ideographs Extensions B-G, CJK Compatibility Ideographs Supplement"),
]


def is_unspaced(ch: str) -> bool:
    cp = ord(ch)
    return any(a <= cp <= b for a, b, _ in UNSPACED_BLOCKS) and unicodedata.category(ch)[0] in "LMN"


OUT = Path(__file__).resolve().parents[1] / "src" / "text" / "unicode_tables.rs"
WORD = re.compile(r"\w")


def codepoints():
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates cannot occur in UTF-8 text
        yield cp


def probe_case_ignorable(ch: str) -> bool:
    # In "AΣ" ch "B" the forward scan from Σ skips ch only if ch is
    # case-ignorable and then meets cased "B" -> σ; a non-ignorable ch stops
    # it -> ς, unless ch is itself cased -> σ, which `_cased_nonignorable`
    # tells apart: in ch "Σ" the backward scan stops at a cased ch -> ς, but
    # skips an ignorable one to the start of the string -> σ.
    return ("A" + SIGMA + ch + "B").lower()[1] == "\u03c3" and not _cased_nonignorable(ch)


def _cased_nonignorable(ch: str) -> bool:
    return (ch + SIGMA).lower()[-1] == "\u03c2"


def ranges(flags):
    out = []
    start = prev = None
    for cp in flags:
        if start is None:
            start = prev = cp
        elif cp == prev + 1:
            prev = cp
        else:
            out.append((start, prev))
            start = prev = cp
    if start is not None:
        out.append((start, prev))
    return out


def main() -> None:
    word, space, ignorable, cased, unspaced = [], [], [], [], []
    lower_single, lower_multi = [], []
    for cp in codepoints():
        ch = chr(cp)
        if WORD.fullmatch(ch):
            word.append(cp)
        if ch.isspace():
            space.append(cp)
        if is_unspaced(ch):
            unspaced.append(cp)
            # Each unit is its own lowercase, so where the units are does
            # not depend on the lowercase mapping.
            assert ch.lower() == ch, cp
        ign = probe_case_ignorable(ch)
        if ign:
            ignorable.append(cp)
        # Cased matters to the final-sigma rule only for non-ignorable chars
        # (the scans skip ignorable ones), so that is all we record.
        elif _cased_nonignorable(ch):
            cased.append(cp)
        if cp == 0x03A3:
            lower_single.append((cp, 0x03C3))  # context-free; final sigma handled in code
            continue
        low = ch.lower()
        if low != ch:
            if len(low) == 1:
                lower_single.append((cp, ord(low)))
            else:
                assert len(low) <= 3, (cp, low)
                lower_multi.append((cp, [ord(c) for c in low]))

    def fmt_ranges(name, rs):
        body = "".join(f"    (0x{a:04X}, 0x{b:04X}),\n" for a, b in rs)
        return f"pub(crate) static {name}: &[(u32, u32)] = &[\n{body}];\n\n"

    text = [
        "// @generated by tools/gen_unicode_tables.py -- do not edit by hand.\n",
        f"// Source: CPython {sys.version.split()[0]}, Unicode {unicodedata.unidata_version}.\n\n",
        "/// Unicode version these tables were read from (CPython's `unicodedata`).\n",
        f'pub const UNICODE_VERSION: &str = "{unicodedata.unidata_version}";\n\n',
        "/// Inclusive ranges of characters matched by Python's `re` `\\w`.\n",
        fmt_ranges("WORD", ranges(word)),
        "/// Inclusive ranges of characters for which Python's `str.isspace()` is true.\n",
        fmt_ranges("SPACE", ranges(space)),
        "/// Characters the `auto` tokenizer makes units of their own: the letters,\n",
        "/// marks and numbers of the blocks of scripts written without spaces.\n",
        fmt_ranges("UNSPACED", ranges(unspaced)),
        "/// Case_Ignorable characters as CPython's `str.lower()` sees them.\n",
        fmt_ranges("CASE_IGNORABLE", ranges(ignorable)),
        "/// Cased characters that are not case-ignorable.\n",
        fmt_ranges("CASED", ranges(cased)),
        "/// One-to-one lowercase mappings (code point, lowercase), sorted.\n",
        "pub(crate) static LOWER_SINGLE: &[(u32, u32)] = &[\n",
        "".join(f"    (0x{a:04X}, 0x{b:04X}),\n" for a, b in lower_single),
        "];\n\n",
        "/// One-to-many lowercase mappings (code point, length, up to 3 code points).\n",
        "pub(crate) static LOWER_MULTI: &[(u32, u8, [u32; 3])] = &[\n",
        "".join(
            f"    (0x{a:04X}, {len(m)}, [{', '.join(f'0x{c:04X}' for c in m + [0] * (3 - len(m)))}]),\n"
            for a, m in lower_multi
        ),
        "];\n",
    ]
    OUT.write_text("".join(text), encoding="utf-8")
    print(f"wrote {OUT}: {len(ranges(word))} word ranges, {len(lower_single)} lower mappings")


if __name__ == "__main__":
    main()
