"""The lm-evaluation-harness adapter: the harness's own task configs, pointed at local files, give the
same per-item log-likelihoods and metrics as `eval mc` (skipped when lm-eval is not installed)."""

from __future__ import annotations

import math

import pytest
from eval_fixtures import RECORDS, tokenizer_dir, train_checkpoint, write_jsonl

lm_eval = pytest.importorskip("lm_eval")


@pytest.mark.slow  # ~13 s: the harness's task loading and evaluation loop
def test_harness_matches_eval_mc(tmp_path_factory, tmp_path):
    from lm_eval.tasks import TaskManager
    from symboliclight.model.eval_checkpoint import load_eval_tokenizer, load_model
    from symboliclight.model.eval_mc import Scorer, evaluate_items
    from symboliclight.model.lm_eval_adapter import SymbolicLightLM, write_local_task
    from symboliclight.model.mc_tasks import load_task

    ckpt = train_checkpoint(tmp_path_factory, "sl")
    tok_dir = str(tokenizer_dir(tmp_path_factory))
    files = {t: write_jsonl(tmp_path / f"{t}.jsonl", RECORDS[t]()) for t in ("piqa", "lambada")}
    for task, path in files.items():
        write_local_task(task, path, tmp_path / "yaml")
    lm = SymbolicLightLM(checkpoint=str(ckpt), tokenizer=tok_dir, device="cpu", batch_size=8)
    tm = TaskManager(include_path=str(tmp_path / "yaml"), include_defaults=False)
    out = lm_eval.simple_evaluate(model=lm, tasks=["piqa_local", "lambada_local"], task_manager=tm,
                                  bootstrap_iters=0, log_samples=True)

    loaded = load_model(ckpt)
    scorer = Scorer(loaded, load_eval_tokenizer(loaded, tok_dir, None, "work"), batch_size=3)
    ours = {t: evaluate_items(scorer, t, load_task(t, p)) for t, p in files.items()}

    piqa = out["results"]["piqa_local"]
    assert piqa["acc,none"] == pytest.approx(ours["piqa"]["acc"])
    assert piqa["acc_norm,none"] == pytest.approx(ours["piqa"]["acc_norm"])
    for sample in out["samples"]["piqa_local"]:
        lls = [r[0][0] for r in sample["resps"]]
        assert lls == pytest.approx(ours["piqa"]["items"][sample["doc_id"]]["lls"], abs=1e-4)
    lam = out["results"]["lambada_local"]
    assert lam["acc,none"] == pytest.approx(ours["lambada"]["acc"])
    assert math.log(lam["perplexity,none"]) == pytest.approx(math.log(ours["lambada"]["perplexity"]), abs=1e-4)


def test_rolling_loglikelihood_covers_every_token(tmp_path_factory):
    import torch
    import torch.nn.functional as F
    from lm_eval.api.instance import Instance
    from symboliclight.model.lm_eval_adapter import SymbolicLightLM

    ckpt = train_checkpoint(tmp_path_factory, "sl")
    lm = SymbolicLightLM(checkpoint=str(ckpt), tokenizer=str(tokenizer_dir(tmp_path_factory)), device="cpu")
    text = "def main():\n    return 0\n" * 3  # shorter than the 64-token context: one window
    req = Instance("loglikelihood_rolling", {}, (text,), 0)
    (total,) = lm.loglikelihood_rolling([req])
    ids = [lm.prefix_token_id] + lm.tok_encode(text)
    x = torch.tensor(ids)[None]
    with torch.no_grad():
        logp = F.log_softmax(lm.loaded.net(x[:, :-1]).logits.double(), dim=-1)[0]
    assert total == pytest.approx(float(logp.gather(-1, x[0, 1:, None]).sum()), abs=1e-3)
