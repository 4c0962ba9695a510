#!/usr/bin/env bash
# Local check (not CI): every bundled example's disko.nix through the real disko
# (../shared/tools/disko-eval), then check-fswide.py on the result.
#
#   DISKO_SRC=/tmp/disko-src NIXPKGS_LIB=/tmp/nixpkgs-lib scripts/check-disko.sh
#
# Set-up of DISKO_SRC and NIXPKGS_LIB: ../shared/tools/disko-eval/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DISKO_SRC:?set DISKO_SRC (see ../shared/tools/disko-eval/README.md)}"
: "${NIXPKGS_LIB:?set NIXPKGS_LIB (see ../shared/tools/disko-eval/README.md)}"
tool=../shared/tools/disko-eval
cargo build --quiet --release
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
for e in $(target/release/btrtune plan --list-examples | awk '{print $1}'); do
  target/release/btrtune plan --example "$e" -o "$out/$e.nix" 2>/dev/null
  if "$tool/disko-eval.sh" "$out/$e.nix" >"$out/$e.json" 2>"$out/$e.err" &&
    python3 "$tool/check-fswide.py" <"$out/$e.json"; then
    summary=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["fileSystems"]), "fileSystems,", len(d["swapDevices"]), "swap files, diagnostics", d["diagnostics"])' "$out/$e.json")
    echo "ok   $e: $summary"
  else
    echo "FAIL $e"; cat "$out/$e.err"; fail=1
  fi
done
exit $fail
