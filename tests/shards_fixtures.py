"""Real small corpus and tokenizer artifacts for the shard and data-module tests.

Text comes from the machine: Python standard-library sources (code), the shared licence texts
(legal), and the zh_CN gettext catalogues read with `gettext.GNUTranslations` (Chinese UI strings
for tech-zh, their English originals for tech-en, the pairs for translation). The tokenizer is a
real byte-level BPE trained on that text, written with the project's manifest as stage "tokenizer".
"""

from __future__ import annotations

import gettext
import sysconfig
from pathlib import Path

from symboliclight.pipeline.artifacts import Artifact, write_manifest
from symboliclight.pipeline.documents import Document, JsonlZstWriter
from symboliclight.pipeline.hashing import sha256_file, text_id, version_id
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
ENTRIES_PER_DOC = 40


def _catalogue_docs(max_catalogues: int) -> list[Document]:
    docs: list[Document] = []
    for path in sorted(Path("/usr/share/locale/zh_CN/LC_MESSAGES").glob("*.mo"))[:max_catalogues]:
        try:
            with open(path, "rb") as fp:
                cat = gettext.GNUTranslations(fp)._catalog  # type: ignore[attr-defined]
        except (OSError, UnicodeDecodeError, ValueError, KeyError):
            continue
        pairs = [(k, v) for k, v in sorted(cat.items(), key=lambda kv: str(kv[0])) if isinstance(k, str) and k and v]
        for i in range(0, len(pairs), ENTRIES_PER_DOC):
            chunk = pairs[i:i + ENTRIES_PER_DOC]
            src = f"mo:{path.name}#{i}"
            for text, lang, domain in (("\n".join(f"{k}\t{v}" for k, v in chunk), "mixed", "translation"),
                                       ("\n".join(v for _, v in chunk), "zh", "tech-zh"),
                                       ("\n".join(k for k, _ in chunk), "en", "tech-en")):
                docs.append(Document(text_id(src, domain, text), text, {"domain": domain, "lang": lang, "source": src}))
    return docs


def _file_docs(paths: list[Path], domain: str, lang: str, max_docs: int, max_chars: int) -> list[Document]:
    docs = []
    for p in paths:
        try:
            text = p.read_text(encoding="utf-8")[:max_chars]
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) < 200:
            continue
        docs.append(Document(text_id(str(p), text), text, {"domain": domain, "lang": lang, "source": f"file:{p.name}"}))
        if len(docs) >= max_docs:
            break
    return docs


def real_documents(scale: int = 1) -> list[Document]:
    """About 1 MB of real text per unit of `scale`, in five domains, with unique texts."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code = _file_docs(sorted(stdlib.glob("*.py")), "code", "code", 60 * scale, 8000)
    legal = _file_docs(sorted(Path("/usr/share/common-licenses").iterdir()), "legal", "en", 40, 20000)
    docs = code + legal + _catalogue_docs(12 * scale)
    seen: set[str] = set()
    unique = []
    for d in docs:
        if d.text.strip() and d.text not in seen:
            seen.add(d.text)
            unique.append(d)
    return unique


def write_corpus(root: Path, docs: list[Document], *, val_docs: list[Document] | None = None) -> Artifact:
    """A corpus artifact: `<domain>.jsonl.zst`, or `train/` and `val/` folders when `val_docs` is given."""
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for prefix, group in (("train/" if val_docs is not None else "", docs), ("val/", val_docs or [])):
        by_domain: dict[str, list[Document]] = {}
        for d in group:
            by_domain.setdefault(d.domain, []).append(d)
        for domain, items in sorted(by_domain.items()):
            path = root / f"{prefix}{domain}.jsonl.zst"
            with JsonlZstWriter(path) as w:
                w.write_all(items)
            files.append(path)
    n = len(docs) + len(val_docs or [])
    version = version_id("corpus", {"fixture": root.name, "documents": n})
    return write_manifest(root, stage="corpus", version=version, parents={}, config={"fixture": True},
                          counts={"documents": n}, files=files)


def train_tokenizer(root: Path, docs: list[Document], vocab_size: int = 1000, extra_tokens: int = 0) -> Artifact:
    """A byte-level BPE trained on `docs`, saved as a tokenizer artifact (pad/bos/eos/unk at 0-3).

    `extra_tokens` adds that many added tokens (`<x00000>`...) to push the vocabulary past uint16.
    """
    root.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((d.text for d in docs), trainer=trainer)
    if extra_tokens:
        tok.add_tokens([f"<x{i:05d}>" for i in range(extra_tokens)])
    path = root / "tokenizer.json"
    tok.save(str(path))
    version = version_id("tokenizer", {"fixture": root.name, "vocab": tok.get_vocab_size(), "sha": sha256_file(path)})
    return write_manifest(root, stage="tokenizer", version=version, parents={}, config={"vocab_size": vocab_size},
                          counts={}, files=[path])
