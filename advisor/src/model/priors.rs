//! Prior models for classes nobody calibrated (nvme, sata-ssd, hdd, emmc, sd, usb), built
//! from documented device figures (`benchmark-method.md` §5.2): a layout reaches a share
//! η of its device's raw capability C, so the prior is C(class, job) from the figures below
//! times η measured on the calibrated classes, with their pooled effects. Every number that
//! comes out of one is labelled `prior`; its intervals carry the spread of the documented
//! figures, of η between the calibrated classes and of the effects between classes.

use super::fit::{Effect, Fitted, Pooled, fit_pooled};
use super::set::{Group, Model, Status};
use super::validate::geomean;
use crate::hardware::DeviceClass;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Documented capabilities of a device class, each as a (low, high) range read as a 95 %
/// interval: 4 KiB random writes with a flush each at queue depth 1 (IOPS), 4 KiB random
/// reads at queue depth 32 (IOPS), 128 KiB sequential writes (MB/s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeviceFigures {
    /// The class.
    pub class: DeviceClass,
    /// `randwrite-4k-fsync`.
    pub sync_write_iops: (f64, f64),
    /// `randread-4k-qd32`.
    pub random_read_iops: (f64, f64),
    /// `seqwrite-128k`, MB/s.
    pub seq_write_mb_s: (f64, f64),
    /// Where the figures come from.
    pub source: &'static str,
}

/// The figures. Flush-bound writes vary most: drives with power-loss protection acknowledge
/// a flush from their cache, consumer drives wait for the flash (or the platter).
pub const FIGURES: [DeviceFigures; 6] = [
    DeviceFigures {
        class: DeviceClass::Nvme,
        sync_write_iops: (1_500.0, 40_000.0),
        random_read_iops: (100_000.0, 600_000.0),
        seq_write_mb_s: (1_000.0, 5_000.0),
        source: "PCIe 3/4 NVMe datasheets (Samsung 970 EVO Plus, 980 PRO: 4 KiB QD32 random \
                 read 250k–700k IOPS with several threads, sequential write 1.7–5 GB/s); \
                 flush-bound QD1 writes from consumer (no PLP, ~1–3k) to enterprise drives \
                 (PLP, tens of thousands)",
    },
    DeviceFigures {
        class: DeviceClass::SataSsd,
        sync_write_iops: (1_000.0, 20_000.0),
        random_read_iops: (60_000.0, 100_000.0),
        seq_write_mb_s: (400.0, 550.0),
        source: "SATA 6 Gb/s line rate (600 MB/s); Samsung 870 EVO datasheet (530 MB/s \
                 sequential write, 98k IOPS QD32 random read); AHCI NCQ depth 32",
    },
    DeviceFigures {
        class: DeviceClass::Hdd,
        sync_write_iops: (50.0, 250.0),
        random_read_iops: (150.0, 500.0),
        seq_write_mb_s: (100.0, 270.0),
        source: "7200 rpm: one revolution is 8.3 ms, so a flushed write per revolution is \
                 ~120/s; NCQ reordering lifts QD32 random reads to a few hundred IOPS; \
                 WD Red Plus / Seagate IronWolf datasheets 180–260 MB/s sustained",
    },
    DeviceFigures {
        class: DeviceClass::Emmc,
        sync_write_iops: (200.0, 3_000.0),
        random_read_iops: (4_000.0, 20_000.0),
        seq_write_mb_s: (40.0, 250.0),
        source: "JEDEC eMMC 5.1 (JESD84-B51) HS400 interface 400 MB/s; vendor eMMC 5.1 \
                 datasheets (sequential write 50–250 MB/s, random read 5k–15k IOPS)",
    },
    DeviceFigures {
        class: DeviceClass::Sd,
        sync_write_iops: (100.0, 2_000.0),
        random_read_iops: (1_500.0, 5_000.0),
        seq_write_mb_s: (10.0, 90.0),
        source: "SD Association Application Performance Class \
                 (https://www.sdcard.org/developers/sd-standard-overview/application-performance-class/): \
                 A1 ≥ 1500 read / 500 write IOPS, A2 ≥ 4000 / 2000, both ≥ 10 MB/s sustained \
                 sequential write; UHS-I bus 104 MB/s",
    },
    DeviceFigures {
        class: DeviceClass::Usb,
        sync_write_iops: (20.0, 1_000.0),
        random_read_iops: (1_000.0, 10_000.0),
        seq_write_mb_s: (20.0, 400.0),
        source: "USB 2.0 480 Mb/s (≈ 35 MB/s usable) to USB 3 enclosures (≈ 400 MB/s); \
                 flash drives' random writes are notoriously slow (tens to hundreds of IOPS)",
    },
];

/// The figures of a class, if it has any.
pub fn figures(class: DeviceClass) -> Option<&'static DeviceFigures> {
    FIGURES.iter().find(|f| f.class == class)
}

/// The raw-device job whose capability bounds a workload: its I/O shape's nearest fio job
/// (commits and builds are flush-bound, reads are reads, layers and media stream).
pub fn capability_job(workload: &str) -> Option<&'static str> {
    Some(match workload {
        "fio-randread-4k-qd32" => "fio-randread-4k-qd32",
        "fio-seqwrite-128k" => "fio-seqwrite-128k",
        w if w.starts_with("containers-") => "fio-seqwrite-128k",
        "fio-randwrite-4k-fsync" => "fio-randwrite-4k-fsync",
        w if w.starts_with("wal-") || w.starts_with("pgbench-") || w.starts_with("devtree-") => {
            "fio-randwrite-4k-fsync"
        }
        _ => return None,
    })
}

/// A documented capability range in the raw job's metric unit.
fn documented(f: &DeviceFigures, job: &str) -> Option<(f64, f64)> {
    match job {
        "fio-randwrite-4k-fsync" => Some(f.sync_write_iops),
        "fio-randread-4k-qd32" => Some(f.random_read_iops),
        "fio-seqwrite-128k" => Some((f.seq_write_mb_s.0 * 1e6, f.seq_write_mb_s.1 * 1e6)),
        _ => None,
    }
}

/// How a prior model was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorBasis {
    /// The raw job whose documented capability anchors it.
    pub capability_job: String,
    /// The documented capability range (the job's unit).
    pub documented: (f64, f64),
    /// Where the figures come from.
    pub source: String,
    /// The calibrated classes η and the effects come from.
    pub from_classes: Vec<DeviceClass>,
    /// log η (metric over raw capability) averaged over them.
    pub log_efficiency: f64,
}

/// The smallest between-class spread of log η assumed when transferring it to a class never
/// measured (≈ ×2 either way at 95 %): η differs between a CPU-bound and an I/O-bound device.
pub const ETA_SD_FLOOR: f64 = 0.35;
/// The smallest between-class spread of an effect assumed for a class never measured.
pub const EFFECT_SD_FLOOR: f64 = 0.10;

/// Prior models for every (workload, metric) the measured models cover, for each class in
/// [`FIGURES`] that has no measured model of it.
pub fn priors(
    measured: &[Model],
    groups: &BTreeMap<(DeviceClass, String, String), Group>,
) -> Vec<Model> {
    // The raw capability of each class and job, whatever the job's metric.
    let raw = |class: DeviceClass, job: &str| {
        groups
            .iter()
            .find(|((c, w, _), g)| *c == class && w == job && !g.raw.is_empty())
            .map(|(_, g)| geomean(&g.raw))
    };
    let mut by_workload: BTreeMap<(&str, &str), Vec<&Model>> = BTreeMap::new();
    for m in measured.iter().filter(|m| m.status != Status::Prior) {
        by_workload
            .entry((m.workload.as_str(), m.metric.as_str()))
            .or_default()
            .push(m);
    }
    let mut out = Vec::new();
    for ((workload, metric), models) in by_workload {
        let Some(job) = capability_job(workload) else {
            continue;
        };
        // log η of each calibrated class with a raw capability for the job.
        let etas: Vec<(DeviceClass, f64, &Model)> = models
            .iter()
            .filter_map(|m| raw(m.class, job).map(|c| (m.class, m.fitted.intercept - c.ln(), *m)))
            .collect();
        if etas.is_empty() {
            continue;
        }
        let k = etas.len() as f64;
        let eta = etas.iter().map(|e| e.1).sum::<f64>() / k;
        let eta_sd = if etas.len() > 1 {
            (etas.iter().map(|e| (e.1 - eta).powi(2)).sum::<f64>() / (k - 1.0)).sqrt()
        } else {
            0.0
        }
        .max(ETA_SD_FLOOR);
        // Effects: pooled over the classes, or the one class's own.
        let effects: Vec<Effect> = pooled_effects(groups, workload, metric)
            .map(|p| {
                p.effects
                    .into_iter()
                    .map(|e| Effect {
                        se: (e.se.powi(2) + p.tau.max(EFFECT_SD_FLOOR).powi(2)).sqrt(),
                        ..e
                    })
                    .collect()
            })
            .unwrap_or_else(|| {
                etas[0]
                    .2
                    .fitted
                    .effects
                    .iter()
                    .map(|e| Effect {
                        se: (e.se.powi(2) + EFFECT_SD_FLOOR.powi(2)).sqrt(),
                        ..e.clone()
                    })
                    .collect()
            });
        let sigma = etas.iter().map(|e| e.2.fitted.sigma).fold(0.0, f64::max);
        let df = etas.iter().map(|e| e.2.fitted.df).min().unwrap_or(1);
        for f in &FIGURES {
            if models.iter().any(|m| m.class == f.class) {
                continue;
            }
            let Some((lo, hi)) = documented(f, job) else {
                continue;
            };
            let doc_sd = (hi / lo).ln() / (2.0 * 1.96);
            let c_mid = (lo * hi).sqrt();
            let intercept = c_mid.ln() + eta;
            let intercept_sd = (doc_sd.powi(2) + eta_sd.powi(2)).sqrt();
            let p = effects.len() + 1;
            let s2 = sigma.powi(2).max(1e-12);
            let mut cov = vec![vec![0.0; p]; p];
            cov[0][0] = intercept_sd.powi(2) / s2;
            for (j, e) in effects.iter().enumerate() {
                cov[j + 1][j + 1] = e.se.powi(2) / s2;
            }
            out.push(Model {
                class: f.class,
                workload: workload.to_string(),
                metric: metric.to_string(),
                status: Status::Prior,
                capability: (job == workload).then_some(hi),
                fitted: Fitted {
                    intercept,
                    intercept_se: intercept_sd,
                    effects: effects.clone(),
                    sigma,
                    df,
                    cov_unscaled: cov,
                    runs: 0,
                    layouts: 0,
                    outliers: Vec::new(),
                },
                shrunk_toward: None,
                validation: None,
                class_transfer_mdape: None,
                prior: Some(PriorBasis {
                    capability_job: job.to_string(),
                    documented: (lo, hi),
                    source: f.source.to_string(),
                    from_classes: etas.iter().map(|e| e.0).collect(),
                    log_efficiency: eta,
                }),
            });
        }
    }
    out
}

/// The effects pooled over every class that measured this workload (two or more).
fn pooled_effects(
    groups: &BTreeMap<(DeviceClass, String, String), Group>,
    workload: &str,
    metric: &str,
) -> Option<Pooled> {
    let runs: Vec<&[super::fit::Observation]> = groups
        .iter()
        .filter(|((_, w, m), g)| w == workload && m == metric && !g.runs.is_empty())
        .map(|(_, g)| g.runs.as_slice())
        .collect();
    fit_pooled(&runs).ok()
}
