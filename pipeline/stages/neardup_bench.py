"""A near-duplicate benchmark generated from real text: edited copies of known Jaccard similarity.

For each base document (real Chinese or English text) the generator makes copies by editing its
shingle units (a Han character, or a word) at random: substitutions, insertions and deletions, the
inserted units drawn from the other documents of the same language. The edit rate is chosen to aim
at a target Jaccard similarity, but what is recorded is the *actual* Jaccard of the two shingle sets
(`shingles.py`), and results are binned by it. `evaluate` runs the dedup decision (banding +
verification, `minhash.py`) over all documents of a language together and reports, per bin, the
share of (base, copy) pairs found; recall is that share for Jaccard >= 0.8, the false-positive rate
that share for Jaccard <= 0.5.

Text sources, in order of preference: documents of a corpus artifact (`--corpus`), or text that
every machine here has: English docstrings of the Python standard library, Chinese UI strings from
the gettext catalogues under `/usr/share/locale/zh_CN/LC_MESSAGES` (the ISO code lists skipped).
"""

from __future__ import annotations

import ast
import gettext
import itertools
import math
import re
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .minhash import MinHashConfig, MinHasher, duplicate_pairs
from .shingles import UNIT_RE, shingles

ZH_LOCALE_DIR = Path("/usr/share/locale/zh_CN/LC_MESSAGES")
_HAN = re.compile(r"[\u4e00-\u9fff]")
RECALL_MIN_J = 0.8
FPR_MAX_J = 0.5
BIN_EDGES = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0 + 1e-9)


@dataclass
class BenchConfig:
    bases_per_lang: int = 60
    copies_per_base: int = 4
    min_target: float = 0.3  # target Jaccard drawn uniformly in [min_target, max_target]
    max_target: float = 1.0
    doc_chars_zh: int = 600  # base document length (Chinese characters)
    doc_words_en: int = 200  # base document length (English words)
    seed: int = 0


@dataclass
class Pair:
    lang: str
    base: int  # index into the language's document list
    copy: int
    target: float
    jaccard: float


# --------------------------------------------------------------------------------------------
# Real text


def english_texts(max_docs: int, words_per_doc: int) -> list[str]:
    """English prose from the docstrings of the Python standard library (sorted file order)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    words: list[str] = []
    out: list[str] = []
    for path in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py")):
        if any(part.startswith(("test", "idlelib")) for part in path.relative_to(stdlib).parts):
            continue
        for doc in _docstrings(path):
            words.extend(doc.split())
            while len(words) >= words_per_doc:
                out.append(" ".join(words[:words_per_doc]))
                words = words[words_per_doc:]
                if len(out) >= max_docs:
                    return out
    return out


def _docstrings(path: Path) -> Iterable[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)]
    docs = (ast.get_docstring(n) for n in nodes)
    return [d for d in docs if d and len(d.split()) >= 30 and len(d) / max(1, len(d.split())) < 9]


def chinese_texts(max_docs: int, chars_per_doc: int, locale_dir: Path = ZH_LOCALE_DIR) -> list[str]:
    """Chinese running text from gettext translations (msgstr values), chunked into documents."""
    files = sorted(p for p in locale_dir.glob("*.mo") if not p.name.startswith("iso_"))
    if not files:
        raise UserError(f"no Chinese gettext catalogues in {locale_dir}; pass --corpus with zh documents")
    out: list[str] = []
    for path in files:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 (the public API has no iteration)
        chunk: list[str] = []
        size = 0
        for key in sorted(catalog, key=str):
            value = catalog[key]
            if not key or not isinstance(value, str) or not _HAN.search(value):
                continue
            chunk.append(" ".join(value.split()))
            size += len(chunk[-1])
            if size >= chars_per_doc:
                out.append("\n".join(chunk))
                chunk, size = [], 0
                if len(out) >= max_docs:
                    return out
    return out


def corpus_texts(art_path: str | Path, lang: str, max_docs: int, min_chars: int) -> list[str]:
    """Documents of language `lang` from a corpus artifact (file order), at least `min_chars` long."""
    from ..artifacts import read_artifact
    from ..corpus_stats import corpus_files
    from ..documents import read_jsonl_zst

    per_file: list[list[str]] = []
    for f in corpus_files(read_artifact(art_path)):
        texts = []
        for doc in read_jsonl_zst(f):
            if doc.metadata.get("lang") == lang and len(doc.text) >= min_chars:
                texts.append(doc.text)
                if len(texts) >= max_docs:
                    break
        per_file.append(texts)
    # Round robin over the files (domains), so no single domain's boilerplate dominates.
    out = [t for group in itertools.zip_longest(*per_file) for t in group if t is not None]
    return out[:max_docs]


# --------------------------------------------------------------------------------------------
# Edits


def _tokens(text: str) -> list[tuple[bool, str]]:
    """The text as alternating (is_unit, piece): units per `shingles.UNIT_RE`, separators kept."""
    out: list[tuple[bool, str]] = []
    last = 0
    for m in UNIT_RE.finditer(text):
        if m.start() > last:
            out.append((False, text[last : m.start()]))
        out.append((True, m.group()))
        last = m.end()
    if last < len(text):
        out.append((False, text[last:]))
    return out


def edit_rate_for(target: float, n: int) -> float:
    """Per-unit edit probability expected to give Jaccard `target` with n-unit shingles.

    An edit changes about n shingles; with a share q of shingles changed, J = (1-q)/(1+q).
    """
    q = (1.0 - target) / (1.0 + target)
    return 1.0 - (1.0 - q) ** (1.0 / n)


def edit_text(text: str, rate: float, vocab: list[str], rng: np.random.Generator, joiner: str) -> str:
    """Substitute, delete or insert units (equally likely) at `rate` per unit; separators are kept."""
    out: list[str] = []
    for is_unit, piece in _tokens(text):
        if not is_unit or rng.random() >= rate:
            out.append(piece)
            continue
        op = rng.integers(3)
        if op == 0:
            out.append(vocab[rng.integers(len(vocab))])
        elif op == 1:
            out.append(piece + joiner + vocab[rng.integers(len(vocab))])
        # op == 2: deletion (the unit is dropped, its neighbouring separators stay)
    return "".join(out)


def jaccard(a: str, b: str, n: int) -> float:
    sa, sb = np.unique(shingles(a, n)), np.unique(shingles(b, n))
    if sa.size == 0 and sb.size == 0:
        return 1.0
    inter = np.intersect1d(sa, sb, assume_unique=True).size
    return inter / (sa.size + sb.size - inter)


def generate(bases: list[str], lang: str, cfg: BenchConfig, n: int) -> tuple[list[str], list[Pair]]:
    """Documents (bases first, then copies) and the (base, copy) pairs with their actual Jaccard."""
    rng = np.random.default_rng([cfg.seed, 0 if lang == "zh" else 1])
    joiner = "" if lang == "zh" else " "
    docs = list(bases)
    pairs: list[Pair] = []
    for b, text in enumerate(bases):
        # Inserted units come from other documents of the language (a realistic unit distribution).
        other = bases[(b + 1) % len(bases)] + bases[(b + 2) % len(bases)]
        vocab = UNIT_RE.findall(other) or UNIT_RE.findall(text)
        for _ in range(cfg.copies_per_base):
            target = float(rng.uniform(cfg.min_target, cfg.max_target))
            copy = edit_text(text, edit_rate_for(target, n), vocab, rng, joiner)
            pairs.append(Pair(lang, b, len(docs), target, jaccard(text, copy, n)))
            docs.append(copy)
    return docs, pairs


# --------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class LangResult:
    lang: str
    pairs: int
    recall: float  # share of pairs with J >= 0.8 detected
    recall_pairs: int
    fpr: float  # share of pairs with J <= 0.5 detected
    fpr_pairs: int
    bins: list[dict]
    unrelated_detected: int  # detected pairs that are not (base, copy) and not copies of one base
    candidates: int


def evaluate(docs: list[str], pairs: list[Pair], mh_cfg: MinHashConfig, n: int) -> LangResult:
    hasher = MinHasher(mh_cfg)
    sigs = np.stack([_sig_or_empty(hasher, d, n, mh_cfg) for d in docs])
    found, n_cand = duplicate_pairs(sigs, mh_cfg)
    found_set = {(int(i), int(j)) for i, j in found}
    detected = np.array([(min(p.base, p.copy), max(p.base, p.copy)) in found_set for p in pairs], dtype=bool)
    js = np.array([p.jaccard for p in pairs])
    family = _families(len(docs), pairs)
    unrelated = sum(1 for i, j in found_set if family[i] != family[j])
    bins = []
    for lo, hi in zip(BIN_EDGES[:-1], BIN_EDGES[1:], strict=True):
        m = (js >= lo) & (js < hi)
        bins.append({"lo": lo, "hi": min(hi, 1.0), "pairs": int(m.sum()),
                     "detected": int(detected[m].sum()),
                     "rate": float(detected[m].mean()) if m.any() else math.nan})
    hi_m, lo_m = js >= RECALL_MIN_J, js <= FPR_MAX_J
    return LangResult(
        lang=pairs[0].lang if pairs else "?", pairs=len(pairs),
        recall=float(detected[hi_m].mean()) if hi_m.any() else math.nan, recall_pairs=int(hi_m.sum()),
        fpr=float(detected[lo_m].mean()) if lo_m.any() else math.nan, fpr_pairs=int(lo_m.sum()),
        bins=bins, unrelated_detected=unrelated, candidates=n_cand,
    )


def _sig_or_empty(hasher: MinHasher, text: str, n: int, cfg: MinHashConfig) -> np.ndarray:
    sig = hasher.signature(shingles(text, n))
    return sig if sig is not None else np.zeros(cfg.num_perm, dtype=np.uint32)


def _families(n_docs: int, pairs: list[Pair]) -> np.ndarray:
    """Which base each document descends from (a base is its own family)."""
    fam = np.arange(n_docs)
    for p in pairs:
        fam[p.copy] = p.base
    return fam


def base_texts(lang: str, cfg: BenchConfig, corpus: str | Path | None = None,
               mh_cfg: MinHashConfig | None = None, n: int = 5) -> list[str]:
    """Base documents of `lang`, without near-duplicates among themselves (so every detected pair
    between different bases would be a real false positive, not similar source text)."""
    texts: list[str] = []
    if corpus is not None:
        texts = corpus_texts(corpus, lang, cfg.bases_per_lang, 200)
        texts = [t[: cfg.doc_chars_zh * 2] if lang == "zh" else " ".join(t.split()[: cfg.doc_words_en]) for t in texts]
    if len(texts) < 4:
        texts = (chinese_texts(cfg.bases_per_lang, cfg.doc_chars_zh) if lang == "zh"
                 else english_texts(cfg.bases_per_lang, cfg.doc_words_en))
    mh_cfg = mh_cfg or MinHashConfig()
    hasher = MinHasher(mh_cfg)
    sigs = np.stack([_sig_or_empty(hasher, t, n, mh_cfg) for t in texts])
    pairs, _ = duplicate_pairs(sigs, mh_cfg)
    similar_to_earlier = set(pairs[:, 1].tolist())
    return [t for i, t in enumerate(texts) if i not in similar_to_earlier]


def run_benchmark(cfg: BenchConfig, mh_cfg: MinHashConfig, n: int, corpus: str | Path | None = None,
                  langs: tuple[str, ...] = ("zh", "en")) -> dict[str, LangResult]:
    out = {}
    for lang in langs:
        bases = base_texts(lang, cfg, corpus, mh_cfg, n)
        if len(bases) < 4:
            raise UserError(f"near-duplicate benchmark: only {len(bases)} {lang} base documents found")
        docs, pairs = generate(bases, lang, cfg, n)
        out[lang] = evaluate(docs, pairs, mh_cfg, n)
    return out
