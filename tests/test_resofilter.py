"""ResoFilter: fast scores equal the reference loop, bad input, selection, checkpoints, CLI, experiment."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

# CI installs every extra: a missing torch must fail here, not skip.
import torch
from typer.testing import CliRunner

from stemmatic.cli import app
from stemmatic.exceptions import InvalidInputError, ParameterError
from stemmatic.resofilter import (
    Example,
    Fields,
    PromptFormat,
    ScoreConfig,
    Selection,
    Tokenizer,
    auroc,
    dedup_prompts,
    encode_examples,
    less_scores,
    load_hf_model,
    read_examples,
    score_dataset,
    score_samples,
    select_dataset,
    select_lowest,
)
from stemmatic.resofilter.experiment import ExperimentConfig, run_experiment
from stemmatic.resofilter.selection import diversity_filter
from stemmatic.resofilter.tiny import ByteTokenizer, save_tiny_hf_model, tiny_transformer

#: Where the scoring tests run: the CPU (as in CI), or e.g. ``STEMMATIC_TEST_DEVICE=cuda`` on a GPU
#: machine, where the same equalities with the reference loop must hold.
DEVICE = os.environ.get("STEMMATIC_TEST_DEVICE", "cpu")
ON_DEVICE = {"device": DEVICE}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    return save_tiny_hf_model(tmp_path_factory.mktemp("tiny-llama"), seed=3)


@pytest.fixture(scope="module")
def hf(hf_dir):
    model, tokenizer = load_hf_model(hf_dir, device=DEVICE)
    return model, tokenizer, Tokenizer.from_hf(tokenizer)


def _examples(count: int, seed: int = 0) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        prompt = "".join(rng.choice(list("abcdefgh"), size=int(rng.integers(1, 12))))
        response = "".join(rng.choice(list("0123456789 "), size=int(rng.integers(1, 20))))
        out.append(Example(i, str(i), prompt, response))
    return out


def _reference_loop(model, samples, layer_names, *, lr=1e-5, optimizer="adamw"):
    """The reference implementation, literally: a fresh optimizer on every parameter, HF's own
    label-masked loss, the state dict copied before and loaded back after every sample."""
    original = copy.deepcopy(model.state_dict())
    model.eval()
    out = []
    for sample in samples:
        model.load_state_dict(original)
        if optimizer == "adamw":
            opt = torch.optim.AdamW(model.parameters(), lr=lr)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0)
        opt.zero_grad()
        ids = torch.tensor([sample.input_ids], device=next(model.parameters()).device)
        labels = ids.clone()
        labels[0, : sample.response_start] = -100
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        opt.step()
        state = model.state_dict()
        out.append(
            [
                float((original[f"{name}.weight"].float() - state[f"{name}.weight"].float()).abs().mean())
                for name in layer_names
            ]
        )
    model.load_state_dict(original)
    return np.array(out)


# --------------------------------------------------------------------------- equality with the reference


def test_fast_and_faithful_equal_the_reference_loop_on_a_hf_model(hf):
    model, _, tok = hf
    samples = encode_examples(_examples(12), tok)
    before = copy.deepcopy(model.state_dict())
    fast = score_samples(model, samples, ScoreConfig(batch_size=5, **ON_DEVICE), pad_id=tok.pad_id)
    faithful = score_samples(model, samples, ScoreConfig(mode="faithful", **ON_DEVICE), pad_id=tok.pad_id)
    assert fast.layer_names == [
        "model.layers.1.mlp.up_proj",
        "model.layers.2.mlp.up_proj",
        "model.layers.3.mlp.up_proj",
    ]
    reference = _reference_loop(model, samples, fast.layer_names)
    # The faithful mode is the reference computation: same fp32 operations.
    np.testing.assert_allclose(faithful.layer_features, reference, rtol=1e-6)
    # The fast mode computes the update exactly, while the reference's fp32
    # difference w - (w - Δ) carries a rounding error of ~ulp(w)/|Δ| per weight.
    np.testing.assert_allclose(fast.layer_features, reference, rtol=2e-4)
    np.testing.assert_allclose(fast.score, reference.mean(axis=1), rtol=2e-4)
    np.testing.assert_allclose(fast.loss, faithful.loss, rtol=1e-5)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name  # weights restored
    assert all(p.requires_grad for p in model.parameters())


def test_fast_equals_reference_at_a_large_step_where_rounding_is_negligible(hf):
    model, _, tok = hf
    samples = encode_examples(_examples(6, seed=1), tok)
    fast = score_samples(model, samples, ScoreConfig(lr=1e-2, **ON_DEVICE), pad_id=tok.pad_id)
    reference = _reference_loop(model, samples, fast.layer_names, lr=1e-2)
    np.testing.assert_allclose(fast.layer_features, reference, rtol=2e-6)


def test_output_layer_sees_only_the_loss_positions_and_scores_are_unchanged(hf, monkeypatch):
    from stemmatic.resofilter import _scorers

    model, _, tok = hf
    samples = encode_examples(_examples(9, seed=2), tok)
    seen = []
    handle = model.get_output_embeddings().register_forward_hook(
        lambda m, a, o: seen.append(tuple(a[0].shape))
    )
    try:
        gathered = score_samples(model, samples, ScoreConfig(batch_size=4, **ON_DEVICE), pad_id=tok.pad_id)
        # Three batches, each a (1, rows, hidden) input: one row per response token.
        assert len(seen) == 3 and all(shape[0] == 1 for shape in seen)
        rows = sum(shape[1] for shape in seen)
        assert rows == sum(len(s.input_ids) - s.response_start for s in samples)
        seen.clear()
        monkeypatch.setattr(_scorers._LossRows, "of", staticmethod(lambda *args: None))
        full = score_samples(model, samples, ScoreConfig(batch_size=4, **ON_DEVICE), pad_id=tok.pad_id)
        assert len(seen) == 3 and all(shape[0] == 4 or shape[0] == 1 for shape in seen)
    finally:
        handle.remove()
    np.testing.assert_allclose(gathered.layer_features, full.layer_features, rtol=1e-5)
    np.testing.assert_allclose(gathered.loss, full.loss, rtol=1e-6)
    # Scoring the output layer itself needs every position: no gathering then.
    seen_head = score_samples(
        model, samples[:4], ScoreConfig(layers=r"^lm_head$", batch_size=4, **ON_DEVICE), pad_id=tok.pad_id
    )
    assert seen_head.layer_names == ["lm_head"] and np.isfinite(seen_head.score).all()


def test_sgd_feature_equals_reference_sgd_step(hf):
    model, _, tok = hf
    samples = encode_examples(_examples(6, seed=2), tok)
    fast = score_samples(model, samples, ScoreConfig(feature="sgd", lr=1e-2, **ON_DEVICE), pad_id=tok.pad_id)
    reference = _reference_loop(model, samples, fast.layer_names, lr=1e-2, optimizer="sgd")
    np.testing.assert_allclose(fast.layer_features, reference, rtol=1e-4)


@pytest.mark.parametrize("feature", ["adamw", "sgd", "grad_norm"])
def test_plain_module_fast_equals_faithful(feature):
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    model = tiny_transformer(d_model=16, n_layers=4, n_heads=2, d_ff=24, seed=1)
    samples = encode_examples(_examples(9, seed=3), tok)
    config = {"feature": feature, "lr": 1e-2, "parameters": "weight", **ON_DEVICE}
    fast = score_samples(model, samples, ScoreConfig(batch_size=4, **config), pad_id=tok.pad_id)
    faithful = score_samples(model, samples, ScoreConfig(mode="faithful", **config), pad_id=tok.pad_id)
    np.testing.assert_allclose(fast.layer_features, faithful.layer_features, rtol=1e-5)


def test_scores_do_not_depend_on_batching():
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    model = tiny_transformer(d_model=16, n_layers=3, n_heads=2, d_ff=16)
    samples = encode_examples(_examples(10, seed=4), tok)
    one = score_samples(
        model, samples, ScoreConfig(batch_size=1, feature="grad_norm", **ON_DEVICE), pad_id=tok.pad_id
    )
    many = score_samples(
        model, samples, ScoreConfig(batch_size=10, feature="grad_norm", **ON_DEVICE), pad_id=tok.pad_id
    )
    np.testing.assert_allclose(one.score, many.score, rtol=1e-5)


def test_bias_and_layer_subsets():
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    torch.manual_seed(0)  # the new layer's weights: one model every run
    model.layers[1].mlp.up_proj = torch.nn.Linear(16, 16, bias=True)
    samples = encode_examples(_examples(4, seed=5), tok)
    for parameters in ("bias", "all"):
        config = {"layers": r"layers\.1\.mlp\.up_proj$", "parameters": parameters, "lr": 1e-2, **ON_DEVICE}
        fast = score_samples(model, samples, ScoreConfig(**config), pad_id=tok.pad_id)
        faithful = score_samples(model, samples, ScoreConfig(mode="faithful", **config), pad_id=tok.pad_id)
        # float32: the two modes sum in other orders (a CI run saw 2.8e-5 relative with unseeded weights).
        np.testing.assert_allclose(fast.layer_features, faithful.layer_features, rtol=1e-4)
    all_layers = score_samples(
        model, samples, ScoreConfig(layers="proj$", last_layers=None, **ON_DEVICE), pad_id=tok.pad_id
    )
    assert len(all_layers.layer_names) == 2 * 5  # qkv, o, gate, up, down of each block
    with pytest.raises(ParameterError, match="no module name matches"):
        score_samples(model, samples, ScoreConfig(layers="nothing_here", **ON_DEVICE))
    with pytest.raises(ParameterError, match=r"not a torch\.nn\.Linear"):
        score_samples(model, samples, ScoreConfig(layers=r"mlp$", **ON_DEVICE))


def test_bf16_model_fast_mode_keeps_the_update_a_bf16_step_rounds_away(hf_dir):
    model16, hf_tok = load_hf_model(hf_dir, dtype="bfloat16", device=DEVICE)
    model32, _ = load_hf_model(hf_dir, device=DEVICE)
    tok = Tokenizer.from_hf(hf_tok)
    samples = encode_examples(_examples(4, seed=6), tok)
    fast16 = score_samples(model16, samples, ScoreConfig(feature="sgd", **ON_DEVICE), pad_id=tok.pad_id)
    fast32 = score_samples(model32, samples, ScoreConfig(feature="sgd", **ON_DEVICE), pad_id=tok.pad_id)
    step16 = score_samples(
        model16, samples, ScoreConfig(feature="sgd", mode="faithful", **ON_DEVICE), pad_id=tok.pad_id
    )
    np.testing.assert_allclose(fast16.score, fast32.score, rtol=0.1)
    # A real bf16 weight update of ~1e-7 is below half an ulp of the weights: it vanishes.
    assert np.all(step16.score < 0.01 * fast16.score)


# --------------------------------------------------------------------------- projection and LESS


def test_gpt2_conv1d_layers_equal_the_reference_loop():
    # GPT-2's MLP layers are Hugging Face Conv1D (weight stored (in, out)); a
    # tiny GPT-2 built in code, scored on its last 3 `mlp.c_fc`, with the
    # sample's gradient formed and projected in the weight's own layout.
    import transformers

    torch.manual_seed(5)
    config = transformers.GPT2Config(
        n_layer=4, n_embd=32, n_head=2, vocab_size=259, n_positions=64, eos_token_id=1, bos_token_id=1
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    samples = encode_examples(_examples(7, seed=4), tok)
    layers = {"layers": r"mlp\.c_fc$", **ON_DEVICE}
    fast = score_samples(model, samples, ScoreConfig(batch_size=3, **layers), pad_id=tok.pad_id)
    faithful = score_samples(model, samples, ScoreConfig(mode="faithful", **layers), pad_id=tok.pad_id)
    assert fast.layer_names == [f"transformer.h.{i}.mlp.c_fc" for i in (1, 2, 3)]
    reference = _reference_loop(model, samples, fast.layer_names)
    np.testing.assert_allclose(faithful.layer_features, reference, rtol=1e-6)
    np.testing.assert_allclose(fast.layer_features, reference, rtol=2e-4)
    projected = {"projection_dim": 9, "projection_seed": 2, **layers}
    fast_p = score_samples(model, samples, ScoreConfig(**projected), pad_id=tok.pad_id)
    faithful_p = score_samples(model, samples, ScoreConfig(mode="faithful", **projected), pad_id=tok.pad_id)
    np.testing.assert_allclose(fast_p.projection, faithful_p.projection, rtol=1e-4, atol=1e-6)
    norms = score_samples(model, samples, ScoreConfig(feature="grad_norm", **layers), pad_id=tok.pad_id)
    norms_faithful = score_samples(
        model, samples, ScoreConfig(feature="grad_norm", mode="faithful", **layers), pad_id=tok.pad_id
    )
    np.testing.assert_allclose(norms.layer_features, norms_faithful.layer_features, rtol=1e-4)


def test_projection_is_seeded_and_matches_between_modes():
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    model = tiny_transformer(d_model=16, n_layers=3, n_heads=2, d_ff=16)
    samples = encode_examples(_examples(5, seed=7), tok)
    config = {"projection_dim": 16, "projection_seed": 3, **ON_DEVICE}
    fast = score_samples(model, samples, ScoreConfig(**config), pad_id=tok.pad_id)
    faithful = score_samples(model, samples, ScoreConfig(mode="faithful", **config), pad_id=tok.pad_id)
    assert fast.projection is not None and fast.projection.shape == (5, 3 * 16)
    np.testing.assert_allclose(fast.projection, faithful.projection, rtol=1e-4, atol=1e-6)
    again = score_samples(model, samples, ScoreConfig(**config), pad_id=tok.pad_id)
    np.testing.assert_array_equal(fast.projection, again.projection)
    other = score_samples(
        model, samples, ScoreConfig(projection_dim=16, projection_seed=4, **ON_DEVICE), pad_id=tok.pad_id
    )
    assert not np.allclose(fast.projection, other.projection)
    with pytest.raises(ParameterError, match="perfect square"):
        ScoreConfig(projection_dim=10)


def test_less_ranks_the_target_direction_first():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [np.nan, np.nan]])
    target = np.array([[2.0, 0.1], [1.0, -0.1]])
    scores = less_scores(train, target)
    assert np.argmax(scores[:3]) == 0 and np.argmin(scores[:3]) == 2 and np.isnan(scores[3])
    with pytest.raises(ParameterError):
        less_scores(train, np.ones((2, 3)))


# --------------------------------------------------------------------------- bad input


def test_empty_overlong_and_truncated_away_samples_are_flagged_not_nan(hf):
    model, _, tok = hf
    examples = [
        Example(0, "a", "prompt", "fine"),
        Example(1, "b", "prompt two", ""),
        Example(2, "c", "p", "x" * 100),
        Example(3, "d", "y" * 100, "lost"),
    ]
    samples = encode_examples(examples, tok, max_length=40)
    assert [s.flag for s in samples] == [None, "empty_response", None, "no_loss_tokens"]
    assert [s.truncated for s in samples] == [False, False, True, True]
    result = score_samples(model, samples, ScoreConfig(**ON_DEVICE), pad_id=tok.pad_id)
    assert result.status == ["ok", "empty_response", "ok", "no_loss_tokens"]
    assert np.isfinite(result.score[[0, 2]]).all() and np.isnan(result.score[[1, 3]]).all()


def test_nonfinite_loss_is_flagged_and_the_rest_of_the_batch_is_unaffected():
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    base = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)

    class Poisoned(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = base

        def forward(self, ids):
            logits = self.inner(ids)
            poisoned = (ids == ord("!")).any(dim=1)[:, None, None]
            return torch.where(poisoned, torch.full_like(logits, float("nan")), logits)

    model = Poisoned()
    examples = [Example(0, "0", "ok", "fine"), Example(1, "1", "bad!", "x"), Example(2, "2", "ok too", "yes")]
    samples = encode_examples(examples, tok)
    result = score_samples(model, samples, ScoreConfig(batch_size=3, **ON_DEVICE), pad_id=tok.pad_id)
    assert result.status == ["ok", "nonfinite", "ok"]
    clean = score_samples(model, [samples[0], samples[2]], ScoreConfig(**ON_DEVICE), pad_id=tok.pad_id)
    np.testing.assert_allclose(result.score[[0, 2]], clean.score, rtol=1e-6)
    faithful = score_samples(model, samples, ScoreConfig(mode="faithful", **ON_DEVICE), pad_id=tok.pad_id)
    assert faithful.status == ["ok", "nonfinite", "ok"]


def test_missing_fields_and_nulls_name_file_row_and_field(tmp_path):
    path = tmp_path / "sft.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": null}\n')
    with pytest.raises(InvalidInputError, match=r"sft\.jsonl:2: field 'response' is null"):
        read_examples(path)
    with pytest.raises(InvalidInputError, match=r"sft\.jsonl: column 'answer' not found"):
        read_examples(path, Fields(response="answer"))
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(InvalidInputError, match="expected 'assistant'"):
        read_examples(chat, Fields(messages="messages"))


def test_tiny_hf_model_vocabulary_must_cover_the_tokenizer(tmp_path):
    with pytest.raises(ParameterError, match="below the tokenizer"):
        save_tiny_hf_model(tmp_path, vocab_size=100)


def test_model_path_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(ParameterError, match="does not exist"):
        load_hf_model(tmp_path / "nope")
    with pytest.raises(ParameterError, match=r"no config\.json"):
        load_hf_model(tmp_path)


def test_bad_parameters():
    with pytest.raises(ParameterError):
        ScoreConfig(mode="slow")  # type: ignore[arg-type]
    with pytest.raises(ParameterError):
        ScoreConfig(lr=0)
    with pytest.raises(ParameterError):
        ScoreConfig(layers="(")
    with pytest.raises(ParameterError):
        PromptFormat("{question}")
    with pytest.raises(ParameterError):
        select_lowest(np.ones(3), drop_ratio=0.5, keep_ratio=0.5)


def test_importable_without_torch_and_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import stemmatic.resofilter as r\n"
        "from stemmatic.cli import app\n"
        "try:\n"
        "    r.score_samples(None, [])\n"
        "except ImportError as err:\n"
        "    print(type(err).__name__, err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingExtraError") and "stemmatic[resofilter]" in out


# --------------------------------------------------------------------------- checkpoints


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    samples = encode_examples(_examples(12, seed=8), tok)
    config = ScoreConfig(batch_size=4, **ON_DEVICE)
    checkpoint = tmp_path / "ck.npz"

    def interrupt(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    # Interrupted after the first batch: the checkpoint is written on the way out.
    with pytest.raises(KeyboardInterrupt):
        score_samples(model, samples, config, pad_id=tok.pad_id, progress=interrupt, checkpoint=checkpoint)
    assert checkpoint.exists()
    seen = []
    resumed = score_samples(
        model, samples, config, pad_id=tok.pad_id, progress=lambda d, t: seen.append(d), checkpoint=checkpoint
    )
    assert seen[0] == 4  # started from the checkpoint
    straight = score_samples(model, samples, config, pad_id=tok.pad_id)
    np.testing.assert_allclose(resumed.score, straight.score, rtol=1e-6)
    with pytest.raises(ParameterError, match="other inputs or settings"):
        score_samples(model, samples[:5], config, pad_id=tok.pad_id, checkpoint=checkpoint)


# --------------------------------------------------------------------------- selection


def _reference_selection(scores, ratio):
    """reso_filter.py: sort (index, score) by (score, -index) descending, drop the head, restore order."""
    ordered = sorted(enumerate(scores), key=lambda x: (x[1], -x[0]), reverse=True)
    kept = sorted(i for i, _ in ordered[int(len(scores) * ratio) :])
    return kept


@pytest.mark.parametrize("seed", range(5))
def test_select_lowest_is_the_reference_rule(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=41).astype(float)  # many ties
    for ratio in (0.25, 0.5, 0.75):
        keep = select_lowest(scores, drop_ratio=ratio)
        assert np.flatnonzero(keep).tolist() == _reference_selection(scores.tolist(), ratio)


def test_auroc_matches_pairwise_count():
    rng = np.random.default_rng(0)
    score = rng.integers(0, 5, size=60).astype(float)
    label = rng.random(60) < 0.3
    pairs = [(p > n) + 0.5 * (p == n) for p in score[label] for n in score[~label]]
    assert auroc(score, label) == pytest.approx(np.mean(pairs))


def test_selection_report_baselines_flags_and_diversity():
    score = np.array([0.5, 0.1, np.nan, 0.9, 0.2, 0.3])
    status = ["ok", "ok", "empty_response", "ok", "ok", "ok"]
    length = np.array([5, 1, 0, 9, 3, 2])
    bad = np.array([False, False, False, True, False, True])
    sel = Selection.build(score, status, length, drop_ratio=0.4, label=bad)
    assert sel.keep.tolist() == [False, True, False, False, True, True]
    assert sel.reasons == ["high_score", None, "empty_response", "high_score", None, None]
    assert set(sel.report["selections"]) == {"resofilter", "random", "length"}
    assert sel.report["selections"]["length"]["kept"] == 3
    assert sel.baselines["length"].tolist() == [True, False, False, True, True, False]
    assert sel.report["auroc"] == pytest.approx(
        auroc(np.array([0.5, 0.1, 0.9, 0.2, 0.3]), bad[[0, 1, 3, 4, 5]])
    )
    texts = [
        "the cat sat on the mat today",
        "the cat sat on the mat today",
        "completely different words here",
    ]
    keep, skipped = diversity_filter(texts, np.array([1, 0, 2]), 2, threshold=0.8)
    assert keep.tolist() == [False, True, True] and skipped == {0: 1}


def test_dedup_keeps_the_first_prompt():
    ex = [Example(i, str(i), p, "r") for i, p in enumerate(["a", "b", "a", "c", "b"])]
    assert dedup_prompts(ex) == ([0, 1, 3], {2: 0, 4: 1})


def test_chat_template_masks_everything_but_the_assistant_reply(hf):
    _, hf_tok, _ = hf
    chat_tok = copy.deepcopy(hf_tok)
    chat_tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    tok = Tokenizer.from_hf(chat_tok)
    example = Example(0, "0", "hi", "hello", (("system", "be brief"), ("user", "hi")))
    [sample] = encode_examples([example], tok, PromptFormat(use_chat_template=True))
    text = chat_tok.decode(list(sample.input_ids))
    assert text == "<|system|>be brief\n<|user|>hi\n<|assistant|>hello\n"
    assert chat_tok.decode(list(sample.input_ids[sample.response_start :])) == "hello\n"


# --------------------------------------------------------------------------- files and CLI


def _write_sft(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_score_then_select(tmp_path, hf_dir):
    rows = [{"prompt": f"q{i}", "response": "a" * (i % 7 + 1), "bad": i % 3 == 0} for i in range(14)]
    rows.append({"prompt": "q1", "response": "again", "bad": False})  # duplicate prompt
    rows.append({"prompt": "q99", "response": "", "bad": False})  # empty response
    data = _write_sft(tmp_path / "sft.jsonl", rows)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "resofilter",
            "score",
            str(data),
            "--model",
            str(hf_dir),
            "-o",
            str(tmp_path / "s"),
            "--device",
            DEVICE,
            "--batch-size",
            "4",
            "--projection-dim",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    scores = pq.read_table(tmp_path / "s" / "scores.parquet")
    assert scores.num_rows == 16
    assert scores.column("status").to_pylist()[14:] == ["duplicate_prompt", "empty_response"]
    assert scores.column("duplicate_of").to_pylist()[14] == 1
    assert scores.column("score").null_count == 2
    assert (
        json.loads(scores.schema.metadata[b"stemmatic.resofilter.layers"])[-1] == "model.layers.3.mlp.up_proj"
    )
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    assert report["rows"]["detail"]["status"] == {"ok": 14, "duplicate_prompt": 1, "empty_response": 1}

    result = runner.invoke(
        app,
        [
            "resofilter",
            "select",
            str(data),
            "--scores",
            str(tmp_path / "s" / "scores.parquet"),
            "--output",
            str(tmp_path / "sel"),
            "--label-column",
            "bad",
            "--format",
            "jsonl",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "AUROC" in result.output
    kept = [json.loads(x) for x in (tmp_path / "sel" / "kept" / "sft.jsonl").read_text().splitlines()]
    removed = [json.loads(x) for x in (tmp_path / "sel" / "removed" / "sft.jsonl").read_text().splitlines()]
    assert len(kept) == 7 and len(kept) + len(removed) == 16
    assert [r["prompt"] for r in kept] == [
        r["prompt"] for r in rows if r["prompt"] in {k["prompt"] for k in kept}
    ]
    assert {r["reason"] for r in removed} == {"high_score", "duplicate_prompt", "empty_response"}
    sel_report = json.loads((tmp_path / "sel" / "report.json").read_text())
    assert set(sel_report["selections"]) == {"resofilter", "random", "length"}

    # LESS criterion: the training set's own scores as the target set.
    less = select_dataset(
        data,
        tmp_path / "s" / "scores.parquet",
        tmp_path / "less",
        criterion="less",
        target_scores=tmp_path / "s" / "scores.parquet",
        keep_ratio=0.5,
        diversity_threshold=0.9,
    )
    assert less.kept_rows == 7 and less.report["parameters"]["criterion"] == "less"
    assert less.kept is None and less.output == tmp_path / "less"

    result = runner.invoke(
        app,
        [
            "resofilter",
            "score",
            str(data),
            "--model",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 2 and "does not exist" in result.output


def test_cli_old_option_names_are_hidden_aliases_and_choices_are_checked(tmp_path):
    data = _write_sft(
        tmp_path / "sft.jsonl", [{"q": f"p{i}", "a": "r" * i, "key": f"k{i}"} for i in range(1, 7)]
    )
    runner = CliRunner()
    score_help = runner.invoke(app, ["resofilter", "score", "--help"], terminal_width=200).output
    for new in ("--output", "--prompt-column", "--response-column", "--messages-column", "--id-column"):
        assert new in score_help
    for old in ("--out ", "--prompt-field", "--response-field", "--messages-field", "--id-field"):
        assert old not in score_help
    select_help = runner.invoke(app, ["resofilter", "select", "--help"], terminal_width=200).output
    assert "--label-column" in select_help and "--label-field" not in select_help
    assert "--compression" in select_help

    model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    score_dataset(
        data, tmp_path / "s", model, tok, fields=Fields("q", "a", id="key"), config=ScoreConfig(**ON_DEVICE)
    )
    scores = str(tmp_path / "s" / "scores.parquet")
    old = runner.invoke(
        app,
        [
            "resofilter",
            "select",
            str(data),
            "--scores",
            scores,
            "--out",
            str(tmp_path / "old"),
            "--response-field",
            "a",
            "--diversity-threshold",
            "0.9",
            "-q",
        ],
    )
    new = runner.invoke(
        app,
        [
            "resofilter",
            "select",
            str(data),
            "--scores",
            scores,
            "-o",
            str(tmp_path / "new"),
            "--response-column",
            "a",
            "--diversity-threshold",
            "0.9",
            "-q",
        ],
    )
    assert old.exit_code == 0 and new.exit_code == 0, old.output + new.output
    assert pq.read_table(tmp_path / "old" / "kept").equals(pq.read_table(tmp_path / "new" / "kept"))

    for argv, problem in [
        (["--criterion", "best"], "'best' is not one of"),
        (["--format", "csv"], "'csv' is not one of"),
        (["--response-column", "a", "--response-field", "b"], "give --response-column once"),
        (["-o", str(tmp_path / "x"), "--out", str(tmp_path / "y")], "give the output directory once"),
    ]:
        result = runner.invoke(
            app,
            [
                "resofilter",
                "select",
                str(data),
                "--scores",
                scores,
                *(argv if "-o" in argv else ["-o", str(tmp_path / "z"), *argv]),
            ],
        )
        assert result.exit_code == 2 and problem in result.output, (argv, result.output)
    result = runner.invoke(
        app,
        [
            "resofilter",
            "score",
            str(data),
            "--model",
            str(tmp_path),
            "-o",
            str(tmp_path / "z"),
            "--mode",
            "quick",
        ],
    )
    assert result.exit_code == 2 and "'quick' is not one of" in result.output


def test_tables_in_tables_out(tmp_path):
    rows = [{"q": f"p{i}", "a": "r" * i, "key": f"k{i}"} for i in range(1, 9)]
    data = _write_sft(tmp_path / "sft.jsonl", rows)
    model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    fields = Fields("q", "a", id="key")
    on_disk = score_dataset(data, tmp_path / "s", model, tok, fields=fields, config=ScoreConfig(**ON_DEVICE))
    table = pa.Table.from_pylist(rows)
    in_memory = score_dataset(table, None, model, tok, fields=fields, config=ScoreConfig(**ON_DEVICE))
    assert in_memory.equals(on_disk)
    assert sorted(os.listdir(tmp_path)) == ["s", "sft.jsonl"]  # nothing written for output=None
    with pytest.raises(ParameterError, match="resume needs an output"):
        score_dataset(table, None, model, tok, fields=fields, resume=True)
    pandas = pytest.importorskip("pandas")
    assert score_dataset(pandas.DataFrame(rows), None, model, tok, fields=fields).column(
        "id"
    ).to_pylist() == [r["key"] for r in rows]

    written = select_dataset(data, tmp_path / "s" / "scores.parquet", tmp_path / "sel", drop_ratio=0.5)
    result = select_dataset(table, on_disk, drop_ratio=0.5)
    assert result.output is None and result.report["outputs"] == {}
    assert result.kept_rows == written.kept_rows == 4 and result.removed_rows == 4
    assert result.kept.equals(pq.read_table(tmp_path / "sel" / "kept" / "sft.parquet"))
    assert result.removed.equals(pq.read_table(tmp_path / "sel" / "removed" / "sft.parquet"))
    assert result.selection.equals(pq.read_table(tmp_path / "sel" / "selection.parquet"))
    assert result.report["inputs"]["files"] == ["input table"]
    assert result.report["parameters"]["scores"] == "scores table"
    # Errors name the table, not the file it was staged in.
    with pytest.raises(InvalidInputError, match="input table: column 'prompt' not found"):
        score_dataset(table, None, model, tok)
    with pytest.raises(InvalidInputError, match="scores table: has 8 rows but the inputs have 3"):
        select_dataset(table.slice(0, 3), on_disk, drop_ratio=0.5)


def test_memory_urls_in_and_out(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    rows = [{"prompt": f"p{i}", "response": "r" * i} for i in range(1, 7)]
    memory.pipe("/stemmatic-reso/in/sft.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    memory.pipe("/stemmatic-reso/in/_SUCCESS", b"")
    model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    local = _write_sft(tmp_path / "sft.jsonl", rows)
    expected = score_dataset(local, tmp_path / "s", model, tok, config=ScoreConfig(**ON_DEVICE))
    got = score_dataset(
        "memory://stemmatic-reso/in",
        "memory://stemmatic-reso/scored",
        model,
        tok,
        config=ScoreConfig(**ON_DEVICE),
    )
    assert got.equals(expected)
    assert (
        memory.cat("/stemmatic-reso/scored/scores.parquet")
        == (tmp_path / "s" / "scores.parquet").read_bytes()
    )
    report = json.loads(memory.cat("/stemmatic-reso/scored/report.json"))
    assert report["inputs"]["skipped"][0]["path"].endswith("_SUCCESS")
    result = CliRunner().invoke(
        app,
        [
            "resofilter",
            "select",
            "memory://stemmatic-reso/in",
            "--scores",
            "memory://stemmatic-reso/scored/scores.parquet",
            "-o",
            "memory://stemmatic-reso/sel",
            "--format",
            "jsonl",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "memory://stemmatic-reso/sel" in result.output
    select_dataset(
        local, tmp_path / "s" / "scores.parquet", tmp_path / "sel", drop_ratio=0.5, output_format="jsonl"
    )
    for side in ("kept", "removed"):
        assert (
            memory.cat(f"/stemmatic-reso/sel/{side}/sft.jsonl")
            == (tmp_path / "sel" / side / "sft.jsonl").read_bytes()
        )


def test_score_dataset_resume_and_plain_module(tmp_path):
    data = _write_sft(
        tmp_path / "sft.jsonl", [{"q": f"p{i}", "a": "r" * i, "id": f"s{i}"} for i in range(1, 6)]
    )
    model = tiny_transformer(d_model=16, n_layers=2, n_heads=2, d_ff=16)
    tok = Tokenizer.from_byte_tokenizer(ByteTokenizer())
    fields = Fields(prompt="q", response="a", id="id")
    table = score_dataset(data, tmp_path / "o", model, tok, fields=fields, config=ScoreConfig(**ON_DEVICE))
    assert table.column("id").to_pylist() == ["s1", "s2", "s3", "s4", "s5"]
    assert not (tmp_path / "o" / "checkpoint.npz").exists()
    with pytest.raises(ParameterError, match="not empty"):
        score_dataset(data, tmp_path / "o", model, tok, fields=fields, config=ScoreConfig(**ON_DEVICE))
    again = score_dataset(
        data, tmp_path / "o", model, tok, fields=fields, config=ScoreConfig(**ON_DEVICE), resume=True
    )
    assert again.column("score").to_pylist() == pytest.approx(table.column("score").to_pylist())
    assert isinstance(table.column("layer_features").type, pa.ListType)


# --------------------------------------------------------------------------- the experiment, small


def test_small_experiment_separates_corrupted_samples():
    config = ExperimentConfig(
        train_samples=192,
        eval_samples=96,
        pretrain_samples=512,
        pretrain_steps=60,
        finetune_epochs=1,
        d_model=32,
        n_layers=2,
        n_heads=2,
        d_ff=64,
        features=("adamw", "grad_norm"),
    )
    result = run_experiment(config)
    # Corrupted responses are far less likely under the partly trained base model,
    # so their gradients, and the steps they cause, are larger.
    assert result.auroc["grad_norm"] > 0.8
    assert result.auroc["adamw"] > 0.6
    assert 0.4 < result.auroc["length"] < 0.6  # corruption keeps the length
    assert result.corrupt_share_kept["resofilter_grad_norm_half"] < result.corrupt_share_kept["random_half"]
    assert set(result.accuracy) == {
        "full",
        "resofilter_adamw_half",
        "resofilter_grad_norm_half",
        "random_half",
        "length_half",
    }


def test_on_error_skip_leaves_malformed_lines_out_of_score_and_select(tmp_path, hf_dir):
    good = [json.dumps({"prompt": f"q{i}", "response": "a" * i}) for i in range(1, 7)]
    data = tmp_path / "sft.jsonl"
    data.write_text("\n".join([*good[:3], '{"prompt": "broken', *good[3:]]) + "\n")
    runner = CliRunner()
    base = ["resofilter", "score", str(data), "--model", str(hf_dir), "--device", DEVICE, "-q"]
    refused = runner.invoke(app, [*base, "-o", str(tmp_path / "r")])
    assert refused.exit_code == 2 and "sft.jsonl:4" in refused.output and "--on-error skip" in refused.output
    result = runner.invoke(app, [*base, "-o", str(tmp_path / "s"), "--on-error", "skip"])
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "s" / "scores.parquet").num_rows == 6
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    assert (report["rows"]["in"], report["rows"]["rejected"]) == (7, 1)
    assert report["outputs"]["rejected"] == "rejected/rejected.jsonl"
    assert json.loads((tmp_path / "s" / "rejected" / "rejected.jsonl").read_text())["line"] == 4

    scores = str(tmp_path / "s" / "scores.parquet")
    result = runner.invoke(
        app,
        [
            "resofilter",
            "select",
            str(data),
            "--scores",
            scores,
            "-o",
            str(tmp_path / "sel"),
            "--on-error",
            "skip",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "sel" / "report.json").read_text())
    rows = report["rows"]
    assert (rows["in"], rows["kept"], rows["removed"], rows["rejected"]) == (7, 3, 3, 1)
    assert not report["warnings"]
    assert (tmp_path / "sel" / "rejected" / "rejected.jsonl").exists()
    in_memory = select_dataset(data, scores, drop_ratio=0.5, on_error="skip")
    assert (in_memory.input_rows, in_memory.kept_rows, in_memory.rejected_rows) == (7, 3, 1)
