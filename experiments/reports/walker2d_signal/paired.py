"""Paired gains of this report: `dpo_return_check --json` records and `mpo data suite` cache results.

    python experiments/reports/walker2d_signal/paired.py FILE.json [FILE.json ...]

A check record holds per-seed reference and fine-tuned scores on shared evaluation keys; a suite result holds
the reference's and each tuned loss's per-test-seed scores. Prints mean and 95% t-interval of the paired gain
over seeds (and, for suite results of one checksum, the paired difference against the first file's gain).
"""
import json
import sys

import numpy as np
from scipy import stats


def gains(path: str) -> tuple[str, np.ndarray, str]:
    d = json.load(open(path))
    if "test" in d:  # a suite result
        (loss,) = [k for k in d["test"] if k != "reference"]
        g = np.asarray(d["test"][loss]["fitness"]) - np.asarray(d["test"]["reference"]["fitness"])
        return f"{loss} flip {d.get('label_flip', 0.0)} on {d['dataset']}", g, d["checksum"][:8]
    g = np.asarray(d["tuned"]) - np.asarray(d["reference"])
    return f"{d['loss']} beta {d['beta']} lr {d['lr']} {d['steps']} steps on {d['dataset']}", g, d["dataset_checksum"][:8]


def interval(x: np.ndarray) -> str:
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return f"{x.mean():+.1f} ± {h:.1f}"


if __name__ == "__main__":
    rows = [gains(p) for p in sys.argv[1:]]
    for name, g, ck in rows:
        line = f"{name} ({ck}, {len(g)} seeds): gain {interval(g)}"
        if rows[0][2] == ck and rows[0][1] is not g and len(rows[0][1]) == len(g):
            line += f"; first - this {interval(rows[0][1] - g)}"
        print(line)
