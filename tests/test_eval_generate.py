"""`eval generate`: cached decoding equals recomputation, seeded sampling, the sampling rules, streaming."""

from __future__ import annotations

import io
import json
import math

import pytest
import torch
from eval_fixtures import tokenizer_dir, train_checkpoint
from symboliclight.dags.cli import main
from symboliclight.model.eval_checkpoint import load_eval_tokenizer, load_model
from symboliclight.model.generate import (
    GenerationConfig,
    StreamPrinter,
    effective_temperature,
    generate_ids,
    generate_text,
    next_token,
)
from symboliclight.pipeline.errors import UserError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    sl = load_model(train_checkpoint(tmp_path_factory, "sl"))
    gpt2 = load_model(train_checkpoint(tmp_path_factory, "gpt2", "model.matched_gpt2=true"))
    tok = load_eval_tokenizer(sl, str(tokenizer_dir(tmp_path_factory)), None, "work")
    return {"sl": sl, "gpt2": gpt2, "tok": tok, "ckpt": sl.path}


@pytest.mark.parametrize("name", ["sl", "gpt2"])
def test_greedy_cached_equals_full_recomputation(models, name):
    loaded, tok = models[name], models["tok"]
    prompt = [tok.bos_id] + tok.encode("def main():\n    return")
    # 40 new tokens run well past the 8-token attention window, so the trimmed cache is exercised
    kwargs = dict(vocab_limit=tok.vocab_size, eos_id=None)
    cached = generate_ids(loaded, prompt, GenerationConfig(max_new_tokens=40, temperature=0), **kwargs)
    full = generate_ids(loaded, prompt, GenerationConfig(max_new_tokens=40, temperature=0, use_cache=False), **kwargs)
    assert len(cached) == 40 and cached == full
    # and by hand: argmax of a plain forward over the whole sequence at every step
    seq = list(prompt)
    for tok_id in cached[:10]:
        with torch.no_grad():
            logits = loaded.net(torch.tensor([seq])).logits[0, -1]
        assert int(logits.argmax()) == tok_id
        seq.append(tok_id)


def test_sampling_is_deterministic_for_a_seed(models):
    loaded, tok = models["sl"], models["tok"]
    prompt = [tok.bos_id] + tok.encode("The licence")
    cfg = dict(max_new_tokens=30, temperature=1.0, top_k=50, top_p=0.95, repetition_penalty=1.2,
               entropy_adaptive="0.8b")
    runs = [generate_ids(loaded, prompt, GenerationConfig(seed=s, **cfg), vocab_limit=tok.vocab_size, eos_id=None)
            for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]  # 30 draws at T=1 from a barely trained model: a collision is ~impossible
    nocache = generate_ids(loaded, prompt, GenerationConfig(seed=7, use_cache=False, **cfg),
                           vocab_limit=tok.vocab_size, eos_id=None)
    assert nocache == runs[0]


def test_sampling_rules():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    logits = torch.tensor([2.0, 1.0, 0.5, 3.0, -1.0, 2.9])
    empty = torch.tensor([], dtype=torch.long)
    greedy = GenerationConfig(temperature=0, top_k=0)
    assert next_token(logits, empty, greedy, 6, g()) == 3
    assert next_token(logits, empty, greedy, 3, g()) == 0  # ids >= the tokenizer's size are masked
    # repetition penalty: 3.0 / 1.5 = 2.0 < 2.9, so id 5 wins once 3 has been seen
    assert next_token(logits, torch.tensor([3]), GenerationConfig(temperature=0, repetition_penalty=1.5), 6, g()) == 5
    # a negative logit is multiplied by the penalty (pushed further down)
    neg = torch.tensor([-1.0, -1.2])
    assert next_token(neg, torch.tensor([0]), GenerationConfig(temperature=0, repetition_penalty=1.5), 2, g()) == 1
    for _ in range(20):  # top-k 1 and a tiny top-p are greedy whatever the temperature
        assert next_token(logits, empty, GenerationConfig(temperature=5.0, top_k=1), 6, g()) == 3
        assert next_token(logits, empty, GenerationConfig(temperature=5.0, top_k=0, top_p=0.01), 6, g()) == 3
    # top-p 0.6 keeps {3, 5} (mass before 5 is < 0.6, before 0 is >= 0.6)
    draws = {next_token(logits, empty, GenerationConfig(temperature=1.0, top_k=0, top_p=0.6, seed=0), 6,
                        torch.Generator().manual_seed(s)) for s in range(200)}
    assert draws == {3, 5}
    draws = {next_token(logits, empty, GenerationConfig(temperature=1.0, top_k=2), 6, torch.Generator().manual_seed(s))
             for s in range(200)}
    assert draws == {3, 5}


def test_entropy_adaptive_temperature_directions():
    flat, peaked = torch.zeros(100), torch.tensor([50.0] + [0.0] * 99)
    assert effective_temperature(flat, GenerationConfig(temperature=0.8)) == 0.8
    # 194M reading: a flat distribution (H = 1) is sampled at 0.1, a peaked one (H = 0) at T
    assert effective_temperature(flat, GenerationConfig(temperature=0.8, entropy_adaptive="194m")) == pytest.approx(0.1)
    assert effective_temperature(peaked, GenerationConfig(temperature=0.8, entropy_adaptive="194m")) == pytest.approx(0.8, abs=1e-6)
    # 0.8B reading: flat → T_max = min(1.5, 1.2), peaked → T_min = max(0.1, 0.4)
    assert effective_temperature(flat, GenerationConfig(temperature=0.8, entropy_adaptive="0.8b")) == pytest.approx(1.2)
    assert effective_temperature(peaked, GenerationConfig(temperature=0.8, entropy_adaptive="0.8b")) == pytest.approx(0.4, abs=1e-6)
    half = torch.tensor([0.0, 0.0] + [-math.inf] * 2)  # two live ids of four: normalised by ln 2 → H = 1
    assert effective_temperature(half, GenerationConfig(temperature=1.0, entropy_adaptive="194m")) == pytest.approx(0.1)


def test_stream_printer_waits_for_whole_characters(models):
    tok = models["tok"]
    text = "保存文件 and 关闭"
    ids = tok.encode(text)
    byte_ids = [tok.byte_ids[b] for b in "存".encode()]  # one character as three byte tokens
    out = io.StringIO()
    printer = StreamPrinter(tok.token_bytes, out)
    writes = []
    for i in ids + byte_ids:
        before = out.getvalue()
        printer(i)
        writes.append(out.getvalue()[len(before):])
    assert printer.close() == text + "存"
    assert out.getvalue() == text + "存\n"
    assert "\ufffd" not in out.getvalue()
    assert writes[-3:-1] == ["", ""] and writes[-1] == "存"  # nothing shown until the last byte arrives


def test_cli_streams_prompt_and_continuation(models, capsys):
    argv = ["eval", "generate", "--checkpoint", str(models["ckpt"]), "--prompt", "def main", "--tokenizer",
            str(models["tok"].path), "--max-new-tokens", "12", "--temperature", "0"]
    assert main(argv + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out == "def main" + result["completion"] + "\n"
    assert result["completion"] == models["tok"].decode(result["new_tokens"])
    assert 0 < len(result["new_tokens"]) <= 12


def test_bad_generation_settings(models, capsys):
    with pytest.raises(UserError, match="top-p"):
        GenerationConfig(top_p=0.0)
    with pytest.raises(UserError, match="exceeds the model's context"):
        generate_text(models["gpt2"], models["tok"], "x", GenerationConfig(max_new_tokens=500))
    assert main(["eval", "generate", "--checkpoint", str(models["ckpt"]), "--prompt", "x", "--tokenizer",
                 str(models["tok"].path), "--temperature", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
