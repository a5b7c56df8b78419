"""Seeded search of the tile → core placement (simulated annealing), scored by the fast cost model.

Every placement policy (``empf_hw.hw.cores.placement``) is scored on the trace; the search starts from the best and
proposes ``iterations`` moves: a tile to a core at most ``NEAR`` hops away or to any core, or two tiles swapping
cores. A move that breaks a capacity (``mapper.check_placement``) is dropped; the others are scored with
``evaluate(trace, arch, placement=...)`` (the trace's tables are cached with it). A move that lowers the objective
is kept; one that raises it by ``d`` is kept with probability ``exp(−d / temperature)``, the temperature being
``TEMPERATURE`` × the mean rise of the uphill moves seen so far, falling linearly to 0 over the iterations. Scored
placements are remembered, so a revisit costs nothing. The best placement seen is returned: never worse than the
start; the same seed gives the same result.

Objectives: ``energy`` (pJ per inference), ``latency`` (cycles per inference), ``edp`` (their product, pJ·cycles).
"""

import math
from dataclasses import dataclass

import numpy as np

from ...errors import EmpfError, check_choice
from ..evaluate import evaluate
from ..result import Costs
from .mapper import check_placement
from .mesh import router_xy
from .placement import POLICIES

OBJECTIVES = ("energy", "latency", "edp")
ITERATIONS = 1000
NEAR = 2  # hops of a local move
TEMPERATURE = 0.01  # of the mean rise of the uphill moves seen so far


def score(costs: Costs, objective: str) -> float:
    """The value of ``objective`` for evaluated costs (lower is better)."""
    energy, latency = costs.energy_pJ(), float(costs.timing.cycles)
    return {"energy": energy, "latency": latency, "edp": energy * latency}[objective]


def policies(trace, arch, **kw) -> dict[str, Costs | EmpfError]:
    """Costs of every placement policy on ``trace`` (keywords go to ``evaluate``), or why it does not apply."""
    out = {}
    for policy in POLICIES:
        try:
            out[policy] = evaluate(trace, arch, placement=policy, **kw)
        except EmpfError as e:
            out[policy] = e
    return out


def best_policy(each: dict[str, Costs | EmpfError], objective: str) -> str:
    """The policy of least ``objective`` among those that apply (ties: the earlier in ``POLICIES``)."""
    scored = {p: score(c, objective) for p, c in each.items() if isinstance(c, Costs)}
    if not scored:
        raise each["serpentine"]
    return min(scored, key=scored.get)


@dataclass
class SearchResult:
    objective: str
    start: str  # the policy the search started from
    start_value: float
    value: float  # the objective of the best placement
    placement: list[int]  # core of every tile, in tile order
    costs: Costs  # of the best placement
    evaluations: int  # placements scored
    accepted: int  # moves kept


def search(trace, arch, objective: str = "edp", iterations: int = ITERATIONS, seed: int = 0, start=None,
           **kw) -> SearchResult:
    """Anneal the placement of ``trace`` on ``arch`` for ``objective`` from ``start`` (a policy, default: the best
    one for the objective); keywords go to ``evaluate``."""
    check_choice("objective", objective, OBJECTIVES)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise EmpfError(f"iterations={iterations!r} is not valid; allowed: an integer >= 0")
    if start is None:
        each = policies(trace, arch, **kw)
        start = best_policy(each, objective)
        costs = each[start]
    else:
        check_choice("start", start, POLICIES)
        costs = evaluate(trace, arch, placement=start, **kw)
    arch = costs.arch
    tiles = costs.mapping.tiles
    first = cur = costs.mapping.placement
    f0 = f_cur = score(costs, objective)
    best, best_value = cur, f_cur
    seen = {tuple(cur): f_cur}
    at = np.repeat(router_xy(arch), arch.chip["cores_per_router"], axis=0)
    rng = np.random.default_rng(seed)
    rise, rises, accepted = 0.0, 0, 0  # sum and count of the uphill moves
    for k in range(iterations):
        new = _move(rng, arch, tiles, cur, at)
        if new is None:
            continue
        key = tuple(new)
        if key not in seen:
            seen[key] = score(evaluate(trace, arch, placement=new, **kw), objective)
        f_new = seen[key]
        if f_new > f_cur:
            rise, rises = rise + f_new - f_cur, rises + 1
        temp = TEMPERATURE * rise / max(rises, 1) * (1 - k / iterations)
        if f_new <= f_cur or (temp > 0 and rng.random() < math.exp(-(f_new - f_cur) / temp)):
            cur, f_cur = new, f_new
            accepted += 1
            if f_new < best_value:
                best, best_value = new, f_new
    if best is not first:
        costs = evaluate(trace, arch, placement=best, **kw)
    return SearchResult(objective, start, f0, best_value, best, costs, len(seen), accepted)


def _move(rng, arch, tiles, cur: list[int], at: np.ndarray) -> list[int] | None:
    """A neighbouring placement: tile i to a core at most ``NEAR`` hops away, or to any core, or tiles i and j
    swapping cores; None when the drawn move leaves the placement unchanged or breaks a capacity."""
    i, kind = int(rng.integers(len(tiles))), int(rng.integers(3))
    new = list(cur)
    if kind == 0:
        near = np.flatnonzero(np.abs(at - at[cur[i]]).sum(axis=1) <= NEAR)
        new[i] = int(near[rng.integers(len(near))])
    elif kind == 1 or len(tiles) < 2:
        new[i] = int(rng.integers(arch.cores))
    else:
        j = int(rng.integers(len(tiles)))
        new[i], new[j] = cur[j], cur[i]
    if new == cur:
        return None
    try:
        check_placement(arch, tiles, new)
    except EmpfError:
        return None
    return new
