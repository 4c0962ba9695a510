//! System rules: writeback limits, the I/O scheduler, read-ahead, delay accounting.

use super::{Finding, Severity, conf};
use crate::diagnose::evidence::whole;
use crate::diagnose::host::Host;
use crate::hardware::DeviceClass;
use crate::metrics::iotop::DelayAccounting;

pub fn check(h: &Host) -> Vec<Finding> {
    let mut out = Vec::new();
    dirty(h, &mut out);
    scheduler(h, &mut out);
    readahead(h, &mut out);
    delayacct(h, &mut out);
    out
}

/// The seconds the dirty limit takes to write back at the class's nominal speed.
pub(crate) fn dirty_seconds(h: &Host) -> Option<(f64, u64, String)> {
    let (s, _) = h.sysctls.as_ref()?;
    let ram = h.hardware.as_ref()?.0.ram_bytes?;
    if h.class == DeviceClass::Unknown {
        return None;
    }
    let num = |k: &str| s.get(k).and_then(|v| v.trim().parse::<u64>().ok());
    let (bytes, how) = match num("vm.dirty_bytes").filter(|b| *b > 0) {
        Some(b) => (b, format!("vm.dirty_bytes = {b}")),
        None => {
            let r = num("vm.dirty_ratio")?;
            (ram / 100 * r, format!("vm.dirty_ratio = {r}"))
        }
    };
    let speed = h.class.nominal_write_mb_s() as f64 * 1e6;
    Some((bytes as f64 / speed, bytes, how))
}

fn dirty(h: &Host, out: &mut Vec<Finding>) {
    let Some((secs, bytes, how)) = dirty_seconds(h) else {
        return;
    };
    // Slow media stall for long at the default ratios; fast ones only with a lot of RAM.
    let limit = if h.class.is_slow_media() { 10.0 } else { 30.0 };
    if secs < limit {
        return;
    }
    let (_, file) = h.sysctls.as_ref().expect("dirty_seconds needs sysctls");
    let key = how.split(' ').next().unwrap_or("vm.dirty_ratio");
    let mut ev = vec![h.texts.find_or(file, key, &how)];
    if let Some(c) = h.class_at.clone() {
        ev.push(c);
    }
    out.push(
        Finding::new(
            "Y01",
            if secs >= 30.0 {
                Severity::High
            } else {
                Severity::Medium
            },
            0.75,
            format!(
                "{how} lets {:.1} GiB of dirty pages pile up: about {secs:.0} s of writing for a {} device",
                bytes as f64 / (1u64 << 30) as f64,
                h.class
            ),
        )
        .detail(format!(
            "The ratio is of available memory; when writers reach the limit they are throttled \
             until the backlog drains, which at ~{} MB/s stalls interactive work for many \
             seconds (and an fsync behind the backlog waits for all of it). A byte limit sized \
             to a few seconds of the device's speed keeps stalls short.",
            h.class.nominal_write_mb_s()
        ))
        .ev(ev),
    );
}

fn scheduler(h: &Host, out: &mut Vec<Finding>) {
    let Some((_, file)) = &h.queues else { return };
    for dev in h.backing_devices() {
        let Some((name, knobs)) = h.queue_of(&dev) else {
            continue;
        };
        let Some(line) = knobs.get("scheduler") else {
            continue;
        };
        let class = h.class_of_device(name);
        let active = line
            .split_whitespace()
            .find(|w| w.starts_with('['))
            .map(|w| w.trim_matches(|c| c == '[' || c == ']').to_string())
            .unwrap_or_else(|| line.clone());
        let want = match class {
            c if c.is_slow_media() && active == "none" => "mq-deadline",
            DeviceClass::Nvme if active == "bfq" => "none",
            _ => continue,
        };
        if out
            .iter()
            .any(|f: &Finding| f.rule == "Y02" && f.title.contains(&format!("on a {class}")))
        {
            continue;
        }
        let mut ev = vec![h.texts.find_or(file, &format!("{name} scheduler"), line)];
        if let Some(r) = h.texts.find(file, &format!("{name} rotational")) {
            ev.push(r);
        }
        out.push(
            Finding::new(
                "Y02",
                Severity::Medium,
                0.8,
                format!(
                    "{name} uses the `{active}` scheduler on a {class} device; `{want}` suits it"
                ),
            )
            .on_device(name)
            .detail(if want == "none" {
                "BFQ costs ~1.9 µs per request and tops out at a few hundred thousand IOPS: on \
                 NVMe it is the bottleneck. `none` is the kernel's default for multi-queue \
                 devices."
            } else {
                "Without a scheduler a slow single-queue device serves requests in arrival \
                 order: reads starve behind write bursts. mq-deadline (or bfq for interactive \
                 desktops) bounds read latency. Set it with a udev rule; `elevator=` on the \
                 kernel command line does nothing on blk-mq."
            })
            .ev(ev),
        );
    }
}

fn readahead(h: &Host, out: &mut Vec<Finding>) {
    for fs in &h.filesystems {
        let Some((v, ev)) = fs.sysfs.get("bdi/read_ahead_kb") else {
            continue;
        };
        let Ok(kb) = v.trim().parse::<u64>() else {
            continue;
        };
        if kb >= 4096 {
            continue;
        }
        out.push(
            Finding::new(
                "Y03",
                Severity::Low,
                conf(true),
                format!("btrfs read-ahead on {} is {kb} KiB (default 4096)", fs.name),
            )
            .detail(
                "btrfs reads files through its own bdi, whose read-ahead defaults to at least \
                 4 MiB; the device's queue/read_ahead_kb does not govern it. A lowered value \
                 slows sequential reads, most on HDDs.",
            )
            .ev([ev.clone()]),
        );
    }
}

fn delayacct(h: &Host, out: &mut Vec<Finding>) {
    let Some((r, file)) = &h.iotop else { return };
    if r.delay_accounting != DelayAccounting::Off {
        return;
    }
    let ev = h
        .texts
        .find(file, "unavailable")
        .or_else(|| h.texts.find(file, "task_delayacct"))
        .unwrap_or_else(|| whole(file, "delay accounting off"));
    out.push(
        Finding::new(
            "Y04",
            Severity::Info,
            0.9,
            "iotop ran without delay accounting: its IO% column is empty".into(),
        )
        .detail(
            "Enable it with `sysctl kernel.task_delayacct=1` (or `boot.kernelParams = [ \
             \"delayacct\" ]`) before collecting, to see which processes wait on I/O.",
        )
        .ev([ev]),
    );
}
