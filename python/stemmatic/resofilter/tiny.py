"""A tiny causal transformer and a byte-level tokenizer, built in code.

They exist so that ResoFilter can be tested and benchmarked end to end with
nothing downloaded: :class:`ByteTokenizer` maps text to its UTF-8 bytes (plus
three special ids), and :func:`tiny_transformer` builds a small pre-norm
transformer whose blocks name their MLP projections like Llama does
(``layers.{i}.mlp.gate_proj`` / ``up_proj`` / ``down_proj``), so the default
layer pattern of the scorer (``mlp.up_proj``) finds them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stemmatic._extras import require

__all__ = ["ByteTokenizer", "save_tiny_hf_model", "tiny_transformer"]


class ByteTokenizer:
    """UTF-8 bytes as token ids 0-255, then ``bos`` (256), ``eos`` (257), ``pad`` (258).

    >>> tok = ByteTokenizer()
    >>> tok.encode("hé")
    [104, 195, 169]
    >>> tok.decode([104, 195, 169, tok.eos_id])
    'hé'
    """

    bos_id: int = 256
    eos_id: int = 257
    pad_id: int = 258
    vocab_size: int = 259

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: its UTF-8 bytes."""
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``; special ids are skipped, invalid UTF-8 is replaced."""
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


def tiny_transformer(
    vocab_size: int = ByteTokenizer.vocab_size,
    *,
    d_model: int = 64,
    n_layers: int = 3,
    n_heads: int = 4,
    d_ff: int = 128,
    max_len: int = 256,
    seed: int = 0,
) -> Any:
    """Build a randomly initialised causal LM ``module(input_ids) -> logits``.

    Pre-norm blocks (RMSNorm, causal multi-head attention, SwiGLU MLP with
    ``gate_proj``/``up_proj``/``down_proj``), learned positions, untied output
    head. Initialisation is seeded, so the same arguments give the same weights.

    Args:
        vocab_size: number of token ids.
        d_model: width of the residual stream.
        n_layers: number of transformer blocks.
        n_heads: attention heads per block (must divide ``d_model``).
        d_ff: hidden width of the MLP.
        max_len: longest sequence the position table covers.
        seed: seed of the initialisation.

    Returns:
        A ``torch.nn.Module``; ``module(input_ids)`` returns logits of shape
        ``(batch, length, vocab_size)``.

    >>> import torch
    >>> model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=32)
    >>> model(torch.tensor([[1, 2, 3]])).shape
    torch.Size([1, 3, 259])
    >>> [name for name, _ in model.named_modules() if name.endswith("up_proj")]
    ['layers.0.mlp.up_proj', 'layers.1.mlp.up_proj']
    """
    torch = require("torch", "the tiny transformer")
    nn: Any = torch.nn  # imported lazily: the classes below subclass it at run time
    functional = torch.nn.functional
    if d_model % n_heads:
        from stemmatic.exceptions import ParameterError

        raise ParameterError(f"n_heads={n_heads} must divide d_model={d_model}")

    class Mlp(nn.Module):  # type: ignore[misc]  # nn is torch.nn, imported lazily (Any)
        def __init__(self) -> None:
            super().__init__()
            self.gate_proj = nn.Linear(d_model, d_ff, bias=False)
            self.up_proj = nn.Linear(d_model, d_ff, bias=False)
            self.down_proj = nn.Linear(d_ff, d_model, bias=False)

        def forward(self, hidden: Any) -> Any:
            return self.down_proj(functional.silu(self.gate_proj(hidden)) * self.up_proj(hidden))

    class Attention(nn.Module):  # type: ignore[misc]  # nn is torch.nn, imported lazily (Any)
        def __init__(self) -> None:
            super().__init__()
            self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
            self.o_proj = nn.Linear(d_model, d_model, bias=False)

        def forward(self, hidden: Any) -> Any:
            batch, length, _ = hidden.shape
            q, k, v = self.qkv_proj(hidden).view(batch, length, 3, n_heads, -1).permute(2, 0, 3, 1, 4)
            out = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.o_proj(out.transpose(1, 2).reshape(batch, length, d_model))

    class Block(nn.Module):  # type: ignore[misc]  # nn is torch.nn, imported lazily (Any)
        def __init__(self) -> None:
            super().__init__()
            self.attn_norm = nn.RMSNorm(d_model)
            self.attn = Attention()
            self.mlp_norm = nn.RMSNorm(d_model)
            self.mlp = Mlp()

        def forward(self, hidden: Any) -> Any:
            hidden = hidden + self.attn(self.attn_norm(hidden))
            return hidden + self.mlp(self.mlp_norm(hidden))

    class TinyTransformer(nn.Module):  # type: ignore[misc]  # nn is torch.nn, imported lazily (Any)
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab_size, d_model)
            self.positions = nn.Embedding(max_len, d_model)
            self.layers = nn.ModuleList(Block() for _ in range(n_layers))
            self.norm = nn.RMSNorm(d_model)
            self.lm_head = nn.Linear(d_model, vocab_size, bias=False)

        def forward(self, input_ids: Any) -> Any:
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            hidden = self.embed(input_ids) + self.positions(positions)
            for layer in self.layers:
                hidden = layer(hidden)
            return self.lm_head(self.norm(hidden))

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = TinyTransformer()
        for name, param in model.named_parameters():
            if param.dim() == 2:
                nn.init.normal_(param, std=0.02 if "embed" in name or "positions" in name else d_model**-0.5)
    finally:
        torch.random.set_rng_state(generator_state)
    return model


def save_tiny_hf_model(
    path: str | os.PathLike[str],
    *,
    hidden_size: int = 32,
    intermediate_size: int = 64,
    num_layers: int = 4,
    num_heads: int = 4,
    vocab_size: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised tiny Llama and a byte-level tokenizer to ``path``.

    Both are built in code (``transformers.LlamaConfig`` and a
    ``tokenizers`` byte-level model over the 256 bytes, plus ``<s>``,
    ``</s>``, ``<pad>``), for tests and demos of the Hugging Face path
    without downloading anything. ``vocab_size`` can make the model's
    vocabulary larger than the tokenizer's 259 ids (unused rows), to give it
    the shape of a real LLM's embedding and output layer. Load them back with
    :func:`stemmatic.resofilter.scoring.load_hf_model`.

    >>> import tempfile
    >>> out = save_tiny_hf_model(tempfile.mkdtemp(), hidden_size=8, intermediate_size=8, num_layers=2, num_heads=2)
    >>> sorted(p.name for p in out.iterdir())[:2]
    ['config.json', 'generation_config.json']
    """
    torch = require("torch", "the tiny transformer")
    transformers = require("transformers", "the tiny transformer")
    tokenizers = require("tokenizers", "the tiny transformer")
    out = Path(path)
    alphabet = sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    specials = ["<s>", "</s>", "<pad>"]
    for token in specials:
        vocab[token] = len(vocab)
    backend = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = tokenizers.decoders.ByteLevel()
    backend.add_special_tokens(specials)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    if vocab_size is not None and vocab_size < len(vocab):
        from stemmatic.exceptions import ParameterError

        raise ParameterError(f"vocab_size={vocab_size} is below the tokenizer's {len(vocab)} ids")
    config = transformers.LlamaConfig(
        vocab_size=vocab_size or len(vocab),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=512,
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        pad_token_id=vocab["<pad>"],
        tie_word_embeddings=False,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = transformers.LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
