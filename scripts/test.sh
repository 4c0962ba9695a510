#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy, docs, and the whole test suite.
# As root on Debian it first installs the packages the tests need; otherwise it checks
# that they are there and says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need:
#   nix-bin       nix-instantiate --parse on every generated file, --nix-eval
#   btrfs-progs   mkfs.btrfs and btrfs for the root tests (harness builds, collect)
#   e2fsprogs     chattr/lsattr, mkfs.ext4 (baseline layouts, safety tests)
#   xfsprogs      mkfs.xfs (baseline layouts)
#   util-linux    losetup, findmnt, blkid, wipefs, partx, lsblk, swapon
#   mount         mount, umount
#   parted        partition tables in the spare-device safety tests
#   dmsetup       device-mapper holders in the safety tests (run only where the kernel has dm)
#   fio           every workload the harness replays
#   sysstat       iostat, sampled by collect
#   libclang-dev  bindgen, which the loopdev-3 and btrfs-uapi crates run at build time
#   strace        the syscall-shape tests of the WAL writers
#   postgresql    real pgbench, the check on the synthetic WAL writer
#   chromium      headless rendering of the HTML reports (screenshot + DOM of every chart)
#   fonts-dejavu-core  a font for the text in those screenshots
packages=(nix-bin btrfs-progs e2fsprogs xfsprogs util-linux mount parted dmsetup fio sysstat libclang-dev strace postgresql chromium fonts-dejavu-core)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "scripts/test.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "scripts/test.sh: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
fi

if [[ ! -d ../shared/corpus ]]; then
  echo "scripts/test.sh: the tests need ../shared (docs and corpus) beside this checkout" >&2
  exit 1
fi

# A test that needs an external tool fails instead of skipping; as root (CI), so does a
# test that needs root.
export BTRTUNE_REQUIRE_TOOLS=1
if [[ $(id -u) == 0 ]]; then
  export BTRTUNE_REQUIRE_ROOT=1
fi

set -x
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --locked
cargo test --workspace --locked
# The device-mapper holder test is #[ignore]d: most kernels here have no device-mapper.
if [[ $(id -u) == 0 ]] && dmsetup version >/dev/null 2>&1; then
  cargo test --locked -p btrtune-harness --test loop_safety -- --ignored loop_device_mapper
else
  echo "scripts/test.sh: no device-mapper in this kernel: loop_device_mapper_holder_is_refused not run"
fi
