#!/bin/bash
cd /work/exp
C=runs/labels/check.sh; L=runs/labels; B=runs/labels/build.sh
while kill -0 12140 2>/dev/null; do sleep 5; done
C3="--horizon 48 --label-value return-to-go --value-horizon 100 --value-samples 4"
for e in 0.0 0.2 0.4; do $C $L/hopper-rtg48v100s4-e$e 0.1 2026; done
for e in 0.0 0.4; do $C $L/walker2d-rtg48v100s4-e$e 1.0 2026; done
$B rtg48v100s4 walker2d 0.2 $C3
$C $L/walker2d-rtg48v100s4-e0.2 1.0 2026
$C $L/walker2d-rtg48v100s4-e0.2 0.3 2026
for d in walker2d-rtg48v100s4-e0.0 walker2d-rtg48v100s4-e0.4 hopper-rtg48v100s4-e0.0 hopper-rtg48v100s4-e0.4; do
  $C $L/$d 0.3 2026
done
echo QUEUE7 DONE
