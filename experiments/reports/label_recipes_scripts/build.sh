#!/bin/bash
# usage: build.sh NAME TASK EPS extra-args...
cd "$(dirname "$0")/../../.."  # the repository root
name=$1; task=$2; eps=$3; shift 3
out=runs/labels/$task-$name-e$eps
if [ -f $out/manifest.json ]; then echo "have $out"; exit 0; fi
t0=$(date +%s)
taskset -c 1 python -m discovery.cli data make --task $task --setting on-policy-long --n-pairs 1024 --eps $eps --out $out "$@" > runs/labels/build-$task-$name-e$eps.log 2>&1
echo "build $out rc=$? wall=$(( $(date +%s) - t0 ))s"
