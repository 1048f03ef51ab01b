"""`symboliclight eval ppl|mc|generate` and `symboliclight study ablations`.

    symboliclight eval ppl --checkpoint CKPT --shards VERSION [--seq-len N] [--batch-size N]
                           [--max-windows-per-domain N] [--device auto|cpu|cuda] [--json]
    symboliclight eval mc --checkpoint CKPT --task piqa|arc_easy|hellaswag|lambada|sciq --data FILE
                          [--tokenizer VERSION] [--shards VERSION] [--json]
    symboliclight eval generate --checkpoint CKPT --prompt TEXT [--max-new-tokens N] [--temperature T]
                          [--top-k K] [--top-p P] [--repetition-penalty R]
                          [--entropy-adaptive [194m|0.8b]] [--seed S] [--no-cache] [--json]
    symboliclight study ablations --config NAME|PATH [--shards VERSION] [--out DIR] [--set k=v ...]

CKPT is a checkpoint file or a run directory (its newest checkpoint). mc and generate need the
tokenizer: `--tokenizer`, else the one that made `--shards`, else the one of the shards the run
trained on (found in the workdir).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from symboliclight.pipeline.cli_options import common, print_json
from symboliclight.pipeline.errors import UserError


def _checkpoint_path(ref: str) -> Path:
    path = Path(ref)
    if path.is_dir():
        from .checkpointing import list_checkpoints

        found = list_checkpoints(path)
        if not found:
            raise UserError(f"{path}: no step-*.ckpt checkpoint in this directory")
        return found[-1]
    return path


def _common_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="checkpoint file, or a run directory (newest checkpoint)")
    p.add_argument("--device", default="auto", help="auto (CUDA when visible), cpu, cuda, cuda:N")
    p.add_argument("--json", action="store_true", help="print JSON")


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("eval", help="evaluate a checkpoint: perplexity, zero-shot tasks, generation",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    esub = ev.add_subparsers(dest="eval_command", metavar="ACTION")
    esub.required = True

    p = esub.add_parser("ppl", parents=[common()], help="validation PPL overall and per domain, sparsity, energy estimate")
    _common_model_args(p)
    p.add_argument("--shards", required=True, help="shards version id, `latest`, or a path")
    p.add_argument("--seq-len", type=int, help="window length (default: the run's training seq_len)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-windows-per-domain", type=int, help="cap per domain (default: every window)")
    p.add_argument("--precision", default="auto", choices=("auto", "32", "bf16"),
                   help="auto: bf16 autocast on CUDA (the reference's eval), fp32 on CPU")
    p.set_defaults(func=cmd_ppl)

    p = esub.add_parser("mc", parents=[common()], help="zero-shot log-likelihood scoring on a local JSONL task file")
    _common_model_args(p)
    from .mc_tasks import TASKS

    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--data", required=True, help="JSONL file in lm-evaluation-harness's record format for the task")
    p.add_argument("--tokenizer", help="tokenizer version or path (default: that of --shards or the training shards)")
    p.add_argument("--shards", help="shards whose tokenizer to use")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, help="score only the first N records")
    p.set_defaults(func=cmd_mc)

    p = esub.add_parser("generate", parents=[common()], help="sample text, streamed to the terminal")
    _common_model_args(p)
    p.add_argument("--prompt", required=True)
    p.add_argument("--tokenizer", help="tokenizer version or path (default: that of --shards or the training shards)")
    p.add_argument("--shards", help="shards whose tokenizer to use")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.6, help="0 = greedy (default 0.6, the reference's audit)")
    p.add_argument("--top-k", type=int, default=20, help="0 = off (default 20, the reference's audit)")
    p.add_argument("--top-p", type=float, default=1.0, help="1 = off")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="1 = off")
    p.add_argument("--entropy-adaptive", nargs="?", const="194m", default="off", choices=("off", "194m", "0.8b"),
                   help="entropy-adaptive temperature: 194m (flat → colder, the default when given) or 0.8b "
                        "(flat → hotter)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute the whole sequence each step")
    p.add_argument("--no-bos", action="store_true", help="do not start the prompt with BOS")
    p.set_defaults(func=cmd_generate)

    st = sub.add_parser("study", help="controlled studies over several training runs")
    ssub = st.add_subparsers(dest="study_command", metavar="ACTION")
    ssub.required = True
    p = ssub.add_parser("ablations", parents=[common()],
                        help="train the full model, its ablations and the matched GPT-2; table and plots")
    p.add_argument("--config", "-c", required=True, help="shipped study config (configs/study/NAME.yaml) or a path")
    p.add_argument("--shards", help="shards version id, `latest`, or a path (overrides the config)")
    p.add_argument("--out", help="study directory (default: <workdir>/studies/<name>)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override a study config key, e.g. --set seeds=[1,2,3]")
    p.add_argument("--json", action="store_true", help="print the study summary as JSON")
    p.set_defaults(func=cmd_ablations)


def _load(args: argparse.Namespace):
    from .eval_checkpoint import load_model, pick_device

    device = pick_device(args.device)
    return load_model(_checkpoint_path(args.checkpoint), device), device


def cmd_ppl(args: argparse.Namespace) -> int:
    from .eval_ppl import PplConfig, evaluate_ppl, format_ppl

    cfg = PplConfig(seq_len=args.seq_len, batch_size=args.batch_size,
                    max_windows_per_domain=args.max_windows_per_domain, precision=args.precision)
    loaded, device = _load(args)
    result = evaluate_ppl(loaded, args.shards, cfg, workdir=args.workdir, device=device)
    print_json(result) if args.json else print(format_ppl(result))
    return 0


def cmd_mc(args: argparse.Namespace) -> int:
    from .eval_checkpoint import load_eval_tokenizer
    from .eval_mc import Scorer, evaluate_items
    from .mc_tasks import load_task

    if args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        raise UserError("--batch-size and --limit must be positive")
    items = load_task(args.task, args.data)
    if args.limit:
        items = items[:args.limit]
    loaded, device = _load(args)
    tok = load_eval_tokenizer(loaded, args.tokenizer, args.shards, args.workdir)
    result = evaluate_items(Scorer(loaded, tok, batch_size=args.batch_size, device=device), args.task, items)
    result = {"checkpoint": str(loaded.path), "step": loaded.step, "data": str(args.data), **result}
    if args.json:
        print_json(result)
        return 0
    line = f"{args.task}: n={result['n']} acc={result['acc']:.4f} (±{result['acc_stderr']:.4f})"
    if "acc_norm" in result:
        line += f" acc_norm={result['acc_norm']:.4f} (±{result['acc_norm_stderr']:.4f})"
    if "perplexity" in result:
        line += f" perplexity={result['perplexity']:.4g}"
    print(line)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .eval_checkpoint import load_eval_tokenizer
    from .generate import GenerationConfig, generate_text

    cfg = GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                           top_p=args.top_p, repetition_penalty=args.repetition_penalty,
                           entropy_adaptive=args.entropy_adaptive, seed=args.seed, use_cache=not args.no_cache,
                           add_bos=not args.no_bos)
    loaded, _ = _load(args)
    tok = load_eval_tokenizer(loaded, args.tokenizer, args.shards, args.workdir)
    result = generate_text(loaded, tok, args.prompt, cfg, stream=None if args.json else sys.stdout)
    if args.json:
        print_json({**result, "settings": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}})
    return 0


def cmd_ablations(args: argparse.Namespace) -> int:
    from .ablation_study import load_study_config, run_study

    overrides = list(args.set)
    if args.shards:
        import json

        overrides.append(f"shards={json.dumps(args.shards)}")
    cfg = load_study_config(args.config, overrides)
    summary = run_study(cfg, workdir=args.workdir, out=args.out)
    if args.json:
        print_json(summary)
    else:
        print(f"study {cfg.name}: {len(summary['runs'])} runs; table: {summary['table']}")
        print(Path(summary["table"]).read_text(encoding="utf-8"))
    return 0
