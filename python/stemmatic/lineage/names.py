"""Dataset and model names: parsing, canonical keys, URL forms and an alias table.

A node key has the grammar ``repo[:config][@split][#revision]`` for datasets
(``openai/gsm8k:main@test#e53f048``), ``model:org/name`` for models and
``unresolved:<name>`` for names that matched nothing. The repository part is
*canonicalised* for matching: lower case, and runs of ``_``, ``-`` and spaces
fold to one ``-`` (Hugging Face resolves repository ids case-insensitively).
Config, split and revision are kept exactly as written, and the organisation
is never dropped, so ``org-a/alpaca`` and ``org-b/alpaca`` stay two nodes, and
so do ``squad`` and ``squad_v2``: canonicalisation never merges versions.

>>> DatasetRef.parse("OpenAI/GSM8K:main@test").key
'openai/gsm8k:main@test'
>>> canonical_name("https://huggingface.co/datasets/tatsu-lab/alpaca/tree/main")
'tatsu-lab/alpaca'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from stemmatic.exceptions import InvalidInputError

__all__ = [
    "COLLECTION_PREFIX",
    "MODEL_PREFIX",
    "UNRESOLVED_PREFIX",
    "WELL_KNOWN",
    "AliasTable",
    "DatasetRef",
    "canonical_name",
    "canonical_repo",
    "normalize_key",
    "parse_url",
    "quote_part",
]

MODEL_PREFIX = "model:"
UNRESOLVED_PREFIX = "unresolved:"
COLLECTION_PREFIX = "collection:"
_PREFIXES = (MODEL_PREFIX, UNRESOLVED_PREFIX, COLLECTION_PREFIX)
_FOLD = re.compile(r"[\s_\-]+")
_HF_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<datasets>datasets/)?"
    r"(?P<repo>[^/?#\s]+(?:/[^/?#\s]+)?)(?P<rest>/[^?#\s]*)?",
    re.IGNORECASE,
)
_GITHUB_URL = re.compile(r"^(?:https?://)?(?:www\.)?github\.com/(?P<repo>[^/?#\s]+/[^/?#\s]+)", re.IGNORECASE)
# Free-text names from documentation often end in a generic noun ("ELI5 dataset");
# dropping it is not a version change.
_GENERIC_SUFFIX = re.compile(r"[\s_\-]+(?:dataset|datasets|corpus|data set)$", re.IGNORECASE)
_HF_RESERVED = {"spaces", "docs", "blog", "papers", "collections", "organizations", "models"}


#: Benchmarks and corpora that cards and papers cite by a bare name, with their Hugging Face
#: repositories: the canonical one first, then mirrors. A bare name listed here resolves to the
#: first of its repositories the graph has (an importer adds the first one when the graph has none),
#: and never by the name-part rule (``MATH`` is not ``camel-ai/math``). Keys are canonical names.
WELL_KNOWN: dict[str, tuple[str, ...]] = {
    "gsm8k": ("openai/gsm8k",),
    "math": (
        "hendrycks/competition_math",
        "EleutherAI/hendrycks_math",
        "lighteval/MATH",
        "qwedsacf/competition_math",
        "DigitalLearningGmbH/MATH-lighteval",
    ),
    "competition-math": ("hendrycks/competition_math", "qwedsacf/competition_math"),
    "math-500": ("HuggingFaceH4/MATH-500",),
    "humaneval": ("openai/openai_humaneval",),
    "openai-humaneval": ("openai/openai_humaneval",),
    "mbpp": ("google-research-datasets/mbpp", "Muennighoff/mbpp"),
    "apps": ("codeparrot/apps",),
    "mmlu": ("cais/mmlu",),
    "gpqa": ("Idavidrein/gpqa",),
    "bbh": ("lukaemon/bbh",),
    "hellaswag": ("Rowan/hellaswag",),
    "truthfulqa": ("truthfulqa/truthful_qa",),
    "truthful-qa": ("truthfulqa/truthful_qa",),
    "arc": ("allenai/ai2_arc",),
    "ai2-arc": ("allenai/ai2_arc",),
    "winogrande": ("allenai/winogrande",),
    "piqa": ("ybisk/piqa",),
    "boolq": ("google/boolq",),
    "drop": ("ucinlp/drop",),
    "svamp": ("ChilleD/SVAMP",),
    "aqua-rat": ("deepmind/aqua_rat",),
    "openbookqa": ("allenai/openbookqa",),
    "commonsenseqa": ("tau/commonsense_qa",),
    "commonsense-qa": ("tau/commonsense_qa",),
    "triviaqa": ("mandarjoshi/trivia_qa",),
    "trivia-qa": ("mandarjoshi/trivia_qa",),
    "squad": ("rajpurkar/squad",),
    "squad-v2": ("rajpurkar/squad_v2",),
    "glue": ("nyu-mll/glue",),
    "super-glue": ("aps/super_glue",),
    "c4": ("allenai/c4",),
    "wikitext": ("Salesforce/wikitext",),
    "xsum": ("EdinburghNLP/xsum",),
    "cnn-dailymail": ("abisee/cnn_dailymail",),
}
#: Pseudo-organisations of importers (not Hub organisations): their name parts are not registered.
_PSEUDO_ORGS = ("dpi/",)


def canonical_repo(repo: str) -> str:
    """The matching form of a repository id or free-text name.

    >>> canonical_repo("WizardLM/WizardLM_evol_instruct_V2_196k")
    'wizardlm/wizardlm-evol-instruct-v2-196k'
    """
    text = repo.strip().strip("\"'`").strip()
    text = text.rstrip("/").removesuffix(".git")
    return _FOLD.sub("-", text.lower()).strip("-")


@dataclass(frozen=True)
class ParsedUrl:
    """What a URL names: ``kind`` is ``dataset``, ``model``, ``github`` or ``url``."""

    kind: str
    repo: str
    revision: str | None = None


def parse_url(text: str) -> ParsedUrl | None:
    """Parse a Hugging Face or GitHub URL; ``None`` when ``text`` is not a URL.

    >>> parse_url("huggingface.co/datasets/ai4privacy/pii-masking-43k")
    ParsedUrl(kind='dataset', repo='ai4privacy/pii-masking-43k', revision=None)
    >>> parse_url("https://huggingface.co/meta-llama/Llama-2-7b-hf").kind
    'model'
    """
    text = text.strip()
    match = _HF_URL.match(text)
    if match:
        repo = match.group("repo")
        rest = match.group("rest") or ""
        is_dataset = bool(match.group("datasets"))
        if not is_dataset and repo.split("/")[0].lower() in _HF_RESERVED:
            return ParsedUrl("url", _strip_scheme(text))
        revision = None
        tree = re.match(r"^/(?:tree|blob|resolve)/([^/]+)", rest)
        if tree and tree.group(1) not in {"main"}:
            revision = tree.group(1)
        return ParsedUrl("dataset" if is_dataset else "model", repo, revision)
    match = _GITHUB_URL.match(text)
    if match:
        return ParsedUrl("github", "github.com/" + match.group("repo").removesuffix(".git"))
    if re.match(r"^(?:https?://|www\.)", text, re.IGNORECASE):
        return ParsedUrl("url", _strip_scheme(text))
    return None


def _strip_scheme(url: str) -> str:
    return re.sub(r"^(?:https?://)?(?:www\.)?", "", url, flags=re.IGNORECASE).rstrip("/")


def canonical_name(name: str) -> str:
    """The canonical key of a free-text name, repository id or URL (no alias lookup).

    >>> canonical_name("ELI5 dataset")
    'eli5'
    >>> canonical_name("https://github.com/tatsu-lab/stanford_alpaca")
    'github.com/tatsu-lab/stanford-alpaca'
    >>> canonical_name("https://huggingface.co/mistralai/Mistral-7B-v0.1")
    'model:mistralai/mistral-7b-v0.1'
    """
    parsed = parse_url(name)
    if parsed is not None:
        if parsed.kind == "model":
            return MODEL_PREFIX + canonical_repo(parsed.repo)
        key = canonical_repo(parsed.repo)
        return key + (f"#{parsed.revision}" if parsed.revision else "")
    text = name.strip()
    if "/" not in text:
        text = _GENERIC_SUFFIX.sub("", text)
    if re.search(r"\s", text.strip()):
        # Free text ("Dolly 15k"): never split on ':' / '@' / '#'.
        key = canonical_repo(text)
        if not key:
            raise InvalidInputError(f"name {name!r} is empty")
        return key
    return DatasetRef.parse(text).key


def quote_part(part: str) -> str:
    """Percent-encode the separators (``%:@#``) in a config, split or revision label.

    >>> quote_part("commitpackft-c#")
    'commitpackft-c%23'
    """
    return part.replace("%", "%25").replace(":", "%3A").replace("@", "%40").replace("#", "%23")


def normalize_key(key: str) -> str:
    """The canonical form of a node key, whatever its kind.

    >>> normalize_key("model:Qwen/Qwen2_5-7B"), normalize_key("unresolved:Dolly 15k")
    ('model:qwen/qwen2-5-7b', 'unresolved:dolly-15k')
    """
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            rest = canonical_repo(key[len(prefix) :])
            if not rest:
                raise InvalidInputError(f"node key {key!r} is empty after its prefix")
            return prefix + rest
    return canonical_name(key)


@dataclass(frozen=True)
class DatasetRef:
    """A dataset at ``repo[:config][@split][#revision]`` granularity.

    >>> ref = DatasetRef.parse("allenai/ai2_arc:ARC-Challenge@test")
    >>> ref.repo, ref.config, ref.split, ref.key
    ('allenai/ai2-arc', 'ARC-Challenge', 'test', 'allenai/ai2-arc:ARC-Challenge@test')
    >>> ref.parent.key
    'allenai/ai2-arc:ARC-Challenge'
    """

    repo: str
    config: str | None = None
    split: str | None = None
    revision: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """Parse a key; the repository part is canonicalised, the rest kept as written.

        Raises:
            InvalidInputError: if the text is empty or a part is empty.
        """
        raw = text.strip()
        if not raw:
            raise InvalidInputError("empty dataset name")
        rest, _, revision = raw.partition("#")
        rest, _, split = rest.partition("@")
        repo, _, config = rest.partition(":")
        for label, part, present in (
            ("revision", revision, "#" in raw),
            ("split", split, "@" in raw),
            ("config", config, ":" in rest),
        ):
            if present and not part.strip():
                raise InvalidInputError(f"dataset name {text!r} has an empty {label}")
        repo_key = canonical_repo(repo)
        if not repo_key:
            raise InvalidInputError(f"dataset name {text!r} has an empty repository")
        return cls(repo_key, config.strip() or None, split.strip() or None, revision.strip() or None)

    @property
    def key(self) -> str:
        """The node key."""
        out = self.repo
        if self.config:
            out += f":{self.config}"
        if self.split:
            out += f"@{self.split}"
        if self.revision:
            out += f"#{self.revision}"
        return out

    @property
    def parent(self) -> DatasetRef:
        """The next coarser granularity (revision, then split, then config dropped)."""
        if self.revision:
            return DatasetRef(self.repo, self.config, self.split)
        if self.split:
            return DatasetRef(self.repo, self.config)
        if self.config:
            return DatasetRef(self.repo)
        return self


@dataclass
class AliasTable:
    """Maps alternative spellings to node keys, refusing ambiguous short names.

    :meth:`resolve` tries, in order: the name's declared alias (an alias
    declared for two keys is ambiguous and resolves to nothing); a
    :data:`WELL_KNOWN` benchmark name, to the first of its repositories that is
    registered; then a short name (``alpaca``) to the repository whose name part
    it is (``tatsu-lab/alpaca``), but only when exactly one registered repository
    has that name part; otherwise it stays unresolved and :meth:`candidates`
    lists the choices. Names compare in canonical form, so case, ``_``/``-``/
    spaces and a trailing "dataset" never matter, and organisations never merge
    (``org-a/x`` and ``org-b/x`` both stay, and a bare ``x`` is then ambiguous).

    >>> table = AliasTable()
    >>> table.add("Stanford Alpaca", "tatsu-lab/alpaca")
    >>> table.add_repo("tatsu-lab/alpaca")
    >>> table.resolve("stanford_alpaca"), table.resolve("ALPACA")
    ('tatsu-lab/alpaca', 'tatsu-lab/alpaca')
    """

    _aliases: dict[str, str] = field(default_factory=dict)
    _conflicts: dict[str, set[str]] = field(default_factory=dict)
    _by_name_part: dict[str, set[str]] = field(default_factory=dict)

    def add(self, alias: str, key: str) -> None:
        """Declare ``alias`` a spelling of ``key``; an alias given two keys becomes ambiguous."""
        folded = _alias_fold(alias)
        if not folded:
            return
        previous = self._aliases.get(folded)
        if previous is not None and previous != key:
            self._conflicts.setdefault(folded, {previous}).add(key)
            return
        if folded not in self._conflicts:
            self._aliases[folded] = key

    def add_repo(self, key: str) -> None:
        """Register a repository key so its bare name part can resolve to it."""
        self.add(key, key)
        if key.startswith(_PREFIXES) or key.startswith(("github.com/", *_PSEUDO_ORGS)):
            return
        try:
            repo = DatasetRef.parse(key).repo
        except InvalidInputError:  # a key kept as written ("/", "'/'"): no repository, no name part
            return
        if "/" in repo:
            self._by_name_part.setdefault(repo.rsplit("/", 1)[1], set()).add(key)

    def add_canonical_repos(self, keys: Iterable[str]) -> None:
        """:meth:`add_repo` for keys already canonical, whole ``org/name`` repositories (a fast path)."""
        aliases, conflicts, parts = self._aliases, self._conflicts, self._by_name_part
        for key in keys:
            if "/" not in key or key.startswith(("github.com/", *_PSEUDO_ORGS)):
                continue
            if key not in conflicts:
                aliases.setdefault(key, key)
            parts.setdefault(key.rsplit("/", 1)[1], set()).add(key)

    def update(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Add many ``(alias, key)`` pairs."""
        for alias, key in pairs:
            self.add(alias, key)

    def resolve(self, name: str) -> str | None:
        """The key ``name`` stands for, or ``None`` when unknown or ambiguous."""
        folded = _alias_fold(name)
        if not folded or folded in self._conflicts:
            return None
        if folded in self._aliases:
            return self._aliases[folded]
        if folded in WELL_KNOWN:
            return next(iter(self.well_known(folded)), None)
        choices = self._by_name_part.get(folded, set())
        return next(iter(choices)) if len(choices) == 1 else None

    @staticmethod
    def fold(name: str) -> str:
        """The form names are compared in (:func:`canonical_name`; empty for an unusable name)."""
        return _alias_fold(name)

    def well_known(self, name: str) -> list[str]:
        """The registered repositories of a :data:`WELL_KNOWN` name, in its order (canonical first)."""
        repos = (canonical_repo(repo) for repo in WELL_KNOWN.get(_alias_fold(name), ()))
        return [repo for repo in repos if self._aliases.get(repo) == repo]

    def candidates(self, name: str) -> list[str]:
        """Every key ``name`` could mean: its alias, its conflicting aliases, well-known
        repositories, name-part matches."""
        folded = _alias_fold(name)
        found = set(self._conflicts.get(folded, ()))
        if folded in self._aliases:
            found.add(self._aliases[folded])
        if folded in WELL_KNOWN:
            found.update(self.well_known(folded))
        else:
            found |= self._by_name_part.get(folded, set())
        return sorted(found)

    def redirect(self, moved: dict[str, str]) -> None:
        """Point every alias of a key in ``moved`` at the key it moved to (``{old: new}``)."""
        if not moved:
            return
        for alias, key in self._aliases.items():
            if key in moved:
                self._aliases[alias] = moved[key]
        for alias, keys in self._conflicts.items():
            self._conflicts[alias] = {moved.get(key, key) for key in keys}

    def __len__(self) -> int:
        return len(self._aliases)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (aliases, ambiguous aliases, registered repositories)."""
        return {
            "aliases": {k: v for k, v in sorted(self._aliases.items()) if k not in self._conflicts},
            "ambiguous": {k: sorted(v) for k, v in sorted(self._conflicts.items())},
            "repos": sorted({key for keys in self._by_name_part.values() for key in keys}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AliasTable:
        """Inverse of :meth:`to_dict`.

        >>> t = AliasTable(); t.add_repo("tatsu-lab/alpaca"); t.add("GSM", "a/x"); t.add("GSM", "b/y")
        >>> AliasTable.from_dict(t.to_dict()).to_dict() == t.to_dict()
        True
        """
        table = cls()
        aliases = data.get("aliases") or {}
        ambiguous = data.get("ambiguous") or {}
        repos = data.get("repos") or []
        if not isinstance(aliases, dict) or not isinstance(ambiguous, dict) or not isinstance(repos, list):
            raise InvalidInputError("alias table: 'aliases', 'ambiguous' must be objects and 'repos' a list")
        for position, repo in enumerate(repos):
            if not isinstance(repo, str):
                raise InvalidInputError(f"alias table: field 'repos[{position}]' is not a string")
            table.add_repo(repo)
        for alias, key in aliases.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"alias table: field 'aliases.{alias}' is not a string")
            table._aliases[alias] = key
        for alias, keys in ambiguous.items():
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise InvalidInputError(f"alias table: field 'ambiguous.{alias}' is not a list of strings")
            table._conflicts[alias] = set(keys)
            table._aliases.pop(alias, None)
        return table


def _alias_fold(alias: str) -> str:
    try:
        return canonical_name(alias)
    except InvalidInputError:
        return ""
