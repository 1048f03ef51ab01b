"""Dedup benchmark: near-duplicate recall / false-positive rate per language, and throughput.

    python bench/dedup_bench.py [--bases 300 --copies 5] [--corpus VERSION_OR_PATH --workdir DIR]
                                [--tasks 2] [--no-datatrove] [--json PATH]

1. Quality: the generated benchmark (`pipeline/stages/neardup_bench.py`): edited copies of real zh
   and en text, binned by their actual shingle-set Jaccard; recall at J >= 0.8 (target >= 0.95),
   false-positive rate at J <= 0.5 (target <= 1%).
2. Speed of signature building (exact digest + shingles + MinHash, the per-document cost) per
   language, next to datatrove's MinHash stage 1 (`get_shingles` + `get_signature`, which splits words
   with spaCy for English and jieba for Chinese) on the same documents; and the clustering step.
3. With `--corpus`: the whole dedup stage under the runner (datatrove executor, `--tasks`) on that
   corpus, documents/s and MB/s end to end.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from symboliclight.pipeline.stages.dedup import DedupConfig, SignatureBuilder, decide, load_dedup_config
from symboliclight.pipeline.stages.neardup_bench import BenchConfig, base_texts, evaluate, generate


def quality(cfg: DedupConfig, bench: BenchConfig, corpus: str | None) -> tuple[dict, dict[str, list[str]]]:
    out, docs_by_lang = {}, {}
    for lang in ("zh", "en"):
        bases = base_texts(lang, bench, corpus, cfg.minhash, cfg.shingles.n)
        docs, pairs = generate(bases, lang, bench, cfg.shingles.n)
        t0 = time.perf_counter()
        r = evaluate(docs, pairs, cfg.minhash, cfg.shingles.n)
        out[lang] = {**r.__dict__, "seconds": time.perf_counter() - t0, "documents": len(docs)}
        docs_by_lang[lang] = docs
    return out, docs_by_lang


def ours_speed(cfg: DedupConfig, texts: list[str]) -> dict:
    b = SignatureBuilder(cfg)
    t0 = time.perf_counter()
    for i, t in enumerate(texts):
        b.add(str(i), t)
    sig_s = time.perf_counter() - t0
    arrays = b.arrays()
    t0 = time.perf_counter()
    decide(arrays, cfg)
    cluster_s = time.perf_counter() - t0
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    return {"documents": len(texts), "mb": mb, "signature_seconds": sig_s, "docs_per_s": len(texts) / sig_s,
            "mb_per_s": mb / sig_s, "cluster_seconds": cluster_s}


def datatrove_speed(texts: list[str], lang: str) -> dict:
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    with tempfile.TemporaryDirectory() as tmp:
        step = MinhashDedupSignature(output_folder=tmp, config=MinhashConfig(), language="cmn" if lang == "zh" else "en")
        step.get_signature(step.get_shingles(texts[0]))  # load the word tokenizer outside the timing
        t0 = time.perf_counter()
        for t in texts:
            sh = step.get_shingles(t)
            if sh.size:
                step.get_signature(sh)
        s = time.perf_counter() - t0
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    return {"documents": len(texts), "mb": mb, "seconds": s, "docs_per_s": len(texts) / s, "mb_per_s": mb / s}


def stage_speed(corpus: str, workdir: str, tasks: int) -> dict:
    from symboliclight.pipeline.artifacts import resolve
    from symboliclight.pipeline.stages import get_stage
    from symboliclight.pipeline.stages.executors import ExecutorConfig
    from symboliclight.pipeline.stages.runner import load_stage_config, run_stage

    art = resolve(corpus, "corpus", workdir)
    counts = art.manifest.get("counts", {})
    stage = get_stage("dedup")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_stage(stage, art, load_stage_config(stage), workdir=tmp, executor=ExecutorConfig(tasks=tasks))
        s = time.perf_counter() - t0
        summary = res.artifact.manifest["dedup"]
    docs = summary["documents"]
    mb = counts.get("bytes", 0) / 1e6
    return {"corpus": str(art.path), "tasks": tasks, "seconds": s, "documents": docs, "mb": mb,
            "docs_per_s": docs / s, "mb_per_s": mb / s if mb else math.nan, "dedup": summary}


def _fmt_rate(x: float) -> str:
    return "   -  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:6.3f}"


def print_tables(result: dict) -> None:
    q = result["quality"]
    print("near-duplicate benchmark: detected share of (base, edited copy) pairs by actual Jaccard")
    print(f"{'Jaccard bin':<14}" + "".join(f"{lang + ' pairs':>10}{lang + ' rate':>9}" for lang in q))
    bins = q["zh"]["bins"]
    for i, b in enumerate(bins):
        row = f"[{b['lo']:.2f}, {b['hi']:.2f}) "
        for lang in q:
            bb = q[lang]["bins"][i]
            row += f"{bb['pairs']:>10}{_fmt_rate(bb['rate']):>9}"
        print(row)
    print(f"{'':<14}" + "".join(f"{'recall':>10}{'FPR':>9}" for _ in q))
    print(f"{'summary':<14}" + "".join(f"{q[lang]['recall']:>10.4f}{q[lang]['fpr']:>9.4f}" for lang in q))
    print(f"{'pairs (n)':<14}" + "".join(f"{q[lang]['recall_pairs']:>10}{q[lang]['fpr_pairs']:>9}" for lang in q))
    print("targets: recall >= 0.95 at J >= 0.8, FPR <= 0.01 at J <= 0.5; unrelated pairs detected: "
          + ", ".join(f"{lang} {q[lang]['unrelated_detected']}" for lang in q))
    print()
    print(f"{'signatures':<28}{'docs':>8}{'MB':>8}{'docs/s':>10}{'MB/s':>8}")
    for lang, s in result["speed"].items():
        print(f"{'ours ' + lang:<28}{s['documents']:>8}{s['mb']:>8.2f}{s['docs_per_s']:>10.0f}{s['mb_per_s']:>8.2f}"
              f"   (+ clustering {s['cluster_seconds']:.3f} s)")
        d = result.get("datatrove", {}).get(lang)
        if d:
            print(f"{'datatrove stage 1 ' + lang:<28}{d['documents']:>8}{d['mb']:>8.2f}{d['docs_per_s']:>10.0f}"
                  f"{d['mb_per_s']:>8.2f}   ({s['mb_per_s'] / d['mb_per_s']:.1f}x slower than ours)")
    if "stage" in result:
        s = result["stage"]
        print(f"\ndedup stage end to end on {s['corpus']} ({s['tasks']} tasks): {s['documents']:,} docs, "
              f"{s['mb']:.1f} MB in {s['seconds']:.1f} s = {s['docs_per_s']:.0f} docs/s, {s['mb_per_s']:.2f} MB/s; "
              f"exact_dup {s['dedup']['exact_dup']}, near_dup {s['dedup']['near_dup']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bases", type=int, default=300, help="base documents per language")
    ap.add_argument("--copies", type=int, default=5, help="edited copies per base document")
    ap.add_argument("--corpus", help="corpus version or path: source of base texts and of the end-to-end run")
    ap.add_argument("--workdir", default="work")
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--no-datatrove", action="store_true", help="skip datatrove's stage-1 reference timing")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    cfg = load_dedup_config()
    bench = BenchConfig(bases_per_lang=args.bases, copies_per_base=args.copies)
    corpus_path = None
    if args.corpus:
        from symboliclight.pipeline.artifacts import resolve

        corpus_path = str(resolve(args.corpus, "corpus", args.workdir).path)
    q, docs = quality(cfg, bench, corpus_path)
    result: dict = {"config": {"bases": args.bases, "copies": args.copies, "n": cfg.shingles.n,
                               "bands": cfg.minhash.bands, "rows": cfg.minhash.rows,
                               "threshold": cfg.minhash.threshold}, "quality": q, "speed": {}, "datatrove": {}}
    for lang, texts in docs.items():
        result["speed"][lang] = ours_speed(cfg, texts)
        if not args.no_datatrove:
            result["datatrove"][lang] = datatrove_speed(texts, lang)
    if corpus_path:
        result["stage"] = stage_speed(corpus_path, args.workdir, args.tasks)
    print_tables(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=_json_default) + "\n", encoding="utf-8")
    ok = all(q[lang]["recall"] >= 0.95 and q[lang]["fpr"] <= 0.01 for lang in q)
    return 0 if ok else 1


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
