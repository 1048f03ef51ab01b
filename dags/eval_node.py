"""The graph's last node: perplexity on the validation shards, and a generated sample per prompt.

Both come from the evaluation layer (`model/eval_ppl.py`, `model/generate.py`); this node only
writes their results as an artifact (`eval/<version>/`: `ppl.json`, `generations.json`, `eval.md`,
manifest last), so the evaluation is skipped like any finished stage and reruns when the model,
the shards or the settings change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from symboliclight.pipeline.artifacts import atomic_write_text, prepare_dir, write_manifest

from .nodes import NodeContext, _check


def _markdown(ppl: dict[str, Any], gens: list[dict[str, Any]], format_ppl: Any) -> str:
    lines = ["# Evaluation", "", "## Validation perplexity", "", "```", format_ppl(ppl), "```", "",
             "## Generated samples", ""]
    for g in gens:
        lines += [f"**{g['prompt']}** → {g['completion']}", ""]
    return "\n".join(lines)


def run_eval(ctx: NodeContext, checkpoint: Path) -> str:
    from symboliclight.model.eval_checkpoint import load_eval_tokenizer, load_model, pick_device
    from symboliclight.model.eval_ppl import evaluate_ppl, format_ppl
    from symboliclight.model.generate import generate_text

    plan = ctx.planned.node.config
    root = prepare_dir(ctx.planned.path)  # a partial evaluation is simply redone (it is short)
    device = pick_device(plan.device)
    loaded = load_model(checkpoint, device)
    shards = ctx.input_path("shards")
    ppl = evaluate_ppl(loaded, shards, plan.ppl, workdir=ctx.workdir, device=device)
    # relative to the workdir, so the same evaluation gives the same bytes in any workdir
    ppl["checkpoint"] = os.path.relpath(checkpoint, ctx.workdir)
    tok = load_eval_tokenizer(loaded, None, shards, ctx.workdir)
    gens = []
    for prompt in plan.prompts:
        g = generate_text(loaded, tok, prompt, plan.generate, stream=None)
        gens.append({"prompt": g["prompt"], "completion": g["completion"], "prompt_tokens": g["prompt_tokens"],
                     "new_tokens": len(g["new_tokens"])})
    files = [root / "ppl.json", root / "generations.json", root / "eval.md"]
    atomic_write_text(files[0], json.dumps(ppl, ensure_ascii=False, indent=2, default=str) + "\n")
    atomic_write_text(files[1], json.dumps(gens, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(files[2], _markdown(ppl, gens, format_ppl) + "\n")
    counts = {"windows": ppl["windows"], "tokens": ppl["tokens"], "ppl": ppl["ppl"], "loss": ppl["loss"]}
    art = write_manifest(root, stage="eval", version=ctx.planned.version, parents=dict(ctx.planned.parents),
                         config=ctx.planned.node.identity, counts=counts, files=files,
                         extra={"checkpoint": ppl["checkpoint"]})
    _check(ctx, art.version)
    ctx.echo(format_ppl(ppl))
    for g in gens:
        ctx.echo(f"generate: {g['prompt']}{g['completion']}")
    return "done"
