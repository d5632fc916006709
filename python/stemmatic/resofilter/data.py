"""Prompt/response samples for ResoFilter: reading, formatting, tokenizing, masking.

A sample is a prompt and a response. The loss of the scoring step counts the
response tokens only (the prompt tokens are masked, as in supervised
fine-tuning), so a sample is encoded as ``prompt_ids + response_ids (+ eos)``
with the index where the response starts. Over-long samples are truncated
from the end, as the reference implementation does, and counted; a sample
left with no response token (an empty response, or one truncated away) is
flagged and gets no score instead of a NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from stemmatic.exceptions import InvalidInputError, ParameterError

if TYPE_CHECKING:
    from stemmatic.io import InputFile, Rejected

__all__ = [
    "EncodedSample",
    "Example",
    "Fields",
    "PromptFormat",
    "Tokenizer",
    "dedup_prompts",
    "encode_examples",
    "examples_of",
    "read_examples",
]

#: Status of a sample that was scored.
OK = "ok"
#: The response is empty (or only whitespace): nothing to learn from it.
EMPTY_RESPONSE = "empty_response"
#: Truncation to ``max_length`` removed every response token.
NO_LOSS_TOKENS = "no_loss_tokens"
#: An earlier sample has the exact same prompt (removed before scoring).
DUPLICATE_PROMPT = "duplicate_prompt"
#: The loss or the feature of the sample was NaN or infinite.
NONFINITE = "nonfinite"


@dataclass(frozen=True)
class Fields:
    """Which input fields hold the sample.

    Either ``prompt`` and ``response`` (two string fields), or ``messages``: a
    list of ``{"role": ..., "content": ...}`` whose last message is the
    response (it must have role ``assistant``) and the messages before it the
    prompt. ``id`` names an optional identifier field (default: the row number).
    """

    prompt: str = "prompt"
    response: str = "response"
    messages: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Example:
    """One input sample: where it came from, its id, prompt text and response text."""

    row: int
    id: str
    prompt: str
    response: str
    #: ``messages`` before the response, for chat templates (None for plain fields).
    messages: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class EncodedSample:
    """Token ids of one sample and where its response starts."""

    input_ids: tuple[int, ...]
    response_start: int
    truncated: bool
    #: None when the sample can be scored, else why not (``empty_response``, ``no_loss_tokens``).
    flag: str | None = None

    @property
    def num_loss_tokens(self) -> int:
        """Number of tokens whose prediction the loss counts (response tokens)."""
        return max(0, len(self.input_ids) - max(self.response_start, 1))


class TokenizeFn(Protocol):
    def __call__(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class Tokenizer:
    """A tokenize function with the special ids the encoder needs.

    ``encode`` must not add special tokens itself; ``bos_id`` (when not None)
    is put before the prompt and ``eos_id`` after the response.

    >>> from stemmatic.resofilter.tiny import ByteTokenizer
    >>> tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    >>> tok.encode("ab"), tok.bos_id, tok.eos_id, tok.pad_id
    ([97, 98], 256, 257, 258)
    """

    encode: Callable[[str], list[int]]
    bos_id: int | None = None
    eos_id: int | None = None
    pad_id: int = 0
    #: Renders chat messages (``apply_chat_template`` of a HF tokenizer), if any.
    chat_template: Callable[[list[dict[str, str]], bool], str] | None = None

    @classmethod
    def from_byte_tokenizer(cls, tokenizer: Any) -> Tokenizer:
        """Wrap :class:`stemmatic.resofilter.tiny.ByteTokenizer`."""
        return cls(tokenizer.encode, tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id)

    @classmethod
    def from_hf(cls, tokenizer: Any) -> Tokenizer:
        """Wrap a Hugging Face tokenizer (its chat template is used when it has one)."""

        def encode(text: str) -> list[int]:
            return list(tokenizer.encode(text, add_special_tokens=False))

        chat = None
        if getattr(tokenizer, "chat_template", None):

            def chat(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
                return str(
                    tokenizer.apply_chat_template(
                        messages, tokenize=False, add_generation_prompt=add_generation_prompt
                    )
                )

        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        return cls(encode, tokenizer.bos_token_id, tokenizer.eos_token_id, int(pad), chat)


@dataclass(frozen=True)
class PromptFormat:
    """How a prompt and a response become text.

    ``prompt_template`` and ``response_template`` are ``str.format`` templates
    with ``{prompt}`` and ``{response}``. With ``use_chat_template`` the
    tokenizer's chat template renders the messages instead (a plain prompt
    becomes one user message); the response is the text the template adds
    after the generation prompt.

    >>> PromptFormat("Q: {prompt}\\nA: ").render_prompt("2+2?")
    'Q: 2+2?\\nA: '
    """

    prompt_template: str = "{prompt}\n"
    response_template: str = "{response}"
    use_chat_template: bool = False

    def __post_init__(self) -> None:
        for name, template, key in (
            ("prompt_template", self.prompt_template, "prompt"),
            ("response_template", self.response_template, "response"),
        ):
            try:
                template.format(**{key: ""})
            except (KeyError, IndexError, ValueError) as err:
                raise ParameterError(
                    f"{name}={template!r} is not a format string with only {{{key}}}: {err}"
                ) from err

    def render_prompt(self, prompt: str) -> str:
        """The prompt text as the model sees it."""
        return self.prompt_template.format(prompt=prompt)

    def render_response(self, response: str) -> str:
        """The response text as the model sees it."""
        return self.response_template.format(response=response)


def _cell_text(value: Any, where: str, field: str) -> str:
    if value is None:
        raise InvalidInputError(f"{where}: field {field!r} is null")
    if not isinstance(value, str):
        raise InvalidInputError(f"{where}: field {field!r} is {type(value).__name__}, expected a string")
    return value


def _messages(value: Any, where: str, field: str) -> tuple[tuple[tuple[str, str], ...], str]:
    if not isinstance(value, list) or not value:
        raise InvalidInputError(f"{where}: field {field!r} must be a non-empty list of messages")
    pairs = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise InvalidInputError(f"{where}: {field}[{index}] must have 'role' and 'content'")
        pairs.append(
            (
                _cell_text(message["role"], where, f"{field}[{index}].role"),
                _cell_text(message["content"], where, f"{field}[{index}].content"),
            )
        )
    if pairs[-1][0] != "assistant":
        raise InvalidInputError(
            f"{where}: the last message of {field!r} has role {pairs[-1][0]!r}; expected 'assistant' (the response)"
        )
    return tuple(pairs[:-1]), pairs[-1][1]


def read_examples(inputs: Any, fields: Fields = Fields(), *, on_error: str = "raise") -> list[Example]:
    """Read prompt/response samples from files, directories, globs, URLs or a table-like object.

    ``inputs`` are read through :mod:`stemmatic.io` (Parquet, JSON(L), CSV/TSV,
    Arrow, compressed; ``s3://``, ``memory://``, ...; pyarrow, polars, pandas,
    ``datasets.Dataset``). With ``on_error="skip"`` a malformed line is left
    out (rows are numbered without it).

    Raises:
        InvalidInputError: a field is missing (naming the file), or a value is
            null or not a string (naming the file, row or line, and field).

    >>> import json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sft.jsonl"
    >>> _ = path.write_text(json.dumps({"prompt": "1+1=", "response": "2"}) + "\\n")
    >>> read_examples(path)
    [Example(row=0, id='0', prompt='1+1=', response='2', messages=None)]
    """
    from stemmatic.io import source_files

    with source_files(inputs) as files:
        return examples_of(files, fields, on_error=on_error)


def examples_of(
    files: Sequence[InputFile],
    fields: Fields = Fields(),
    *,
    on_error: str = "raise",
    on_rejected: Callable[[Rejected], None] | None = None,
) -> list[Example]:
    """The samples of input shards already resolved (:func:`stemmatic.io.source_files`).

    ``on_error="skip"`` hands each malformed line to ``on_rejected`` and leaves it out.
    """
    from stemmatic.io import iter_chunks
    from stemmatic.io._sources import check_on_error

    check_on_error(on_error)

    columns = [fields.messages] if fields.messages else [fields.prompt, fields.response]
    if fields.id:
        columns.append(fields.id)
    examples: list[Example] = []
    chunks = iter_chunks(
        files,
        columns=columns,
        on_error=on_error,  # type: ignore[arg-type]
        on_rejected=on_rejected,
        skippable=True,
    )
    for chunk in chunks:
        data = chunk.batch.to_pydict()
        lines = chunk.lines.to_pylist() if chunk.lines is not None else None
        for offset in range(chunk.batch.num_rows):
            row = chunk.global_row + offset
            where = (
                f"{chunk.file.path}:{lines[offset]}"
                if lines is not None
                else f"{chunk.file.path} row {chunk.file_row + offset}"
            )
            if fields.id:
                raw_id = data[fields.id][offset]
                if raw_id is None:
                    raise InvalidInputError(f"{where}: field {fields.id!r} is null")
                sample_id = str(raw_id)
            else:
                sample_id = str(row)
            if fields.messages:
                history, response = _messages(data[fields.messages][offset], where, fields.messages)
                prompt = "\n".join(content for _, content in history)
                examples.append(Example(row, sample_id, prompt, response, history))
            else:
                prompt = _cell_text(data[fields.prompt][offset], where, fields.prompt)
                response = _cell_text(data[fields.response][offset], where, fields.response)
                examples.append(Example(row, sample_id, prompt, response))
    return examples


def dedup_prompts(examples: Sequence[Example]) -> tuple[list[int], dict[int, int]]:
    """Keep the first sample of each exact prompt, as the reference code does before scoring.

    Returns:
        The positions kept, in order, and ``{removed position: position it duplicates}``.

    >>> ex = [Example(i, str(i), p, "r") for i, p in enumerate(["a", "b", "a"])]
    >>> dedup_prompts(ex)
    ([0, 1], {2: 0})
    """
    first: dict[Any, int] = {}
    kept: list[int] = []
    duplicate_of: dict[int, int] = {}
    for position, example in enumerate(examples):
        key = example.messages if example.messages is not None else example.prompt
        if key in first:
            duplicate_of[position] = first[key]
        else:
            first[key] = position
            kept.append(position)
    return kept, duplicate_of


def encode_examples(
    examples: Sequence[Example],
    tokenizer: Tokenizer,
    prompt_format: PromptFormat = PromptFormat(),
    *,
    max_length: int = 768,
) -> list[EncodedSample]:
    """Tokenize samples into ``bos + prompt + response + eos``, truncated to ``max_length``.

    The prompt and the response are tokenized separately (so the boundary is
    exact), and truncation cuts the end, as the reference implementation does.

    >>> from stemmatic.resofilter.tiny import ByteTokenizer
    >>> tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    >>> [s] = encode_examples([Example(0, "0", "1+1=", "2")], tok, PromptFormat("{prompt}"))
    >>> s.input_ids, s.response_start, s.num_loss_tokens
    ((256, 49, 43, 49, 61, 50, 257), 5, 2)
    """
    if max_length < 2:
        raise ParameterError(f"max_length={max_length} must be at least 2")
    if prompt_format.use_chat_template and tokenizer.chat_template is None:
        raise ParameterError("use_chat_template is set but the tokenizer has no chat template")
    encoded = []
    for example in examples:
        if prompt_format.use_chat_template:
            assert tokenizer.chat_template is not None
            history = [
                {"role": role, "content": content}
                for role, content in (example.messages or (("user", example.prompt),))
            ]
            prompt_text = tokenizer.chat_template(history, True)
            full = tokenizer.chat_template(
                [*history, {"role": "assistant", "content": example.response}], False
            )
            if not full.startswith(prompt_text):
                raise ParameterError(
                    "the chat template does not render the prompt as a prefix of the conversation; "
                    "use prompt_template/response_template instead"
                )
            response_text = full[len(prompt_text) :]
            eos: list[int] = []
        else:
            prompt_text = prompt_format.render_prompt(example.prompt)
            response_text = prompt_format.render_response(example.response)
            eos = [tokenizer.eos_id] if tokenizer.eos_id is not None else []
        # A chat template writes its own bos token (as text).
        bos = (
            [tokenizer.bos_id] if tokenizer.bos_id is not None and not prompt_format.use_chat_template else []
        )
        prompt_ids = bos + tokenizer.encode(prompt_text)
        response_ids = tokenizer.encode(response_text) + eos
        ids = prompt_ids + response_ids
        truncated = len(ids) > max_length
        ids = ids[:max_length]
        flag = None
        if not example.response.strip():
            flag = EMPTY_RESPONSE
        elif len(ids) <= max(len(prompt_ids), 1):
            flag = NO_LOSS_TOKENS
        encoded.append(EncodedSample(tuple(ids), len(prompt_ids), truncated, flag))
    return encoded


def padded_batch(samples: Sequence[EncodedSample], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    """Right-padded ids and response masks (1 where the token is predicted and counted).

    ``mask[t]`` refers to the prediction of token ``t`` from the tokens before it.
    """
    width = max(len(s.input_ids) for s in samples)
    ids, masks = [], []
    for sample in samples:
        n = len(sample.input_ids)
        start = max(sample.response_start, 1)
        ids.append([*sample.input_ids, *([pad_id] * (width - n))])
        masks.append([0] * start + [1] * (n - start) + [0] * (width - n))
    return ids, masks
