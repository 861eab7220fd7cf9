import glob
import json
import re

rows = {}
for f in sorted(glob.glob("runs/labels/queue*.log")):
    for line in open(f):
        m = re.search(r"check (\S+) beta=(\S+) seed=(\d+) wall=(\d+)s :: .*reference ([\d.]+)\s+fine-tuned ([\d.]+)\s+paired difference ([+-][\d.]+) \+- ([\d.]+) \(s.e.\)\s+KL ([\d.]+)\s+held-out acc ([\d.]+)", line)
        if m:
            d, b, s, w, r, t, df, se, kl, acc = m.groups()
            rows[(d.split("/")[-1], float(b), int(s))] = dict(wall=int(w), ref=float(r), tuned=float(t), diff=float(df), se=float(se), kl=float(kl), acc=float(acc))
# the shipped 512-pair hopper on-policy-long, measured first (runs/timing_check.log)
rows[("on-policy-long", 0.3, 2026)] = dict(wall=80, ref=60.46, tuned=79.46, diff=19.00, se=3.83, kl=0.176, acc=0.641)
aud = {}
for f in sorted(glob.glob("runs/labels/queue*.log")):
    for line in open(f):
        if line.startswith("{"):
            j = json.loads(line); aud[j["dataset"].rstrip("/").split("/")[-1]] = j
def name(d, task):
    if d == "on-policy-long": return "opl (shipped, 512 pairs)", 0.0
    m = re.match(rf"{task}-(\S+)-e([\d.]+)$", d); return m.group(1), float(m.group(2))
for task in ("hopper", "walker2d"):
    print(f"\n### {task}\n")
    print("| recipe | flips (realized) | beta | seed | reference | DPO | paired diff, mean +- 95% [interval] | KL | held-out acc | agree segment | agree remainder |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    keys = [k for k in rows if (k[0].startswith(task + "-") or (task == "hopper" and k[0] == "on-policy-long"))]
    for k in sorted(keys, key=lambda k: (name(k[0], task)[0], k[2], k[1], name(k[0], task)[1])):
        d, b, s = k; v = rows[k]; rec, e = name(d, task); a = aud.get(d, {})
        ci = 1.96 * v["se"]
        fr = f"{e} ({a['flip_rate']:.3f})" if a else f"{e}"
        print(f"| {rec} | {fr} | {b} | {s} | {v['ref']:.1f} | {v['tuned']:.1f} | {v['diff']:+.1f} +- {ci:.1f} [{v['diff']-ci:+.1f}, {v['diff']+ci:+.1f}] | {v['kl']:.3f} | {v['acc']:.3f} | {a.get('agreement_with_segment_return', '')} | {a.get('agreement_with_remainder_return', 'n/m')} |")
