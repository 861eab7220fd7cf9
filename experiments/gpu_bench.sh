#!/usr/bin/env bash
# The benchmark at accelerator scale, as one prepared script (fits in 8 minutes on one H200-class GPU).
#
#   bash experiments/gpu_bench.sh [OUT_DIR]     # default runs/gpu-bench
#
# Writes OUT_DIR/BENCHMARKS-gpu.md (+ .json) and OUT_DIR/search.log: `mpo bench` on the quick config at
# P = 1, 64, 512, 4096 (the Python loop is run up to P = 64 and extrapolated beyond, marked "est."), then
# a 3-generation search with a population of 4096 sharded over every visible device.
# A CPU smoke run of the same script: SIZES=1,2 POP=4 CHUNK=2 bash experiments/gpu_bench.sh /tmp/gb
# STUDY=1 also launches the discovery study at accelerator scale (experiments/configs/study_paper.json:
# population 256, 30 generations, 64 test seeds; resumable, so a later call continues it), after the bench.
set -euo pipefail
OUT="${1:-runs/gpu-bench}"
SIZES="${SIZES:-1,64,512,4096}"
POP="${POP:-4096}"
CHUNK="${CHUNK:-512}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # no install step: accelerator machines may be offline
MPO=(python -m discovery.cli)  # `timeout` cannot run a shell function
python -c "import jax; print('devices:', jax.devices())" | tee "$OUT/devices.txt"
timeout 330 "${MPO[@]}" bench --configs quick --sizes "$SIZES" --chunk "$CHUNK" --loop-max 64 --repeats 1 --cpu-devices 1 \
  --out "$OUT/BENCHMARKS-gpu.md" --force
timeout 120 "${MPO[@]}" search --config quick --set strategy.population="$POP" --set generations=3 --set chunk="$CHUNK" \
  --no-report --quiet --out "$OUT/search-p4096" 2>&1 | tee "$OUT/search.log"
python - "$OUT" "$POP" <<'PY'
import json, sys, pathlib
out, pop = pathlib.Path(sys.argv[1]), int(sys.argv[2])
for line in (out / "search-p4096" / "log.jsonl").read_text().splitlines():
    d = json.loads(line)
    print(f"generation {d['generation']}: {pop * 2 / d['wall_s']:.0f} inner runs/s "
          f"(wall {d['wall_s']:.1f} s, compile {d['compile_s']:.1f} s), best {d['best']:.1f}")
PY
if [ "${STUDY:-0}" = 1 ]; then
  timeout "${STUDY_TIMEOUT:-3000}" "${MPO[@]}" study --plan experiments/configs/study_paper.json \
    --report "$OUT/discovery.md" 2>&1 | tee "$OUT/study.log"
fi
