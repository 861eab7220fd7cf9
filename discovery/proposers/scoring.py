"""The engine process's side of scoring: JSON requests to the scoring worker, one per form (proposals that
share their code are one vmapped program over their constants), answers back as arrays."""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from discovery.proposers import sandbox
from discovery.proposers.proposal import Proposal


def mean_fitness(fit: np.ndarray) -> float | None:
    return float(np.mean(fit)) if np.all(np.isfinite(fit)) else None


def score_group(worker: sandbox.Worker, props: Sequence[Proposal], lrs: Sequence[float],
                keys: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None, float]:
    """Score proposals of ONE form (one vmapped program); returns (per-proposal metrics, error, wall)."""
    names = sorted(props[0].constants)
    req = {"op": "score", "code": props[0].code, "names": names,
           "values": [[p.constants[n].value for n in names] for p in props], "lr": list(map(float, lrs)), "keys": keys}
    t0 = time.perf_counter()
    try:
        resp = worker.request(req)
    except sandbox.WorkerFailed as e:
        return [], f"scoring: {e}", time.perf_counter() - t0
    if not resp.get("ok"):
        return [], f"scoring failed: {resp.get('error')}", time.perf_counter() - t0
    out = [{m: np.asarray(resp[m][i], np.float32) for m in ("fitness", "return", "kl", "length", "heldout_accuracy", "nan")}
           for i in range(len(props))]
    return out, None, resp.get("wall_s", time.perf_counter() - t0)


def group_by_form(items: Sequence[tuple[int, Proposal]]) -> dict[str, list[tuple[int, Proposal]]]:
    groups: dict[str, list[tuple[int, Proposal]]] = {}
    for i, p in items:
        groups.setdefault(p.form, []).append((i, p))
    return groups
