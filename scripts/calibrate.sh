#!/usr/bin/env bash
# Regenerates the shipped calibration: the `raw` and `default` matrices for each hardware
# class, results appended under results/<class>/ (re-running resumes where it stopped), then
# refits results/models/models.json (the models `plan` and `diagnose` embed) from every
# class directory under results/.
#
#   sudo scripts/calibrate.sh                          # this machine's two classes:
#                                                      #   virtio (loop over /var/tmp), ram (/dev/shm)
#   sudo scripts/calibrate.sh nvme=/mnt/scratch        # a lab machine: CLASS=BACKING_DIR ...
#   sudo scripts/calibrate.sh nvme=/dev/nvme1n1        # a spare device (wiped: it asks nothing)
#
# Run it alone: other work on the machine is noise in the results.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/btrtune

targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(virtio=/var/tmp/btrtune ram=/dev/shm/btrtune)
fi

for matrix in raw default; do
  for t in "${targets[@]}"; do
    class=${t%%=*}
    where=${t#*=}
    if [[ -b $where ]]; then
      src=(--device "$where" --wipe "$where")
    else
      src=(--backing-dir "$where")
    fi
    echo "== $matrix on $class ($where)"
    "$bin" calibrate --matrix "$matrix" --out "results/$class/" "${src[@]}"
  done
done

classes=()
for d in results/*/; do
  [[ -f $d/default.jsonl ]] && classes+=("$d")
done
echo "== fit ${classes[*]}"
"$bin" fit "${classes[@]}" -o results/models/
