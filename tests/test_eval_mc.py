"""`eval mc`: task formats, log-likelihoods against a direct forward pass, metrics, bad task files."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from eval_fixtures import RECORDS, shards_dir, tokenizer_dir, train_checkpoint, write_jsonl
from symboliclight.dags.cli import main
from symboliclight.model.eval_checkpoint import load_eval_tokenizer, load_model
from symboliclight.model.eval_mc import Scorer, evaluate_items
from symboliclight.model.mc_tasks import ClozeItem, McItem, load_task
from symboliclight.pipeline.errors import UserError


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    shards = shards_dir(tmp_path_factory)
    ckpt = train_checkpoint(tmp_path_factory, "sl")
    loaded = load_model(ckpt)
    tok = load_eval_tokenizer(loaded, str(tokenizer_dir(tmp_path_factory)), None, "work")
    files = {task: write_jsonl(tmp_path_factory.mktemp("tasks") / f"{task}.jsonl", make())
             for task, make in RECORDS.items()}
    return {"ckpt": ckpt, "loaded": loaded, "tok": tok, "files": files, "shards": shards}


def direct_ll(loaded, tok, context: str, continuation: str) -> tuple[float, bool]:
    """The continuation's log-likelihood from one plain forward over BOS + context + continuation,
    with the harness's split (trailing context spaces move over; continuation = tail of the whole)."""
    stripped = context.rstrip()
    continuation = context[len(stripped):] + continuation
    ctx_ids = tok.encode(stripped) if stripped else []
    whole = tok.encode(stripped + continuation)
    cont_ids = whole[len(ctx_ids):] if stripped else tok.encode(continuation)
    seq = [tok.bos_id] + ctx_ids + cont_ids
    seq = seq[-(loaded.context + 1):]
    x = torch.tensor(seq)[None]
    with torch.no_grad():
        logp = F.log_softmax(loaded.net(x[:, :-1]).logits.double(), dim=-1)[0]
    n = len(cont_ids)
    targets = x[0, -n:]
    picked = logp[-n:].gather(-1, targets[:, None])
    return float(picked.sum()), bool((logp[-n:].argmax(-1) == targets).all())


def test_prompts_follow_the_harness_formats(setup):
    piqa = load_task("piqa", setup["files"]["piqa"])
    assert piqa[0] == McItem("Question: How do you open a text file for reading in Python?\nAnswer:",
                             ["call open(path) and read it", "call close(path) and delete it"], 0)
    arc = load_task("arc_easy", setup["files"]["arc_easy"])
    assert arc[0].context == "Question: What do you do to open a text file for reading in Python?\nAnswer:"
    assert arc[0].gold == 2 and len(arc[0].choices) == 4
    hs = load_task("hellaswag", setup["files"]["hellaswag"])
    assert hs[0].context == "Computers. Howto: A person wants to open a text file for reading in Python. Then they"
    # as the harness: strip first, then drop "[step]" (its trailing space stays), fold double spaces
    assert hs[0].choices[1] == "call open(path) and read it " and hs[0].choices[3] == "sleep well" and hs[0].gold == 1
    sciq = load_task("sciq", setup["files"]["sciq"])
    assert sciq[0].context.startswith("To open a text file") and sciq[0].context.endswith("\nAnswer:")
    assert sciq[0].gold == 3 and sciq[0].choices[3] == "call open(path) and read it"
    lam = load_task("lambada", setup["files"]["lambada"])
    assert lam[0] == ClozeItem("This program is free software you can redistribute", " it")
    assert all(len(load_task(t, f)) == 12 for t, f in setup["files"].items())


@pytest.mark.parametrize("task", ["piqa", "arc_easy", "hellaswag", "sciq"])
def test_multiple_choice_scores_match_direct_forward(setup, task):
    loaded, tok = setup["loaded"], setup["tok"]
    items = load_task(task, setup["files"][task])
    result = evaluate_items(Scorer(loaded, tok, batch_size=5), task, items)
    assert result["n"] == 12
    acc = acc_norm = 0
    for k, (item, detail) in enumerate(zip(items, result["items"], strict=True)):
        if k < 3:  # a few items, independently
            for choice, ll in zip(item.choices, detail["lls"], strict=True):
                assert ll == pytest.approx(direct_ll(loaded, tok, item.context, " " + choice)[0], abs=1e-4)
        lls = detail["lls"]
        pred = max(range(len(lls)), key=lambda i: lls[i])
        norm = [ll / len(c) for ll, c in zip(lls, item.choices, strict=True)]
        pred_norm = max(range(len(norm)), key=lambda i: norm[i])
        acc += pred == item.gold
        acc_norm += pred_norm == item.gold
    assert result["acc"] == pytest.approx(acc / 12) and result["acc_norm"] == pytest.approx(acc_norm / 12)


def test_lambada_accuracy_and_perplexity(setup):
    loaded, tok = setup["loaded"], setup["tok"]
    items = load_task("lambada", setup["files"]["lambada"])
    result = evaluate_items(Scorer(loaded, tok, batch_size=4), "lambada", items)
    direct = [direct_ll(loaded, tok, it.context, it.target) for it in items]
    for got, (ll, greedy) in zip(result["items"], direct, strict=True):
        assert got["ll"] == pytest.approx(ll, abs=1e-4) and got["greedy"] == greedy
    assert result["perplexity"] == pytest.approx(math.exp(-sum(ll for ll, _ in direct) / len(direct)), rel=1e-4)
    assert result["acc"] == pytest.approx(sum(g for _, g in direct) / len(direct))


def test_batching_and_truncation(setup):
    loaded, tok = setup["loaded"], setup["tok"]
    long_context = " ".join(["the value of the function is returned"] * 20)  # far beyond the 64-token context
    pairs = [(long_context, " here"), ("Question: x\nAnswer:", " yes"), ("", "import os"), ("a  ", "b")]
    one = Scorer(loaded, tok, batch_size=1).loglikelihood(pairs)
    many = Scorer(loaded, tok, batch_size=8).loglikelihood(pairs)
    for (a, ga), (b, gb), (ctx, cont) in zip(one, many, pairs, strict=True):
        assert a == pytest.approx(b, abs=1e-4) and ga == gb
        assert a == pytest.approx(direct_ll(loaded, tok, ctx, cont)[0], abs=1e-4)


def test_cli_reports_acc_and_acc_norm(setup, capsys):
    argv = ["eval", "mc", "--checkpoint", str(setup["ckpt"]), "--task", "piqa", "--data", str(setup["files"]["piqa"]),
            "--tokenizer", str(setup["tok"].path)]
    assert main(argv + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 12 and 0 <= result["acc"] <= 1 and 0 <= result["acc_norm"] <= 1
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("piqa: n=12 acc=")
    assert main(["eval", "mc", "--checkpoint", str(setup["ckpt"]), "--task", "lambada", "--data",
                 str(setup["files"]["lambada"]), "--tokenizer", str(setup["tok"].path)]) == 0
    assert "perplexity=" in capsys.readouterr().out


@pytest.mark.parametrize("task,record,fragment", [
    ("piqa", {"goal": "g", "sol1": "a", "label": 0}, "missing field 'sol2'"),
    ("piqa", {"goal": "g", "sol1": "a", "sol2": "b", "label": 2}, "'label' = 2"),
    ("arc_easy", {"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "B"}, "answerKey 'B'"),
    ("hellaswag", {"activity_label": "x", "ctx_a": "a", "ctx_b": "b", "label": 0}, "missing field 'endings'"),
    ("sciq", {"question": "q", "distractor1": "a", "distractor2": "b", "correct_answer": "c", "support": ""},
     "missing field 'distractor3'"),
    ("lambada", {"text": 5}, "field 'text' should be str"),
])
def test_bad_task_records_are_one_line(setup, tmp_path, capsys, task, record, fragment):
    good = RECORDS[task]()[0]
    path = write_jsonl(tmp_path / "bad.jsonl", [good, record])
    with pytest.raises(UserError, match="bad.jsonl:2"):
        load_task(task, path)
    assert main(["eval", "mc", "--checkpoint", str(setup["ckpt"]), "--task", task, "--data", str(path),
                 "--tokenizer", str(setup["tok"].path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and fragment in err and "bad.jsonl:2" in err, err


def test_unreadable_task_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(UserError, match="no piqa records"):
        load_task("piqa", tmp_path / "empty.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"goal": "x",\n')
    with pytest.raises(UserError, match="broken.jsonl:1: not JSON"):
        load_task("piqa", tmp_path / "broken.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes('{"text": "caf\u00e9 au lait"}\n'.encode("latin-1"))
    with pytest.raises(UserError, match="UTF-8"):
        load_task("lambada", tmp_path / "latin1.jsonl")
    with pytest.raises(UserError, match="not found"):
        load_task("piqa", tmp_path / "missing.jsonl")


def test_tokenizer_of_another_vocabulary_is_refused(setup, tmp_path_factory, tmp_path):
    from shards_fixtures import real_documents, train_tokenizer

    other = train_tokenizer(tmp_path / "tok600", real_documents(1)[:40], vocab_size=600)
    with pytest.raises(UserError, match="600-token tokenizer"):
        load_eval_tokenizer(setup["loaded"], str(other.path), None, "work")
