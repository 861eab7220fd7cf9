#!/usr/bin/env bash
# The benchmark at accelerator scale, as one prepared script (fits in 8 minutes on one H200-class GPU).
#
#   bash experiments/gpu_bench.sh [OUT_DIR]     # default runs/gpu-bench
#
# Writes OUT_DIR/BENCHMARKS-gpu.md (+ .json) and OUT_DIR/search.log: `mpo bench` on the quick config at
# P = 1, 64, 512, 4096 (the Python loop is run up to P = 64 and extrapolated beyond, marked "est."), then
# a 3-generation search with a population of 4096 sharded over every visible device.
set -euo pipefail
OUT="${1:-runs/gpu-bench}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # no install step: accelerator machines may be offline
mpo() { python -m discovery.cli "$@"; }
python -c "import jax; print('devices:', jax.devices())" | tee "$OUT/devices.txt"
timeout 330 mpo bench --configs quick --sizes 1,64,512,4096 --chunk 512 --loop-max 64 --repeats 1 \
  --out "$OUT/BENCHMARKS-gpu.md" --force
timeout 120 mpo search --config quick --set strategy.population=4096 --set generations=3 --set chunk=1024 \
  --no-report --quiet --out "$OUT/search-p4096" 2>&1 | tee "$OUT/search.log"
python - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for line in (out / "search-p4096" / "log.jsonl").read_text().splitlines():
    d = json.loads(line)
    print(f"generation {d['generation']}: {4096 * 2 / d['wall_s']:.0f} inner runs/s "
          f"(wall {d['wall_s']:.1f} s, compile {d['compile_s']:.1f} s), best {d['best']:.1f}")
PY
