"""A small real bilingual corpus artifact for tokenizer tests, built from text on any Debian machine.

Chinese comes from the zh_CN gettext catalogues (`/usr/share/locale/zh_CN/LC_MESSAGES/*.mo`, parsed
with the stdlib `gettext`) and, where installed, the Chinese manual pages; English from the shared
licence texts and English manual pages; code from the Python standard library. Nothing is synthetic.
"""

from __future__ import annotations

import gettext
import gzip
import re
import sysconfig
from pathlib import Path

from symboliclight.pipeline.artifacts import write_manifest
from symboliclight.pipeline.documents import Document, JsonlZstWriter
from symboliclight.pipeline.hashing import text_id, version_id

_GROFF_ESCAPE = re.compile(r"\\f[BIRP]|\\\(..|\\[-&e|^]|\\s[-+]?\d")


def mo_documents(max_chars: int) -> list[Document]:
    """One `translation` document per catalogue (mixed zh/en) plus one zh-only document per catalogue."""
    docs: list[Document] = []
    used = 0
    for path in sorted(Path("/usr/share/locale/zh_CN/LC_MESSAGES").glob("*.mo")):
        try:
            with open(path, "rb") as fp:
                catalog = gettext.GNUTranslations(fp)._catalog  # type: ignore[attr-defined]
        except (OSError, UnicodeDecodeError, ValueError, KeyError):
            continue
        pairs = [(k, v) for k, v in sorted(catalog.items(), key=lambda kv: str(kv[0])) if isinstance(k, str) and k and v]
        if not pairs:
            continue
        mixed = "\n".join(f"{k}\t{v}" for k, v in pairs)
        zh = "\n".join(v for _, v in pairs)
        for text, lang, domain in ((mixed, "mixed", "translation"), (zh, "zh", "tech-zh")):
            docs.append(Document(text_id(path.name, lang), text, {"domain": domain, "lang": lang, "source": f"mo:{path.name}"}))
            used += len(text)
        if used >= max_chars:
            break
    return docs


def man_documents(lang_dir: str, lang: str, domain: str, max_chars: int) -> list[Document]:
    """Manual pages with the groff requests and font escapes stripped (rough, but real prose)."""
    docs: list[Document] = []
    used = 0
    for path in sorted(Path(lang_dir).glob("man[158]/*.gz")):
        try:
            raw = gzip.decompress(path.read_bytes()).decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError):
            continue
        lines = [_GROFF_ESCAPE.sub("", ln) for ln in raw.splitlines() if not ln.startswith((".", "'\\\""))]
        text = "\n".join(ln for ln in lines if ln.strip())
        if len(text) < 200:
            continue
        docs.append(Document(text_id(str(path)), text, {"domain": domain, "lang": lang, "source": f"man:{path.name}"}))
        used += len(text)
        if used >= max_chars:
            break
    return docs


def file_documents(paths: list[Path], lang: str, domain: str, max_chars: int) -> list[Document]:
    docs: list[Document] = []
    used = 0
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) < 200:
            continue
        docs.append(Document(text_id(str(path)), text, {"domain": domain, "lang": lang, "source": f"file:{path.name}"}))
        used += len(text)
        if used >= max_chars:
            break
    return docs


def real_documents(chars_per_domain: int) -> list[Document]:
    """Documents from the machine's own text files, roughly `chars_per_domain` characters per domain."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    docs = mo_documents(2 * chars_per_domain)
    docs += man_documents("/usr/share/man/zh_CN", "zh", "tech-zh", chars_per_domain)
    docs += man_documents("/usr/share/man", "en", "reference", chars_per_domain)
    docs += file_documents(sorted(Path("/usr/share/common-licenses").glob("*")), "en", "legal", chars_per_domain)
    docs += file_documents(sorted(stdlib.glob("*.py")), "code", "code", chars_per_domain)
    docs += file_documents(sorted((stdlib / "email").rglob("*.py")) + sorted(stdlib.glob("*.txt")) + sorted(Path("/usr/share/doc").rglob("*.txt")), "en", "tech-en", chars_per_domain)
    return docs


def write_corpus(root: Path, docs: list[Document], name: str = "real-test") -> Path:
    """Write `docs` as a corpus artifact (one `<domain>.jsonl.zst` per domain) with its manifest."""
    root.mkdir(parents=True, exist_ok=True)
    by_domain: dict[str, list[Document]] = {}
    for d in docs:
        by_domain.setdefault(d.domain, []).append(d)
    files = []
    for domain in sorted(by_domain):
        path = root / f"{domain}.jsonl.zst"
        with JsonlZstWriter(path) as w:
            w.write_all(by_domain[domain])
        files.append(path)
    config = {"name": name, "documents": len(docs)}
    write_manifest(root, stage="corpus", version=version_id("corpus", config), parents={}, config=config,
                   counts={"documents": len(docs), "characters": sum(len(d.text) for d in docs)}, files=files)
    return root


def build_real_corpus(root: Path, chars_per_domain: int = 60_000) -> Path:
    return write_corpus(root, real_documents(chars_per_domain))


def small_corpus(root: Path) -> Path:
    """The offline sample corpus at a tiny size when its sources give both zh and en text; otherwise
    a corpus from this machine's own text files (gettext catalogues, man pages, stdlib, licences)."""
    try:
        from symboliclight.pipeline.sample.build import build_sample
        from symboliclight.pipeline.sample.config import SampleConfig

        art = build_sample(SampleConfig(size_mb=1.0), workdir=str(root / "work"), progress=False)
        from symboliclight.pipeline.corpus_stats import compute_stats

        langs = compute_stats(art)["per_lang"]
        if langs.get("zh", {}).get("characters", 0) > 20_000 and langs.get("en", {}).get("characters", 0) > 20_000:
            return art.path
    except Exception:  # noqa: BLE001 - the sample's sources may not be installed on this machine
        pass
    return build_real_corpus(root / "real-corpus")
