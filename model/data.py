"""The Lightning data module over a shards version: per-domain mixture windows, exact resume.

Training windows hold `seq_len + 1` tokens read through memory maps. Each domain is a virtual
stream: its documents (in packed order, across shards) joined end to end and closed into a ring,
so a window may start anywhere and cross document boundaries (spec §7.3: no reset inside a window).

Sampling is counter-based. Rank r's k-th window has the global id g = k * world_size + r, and its
domain and start are a pure function of (seed, g): a hash picks the domain with the weights of
the curriculum phase that g falls in (by the fraction of the token budget consumed, g * seq_len /
total_tokens), and a second hash picks the start within the domain. So the state is one counter
(windows consumed per rank), DDP ranks and dataloader workers get disjoint windows, any number of
workers yields the same sequence, and a resumed run sees exactly the windows an uninterrupted run
would have seen.

Validation windows are fixed: per domain, consecutive windows with stride `seq_len` (each token
after the first is a target exactly once), from the val shards, the same on every call.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from symboliclight.pipeline.artifacts import resolve
from symboliclight.pipeline.bitmix import splitmix64
from symboliclight.pipeline.errors import UserError
from symboliclight.pipeline.recipe import Recipe, load_recipe
from symboliclight.tokenizer.shards import ShardSet, open_shards
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .data_config import DataConfig, load_data_config  # noqa: F401  (re-exported: the data module's settings)

STATE_FORMAT = 1
_U64 = np.uint64
_TWO53 = float(1 << 53)


# ---- mixture weights ----------------------------------------------------------------------------


def capped_weights(target: dict[str, float], natural: dict[str, float], max_oversample: float) -> dict[str, float]:
    """Target weights capped at natural share x max_oversample, renormalised (spec §6.3).

    Renormalising can push a capped domain back over its cap, so the cap is applied as water-filling:
    capped domains are fixed at their cap and the rest of the mass is shared among the others in
    proportion to their targets. Domains with no tokens (natural share 0) get weight 0.
    """
    names = [d for d in natural if natural[d] > 0 and target.get(d, 0.0) > 0]
    if not names:
        raise UserError("mixture: no domain has both a positive weight and tokens in the shards")
    w = {d: float(target[d]) for d in names}
    cap = {d: natural[d] * max_oversample for d in names}
    fixed: dict[str, float] = {}
    while True:
        free = [d for d in names if d not in fixed]
        mass = 1.0 - sum(fixed.values())
        if not free or mass <= 0:
            break
        tot = sum(w[d] for d in free)
        share = {d: mass * w[d] / tot for d in free}
        over = [d for d in free if share[d] > cap[d] + 1e-12]
        if not over:
            fixed.update(share)
            break
        for d in over:
            fixed[d] = cap[d]
    total = sum(fixed.values())
    return {d: fixed.get(d, 0.0) / total for d in natural}


@dataclass(frozen=True)
class Mixture:
    """Per-phase domain weights, as cumulative arrays over the shard's domain order."""

    domains: tuple[str, ...]
    untils: tuple[float, ...]  # phase p covers budget fractions below untils[p]; the last is open-ended
    weights: tuple[tuple[float, ...], ...]

    def phase_of(self, fraction: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(np.asarray(self.untils), fraction, side="right"), len(self.untils) - 1)

    def as_dict(self) -> list[dict[str, Any]]:
        return [{"until": u, "weights": dict(zip(self.domains, w, strict=True))} for u, w in zip(self.untils, self.weights, strict=True)]


def build_mixture(recipe: Recipe, natural_tokens: dict[str, int], curriculum: bool, min_tokens: int) -> Mixture:
    """The recipe's shares (or curriculum phases) over the domains present, capped and renormalised.

    Domains with fewer than `min_tokens` training tokens (less than one window) are left out.
    """
    usable = {d: n for d, n in natural_tokens.items() if n >= min_tokens}
    total = sum(usable.values())
    if total == 0:
        raise UserError(f"shards: no domain holds a full window ({min_tokens} tokens) of training data")
    natural = {d: usable.get(d, 0) / total for d in natural_tokens}
    if curriculum:
        if not recipe.curriculum:
            raise UserError(f"recipe {recipe.name}: curriculum requested but the recipe defines no phases")
        phases = [(ph.until, ph.weights) for ph in recipe.curriculum]
    else:
        phases = [(1.0, {d: spec.share for d, spec in recipe.domains.items()})]
    domains = tuple(natural_tokens)
    weights = []
    for _, target in phases:
        w = capped_weights(target, natural, recipe.max_oversample)
        weights.append(tuple(w[d] for d in domains))
    return Mixture(domains, tuple(u for u, _ in phases), tuple(weights))


# ---- domain streams -------------------------------------------------------------------------------


@dataclass
class DomainStreams:
    """Each domain's documents of one split as a ring of token segments over the shard memory maps."""

    shard_set: ShardSet
    split: str
    seg_shard: list[np.ndarray]  # per domain: which shard each segment is in
    seg_start: list[np.ndarray]  # per domain: segment start token within its shard
    seg_cum: list[np.ndarray]  # per domain: cumulative segment lengths, starting at 0
    sizes: np.ndarray  # per domain: total tokens
    _maps: list[np.ndarray] | None = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"] = None  # memory maps are reopened in each worker process, never pickled
        return state

    def token_maps(self) -> list[np.ndarray]:
        if self._maps is None:
            self._maps = [s.token_map() for s in self.shard_set.shards[self.split]]
        return self._maps

    @classmethod
    def build(cls, ss: ShardSet, split: str) -> DomainStreams:
        nd = len(ss.domains)
        parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(nd)]
        for si, shard in enumerate(ss.shards[split]):
            ends = shard.doc_ends()
            doms = shard.doc_domains().astype(np.int64)
            starts = np.concatenate([[0], ends[:-1]])
            first = np.flatnonzero(np.concatenate([[True], doms[1:] != doms[:-1]]))  # runs of one domain
            last = np.concatenate([first[1:], [len(doms)]]) - 1
            for d in np.unique(doms[first]):
                sel = doms[first] == d
                s, e = starts[first[sel]], ends[last[sel]]
                parts[int(d)].append((np.full(len(s), si, dtype=np.int64), s, e - s))
        seg_shard, seg_start, seg_cum = [], [], []
        for d in range(nd):
            if parts[d]:
                sh, st, ln = (np.concatenate(x) for x in zip(*parts[d], strict=True))
            else:
                sh = st = ln = np.empty(0, dtype=np.int64)
            seg_shard.append(sh)
            seg_start.append(st)
            seg_cum.append(np.concatenate([[0], np.cumsum(ln)]).astype(np.int64))
        sizes = np.array([int(c[-1]) for c in seg_cum], dtype=np.int64)
        return cls(ss, split, seg_shard, seg_start, seg_cum, sizes)

    def read(self, domain: int, start: int, n: int) -> np.ndarray:
        """`n` tokens of the domain's ring from `start` (wrapping past its end to its beginning)."""
        size = int(self.sizes[domain])
        cum, sh, st = self.seg_cum[domain], self.seg_shard[domain], self.seg_start[domain]
        maps = self.token_maps()
        out = np.empty(n, dtype=self.shard_set.dtype)
        pos = start % size
        i = int(np.searchsorted(cum, pos, side="right")) - 1
        filled = 0
        while filled < n:
            within = pos - int(cum[i])
            take = min(n - filled, int(cum[i + 1]) - pos)
            lo = int(st[i]) + within
            out[filled:filled + take] = maps[int(sh[i])][lo:lo + take]
            filled += take
            pos += take
            i += 1
            if i == len(sh):
                i, pos = 0, 0
        return out


def plan_windows(seed: int, global_ids: np.ndarray, mixture: Mixture, sizes: np.ndarray, seq_len: int,
                 total_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(domain, start) of each global window id: a pure function of the seed and the id."""
    g = global_ids.astype(_U64)
    salt = splitmix64(np.array([seed], dtype=np.int64).astype(_U64))[0]
    h_dom = splitmix64(salt + g * _U64(2))
    h_pos = splitmix64(salt + g * _U64(2) + _U64(1))
    u = (h_dom >> _U64(11)).astype(np.float64) / _TWO53
    phase = mixture.phase_of(global_ids.astype(np.float64) * seq_len / total_tokens)
    domain = np.empty(len(g), dtype=np.int64)
    for p in np.unique(phase):
        w = np.asarray(mixture.weights[p], dtype=np.float64)
        cum = np.cumsum(w)
        cum /= cum[-1]
        sel = phase == p
        d = np.searchsorted(cum, u[sel], side="right")
        domain[sel] = np.minimum(d, int(np.flatnonzero(w > 0)[-1]))
    start = (h_pos % sizes[domain].astype(_U64)).astype(np.int64)
    return domain, start


# ---- datasets ---------------------------------------------------------------------------------------


@dataclass
class Cursor:
    """Training windows consumed per rank: the data module's whole resumable state."""

    windows: int = 0


def _worker_slice() -> tuple[int, int]:
    info = get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


class TrainWindows(IterableDataset):
    """Batches of training windows for one rank, from the shared cursor on (one epoch = `batches`)."""

    def __init__(self, streams: DomainStreams, mixture: Mixture, cfg: DataConfig, rank: int, world_size: int,
                 cursor: Cursor, batches_per_epoch: int, total_tokens: int):
        self.streams = streams
        self.mixture = mixture
        self.cfg = cfg
        self.rank = rank
        self.world_size = world_size
        self.cursor = cursor
        self.batches = batches_per_epoch
        self.total_tokens = total_tokens

    def __len__(self) -> int:
        return self.batches

    def batch(self, k0: int) -> dict[str, torch.Tensor]:
        """The batch whose first per-rank window index is `k0`."""
        k = np.arange(k0, k0 + self.cfg.batch_size, dtype=np.int64)
        g = k * self.world_size + self.rank
        dom, start = plan_windows(self.cfg.seed, g, self.mixture, self.streams.sizes, self.cfg.seq_len,
                                  self.total_tokens)
        n = self.cfg.seq_len + 1
        tokens = np.stack([self.streams.read(int(d), int(s), n) for d, s in zip(dom, start, strict=True)])
        return {"tokens": torch.from_numpy(tokens.astype(np.int64)), "domain": torch.from_numpy(dom),
                "window": torch.from_numpy(k)}

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        wid, nw = _worker_slice()
        base = self.cursor.windows
        for b in range(wid, self.batches, nw):
            yield self.batch(base + b * self.cfg.batch_size)


class ValWindows(IterableDataset):
    """Fixed validation batches: per domain, windows of seq_len + 1 tokens with stride seq_len."""

    def __init__(self, streams: DomainStreams, seq_len: int, batch_size: int, rank: int, world_size: int,
                 max_per_domain: int | None):
        self.streams = streams
        self.seq_len = seq_len
        self.batch_size = batch_size
        doms, starts = [], []
        for d, size in enumerate(streams.sizes):
            count = max(0, (int(size) - 1) // seq_len)
            if max_per_domain is not None:
                count = min(count, max_per_domain)
            doms.append(np.full(count, d, dtype=np.int64))
            starts.append(np.arange(count, dtype=np.int64) * seq_len)
        self.domains = np.concatenate(doms)[rank::world_size] if doms else np.empty(0, dtype=np.int64)
        self.starts = np.concatenate(starts)[rank::world_size] if starts else np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return math.ceil(len(self.domains) / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        wid, nw = _worker_slice()
        n = self.seq_len + 1
        for b in range(wid, len(self), nw):
            sl = slice(b * self.batch_size, (b + 1) * self.batch_size)
            doms, starts = self.domains[sl], self.starts[sl]
            tokens = np.stack([self.streams.read(int(d), int(s), n) for d, s in zip(doms, starts, strict=True)])
            yield {"tokens": torch.from_numpy(tokens.astype(np.int64)), "domain": torch.from_numpy(doms.copy())}


class ResumableLoader(DataLoader):
    """A DataLoader whose position is the training cursor, so Lightning's loop also sees it as resumable.

    The data module's own state_dict holds the same counter; restoring both is idempotent.
    """

    def state_dict(self) -> dict[str, int]:
        return {"windows_consumed": self.dataset.cursor.windows}  # type: ignore[attr-defined]

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.dataset.cursor.windows = int(state["windows_consumed"])  # type: ignore[attr-defined]


# ---- the data module ------------------------------------------------------------------------------


class ShardsDataModule(L.LightningDataModule):
    """Train/val dataloaders over a verified shards version (see the module docstring).

    `expected_vocab_size` is the model's vocabulary: shards from a tokenizer of another size are
    refused. Rank and world size come from the trainer (or torch.distributed) unless given.
    """

    def __init__(self, cfg: DataConfig, *, workdir: str | Path = "work", expected_vocab_size: int | None = None,
                 rank: int | None = None, world_size: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.workdir = Path(workdir)
        self.expected_vocab_size = expected_vocab_size
        self._rank = rank
        self._world_size = world_size
        self.cursor = Cursor()
        self.shard_set: ShardSet | None = None
        self.mixture: Mixture | None = None
        self.train_streams: DomainStreams | None = None
        self.val_streams: DomainStreams | None = None
        self.excluded_domains: dict[str, str] = {}
        self._expected_shards: str | None = None

    # -- setup -------------------------------------------------------------------------------------
    @property
    def rank(self) -> int:
        if self._rank is not None:
            return self._rank
        if self.trainer is not None:
            return self.trainer.global_rank
        return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0

    @property
    def world_size(self) -> int:
        if self._world_size is not None:
            return self._world_size
        if self.trainer is not None:
            return self.trainer.world_size
        return torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1

    @property
    def total_tokens(self) -> int:
        """The token budget across ranks: configured, else one pass over the training tokens."""
        assert self.shard_set is not None
        return self.cfg.total_tokens or self.shard_set.split_tokens("train")

    @property
    def domains(self) -> list[str]:
        assert self.shard_set is not None
        return self.shard_set.domains

    def setup(self, stage: str | None = None) -> None:
        if self.shard_set is not None:
            return
        art = resolve(self.cfg.shards, "shards", self.workdir)
        ss = open_shards(art, level=self.cfg.verify)
        if self.expected_vocab_size is not None and ss.vocab_size != self.expected_vocab_size:
            raise UserError(f"{art.path}: shards were made with a {ss.vocab_size}-token vocabulary "
                            f"(tokenizer {art.manifest['tokenizer'].get('version')}), the model expects "
                            f"{self.expected_vocab_size}")
        if self._expected_shards not in (None, ss.version):
            raise UserError(f"cannot resume: checkpoint read shards {self._expected_shards}, this run reads {ss.version}")
        self.shard_set = ss
        self.train_streams = DomainStreams.build(ss, "train")
        self.val_streams = DomainStreams.build(ss, "val")
        natural = {d: int(n) for d, n in zip(ss.domains, self.train_streams.sizes, strict=True)}
        recipe = load_recipe(self.cfg.recipe)
        for d, n in natural.items():
            if d not in recipe.domains:
                self.excluded_domains[d] = f"not in recipe {recipe.name}"
            elif n < self.cfg.seq_len + 1:
                self.excluded_domains[d] = f"{n} tokens, fewer than one window"
        self.mixture = build_mixture(recipe, natural, self.cfg.curriculum, self.cfg.seq_len + 1)

    # -- dataloaders -------------------------------------------------------------------------------
    def batches_per_epoch(self) -> int:
        windows = self.total_tokens // self.cfg.seq_len // self.world_size
        return max(1, windows // self.cfg.batch_size)

    def train_dataset(self) -> TrainWindows:
        self.setup("fit")
        assert self.train_streams is not None and self.mixture is not None
        return TrainWindows(self.train_streams, self.mixture, self.cfg, self.rank, self.world_size, self.cursor,
                            self.batches_per_epoch(), self.total_tokens)

    def val_dataset(self) -> ValWindows:
        self.setup("validate")
        assert self.val_streams is not None
        return ValWindows(self.val_streams, self.cfg.seq_len, self.cfg.val_batch_size or self.cfg.batch_size,
                          self.rank, self.world_size, self.cfg.val_max_windows_per_domain)

    def _loader(self, ds: IterableDataset, cls: type[DataLoader] = DataLoader) -> DataLoader:
        # Not persistent: each epoch's workers must start from the cursor as it is then.
        return cls(ds, batch_size=None, num_workers=self.cfg.num_workers, pin_memory=self.cfg.pin_memory,
                          persistent_workers=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset(), ResumableLoader)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset())

    # -- exact resume ------------------------------------------------------------------------------
    def advance(self, batch: dict[str, Any]) -> None:
        """Record a training batch as consumed (Lightning calls this through the hook below)."""
        if isinstance(batch, dict) and "window" in batch:
            self.cursor.windows = max(self.cursor.windows, int(batch["window"].max()) + 1)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        self.advance(batch)  # runs in the main process, for the batch about to be trained on
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "windows_consumed": self.cursor.windows,
            "seed": self.cfg.seed,
            "seq_len": self.cfg.seq_len,
            "world_size": self.world_size,
            "shards_version": self.shard_set.version if self.shard_set else None,
            "config": dataclasses.asdict(self.cfg),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("format") != STATE_FORMAT:
            raise UserError(f"data module state format {state.get('format')!r} is not {STATE_FORMAT}")
        for key, mine in (("seed", self.cfg.seed), ("seq_len", self.cfg.seq_len)):
            if state.get(key) != mine:
                raise UserError(f"cannot resume: checkpoint data {key} is {state.get(key)!r}, config says {mine!r}")
        if self.shard_set is not None and state.get("shards_version") not in (None, self.shard_set.version):
            raise UserError(f"cannot resume: checkpoint read shards {state['shards_version']}, "
                            f"this run reads {self.shard_set.version}")
        self._expected_shards = state.get("shards_version")
        self.cursor.windows = int(state["windows_consumed"]) * int(state.get("world_size", 1)) // self.world_size
