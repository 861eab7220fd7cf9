#!/bin/bash
# usage: check.sh DATASET BETA SEED
cd "$(dirname "$0")/../../.."  # the repository root
d=$1; beta=$2; seed=$3
t0=$(date +%s)
r=$(taskset -c 1 python -m experiments.dpo_return_check --dataset $d --beta $beta --lr 1e-3 --steps 200 --seeds 8 --episodes 8 --seed $seed --json runs/labels/checks/$(basename $d)-b$beta-s$seed.json 2>&1 | tail -2 | tr '\n' ' ')
echo "check $d beta=$beta seed=$seed wall=$(( $(date +%s) - t0 ))s :: $r"
