"""The stage graph, defined once in plain Python: nodes, their inputs, configs and versions.

Every node's output version is a content hash of its config and its parents' versions, so the whole
plan, down to the evaluation, is known before anything runs: `--dry-run` prints it, a node whose
artifact is already finished (manifest present) is skipped, and a config change gives new versions
to exactly that node and everything downstream of it. The version functions are the stages' own
(`stage_version`, `tokenizer_version`, ...) wherever a stage exposes one; the executor checks after
each node that the stage produced the version the graph predicted.

The same `Graph` drives `symboliclight run` (`execute.py`), the Airflow DAG (`airflow_dag.py`) and
the Slurm submission of the whole graph (`scaleout.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from symboliclight.pipeline.artifacts import MANIFEST, Artifact, artifact_dir, resolve
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.hashing import version_id
from symboliclight.pipeline.typed_config import from_dict, identity, load_yaml

from .run_config import RunConfig, deep_merge

Op = Literal["sample", "artifact", "datastage", "tokenizer", "shards", "train", "eval"]


@dataclass(frozen=True)
class Node:
    """One stage of the graph. `config` is the typed config the stage runs with; `identity` is what
    its version hashes (shown by `--dry-run --json`)."""

    name: str
    op: Op
    kind: str  # the artifact folder: corpus | tokenizer | shards | runs | eval
    parents: tuple[str, ...]
    config: Any
    identity: dict[str, Any]
    version_of: Callable[[dict[str, str]], str]
    location: Callable[[Path, str], Path]

    @property
    def datatrove(self) -> bool:
        """Runs as datatrove pipelines (local, Slurm or Ray executors)."""
        return self.op == "datastage"


@dataclass(frozen=True)
class Planned:
    """A node with its version and artifact directory resolved for one workdir."""

    node: Node
    version: str
    path: Path
    parents: dict[str, str]  # parent name -> version

    @property
    def done(self) -> bool:
        return (self.path / MANIFEST).is_file()


@dataclass
class Graph:
    nodes: list[Node]
    config: RunConfig

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        for i, n in enumerate(self.nodes):
            missing = [p for p in n.parents if p not in names[:i]]
            if missing:
                raise ValueError(f"node {n.name}: parent {missing[0]} is not defined before it")

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise UserError(f"unknown stage {name!r} (the graph has: {', '.join(self.names)})")

    def ancestors(self, name: str) -> list[str]:
        """`name` and everything it depends on, in graph order."""
        want = {name}
        for n in reversed(self.nodes):
            if n.name in want:
                want.update(n.parents)
        return [n for n in self.names if n in want]

    def descendants(self, name: str) -> list[str]:
        """`name` and everything that depends on it, in graph order."""
        self.node(name)
        hit = {name}
        for n in self.nodes:
            if hit.intersection(n.parents):
                hit.add(n.name)
        return [n for n in self.names if n in hit]

    def plan(self, workdir: str | Path) -> list[Planned]:
        """Versions and artifact directories of every node, parents first; runs nothing."""
        workdir = Path(workdir).resolve()
        versions: dict[str, str] = {}
        out = []
        for n in self.nodes:
            parents = {p: versions[p] for p in n.parents}
            v = n.version_of(parents)
            versions[n.name] = v
            out.append(Planned(n, v, n.location(workdir, v), parents))
        return out


# --- node builders --------------------------------------------------------------------------------------

def _in_workdir(kind: str) -> Callable[[Path, str], Path]:
    return lambda workdir, version: artifact_dir(workdir, kind, version)


def _sample_node(cfg: RunConfig) -> Node:
    from symboliclight.pipeline.sample import SampleConfig

    c = cfg.corpus
    sample_cfg = SampleConfig(recipe=c.recipe, size_mb=c.size_mb, seed=c.seed, sources_dir=c.sources_dir,
                              catalogue=c.catalogue)
    cache: dict[str, str] = {}

    def version(_: dict[str, str]) -> str:
        # the sample's version also hashes a fingerprint of every installed source: open them once
        if "v" not in cache:
            cache["v"] = sample_version(sample_cfg)
        return cache["v"]

    return Node("corpus", "sample", "corpus", (), sample_cfg, dataclasses.asdict(sample_cfg), version,
                _in_workdir("corpus"))


def sample_version(sample_cfg: Any) -> str:
    """The version `build_sample` will give, computed the way it does, without building anything."""
    from symboliclight.pipeline.recipe import load_recipe
    from symboliclight.pipeline.sample.build import STAGE, domain_budgets, open_sources, sample_config
    from symboliclight.pipeline.sample.config import load_catalogue

    recipe = load_recipe(sample_cfg.recipe)
    cat = load_catalogue(sample_cfg.catalogue)
    budgets = domain_budgets(recipe, sample_cfg.size_mb)
    opened = open_sources(sample_cfg, recipe, cat)
    return version_id(STAGE, sample_config(sample_cfg, recipe, cat, budgets, opened), {})


def _artifact_node(cfg: RunConfig, workdir: Path) -> Node:
    art = resolve(str(cfg.corpus.input), "corpus", workdir)
    path = art.path.resolve()
    return Node("corpus", "artifact", "corpus", (), str(path), {"input": str(path), "version": art.version},
                lambda _: art.version, lambda _w, _v: path)


def _data_stage_node(name: str, parent: str, cfg: RunConfig) -> Node:
    from symboliclight.pipeline.stages import get_stage
    from symboliclight.pipeline.stages.runner import load_stage_config, stage_version

    stage = get_stage(name)
    stage_cfg = load_stage_config(stage, cfg.pipeline)

    def version(parents: dict[str, str]) -> str:
        # the runner's own version function; it reads only the input's version
        return stage_version(stage, stage_cfg, Artifact(Path(), {"stage": parent, "version": parents[parent]}))

    return Node(name, "datastage", "corpus", (parent,), stage_cfg, identity(stage_cfg), version,
                _in_workdir("corpus"))


def _tokenizer_node(corpus: str, cfg: RunConfig) -> Node:
    from symboliclight.pipeline.recipe import shipped_config
    from symboliclight.tokenizer.config import TokenizerConfig
    from symboliclight.tokenizer.train import tokenizer_version

    src = Path(cfg.tokenizer.config) if cfg.tokenizer.config else shipped_config("tokenizer", "default.yaml")
    tok_cfg = from_dict(TokenizerConfig, deep_merge(load_yaml(src), cfg.tokenizer.overrides), where="tokenizer")
    return Node("tokenizer", "tokenizer", "tokenizer", (corpus,), tok_cfg, identity(tok_cfg),
                lambda p: tokenizer_version(tok_cfg, p[corpus]), _in_workdir("tokenizer"))


def _shards_node(corpus: str, cfg: RunConfig) -> Node:
    from symboliclight.pipeline.recipe import shipped_config
    from symboliclight.tokenizer.pack import PackConfig

    src = Path(cfg.shards.config) if cfg.shards.config else shipped_config("data", "shards.yaml")
    pack_cfg = from_dict(PackConfig, deep_merge(load_yaml(src), cfg.shards.overrides), where="shards")
    pack_identity = pack_cfg.identity()

    def version(p: dict[str, str]) -> str:
        # tokenizer/pack.py: version_id("shards", cfg.identity(), {corpus, tokenizer})
        return version_id("shards", pack_identity, {"corpus": p[corpus], "tokenizer": p["tokenizer"]})

    return Node("shards", "shards", "shards", (corpus, "tokenizer"), pack_cfg, pack_identity, version,
                _in_workdir("shards"))


def train_identity(train_cfg: Any) -> dict[str, Any]:
    """The training config minus what the graph supplies (the shards, as a parent version), the
    run's name (the run directory carries the version) and its cosmetic (`speed_only`) settings."""
    d = identity(train_cfg)
    d["data"] = {**d["data"], "shards": None}
    d.pop("name")
    return d


def _train_node(cfg: RunConfig) -> Node:
    from symboliclight.model.train_config import TrainConfig, train_config_path

    data = deep_merge(load_yaml(train_config_path(cfg.train.config)), cfg.train.overrides)
    train_cfg = from_dict(TrainConfig, data, where="train")
    train_id = train_identity(train_cfg)
    name = train_cfg.name
    return Node("train", "train", "runs", ("shards",), train_cfg, train_id,
                lambda p: version_id("train", train_id, {"shards": p["shards"]}),
                lambda workdir, v: Path(workdir) / "runs" / f"{name}-{v}")


@dataclass(frozen=True)
class EvalPlan:
    """The evaluation node's typed settings."""

    device: str
    ppl: Any  # model.eval_ppl.PplConfig
    generate: Any  # model.generate.GenerationConfig
    prompts: tuple[str, ...]


def _eval_node(cfg: RunConfig) -> Node:
    from symboliclight.model.eval_ppl import PplConfig
    from symboliclight.model.generate import GenerationConfig

    e = cfg.eval
    plan = EvalPlan(e.device, from_dict(PplConfig, e.ppl, where="eval.ppl"),
                    from_dict(GenerationConfig, e.generate, where="eval.generate"), tuple(e.prompts))
    eval_id = {"device": plan.device, "ppl": dataclasses.asdict(plan.ppl), "generate": dataclasses.asdict(plan.generate),
               "prompts": list(plan.prompts)}
    return Node("eval", "eval", "eval", ("train", "shards"), plan, eval_id,
                lambda p: version_id("eval", eval_id, {"train": p["train"], "shards": p["shards"]}),
                _in_workdir("eval"))


def build_graph(cfg: RunConfig, workdir: str | Path = "work") -> Graph:
    """corpus → clean → dedup → balance → tokenizer → shards → train → eval, from one run config."""
    workdir = Path(workdir).resolve()
    nodes = [_sample_node(cfg) if cfg.corpus.source == "sample" else _artifact_node(cfg, workdir)]
    for name in cfg.stages:
        nodes.append(_data_stage_node(name, nodes[-1].name, cfg))
    corpus = nodes[-1].name
    nodes += [_tokenizer_node(corpus, cfg), _shards_node(corpus, cfg), _train_node(cfg)]
    if cfg.eval.enabled:
        nodes.append(_eval_node(cfg))
    return Graph(nodes, cfg)


def format_plan(plan: list[Planned], selected: list[str] | None = None, workdir: str | Path | None = None) -> str:
    """The plan as a table: stage, version, parents, done/run, artifact directory."""
    root = Path(workdir).resolve() if workdir else None
    rows = [f"{'stage':<10} {'version':<13} {'status':<8} {'inputs':<46} artifact"]
    for p in plan:
        if selected is not None and p.node.name not in selected:
            continue
        status = "done" if p.done else "run"
        inputs = ", ".join(f"{k}={v}" for k, v in p.parents.items()) or "-"
        path = p.path
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        rows.append(f"{p.node.name:<10} {p.version:<13} {status:<8} {inputs:<46} {path}")
    return "\n".join(rows)


def plan_json(plan: list[Planned], selected: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"stage": p.node.name, "version": p.version, "status": "done" if p.done else "run",
             "parents": p.parents, "path": str(p.path), "config": p.node.identity}
            for p in plan if selected is None or p.node.name in selected]
