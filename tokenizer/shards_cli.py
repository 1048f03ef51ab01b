"""`symboliclight shards pack | verify | info`: the token-shard subcommands."""

from __future__ import annotations

import argparse
import os
import sys

from symboliclight.pipeline.artifacts import resolve
from symboliclight.pipeline.cli_options import common, print_json


def register(sub: argparse._SubParsersAction) -> None:
    shards = sub.add_parser("shards", help="pack a corpus into versioned token shards; verify and inspect them")
    ssub = shards.add_subparsers(dest="shards_command", metavar="ACTION")
    ssub.required = True

    p = ssub.add_parser("pack", parents=[common()], help="tokenize a corpus version into train/val token shards")
    p.add_argument("--corpus", required=True, metavar="VERSION", help="corpus version id, 'latest', or a path")
    p.add_argument("--tokenizer", required=True, metavar="VERSION", help="tokenizer version id, 'latest', or a path")
    p.add_argument("--config", default=None, help="shards config YAML (default: configs/data/shards.yaml)")
    p.add_argument("--shard-tokens", type=int, default=None, help="max tokens per shard (documents are never split)")
    p.add_argument("--seed", type=int, default=None, help="seed of the document-order shuffle")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="id-hash hold-out share when the corpus has no val/ split")
    p.add_argument("--workers", type=int, default=0, help="encoder threads (0 = all cores); never changes the bytes")
    p.add_argument("--out", default=None, help="write the artifact here instead of <workdir>/shards/<version>")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_pack)

    v = ssub.add_parser("verify", parents=[common()], help="check sizes, sha256, index, EOS and id range of shards")
    v.add_argument("dir", metavar="DIR", help="shards artifact directory, version id or 'latest'")
    v.add_argument("--quick", action="store_true", help="sizes, index and domain maps only (skip reading the token files)")
    v.set_defaults(func=cmd_verify)

    i = ssub.add_parser("info", parents=[common()], help="summarise a shards manifest")
    i.add_argument("dir", metavar="DIR", help="shards artifact directory, version id or 'latest'")
    i.add_argument("--json", action="store_true", help="print JSON instead of a table")
    i.set_defaults(func=cmd_info)


def cmd_pack(args: argparse.Namespace) -> int:
    if args.workers > 0:  # read by the encoder's thread pool when it first starts
        os.environ.setdefault("RAYON_NUM_THREADS", str(args.workers))
    from .pack import load_pack_config, pack
    from .shards import format_info, summarize

    cfg = load_pack_config(args.config, shard_tokens=args.shard_tokens, seed=args.seed, val_fraction=args.val_fraction)
    bar = _ProgressBar()
    try:
        result = pack(args.corpus, args.tokenizer, cfg, workdir=args.workdir, out=args.out, progress=bar)
    finally:
        bar.close()
    info = summarize(result.artifact)
    if args.json:
        print_json({"created": result.created, **info})
    else:
        state = "packed" if result.created else "up to date (rerun is a no-op)"
        print(f"{state}: shards {result.artifact.version}")
        print(format_info(info))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .shards import open_shards

    art = resolve(args.dir, "shards", args.workdir)
    level = "sizes" if args.quick else "full"
    ss = open_shards(art, level=level)
    n = sum(len(v) for v in ss.shards.values())
    print(f"ok: shards {ss.version} at {ss.path}: {n} shards, {ss.split_tokens('train'):,} train and "
          f"{ss.split_tokens('val'):,} val tokens verified ({level})")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .shards import format_info, summarize

    info = summarize(resolve(args.dir, "shards", args.workdir))
    if args.json:
        print_json(info)
    else:
        print(format_info(info))
    return 0


class _ProgressBar:
    """A tqdm bar on a terminal (documents encoded, then shards written); silent otherwise."""

    def __init__(self) -> None:
        self._bar = None
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        from tqdm import tqdm

        kind = stage.split(":")[0]
        if kind == "file":
            return
        if kind != self._stage:
            self.close()
            self._stage = kind
            self._bar = tqdm(desc="encode documents" if kind == "encode" else stage, unit="doc",
                             total=total or None, file=sys.stderr)
        assert self._bar is not None
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
