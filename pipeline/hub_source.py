"""The Hugging Face hub source: stream a hub dataset (or a list of them) into a corpus artifact.

Kept apart from local-file import because it alone needs the network (checked up front, in one
line) and the optional `datasets` streaming reader; a local dataset folder works offline.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .artifacts import Artifact
from .errors import UserError
from .hashing import sha256_file
from .import_mapping import ImportConfig, LangChoice, template_fields
from .import_runner import Job, check_domain, run_jobs
from .readers import Item, Problem, Record
from .recipe import load_recipe, shipped_config
from .typed_config import from_dict, load_yaml


@dataclass
class HubSource:
    """One public dataset of `configs/sources/hub.yaml`."""

    id: str
    domain: str
    lang: LangChoice
    license: str
    config: str | None = None
    split: str = "train"
    text_field: str = "text"
    text_template: str | None = None
    id_field: str = "id"
    data_dir: str | None = None
    revision: str | None = None
    limit: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.text_template is not None:
            template_fields(self.text_template)


@dataclass
class HubList:
    sources: list[HubSource]
    limit: int | None = None  # documents per source unless the source or --limit says otherwise
    recipe: str = "default"


_TRUE = {"1", "on", "yes", "true"}


def require_hub_access(dataset_id: str) -> None:
    """Fail at once, in one line, where streaming from the hub cannot work.

    Offline mode makes `datasets` refuse hub ids; without it a machine with no network retries for
    many seconds before failing. Neither is a useful way to learn that the network is missing.
    """
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            raise UserError(f"hub dataset {dataset_id}: cannot stream with {var}=1 (offline mode); unset it on a "
                            "machine with network access, or download the files and import them as local paths")
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return  # name resolution happens at the proxy
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError as e:
        raise UserError(f"hub dataset {dataset_id}: cannot resolve {host} ({e.strerror or e}); no network? "
                        "Import local files instead") from None


def _hub_items(src: HubSource, limit: int | None) -> Callable[[Callable[[int], None]], Iterator[Item]]:
    def items(progress: Callable[[int], None]) -> Iterator[Item]:
        local = Path(src.id).exists()  # a local dataset folder streams without the network
        if not local:
            require_hub_access(src.id)
        import datasets

        where = f"hub dataset {src.id}" + (f" ({src.config})" if src.config else "")
        try:
            ds = datasets.load_dataset(src.id, name=src.config, split=src.split, data_dir=src.data_dir,
                                       revision=src.revision, streaming=True)
            it = iter(ds)
        except Exception as e:  # any failure to open a remote dataset is the user's to fix
            raise UserError(f"{where}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        row = 0
        while limit is None or row < limit:
            try:
                data = next(it)
            except StopIteration:
                break
            except Exception as e:
                raise UserError(f"{where}: row {row + 1}: {type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}") from None
            row += 1
            progress(1)
            yield Record(src.id, row, "row", data if isinstance(data, dict) else {"value": data})
        if row == 0:
            yield Problem(src.id, None, "row", "empty_file", f"split {src.split!r} has no rows", documents=0)

    return items


def _hub_job(src: HubSource, cfg: ImportConfig, limit: int | None) -> Job:
    return Job(cfg, src.id, src.id, src.id, _hub_items(src, limit), limit or 0)


def _hub_spec(src: HubSource, limit: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"hub": src.id, "config": src.config, "split": src.split, "data_dir": src.data_dir,
                            "revision": src.revision, "limit": limit}
    local = Path(src.id)
    if local.exists():  # a local dataset folder: its content, not its name, decides the version
        files = sorted(f for f in ([local] if local.is_file() else local.rglob("*")) if f.is_file())
        spec["files"] = [{"file": f.relative_to(local).as_posix() if f != local else f.name,
                          "sha256": sha256_file(f)} for f in files]
    return spec


def import_hub(src: HubSource, cfg: ImportConfig, *, limit: int | None = None, workdir: str | Path = "work",
               out: str | Path | None = None) -> Artifact:
    """Stream one hub dataset (only on request: this needs the network) into a corpus artifact."""
    check_domain(cfg)
    return run_jobs([_hub_job(src, cfg, limit)], config={"import": cfg.hashed()}, inputs=[_hub_spec(src, limit)],
                    workdir=workdir, out=out, strict=cfg.strict, prefix_bytes=cfg.quarantine_prefix_bytes,
                    progress_unit="doc")


def load_hub_list(path: str | Path) -> HubList:
    """Load a hub source list; a bare name (or a missing `configs/sources/...` path) means a shipped one."""
    p = Path(path)
    if not p.is_file():
        shipped = shipped_config("sources", p.name if p.suffix else f"{p.name}.yaml")
        if shipped.is_file():
            p = shipped
    hub = from_dict(HubList, load_yaml(p), where=p.name)
    recipe = load_recipe(hub.recipe)
    for i, s in enumerate(hub.sources):
        if s.domain not in recipe.domains:
            raise UserError(f"{p.name}: sources[{i}] ({s.id}): unknown domain {s.domain!r}")
    return hub


def import_from_config(path: str | Path, *, domains: list[str] | None = None, limit: int | None = None,
                       strict: bool = False, max_doc_mb: float = 10.0, workdir: str | Path = "work",
                       out: str | Path | None = None) -> Artifact:
    """Stream every listed hub dataset (optionally only some domains) into one corpus artifact."""
    hub = load_hub_list(path)
    chosen = [s for s in hub.sources if domains is None or s.domain in domains]
    if domains is not None:
        unknown = sorted(set(domains) - {s.domain for s in hub.sources})
        if unknown:
            raise UserError(f"{Path(path).name}: no sources for domain {unknown[0]!r}")
    if not chosen:
        raise UserError(f"{Path(path).name}: no sources selected")
    jobs, configs, inputs = [], [], []
    for s in chosen:
        cfg = ImportConfig(domain=s.domain, lang=s.lang, text_field=s.text_field, text_template=s.text_template,
                           id_field=s.id_field, source=s.id, license=s.license, max_doc_mb=max_doc_mb,
                           strict=strict, recipe=hub.recipe)
        n = limit if limit is not None else s.limit if s.limit is not None else hub.limit
        jobs.append(_hub_job(s, cfg, n))
        configs.append(cfg.hashed())
        inputs.append(_hub_spec(s, n))
    return run_jobs(jobs, config={"import": configs}, inputs=inputs, workdir=workdir, out=out, strict=strict,
                    prefix_bytes=jobs[0].cfg.quarantine_prefix_bytes, progress_unit="doc")
