#!/usr/bin/env bash
# Captures advisor/tests/fixtures/bundle/loop-btrfs/: a real `btrtune collect` bundle taken
# on this machine against a loop-backed btrfs under fio load (an @db subvolume with NOCOW,
# a compressed top level). The bundle is then made independent of the machine it was taken
# on: findmnt.json keeps only the btrfs mounts, iotop keeps only the rows of the load this
# script started (and kernel threads), df keeps only the btrfs rows.
#
# Usage: sudo scripts/capture-bundle-fixture.sh [OUTDIR]
# It only touches what it creates (a backing file, a loop device from `losetup -f --show`,
# mounts under its own temp dir) and removes them on exit, error and Ctrl-C.
set -euo pipefail
[[ $(id -u) == 0 ]] || { echo "capture-bundle-fixture.sh: must run as root" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/advisor/tests/fixtures/bundle/loop-btrfs}
# A fixed path, so the mount points (and the file names derived from them) are stable.
tmp=/tmp/btrtune-bundle
if [[ -e $tmp ]]; then
  echo "capture-bundle-fixture.sh: $tmp exists (an earlier run?): remove it first" >&2
  exit 1
fi
mkdir -p "$tmp"
loop=""
fio_pid=""
cleanup() {
  [[ -n $fio_pid ]] && kill "$fio_pid" 2>/dev/null && wait "$fio_pid" 2>/dev/null || true
  umount "$tmp/db" 2>/dev/null || true
  umount "$tmp/pool" 2>/dev/null || true
  [[ -n $loop ]] && losetup -d "$loop" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cargo build --quiet --release --manifest-path "$repo/Cargo.toml"
truncate -s 2G "$tmp/disk.img"
dd if=/dev/zero of="$tmp/disk.img" bs=1M count=2048 conv=notrunc status=none
loop=$(losetup -f --show --direct-io=on "$tmp/disk.img")
mkfs.btrfs -q -f -L bundle "$loop"
mkdir -p "$tmp/pool" "$tmp/db"
mount -o compress=zstd:1,noatime "$loop" "$tmp/pool"
btrfs subvolume create "$tmp/pool/@db" >/dev/null
chattr +C "$tmp/pool/@db"
mount -o subvol=@db,noatime "$loop" "$tmp/db"
seq 1 200000 > "$tmp/pool/numbers.txt"
fio --name=db --directory="$tmp/db" --rw=randwrite --bs=8k --size=128M --ioengine=psync \
  --fsync=1 --overwrite=1 --fallocate=none --time_based --runtime=30 --output=/dev/null &
fio_pid=$!
sleep 3
rm -rf "$tmp/bundle"
"$repo/target/release/btrtune" collect --samples 3 --interval 1 -o "$tmp/bundle"
kill "$fio_pid" 2>/dev/null || true
wait "$fio_pid" 2>/dev/null || true
fio_pid=""

python3 - "$tmp" "$tmp/bundle" <<'PY'
import json, sys, re, os
tmp, b = sys.argv[1], sys.argv[2]
f = os.path.join(b, "findmnt.json")
d = json.load(open(f))
keep = []
def walk(fs):
    for x in fs:
        if x.get("fstype") == "btrfs":
            y = dict(x); y.pop("children", None); keep.append(y)
        walk(x.get("children", []))
walk(d.get("filesystems", []))
json.dump({"filesystems": keep}, open(f, "w"), indent=2)
for name in ("df.txt", "df-h.txt"):
    p = os.path.join(b, name)
    if os.path.exists(p):
        lines = open(p).read().splitlines()
        open(p, "w").write("\n".join([lines[0]] + [l for l in lines[1:] if tmp in l or "btrfs" in l]) + "\n")
p = os.path.join(b, "iotop.txt")
if os.path.exists(p):
    out = []
    for l in open(p).read().splitlines():
        row = re.match(r"\s*\d+\s", l)
        if not row or "fio" in l or "[k" in l or "kworker" in l or "btrfs" in l:
            out.append(l)
    open(p, "w").write("\n".join(out) + "\n")
PY
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$tmp/bundle" "$out"
echo "wrote $out"
