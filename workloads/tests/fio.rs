//! The fio part of btrtune-workloads against the real fio outputs in `../shared/corpus/fio`
//! (its README says what each file is), malformed and noisy inputs, and real fio runs.
//!
//! Tests that run fio skip with a message when it is not installed, and fail instead when
//! `BTRTUNE_REQUIRE_TOOLS=1`.

use btrtune_workloads::fio::{
    self, FioOutput, FioSummary, FioWorkload, Histogram, PercentileMethod, Primary, Sizing,
    merge_latency,
};
use btrtune_workloads::{RunContext, Target, Workload, WorkloadError};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `../shared/corpus/fio` beside the checkout.
fn corpus() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/fio");
    assert!(
        d.is_dir(),
        "tests need ../shared beside the checkout (looked in {})",
        d.display()
    );
    d
}

fn load(rel: &str) -> FioOutput {
    let path = corpus().join(rel);
    fio::parse_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(corpus().join(rel)).unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// ---------------------------------------------------------------- the corpus

#[test]
fn every_corpus_file_parses() {
    let mut files = Vec::new();
    let mut dirs = vec![corpus()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                files.push(p);
            }
        }
    }
    // 5 at the top, 30 in loop-fsync-matrix/, 2 in pitfall-overwrite0/.
    assert_eq!(files.len(), 37, "{files:?}");
    for f in &files {
        let out = fio::parse_file(f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.fio_version.as_deref(),
            Some("fio-3.33"),
            "{}",
            f.display()
        );
        assert!(!out.jobs.is_empty(), "{}", f.display());
        for job in &out.jobs {
            assert_eq!(job.error, 0);
            assert!(job.iops() > 0.0, "{}", f.display());
        }
        let s = FioSummary::from_output(&out).unwrap();
        assert!(s.clat.is_some(), "{}", f.display());
        fio::measurement(&out, Primary::Iops).unwrap();
    }
}

#[test]
fn randwrite_fsync1() {
    let out = load("btrfs-loopdio-randwrite-4k-fsync1.json");
    assert_eq!(out.timestamp, Some(1795246299));
    assert_eq!(out.timestamp_ms, Some(1795246299313));
    assert!(out.global_options.is_empty());
    assert!(out.disk_util.is_empty(), "no disk_util for files on btrfs");
    assert_eq!(out.jobs.len(), 1);
    let job = &out.jobs[0];
    assert_eq!(job.name, "randwrite-fsync1");
    assert_eq!(job.elapsed_s, Some(6));
    assert_eq!(job.job_runtime_ms, Some(4000));
    assert_eq!(job.options["ioengine"], "psync");
    assert_eq!(job.options["fsync"], "1");
    assert_eq!(job.options["runtime"], "4");
    // time_based was given, but flag options are not echoed (§1.4).
    assert!(!job.options.contains_key("time_based"));
    assert_eq!(job.usr_cpu, 0.2);
    assert_eq!(job.sys_cpu, 32.725);

    let w = job.write.as_ref().unwrap();
    assert_eq!(w.iops, 1448.387903);
    assert_eq!(w.bw_bytes, 5932596);
    assert_eq!(w.io_bytes, 23736320);
    assert_eq!(w.runtime_ms, 4001);
    assert_eq!(w.total_ios, 5795);
    let clat = w.clat.as_ref().unwrap();
    assert_eq!(clat.n, 5795);
    assert_eq!(clat.percentile(50.0), Some(11328.0));
    assert_eq!(clat.percentile(99.0), Some(82432.0));
    assert_eq!(clat.percentile(99.99), Some(2637824.0));
    assert_eq!(clat.min_ns, 7942.0);
    assert!(clat.bins.is_none(), "plain json has no bins");
    // psync: no submission latency.
    assert_eq!(w.slat.as_ref().unwrap().n, 0);
    assert_eq!(job.read.as_ref().unwrap().iops, 0.0);
    assert!(!job.read.as_ref().unwrap().active());

    let sync = job.sync.as_ref().unwrap();
    assert_eq!(sync.total_ios, 5795);
    assert_eq!(sync.ops(), 5795);
    assert_eq!(sync.lat.percentile(50.0), Some(610304.0));
    assert_eq!(sync.lat.percentile(99.0), Some(1728512.0));

    let m = fio::measurement(&out, Primary::Iops).unwrap();
    assert_eq!(m.primary, "iops");
    assert_eq!(m.value, 1448.387903);
    assert_eq!(m.bytes_per_s, Some(5932596.0));
    let lat = m.latency_ns.unwrap();
    assert_eq!(
        (lat.p50, lat.p90, lat.p99, lat.p999),
        (11328.0, 12864.0, 82432.0, 272384.0)
    );
    assert_eq!(lat.mean, 13851.829336);
    let sl = m.sync_latency_ns.unwrap();
    assert_eq!((sl.p50, sl.p99), (610304.0, 1728512.0));
    assert_eq!(m.cpu_sys_pct, Some(32.725));
    assert_eq!(m.runtime_s, 4.001);
    assert_eq!(m.extra["sync_ops"], 5795.0);
    assert_eq!(m.extra["latency_percentiles_exact"], 1.0);
    assert!(close(
        m.extra["iops_cv_pct"],
        260.729437 / 1448.875 * 100.0,
        1e-9
    ));
}

#[test]
fn randrw70_plain_json() {
    let out = load("btrfs-loopdio-randrw70-4k-libaio-qd8.json");
    let job = &out.jobs[0];
    assert_eq!(job.options["rwmixread"], "70");
    assert_eq!(job.options["iodepth"], "8");
    let r = job.read.as_ref().unwrap();
    let w = job.write.as_ref().unwrap();
    assert_eq!((r.iops, w.iops), (12599.850037, 5363.409148));
    assert_eq!((r.total_ios, w.total_ios), (50412, 21459));
    assert_eq!(r.bw_bytes, 51615128);
    let (rp99, wp99) = (
        r.clat.as_ref().unwrap().percentile(99.0).unwrap(),
        w.clat.as_ref().unwrap().percentile(99.0).unwrap(),
    );
    assert_eq!((rp99, wp99), (913408.0, 872448.0));
    // libaio: slat is measured.
    assert!(r.slat.as_ref().unwrap().n > 0);
    // The sync object is there, empty.
    assert_eq!(job.sync.as_ref().unwrap().ops(), 0);

    // Reads and writes together, without bins: an upper bound, flagged.
    let s = FioSummary::from_output(&out).unwrap();
    assert!(close(s.iops, 12599.850037 + 5363.409148, 1e-6));
    let clat = s.clat.as_ref().unwrap();
    assert_eq!(clat.method, PercentileMethod::UpperBound);
    assert_eq!(clat.percentile(99.0), Some(913408.0));
    assert_eq!(
        clat.n,
        r.clat.as_ref().unwrap().n + w.clat.as_ref().unwrap().n
    );
    assert!(s.sync.is_none());
    assert!(s.iops_cv_pct.is_none(), "two directions");
    let m = fio::measurement(&out, Primary::Iops).unwrap();
    assert_eq!(m.extra["latency_percentiles_exact"], 0.0);
    assert_eq!(m.extra["read_clat_p99_ns"], 913408.0);
    assert_eq!(m.extra["write_clat_p99_ns"], 872448.0);
    assert!(m.sync_latency_ns.is_none());
    assert_eq!((m.cpu_usr_pct, m.cpu_sys_pct), (Some(2.65), Some(31.125)));
}

#[test]
fn randrw70_json_plus_bins() {
    let out = load("btrfs-loopdio-randrw70-4k-libaio-qd8.jsonplus.json");
    let job = &out.jobs[0];
    let r = job.read.as_ref().unwrap();
    let w = job.write.as_ref().unwrap();
    assert_eq!((r.iops, w.iops), (11941.264684, 5089.477631));
    let (rc, wc) = (r.clat.as_ref().unwrap(), w.clat.as_ref().unwrap());
    let (rb, wb) = (rc.bins.as_ref().unwrap(), wc.bins.as_ref().unwrap());
    assert_eq!(rb.len(), 384);
    assert_eq!(wb.len(), 372);
    assert_eq!((rb.count(), wb.count()), (47781, 20366));
    assert_eq!((rc.n, wc.n), (47781, 20366));
    assert_eq!(rb.bins().next(), Some((47872, 1)));
    assert_eq!(wb.bins().next(), Some((2736, 1)));
    assert_eq!(rc.percentile(99.0), Some(1204224.0));
    assert_eq!(wc.percentile(99.0), Some(1171456.0));

    // Every percentile fio printed is what fio's rule gives on its own bins.
    for (lat, bins) in [(rc, rb), (wc, wb)] {
        assert_eq!(lat.percentiles.len(), 17);
        for &(p, v) in &lat.percentiles {
            assert_eq!(bins.percentile(p), Some(v as u64), "p{p}");
        }
    }

    // Reads and writes merged by bins, checked against a plain sort of every sample.
    let s = FioSummary::from_output(&out).unwrap();
    let m = s.clat.as_ref().unwrap();
    assert_eq!(m.method, PercentileMethod::Histogram);
    assert!(m.is_exact());
    assert_eq!(m.n, 47781 + 20366);
    let mut samples: Vec<u64> = Vec::new();
    for b in [rb, wb] {
        for (v, c) in b.bins() {
            samples.extend(std::iter::repeat_n(v, c as usize));
        }
    }
    samples.sort_unstable();
    for p in [50.0, 90.0, 99.0, 99.9] {
        let rank = ((p / 100.0 * samples.len() as f64).ceil() as usize).max(1);
        assert_eq!(m.percentile(p), Some(samples[rank - 1] as f64), "p{p}");
        let lo = rc.percentile(p).unwrap().min(wc.percentile(p).unwrap());
        let hi = rc.percentile(p).unwrap().max(wc.percentile(p).unwrap());
        assert!((lo..=hi).contains(&m.percentile(p).unwrap()), "p{p}");
    }
    let meas = fio::measurement(&out, Primary::Iops).unwrap();
    assert_eq!(meas.extra["latency_percentiles_exact"], 1.0);
    assert_eq!(meas.latency_ns.unwrap().p99, m.percentile(99.0).unwrap());
}

#[test]
fn multijob_without_group_reporting() {
    let out = load("btrfs-loopdio-multijob.json");
    let names: Vec<_> = out.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["walwriter", "walwriter", "datareader"]);
    let g = &out.global_options;
    assert_eq!(g["directory"], "/tmp/bfsbench/samples/mnt/data");
    assert_eq!(g["size"], "128M");
    assert_eq!(g["ioengine"], "psync");
    assert_eq!(g["fallocate"], "none");
    // `time_based` is in the job file's [global] but not echoed (§1.4).
    assert!(!g.contains_key("time_based"));
    assert_eq!(out.jobs[0].options["fdatasync"], "1");
    assert_eq!(out.jobs[2].options["direct"], "1");

    let w0 = out.jobs[0].write.as_ref().unwrap();
    let w1 = out.jobs[1].write.as_ref().unwrap();
    let r2 = out.jobs[2].read.as_ref().unwrap();
    assert_eq!(
        (w0.iops, w1.iops, r2.iops),
        (620.594851, 620.344914, 6706.073482)
    );
    assert_eq!(w0.clat.as_ref().unwrap().percentile(99.0), Some(181248.0));
    assert_eq!(w1.clat.as_ref().unwrap().percentile(99.0), Some(264192.0));
    assert_eq!(r2.clat.as_ref().unwrap().percentile(99.0), Some(477184.0));
    // fdatasync: fio's sync.total_ios counts only fsync calls and reads 0; N has them.
    let s0 = out.jobs[0].sync.as_ref().unwrap();
    assert_eq!(s0.total_ios, 0);
    assert_eq!(s0.lat.n, 2483);
    assert_eq!(s0.ops(), 2483);
    assert_eq!(s0.lat.percentile(50.0), Some(1531904.0));
    assert_eq!(
        out.jobs[1].sync.as_ref().unwrap().lat.percentile(50.0),
        Some(1515520.0)
    );
    assert_eq!(out.jobs[2].sync.as_ref().unwrap().ops(), 0);

    let s = FioSummary::from_output(&out).unwrap();
    assert_eq!(s.jobs, 3);
    assert!(close(s.iops, 620.594851 + 620.344914 + 6706.073482, 1e-6));
    assert_eq!(s.bytes_per_s, (5083913 + 5081865 + 54936153) as f64);
    assert!(close(
        s.write.as_ref().unwrap().iops,
        620.594851 + 620.344914,
        1e-6
    ));
    assert_eq!(s.sync_ops, 2483 + 2482);
    let sync = s.sync.as_ref().unwrap();
    assert_eq!(sync.method, PercentileMethod::UpperBound);
    assert_eq!(sync.percentile(50.0), Some(1531904.0));
    assert_eq!(sync.percentile(99.0), Some(4358144.0));
    // Equal job runtimes: CPU is the plain mean.
    assert!(close(s.usr_cpu_pct, (0.1 + 0.425 + 0.95) / 3.0, 1e-9));
    assert!(close(s.sys_cpu_pct, (18.5 + 18.025 + 9.95) / 3.0, 1e-9));
    assert_eq!(s.runtime_s, 4.001);
    let m = fio::measurement(&out, Primary::Iops).unwrap();
    assert_eq!(m.extra["jobs"], 3.0);
    assert_eq!(m.extra["sync_percentiles_exact"], 0.0);
}

#[test]
fn multijob_with_group_reporting() {
    let out = load("btrfs-loopdio-multijob-group.json");
    assert_eq!(
        out.jobs.len(),
        1,
        "group_reporting folds the 3 jobs into one entry"
    );
    let job = &out.jobs[0];
    // Named after the group's first job, but echoing the options of its last one.
    assert_eq!(job.name, "walwriter");
    assert_eq!(job.options["rw"], "randread");
    assert_eq!(job.job_runtime_ms, Some(12002), "summed over the 3 jobs");
    let (r, w) = (job.read.as_ref().unwrap(), job.write.as_ref().unwrap());
    assert_eq!((r.iops, w.iops), (7320.91977, 1550.58706));
    assert_eq!((r.bw_bytes, w.bw_bytes), (59972974, 12702409));
    assert_eq!(w.clat.as_ref().unwrap().percentile(99.0), Some(179200.0));
    assert_eq!(r.clat.as_ref().unwrap().percentile(99.0), Some(362496.0));
    let sync = job.sync.as_ref().unwrap();
    assert_eq!((sync.total_ios, sync.ops()), (0, 6207));
    assert_eq!(sync.lat.percentile(50.0), Some(1220608.0));
    let m = fio::measurement(&out, Primary::Iops).unwrap();
    assert!(close(m.value, 7320.91977 + 1550.58706, 1e-6));
    assert_eq!(m.cpu_usr_pct, Some(0.816531));
    assert_eq!(m.sync_latency_ns.unwrap().p50, 1220608.0);
    assert_eq!(
        m.extra["sync_percentiles_exact"], 1.0,
        "one entry: fio's own numbers"
    );
}

/// `loop-fsync-matrix/summary.csv` was computed from the same files by other means; every row
/// must agree with what the parser reads.
#[test]
fn loop_fsync_matrix_agrees_with_summary_csv() {
    let csv = std::fs::read_to_string(corpus().join("loop-fsync-matrix/summary.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<_> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "file",
            "round",
            "loop_dio",
            "target",
            "io",
            "iops",
            "write_clat_p50_us",
            "write_clat_p99_us",
            "fsync_p50_us",
            "fsync_p99_us",
            "within_run_iops_cv_pct",
            "cpu_pct"
        ]
    );
    let mut rows = 0;
    let mut raw_dioon = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<_> = line.split(',').collect();
        let num = |i: usize| f[i].parse::<f64>().unwrap();
        let out = load(&format!("loop-fsync-matrix/{}", f[0]));
        assert_eq!(out.jobs.len(), 1);
        let job = &out.jobs[0];
        let w = job.write.as_ref().unwrap();
        let clat = w.clat.as_ref().unwrap();
        let sync = job.sync.as_ref().unwrap();
        let ctx = f[0];
        assert!(
            close(w.iops, num(5), 0.05),
            "{ctx}: iops {} vs {}",
            w.iops,
            num(5)
        );
        assert!(
            close(clat.percentile(50.0).unwrap() / 1000.0, num(6), 0.05),
            "{ctx}"
        );
        assert!(
            close(clat.percentile(99.0).unwrap() / 1000.0, num(7), 0.05),
            "{ctx}"
        );
        assert!(
            close(sync.lat.percentile(50.0).unwrap() / 1000.0, num(8), 0.05),
            "{ctx}"
        );
        assert!(
            close(sync.lat.percentile(99.0).unwrap() / 1000.0, num(9), 0.05),
            "{ctx}"
        );
        assert!(close(job.usr_cpu + job.sys_cpu, num(11), 0.05), "{ctx}");
        // One fsync per write, except that the run can end between the last write and its
        // fsync (r2-dioon-raw-direct: 57407 writes, 57406 fsyncs).
        assert!(w.total_ios - sync.ops() <= 1, "{ctx}: one fsync per write");

        let m = fio::measurement(&out, Primary::Iops).unwrap();
        assert_eq!(m.value, w.iops);
        assert!(close(m.extra["iops_cv_pct"], num(10), 0.05), "{ctx}");
        assert_eq!(
            m.sync_latency_ns.unwrap().p50,
            sync.lat.percentile(50.0).unwrap()
        );
        assert!(close(m.runtime_s, 10.0, 0.01), "{ctx}");

        let opts = &job.options;
        assert_eq!(opts["fsync"], "1");
        if f[3] == "raw" {
            assert!(opts["filename"].starts_with("/dev/loop"), "{ctx}");
            assert_eq!(out.disk_util.len(), 1, "{ctx}: raw runs have disk_util");
            assert_eq!(out.disk_util[0].name, "loop0");
            assert!(out.disk_util[0].util > 70.0);
            assert!(m.extra.contains_key("disk_util_pct"));
            if f[2] == "on" {
                raw_dioon.push(w.iops);
            }
        } else {
            assert!(
                out.disk_util.is_empty(),
                "{ctx}: no disk_util on btrfs files"
            );
            assert_eq!(opts["overwrite"], "1");
            assert_eq!(opts["fallocate"], "none");
            assert_eq!(opts["direct"], if f[4] == "direct" { "1" } else { "0" });
        }
        rows += 1;
    }
    assert_eq!(rows, 30);
    // benchmark-method.md §6: raw, loop dio on: 6417, 5740, 6043, mean 6067.
    raw_dioon.sort_by(f64::total_cmp);
    assert_eq!(raw_dioon.len(), 3);
    assert!(close(raw_dioon.iter().sum::<f64>() / 3.0, 6067.0, 1.0));
}

#[test]
fn loop_fsync_matrix_bins_free_merge_across_rounds_is_an_upper_bound() {
    // Three rounds of one cell merged: plain json, so the merged fsync p99 is the largest.
    let outs: Vec<_> = (1..=3)
        .map(|r| load(&format!("loop-fsync-matrix/r{r}-dioon-nocow-direct.json")))
        .collect();
    let syncs: Vec<_> = outs
        .iter()
        .map(|o| &o.jobs[0].sync.as_ref().unwrap().lat)
        .collect();
    let m = merge_latency(syncs.iter().copied()).unwrap();
    assert_eq!(m.method, PercentileMethod::UpperBound);
    assert_eq!(m.sources, 3);
    // summary.csv: fsync p99 667.6, 1646.6, 610.3 µs.
    assert!(close(m.percentile(99.0).unwrap() / 1000.0, 1646.6, 0.05));
    assert_eq!(m.n, syncs.iter().map(|s| s.n).sum::<u64>());
    // The same through merge_runs.
    let runs = fio::merge_runs(&outs);
    assert_eq!(runs.sync.as_ref(), Some(&m));
    assert_eq!(
        runs.clat.as_ref().unwrap().method,
        PercentileMethod::UpperBound
    );
}

#[test]
fn json_plus_runs_merge_by_bins() {
    // The json+ run merged with itself: every bin doubles, the percentiles stay.
    let one = load("btrfs-loopdio-randrw70-4k-libaio-qd8.jsonplus.json");
    let single = FioSummary::from_output(&one).unwrap().clat.unwrap();
    let runs = fio::merge_runs(&[one.clone(), one.clone()]);
    let m = runs.clat.unwrap();
    assert_eq!(m.method, PercentileMethod::Histogram);
    assert_eq!(m.n, 2 * single.n);
    assert_eq!(
        m.histogram.as_ref().unwrap().len(),
        single.histogram.as_ref().unwrap().len()
    );
    for p in [50.0, 90.0, 99.0, 99.9] {
        assert_eq!(m.percentile(p), single.percentile(p), "p{p}");
    }
    assert!(runs.sync.is_none(), "no sync calls in a randrw job");
    // Mixed with a plain json run: no bins everywhere, so an upper bound.
    let plain = load("btrfs-loopdio-randrw70-4k-libaio-qd8.json");
    let mixed = fio::merge_runs(&[one, plain]).clat.unwrap();
    assert_eq!(mixed.method, PercentileMethod::UpperBound);
    assert!(mixed.histogram.is_none());
}

#[test]
fn pitfall_overwrite0() {
    let def = load("pitfall-overwrite0/r1-dioon-def-direct.json");
    let nocow = load("pitfall-overwrite0/r1-dioon-nocow-direct.json");
    for o in [&def, &nocow] {
        let opts = &o.jobs[0].options;
        assert!(!opts.contains_key("overwrite"), "the pitfall: overwrite=0");
        assert_eq!(opts["size"], "512M");
        assert_eq!(opts["fallocate"], "none");
    }
    let (d, n) = (
        def.jobs[0].write.as_ref().unwrap().iops,
        nocow.jobs[0].write.as_ref().unwrap().iops,
    );
    assert_eq!((d, n), (936.912617, 911.617676));
    // Writing into holes: +C shows no gain (it did ×1.6 with overwrite=1, §1.4).
    assert!(n < d);
    let good = load("loop-fsync-matrix/r1-dioon-nocow-direct.json");
    assert!(good.jobs[0].write.as_ref().unwrap().iops > 2.0 * n);
    assert_eq!(
        def.jobs[0].sync.as_ref().unwrap().lat.percentile(50.0),
        Some(659456.0)
    );
}

// ---------------------------------------------------------------- noisy and concatenated input

#[test]
fn leading_noise_and_concatenated_documents() {
    let a = read("btrfs-loopdio-randwrite-4k-fsync1.json");
    let b = read("btrfs-loopdio-randrw70-4k-libaio-qd8.json");
    let mut text = Vec::new();
    text.extend_from_slice(b"fio: this platform does not support process shared mutexes\n");
    text.extend_from_slice(
        b"note: both iodepth >= 1 and synchronous I/O engine are selected, queue depth will be capped at 1\n",
    );
    text.extend_from_slice(&a);
    text.extend_from_slice(&b);
    text.extend_from_slice(b"fio: file hash not empty on exit\n");
    let all = fio::parse_all(&text, "status-interval").unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].jobs[0].name, "randwrite-fsync1");
    let last = fio::parse(&text, "status-interval").unwrap();
    assert_eq!(
        last.jobs[0].name, "randrw70",
        "the last document is the result"
    );
    // A binary, non-UTF-8 prefix is skipped too.
    let mut bin = vec![0xff, 0xfe, b'\n'];
    bin.extend_from_slice(&a);
    assert_eq!(
        fio::parse(&bin, "x").unwrap().jobs[0].name,
        "randwrite-fsync1"
    );
}

// ---------------------------------------------------------------- malformed input

fn err(text: &str) -> fio::ParseError {
    match fio::parse(text.as_bytes(), "bad.json") {
        Ok(o) => panic!("parsed: {o:?}"),
        Err(e) => {
            assert_eq!(e.origin, "bad.json");
            assert!(e.to_string().starts_with("bad.json"), "{e}");
            e
        }
    }
}

#[test]
fn truncated_json_is_an_error_with_line_and_column() {
    let a = String::from_utf8(read("btrfs-loopdio-randwrite-4k-fsync1.json")).unwrap();
    let cut = &a[..a.len() / 2];
    let text = format!("fio: warning\n{cut}");
    let e = err(&text);
    assert!(e.message.contains("truncated"), "{e}");
    assert_eq!(e.line, Some(text.lines().count()), "{e}");
    assert!(e.column.is_some());
    // Also through the Workload error type.
    let w: WorkloadError = e.into();
    assert!(
        matches!(&w, WorkloadError::Output { what, message } if what == "bad.json" && message.starts_with("line ")),
        "{w}"
    );
}

#[test]
fn a_job_without_a_direction_is_an_error() {
    let e = err(
        r#"{"fio version": "fio-3.33", "jobs": [{"jobname": "lonely", "error": 0, "usr_cpu": 1.0}]}"#,
    );
    assert!(
        e.message.contains("lonely") && e.message.contains("no `read`, `write`"),
        "{e}"
    );
}

#[test]
fn percentiles_that_are_not_numbers_are_an_error() {
    let e = err(
        "{\"jobs\": [{\"jobname\": \"j\", \"write\": {\"io_bytes\": 0, \"io_kbytes\": 0, \"iops\": 0.0, \"runtime\": 0,\n\"clat_ns\": {\"min\": 0, \"max\": 0, \"mean\": 0.0, \"N\": 1,\n\"percentile\": {\"99.000000\": \"fast\"}}}}]}",
    );
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("invalid type"), "{e}");
    let e = err(
        r#"{"jobs": [{"jobname": "j", "write": {"io_bytes": 0, "io_kbytes": 0, "iops": 0.0, "runtime": 0, "clat_ns": {"min": 0, "max": 0, "mean": 0.0, "N": 1, "percentile": {"ninety-nine": 5}}}}]}"#,
    );
    assert!(
        e.message.contains("ninety-nine") && e.message.contains("clat_ns.percentile"),
        "{e}"
    );
    let e = err(
        r#"{"jobs": [{"jobname": "j", "write": {"io_bytes": 0, "io_kbytes": 0, "iops": 0.0, "runtime": 0, "clat_ns": {"min": 0, "max": 0, "mean": 0.0, "N": 1, "bins": {"FIO_IO_U_PLAT_BITS": 6}}}}]}"#,
    );
    assert!(e.message.contains("bins"), "{e}");
}

#[test]
fn other_malformed_inputs_are_errors() {
    assert!(err("").message.contains("empty"));
    let e = err("fio: failed parsing size=${BTRTUNE_SIZE}\nfio: job global dropped\n");
    assert!(
        e.message.contains("failed parsing"),
        "the first noise line is shown: {e}"
    );
    assert!(
        err(r#"{"fio version": "fio-3.33"}"#)
            .message
            .contains("no `jobs`")
    );
    assert!(
        err(r#"{"client_stats": []}"#)
            .message
            .contains("client/server")
    );
    assert!(
        err(r#"{"jobs": [{"write": {}}]}"#)
            .message
            .contains("jobname")
    );
    let e = err(r#"{"jobs": [{"jobname": "j", "read": {"io_bytes": 1, "runtime": 1}}]}"#);
    assert!(e.message.contains("iops"), "{e}");
    let e =
        err(r#"{"jobs": [{"jobname": "j", "read": {"io_bytes": -1, "iops": 1, "runtime": 1}}]}"#);
    assert!(e.line.is_some(), "{e}");
    // Valid JSON, wrong shape.
    assert!(err(r#"{"jobs": {"jobname": "j"}}"#).line.is_some());
}

#[test]
fn unified_rw_reporting() {
    let dir = |iops: f64| {
        format!(
            r#"{{"io_bytes": 4096, "io_kbytes": 4, "bw_bytes": 4096, "iops": {iops}, "runtime": 1000, "total_ios": 1,
               "clat_ns": {{"min": 1, "max": 1, "mean": 1.0, "stddev": 0.0, "N": 1, "percentile": {{"50.000000": 1}}}}}}"#
        )
    };
    // mixed only: counted.
    let text = format!(r#"{{"jobs": [{{"jobname": "m", "mixed": {}}}]}}"#, dir(7.0));
    let out = fio::parse(text.as_bytes(), "t").unwrap();
    assert_eq!(out.jobs[0].iops(), 7.0);
    assert_eq!(
        FioSummary::from_output(&out).unwrap().mixed.unwrap().iops,
        7.0
    );
    // both: read/write count, mixed is not added again.
    let text = format!(
        r#"{{"jobs": [{{"jobname": "b", "read": {}, "write": {}, "mixed": {}}}]}}"#,
        dir(3.0),
        dir(4.0),
        dir(7.0)
    );
    let out = fio::parse(text.as_bytes(), "t").unwrap();
    assert_eq!(FioSummary::from_output(&out).unwrap().iops, 7.0);
}

fn corpus_file_bytes() -> Vec<u8> {
    read("btrfs-loopdio-randwrite-4k-fsync1.json")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = fio::parse_all(&bytes, "fuzz");
    }

    #[test]
    fn json_like_text_never_panics(s in r#"[{}\[\]":,0-9a-z. \n-]{0,400}"#) {
        let _ = fio::parse_all(s.as_bytes(), "fuzz");
        let _ = fio::parse_all(format!("{{\"jobs\":[{{\"jobname\":\"j\",{s}").as_bytes(), "fuzz");
    }

    #[test]
    fn damaged_corpus_never_panics(cut in 0usize..7000, at in 0usize..7000, byte in any::<u8>()) {
        let mut b = corpus_file_bytes();
        let at = at % b.len();
        b[at] = byte;
        b.truncate(cut.min(b.len()));
        if let Ok(out) = fio::parse(&b, "fuzz") {
            let _ = FioSummary::from_output(&out);
            let _ = fio::measurement(&out, Primary::BytesPerS);
        }
    }

    #[test]
    fn bins_percentiles_match_a_sort(bins in proptest::collection::btree_map(1u64..10_000, 1u64..50, 1..40), p in 0.0f64..=100.0) {
        let h = Histogram::from_bins(bins.iter().map(|(&v, &c)| (v, c)));
        let mut samples: Vec<u64> = Vec::new();
        for (&v, &c) in &bins {
            samples.extend(std::iter::repeat_n(v, c as usize));
        }
        let rank = ((p / 100.0 * samples.len() as f64).ceil() as usize).max(1);
        prop_assert_eq!(h.percentile(p), Some(samples[rank - 1]));
    }
}

// ---------------------------------------------------------------- the library

#[test]
fn library_and_workload_identity() {
    assert_eq!(fio::JOBS.len(), 8);
    for job in fio::JOBS {
        let w = FioWorkload::mount(job.name, "/data").unwrap();
        assert_eq!(w.name(), format!("fio-{}", job.name));
        assert_eq!(
            w.target(),
            Target::Mount {
                mountpoint: "/data".into()
            }
        );
        let p = w.params();
        assert_eq!(p["job"], job.name);
        assert_eq!(p["job_file"], job.text);
        assert_eq!(p["quick"]["runtime_s"], job.quick.runtime_s);
        if job.device {
            assert_eq!(
                FioWorkload::device(job.name).unwrap().target(),
                Target::Device
            );
        } else {
            assert!(FioWorkload::device(job.name).is_err());
        }
    }
    let primaries: Vec<_> = fio::JOBS
        .iter()
        .filter(|j| j.primary == Primary::BytesPerS)
        .map(|j| j.name)
        .collect();
    assert_eq!(primaries, ["seqwrite-128k", "seqread-128k"]);
}

#[test]
fn invocation_checks_the_target() {
    let flag = AtomicBool::new(false);
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-device");
    let ctx = RunContext {
        dir: tmp.path(),
        device: &missing,
        quick: true,
        interrupted: &flag,
    };
    let w = FioWorkload::device("seqread-128k").unwrap();
    let e = w.invocation(&ctx).unwrap_err();
    assert!(e.to_string().contains("no-such-device"), "{e}");
    assert!(
        !missing.exists(),
        "nothing created at a mistyped device path"
    );
    let e = w.run(&ctx).unwrap_err();
    assert!(matches!(e, WorkloadError::Failed(_)), "{e}");

    let m = FioWorkload::mount("wal-8k-fdatasync", "/data").unwrap();
    let inv = m.invocation(&ctx).unwrap();
    assert_eq!(inv.args[0], "--output-format=json+");
    assert_eq!(inv.args[3], format!("--directory={}", tmp.path().display()));
    assert_eq!(inv.args.last().map(String::as_str), Some("-"));
    assert!(inv.env.contains(&("BTRTUNE_RUNTIME".into(), "3".into())));
    assert!(
        inv.env
            .contains(&("BTRTUNE_SIZE".into(), (16u64 << 20).to_string()))
    );
    let full = RunContext {
        quick: false,
        ..ctx
    };
    let inv = m.invocation(&full).unwrap();
    assert!(inv.env.contains(&("BTRTUNE_RUNTIME".into(), "30".into())));
    let nodir = RunContext {
        dir: &missing,
        ..full
    };
    assert!(m.invocation(&nodir).is_err());
}

// ---------------------------------------------------------------- running (fake and real fio)

#[test]
fn missing_fio_is_missing() {
    let flag = AtomicBool::new(false);
    let tmp = tempfile::tempdir().unwrap();
    let ctx = RunContext {
        dir: tmp.path(),
        device: tmp.path(),
        quick: true,
        interrupted: &flag,
    };
    let w = FioWorkload::mount("randwrite-4k-fsync", "/data")
        .unwrap()
        .with_program("/nonexistent/bin/fio");
    match w.run(&ctx) {
        Err(WorkloadError::Missing { tool, hint }) => {
            assert_eq!(tool, "fio");
            assert!(hint.contains("apt-get install fio"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn a_fake_fio_replays_recorded_json() {
    let flag = AtomicBool::new(false);
    let tmp = tempfile::tempdir().unwrap();
    let recorded = corpus().join("btrfs-loopdio-randwrite-4k-fsync1.json");
    let fake = script(
        tmp.path(),
        "fio",
        &format!(
            "cat > \"$(dirname \"$0\")/stdin.fio\"\necho \"$@\" > \"$(dirname \"$0\")/args\"\necho \"note: both iodepth >= 1 and synchronous I/O engine are selected\"\ncat '{}'",
            recorded.display()
        ),
    );
    let ctx = RunContext {
        dir: tmp.path(),
        device: tmp.path(),
        quick: true,
        interrupted: &flag,
    };
    let w = FioWorkload::mount("randwrite-4k-fsync", "/data")
        .unwrap()
        .with_program(&fake);
    let m = w.run(&ctx).unwrap();
    assert_eq!(
        m,
        fio::measurement(
            &load("btrfs-loopdio-randwrite-4k-fsync1.json"),
            Primary::Iops
        )
        .unwrap()
    );
    assert_eq!(m.value, 1448.387903);
    let fed = std::fs::read_to_string(tmp.path().join("stdin.fio")).unwrap();
    assert_eq!(fed, w.job().text, "the job file goes in on stdin");
    let args = std::fs::read_to_string(tmp.path().join("args")).unwrap();
    assert!(
        args.starts_with("--output-format=json+ --eta=never --thread --directory="),
        "{args}"
    );
}

#[test]
fn a_failing_fio_reports_its_stderr() {
    let flag = AtomicBool::new(false);
    let tmp = tempfile::tempdir().unwrap();
    let ctx = RunContext {
        dir: tmp.path(),
        device: tmp.path(),
        quick: true,
        interrupted: &flag,
    };
    let fake = script(
        tmp.path(),
        "fio-fails",
        "cat >/dev/null\necho 'fio: looks like your file system does not support direct=1' >&2\nexit 1",
    );
    let e = FioWorkload::mount("randwrite-4k-fsync", "/data")
        .unwrap()
        .with_program(&fake)
        .run(&ctx)
        .unwrap_err();
    assert!(matches!(e, WorkloadError::Failed(_)), "{e}");
    assert!(e.to_string().contains("does not support direct=1"), "{e}");
    // Exit 0 but garbage: an output error.
    let fake = script(
        tmp.path(),
        "fio-garbage",
        "cat >/dev/null\necho '{\"jobs\": [' ",
    );
    let e = FioWorkload::mount("randwrite-4k-fsync", "/data")
        .unwrap()
        .with_program(&fake)
        .run(&ctx)
        .unwrap_err();
    assert!(
        matches!(&e, WorkloadError::Output { message, .. } if message.contains("truncated")),
        "{e}"
    );
    // A job error.
    let fake = script(
        tmp.path(),
        "fio-joberr",
        "cat >/dev/null\necho '{\"jobs\": [{\"jobname\": \"x\", \"error\": 28, \"write\": {\"io_bytes\": 0, \"io_kbytes\": 0, \"iops\": 0, \"runtime\": 0}}]}'",
    );
    let e = FioWorkload::mount("randwrite-4k-fsync", "/data")
        .unwrap()
        .with_program(&fake)
        .run(&ctx)
        .unwrap_err();
    assert!(e.to_string().contains("error 28"), "{e}");
}

/// Whether fio is installed; when not, skips (printing why) or, with
/// `BTRTUNE_REQUIRE_TOOLS=1`, fails.
fn have_fio() -> bool {
    let ok = Command::new("fio")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("BTRTUNE_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!(
                "fio is required (BTRTUNE_REQUIRE_TOOLS=1) but not installed: {}",
                fio::INSTALL_HINT
            );
        }
        eprintln!("skipping: fio is not installed ({})", fio::INSTALL_HINT);
    }
    ok
}

/// A temporary directory on the target directory's filesystem (not a tmpfs /tmp, where
/// O_DIRECT fails).
fn disk_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

#[test]
fn library_job_files_pass_fio_parse_only() {
    if !have_fio() {
        return;
    }
    let tmp = disk_tempdir();
    for job in fio::JOBS {
        let path = tmp.path().join(format!("{}.fio", job.name));
        std::fs::write(&path, job.text).unwrap();
        let out = Command::new("fio")
            .arg("--parse-only")
            .arg(format!("--directory={}", tmp.path().display()))
            .arg(&path)
            .env("BTRTUNE_RUNTIME", "3")
            .env("BTRTUNE_SIZE", "16777216")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            job.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn fio_runs_a_quick_fsync_job() {
    if !have_fio() {
        return;
    }
    let flag = AtomicBool::new(false);
    let tmp = disk_tempdir();
    let ctx = RunContext {
        dir: tmp.path(),
        device: Path::new("/nonexistent"),
        quick: true,
        interrupted: &flag,
    };
    let short = Sizing::new(1, 8);
    let w = FioWorkload::mount("randwrite-4k-fsync-buffered", "/data")
        .unwrap()
        .with_sizes(short, short);
    let m = w.run(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.primary, "iops");
    assert!(m.value > 0.0, "{m:?}");
    assert_eq!(m.ops_per_s, Some(m.value));
    let sync = m.sync_latency_ns.as_ref().expect("fsync percentiles");
    assert!(
        sync.p50 > 0.0 && sync.p50 <= sync.p99 && sync.p99 <= sync.p999,
        "{sync:?}"
    );
    let lat = m.latency_ns.as_ref().unwrap();
    assert!(lat.p50 > 0.0 && lat.p50 <= lat.p99);
    assert!(m.extra["sync_ops"] > 0.0);
    assert_eq!(m.extra["latency_percentiles_exact"], 1.0);
    assert!((0.5..=1.5).contains(&m.runtime_s), "{}", m.runtime_s);
    assert!(m.cpu_sys_pct.is_some());
    // fio's data file is in the directory, named after the job.
    assert!(tmp.path().join("randwrite-4k-fsync-buffered.0.0").exists());
}

#[test]
fn fio_on_a_device_writes_nowhere_else() {
    if !have_fio() {
        return;
    }
    // A regular file stands in for the device (a loop device needs root: harness/tests).
    let flag = AtomicBool::new(false);
    let tmp = disk_tempdir();
    let dev = tmp.path().join("fake-device");
    std::fs::write(&dev, vec![0u8; 4 << 20]).unwrap();
    let ctx = RunContext {
        dir: Path::new("/nonexistent"),
        device: &dev,
        quick: true,
        interrupted: &flag,
    };
    let short = Sizing::new(1, 64);
    let w = FioWorkload::device("seqwrite-128k")
        .unwrap()
        .with_sizes(short, short);
    let m = w.run(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.primary, "bytes_per_s");
    assert!(m.value > 0.0);
    let entries: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["fake-device"]);
    assert_eq!(
        std::fs::metadata(&dev).unwrap().len(),
        4 << 20,
        "a size of 64 MiB is capped at the device's 4 MiB"
    );
    let inv = w.invocation(&ctx).unwrap();
    assert!(
        inv.env
            .contains(&("BTRTUNE_SIZE".into(), (4u64 << 20).to_string()))
    );
}

#[test]
fn interruption_kills_a_long_fio_run() {
    if !have_fio() {
        return;
    }
    let flag = AtomicBool::new(false);
    let tmp = disk_tempdir();
    let long = Sizing::new(120, 8);
    let w = FioWorkload::mount("randwrite-4k-fsync-buffered", "/data")
        .unwrap()
        .with_sizes(long, long);
    let started = Instant::now();
    let (result, stopped_after) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let ctx = RunContext {
                dir: tmp.path(),
                device: Path::new("/nonexistent"),
                quick: true,
                interrupted: &flag,
            };
            let r = w.run(&ctx);
            (r, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(1500));
        let set_at = Instant::now();
        flag.store(true, Ordering::SeqCst);
        let (r, done) = h.join().unwrap();
        (r, done.duration_since(set_at))
    });
    assert!(
        matches!(result, Err(WorkloadError::Interrupted)),
        "{result:?}"
    );
    assert!(
        stopped_after < Duration::from_millis(2500),
        "stopped {stopped_after:?} after the flag"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // No fio of this run is left: no process has the run's directory on its command line.
    let needle = tmp.path().display().to_string();
    let leftovers: Vec<_> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(&needle)
                .then(|| e.file_name())
        })
        .collect();
    assert!(leftovers.is_empty(), "fio processes left: {leftovers:?}");
    // And the flag is honoured before starting, too.
    let ctx = RunContext {
        dir: tmp.path(),
        device: Path::new("/nonexistent"),
        quick: true,
        interrupted: &flag,
    };
    assert!(matches!(w.run(&ctx), Err(WorkloadError::Interrupted)));
}

#[test]
fn every_library_job_runs_under_fio() {
    if !have_fio() {
        return;
    }
    let tmp = disk_tempdir();
    let flag = AtomicBool::new(false);
    let short = Sizing::new(1, 16);
    std::thread::scope(|s| {
        let handles: Vec<_> = fio::JOBS
            .iter()
            .map(|job| {
                let dir = tmp.path().join(job.name);
                std::fs::create_dir(&dir).unwrap();
                let flag = &flag;
                s.spawn(move || {
                    let ctx = RunContext {
                        dir: &dir,
                        device: Path::new("/nonexistent"),
                        quick: true,
                        interrupted: flag,
                    };
                    let w = FioWorkload::mount(job.name, "/data")
                        .unwrap()
                        .with_sizes(short, short);
                    (job, w.run(&ctx))
                })
            })
            .collect();
        for h in handles {
            let (job, r) = h.join().unwrap();
            let m = r.unwrap_or_else(|e| panic!("{}: {e}", job.name));
            assert_eq!(m.primary, job.primary.as_str(), "{}", job.name);
            assert!(m.value > 0.0, "{}: {m:?}", job.name);
            assert!(m.latency_ns.is_some(), "{}", job.name);
            let syncs = job.text.contains("fsync=1") || job.text.contains("fdatasync=1");
            assert_eq!(m.sync_latency_ns.is_some(), syncs, "{}", job.name);
            assert_eq!(m.extra["jobs"], 1.0, "{}", job.name);
        }
    });
}
