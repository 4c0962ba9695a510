//! Hardware rules: the device class and size of the machine against the work, and what
//! iostat says about the device.

use super::layout::{CONTAINER_PATHS, DB_PATHS, place_for};
use super::{Finding, Severity, conf};
use crate::diagnose::evidence::{Evidence, whole};
use crate::diagnose::host::{Host, Work};
use crate::hardware::DeviceClass;
use crate::layout::Purpose;
use crate::layout::options::Algorithm;
use crate::metrics::iostat::DeviceRow;

const GIB: f64 = (1u64 << 30) as f64;

pub fn check(h: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    slow_media(h, &mut out);
    ram(h, &mut out);
    weak_cpu(h, &mut out);
    device_load(h, &mut out);
    errors(h, &mut out);
    out
}

fn class_evidence(h: &Host) -> Vec<Evidence> {
    h.class_at.clone().into_iter().collect()
}

fn slow_media(h: &Host, out: &mut Vec<Finding>) {
    for (work, purpose, paths, id, what) in [
        (
            Work::Database,
            Purpose::Database,
            &DB_PATHS[..],
            "H01",
            "database data",
        ),
        (
            Work::Containers,
            Purpose::ContainerStorage,
            &CONTAINER_PATHS[..],
            "H02",
            "container storage",
        ),
    ] {
        let Some(ev) = h.work.get(&work) else {
            continue;
        };
        // The device holding this data: its own subvolume, or the mount holding its path.
        let place = h
            .places
            .iter()
            .find(|p| p.purpose == purpose)
            .or_else(|| paths.iter().find_map(|x| place_for(h, x)));
        let class = place
            .map(|p| p.class)
            .filter(|c| *c != DeviceClass::Unknown)
            .unwrap_or(h.class);
        if !class.is_slow_media() {
            continue;
        }
        let sev = if class.is_rotational() || class == DeviceClass::Sd {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut f = Finding::new(id, sev, 0.8, format!("{what} lives on a {class} device")).detail(
            format!(
                "{} does small random writes and (databases) fsyncs; on this medium each costs \
                 milliseconds whatever the layout, so layout changes help less than moving \
                 this data to an SSD.",
                if work == Work::Database {
                    "A database"
                } else {
                    "Layer extraction"
                }
            ),
        );
        if class == h.class {
            f = f.ev(class_evidence(h));
        }
        if let Some(p) = place {
            f = f
                .at(&p.mountpoint)
                .ev(p.declared_at.clone().or_else(|| p.live_at.clone()));
        }
        out.push(f.ev(ev.iter().take(2).cloned()));
    }
}

fn ram(h: &Host, out: &mut Vec<Finding>) {
    let Some((hw, file)) = &h.hardware else {
        return;
    };
    let Some(ram) = hw.ram_bytes else { return };
    let heavy: Vec<_> = [
        Work::Database,
        Work::Containers,
        Work::VirtualMachines,
        Work::Development,
    ]
    .into_iter()
    .filter(|w| h.work.contains_key(w))
    .collect();
    let gib = ram as f64 / GIB;
    if heavy.is_empty() || gib >= 8.0 {
        return;
    }
    // What is stored: the working set is at most that, and at least the busiest part of it.
    let used = h
        .filesystems
        .iter()
        .filter_map(|f| f.usage.as_ref())
        .map(|(u, _)| u.overall.used as f64 / GIB)
        .fold(0.0, f64::max);
    let sev = if gib < 4.0 {
        Severity::High
    } else {
        Severity::Medium
    };
    let mem_line = h
        .texts
        .find(file, "\"phys_mem\"")
        .unwrap_or_else(|| whole(file, format!("RAM {gib:.1} GiB")));
    let mut f = Finding::new(
        "H03",
        sev,
        0.7,
        format!("{gib:.1} GiB of RAM for {} work", names(&heavy)),
    )
    .detail(format!(
        "Below 8 GiB the page cache cannot hold a database's hot pages, container layers and \
         build trees at once, so reads go to the device{}.",
        if used > 0.0 {
            format!(" ({used:.1} GiB are stored on the filesystem)")
        } else {
            String::new()
        }
    ))
    .ev([mem_line]);
    for w in &heavy {
        f = f.ev(h.work[w].iter().take(1).cloned());
    }
    out.push(f);
}

fn names(w: &[Work]) -> String {
    w.iter()
        .map(|w| match w {
            Work::Database => "database",
            Work::Containers => "container",
            Work::Development => "build",
            Work::VirtualMachines => "VM",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn weak_cpu(h: &Host, out: &mut Vec<Finding>) {
    let Some((hw, file)) = &h.hardware else {
        return;
    };
    let Some((o, at)) = &h.fs_options else { return };
    let Some(c) = o.compress else { return };
    let heavy = match c.algorithm {
        Algorithm::Zlib => true,
        Algorithm::Zstd => c.level.unwrap_or(3) >= 6,
        Algorithm::Lzo => false,
    } || o.compress_force;
    let no_avx2 = hw.cpu_avx2 == Some(false)
        || hw
            .details
            .cpu
            .architecture
            .as_deref()
            .is_some_and(|a| a != "x86_64");
    let few = hw.cpu_threads.is_some_and(|t| t <= 4);
    if !heavy || !(no_avx2 || few) {
        return;
    }
    let cpu = hw.cpu_model.clone().unwrap_or_else(|| "the CPU".into());
    let cpu_line = hw
        .cpu_model
        .as_deref()
        .and_then(|m| h.texts.find(file, m.split_whitespace().next().unwrap_or(m)))
        .unwrap_or_else(|| whole(file, cpu.clone()));
    out.push(
        Finding::new(
            "H04",
            Severity::Medium,
            0.75,
            format!(
                "{}{} on {cpu} ({})",
                if o.compress_force {
                    "compress-force="
                } else {
                    "compress="
                },
                c,
                [
                    no_avx2.then_some("no AVX2"),
                    hw.cpu_threads.filter(|_| few).map(|_| "few threads"),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            ),
        )
        .detail(
            "Every write is compressed on the CPU before it reaches the device; zlib and high \
             zstd levels cost several times zstd:1 per byte, and without wide SIMD or spare \
             threads that cost lands on the writer. zstd:1 (or lzo) keeps most of the space \
             saving.",
        )
        .ev([at.clone(), cpu_line]),
    );
}

/// One device's rows over the samples (the first, since-boot sample dropped when there are
/// more).
struct DeviceSeries<'a> {
    name: String,
    rows: Vec<(usize, &'a DeviceRow)>,
}

fn await_of(r: &DeviceRow) -> f64 {
    r.await_ms.unwrap_or_else(|| {
        r.read_await_ms
            .unwrap_or(0.0)
            .max(r.write_await_ms.unwrap_or(0.0))
    })
}

fn active(r: &DeviceRow) -> bool {
    r.reads_per_s.unwrap_or(0.0) + r.writes_per_s.unwrap_or(0.0) >= 1.0
        || r.tps.unwrap_or(0.0) >= 1.0
}

/// The await (ms) above which requests count as slow, and the queue depth above which the
/// device counts as saturated, per class (heuristic of §7: saturation = await rising with
/// aqu-sz; latency = high await at a shallow queue).
/// A queue this shallow means requests hardly overlap.
const SHALLOW_Q: f64 = 2.0;

fn thresholds(c: DeviceClass) -> (f64, f64) {
    match c {
        // Flushed or FUA writes on consumer NVMe take a few ms; 5 ms is well past that.
        DeviceClass::Nvme => (5.0, 8.0),
        DeviceClass::SataSsd => (5.0, 4.0),
        DeviceClass::Ram => (1.0, 8.0),
        // A seek plus half a rotation is ~8–12 ms: at 10 ms the medium itself is the wait.
        DeviceClass::Hdd | DeviceClass::Sd | DeviceClass::Emmc | DeviceClass::Usb => (10.0, 2.0),
        DeviceClass::Virtio | DeviceClass::Unknown => (10.0, 4.0),
    }
}

fn series(h: &Host) -> Vec<DeviceSeries<'_>> {
    let Some((r, _)) = &h.iostat else {
        return vec![];
    };
    let skip = usize::from(r.samples.len() > 1);
    let mut out: Vec<DeviceSeries> = Vec::new();
    for (si, s) in r.samples.iter().enumerate().skip(skip) {
        for d in &s.devices {
            match out.iter_mut().find(|x| x.name == d.device) {
                Some(x) => x.rows.push((si, d)),
                None => out.push(DeviceSeries {
                    name: d.device.clone(),
                    rows: vec![(si, d)],
                }),
            }
        }
    }
    // The devices behind the btrfs mounts, when they are in the report.
    let backing = h.backing_devices();
    let matched: Vec<DeviceSeries> = out
        .iter()
        .filter(|d| {
            backing
                .iter()
                .any(|b| !b.is_empty() && (b == &d.name || b.starts_with(&d.name)))
        })
        .map(|d| DeviceSeries {
            name: d.name.clone(),
            rows: d.rows.clone(),
        })
        .collect();
    if matched.is_empty() { out } else { matched }
}

/// The evidence line of a device's row in sample `si` (0-based over all samples).
fn row_evidence(h: &Host, dev: &str, si: usize) -> Evidence {
    let Some((r, file)) = &h.iostat else {
        return whole("iostat", dev);
    };
    let ev = if r.json {
        h.texts.nth(file, si, |l| {
            l.contains(&format!("\"disk_device\": \"{dev}\""))
        })
    } else {
        h.texts
            .nth(file, si, |l| l.split_whitespace().next() == Some(dev))
    };
    ev.unwrap_or_else(|| whole(file, format!("{dev} (sample {})", si + 1)))
}

fn device_load(h: &Host, out: &mut Vec<Finding>) {
    for d in series(h) {
        let class = h.class_of_device(&d.name);
        let (slow_ms, deep_q) = thresholds(class);
        let slow_flush_ms = if class.is_slow_media() { 5.0 } else { 2.0 };
        let act: Vec<_> = d.rows.iter().filter(|(_, r)| active(r)).collect();
        if act.is_empty() {
            continue;
        }
        let half = act.len().div_ceil(2);
        let worst = act
            .iter()
            .max_by(|a, b| await_of(a.1).total_cmp(&await_of(b.1)))
            .expect("non-empty");
        let ev = row_evidence(h, &d.name, worst.0);
        let summary = |r: &DeviceRow| {
            format!(
                "await {:.1} ms, aqu-sz {:.2}, {:.0} r/s + {:.0} w/s, %util {:.0}",
                await_of(r),
                r.queue_size.unwrap_or(0.0),
                r.reads_per_s.unwrap_or(0.0),
                r.writes_per_s.unwrap_or(0.0),
                r.util_pct.unwrap_or(0.0)
            )
        };
        let saturated = act
            .iter()
            .filter(|(_, r)| await_of(r) >= slow_ms && r.queue_size.unwrap_or(0.0) >= deep_q)
            .count();
        // Latency-bound: slow requests that barely overlap (aqu-sz below 2), so the wait is
        // the medium's own service time, not a queue.
        let latency = act
            .iter()
            .filter(|(_, r)| await_of(r) >= slow_ms && r.queue_size.unwrap_or(0.0) < SHALLOW_Q)
            .count();
        if saturated >= half {
            out.push(
                Finding::new(
                    "H05",
                    Severity::High,
                    0.85,
                    format!("{} is saturated ({})", d.name, summary(worst.1)),
                )
                .on_device(&d.name)
                .detail(format!(
                    "In {saturated} of {} active samples the queue was at least {deep_q} deep \
                     with await at least {slow_ms} ms (thresholds for {}): requests wait \
                     behind each other. %util is not used for this.",
                    act.len(),
                    class
                ))
                .ev([ev.clone()]),
            );
            if let Some(f) = out.last_mut() {
                f.hardware_bound = class.is_slow_media();
            }
        } else if latency >= half {
            let mut f = Finding::new(
                "H06",
                Severity::Medium,
                0.8,
                format!(
                    "{} answers slowly at a shallow queue ({})",
                    d.name,
                    summary(worst.1)
                ),
            )
            .on_device(&d.name)
            .detail(format!(
                "In {} of {} active samples await was at least {slow_ms} ms while the queue \
                 stayed below {SHALLOW_Q}: each request is slow on this medium, not stuck \
                 behind others.",
                latency,
                act.len()
            ))
            .ev([ev.clone()]);
            f.hardware_bound = true;
            out.push(f);
        }
        let flushes: Vec<_> = act
            .iter()
            .filter(|(_, r)| {
                // At least a fifth of the time spent flushing, each flush slow.
                let (fs, fa) = (
                    r.flushes_per_s.unwrap_or(0.0),
                    r.flush_await_ms.unwrap_or(0.0),
                );
                fs * fa / 1000.0 >= 0.2 && fa >= slow_flush_ms
            })
            .collect();
        if flushes.len() >= half
            && let Some((si, r)) = flushes
                .iter()
                .max_by(|a, b| {
                    a.1.flush_await_ms
                        .unwrap_or(0.0)
                        .total_cmp(&b.1.flush_await_ms.unwrap_or(0.0))
                })
                .map(|x| **x)
        {
            out.push(
                Finding::new(
                    "H07",
                    Severity::Medium,
                    0.8,
                    format!(
                        "{}: {:.0} flushes/s at {:.1} ms each",
                        d.name,
                        r.flushes_per_s.unwrap_or(0.0),
                        r.flush_await_ms.unwrap_or(0.0)
                    ),
                )
                .on_device(&d.name)
                .detail(
                    "The device spent at least a fifth of its time on cache flushes. The \
                     block layer runs one flush at a time, so fsync-heavy work (database \
                     commits) is bound by the device's flush latency; on CoW files each commit \
                     also writes metadata.",
                )
                .ev([row_evidence(h, &d.name, *si)]),
            );
            if let Some(f) = out.last_mut() {
                f.hardware_bound = class.is_slow_media();
            }
        }
        let parallel = matches!(
            class,
            DeviceClass::Nvme | DeviceClass::SataSsd | DeviceClass::Virtio | DeviceClass::Ram
        );
        if parallel
            && saturated == 0
            && let Some((si, r)) = act
                .iter()
                .find(|(_, r)| r.util_pct.unwrap_or(0.0) >= 90.0 && await_of(r) < slow_ms)
        {
            out.push(
                Finding::new(
                    "H08",
                    Severity::Info,
                    0.8,
                    format!(
                        "{} shows %util {:.0} but await {:.2} ms: busy, not saturated",
                        d.name,
                        r.util_pct.unwrap_or(0.0),
                        await_of(r)
                    ),
                )
                .on_device(&d.name)
                .detail(
                    "%util counts time with at least one request in flight; a device that \
                     serves many requests in parallel reaches 100 % long before its limit \
                     (iostat(1)). Judge saturation by await against aqu-sz.",
                )
                .ev([row_evidence(h, &d.name, *si)]),
            );
        }
    }
}

fn errors(h: &Host, out: &mut Vec<Finding>) {
    for fs in &h.filesystems {
        let Some((stats, file)) = &fs.stats else {
            continue;
        };
        for s in stats {
            let counts = [
                ("write_io_errs", s.write_io_errs),
                ("read_io_errs", s.read_io_errs),
                ("flush_io_errs", s.flush_io_errs),
                ("corruption_errs", s.corruption_errs),
                ("generation_errs", s.generation_errs),
            ];
            let bad: Vec<_> = counts.iter().filter(|(_, v)| v.unwrap_or(0) > 0).collect();
            if bad.is_empty() {
                continue;
            }
            let ev: Vec<Evidence> = bad
                .iter()
                .filter_map(|(k, _)| {
                    h.texts
                        .find_from(file, 1, |l| l.contains(&s.device) && l.contains(k))
                })
                .collect();
            out.push(
                Finding::new(
                    "H09",
                    Severity::Critical,
                    conf(true),
                    format!(
                        "{} has errors: {}",
                        s.device,
                        bad.iter()
                            .map(|(k, v)| format!("{k} {}", v.unwrap_or(0)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .detail(
                    "I/O errors come from the layers below btrfs (cable, device, controller); \
                     corruption errors are checksum mismatches. Slowness can be retries. Back \
                     up, check SMART, run a scrub; reset the counters with `btrfs device stats \
                     -z` once understood.",
                )
                .ev(ev),
            );
        }
    }
}
