#!/usr/bin/env bash
# Captures the scenario bundles under tests/fixtures/diagnose/<NN-name>/bundle/: for each
# scenario a small "host" with a known storage bottleneck is built on loop-backed btrfs, loaded
# with a real workload, and `btrtune collect` is run on it. Nothing in a bundle is written or
# edited afterwards: every file is what `collect` saved.
#
# Usage: sudo scripts/capture-diagnose-scenarios.sh [--list] [SCENARIO...]
#   SCENARIO: a directory name (02-postgres-hdd-cow), its number (02) or its name (postgres-hdd-cow);
#   default: all. Each new bundle replaces the old one only after its capture succeeded.
#
# How a host is made (details in tests/fixtures/diagnose/README.md):
# - Disks are sparse files under a fresh /var/tmp/btrtune-diag.XXXXXX, attached with
#   `losetup -f --show` (never a fixed loop number). Their sysfs `queue/rotational` and
#   `queue/scheduler` are set to what the real disk of the host (the scenario's facter file)
#   would show, and put back afterwards.
# - A slow disk (HDD, SD card, USB flash drive) is two stacked loop devices: the btrfs device is
#   a loop device with direct I/O over a private lower loop device, and the lower one is
#   throttled with cgroup v1 blk-throttle limits in the root blkio cgroup, so every writer
#   (including the kernel's writeback and btrfs' worker threads) is throttled, as on a real
#   slow disk. The throttled time is spent inside the btrfs device, so its iostat await and
#   aqu-sz really grow. (dm-delay would be the other way; this kernel has no device mapper.)
# - Each capture runs in private mount, UTS and PID namespaces (`unshare -m -u -p --fork
#   --propagation private`): the root subvolume is mounted at $R, the other subvolumes under it
#   in the order the host mounts them (the first mount's filesystem-wide options are the ones
#   the kernel keeps), /usr is bind-mounted read-only, /proc, /sys, /dev (rbind) and /run
#   (tmpfs) are mounted, btrtune-collect is copied to $R/run, and `chroot $R
#   /run/btrtune-collect collect` runs while the scenario's load (also chrooted, so its paths
#   and process names are the host's) runs in the background. /etc is a small copy on the root
#   subvolume (passwd, group, ld.so.cache, ...) plus the scenario's disko.nix as
#   /etc/nixos/disko.nix, which `collect` reads as on a NixOS host. The PID namespace keeps the
#   build machine's other processes out of iotop and ends every load process with the capture.
# - Everything made (mounts, loop devices, throttle limits, queue settings, load processes,
#   temp files) is removed on success, error, Ctrl-C and SIGTERM.
set -euo pipefail
[[ $(id -u) == 0 ]] || {
  echo "capture-diagnose-scenarios.sh: must run as root" >&2
  exit 1
}
self=$(readlink -f "$0")
repo=$(cd "$(dirname "$self")/.." && pwd)
fixtures=$repo/tests/fixtures/diagnose
collect=${BTRTUNE_COLLECT:-/usr/local/bin/btrtune-collect}
blkio=/sys/fs/cgroup/blkio
root_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C

log() { printf 'capture: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---------------------------------------------------------------------------------------------
# State of the scenario being built (outer process), cleaned by cleanup().
WORK=""
LOOPS=()     # loop devices attached, in order
THROTTLED=() # MAJ:MIN with blk-throttle limits in the root blkio cgroup
SMOUNTS=()   # set-up mounts in the initial namespace
QRESTORE=()  # "SYSFS-FILE VALUE": block-queue settings to put back
PENDING=()   # throttles to switch on at capture time: "MAJ:MIN RBPS WBPS RIOPS WIOPS"
INNER_PID=""

cleanup() {
  local rc=$? opts=$-
  set +e
  # No second interruption half-way through (restored for the next scenario at the end).
  trap '' INT TERM
  if [[ -n $INNER_PID ]]; then
    # unshare --fork ignores SIGTERM while it waits: stop the namespace's first process (the
    # inner capture), whose exit ends every process in the namespace.
    local c
    for c in $(cat "/proc/$INNER_PID/task/$INNER_PID/children" 2>/dev/null); do
      kill -TERM "$c" 2>/dev/null
    done
    wait "$INNER_PID" 2>/dev/null
    INNER_PID=""
  fi
  if [[ -n $WORK ]]; then
    # Load processes left by an interrupted inner capture (process groups it recorded).
    if [[ -f $WORK/pgids ]]; then
      while read -r g; do kill -KILL -- "-$g" 2>/dev/null; done <"$WORK/pgids"
    fi
    if [[ -f $WORK/postmaster.pids ]]; then
      while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$WORK/postmaster.pids"
    fi
  fi
  local i
  for ((i = ${#SMOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${SMOUNTS[i]}" 2>/dev/null || umount -l "${SMOUNTS[i]}" 2>/dev/null
  done
  SMOUNTS=()
  local t f
  for t in "${THROTTLED[@]}"; do
    for f in read_bps write_bps read_iops write_iops; do
      echo "$t 0" >"$blkio/blkio.throttle.${f}_device" 2>/dev/null
    done
  done
  THROTTLED=()
  PENDING=()
  for ((i = ${#QRESTORE[@]} - 1; i >= 0; i--)); do
    echo "${QRESTORE[i]#* }" >"${QRESTORE[i]%% *}" 2>/dev/null
  done
  QRESTORE=()
  # Upper loop devices first (the lower ones are their backing devices). A device still held by
  # a mount of a namespace that is going away gets autoclear from `losetup -d` and is released
  # by the kernel right after.
  for ((i = ${#LOOPS[@]} - 1; i >= 0; i--)); do
    local n
    for n in 1 2 3 4 5 6 7 8 9 10; do
      losetup -d "${LOOPS[i]}" 2>/dev/null && break
      [[ -z $(losetup -n -O NAME "${LOOPS[i]}" 2>/dev/null) ]] && break
      sleep 0.5
    done
  done
  LOOPS=()
  if [[ -n $WORK && -d $WORK ]]; then
    if findmnt -rn -o TARGET | grep -q "^$WORK"; then
      log "warning: mounts left under $WORK, not removing it"
    else
      rm -rf --one-file-system "$WORK"
    fi
  fi
  WORK=""
  trap on_signal INT TERM
  [[ $opts == *e* ]] && set -e
  return $rc
}

on_signal() {
  log "interrupted"
  exit 130
}

# ---------------------------------------------------------------------------------------------
# Helpers for building a host (outer process).

# Device classes: rotational flag and I/O scheduler the real disk would show, and (for slow
# media) the blk-throttle limits "rbps wbps riops wiops" of the lower device.
# Classes: nvme, ssd (SATA), hdd-* (SATA HDD), sdcard, usb (flash drive on usb-storage), virtio
# (virtio-blk, multi-queue), virtio-scsi (one queue). Virtual disks and usb-storage report
# rotational=1, as they do on real machines.
class_rotational() { case $1 in hdd* | virtio* | usb) echo 1 ;; *) echo 0 ;; esac; }
class_scheduler() { case $1 in nvme | virtio) echo none ;; *) echo mq-deadline ;; esac; }
class_throttle() {
  case $1 in
  hdd-laptop) echo "$((90 << 20)) $((80 << 20)) 110 110" ;;     # 2.5" 7200 rpm SATA
  hdd-server) echo "$((200 << 20)) $((180 << 20)) 180 180" ;;   # 3.5" 7200 rpm NAS disk
  hdd-desktop) echo "$((100 << 20)) $((90 << 20)) 120 120" ;;   # 3.5" 5400 rpm
  sdcard) echo "$((20 << 20)) $((8 << 20)) 1500 25" ;;          # class-10 SD card, random writes
  usb) echo "$((40 << 20)) $((20 << 20)) 800 60" ;;               # USB 3 flash drive
  *) echo "" ;;
  esac
}

# new_disk VAR SIZE CLASS [SCHEDULER [THROTTLE]]: a sparse file as a block device; sets $VAR to
# it. A slow class (or an explicit THROTTLE "RBPS WBPS RIOPS WIOPS", 0 = no limit) gets a lower
# device whose throttle is switched on by `capture` (set-up runs at full speed).
new_disk() {
  local var=$1 size=$2 class=$3 sched=${4:-} thr=${5:-}
  local file=$WORK/$var.img dev lower
  truncate -s "$size" "$file"
  [[ -n $thr ]] || thr=$(class_throttle "$class")
  if [[ -n $thr ]]; then
    lower=$(losetup -f --show "$file")
    LOOPS+=("$lower")
    PENDING+=("$(cat "/sys/block/${lower#/dev/}/dev") $thr")
    dev=$(losetup -f --show --direct-io=on "$lower")
    LOOPS+=("$dev")
    set_queue "$lower" "$class" "$sched"
  else
    dev=$(losetup -f --show "$file")
    LOOPS+=("$dev")
  fi
  set_queue "$dev" "$class" "$sched"
  echo "$dev $class" >>"$WORK/disks.tab"
  printf -v "$var" %s "$dev"
  log "$var = $dev ($class, $size${thr:+, throttled during the capture})"
}

# Switches on the throttles of the slow disks (root blkio cgroup: every writer is throttled).
apply_throttles() {
  local p mm rbps wbps riops wiops
  for p in "${PENDING[@]}"; do
    read -r mm rbps wbps riops wiops <<<"$p"
    THROTTLED+=("$mm")
    echo "$mm $rbps" >"$blkio/blkio.throttle.read_bps_device"
    echo "$mm $wbps" >"$blkio/blkio.throttle.write_bps_device"
    echo "$mm $riops" >"$blkio/blkio.throttle.read_iops_device"
    echo "$mm $wiops" >"$blkio/blkio.throttle.write_iops_device"
  done
  PENDING=()
}

# set_queue DEV CLASS [SCHEDULER]: the rotational flag and scheduler the real disk would show.
# Loop devices outlive their attachment, so the scheduler is put back by the cleanup (the
# rotational flag is reset by the next attach). Discard is left alone (a user limit set through
# sysfs cannot be put back); hard disks get `nodiscard` on their first mount instead.
set_queue() {
  local q=/sys/block/${1#/dev/}/queue old
  old=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$q/scheduler")
  QRESTORE+=("$q/scheduler $old" "$q/rotational $(cat "$q/rotational")")
  class_rotational "$2" >"$q/rotational"
  echo "${3:-$(class_scheduler "$2")}" >"$q/scheduler"
}

# smount DEV DIR [OPTS]: a set-up mount in the initial namespace (unmounted by sumount).
smount() {
  mkdir -p "$2"
  mount -t btrfs -o "${3:-defaults}" "$1" "$2"
  SMOUNTS+=("$2")
}
sumount() {
  local i
  for ((i = ${#SMOUNTS[@]} - 1; i >= 0; i--)); do umount "${SMOUNTS[i]}"; done
  SMOUNTS=()
}

# make_root DIR: the skeleton of a root filesystem on the mounted root subvolume.
make_root() {
  local r=$1 d
  mkdir -p "$r"/{usr,proc,sys,dev,run,boot,root,home,mnt,srv,etc/nixos,var/{lib,log,cache,tmp}}
  mkdir -p -m 1777 "$r/tmp"
  chmod 1777 "$r/var/tmp"
  chmod 700 "$r/root"
  for d in bin sbin lib lib64; do ln -sfn "usr/$d" "$r/$d"; done
  cp -a /etc/{passwd,group,nsswitch.conf,ld.so.cache,ld.so.conf,ld.so.conf.d,localtime,hosts} "$r/etc/"
  echo "$HOSTNAME_" >"$r/etc/hostname"
  cp "$fixtures/$SCEN/disko.nix" "$r/etc/nixos/disko.nix"
}

# PostgreSQL 15 from the build machine, run as its postgres user.
pgbin=/usr/lib/postgresql/15/bin

# pg_initdb DATADIR SCALE: a cluster with a pgbench database (scale SCALE, 15 MiB each) made on
# the set-up mount, started and stopped with its socket in $WORK/pgsock.
pg_initdb() {
  local d=$1 scale=$2 sock=$WORK/pgsock
  chmod 755 "$WORK"
  install -d -o postgres -g postgres -m 700 "$d"
  install -d -o postgres -g postgres "$sock"
  runuser -u postgres -- "$pgbin/initdb" -D "$d" -A trust -E UTF8 --locale=C >/dev/null
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$d" -l "$sock/setup.log" -w \
    -o "-k $sock -c listen_addresses=''" start >/dev/null
  head -1 "$d/postmaster.pid" >>"$WORK/postmaster.pids"
  runuser -u postgres -- "$pgbin/createdb" -h "$sock" bench
  runuser -u postgres -- "$pgbin/pgbench" -h "$sock" -i -q -s "$scale" bench 2>/dev/null
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$d" -w -m fast stop >/dev/null
  rm -f "$WORK/postmaster.pids"
}

# subvols TOP NAME...: subvolumes below the set-up mount of the top level.
subvols() {
  local t=$1 n
  shift
  for n in "$@"; do
    mkdir -p "$(dirname "$t/$n")"
    btrfs -q subvolume create "$t/$n"
  done
}

# snapper_snaps SUBVOL COUNT [CHURN_DIR]: COUNT read-only snapper-style snapshots
# (SUBVOL/.snapshots/N/snapshot, .snapshots being a nested subvolume). With CHURN_DIR, 20
# files there are rewritten before each snapshot, so the snapshots share less and less.
snapper_snaps() {
  local sv=$1 count=$2 churn=${3:-} i
  [[ -d $sv/.snapshots ]] || btrfs -q subvolume create "$sv/.snapshots"
  for ((i = 1; i <= count; i++)); do
    if [[ -n $churn ]]; then
      find "$churn" -type f | shuf -n 20 --random-source=<(yes "$i") |
        while read -r f; do head -c 16384 /dev/urandom >"$f"; done
    fi
    mkdir -p "$sv/.snapshots/$i"
    btrfs -q subvolume snapshot -r "$sv" "$sv/.snapshots/$i/snapshot"
  done
}

# layer_tar: a container-image layer (an unpacked rootfs-like tree) as $WORK/layer.tar.
layer_tar() { tar -C /usr/lib -cf "$WORK/layer.tar" python3 python3.11 2>/dev/null || true; }

# mnt DEV TARGET SUBVOL [OPTS]: one line of the host's mount table, in mount order.
mnt() { printf '%s %s %s %s\n' "$1" "$2" "$3" "${4:--}" >>"$WORK/mounts.tab"; }

# fill DIR MIB [SRC...]: ordinary files copied from SRC (default /usr/share/doc and
# /usr/lib/python3: text, scripts, small binaries) until DIR holds about MIB MiB more.
fill() {
  local dir=$1 mib=$2
  shift 2
  (($#)) || set -- /usr/share/doc /usr/lib/python3
  mkdir -p "$dir"
  python3 - "$dir" "$mib" "$@" <<'PY'
import os, shutil, sys
dest, want, srcs = sys.argv[1], int(sys.argv[2]) << 20, sys.argv[3:]
done, rnd = 0, 0
while done < want:
    rnd += 1
    for src in srcs:
        for top, dirs, files in os.walk(src):
            dirs.sort()
            for f in sorted(files):
                s = os.path.join(top, f)
                if os.path.islink(s) or not os.path.isfile(s):
                    continue
                d = os.path.join(dest, f"{os.path.basename(src)}.{rnd}", os.path.relpath(s, src))
                os.makedirs(os.path.dirname(d), exist_ok=True)
                shutil.copyfile(s, d)
                done += os.path.getsize(s)
                if done >= want:
                    sys.exit(0)
PY
}

# capture: run the capture of $SCEN in a private namespace; the bundle lands in $WORK/bundle.
capture() {
  apply_throttles
  CAP_WORK=$WORK CAP_HOST=$HOSTNAME_ CAP_WARMUP=${WARMUP:-5} \
    unshare -m -u -p --fork --kill-child=TERM --mount-proc --propagation private -- \
    bash "$self" __inner "$SCEN" &
  INNER_PID=$!
  wait "$INNER_PID"
  INNER_PID=""
  [[ -f $WORK/bundle/manifest.json ]] || die "$SCEN: no bundle captured"
}

# ---------------------------------------------------------------------------------------------
# Inside the namespace.

R=""
inroot() { chroot "$R" /usr/bin/env -i HOME=/root PATH="$root_path" LC_ALL=C "$@"; }
inroot_as() {
  local u=$1
  shift
  chroot --userspec="$u:$u" "$R" /usr/bin/env -i HOME=/tmp PATH="$root_path" LC_ALL=C "$@"
}
# bg [-u USER] CMD...: a background load in the chroot, in its own process group (recorded
# for the cleanup). Its output goes to $WORK/load.log.
bg() {
  local spec=()
  if [[ $1 == -u ]]; then
    spec=(--userspec="$2:$2")
    shift 2
  fi
  setsid chroot "${spec[@]}" "$R" /usr/bin/env -i HOME=/tmp PATH="$root_path" LC_ALL=C "$@" \
    </dev/null >>"$WORK/load.log" 2>&1 &
  echo $! >>"$WORK/pgids"
  disown $!
}

# pg_start DATADIR [SETTING...]: the postmaster in the chroot (socket in /run/postgresql).
pg_start() {
  local d=$1 a=()
  shift
  for x in "$@"; do a+=(-c "$x"); done
  install -d -o postgres -g postgres "$R/run/postgresql"
  bg -u postgres "$pgbin/postgres" -D "$d" -k /run/postgresql -c listen_addresses= "${a[@]}"
  local n
  for n in $(seq 100); do
    inroot_as postgres "$pgbin/pg_isready" -q -h /run/postgresql && break
    sleep 0.2
  done
  head -1 "$R$d/postmaster.pid" >>"$WORK/postmaster.pids"
}
# pgbench_bg ARGS...: a pgbench client run in the background against database bench.
pgbench_bg() { bg -u postgres "$pgbin/pgbench" -h /run/postgresql -n "$@" bench; }

# pull_loop STORAGE [KEEP]: a container-image pull, over and over: a layer is unpacked into
# STORAGE/overlay/<id>/diff and synced, as containers-storage does; the oldest layers beyond
# KEEP are removed.
pull_loop() {
  local st=$1 keep=${2:-6}
  cp "$WORK/layer.tar" "$R/run/layer.tar"
  cat >"$R/run/pull.sh" <<SH
#!/bin/bash
mkdir -p $st/overlay
while :; do
  id=\$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mkdir -p $st/overlay/\$id/diff
  tar -xf /run/layer.tar -C $st/overlay/\$id/diff
  sync -f $st/overlay/\$id/diff
  ls -1t $st/overlay | tail -n +$((keep + 1)) | while read -r old; do rm -rf $st/overlay/\$old; done
done
SH
  chmod +x "$R/run/pull.sh"
  bg /run/pull.sh
}

inner_cleanup() {
  set +e
  if declare -F "${SCEN_FN}_stop" >/dev/null; then "${SCEN_FN}_stop"; fi
  if [[ -f $WORK/pgids ]]; then
    {
      while read -r g; do kill -TERM -- "-$g"; done <"$WORK/pgids"
      sleep 1
      while read -r g; do kill -KILL -- "-$g"; done <"$WORK/pgids"
    } 2>/dev/null
    rm -f "$WORK/pgids"
  fi
  # Whatever else is still running here (a warm-up sleep, a collect).
  { kill -KILL $(jobs -p) && wait; } 2>/dev/null
}

inner_main() {
  WORK=$CAP_WORK
  HOSTNAME_=$CAP_HOST
  R=$WORK/root
  SCEN_FN=$(scenario_fn "$SCEN")
  trap inner_cleanup EXIT
  trap 'exit 130' INT TERM
  hostname "$HOSTNAME_"
  mkdir -p "$R"
  local dev target subvol opts o first=1 mounted=" "
  while read -r dev target subvol opts; do
    if ((first)); then
      [[ $target == / ]] || die "the first mount must be /"
      first=0
    else
      [[ -d $R$target ]] || die "mount point $target missing on the host's root"
    fi
    o="subvol=$subvol"
    [[ $opts != - ]] && o="$opts,$o"
    # A hard disk (and a flash drive on usb-storage) has no TRIM, so btrfs would not turn
    # discard=async on: say so on the filesystem's first mount (it prints nothing in the options).
    if [[ $mounted != *" $dev "* ]] && grep -qE "^$dev (hdd|usb)" "$WORK/disks.tab"; then
      o="$o,nodiscard"
    fi
    mounted+="$dev "
    mount -t btrfs -o "$o" "$dev" "$R$target"
  done <"$WORK/mounts.tab"
  mount --bind /usr "$R/usr"
  mount -o remount,bind,ro "$R/usr"
  mount -t proc proc "$R/proc"
  mount -t sysfs sysfs "$R/sys"
  mount --rbind /dev "$R/dev"
  mount -t tmpfs -o mode=755,size=512m tmpfs "$R/run"
  local fstype
  fstype=$(inroot findmnt -n -o FSTYPE /)
  [[ $fstype == btrfs ]] || die "/ inside the chroot is $fstype, not btrfs"
  if declare -F "${SCEN_FN}_load" >/dev/null; then "${SCEN_FN}_load"; fi
  # In the background and waited for, so that a SIGTERM is handled at once.
  sleep "$CAP_WARMUP" &
  wait $!
  cp "$collect" "$R/run/btrtune-collect"
  inroot /run/btrtune-collect collect -o /run/bundle --samples 3 --interval 1 &
  wait $!
  cp -a "$R/run/bundle" "$WORK/bundle"
}

# ---------------------------------------------------------------------------------------------
# Scenarios. Each scenario NN-name is a function sNN (set-up and capture) with optional
# sNN_load (starts the background load inside the chroot) and sNN_stop.

# 01: disko's own example/btrfs-subvolumes.nix on a small KVM VPS: `/` is mounted first with no
# options, so compress=zstd on /home and /nix is ignored.
s01() {
  HOSTNAME_=vps
  new_disk D 2G virtio
  mkfs.btrfs -q -f "$D"
  local t=$WORK/top
  smount "$D" "$t"
  local s
  for s in rootfs home home/user nix test swap; do btrfs -q subvolume create "$t/$s"; done
  btrfs -q filesystem mkswapfile -s 20M "$t/swapfile"
  btrfs -q filesystem mkswapfile -s 20M "$t/swapfile1"
  btrfs -q filesystem mkswapfile -s 20M "$t/swap/swapfile"
  btrfs -q filesystem mkswapfile -s 20M "$t/swap/rel-path"
  make_root "$t/rootfs"
  mkdir -p "$t/rootfs"/{nix,.swapvol,partition-root}
  fill "$t/nix/store" 150
  fill "$t/home/user/Documents" 60
  sumount
  mnt "$D" / /rootfs defaults
  mnt "$D" /home /home compress=zstd
  mnt "$D" /nix /nix compress=zstd,noatime
  mnt "$D" /.swapvol /swap defaults
  mnt "$D" /partition-root / defaults
  capture
}
s01_load() {
  # A nix-daemon-like writer: new store paths (compressible text) written and fsync'ed.
  bg fio --name=nix-build --directory=/nix/store --rw=write --bs=128k --size=64m \
    --nrfiles=16 --buffer_compress_percentage=70 --refill_buffers --fsync_on_close=1 \
    --rate=8m --time_based --runtime=120
}

# 02: PostgreSQL on a copy-on-write (and compressed) subvolume on a ThinkPad T420's 2.5" HDD:
# commit latency is the disk's flush and seek time, made worse by CoW.
s02() {
  HOSTNAME_=t420
  new_disk D 3G hdd-laptop
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top s
  smount "$D" "$t"
  for s in @root @home @nix @postgresql; do btrfs -q subvolume create "$t/$s"; done
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/lib/postgresql}
  fill "$t/@nix/store" 200
  fill "$t/@home/jan" 50
  chown postgres:postgres "$t/@postgresql"
  pg_initdb "$t/@postgresql/15" 10
  sumount
  local o=compress=zstd:1,noatime
  mnt "$D" / @root "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /nix @nix "$o"
  mnt "$D" /var/lib/postgresql @postgresql "$o"
  WARMUP=10 capture
}
s02_load() {
  pg_start /var/lib/postgresql/15
  # An OLTP application: 4 clients, each transaction commits (WAL fdatasync).
  pgbench_bg -c 4 -j 2 -N -T 600
}

# 03: metadata exhausted on a small cloud VM: an application keeps millions of tiny (inline)
# session files; data chunks took the rest of the disk, so no metadata chunk can be allocated.
s03() {
  HOSTNAME_=oca
  new_disk D 1G virtio-scsi
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/lib/sessions}
  fill "$t/@nix/store" 120
  python3 - "$t" <<'PY'
import errno, os, re, subprocess, sys
t = sys.argv[1]
def small(root, n, start=0):
    made = 0
    for i in range(start, start + n):
        d = os.path.join(root, f"{i // 1000:04d}")
        os.makedirs(d, exist_ok=True)
        try:
            with open(os.path.join(d, f"s{i:07d}"), "wb") as f:
                f.write(os.urandom(700) + b"x" * 1200)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                return made, True
            raise
        made += 1
    return made, False
root = os.path.join(t, "@root/var/lib/sessions")
n1, _ = small(root, 30000)
def unallocated():
    out = subprocess.run(["btrfs", "filesystem", "usage", "-b", t], capture_output=True,
                         text=True, check=True).stdout
    return int(re.search(r"Device unallocated:\s+(\d+)", out).group(1))
# Data: media files until less than 150 MiB of the disk is unallocated.
media = os.path.join(t, "@home/ana/Videos")
os.makedirs(media, exist_ok=True)
k = 0
while unallocated() > 150 << 20:
    with open(os.path.join(media, f"clip{k:02d}.mp4"), "wb") as f:
        for _ in range(32):
            f.write(os.urandom(1 << 20))
    k += 1
    os.sync()
# More sessions: metadata takes the rest of the disk, then is full.
n2, full = small(root, 2000000, start=n1)
os.sync()
# Some videos deleted again: data chunks get holes, but stay allocated.
for j in range(0, k, 3):
    try:
        os.unlink(os.path.join(media, f"clip{j:02d}.mp4"))
    except OSError:
        pass
os.sync()
print(f"sessions {n1 + n2}, videos {k}, metadata full: {full}", file=sys.stderr)
PY
  sumount
  mnt "$D" / @root noatime
  mnt "$D" /home @home noatime
  mnt "$D" /nix @nix noatime
  capture
}
s03_load() {
  # The application goes on trying to create session files (most fail with ENOSPC).
  cat >"$R/run/sessions.sh" <<'SH'
#!/bin/bash
i=0
while :; do
  i=$((i + 1))
  head -c 1500 /dev/urandom >/var/lib/sessions/new-$$-$i 2>/dev/null || true
  sleep 0.05
done
SH
  chmod +x "$R/run/sessions.sh"
  bg /run/sessions.sh
}

# 04: a second SATA SSD was added and `balance -dconvert=raid1 -mconvert=raid1` was interrupted
# after the metadata and two data chunks: data is partly single, partly raid1.
s04() {
  HOSTNAME_=tower
  new_disk D1 4G ssd
  new_disk D2 4G ssd
  mkfs.btrfs -q -f -L nixos "$D1"
  local t=$WORK/top
  smount "$D1" "$t"
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root/nix"
  fill "$t/@nix/store" 400
  fill "$t/@home/max" 200
  btrfs -q device add -f "$D2" "$t"
  btrfs -q balance start -mconvert=raid1 "$t" >/dev/null
  btrfs -q balance start -dconvert=raid1,limit=2 "$t" >/dev/null
  sumount
  local o=compress=zstd:1,noatime
  mnt "$D1" / @root "$o"
  mnt "$D1" /home @home "$o"
  mnt "$D1" /nix @nix "$o"
  capture
}
s04_load() {
  bg fio --name=desktop --directory=/home/max --rw=randrw --rwmixread=70 --bs=16k --size=64m \
    --rate=2m,1m --time_based --runtime=600
}

# 05: snapper with quotas (snapper setup-quota) on /home of a desktop: 150 snapshots, /home
# with the default relatime; old snapshots are being deleted while files are read.
s05() {
  HOSTNAME_=thinkcentre
  new_disk D 3G ssd
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t" compress=zstd:1
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root/nix"
  btrfs quota enable "$t"
  fill "$t/@nix/store" 150
  fill "$t/@home/eva" 200
  snapper_snaps "$t/@home" 150 "$t/@home/eva"
  # The snapshots were taken over months: file atimes are older than a day.
  find "$t/@home/eva" -exec touch -a -d '2026-01-01 12:00' {} + 2>/dev/null || true
  btrfs quota rescan -w "$t" >/dev/null
  sumount
  mnt "$D" / @root compress=zstd:1
  mnt "$D" /home @home compress=zstd:1
  mnt "$D" /nix @nix compress=zstd:1,noatime
  capture
}
s05_load() {
  # snapper's cleanup: the oldest snapshots deleted one by one (btrfs-cleaner does the work,
  # with qgroup accounting).
  cat >"$R/run/cleanup.sh" <<'SH'
#!/bin/bash
for i in $(seq 1 20); do
  btrfs -q subvolume delete /home/.snapshots/$i/snapshot && rmdir /home/.snapshots/$i
  sleep 2
done
sleep infinity
SH
  chmod +x "$R/run/cleanup.sh"
  bg /run/cleanup.sh
  # The user's desktop: files in /home read (relatime updates atimes older than a day).
  bg bash -c 'while :; do find /home/eva -type f -exec cat {} + >/dev/null; done'
  bg fio --name=desktop --directory=/home/eva --rw=randwrite --bs=16k --size=32m \
    --fsync=8 --rate=,1m --time_based --runtime=600
}

# 06: podman on a workstation: /var/lib/containers is a directory of the root subvolume, and
# snapper snapshots / every hour (the snapshots keep every pulled layer).
s06() {
  HOSTNAME_=tower
  new_disk D 8G nvme
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @root @home @nix @snapshots
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,.snapshots,var/lib/containers/storage/overlay}
  fill "$t/@nix/store" 150
  fill "$t/@home/max" 100
  layer_tar
  local i id
  for ((i = 1; i <= 12; i++)); do
    id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mkdir -p "$t/@root/var/lib/containers/storage/overlay/$id/diff"
    tar -xf "$WORK/layer.tar" -C "$t/@root/var/lib/containers/storage/overlay/$id/diff"
    mkdir -p "$t/@snapshots/$i"
    btrfs -q subvolume snapshot -r "$t/@root" "$t/@snapshots/$i/snapshot"
  done
  sumount
  local o=compress=zstd:1,noatime
  mnt "$D" / @root "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /nix @nix "$o"
  mnt "$D" /.snapshots @snapshots "$o"
  WARMUP=8 capture
}
s06_load() { pull_loop /var/lib/containers/storage 6; }

# 07: a Raspberry Pi on a class-10 SD card with compress-force=zlib:9 on every mount.
s07() {
  HOSTNAME_=rpi
  new_disk D 2G sdcard
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @root @home @nix @log
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/log}
  fill "$t/@nix/store" 200
  sumount
  local o=compress-force=zlib:9,noatime
  mnt "$D" / @root "$o"
  mnt "$D" /nix @nix "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /var/log @log "$o"
  WARMUP=8 capture
}
s07_load() {
  # nixos-rebuild: new store paths (compressible) written and synced, while journald and a
  # sensor logger append and fsync small records.
  bg fio --name=nix-store --directory=/nix/store --rw=write --bs=256k --size=32m --nrfiles=8 \
    --numjobs=4 --buffer_compress_percentage=60 --refill_buffers --fsync_on_close=1 \
    --time_based --runtime=600
  bg fio --name=logger --directory=/var/log --rw=randwrite --bs=4k --size=8m --fsync=1 \
    --buffer_compress_percentage=50 --refill_buffers --time_based --runtime=600
}

# 08: a SATA-SSD desktop installed from an old wiki fstab: bare `compress` (zlib), synchronous
# `discard` and `space_cache` (v1; the filesystem was made without the free-space tree).
s08() {
  HOSTNAME_=thinkcentre
  new_disk D 3G ssd
  mkfs.btrfs -q -f -L nixos -R ^free-space-tree "$D"
  local t=$WORK/top
  smount "$D" "$t" space_cache=v1
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root/nix"
  fill "$t/@nix/store" 300
  fill "$t/@home/eva/src" 150
  sumount
  local o=noatime,compress,discard,space_cache
  mnt "$D" / @root "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /nix @nix "$o"
  WARMUP=6 capture
}
s08_load() {
  # Branch switches in a big checkout: trees of small files written, synced and deleted
  # (every freed extent is trimmed synchronously).
  cat >"$R/run/checkout.sh" <<'SH'
#!/bin/bash
cd /home/eva/src
while :; do
  cp -r python3.1 tree.new && sync -f tree.new
  rm -rf tree.old; mv tree.new tree.old
done
SH
  chmod +x "$R/run/checkout.sh"
  bg /run/checkout.sh
}

# 09: libvirt guest images on a copy-on-write subvolume, and `autodefrag` on every mount.
s09() {
  HOSTNAME_=tower
  new_disk D 10G nvme
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @root @home @nix @libvirt-images
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/lib/libvirt/images}
  fill "$t/@nix/store" 150
  # A guest disk that has been in use: written in full, then overwritten at random.
  fio --name=install --filename="$t/@libvirt-images/win11.qcow2" --rw=write --bs=1m --size=1536m \
    --output=/dev/null
  fio --name=use --filename="$t/@libvirt-images/win11.qcow2" --rw=randwrite --bs=4k \
    --size=1536m --io_size=200m --output=/dev/null
  sumount
  local o=compress=zstd:1,noatime,autodefrag
  mnt "$D" / @root "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /nix @nix "$o"
  mnt "$D" /var/lib/libvirt/images @libvirt-images "$o"
  WARMUP=8 capture
}
s09_load() {
  # The guest (QEMU cache=none: O_DIRECT): small random writes with flushes, and reads.
  bg fio --name=win11-guest --filename=/var/lib/libvirt/images/win11.qcow2 --rw=randrw \
    --rwmixread=60 --bs=4k --direct=1 --ioengine=psync --numjobs=2 --fdatasync=16 \
    --rate_iops=300,200 --size=1536m --time_based --runtime=600
}

# 10: a 128 GiB storage server: the system on a SATA SSD, PostgreSQL (NOCOW, snapshotted every
# hour by btrbk) and a backup landing area on two 20 TB HDDs in btrfs raid1. The HDDs' scheduler
# is `none` and the dirty limits are the kernel's defaults (20 % of RAM).
s10() {
  HOSTNAME_=storinator01
  new_disk S 2G ssd
  new_disk H1 20G hdd-server none
  new_disk H2 20G hdd-server none
  mkfs.btrfs -q -f -L system "$S"
  mkfs.btrfs -q -f -L tank -d raid1 -m raid1 "$H1" "$H2"
  local t=$WORK/top u=$WORK/tank i
  smount "$S" "$t"
  subvols "$t" @root @nix @log
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/log,var/lib/postgresql,srv}
  fill "$t/@nix/store" 200
  smount "$H1" "$u"
  subvols "$u" @postgresql @srv @snapshots
  chattr +C "$u/@postgresql"
  chown postgres:postgres "$u/@postgresql"
  pg_initdb "$u/@postgresql/15" 20
  fill "$u/@srv/backup/2026-11-20" 300
  for ((i = 1; i <= 24; i++)); do
    btrfs -q subvolume snapshot -r "$u/@postgresql" "$u/@snapshots/@postgresql.20261121T$(printf %02d $((i - 1)))00"
  done
  sumount
  mnt "$S" / @root compress=zstd:1,noatime
  mnt "$S" /nix @nix compress=zstd:1,noatime
  mnt "$S" /var/log @log compress=zstd:1,noatime
  mnt "$H1" /var/lib/postgresql @postgresql noatime
  mnt "$H1" /srv @srv noatime
  WARMUP=20 capture
}
s10_load() {
  pg_start /var/lib/postgresql/15
  pgbench_bg -c 8 -j 2 -N -T 600
  # The nightly backup landing: big buffered writes, flushed by the kernel's writeback.
  bg fio --name=backup-ingest --directory=/srv/backup --rw=write --bs=1m --size=3g \
    --ioengine=psync --time_based --runtime=600
}

# 11: an old laptop HDD that corrupts data: a photo's blocks were changed on the disk behind
# btrfs' back; reads fail with checksum errors, and the device statistics count them.
s11() {
  HOSTNAME_=t420
  new_disk D 2G hdd-laptop
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top i
  smount "$D" "$t"
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root/nix"
  fill "$t/@nix/store" 150
  mkdir -p "$t/@home/jan/Photos/2019"
  for ((i = 1; i <= 24; i++)); do
    head -c $((3 << 20)) /dev/urandom >"$t/@home/jan/Photos/2019/IMG_$((4100 + i)).JPG"
  done
  sync
  local f=$t/@home/jan/Photos/2019/IMG_4107.JPG logical phys
  # FIEMAP on btrfs gives logical addresses; btrfs-map-logical turns one into a disk offset.
  logical=$(filefrag -v -b1 "$f" | awk '$1 == "0:" {print $4; exit}' | tr -d '.')
  sumount
  phys=$(btrfs-map-logical -l "$((logical + (1 << 20)))" -b 4096 "$D" |
    awk '/mirror 1/ {print $6; exit}')
  [[ -n $phys ]] || die "s11: no physical address for $f"
  dd if=/dev/urandom of="$D" bs=4096 seek=$((phys / 4096)) count=8 conv=notrunc oflag=direct \
    status=none
  smount "$D" "$t"
  cat "$t/@home/jan/Photos/2019/IMG_4107.JPG" >/dev/null 2>&1 && die "s11: corruption not detected"
  btrfs scrub start -B "$t" >/dev/null 2>&1 || true
  sumount
  mnt "$D" / @root compress=zstd:1,noatime
  mnt "$D" /home @home compress=zstd:1,noatime
  mnt "$D" /nix @nix compress=zstd:1,noatime
  capture
}
s11_load() {
  # A photo viewer's thumbnailer going through the photos, one per second (one of them fails).
  bg bash -c 'while :; do for f in /home/jan/Photos/2019/*.JPG; do cat "$f" >/dev/null; sleep 1; done; done'
}

# 12: a healthy Framework 13 laptop laid out by `btrtune plan` (firefox, nix, postgresql): a
# continuous qd1 read load keeps the NVMe "100 % utilized" at very low latency.
s12() {
  HOSTNAME_=framework
  # An NVMe answers a 16 KiB random read in about 0.25 ms: 4000 requests/s at queue depth 1.
  new_disk D 40G nvme none "0 0 4000 4000"
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @home @home/.snapshots @log @nix @postgresql @postgresql/.snapshots @root \
    @root/.snapshots @swap @home/ana/.cache
  chattr +C "$t/@postgresql"
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/log,var/lib/postgresql,.swapvol}
  # As planned: 8 GiB (preallocated, so the sparse disk image does not grow).
  btrfs -q filesystem mkswapfile -s 8G "$t/@swap/swapfile"
  fill "$t/@nix/store" 300
  fill "$t/@home/ana/Documents" 150
  chown postgres:postgres "$t/@postgresql"
  pg_initdb "$t/@postgresql/15" 5
  head -c $((600 << 20)) /dev/urandom >"$t/@home/ana/.cache/model.bin"
  sumount
  local o=compress=zstd:1,noatime
  mnt "$D" / @root "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /nix @nix "$o"
  mnt "$D" /var/log @log "$o"
  mnt "$D" /var/lib/postgresql @postgresql "$o"
  mnt "$D" /.swapvol @swap "$o"
  WARMUP=6 capture
}
s12_load() {
  pg_start /var/lib/postgresql/15
  pgbench_bg -c 1 -S -R 50 -T 600
  # An application's two threads reading a big file at random, each one request at a time,
  # without the page cache: the device is never idle, yet every request is answered quickly.
  bg fio --name=reader --filename=/home/ana/.cache/model.bin --rw=randread --bs=16k \
    --direct=1 --ioengine=psync --numjobs=2 --time_based --runtime=600
}

# 13: a desktop with a swap file in the root subvolume (snapshotted by snapper) and the
# browser cache in the snapshotted /home; no atime option (relatime).
s13() {
  HOSTNAME_=tower
  new_disk D 3G nvme
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root/nix"
  fill "$t/@nix/store" 150
  fill "$t/@home/alice/Documents" 100
  fill "$t/@home/alice/.cache/mozilla/firefox/k3x9.default/cache2/entries" 120 /usr/share/locale
  snapper_snaps "$t/@root" 10
  snapper_snaps "$t/@home" 10 "$t/@home/alice/.cache"
  # The swap file came later (snapper cannot snapshot / while it is active).
  btrfs -q filesystem mkswapfile -s 512M "$t/@root/swapfile"
  sumount
  mnt "$D" / @root compress=zstd:1
  mnt "$D" /home @home compress=zstd:1
  mnt "$D" /nix @nix compress=zstd:1,noatime
  WARMUP=6 capture
}
s13_load() {
  # Firefox: cache entries written and evicted, and its SQLite profile synced on every change.
  cat >"$R/run/cache.sh" <<'SH'
#!/bin/bash
c=/home/alice/.cache/mozilla/firefox/k3x9.default/cache2/entries
i=0
while :; do
  i=$((i + 1))
  head -c $(( (RANDOM % 64 + 4) * 1024 )) /dev/urandom >$c/new-$i
  [ $((i % 50)) = 0 ] && { sync -f $c; find $c -name 'new-*' -mmin +0 -delete 2>/dev/null; }
done
SH
  chmod +x "$R/run/cache.sh"
  bg /run/cache.sh
  mkdir -p "$R/home/alice/.mozilla/firefox/k3x9.default"
  bg fio --name=places.sqlite --filename=/home/alice/.mozilla/firefox/k3x9.default/places.sqlite \
    --rw=randwrite --bs=32k --size=32m --fsync=1 --rate=,2m --time_based --runtime=600
}

# 14: `nodatacow` in the first mount's options (copied to every mount "for speed"): the whole
# filesystem is NOCOW, without checksums and compression.
s14() {
  HOSTNAME_=oca
  new_disk D 3G virtio-scsi
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,srv/www}
  fill "$t/@nix/store" 200
  sumount
  local o=noatime,nodatacow
  mnt "$D" / @root "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /nix @nix "$o"
  capture
}
s14_load() {
  bg fio --name=uploads --directory=/srv/www --rw=randrw --bs=64k --size=128m --nrfiles=4 \
    --fsync=32 --rate=4m,4m --time_based --runtime=600
}

# 15: SSD folklore on a SATA-SSD desktop: `ssd_spread`, metadata single "to spare the SSD"
# (mkfs -m single), and btrfs' read-ahead lowered to 128 KiB by a udev rule.
s15() {
  HOSTNAME_=thinkcentre
  new_disk D 3G ssd
  mkfs.btrfs -q -f -L nixos -m single "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root/nix"
  fill "$t/@nix/store" 200
  mkdir -p "$t/@home/eva/Videos"
  head -c $((1 << 30)) /dev/urandom >"$t/@home/eva/Videos/holiday.mkv"
  sumount
  local o=ssd_spread,noatime,compress=zstd:1
  mnt "$D" / @root "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /nix @nix "$o"
  capture
}
s15_load() {
  local uuid
  uuid=$(findmnt -n -o UUID "$R")
  echo 128 >"/sys/fs/btrfs/$uuid/bdi/read_ahead_kb"
  # Copying a video off the disk (buffered reads, page cache dropped behind).
  bg bash -c 'while :; do dd if=/home/eva/Videos/holiday.mkv of=/dev/null bs=1M iflag=nocache status=none; done'
}

# 16: a 4 GB KVM VPS running podman containers: storage inside the root subvolume, which btrbk
# snapshots daily; / with the default relatime.
s16() {
  HOSTNAME_=vps
  new_disk D 3G virtio
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top i id
  smount "$D" "$t"
  subvols "$t" @root @home @nix @snapshots
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/lib/containers/storage/overlay,var/lib/containers/storage/volumes/uploads/_data}
  fill "$t/@nix/store" 150
  layer_tar
  for ((i = 1; i <= 7; i++)); do
    id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mkdir -p "$t/@root/var/lib/containers/storage/overlay/$id/diff"
    tar -xf "$WORK/layer.tar" -C "$t/@root/var/lib/containers/storage/overlay/$id/diff"
    btrfs -q subvolume snapshot -r "$t/@root" "$t/@snapshots/@root.2026111$i"
  done
  sumount
  mnt "$D" / @root compress=zstd:1
  mnt "$D" /home @home compress=zstd:1
  mnt "$D" /nix @nix compress=zstd:1,noatime
  WARMUP=8 capture
}
s16_load() {
  pull_loop /var/lib/containers/storage 5
  bg fio --name=app-uploads --directory=/var/lib/containers/storage/volumes/uploads/_data \
    --rw=randrw --bs=16k --size=64m --fsync=16 --rate=2m,2m --time_based --runtime=600
}

# 17: the same T420 as 02, laid out by `btrtune plan` (PostgreSQL NOCOW in its own subvolume,
# BFQ for the HDD): commits are still slow, because the disk is.
s17() {
  HOSTNAME_=t420
  new_disk D 40G hdd-laptop bfq
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top
  smount "$D" "$t"
  subvols "$t" @home @home/.snapshots @log @nix @postgresql @postgresql/.snapshots @root \
    @root/.snapshots @swap @home/jan/.cache
  chattr +C "$t/@postgresql"
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/log,var/lib/postgresql,.swapvol}
  btrfs -q filesystem mkswapfile -s 8G "$t/@swap/swapfile"
  fill "$t/@nix/store" 200
  fill "$t/@home/jan" 50
  chown postgres:postgres "$t/@postgresql"
  pg_initdb "$t/@postgresql/15" 10
  sumount
  local o=compress=zstd:1,autodefrag,noatime
  mnt "$D" / @root "$o"
  mnt "$D" /home @home "$o"
  mnt "$D" /nix @nix "$o"
  mnt "$D" /var/log @log "$o"
  mnt "$D" /var/lib/postgresql @postgresql "$o"
  mnt "$D" /.swapvol @swap "$o"
  WARMUP=10 capture
}
s17_load() { s02_load; }

# 18: a Framework laptop whose NVMe got full: podman's storage was moved to a btrfs on the USB
# flash drive, while Rust builds (~/.cargo, target/) stay in the snapshotted /home.
s18() {
  HOSTNAME_=framework
  new_disk D 6G nvme
  new_disk U 4G usb
  mkfs.btrfs -q -f -L nixos "$D"
  mkfs.btrfs -q -f -L containers "$U"
  local t=$WORK/top u=$WORK/usb
  smount "$D" "$t"
  subvols "$t" @root @home @nix
  make_root "$t/@root"
  mkdir -p "$t/@root"/{nix,var/lib/containers}
  fill "$t/@nix/store" 200
  fill "$t/@home/ana/.cargo/registry/src" 150 /usr/include
  fill "$t/@home/ana/src/app/target/debug/deps" 200 /usr/lib/python3
  snapper_snaps "$t/@home" 12 "$t/@home/ana/src/app/target"
  smount "$U" "$u"
  subvols "$u" @containers
  layer_tar
  local i id
  for ((i = 1; i <= 4; i++)); do
    id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mkdir -p "$u/@containers/storage/overlay/$id/diff"
    tar -xf "$WORK/layer.tar" -C "$u/@containers/storage/overlay/$id/diff"
  done
  sumount
  mnt "$D" / @root compress=zstd:1,noatime
  mnt "$D" /home @home compress=zstd:1,noatime
  mnt "$D" /nix @nix compress=zstd:1,noatime
  mnt "$U" /var/lib/containers @containers noatime
  WARMUP=8 capture
}
s18_load() {
  # cargo build: dependency sources read, object files and rlibs written, renamed and synced.
  cat >"$R/run/build.sh" <<'SH'
#!/bin/bash
t=/home/ana/src/app/target/debug/incremental
mkdir -p $t
i=0
while :; do
  i=$((i + 1))
  cat /home/ana/.cargo/registry/src/include.1/linux/*.h >/dev/null 2>&1
  for j in $(seq 20); do head -c $(( (RANDOM % 256 + 16) * 1024 )) /dev/urandom >$t/obj-$i-$j.o.tmp; mv $t/obj-$i-$j.o.tmp $t/obj-$i-$j.o; done
  sync -f $t
  rm -f $t/obj-$((i - 5))-*.o
done
SH
  chmod +x "$R/run/build.sh"
  bg /run/build.sh
  # A dev container's database volume and an image pull on the USB drive.
  pull_loop /var/lib/containers/storage 5
  mkdir -p "$R/var/lib/containers/storage/volumes/devdb/_data"
  bg fio --name=devdb --directory=/var/lib/containers/storage/volumes/devdb/_data \
    --rw=randwrite --bs=8k --size=64m --fsync=1 --time_based --runtime=600
}

# 19: a VPS's disk nearly full: old backups were deleted, but btrbk's daily snapshots still hold
# them.
s19() {
  HOSTNAME_=oca
  new_disk D 2G virtio-scsi
  mkfs.btrfs -q -f -L nixos "$D"
  local t=$WORK/top i
  smount "$D" "$t"
  subvols "$t" @root @home @nix @snapshots
  make_root "$t/@root"
  mkdir -p "$t/@root/nix"
  fill "$t/@nix/store" 250
  mkdir -p "$t/@home/backup"
  for ((i = 1; i <= 7; i++)); do
    head -c $((210 << 20)) /dev/urandom >"$t/@home/backup/db-2026-11-1$i.dump"
    btrfs -q subvolume snapshot -r "$t/@home" "$t/@snapshots/@home.2026111$i"
    [[ $i -gt 2 ]] && rm -f "$t/@home/backup/db-2026-11-1$((i - 2)).dump"
  done
  sync
  sumount
  mnt "$D" / @root noatime
  mnt "$D" /home @home noatime
  mnt "$D" /nix @nix noatime
  capture
}
s19_load() {
  # The application's log and upload writes, small and synced.
  bg fio --name=uploads --directory=/home/backup --rw=randwrite --bs=16k --size=16m \
    --fsync=8 --rate=,512k --time_based --runtime=600
}

# ---------------------------------------------------------------------------------------------

SCENARIOS=(
  01-disko-example-compress-ignored
  02-postgres-hdd-cow
  03-metadata-full
  04-interrupted-raid1-conversion
  05-qgroups-many-snapshots
  06-podman-in-snapshotted-root
  07-raspberrypi-sd-compress-force
  08-compress-discard-space-cache-v1
  09-vm-images-cow-autodefrag
  10-storinator-hdd-dirty-writeback
  11-hdd-checksum-errors
  12-healthy-nvme-laptop
  13-swapfile-and-cache-in-snapshots
  14-nodatacow-whole-filesystem
  15-ssd-myths-readahead
  16-small-vps-podman-in-root
  17-postgres-hdd-planned-layout
  18-usb-container-storage-builds-in-snapshots
  19-disk-nearly-full-snapshots
)

scenario_fn() { echo "s${1%%-*}"; }

resolve() {
  local a=$1 s
  for s in "${SCENARIOS[@]}"; do
    if [[ $s == "$a" || ${s%%-*} == "$a" || ${s#*-} == "$a" ]]; then
      echo "$s"
      return
    fi
  done
  die "unknown scenario $a (--list lists them)"
}

run_scenario() {
  SCEN=$1
  local fn
  fn=$(scenario_fn "$SCEN")
  [[ -f $fixtures/$SCEN/disko.nix ]] || die "$fixtures/$SCEN/disko.nix missing"
  WORK=$(mktemp -d /var/tmp/btrtune-diag.XXXXXX)
  : >"$WORK/mounts.tab"
  : >"$WORK/disks.tab"
  local t0=$SECONDS
  log "=== $SCEN (work dir $WORK)"
  "$fn"
  local dest=$fixtures/$SCEN/bundle
  rm -rf "$dest.new"
  cp -a "$WORK/bundle" "$dest.new"
  rm -rf "$dest"
  mv "$dest.new" "$dest"
  summarize "$dest"
  cleanup
  log "=== $SCEN done in $((SECONDS - t0)) s"
}

# A short look at what was captured: mounts and the btrfs devices' iostat averages.
summarize() {
  python3 - "$1" <<'PY' >&2 || true
import json, sys, os
b = sys.argv[1]
fm = json.load(open(os.path.join(b, "findmnt.json")))
devs = set()
def walk(xs):
    for x in xs:
        if x.get("fstype") == "btrfs":
            print(f"  {x['target']:<24} {x['source']:<28} {x['options']}")
            devs.add(x["source"].split("[")[0].removeprefix("/dev/"))
        walk(x.get("children", []))
walk(fm["filesystems"])
try:
    st = json.load(open(os.path.join(b, "iostat.json")))["sysstat"]["hosts"][0]["statistics"]
except Exception:
    st = []
for s in st[1:]:
    for d in s["disk"]:
        if d["disk_device"] in devs:
            print("  {disk_device}: r/s {r/s:.0f} w/s {w/s:.0f} r_await {r_await:.1f} w_await {w_await:.1f} "
                  "f/s {f/s:.1f} f_await {f_await:.1f} aqu-sz {aqu-sz:.2f} util {util:.0f}".format(**d))
PY
}

main() {
  if [[ ${1:-} == __inner ]]; then
    SCEN=$2
    inner_main
    return
  fi
  if [[ ${1:-} == --list ]]; then
    printf '%s\n' "${SCENARIOS[@]}"
    return
  fi
  [[ -x $collect ]] || die "$collect not found (set BTRTUNE_COLLECT)"
  [[ -d $blkio ]] || die "no cgroup v1 blkio hierarchy at $blkio"
  local todo=() a
  if (($# == 0)); then
    todo=("${SCENARIOS[@]}")
  else
    for a in "$@"; do todo+=("$(resolve "$a")"); done
  fi
  trap cleanup EXIT
  trap on_signal INT TERM
  local t0=$SECONDS
  for a in "${todo[@]}"; do run_scenario "$a"; done
  log "all done: ${#todo[@]} scenario(s) in $((SECONDS - t0)) s"
}

main "$@"; exit
