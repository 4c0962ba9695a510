#!/usr/bin/env python3
"""Measures the file-size histograms that the container-churn workload's layer generator
(workloads/src/containers/layers.rs) embeds, from the Debian packages installed here.

`base`: the files of the packages a `debian:bookworm` image holds: every installed package
of Priority `required` or `Essential: yes` and everything they Depend/Pre-Depend on (the
first installed alternative), as listed in /var/lib/dpkg/info/<pkg>.list, plus their
/var/lib/dpkg/info/<pkg>.* control files and /var/lib/dpkg/status.
`packages`: the files of every other installed package (what `apt-get install` layers add).

Regular files only (hard links and the /bin -> /usr/bin merge counted once), bucketed by
size into [0,1), [1,512), then powers of two up to [16 MiB, inf). Also prints directories
and symlinks, so that files per directory can be derived, and the mean name length.

With --zstd, also measures how the base image's files compress: each file cut into
independent 128 KiB chunks (the unit btrfs compresses), each chunk through `zstd -3`.

Usage: python3 scripts/measure-image-files.py [--zstd]   (read-only; no root needed)
"""
import glob
import os
import re
import stat
import subprocess
import sys

out = subprocess.run(
    ["dpkg-query", "-W",
     "-f=${Package}\t${Priority}\t${Pre-Depends}, ${Depends}\t${db:Status-Abbrev}\t${Essential}\n"],
    capture_output=True, text=True, check=True).stdout
pkgs = {}
for line in out.splitlines():
    name, prio, deps, status, essential = line.split("\t")
    if status.startswith("ii"):
        pkgs[name] = (prio, deps, essential)
todo = [n for n, (p, _, e) in pkgs.items() if p == "required" or e == "yes"]
base = set()
while todo:
    n = todo.pop()
    if n in base or n not in pkgs:
        continue
    base.add(n)
    for alt in pkgs[n][1].split(","):
        for a in alt.split("|"):
            a = re.sub(r"\(.*?\)", "", a).strip().split(":")[0]
            if a in pkgs:
                todo.append(a)
                break

EDGES = [0, 1] + [2**k for k in range(9, 25)]


def measure(which):
    files, dirs, links, names, paths_of = {}, set(), 0, [], {}
    for lst in glob.glob("/var/lib/dpkg/info/*.list"):
        stem = os.path.basename(lst)[:-5]
        if (stem.split(":")[0] in base) != (which == "base"):
            continue
        paths = [l.rstrip("\n") for l in open(lst, encoding="utf-8", errors="replace")]
        if which == "base":
            paths += glob.glob(f"/var/lib/dpkg/info/{stem}.*")
        for p in paths:
            try:
                st = os.lstat(p)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                dirs.add(key)
            elif stat.S_ISLNK(st.st_mode):
                links += 1
            elif stat.S_ISREG(st.st_mode) and key not in files:
                files[key] = st.st_size
                paths_of[key] = p
                names.append(len(os.path.basename(p)))
    if which == "base":
        st = os.lstat("/var/lib/dpkg/status")
        files[(st.st_dev, st.st_ino)] = st.st_size
        paths_of[(st.st_dev, st.st_ino)] = "/var/lib/dpkg/status"
    sizes = list(files.values())
    print(f"// {which}: {len(sizes)} files, {sum(sizes)} bytes, {len(dirs)} directories, "
          f"{links} symlinks, mean name {sum(names) / max(1, len(names)):.1f} bytes, "
          f"largest {max(sizes)} bytes")
    count = [0] * len(EDGES)
    total = [0] * len(EDGES)
    for s in sizes:
        i = max(j for j in range(len(EDGES)) if s >= EDGES[j])
        count[i] += 1
        total[i] += s
    for i, lo in enumerate(EDGES):
        hi = EDGES[i + 1] if i + 1 < len(EDGES) else "u64::MAX"
        if count[i]:
            print(f"bucket({lo}, {hi}, {count[i]}, {total[i]}),")
    return list(paths_of.values())


def zstd_ratio(paths):
    raw = packed = 0
    for p in paths:
        try:
            data = open(p, "rb").read()
        except OSError:
            continue
        for i in range(0, len(data), 128 * 1024):
            chunk = data[i:i + 128 * 1024]
            out = subprocess.run(["zstd", "-3", "-q", "-c"], input=chunk,
                                 capture_output=True, check=True).stdout
            raw += len(chunk)
            packed += min(len(out), len(chunk))
    print(f"// base files in 128 KiB chunks through zstd -3: {raw} -> {packed} bytes, "
          f"{raw / max(1, packed):.2f}:1")


print(f"// {len(base)} base packages: {' '.join(sorted(base))}")
base_paths = measure("base")
measure("packages")
if "--zstd" in sys.argv[1:]:
    zstd_ratio(base_paths)
