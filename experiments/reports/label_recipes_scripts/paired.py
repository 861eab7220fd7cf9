import json

import numpy as np


def load(n):
    j = json.load(open(f"runs/labels/checks/{n}.json")); return np.array(j["tuned"]) - np.array(j["reference"])
for task in ("hopper", "walker2d"):
    for b in ("0.3", "0.1", "1.0"):
        base = f"{task}-rtg48v100s4-e0.0-b{b}-s2026"
        try: c = load(base)
        except FileNotFoundError: continue
        for e in ("0.2", "0.4"):
            try: n = load(f"{task}-rtg48v100s4-e{e}-b{b}-s2026")
            except FileNotFoundError: continue
            d = c - n; ci = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
            print(f"{task} beta {b}: clean gain - gain at {e} flips = {d.mean():+.1f} +- {ci:.1f} [{d.mean()-ci:+.1f}, {d.mean()+ci:+.1f}] (paired over the 8 training seeds / eval keys)")
