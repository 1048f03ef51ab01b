"""Tokenizer benchmark: our BPE next to SentencePiece, on the same text in the same run.

Sections (each prints a table; `--json PATH` writes all numbers):
- train: training time and peak memory (each trainer in its own process), ours vs SentencePiece
  BPE with the reference's trainer settings (spec §8) on the same training sample.
- compression: chars/token per language on the held-out text: ours, that SentencePiece, and the
  reference model (`--reference`).
- encode: batch-encode MB/s on the held-out text, 1 thread and all threads, ours vs SentencePiece.
- `--pretok`: model x pre-tokeniser variants (compression, training time, encode speed).
- `--weights`: training-sample language weightings (compression per language vs the reference).

Usage: python bench/tokenizer_bench.py --workdir work --corpus latest [--pretok] [--weights] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from symboliclight.pipeline.artifacts import resolve
from symboliclight.tokenizer.config import TokenizerConfig, load_config
from symboliclight.tokenizer.metrics import compression
from symboliclight.tokenizer.splits import corpus_split, heldout_sample

LANGS = ("zh", "en", "code", "mixed")


# --------------------------------------------------------------------------- child processes

def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_train_ours(spec: dict[str, Any]) -> dict[str, Any]:
    from symboliclight.tokenizer.train import train_on_texts

    cfg = load_config(spec.get("config"), spec.get("overrides", []))
    texts = json.loads(Path(spec["texts"]).read_text(encoding="utf-8"))
    base = _peak_mb()
    t0 = time.perf_counter()
    tok = train_on_texts(texts, cfg)
    seconds = time.perf_counter() - t0
    tok.save(spec["out"], pretty=True)
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(_peak_mb(), 1), "rss_before_mb": round(base, 1)}


def child_train_sp(spec: dict[str, Any]) -> dict[str, Any]:
    import sentencepiece as spm
    from symboliclight.tokenizer.config import REFERENCE_SPECIALS

    base = _peak_mb()
    t0 = time.perf_counter()
    spm.SentencePieceTrainer.train(
        input=spec["lines"], model_prefix=spec["prefix"], model_type="bpe", vocab_size=spec["vocab_size"],
        character_coverage=0.9999, byte_fallback=True, split_digits=True, normalization_rule_name="nmt_nfkc",
        remove_extra_whitespaces=True, add_dummy_prefix=True, input_sentence_size=5_000_000,
        shuffle_input_sentence=True, max_sentencepiece_length=24, max_sentence_length=16384,
        split_by_unicode_script=True, split_by_whitespace=True, split_by_number=True, num_threads=spec["threads"],
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, user_defined_symbols=REFERENCE_SPECIALS[4:], minloglevel=2,
        seed_sentencepiece_size=1_000_000, train_extremely_large_corpus=False,
    )
    return {"seconds": round(time.perf_counter() - t0, 2), "peak_rss_mb": round(_peak_mb(), 1), "rss_before_mb": round(base, 1)}


def child_encode(spec: dict[str, Any]) -> dict[str, Any]:
    """Best-of-N batch encode rate in a fresh process (RAYON_NUM_THREADS is read once per process)."""
    texts = json.loads(Path(spec["texts"]).read_text(encoding="utf-8"))
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    threads = spec["threads"]
    if spec["kind"] == "sp":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=spec["model"])

        def run() -> None:
            sp.encode(texts, num_threads=threads)
    elif spec["kind"] == "fast":
        from symboliclight.tokenizer.fast_encode import TiktokenEncoder
        from tokenizers import Tokenizer

        fast = TiktokenEncoder.from_tokenizer(Tokenizer.from_file(spec["model"]), threads)
        if fast is None:
            return {"mb_per_s": None, "note": "not a model tiktoken runs"}

        def run() -> None:
            fast.encode_batch(texts)
    else:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(spec["model"])
        tok.encode_special_tokens = True
        batch = spec.get("batch_size") or len(texts)
        method = spec.get("method", "encode_batch_fast")

        def run() -> None:
            for i in range(0, len(texts), batch):
                encs = getattr(tok, method)(texts[i:i + batch], add_special_tokens=False)
                [e.ids for e in encs]
    run()  # warm-up: thread pool, caches
    best = float("inf")
    for _ in range(spec.get("repeats", 5)):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return {"mb_per_s": round(n_bytes / 1e6 / best, 3), "seconds": round(best, 4), "bytes": n_bytes}


CHILDREN = {"train_ours": child_train_ours, "train_sp": child_train_sp, "encode": child_encode}


def run_child(kind: str, spec: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(spec)], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {kind} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- measurements

class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="tokbench-"))
        self.corpus = resolve(args.corpus, "corpus", args.workdir)
        self.cfg = load_config(args.config, [], vocab_size=args.vocab_size)
        self.split = corpus_split(self.corpus, self.cfg.heldout.fraction)
        docs = heldout_sample(self.split, self.cfg.heldout.max_mb)
        self.heldout = docs
        self.heldout_file = self.tmp / "heldout.json"
        self.heldout_file.write_text(json.dumps([d.text for d in docs], ensure_ascii=False), encoding="utf-8")
        self.threads = os.cpu_count() or 1

    def sample_files(self, cfg: TokenizerConfig) -> tuple[Path, Path, int]:
        """The training sample as documents (ours) and as lines (SentencePiece), the same text."""
        from symboliclight.tokenizer.sampling import draw_sample

        sample = draw_sample(self.split, cfg.sample, cfg.seed)
        texts = list(sample.texts(self.split))
        key = abs(hash((cfg.sample.total_mb, json.dumps(cfg.sample.lang_weights, sort_keys=True), cfg.seed)))
        docs_path, lines_path = self.tmp / f"sample-{key}.json", self.tmp / f"sample-{key}.txt"
        if not docs_path.exists():
            docs_path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
            with open(lines_path, "w", encoding="utf-8") as f:
                for t in texts:
                    for line in t.splitlines():
                        if line.strip():
                            f.write(line + "\n")
        return docs_path, lines_path, sum(len(t.encode("utf-8")) for t in texts)

    def train_ours(self, overrides: list[str], name: str) -> tuple[Path, dict[str, Any]]:
        cfg = load_config(self.args.config, overrides, vocab_size=self.args.vocab_size)
        docs_path, _, n_bytes = self.sample_files(cfg)
        out = self.tmp / f"{name}.json"
        res = run_child("train_ours", {"config": self.args.config, "overrides": [*overrides, f"vocab_size={self.args.vocab_size}"],
                                       "texts": str(docs_path), "out": str(out)})
        res["sample_mb"] = round(n_bytes / 1e6, 2)
        return out, res

    def score_hf(self, path: Path) -> dict[str, Any]:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        tok.encode_special_tokens = True
        texts = [d.text for d in self.heldout]
        ids = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
        back = tok.decode_batch(ids, skip_special_tokens=False)
        return compression(texts, [{"lang": d.lang} for d in self.heldout], ids, back, None)

    def score_sp(self, model: str) -> dict[str, Any]:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=model)
        texts = [d.text for d in self.heldout]
        ids = sp.encode(texts, num_threads=self.threads)
        return compression(texts, [{"lang": d.lang} for d in self.heldout], ids, sp.decode(ids), sp.unk_id())

    def encode_rate(self, kind: str, model: str, threads: int, **extra: Any) -> float | None:
        spec = {"kind": kind, "model": model, "threads": threads, "texts": str(self.heldout_file),
                "repeats": self.args.repeats, **extra}
        return run_child("encode", spec, threads=threads if kind == "hf" else None)["mb_per_s"]


def _fmt(x: float | None, width: int) -> str:
    return f"{x:>{width}.2f}" if x is not None else f"{'-':>{width}}"


def row_cpt(comp: dict[str, Any]) -> dict[str, float]:
    return {lang: comp["per_lang"][lang]["chars_per_token"] for lang in LANGS if lang in comp["per_lang"]}


def section_main(b: Bench, out: dict[str, Any]) -> None:
    ours_path, ours_train = b.train_ours([], "ours")
    _, lines_path, _ = b.sample_files(b.cfg)
    sp_prefix = b.tmp / "sp_ref_settings"
    sp_train = run_child("train_sp", {"lines": str(lines_path), "prefix": str(sp_prefix),
                                      "vocab_size": b.args.vocab_size, "threads": b.threads})
    sp_model = str(sp_prefix) + ".model"
    out["train"] = {"ours": ours_train, "sentencepiece_ref_settings": sp_train}
    print(f"\n## training ({b.args.vocab_size:,} vocab, same sample: {ours_train['sample_mb']} MB, {b.threads} threads)")
    print(f"{'trainer':<34}{'seconds':>9}{'peak RSS MB':>13}")
    print(f"{'ours (HF tokenizers ' + b.cfg.model + ')':<34}{ours_train['seconds']:>9.1f}{ours_train['peak_rss_mb']:>13.0f}")
    print(f"{'SentencePiece BPE (ref settings)':<34}{sp_train['seconds']:>9.1f}{sp_train['peak_rss_mb']:>13.0f}")

    comps = {"ours": b.score_hf(ours_path), "sentencepiece_same_text": b.score_sp(sp_model)}
    if b.args.reference and Path(b.args.reference).is_file():
        comps["reference_model"] = b.score_sp(b.args.reference)
    out["compression"] = {k: v for k, v in comps.items()}
    print(f"\n## compression on held-out text ({len(b.heldout)} documents), chars/token and round-trip rate")
    print(f"{'tokenizer':<26}" + "".join(f"{lang:>9}" for lang in LANGS) + f"{'round-trip':>12}")
    for name, comp in comps.items():
        cpt = row_cpt(comp)
        print(f"{name:<26}" + "".join(f"{cpt.get(lang, float('nan')):>9.3f}" for lang in LANGS)
              + f"{comp['total']['round_trip_rate']:>12.2%}")

    rates: dict[str, dict[str, float]] = {}
    models = {"ours (tokenizers)": ("hf", str(ours_path)), "ours (tiktoken engine)": ("fast", str(ours_path)),
              "sentencepiece_same_text": ("sp", sp_model)}
    if "reference_model" in comps:
        models["reference_model"] = ("sp", b.args.reference)
    for rnd in range(b.args.rounds):  # alternate the tools so machine noise hits both alike
        for name, (kind, model) in models.items():
            for th in sorted({1, b.threads}):
                r = b.encode_rate(kind, model, th)
                key = f"{th} thread" + ("s" if th > 1 else "")
                prev = rates.get(name, {}).get(key)
                rates.setdefault(name, {})[key] = r if prev is None or (r is not None and r > prev) else prev
        del rnd
    out["encode_mb_per_s"] = rates
    print(f"\n## batch encode MB/s on the held-out text (best of {b.args.rounds} rounds x {b.args.repeats} passes)")
    keys = sorted({k for v in rates.values() for k in v})
    print(f"{'tokenizer':<26}" + "".join(f"{k:>12}" for k in keys))
    for name, v in rates.items():
        print(f"{name:<26}" + "".join(_fmt(v.get(k), 12) for k in keys))

    variants = {"encode_batch (offsets)": {"method": "encode_batch"}, "encode_batch_fast, 64-doc batches": {"batch_size": 64}}
    extra = {}
    for label, kw in variants.items():
        extra[label] = b.encode_rate("hf", str(ours_path), b.threads, **kw)
    out["encode_variants_ours"] = extra
    print("ours, other batch settings (all threads): " + ", ".join(f"{k} {v:.2f}" for k, v in extra.items()))


PRETOK_VARIANTS = [
    ("byte_level", "gpt2"), ("byte_level", "script"), ("byte_level", "script_capped"),
    ("byte_fallback", "gpt2"), ("byte_fallback", "script"), ("byte_fallback", "script_capped"),
]


def section_pretok(b: Bench, out: dict[str, Any]) -> None:
    rows = []
    for model, pretok in PRETOK_VARIANTS:
        path, tr = b.train_ours([f"model={model}", f"pretokenizer={pretok}"], f"pretok-{model}-{pretok}")
        comp = b.score_hf(path)
        rate = b.encode_rate("hf", str(path), b.threads)
        sp_rate = b.encode_rate("sp", b.args.reference, b.threads) if Path(b.args.reference).is_file() else None
        fast = b.encode_rate("fast", str(path), b.threads)
        rows.append({"model": model, "pretokenizer": pretok, "chars_per_token": row_cpt(comp),
                     "round_trip_rate": comp["total"]["round_trip_rate"], "train_seconds": tr["seconds"],
                     "peak_rss_mb": tr["peak_rss_mb"], "encode_mb_per_s": rate, "encode_mb_per_s_tiktoken": fast,
                     "reference_encode_mb_per_s_same_moment": sp_rate})
    out["pretokenizers"] = rows
    print(f"\n## model x pre-tokeniser ({b.args.vocab_size:,} vocab): chars/token on held-out text")
    print(f"{'model':<15}{'pretok':<15}" + "".join(f"{lang:>8}" for lang in LANGS)
          + f"{'exact':>8}{'train s':>9}{'HF MB/s':>9}{'tiktoken':>9}{'ref SP':>8}")
    for r in rows:
        print(f"{r['model']:<15}{r['pretokenizer']:<15}" + "".join(f"{r['chars_per_token'].get(lang, float('nan')):>8.3f}" for lang in LANGS)
              + f"{r['round_trip_rate']:>8.1%}{r['train_seconds']:>9.1f}" + _fmt(r["encode_mb_per_s"], 9)
              + _fmt(r["encode_mb_per_s_tiktoken"], 9) + _fmt(r["reference_encode_mb_per_s_same_moment"], 8))


WEIGHTINGS = [
    {"zh": 0.4, "en": 0.35, "code": 0.15, "mixed": 0.1},
    {"zh": 0.5, "en": 0.3, "code": 0.1, "mixed": 0.1},
    {"zh": 0.6, "en": 0.25, "code": 0.08, "mixed": 0.07},
    {"zh": 0.7, "en": 0.2, "code": 0.05, "mixed": 0.05},
]


def section_weights(b: Bench, out: dict[str, Any]) -> None:
    ref = row_cpt(b.score_sp(b.args.reference)) if b.args.reference and Path(b.args.reference).is_file() else {}
    rows = []
    for w in WEIGHTINGS:
        ov = [f"sample.lang_weights={json.dumps(w)}"]
        path, tr = b.train_ours(ov, "weights-" + "-".join(f"{k}{v}" for k, v in w.items()))
        rows.append({"lang_weights": w, "chars_per_token": row_cpt(b.score_hf(path)), "train_seconds": tr["seconds"]})
    out["weights"] = {"reference": ref, "rows": rows}
    print(f"\n## training-sample language weights ({b.args.vocab_size:,} vocab): chars/token on held-out text")
    print(f"{'zh/en/code/mixed weights':<28}" + "".join(f"{lang:>8}" for lang in LANGS) + "   beats reference on zh and en")
    for r in rows:
        w = "/".join(str(r["lang_weights"].get(k, 0)) for k in LANGS)
        c = r["chars_per_token"]
        beats = bool(ref) and all(c.get(lang, 0) >= ref.get(lang, 9e9) for lang in ("zh", "en"))
        print(f"{w:<28}" + "".join(f"{c.get(lang, float('nan')):>8.3f}" for lang in LANGS) + f"   {'yes' if beats else 'no'}")
    if ref:
        print(f"{'reference model':<28}" + "".join(f"{ref.get(lang, float('nan')):>8.3f}" for lang in LANGS))


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(CHILDREN[sys.argv[2]](json.loads(sys.argv[3]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="work")
    p.add_argument("--corpus", default="latest", help="corpus version, 'latest' or path (build one with `symboliclight corpus sample`)")
    p.add_argument("--config", default=None, help="tokenizer YAML (default: configs/tokenizer/default.yaml)")
    p.add_argument("--vocab-size", type=int, default=48_000)
    p.add_argument("--reference", default="../shared/reference/sl_tokenizer_194m.model",
                   help="the reference SentencePiece model (relative: from here, then the project root)")
    p.add_argument("--pretok", action="store_true", help="also compare model x pre-tokeniser variants")
    p.add_argument("--weights", action="store_true", help="also compare training-sample language weightings")
    p.add_argument("--only", choices=("main", "pretok", "weights"), default=None, help="run one section only")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None, metavar="PATH")
    args = p.parse_args(argv)
    from symboliclight.tokenizer.reference import reference_path

    args.reference = str(reference_path(args.reference) or "")
    b = Bench(args)
    out: dict[str, Any] = {"corpus": b.corpus.version, "vocab_size": args.vocab_size, "threads": b.threads,
                           "heldout_documents": len(b.heldout), "heldout": b.split.describe()}
    sections = [args.only] if args.only else ["main"] + (["pretok"] if args.pretok else []) + (["weights"] if args.weights else [])
    for s in sections:
        {"main": section_main, "pretok": section_pretok, "weights": section_weights}[s](b, out)
        sys.stdout.flush()
        if args.json:  # after every section, so a long run leaves its numbers behind
            Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
