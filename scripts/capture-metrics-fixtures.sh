#!/usr/bin/env bash
# Captures the real command outputs under advisor/tests/fixtures/metrics/ that the metrics
# parsers (advisor/src/metrics/) are tested against.
#
# It builds throw-away loop-backed btrfs filesystems in a temp dir:
#   single  one device (data single, metadata DUP), tens of thousands of small inline files
#           (metadata-heavy), mounted on a path with a space in it;
#   raid1   three devices of different sizes, data and metadata RAID1;
#   mixed   two devices, data single converted to RAID1 for one chunk only (an interrupted
#           conversion: `Multiple profiles: yes`);
#   full    the single one again after writing until ENOSPC;
#   degraded  raid1 mounted `-o degraded` with one of its devices detached.
# It saves df, btrfs filesystem usage/df and btrfs device stats in their output variants
# (human, -b, -T; also run as user nobody, which is what `btrfs` prints without sudo), runs
# fio on them while sampling iostat, iotop (both Debian packages, with delay accounting off
# and, if the sysctl can be set, on) and /proc/pressure/io, and records every command in
# MANIFEST.txt and the tool versions in VERSIONS.txt. iotop rows of processes this script
# did not start (other than kernel threads) are removed before saving: they would record
# other command lines of the machine.
#
# Usage: sudo scripts/capture-metrics-fixtures.sh [OUTDIR]
#   OUTDIR defaults to advisor/tests/fixtures/metrics (existing files are overwritten; remove
#   stale ones first).
#   EXTRA_IOSTAT="/path/to/iostat ..." also samples with other iostat binaries (e.g. an old
#   sysstat 11.x build) under the same load; their outputs are named iostat<version>-*.
#
# It only touches what it creates: loop devices come from `losetup -f --show` and are
# detached on exit (also on error and Ctrl-C), mounts are under its own temp dir, and
# kernel.task_delayacct is put back to its old value.
set -euo pipefail

if [[ $(id -u) != 0 ]]; then
  echo "capture-metrics-fixtures.sh: must run as root (loop devices, mkfs, mount)" >&2
  exit 1
fi
for tool in btrfs mkfs.btrfs losetup fio iostat; do
  command -v "$tool" >/dev/null || {
    echo "capture-metrics-fixtures.sh: $tool is missing (apt-get install btrfs-progs fio sysstat)" >&2
    exit 1
  }
done
if ! command -v iotop-py >/dev/null || ! command -v iotop-c >/dev/null; then
  if command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iotop iotop-c
  fi
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/advisor/tests/fixtures/metrics}
mkdir -p "$out"
out=$(cd "$out" && pwd)

tmp=$(mktemp -d /tmp/btrtune-metrics.XXXXXX)
chmod 755 "$tmp" # the non-root captures must reach the mount points
loops=()  # every loop device we attached, in order
mounts=() # every mount point we mounted, in order
bg=()     # background jobs we started
old_delayacct=$(cat /proc/sys/kernel/task_delayacct 2>/dev/null || echo "")

cleanup() {
  local rc=$?
  set +e
  for pid in "${bg[@]}"; do
    kill "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  local i m
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    m=${mounts[i]}
    if mountpoint -q "$m"; then
      for _ in 1 2 3 4 5; do
        umount "$m" 2>/dev/null && break
        sleep 1
      done
      mountpoint -q "$m" && umount -l "$m"
    fi
  done
  for l in "${loops[@]}"; do
    detach "$l"
  done
  if [[ -n $old_delayacct ]]; then
    echo "$old_delayacct" >/proc/sys/kernel/task_delayacct 2>/dev/null
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

: >"$out/MANIFEST.txt"

# save NAME CMD...: runs CMD, writes its stdout to OUTDIR/NAME and records the command.
save() {
  local name=$1
  shift
  "$@" >"$out/$name"
  printf '%s\t%s\n' "$name" "$(printf '%q ' "$@" | sed "s|$tmp|\$TMP|g; s/ \$//")" >>"$out/MANIFEST.txt"
}

# attach VAR SIZE NAME: a sparse backing file and a free loop device for it, stored in VAR
# (not printed: a command substitution would lose the record in `loops`).
attach() {
  truncate -s "$2" "$tmp/$3.img"
  local dev
  dev=$(losetup -f --show "$tmp/$3.img")
  loops+=("$dev")
  printf -v "$1" '%s' "$dev"
}

# detach DEV: only if it is still backed by one of our files (a number freed earlier may
# have been taken by someone else since).
detach() {
  local back
  back=$(losetup -n -O BACK-FILE "$1" 2>/dev/null || true)
  if [[ $back == "$tmp"/* ]]; then
    losetup -d "$1"
  fi
}

mount_fs() {
  mkdir -p "$2"
  mount "${@:3}" "$1" "$2"
  mounts+=("$2")
}

# iotop prints every process's full command line; keep only rows of what this script runs
# (fio, and its own iostat/iotop samplers) and of kernel threads, so no command line of an
# unrelated process is recorded. A row starts with a TID (after a `-t` time); its command is
# what follows the last `%` or `?unavailable?` column.
only_our_rows() {
  awk '
    /^ *([0-9][0-9]:[0-9][0-9]:[0-9][0-9] +)?[0-9]+ / {
      cmd = $0
      sub(/^.*(unavailable\?|%) +/, "", cmd)
      if (cmd ~ /^(\[[^]]*\]$|kworker\/|fio( |$)|iostat( |$)|iotop|btrfs|jbd2\/|loop[0-9]+$)/) print
      else dropped++
      next
    }
    { print }
    END { if (dropped) printf "%d rows of unrelated processes removed\n", dropped > "/dev/stderr" }
  '
}

# save_all NAME CMD...: like save, with stderr too (what a user pastes from a terminal); a
# failing command is recorded with its exit code instead of stopping the script.
save_all() {
  local name=$1 rc=0
  shift
  "$@" >"$out/$name" 2>&1 || rc=$?
  printf '%s\t%s\n' "$name" "$(printf '%q ' "$@" | sed "s|$tmp|\$TMP|g; s/ \$//") 2>&1 (exit $rc)" >>"$out/MANIFEST.txt"
}

# as_nobody CMD...: runs CMD as an unprivileged user (what `btrfs` prints without sudo).
as_nobody() {
  setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

echo "== building filesystems in $tmp"
single_dev="" r1a="" r1b="" r1c="" mxa="" mxb="" # set by `attach`

# single: one device, default profiles, a mount point with a space.
attach single_dev 1536M single
mkfs.btrfs -q -L btrtune-single "$single_dev"
single="$tmp/mnt single"
mount_fs "$single_dev" "$single" -o noatime
# 60 MB of 1500-byte files: all inline (max_inline 2048), so they land in (DUP) metadata.
mkdir "$single/small"
(cd "$single/small" && head -c 60000000 /dev/urandom | split -b 1500 -a 5 - f)
# some larger data, compressible and not.
head -c 300M /dev/urandom >"$single/random.bin"
{ yes "btrtune metrics fixture line" || true; } | head -c 100M >"$single/text.txt"
sync

# raid1: three devices of different sizes.
attach r1a 1G raid1-a
attach r1b 1G raid1-b
attach r1c 1536M raid1-c
mkfs.btrfs -q -L btrtune-raid1 -d raid1 -m raid1 "$r1a" "$r1b" "$r1c"
raid1="$tmp/raid1"
mount_fs "$r1a" "$raid1"
head -c 700M /dev/urandom >"$raid1/data.bin"
mkdir "$raid1/small"
(cd "$raid1/small" && head -c 8000000 /dev/urandom | split -b 3000 -a 4 - f)
sync

# mixed: data single over two devices, then only one chunk converted to RAID1.
attach mxa 1G mixed-a
attach mxb 1G mixed-b
mkfs.btrfs -q -L btrtune-mixed -d single -m raid1 "$mxa" "$mxb"
mixed="$tmp/mixed"
mount_fs "$mxa" "$mixed"
head -c 600M /dev/urandom >"$mixed/data.bin"
sync
btrfs balance start -dconvert=raid1,limit=1 "$mixed" >/dev/null
sync

echo "== static captures"
for fs in single raid1 mixed; do
  m=${!fs}
  save "btrfs-usage-$fs.txt" btrfs filesystem usage "$m"
  save "btrfs-usage-b-$fs.txt" btrfs filesystem usage -b "$m"
  save "btrfs-df-$fs.txt" btrfs filesystem df "$m"
  save "btrfs-df-b-$fs.txt" btrfs filesystem df -b "$m"
  save "btrfs-device-stats-$fs.txt" btrfs device stats "$m"
done
save_all "btrfs-df-mixed-stderr.txt" btrfs filesystem df "$mixed"
save "btrfs-device-stats-c-raid1.txt" btrfs device stats -c "$raid1"
save "btrfs-device-stats-T-raid1.txt" btrfs device stats -T "$raid1"
save "btrfs-usage-T-raid1.txt" btrfs filesystem usage -T "$raid1"
save "btrfs-usage-T-mixed.txt" btrfs filesystem usage -T "$mixed"
save_all "btrfs-usage-nonroot.txt" as_nobody btrfs filesystem usage "$single"
save_all "btrfs-device-stats-nonroot.txt" as_nobody btrfs device stats "$single"

# df on our mounts and /, not on every mount of the machine.
save df.txt df / "$single" "$raid1" "$mixed"
save df-h.txt df -h / "$single" "$raid1" "$mixed"
save df-H.txt df -H / "$single" "$raid1" "$mixed"
save df-T.txt df -T / "$single" "$raid1" "$mixed"
save df-k.txt df -k / "$single" "$raid1" "$mixed"
save df-hT.txt df -hT / "$single" "$raid1" "$mixed"
save df-P.txt df -P / "$single" "$raid1" "$mixed"

save psi-io-idle.txt cat /proc/pressure/io

echo "== sampling under load"
# load: random synchronous writes in the single and raid1 filesystems.
load() {
  local secs=$1
  fio --name=x --rw=randwrite --size=64M --direct=1 --fsync=1 --runtime="$secs" --time_based \
    --directory="$single" --output=/dev/null &
  bg+=($!)
  fio --name=y --rw=randwrite --size=64M --direct=1 --fsync=1 --runtime="$secs" --time_based \
    --directory="$raid1" --output=/dev/null &
  bg+=($!)
  sleep 1 # let fio lay out its files before sampling
}

load 8
save psi-io-load.txt cat /proc/pressure/io
save iostat-x.txt iostat -x 1 3 &
save iostat-x-k.txt iostat -x -k 1 3 &
save iostat-x-m.txt iostat -x -m 1 3 &
save iostat-x-d.txt iostat -x -d 1 3 &
save iostat-x-t.txt iostat -x -t 1 3 &
save iostat-x-json.json iostat -x -o JSON 1 3 &
for bin in ${EXTRA_IOSTAT:-}; do
  v=$("$bin" -V 2>&1 | awk '/sysstat version/ {print $3; exit}')
  save "iostat$v-x.txt" "$bin" -x 1 3 &
  # JSON output exists since 11.5.
  if "$bin" -o JSON 1 1 >/dev/null 2>&1; then
    save "iostat$v-x-json.json" "$bin" -x -o JSON 1 3 &
  fi
done
iotop-py -b -o -n 3 -d 1 2>&1 | only_our_rows >"$out/iotop-py.txt" &
printf '%s\t%s\n' iotop-py.txt "iotop-py -b -o -n 3 -d 1 (rows filtered, see README)" >>"$out/MANIFEST.txt"
iotop-c -b -o -n 3 -d 1 2>&1 | only_our_rows >"$out/iotop-c.txt" &
printf '%s\t%s\n' iotop-c.txt "iotop-c -b -o -n 3 -d 1 (rows filtered, see README)" >>"$out/MANIFEST.txt"
iotop-py -b -o -t -P -n 2 -d 1 2>&1 | only_our_rows >"$out/iotop-py-tP.txt" &
printf '%s\t%s\n' iotop-py-tP.txt "iotop-py -b -o -t -P -n 2 -d 1 (rows filtered, see README)" >>"$out/MANIFEST.txt"
iotop-c -b -o -t -P -n 2 -d 1 2>&1 | only_our_rows >"$out/iotop-c-tP.txt" &
printf '%s\t%s\n' iotop-c-tP.txt "iotop-c -b -o -t -P -n 2 -d 1 (rows filtered, see README)" >>"$out/MANIFEST.txt"
iotop-py -b -o -a -n 2 -d 1 2>&1 | only_our_rows >"$out/iotop-py-a.txt" &
printf '%s\t%s\n' iotop-py-a.txt "iotop-py -b -o -a -n 2 -d 1 (rows filtered, see README)" >>"$out/MANIFEST.txt"
wait

delayacct_note="kernel.task_delayacct was ${old_delayacct:-unknown}"
if [[ $old_delayacct == 0 ]]; then
  if echo 1 >/proc/sys/kernel/task_delayacct 2>/dev/null; then
    delayacct_note+="; set to 1 for the *-delayacct captures, then back to 0"
    bg=()
    load 6
    iotop-py -b -o -n 3 -d 1 2>&1 | only_our_rows >"$out/iotop-py-delayacct.txt" &
    printf '%s\t%s\n' iotop-py-delayacct.txt "sysctl kernel.task_delayacct=1; iotop-py -b -o -n 3 -d 1 (rows filtered)" >>"$out/MANIFEST.txt"
    iotop-c -b -o -n 3 -d 1 2>&1 | only_our_rows >"$out/iotop-c-delayacct.txt" &
    printf '%s\t%s\n' iotop-c-delayacct.txt "sysctl kernel.task_delayacct=1; iotop-c -b -o -n 3 -d 1 (rows filtered)" >>"$out/MANIFEST.txt"
    wait
    echo 0 >/proc/sys/kernel/task_delayacct
  else
    delayacct_note+="; setting it to 1 was refused"
  fi
fi
bg=()

echo "== filling the single filesystem until ENOSPC"
rm -f "$single"/x.* "$single"/y.*
dd if=/dev/urandom of="$single/fill.bin" bs=1M status=none 2>/dev/null || true
sync
save btrfs-usage-full.txt btrfs filesystem usage "$single"
save btrfs-usage-b-full.txt btrfs filesystem usage -b "$single"
save btrfs-df-full.txt btrfs filesystem df "$single"
save df-full.txt df "$single"

echo "== raid1 degraded (one device detached)"
umount "$raid1"
detach "$r1c"
mount_fs "$r1a" "$raid1" -o degraded
save btrfs-usage-degraded.txt btrfs filesystem usage "$raid1"
save btrfs-usage-b-degraded.txt btrfs filesystem usage -b "$raid1"
save btrfs-usage-T-degraded.txt btrfs filesystem usage -T "$raid1"
save btrfs-device-stats-degraded.txt btrfs device stats "$raid1"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel: $(uname -r)"
  # shellcheck source=/dev/null
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "btrfs-progs: $(btrfs --version)"
  echo "sysstat: $(iostat -V 2>&1 | head -n1)"
  for bin in ${EXTRA_IOSTAT:-}; do
    echo "extra iostat: $("$bin" -V 2>&1 | head -n1)"
  done
  echo "coreutils: $(df --version | head -n1)"
  echo "fio: $(fio --version)"
  echo "iotop: $(dpkg-query -W -f='${Package} ${Version}' iotop 2>/dev/null)"
  echo "iotop-c: $(dpkg-query -W -f='${Package} ${Version}' iotop-c 2>/dev/null)"
  echo "$delayacct_note"
} >"$out/VERSIONS.txt"

sort -o "$out/MANIFEST.txt" "$out/MANIFEST.txt"
echo "== done: $out"
