"""The domain mixture: how many characters of each domain the training split gets, and which documents.

Plan (`plan_mixture`), from the natural character count C_d of each domain's training documents:

1. Target shares t_d are the recipe's shares, renormalised over the domains the corpus has (a
   recipe domain with no documents cannot be sampled; the plan lists it as missing).
2. The oversampling cap, as in the reference recipe: a domain's sampled share may not exceed its
   natural share n_d = C_d / sum(C) times `max_oversample`. Capped targets c_d are found by water
   filling: a domain whose target exceeds its cap is fixed at the cap, and the share it cannot take
   is spread over the uncapped domains in proportion to their targets, until no cap is exceeded.
3. The total T. Domain d then needs c_d * T characters, i.e. a repeat factor
   f_d = c_d * T / C_d = (c_d / n_d) * (T / sum(C)). The domain with the largest demand ratio
   c_d / n_d is repeated most, and it must stay within the cap: f_d <= max_oversample, i.e.
   T <= T_max = sum(C) * max_oversample / max_d(c_d / n_d). By default T = sum(C), the natural
   size of the training split: the capped targets already keep every f_d <= max_oversample there,
   the token budget stays what the data supports, and over-represented domains are subsampled
   rather than everything else being repeated. A user may ask for `total_characters`; it is clamped
   to T_max (the report says so) so that no domain is ever repeated beyond its cap.

Selection (`select_documents`): each document of domain d appears floor(f_d) times, and the
fractional remainder is filled with documents in a seeded stable-hash order of their ids, taking
the prefix whose character count is closest to the remainder. Same input, config and seed give the
same selection; achieved shares are then exact up to one document per domain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UserError


@dataclass
class MixtureConfig:
    recipe: str = "default"  # shipped recipe name or YAML path
    max_oversample: float | None = None  # None: the recipe's
    total_characters: int | None = None  # None: natural size of the training split (see module doc)
    seed: int = 0
    tolerance_pp: float = 1.0  # achieved share within this many percentage points counts as on target

    def __post_init__(self) -> None:
        if self.max_oversample is not None and self.max_oversample < 1.0:
            raise UserError("balance mixture.max_oversample must be >= 1")
        if self.total_characters is not None and self.total_characters <= 0:
            raise UserError("balance mixture.total_characters must be positive")


def capped_targets(targets: dict[str, float], natural: dict[str, float], max_oversample: float) -> dict[str, float]:
    """Water-fill `targets` (summing to 1) under caps natural_d * max_oversample."""
    cap = {d: natural[d] * max_oversample for d in targets}
    out: dict[str, float] = {}
    free = {d for d in targets if targets[d] > 0}
    left = 1.0
    while free:
        weight = math.fsum(targets[d] for d in free)  # exact: no dependence on set order
        over = {d for d in free if left * targets[d] / weight > cap[d] + 1e-15}
        if not over:
            for d in free:
                out[d] = left * targets[d] / weight
            break
        for d in sorted(over):
            out[d] = cap[d]
        left -= math.fsum(cap[d] for d in over)
        free -= over
    for d in targets:
        out.setdefault(d, 0.0)
    return out


def plan_mixture(natural_chars: dict[str, int], recipe_shares: dict[str, float], max_oversample: float,
                 total_characters: int | None = None) -> dict[str, Any]:
    """The sampling plan (see the module docstring): per domain shares, caps and repeat factors."""
    total_natural = sum(natural_chars.values())
    if total_natural == 0:
        raise UserError("balance: the training split is empty")
    unknown = sorted(d for d in natural_chars if d not in recipe_shares)
    if unknown:
        raise UserError(f"balance: domain {unknown[0]!r} is not in the recipe (domains: {', '.join(recipe_shares)})")
    present = {d for d, c in natural_chars.items() if c > 0}
    missing = sorted(d for d in recipe_shares if d not in present and recipe_shares[d] > 0)
    share_present = math.fsum(recipe_shares[d] for d in present)
    if share_present <= 0:
        raise UserError("balance: no domain of the corpus has a positive share in the recipe")
    natural = {d: natural_chars.get(d, 0) / total_natural for d in recipe_shares}
    target = {d: (recipe_shares[d] / share_present if d in present else 0.0) for d in recipe_shares}
    capped = capped_targets(target, natural, max_oversample)
    demand = max(capped[d] / natural[d] for d in present if capped[d] > 0)
    t_max = total_natural * max_oversample / demand
    total = float(total_natural if total_characters is None else total_characters)
    clamped = total > t_max * (1 + 1e-12)
    total = min(total, t_max)
    domains = {}
    for d in recipe_shares:
        c = natural_chars.get(d, 0)
        domains[d] = {
            "natural_characters": int(c),
            "natural_share": natural[d],
            "recipe_share": recipe_shares[d],
            "target_share": target[d],
            "cap_share": natural[d] * max_oversample,
            "capped_target_share": capped[d],
            "cap_binds": bool(target[d] > capped[d] + 1e-12),
            "target_characters": capped[d] * total,
            "repeat_factor": (capped[d] * total / c) if c else 0.0,
            "missing": d in missing,
        }
    return {"total_natural_characters": int(total_natural), "total_characters": total,
            "total_characters_max": t_max, "total_requested": total_characters, "total_clamped": clamped,
            "max_oversample": max_oversample, "missing_domains": missing, "domains": domains}


def select_documents(chars: np.ndarray, keys: np.ndarray, ids: np.ndarray, factor: float,
                     tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Repeat count per document so the domain's characters come closest to `factor` × its total
    (`tiebreak`, e.g. input position, orders documents that share an id)."""
    n = len(chars)
    reps = np.zeros(n, dtype=np.int64)
    if n == 0 or factor <= 0:
        return reps
    full = math.floor(factor + 1e-12)
    reps[:] = full
    remainder = (factor - full) * float(chars.sum())
    if remainder <= 0:
        return reps
    order = np.lexsort((np.arange(n) if tiebreak is None else tiebreak, ids, keys))
    cum = np.concatenate([[0], np.cumsum(chars[order])]).astype(np.float64)
    take = int(np.argmin(np.abs(cum - remainder)))  # prefix length closest to the remainder
    reps[order[:take]] += 1
    return reps


def achieved(plan: dict[str, Any], achieved_chars: dict[str, int], tolerance_pp: float) -> dict[str, Any]:
    """Adds achieved characters/shares to the plan and says, per domain, whether it is on target."""
    total = sum(achieved_chars.values())
    worst = 0.0
    for d, row in plan["domains"].items():
        a = achieved_chars.get(d, 0)
        row["achieved_characters"] = int(a)
        row["achieved_share"] = a / total if total else 0.0
        row["achieved_repeat_factor"] = a / row["natural_characters"] if row["natural_characters"] else 0.0
        row["error_pp"] = 100.0 * (row["achieved_share"] - row["capped_target_share"])
        row["within_tolerance"] = abs(row["error_pp"]) <= tolerance_pp
        if not row["missing"]:
            worst = max(worst, abs(row["error_pp"]))
    plan["achieved_total_characters"] = int(total)
    plan["max_abs_error_pp"] = worst
    plan["tolerance_pp"] = tolerance_pp
    return plan


def format_plan(plan: dict[str, Any]) -> str:
    """The sampling plan as a table, with a line for every binding cap and missing domain."""
    lines = [f"{'domain':<12}{'natural':>9}{'recipe':>8}{'target':>8}{'cap':>8}{'capped':>8}"
             f"{'achieved':>9}{'err pp':>8}{'repeat':>8}  note"]
    for d, r in plan["domains"].items():
        note = "missing from corpus" if r["missing"] else ("CAP BINDS" if r["cap_binds"] else "")
        if not r["missing"] and not r["within_tolerance"]:
            note = (note + "; " if note else "") + "outside tolerance"
        lines.append(f"{d:<12}{100 * r['natural_share']:>8.2f}%{100 * r['recipe_share']:>7.2f}%"
                     f"{100 * r['target_share']:>7.2f}%{100 * r['cap_share']:>7.2f}%{100 * r['capped_target_share']:>7.2f}%"
                     f"{100 * r.get('achieved_share', 0.0):>8.2f}%{r.get('error_pp', 0.0):>8.2f}"
                     f"{r.get('achieved_repeat_factor', 0.0):>8.2f}  {note}")
    lines.append(f"total: natural {plan['total_natural_characters']:,} chars, planned {plan['total_characters']:,.0f}"
                 f" (max without exceeding a cap {plan['total_characters_max']:,.0f}), achieved "
                 f"{plan.get('achieved_total_characters', 0):,}; max |error| {plan.get('max_abs_error_pp', 0):.3f} pp")
    for d, r in plan["domains"].items():
        if r["cap_binds"]:
            lines.append(f"cap binds for {d}: target {100 * r['target_share']:.2f}% > natural "
                         f"{100 * r['natural_share']:.2f}% x {plan['max_oversample']:g} = {100 * r['cap_share']:.2f}%")
    if plan["total_clamped"]:
        lines.append(f"requested total {plan['total_requested']:,} clamped to {plan['total_characters']:,.0f}")
    return "\n".join(lines)
