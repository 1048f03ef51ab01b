"""`corpus import`: bring user data (local JSONL / JSONL.zst / gzip JSONL / Parquet, or a streamed
Hugging Face hub dataset) into the document schema as a versioned corpus artifact.

This module holds the local-file inputs and the command line; the record mapping is in
`import_mapping`, the engine that writes the artifact in `import_runner`, the hub source in
`hub_source`. Their public names are re-exported here, the import API's one address.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .artifacts import Artifact
from .cli_options import print_json
from .errors import UserError
from .hashing import sha256_file
from .hub_source import (
    HubList,
    HubSource,
    import_from_config,
    import_hub,
    load_hub_list,
    require_hub_access,
)
from .import_mapping import (
    DocumentMapper,
    ImportConfig,
    LangAutoConfig,
    LangChoice,
    guess_lang,
    jsonable,
    raw_record,
    render_template,
    template_fields,
)
from .import_runner import STAGE, Job, check_domain, run_jobs
from .quarantine import QUARANTINE_FILE
from .readers import (
    Item,
    UnsupportedFormat,
    file_format,
    read_jsonl,
    read_parquet,
    supported_suffixes,
)

__all__ = [
    "STAGE",
    "DocumentMapper",
    "HubList",
    "HubSource",
    "ImportConfig",
    "Job",
    "LangAutoConfig",
    "LangChoice",
    "LocalInput",
    "add_subcommand",
    "check_domain",
    "cmd_import",
    "guess_lang",
    "import_files",
    "import_from_config",
    "import_hub",
    "jsonable",
    "load_hub_list",
    "raw_record",
    "render_template",
    "require_hub_access",
    "resolve_inputs",
    "run_jobs",
    "template_fields",
]


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalInput:
    path: Path
    user_path: str  # as given (or as found under a given directory), for messages
    name: str  # relative to the inputs' common directory: stable under relocation
    container: str
    compression: str


def resolve_inputs(paths: list[str | Path], skipped: list[str] | None = None) -> list[LocalInput]:
    """Expand directories, check existence and file types; one `UserError` line for any mistake.

    Files inside a given directory that are not data files are appended to `skipped` (so the
    manifest can list them); a file named explicitly must be a data file.
    """
    if not paths:
        raise UserError("no input paths given")
    found: list[tuple[Path, str]] = []
    suffixes = tuple(supported_suffixes())
    for p in map(Path, paths):
        if p.is_dir():
            everything = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            files = [f for f in everything if f.name.lower().endswith(suffixes)]
            if not files:
                raise UserError(f"{p}: directory holds no {', '.join(suffixes)} files")
            if skipped is not None:
                skipped.extend(str(f) for f in everything if not f.name.lower().endswith(suffixes))
            found.extend((f, str(f)) for f in files)
        elif p.is_file():
            found.append((p, str(p)))
        else:
            raise UserError(f"{p}: no such file or directory")
    resolved = [f.resolve() for f, _ in found]
    if len(set(resolved)) != len(resolved):
        dup = next(r for r in resolved if resolved.count(r) > 1)
        raise UserError(f"{dup}: given more than once")
    base = Path(os.path.commonpath([r.parent for r in resolved]))
    out = []
    for (f, user), r in zip(found, resolved, strict=True):
        try:
            container, compression = file_format(f)
        except UnsupportedFormat:
            raise UserError(f"{user}: unknown file type (supported: {', '.join(supported_suffixes())})") from None
        out.append(LocalInput(r, user, r.relative_to(base).as_posix(), container, compression))
    return out


def _local_job(inp: LocalInput, cfg: ImportConfig) -> Job:
    if inp.container == "parquet":
        needed = ([f.split(".")[0] for f in template_fields(cfg.text_template)]
                  if cfg.text_template is not None else [cfg.text_field])

        def items(progress: Callable[[int], None]) -> Iterator[Item]:
            return read_parquet(inp.path, inp.name, needed, progress)
    else:
        def items(progress: Callable[[int], None]) -> Iterator[Item]:
            return read_jsonl(inp.path, inp.name, inp.compression, cfg.max_doc_bytes,
                              cfg.quarantine_prefix_bytes, progress)
    return Job(cfg, inp.name, inp.user_path, Path(inp.name).name, items, inp.path.stat().st_size)


# --- public API ----------------------------------------------------------------------------------


def import_files(paths: list[str | Path], cfg: ImportConfig, workdir: str | Path = "work",
                 out: str | Path | None = None) -> Artifact:
    """Import local files into one corpus artifact under domain `cfg.domain`."""
    check_domain(cfg)
    skipped: list[str] = []
    found = resolve_inputs(paths, skipped)
    inputs = [{"file": i.name, "bytes": i.path.stat().st_size, "sha256": sha256_file(i.path)} for i in found]
    jobs = [_local_job(i, cfg) for i in found]
    return run_jobs(jobs, config={"import": cfg.hashed()}, inputs=inputs, workdir=workdir, out=out,
                    strict=cfg.strict, prefix_bytes=cfg.quarantine_prefix_bytes,
                    extra={"skipped_files": skipped} if skipped else None)


# --- command line --------------------------------------------------------------------------------


def add_subcommand(csub: argparse._SubParsersAction, common_parent: argparse.ArgumentParser) -> None:
    p = csub.add_parser(
        "import", parents=[common_parent], help="import local JSONL/JSONL.zst/Parquet files or a hub dataset",
        description="Import documents into a corpus artifact. Bad input (malformed JSON, invalid UTF-8, "
                    "truncated files, empty or oversized documents, missing text column) is quarantined "
                    "with its file and line in excluded/quarantine.jsonl.zst, or fatal with --strict.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help=f"input files or directories ({', '.join(supported_suffixes())})")
    p.add_argument("--hub", metavar="DATASET_ID", help="stream a Hugging Face hub dataset (needs network)")
    p.add_argument("--hub-config", metavar="C", help="hub dataset config name")
    p.add_argument("--split", default="train", help="hub dataset split (default: train)")
    p.add_argument("--from-config", metavar="YAML", help="import the hub sources listed in a YAML file "
                   "(e.g. configs/sources/hub.yaml)")
    p.add_argument("--domains", help="with --from-config: only these comma-separated domains")
    p.add_argument("--limit", type=int, metavar="N", help="hub imports: at most N documents per source")
    p.add_argument("--domain", help="recipe domain the documents belong to (required for PATH and --hub)")
    p.add_argument("--recipe", default="default", help="recipe whose domains are allowed (default: default)")
    p.add_argument("--lang", default="auto", choices=["zh", "en", "mixed", "code", "auto"],
                   help="document language; auto decides by script (code is never guessed)")
    p.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    p.add_argument("--text-template", help="build the text from fields, e.g. '{question}\\n{answer}' "
                   "(\\n and \\t mean newline and tab; {a.b} reads a nested field)")
    p.add_argument("--id-field", default="id", help="field holding a document id (default: id; "
                   "content-derived when absent)")
    p.add_argument("--source", help="metadata.source (default: the file name or dataset id)")
    p.add_argument("--license", help="metadata.license (default: the record's own, else 'unknown')")
    p.add_argument("--strict", action="store_true", help="stop at the first bad input instead of quarantining")
    p.add_argument("--max-doc-mb", type=float, default=10.0, help="larger documents are quarantined (default: 10)")
    p.add_argument("--out", help="write the artifact here instead of <workdir>/corpus/<version>")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_import)


def _cfg_from_args(args: argparse.Namespace) -> ImportConfig:
    if not args.domain:
        raise UserError("--domain is required (one of the recipe's domains)")
    template = args.text_template
    if template is not None:  # shells pass "\n" literally; a template almost always means a newline
        template = template.replace("\\n", "\n").replace("\\t", "\t")
    return ImportConfig(domain=args.domain, lang=args.lang, text_field=args.text_field,
                        text_template=template, id_field=args.id_field, source=args.source,
                        license=args.license, max_doc_mb=args.max_doc_mb, strict=args.strict, recipe=args.recipe)


def cmd_import(args: argparse.Namespace) -> int:
    modes = [bool(args.paths), bool(args.hub), bool(args.from_config)]
    if sum(modes) != 1:
        raise UserError("give input PATHs, or --hub DATASET_ID, or --from-config YAML (exactly one)")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.paths and args.limit is not None:
        raise UserError("--limit applies to hub imports (--hub, --from-config), not to local files")
    if args.from_config and args.domain:
        raise UserError("--from-config takes the domains from the YAML; use --domains a,b to choose some")
    if args.from_config:
        domains = [d.strip() for d in args.domains.split(",") if d.strip()] if args.domains else None
        art = import_from_config(args.from_config, domains=domains, limit=args.limit, strict=args.strict,
                                 max_doc_mb=args.max_doc_mb, workdir=args.workdir, out=args.out)
    elif args.hub:
        cfg = _cfg_from_args(args)
        src = HubSource(id=args.hub, domain=cfg.domain, lang=cfg.lang, license=cfg.license or "unknown",
                        config=args.hub_config, split=args.split, text_field=cfg.text_field,
                        text_template=cfg.text_template, id_field=cfg.id_field)
        art = import_hub(src, cfg, limit=args.limit, workdir=args.workdir, out=args.out)
    else:
        art = import_files(args.paths, _cfg_from_args(args), workdir=args.workdir, out=args.out)
    c = art.manifest["counts"]
    if args.json:
        print_json({"version": art.version, "path": str(art.path), **c})
        return 0
    print(f"corpus {art.version} at {art.path}")
    print(f"  read {c['read']:,}  written {c['written']:,}  quarantined {c['quarantined']:,}")
    for reason, n in c["quarantined_per_reason"].items():
        print(f"  quarantined {reason}: {n['documents']:,} documents in {n['records']:,} records")
    if c["quarantine_records"]:
        print(f"  see {art.path / QUARANTINE_FILE}")
    return 0
