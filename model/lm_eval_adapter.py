"""lm-evaluation-harness adapter: the harness drives our checkpoints with its own task configs.

Optional dependency `lm-eval` (0.4.x). Two ways in:

- Python: `lm_eval.simple_evaluate(model=SymbolicLightLM(checkpoint=...), tasks=[...],
  task_manager=lm_eval.tasks.TaskManager(include_path=DIR))`;
- command line: `python -m symboliclight.model.lm_eval_adapter run --model symboliclight
  --model_args checkpoint=CKPT[,tokenizer=VERSION,shards=VERSION,workdir=DIR] --device cpu
  --batch_size 16 --tasks piqa_local --include_path DIR` (the harness's own CLI, with our model
  registered first; device and batch size are the harness's own flags).

The harness fetches task data from the Hub; offline, `write_local_task(task, data_file, dir)`
writes a task YAML that includes the harness's own config for the task and only points its data at
a local JSONL file (`dataset_path: json`), so prompts and metrics stay the harness's.

Scoring goes through `eval_mc.Scorer`, the code `symboliclight eval mc` uses (BOS-prefixed, fresh
state per request), so both report the same log-likelihoods. `loglikelihood_rolling` uses the
harness's disjoint rolling windows of the model's context; `generate_until` uses `generate.py`
(greedy unless the request asks for a temperature).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from symboliclight.pipeline.errors import UserError

try:
    from lm_eval.api.model import TemplateLM
except ImportError:  # the adapter needs the optional dependency; everything else works without it
    TemplateLM = object  # type: ignore[assignment,misc]
    HAVE_LM_EVAL = False
else:
    HAVE_LM_EVAL = True

# Our task name → the harness's task config file (relative to lm_eval/tasks).
HARNESS_TASKS = {
    "piqa": "piqa/piqa.yaml",
    "arc_easy": "arc/arc_easy.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "lambada": "lambada/lambada_openai.yaml",
    "sciq": "sciq/sciq.yaml",
}
REGISTERED_NAME = "symboliclight"


def require_lm_eval() -> None:
    if not HAVE_LM_EVAL:
        raise UserError("the lm-evaluation-harness adapter needs the optional dependency: pip install lm-eval==0.4.13")


class SymbolicLightLM(TemplateLM):  # type: ignore[misc,valid-type]
    """A checkpoint of ours as an lm-eval `LM`."""

    def __init__(self, checkpoint: str, tokenizer: str | None = None, shards: str | None = None,
                 workdir: str = "work", device: str = "auto", batch_size: int | str = 16,
                 max_gen_toks: int | str = 256, **_: Any) -> None:
        require_lm_eval()
        super().__init__()
        from .eval_checkpoint import load_eval_tokenizer, load_model, pick_device
        from .eval_mc import Scorer

        dev = pick_device(device)
        self.loaded = load_model(checkpoint, dev)
        self.tok = load_eval_tokenizer(self.loaded, tokenizer, shards, workdir)
        size = int(batch_size) if str(batch_size).isdigit() else 16  # the harness may say "auto"
        self.scorer = Scorer(self.loaded, self.tok, batch_size=size, device=dev)
        self.max_gen_toks = int(max_gen_toks)

    # -- tokenizer ---------------------------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tok.eos_id

    @property
    def prefix_token_id(self) -> int:
        return self.tok.bos_id

    @property
    def max_length(self) -> int:
        return self.loaded.context

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        return self.tok.encode(string) if string else []

    def tok_decode(self, tokens: list[int], **kwargs: Any) -> str:
        return self.tok.decode(list(tokens))

    # -- requests ----------------------------------------------------------------------------------
    def _loglikelihood_tokens(self, requests: list[tuple[tuple[str, str], list[int], list[int]]], **kwargs: Any
                              ) -> list[tuple[float, bool]]:
        results = self.scorer.loglikelihood_tokens([(ctx, cont) for _, ctx, cont in requests])
        for (key, _, _), res in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood", key, res)
        return results

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        out = []
        for req in requests:
            (text,) = req.args
            windows = [make_disjoint_window(w) for w in get_rolling_token_windows(
                self.tok_encode(text), self.prefix_token_id, self.max_length, 1)]
            lls = self.scorer.loglikelihood_tokens(windows)
            total = sum(ll for ll, _ in lls)
            self.cache_hook.add_partial("loglikelihood_rolling", (text,), total)
            out.append(total)
        return out

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        from .generate import GenerationConfig, generate_ids

        out = []
        for req in requests:
            context, kwargs = req.args
            kwargs = dict(kwargs or {})
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.get("max_gen_toks", self.max_gen_toks))
            temperature = float(kwargs.get("temperature", 0.0)) if kwargs.get("do_sample", False) else 0.0
            cfg = GenerationConfig(max_new_tokens=max_new, temperature=temperature, top_k=0, use_cache=True)
            ids = [self.prefix_token_id] + self.tok_encode(context)
            keep = self.max_length - max_new
            if keep < 1:
                raise UserError(f"max_gen_toks {max_new} leaves no room for a prompt in {self.max_length} tokens")
            ids = ids[-keep:]
            new = generate_ids(self.loaded, ids, cfg, vocab_limit=self.tok.vocab_size, eos_id=self.eot_token_id)
            text = self.tok_decode(new)
            for stop in until:
                if stop and stop in text:
                    text = text[:text.index(stop)]
            self.cache_hook.add_partial("generate_until", (context, kwargs), text)
            out.append(text)
        return out


def register() -> None:
    """Register `symboliclight` in the harness's model registry (after its own models)."""
    require_lm_eval()
    import lm_eval.models  # noqa: F401  (the registry fills itself lazily only when empty)
    from lm_eval.api import registry
    from lm_eval.api.registry import register_model

    if REGISTERED_NAME not in getattr(registry, "model_registry", {}):
        register_model(REGISTERED_NAME)(SymbolicLightLM)


def write_local_task(task: str, data_file: str | Path, out_dir: str | Path, name: str | None = None,
                     split: str = "test") -> Path:
    """A task YAML for `--include_path out_dir`: the harness's config for `task`, data from `data_file`."""
    require_lm_eval()
    import lm_eval

    if task not in HARNESS_TASKS:
        raise UserError(f"unknown task {task!r} (known: {', '.join(HARNESS_TASKS)})")
    base = Path(lm_eval.__file__).parent / "tasks" / HARNESS_TASKS[task]
    name = name or f"{task}_local"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.yaml"
    data = Path(data_file).resolve()
    path.write_text(
        f"include: {base}\n"
        f"task: {name}\n"
        "tag: []\n"
        "dataset_path: json\n"
        "dataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    {split}: {data}\n"
        "training_split: null\nvalidation_split: null\n"
        f"test_split: {split}\n"
        "fewshot_split: null\n",
        encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    """The harness's own CLI with our model registered."""
    register()
    from lm_eval.__main__ import cli_evaluate

    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    cli_evaluate()


if __name__ == "__main__":  # run the package's module, not a second copy of this file as __main__
    from symboliclight.model.lm_eval_adapter import main as _main

    _main()
