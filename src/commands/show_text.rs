//! Text renderings for `btrtune show` (hardware and metrics).

use anyhow::{Context as _, Result};
use btrtune_advisor::hardware::HardwareProfile;
use btrtune_advisor::metrics::{self, Metrics, bundle};
use std::fmt::Write as _;
use std::path::Path;

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / f64::from(1u32 << 30))
}

/// A hardware profile for people (`--json` gives every field).
pub fn hardware(h: &HardwareProfile) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "source: {}", h.source);
    let _ = writeln!(
        o,
        "system: {} (virtualisation: {})",
        h.system.as_deref().unwrap_or("unknown"),
        h.virtualisation.as_deref().unwrap_or("unknown")
    );
    let c = &h.details.cpu;
    let count = |v: Option<u32>| v.map_or("unknown".to_string(), |n| n.to_string());
    let _ = writeln!(
        o,
        "cpu: {} ({} sockets, {} cores, {} threads{})",
        h.cpu_model.as_deref().unwrap_or("model unknown"),
        count(c.sockets),
        count(c.cores),
        count(h.cpu_threads),
        match h.cpu_avx2 {
            Some(true) => ", avx2",
            Some(false) => ", no avx2",
            None => "",
        }
    );
    let _ = writeln!(o, "ram: {}", h.ram_bytes.map_or("unknown".to_string(), gib));
    let _ = writeln!(o, "disks:");
    for d in &h.disks {
        let _ = writeln!(
            o,
            "  {:<9} {:<7} {:>12}  {}  ({}{})",
            d.class.as_str(),
            format!("{:?}", d.class_confidence).to_lowercase(),
            d.size_bytes
                .map(|s| format!("{} GB", s / 1_000_000_000))
                .unwrap_or_default(),
            d.device,
            d.model.as_deref().unwrap_or("no model"),
            if d.class_reason.is_empty() {
                String::new()
            } else {
                format!("; {}", d.class_reason)
            }
        );
    }
    if let Some(d) = h.system_disk() {
        let _ = writeln!(o, "system disk (best class, then largest): {}", d.device);
    }
    for s in &h.details.skipped {
        let _ = writeln!(o, "skipped: {} ({:?})", s.device, s.reason);
    }
    for c in &h.details.caveats {
        let _ = writeln!(o, "caveat: {}: {}", c.path, c.message);
    }
    o
}

/// Shows a metrics file or a bundle directory.
pub fn metrics(path: &Path, kind: Option<&str>, json: bool) -> Result<()> {
    if path.is_dir() {
        let b = bundle::read(path)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&b)?);
        } else {
            print!("{}", bundle_text(&b));
        }
        return Ok(());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let origin = path.display().to_string();
    let m = match kind {
        None => metrics::parse_any(&text, &origin)?,
        Some("df") => Metrics::Df(metrics::df::parse(&text, &origin)?),
        Some("btrfs-usage") => Metrics::BtrfsUsage(metrics::btrfs_usage::parse(&text, &origin)?),
        Some("btrfs-df") => Metrics::BtrfsDf(metrics::btrfs_df::parse(&text, &origin)?),
        Some("device-stats") => Metrics::DeviceStats(metrics::device_stats::parse(&text, &origin)?),
        Some("iostat") => Metrics::Iostat(metrics::iostat::parse(&text, &origin)?),
        Some("iotop") => Metrics::Iotop(metrics::iotop::parse(&text, &origin)?),
        Some(_) => Metrics::Pressure(metrics::psi::parse(&text, &origin)?),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        print!("{}", metrics_text(&m));
    }
    Ok(())
}

fn metrics_text(m: &Metrics) -> String {
    let mut o = String::new();
    match m {
        Metrics::Df(d) => {
            let _ = writeln!(o, "df: {} filesystems", d.filesystems.len());
            for f in &d.filesystems {
                let _ = writeln!(
                    o,
                    "  {:<24} {:<8} size {:>12} used {:>12} avail {:>12} {:>5}%  {}",
                    f.mountpoint,
                    f.fstype.as_deref().unwrap_or("-"),
                    f.size.map(gib).unwrap_or_else(|| "-".into()),
                    f.used.map(gib).unwrap_or_else(|| "-".into()),
                    f.avail.map(gib).unwrap_or_else(|| "-".into()),
                    f.use_percent
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "-".into()),
                    f.source
                );
            }
        }
        Metrics::BtrfsUsage(u) => {
            let ov = &u.overall;
            let _ = writeln!(
                o,
                "btrfs usage: device size {}, allocated {}, unallocated {}, used {}, free (estimated) {}",
                gib(ov.device_size),
                gib(ov.device_allocated),
                if ov.device_unallocated < 0 {
                    format!("-{}", gib(ov.device_unallocated.unsigned_abs()))
                } else {
                    gib(ov.device_unallocated.unsigned_abs())
                },
                gib(ov.used),
                gib(ov.free_estimated)
            );
            let _ = writeln!(
                o,
                "  ratios data {:.2} metadata {:.2}; global reserve {} (used {})",
                ov.data_ratio,
                ov.metadata_ratio,
                gib(ov.global_reserve),
                ov.global_reserve_used
                    .map(gib)
                    .unwrap_or_else(|| "?".into())
            );
            for g in &u.block_groups {
                let _ = writeln!(
                    o,
                    "  {:<14} {:<8} size {:>12} used {:>12}",
                    g.kind.to_string(),
                    g.profile.name(),
                    gib(g.size),
                    gib(g.used)
                );
            }
            for w in &u.warnings {
                let _ = writeln!(o, "  warning: {w}");
            }
        }
        Metrics::BtrfsDf(d) => {
            for e in &d.entries {
                let _ = writeln!(
                    o,
                    "{:<14} {:<8} total {:>12} used {:>12}",
                    e.kind.to_string(),
                    e.profile.name(),
                    gib(e.total),
                    gib(e.used)
                );
            }
        }
        Metrics::DeviceStats(ds) => {
            for d in ds {
                let _ = writeln!(
                    o,
                    "{}: write {:?} read {:?} flush {:?} corruption {:?} generation {:?}",
                    d.device,
                    d.write_io_errs,
                    d.read_io_errs,
                    d.flush_io_errs,
                    d.corruption_errs,
                    d.generation_errs
                );
            }
        }
        Metrics::Iostat(r) => {
            let _ = writeln!(
                o,
                "iostat: {} samples ({:?} columns)",
                r.samples.len(),
                r.columns
            );
            if let Some(last) = r.samples.last() {
                let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
                let _ = writeln!(
                    o,
                    "  last sample: {:<10} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>7}",
                    "device", "r/s", "w/s", "r_await", "w_await", "f/s", "aqu-sz", "%util"
                );
                for d in &last.devices {
                    let _ = writeln!(
                        o,
                        "               {:<10} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>7}",
                        d.device,
                        f(d.reads_per_s),
                        f(d.writes_per_s),
                        f(d.read_await_ms),
                        f(d.write_await_ms),
                        f(d.flushes_per_s),
                        f(d.queue_size),
                        f(d.util_pct)
                    );
                }
            }
        }
        Metrics::Iotop(r) => {
            let _ = writeln!(
                o,
                "iotop ({:?}, delay accounting {:?}): {} iterations",
                r.flavor,
                r.delay_accounting,
                r.iterations.len()
            );
            let mut rows: Vec<_> = r.iterations.iter().flat_map(|i| i.threads.iter()).collect();
            rows.sort_by(|a, b| {
                (b.read_bytes_per_s + b.write_bytes_per_s)
                    .total_cmp(&(a.read_bytes_per_s + a.write_bytes_per_s))
            });
            for t in rows.iter().take(10) {
                let _ = writeln!(
                    o,
                    "  {:>8} read {:>10.0} B/s write {:>10.0} B/s  {}",
                    t.tid, t.read_bytes_per_s, t.write_bytes_per_s, t.command
                );
            }
        }
        Metrics::Pressure(p) => {
            let _ = writeln!(
                o,
                "io pressure: some avg10 {} avg60 {} avg300 {}",
                p.some.avg10, p.some.avg60, p.some.avg300
            );
            if let Some(f) = &p.full {
                let _ = writeln!(
                    o,
                    "             full avg10 {} avg60 {} avg300 {}",
                    f.avg10, f.avg60, f.avg300
                );
            }
        }
    }
    o
}

fn bundle_text(b: &bundle::Bundle) -> String {
    let mut o = String::new();
    let m = &b.manifest;
    let _ = writeln!(
        o,
        "bundle {} from {} (kernel {}, btrtune {}, {})",
        b.dir,
        m.host,
        m.kernel,
        m.btrtune,
        if m.as_root { "as root" } else { "not as root" }
    );
    for mt in &b.mounts {
        let _ = writeln!(
            o,
            "  mount {:<28} {} [{}]{}{}",
            mt.target,
            mt.source,
            mt.options.join(","),
            match mt.nocow {
                Some(true) => " NOCOW",
                _ => "",
            },
            mt.compression
                .as_deref()
                .filter(|c| *c != "none")
                .map(|c| format!(" compression={c}"))
                .unwrap_or_default()
        );
    }
    for (mp, fs) in &b.filesystems {
        if let Some(u) = &fs.usage {
            o.push_str(&format!("filesystem at {mp}:\n"));
            o.push_str(&indent(&metrics_text(&Metrics::BtrfsUsage(u.clone()))));
        }
    }
    if let Some(i) = &b.iostat {
        o.push_str(&metrics_text(&Metrics::Iostat(i.clone())));
    }
    if let Some(p) = &b.pressure {
        o.push_str(&metrics_text(&Metrics::Pressure(p.clone())));
    }
    for (k, v) in &b.sysctls {
        let _ = writeln!(o, "  {k} = {v}");
    }
    for p in &b.missing {
        let _ = writeln!(
            o,
            "  not collected: {} ({}): {}",
            p.name,
            p.status,
            p.reason.as_deref().unwrap_or("")
        );
    }
    for u in &b.unreadable {
        let _ = writeln!(o, "  unreadable: {u}");
    }
    o
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}
