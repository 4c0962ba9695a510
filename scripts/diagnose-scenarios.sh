#!/usr/bin/env bash
# Runs `btrtune diagnose` on the scenario bundles in tests/fixtures/diagnose/ the way the
# scenario test does (bundle + disko.nix + the scenario's facter report and observations),
# printing each report. Usage: scripts/diagnose-scenarios.sh [NAME...] [-- EXTRA ARGS]
# Needs ../shared beside the checkout and a built binary (cargo build --release).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BTRTUNE:-$here/target/release/btrtune}
names=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do names+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
if [ ${#names[@]} -eq 0 ]; then
  for d in "$here"/tests/fixtures/diagnose/*/; do names+=("$(basename "$d")"); done
fi
cd "$here"
for n in "${names[@]}"; do
  d=tests/fixtures/diagnose/$n
  [ -f "$d/scenario.toml" ] || { echo "no scenario $n" >&2; exit 1; }
  args=(diagnose --bundle "$d/bundle" --disko "$d/disko.nix")
  facter=$(sed -n 's/^facter = "\(.*\)"$/\1/p' "$d/scenario.toml")
  args+=(--facter "../shared/corpus/facter/$facter")
  while IFS= read -r o; do [ -n "$o" ] && args+=(--observe "$o"); done < <(
    python3 -c 'import sys,tomllib; [print(o) for o in tomllib.load(open(sys.argv[1],"rb")).get("observe",[])]' "$d/scenario.toml")
  while IFS= read -r s; do [ -n "$s" ] && args+=(--symptom "$s"); done < <(
    python3 -c 'import sys,tomllib; [print(o) for o in tomllib.load(open(sys.argv[1],"rb")).get("symptoms",[])]' "$d/scenario.toml")
  echo "### $n"
  printf '$ btrtune'; printf ' %q' "${args[@]}" "$@"; echo
  "$bin" "${args[@]}" "$@"
  echo
done
