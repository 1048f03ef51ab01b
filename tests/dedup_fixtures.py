"""Small real-text corpora for the dedup, split and balance tests, with known duplicates planted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from symboliclight.pipeline.artifacts import Artifact, write_manifest
from symboliclight.pipeline.documents import Document, JsonlZstWriter
from symboliclight.pipeline.hashing import text_id, version_id
from symboliclight.pipeline.stages.dedup import normalize_exact
from symboliclight.pipeline.stages.neardup_bench import chinese_texts, edit_text, english_texts
from symboliclight.pipeline.stages.shingles import UNIT_RE

ZH_DOMAINS = ("news", "tech-zh")
EN_DOMAINS = ("tech-en", "reference")


@dataclass
class Planted:
    exact: dict[str, str]  # copy id -> original id (normalised text identical)
    near: dict[str, str]  # copy id -> original id (light edits, Jaccard well above 0.8)


def base_documents(n_zh: int = 40, n_en: int = 40) -> list[Document]:
    """Real Chinese (gettext catalogues) and English (stdlib docstrings) documents over four domains."""
    docs = []
    for i, text in enumerate(chinese_texts(n_zh, 300)):
        dom = ZH_DOMAINS[i % 2]
        docs.append(Document(text_id(dom, text), text, {"domain": dom, "lang": "zh", "source": "gettext"}))
    for i, text in enumerate(english_texts(n_en, 120)):
        dom = EN_DOMAINS[i % 2]
        docs.append(Document(text_id(dom, text), text, {"domain": dom, "lang": "en", "source": "stdlib"}))
    return docs


def with_duplicates(docs: list[Document], seed: int = 0) -> tuple[list[Document], Planted]:
    """Add exact copies (case/whitespace changed, moved to another domain) and lightly edited copies."""
    rng = np.random.default_rng(seed)
    out = list(docs)
    planted = Planted({}, {})
    for i, d in enumerate(docs[::5]):
        text = "  " + d.text.replace(" ", "   ").upper() + "\n" if d.lang == "en" else d.text + "\u3000\n"
        other = EN_DOMAINS if d.lang == "en" else ZH_DOMAINS
        dom = other[(other.index(d.domain) + 1) % 2]
        c = Document(f"exact-{i:03d}", text, {**d.metadata, "domain": dom})
        out.append(c)
        planted.exact[c.id] = d.id
    for i, d in enumerate(docs[2::5]):
        vocab = UNIT_RE.findall(docs[(i + 7) % len(docs)].text)
        text = d.text
        while normalize_exact(text) == normalize_exact(d.text):  # at least one real edit
            text = edit_text(d.text, 0.01, vocab, rng, "" if d.lang == "zh" else " ")
        c = Document(f"near-{i:03d}", text, dict(d.metadata))
        out.append(c)
        planted.near[c.id] = d.id
    # No shingles at all: only exact dedup applies.
    out.append(Document("punct-1", "!!! ??? ...", {"domain": "tech-en", "lang": "en", "source": "t"}))
    out.append(Document("punct-2", "!!!  ???  ...", {"domain": "tech-en", "lang": "en", "source": "t"}))
    planted.exact["punct-2"] = "punct-1"
    return out, planted


def write_corpus(root: Path, docs: list[Document], stage: str = "sample") -> Artifact:
    """A finished corpus artifact: one `<domain>.jsonl.zst` per domain and a manifest."""
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for dom in sorted({d.domain for d in docs}):
        path = root / f"{dom}.jsonl.zst"
        with JsonlZstWriter(path) as w:
            w.write_all(d for d in docs if d.domain == dom)
        files.append(path)
    ver = version_id("test-corpus", {"ids": [d.id for d in docs], "texts": [text_id(d.text) for d in docs]}, {})
    return write_manifest(root, stage=stage, version=ver, parents={}, config={}, counts={}, files=files)
