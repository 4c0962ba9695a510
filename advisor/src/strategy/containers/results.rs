//! The container-churn measurements (harness JSON Lines records of the `containers`
//! matrix), summarised per layout × profile × driver.

use super::{BUNDLED_RESULTS, Driver, Profile, RESULTS_FILE, Strategies, profile_of};
use crate::error::AdvisorError;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

/// Median and range of one metric over a cell's runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// Smallest run.
    pub min: f64,
    /// Largest run.
    pub max: f64,
}

impl Spread {
    /// Of some values (none: `None`).
    pub fn of(v: &[f64]) -> Option<Spread> {
        let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        Some(Spread {
            median: crate::stats::median(&v)?,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// One driver on one layout under one profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriverStats {
    /// Runs.
    pub runs: usize,
    /// Layers pulled per second of pull time (the primary value).
    pub layers_per_s: Spread,
    /// Container create latency, p50 of each run (ms).
    pub create_ms: Option<Spread>,
    /// Container remove latency, p50 of each run (ms).
    pub remove_ms: Option<Spread>,
    /// Layer remove latency, p50 of each run (ms).
    pub layer_remove_ms: Option<Spread>,
    /// All writes of one container, p50 of each run (ms).
    pub writes_ms: Option<Spread>,
    /// Peak space used (MiB).
    pub peak_mib: Option<Spread>,
}

/// A result cell: one layout under one profile, both drivers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStats {
    /// Layout name in the matrix (`cow`, `zstd1`, `ext4`).
    pub layout: String,
    /// Profile.
    pub profile: String,
    /// The overlay driver.
    pub overlay: Option<DriverStats>,
    /// The btrfs driver (none on ext4).
    pub btrfs: Option<DriverStats>,
}

impl CellStats {
    /// `LAYOUT/PROFILE`.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.layout, self.profile)
    }

    /// btrfs driver / overlay, ratio of medians of a metric.
    pub fn ratio(&self, metric: impl Fn(&DriverStats) -> Option<Spread>) -> Option<f64> {
        let b = metric(self.btrfs.as_ref()?)?.median;
        let o = metric(self.overlay.as_ref()?)?.median;
        (o > 0.0).then(|| b / o)
    }
}

/// Where and when the runs were made.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Provenance {
    /// Host names.
    pub hosts: BTreeSet<String>,
    /// Kernels.
    pub kernels: BTreeSet<String>,
    /// Device classes (`virtio`, `ram`).
    pub classes: BTreeSet<String>,
    /// Runs read.
    pub runs: usize,
}

/// All result cells.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    /// Cells, in the matrix's profile order, then layout name.
    pub cells: Vec<CellStats>,
    /// Provenance.
    pub provenance: Provenance,
}

struct Run {
    layout: String,
    profile: String,
    driver: Driver,
    value: f64,
    create: Option<f64>,
    remove: Option<f64>,
    layer_remove: Option<f64>,
    writes: Option<f64>,
    peak: Option<f64>,
}

impl Measured {
    /// The embedded results, classified by the bundled matrix's profiles.
    pub fn bundled() -> Result<Measured, AdvisorError> {
        Self::parse(
            BUNDLED_RESULTS,
            "results/containers/containers.jsonl",
            &Strategies::bundled()?.profiles,
        )
    }

    /// `DIR/containers.jsonl`, or the embedded results when `dir` is `None`.
    pub fn load(dir: Option<&Path>, profiles: &[Profile]) -> Result<Measured, AdvisorError> {
        match dir {
            None => Self::parse(
                BUNDLED_RESULTS,
                "results/containers/containers.jsonl",
                profiles,
            ),
            Some(d) => {
                let path = d.join(RESULTS_FILE);
                let text = std::fs::read_to_string(&path).map_err(|e| AdvisorError::Io {
                    path: path.clone(),
                    source: e,
                })?;
                Self::parse(&text, &path.display().to_string(), profiles)
            }
        }
    }

    /// Reads JSON Lines records; keeps full (not quick) container-churn runs of the
    /// `containers` matrix, and classifies each by the profile whose `bench` parameters its
    /// parameters match.
    pub fn parse(text: &str, origin: &str, profiles: &[Profile]) -> Result<Measured, AdvisorError> {
        let mut runs = Vec::new();
        let mut prov = Provenance::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |message: String| AdvisorError::Input {
                path: origin.into(),
                line: i + 1,
                column: 0,
                message,
            };
            let r: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(format!("not a JSON record: {e}")))?;
            let s = |p: &str| r.pointer(p).and_then(|v| v.as_str());
            let f = |p: &str| r.pointer(p).and_then(|v| v.as_f64());
            if s("/matrix") != Some("containers")
                || r.get("quick").and_then(|v| v.as_bool()) != Some(false)
                || s("/workload/params/kind") != Some("containers")
            {
                continue;
            }
            let driver = match s("/workload/params/driver") {
                Some("btrfs") => Driver::Btrfs,
                Some("overlay") => Driver::Overlay,
                o => return Err(bad(format!("unknown driver {o:?}"))),
            };
            let full = r
                .pointer("/workload/params/full")
                .ok_or_else(|| bad("no workload.params.full".into()))?;
            let Some(profile) = profile_of(profiles, full).map_err(bad)? else {
                continue;
            };
            let value =
                f("/measurement/value").ok_or_else(|| bad("no measurement.value".into()))?;
            let ms = |p: &str| f(p).map(|ns| ns / 1e6);
            for (k, p) in [
                (&mut prov.hosts, "/host/hostname"),
                (&mut prov.kernels, "/host/kernel"),
                (&mut prov.classes, "/device/class"),
            ] {
                if let Some(v) = s(p) {
                    k.insert(v.to_string());
                }
            }
            prov.runs += 1;
            runs.push(Run {
                layout: s("/layout_name").unwrap_or("?").to_string(),
                profile: profile.name.clone(),
                driver,
                value,
                create: ms("/measurement/latency_ns/p50"),
                remove: ms("/measurement/extra/container_remove_p50_ns"),
                layer_remove: ms("/measurement/extra/layer_remove_p50_ns"),
                writes: ms("/measurement/extra/container_writes_p50_ns"),
                peak: f("/measurement/extra/space_used_peak_bytes").map(|b| b / 1048576.0),
            });
        }
        let mut keys: Vec<(usize, String, String)> = runs
            .iter()
            .map(|r| {
                let order = profiles
                    .iter()
                    .position(|p| p.name == r.profile)
                    .unwrap_or(usize::MAX);
                (order, r.layout.clone(), r.profile.clone())
            })
            .collect();
        keys.sort();
        keys.dedup();
        let cells = keys
            .into_iter()
            .map(|(_, layout, profile)| {
                let stats = |d: Driver| {
                    let v: Vec<&Run> = runs
                        .iter()
                        .filter(|r| r.layout == layout && r.profile == profile && r.driver == d)
                        .collect();
                    let sp = |g: fn(&Run) -> Option<f64>| {
                        Spread::of(&v.iter().filter_map(|r| g(r)).collect::<Vec<_>>())
                    };
                    Some(DriverStats {
                        runs: v.len(),
                        layers_per_s: sp(|r| Some(r.value))?,
                        create_ms: sp(|r| r.create),
                        remove_ms: sp(|r| r.remove),
                        layer_remove_ms: sp(|r| r.layer_remove),
                        writes_ms: sp(|r| r.writes),
                        peak_mib: sp(|r| r.peak),
                    })
                };
                CellStats {
                    overlay: stats(Driver::Overlay),
                    btrfs: stats(Driver::Btrfs),
                    layout,
                    profile,
                }
            })
            .collect();
        Ok(Measured {
            cells,
            provenance: prov,
        })
    }

    /// A cell by layout and profile.
    pub fn cell(&self, layout: &str, profile: &str) -> Option<&CellStats> {
        self.cells
            .iter()
            .find(|c| c.layout == layout && c.profile == profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert_eq!(Spread::of(&[]), None);
    }
}
