"""Artifact directories and their manifests: the contract between stages (DESIGN.md).

Every stage writes one directory `<workdir>/<kind>/<version>/` and finishes it by writing
`manifest.json` last, atomically. A directory without a manifest is incomplete and is never read.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import UserError
from .hashing import sha256_file

MANIFEST = "manifest.json"
LATEST = "latest"
KINDS = ("corpus", "tokenizer", "shards", "runs")

_TOOLS = ("symboliclight", "datatrove", "tokenizers", "datasets", "torch", "lightning", "zstandard", "pyarrow")


def tool_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in _TOOLS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temporary name and rename, so readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def safe_relpath(root: Path, rel: str) -> Path:
    """Resolve a manifest-relative path, refusing absolute paths and paths that escape `root`."""
    if os.path.isabs(rel):
        raise UserError(f"{root / MANIFEST}: path {rel!r} must be relative")
    full = (root / rel).resolve()
    if not full.is_relative_to(root.resolve()):
        raise UserError(f"{root / MANIFEST}: path {rel!r} escapes its artifact directory")
    return full


def file_entries(root: Path, files: Iterable[Path]) -> list[dict[str, Any]]:
    """Per-file size and sha256, with paths relative to the artifact directory, sorted by path."""
    entries = []
    for f in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        entries.append({"path": f.relative_to(root).as_posix(), "bytes": f.stat().st_size, "sha256": sha256_file(f)})
    return entries


@dataclass(frozen=True)
class Artifact:
    """A finished artifact directory and its parsed manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def stage(self) -> str:
        return self.manifest["stage"]

    def file(self, rel: str) -> Path:
        """`self.path / rel`, after checking that `rel` stays inside the artifact directory."""
        safe_relpath(self.path, rel)
        return self.path / rel

    def verify_files(self, hashes: bool = True) -> None:
        """Check every file the manifest lists: present, right size and (optionally) right sha256."""
        for entry in self.manifest.get("files", []):
            p = self.file(entry["path"])
            if not p.is_file():
                raise UserError(f"{p}: missing (listed in {self.path / MANIFEST})")
            size = p.stat().st_size
            if size != entry["bytes"]:
                raise UserError(f"{p}: size {size} does not match manifest ({entry['bytes']})")
            if hashes and sha256_file(p) != entry["sha256"]:
                raise UserError(f"{p}: sha256 does not match manifest")


def write_manifest(
    root: Path,
    *,
    stage: str,
    version: str,
    parents: dict[str, str],
    config: dict[str, Any],
    counts: dict[str, Any],
    files: Iterable[Path],
    extra: dict[str, Any] | None = None,
) -> Artifact:
    """Write `manifest.json` last and atomically; this is what makes the artifact complete."""
    manifest: dict[str, Any] = {
        "stage": stage,
        "version": version,
        "parents": parents,
        "config": config,
        "counts": counts,
        "files": file_entries(root, files),
        "tools": tool_versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if extra:
        manifest.update(extra)
    atomic_write_text(root / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return Artifact(root, manifest)


def read_artifact(path: str | Path) -> Artifact:
    """Open a finished artifact; an incomplete one (no manifest) is an error."""
    path = Path(path)
    mf = path / MANIFEST
    if not path.is_dir():
        raise UserError(f"{path}: no such artifact directory")
    if not mf.is_file():
        raise UserError(f"{path}: incomplete artifact (no {MANIFEST}); rerun the stage that writes it")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{mf}: unreadable manifest ({e})") from None
    for key in ("stage", "version"):
        if key not in manifest:
            raise UserError(f"{mf}: manifest lacks {key!r}")
    return Artifact(path, manifest)


def artifact_dir(workdir: str | Path, kind: str, version: str, out: str | Path | None = None) -> Path:
    """Where a new artifact goes: `--out` if given, else `<workdir>/<kind>/<version>`."""
    return Path(out) if out else Path(workdir) / kind / version


def existing(path: Path) -> Artifact | None:
    """The finished artifact at `path`, or None if it is absent or incomplete (a rerun is needed)."""
    return read_artifact(path) if (path / MANIFEST).is_file() else None


def prepare_dir(path: Path) -> Path:
    """Empty a directory left by an interrupted run of a non-resumable stage, and create it."""
    if path.exists():
        if (path / MANIFEST).exists():
            raise UserError(f"{path}: already holds a finished artifact")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def set_latest(workdir: str | Path, kind: str, version: str) -> None:
    kind_dir = Path(workdir) / kind
    kind_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(kind_dir / LATEST, version + "\n")


def resolve(ref: str | Path, kind: str, workdir: str | Path = "work") -> Artifact:
    """Resolve a VERSION argument: a version id in the workdir, `latest`, or a path to an artifact."""
    ref_s = str(ref)
    candidate = Path(ref_s)
    if candidate.is_dir() and (candidate / MANIFEST).is_file():
        return read_artifact(candidate)
    kind_dir = Path(workdir) / kind
    if ref_s == LATEST:
        pointer = kind_dir / LATEST
        if not pointer.is_file():
            raise UserError(f"no {kind} artifact yet in {kind_dir} (nothing is 'latest')")
        ref_s = pointer.read_text(encoding="utf-8").strip()
    if "/" not in ref_s and (kind_dir / ref_s).is_dir():
        return read_artifact(kind_dir / ref_s)
    if candidate.exists():
        return read_artifact(candidate)
    raise UserError(f"{kind} version {ref!s} not found (looked in {kind_dir} and as a path)")
