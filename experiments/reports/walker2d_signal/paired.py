"""Paired gains of this report: `dpo_return_check --json` records and `mpo data suite` cache results.

    python experiments/reports/walker2d_signal/paired.py FILE.json [FILE.json ...]

A check record holds per-seed reference and fine-tuned scores on shared evaluation keys; a suite result holds
the reference's and each tuned loss's per-test-seed scores. Prints mean and 95% t-interval of the paired gain
over seeds (discovery.report.interval) and, for a file on the first file's dataset with as many seeds,
the paired difference of the first file's gain minus its gain.
"""
import json
import sys

import numpy as np

from discovery.report import interval
from discovery.suite.table import fitness, paired


def gains(path: str) -> tuple[str, np.ndarray, str]:
    """(name, per-seed gain over the reference on the same keys, dataset checksum)."""
    d = json.load(open(path))
    if "test" in d:  # a suite result
        (loss,) = [k for k in d["test"] if k != "reference"]
        return (f"{loss} flip {d.get('label_flip', 0.0)} on {d['dataset']}",
                fitness(d, loss) - fitness(d, "reference"), d["checksum"][:8])
    return (f"{d['loss']} beta {d['beta']} lr {d['lr']} {d['steps']} steps on {d['dataset']}",
            np.asarray(d["tuned"], np.float64) - np.asarray(d["reference"], np.float64), d["dataset_checksum"][:8])


def text(mean_half: tuple[float, float]) -> str:
    return f"{mean_half[0]:+.1f} ± {mean_half[1]:.1f}"


if __name__ == "__main__":
    rows = [gains(p) for p in sys.argv[1:]]
    _, first, first_ck = rows[0]
    for i, (name, g, ck) in enumerate(rows):
        line = f"{name} ({ck}, {len(g)} seeds): gain {text(interval(g[None]))}"
        if i and ck == first_ck and len(g) == len(first):  # same data and seeds: first's gain - this gain
            line += f"; first - this {text(paired(first, g))}"
        print(line)
