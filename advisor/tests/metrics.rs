//! The metrics parsers against real command outputs (`tests/fixtures/metrics/`, captured by
//! `scripts/capture-metrics-fixtures.sh`; see the README there), hand-written malformed
//! inputs, property tests that no input panics a parser, and the observation vocabulary.
//!
//! The expected values below were read off the fixture files by eye. The only
//! hand-written inputs are the malformed ones in `malformed_inputs_name_origin_and_line`.

#![allow(clippy::unwrap_used, clippy::float_cmp)] // tests: a panic is the failure

use btrtune_advisor::AdvisorError;
use btrtune_advisor::metrics::observe::{self, Category, CueKind, Symptom};
use btrtune_advisor::metrics::{
    BlockGroupKind, Metrics, Profile, Source, btrfs_df, btrfs_usage, detect, device_stats, df,
    iostat, iotop, parse_any, psi,
};
use proptest::prelude::*;
use std::path::PathBuf;

const KIB: u64 = 1024;
const MIB: f64 = 1024.0 * 1024.0;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every captured fixture and the parser it is for.
const FIXTURES: &[(&str, Source)] = &[
    ("df.txt", Source::Df),
    ("df-k.txt", Source::Df),
    ("df-h.txt", Source::Df),
    ("df-H.txt", Source::Df),
    ("df-T.txt", Source::Df),
    ("df-hT.txt", Source::Df),
    ("df-full.txt", Source::Df),
    ("df-P.txt", Source::Df),
    ("btrfs-usage-single.txt", Source::BtrfsUsage),
    ("btrfs-usage-b-single.txt", Source::BtrfsUsage),
    ("btrfs-usage-raid1.txt", Source::BtrfsUsage),
    ("btrfs-usage-b-raid1.txt", Source::BtrfsUsage),
    ("btrfs-usage-mixed.txt", Source::BtrfsUsage),
    ("btrfs-usage-b-mixed.txt", Source::BtrfsUsage),
    ("btrfs-usage-full.txt", Source::BtrfsUsage),
    ("btrfs-usage-b-full.txt", Source::BtrfsUsage),
    ("btrfs-usage-degraded.txt", Source::BtrfsUsage),
    ("btrfs-usage-b-degraded.txt", Source::BtrfsUsage),
    ("btrfs-usage-T-raid1.txt", Source::BtrfsUsage),
    ("btrfs-usage-T-mixed.txt", Source::BtrfsUsage),
    ("btrfs-usage-T-degraded.txt", Source::BtrfsUsage),
    ("btrfs-usage-nonroot.txt", Source::BtrfsUsage),
    ("btrfs-df-single.txt", Source::BtrfsDf),
    ("btrfs-df-b-single.txt", Source::BtrfsDf),
    ("btrfs-df-raid1.txt", Source::BtrfsDf),
    ("btrfs-df-b-raid1.txt", Source::BtrfsDf),
    ("btrfs-df-mixed.txt", Source::BtrfsDf),
    ("btrfs-df-b-mixed.txt", Source::BtrfsDf),
    ("btrfs-df-mixed-stderr.txt", Source::BtrfsDf),
    ("btrfs-df-full.txt", Source::BtrfsDf),
    ("btrfs-device-stats-single.txt", Source::DeviceStats),
    ("btrfs-device-stats-raid1.txt", Source::DeviceStats),
    ("btrfs-device-stats-c-raid1.txt", Source::DeviceStats),
    ("btrfs-device-stats-mixed.txt", Source::DeviceStats),
    ("btrfs-device-stats-degraded.txt", Source::DeviceStats),
    ("btrfs-device-stats-T-raid1.txt", Source::DeviceStats),
    ("iostat-x.txt", Source::Iostat),
    ("iostat-x-k.txt", Source::Iostat),
    ("iostat-x-m.txt", Source::Iostat),
    ("iostat-x-d.txt", Source::Iostat),
    ("iostat-x-t.txt", Source::Iostat),
    ("iostat-x-json.json", Source::Iostat),
    ("iostat11.4.3-x.txt", Source::Iostat),
    ("iostat11.6.1-x.txt", Source::Iostat),
    ("iostat11.6.1-x-json.json", Source::Iostat),
    ("iotop-py.txt", Source::Iotop),
    ("iotop-c.txt", Source::Iotop),
    ("iotop-py-delayacct.txt", Source::Iotop),
    ("iotop-c-delayacct.txt", Source::Iotop),
    ("iotop-py-tP.txt", Source::Iotop),
    ("iotop-c-tP.txt", Source::Iotop),
    ("iotop-py-a.txt", Source::Iotop),
    ("psi-io-idle.txt", Source::Pressure),
    ("psi-io-load.txt", Source::Pressure),
];

/// Captured outputs of commands that failed: each must give an error, not a parse.
const FAILED_COMMANDS: &[&str] = &["btrfs-device-stats-nonroot.txt"];

#[test]
fn every_fixture_is_listed_detected_parsed_and_round_trips() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !matches!(n.as_str(), "README.md" | "MANIFEST.txt" | "VERSIONS.txt"))
        .filter(|n| !FAILED_COMMANDS.contains(&n.as_str()))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|(n, _)| (*n).to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every fixture file is tested");

    let manifest = fixture("MANIFEST.txt");
    for (name, src) in FIXTURES {
        assert!(
            manifest
                .lines()
                .any(|l| l.starts_with(&format!("{name}\t"))),
            "{name} has its command in MANIFEST.txt"
        );
        let text = fixture(name);
        assert_eq!(detect(&text), Some(*src), "{name}");
        let parsed = parse_any(&text, name).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&parsed).unwrap();
        let back: Metrics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, parsed, "{name}: serde round trip");
    }
}

// ---------------------------------------------------------------------------------------
// df

#[test]
fn df_default_blocks_and_mount_point_with_space() {
    let r = df::parse(&fixture("df.txt"), "df.txt").unwrap();
    assert_eq!(r.units, df::DfUnits::Blocks { block_size: 1024 });
    assert!(r.exact);
    assert_eq!(r.filesystems.len(), 4);
    let root = &r.filesystems[0];
    assert_eq!(
        (root.source.as_str(), root.mountpoint.as_str()),
        ("/dev/vda", "/")
    );
    assert_eq!(root.size, Some(264_212_084 * KIB));
    let single = &r.filesystems[1];
    assert_eq!(single.source, "/dev/loop0");
    assert_eq!(single.fstype, None);
    assert_eq!(single.size, Some(1_572_864 * KIB));
    assert_eq!(single.used, Some(570_144 * KIB));
    assert_eq!(single.avail, Some(988_672 * KIB));
    assert_eq!(single.use_percent, Some(37.0));
    assert_eq!(single.mountpoint, "/tmp/btrtune-metrics.v7nPPF/mnt single");
    // A raid1 over 1 + 1 + 1.5 GiB: df shows half the raw size.
    assert_eq!(r.filesystems[2].size, Some(1_835_008 * KIB));
    assert_eq!(
        df::parse(&fixture("df-k.txt"), "df-k.txt")
            .unwrap()
            .filesystems[1],
        *single
    );
}

#[test]
fn df_type_column() {
    let r = df::parse(&fixture("df-T.txt"), "df-T.txt").unwrap();
    let types: Vec<_> = r
        .filesystems
        .iter()
        .map(|f| f.fstype.as_deref().unwrap())
        .collect();
    assert_eq!(types, ["ext4", "btrfs", "btrfs", "btrfs"]);
    assert_eq!(
        r.filesystems[3].mountpoint,
        "/tmp/btrtune-metrics.v7nPPF/mixed"
    );
    assert_eq!(r.filesystems[3].used, Some(358_704 * KIB));
}

#[test]
fn df_human_sizes() {
    let r = df::parse(&fixture("df-h.txt"), "df-h.txt").unwrap();
    assert_eq!(r.units, df::DfUnits::Human { base: 1024 });
    assert!(!r.exact);
    let single = &r.filesystems[1];
    assert_eq!(single.size, Some(1_610_612_736)); // 1.5G
    assert_eq!(single.used, Some(557 << 20));
    assert_eq!(single.avail, Some(966 << 20));
    assert_eq!(r.filesystems[0].size, Some(252 << 30));
    let ht = df::parse(&fixture("df-hT.txt"), "df-hT.txt").unwrap();
    assert_eq!(ht.filesystems[1].fstype.as_deref(), Some("btrfs"));
    assert_eq!(ht.filesystems[1].size, single.size);
    assert_eq!(ht.filesystems[1].mountpoint, single.mountpoint);
}

#[test]
fn df_si_sizes() {
    let r = df::parse_si(&fixture("df-H.txt"), "df-H.txt").unwrap();
    assert_eq!(r.units, df::DfUnits::Human { base: 1000 });
    let single = &r.filesystems[1];
    assert_eq!(single.size, Some(1_700_000_000));
    assert_eq!(single.used, Some(584_000_000));
    assert_eq!(single.avail, Some(1_100_000_000));
    // The same text read as `-h` gives powers of 1024: the header cannot tell them apart.
    let as_h = df::parse(&fixture("df-H.txt"), "df-H.txt").unwrap();
    assert_eq!(as_h.filesystems[1].used, Some(584 << 20));
}

#[test]
fn df_full_filesystem_has_zero_available() {
    let r = df::parse(&fixture("df-full.txt"), "df-full.txt").unwrap();
    let f = &r.filesystems[0];
    assert_eq!(f.avail, Some(0));
    assert_eq!(f.use_percent, Some(100.0));
    assert_eq!(f.used, Some(1_232_512 * KIB));
}

/// Old coreutils put a long source alone on its line and the rest, indented, on the next.
/// Re-wrapping the captured rows that way must give the same entries.
#[test]
fn df_wrapped_source_lines() {
    for name in ["df.txt", "df-T.txt", "df-hT.txt"] {
        let text = fixture(name);
        let mut lines = text.lines();
        let mut wrapped = format!("{}\n", lines.next().unwrap());
        for l in lines {
            let (source, rest) = l.split_once(' ').unwrap();
            wrapped.push_str(&format!("{source}\n{:20}{}\n", "", rest.trim_start()));
        }
        let a = df::parse(&text, name).unwrap();
        let b = df::parse(&wrapped, name).unwrap();
        assert_eq!(a, b, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// btrfs filesystem usage

#[test]
fn usage_single_device_human() {
    let u = btrfs_usage::parse(&fixture("btrfs-usage-single.txt"), "u").unwrap();
    assert!(!u.exact);
    let o = &u.overall;
    assert_eq!(o.device_size, 1_610_612_736); // 1.50GiB
    assert_eq!(o.device_allocated, (657.5 * MIB) as u64);
    assert_eq!(o.device_unallocated, (878.5 * MIB) as i64);
    assert_eq!(o.device_missing, 0);
    assert_eq!(o.device_slack, Some(0));
    assert_eq!(o.used, (551.28 * MIB).round() as u64);
    assert_eq!(o.free_estimated, (966.5 * MIB) as u64);
    assert_eq!(o.free_estimated_min, Some((527.25 * MIB) as u64));
    assert_eq!(o.free_statfs, Some((965.5 * MIB) as u64));
    assert_eq!((o.data_ratio, o.metadata_ratio), (1.0, 2.0));
    assert_eq!(o.global_reserve, (5.5 * MIB) as u64);
    assert_eq!(o.global_reserve_used, Some(0));
    assert_eq!(o.multiple_profiles, Some(false));
    assert!(o.other.is_empty());

    let kinds: Vec<_> = u
        .block_groups
        .iter()
        .map(|g| (g.kind.clone(), g.profile.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (BlockGroupKind::Data, Profile::Single),
            (BlockGroupKind::Metadata, Profile::Dup),
            (BlockGroupKind::System, Profile::Dup)
        ]
    );
    let meta = &u.block_groups[1];
    assert_eq!(meta.size, (76.75 * MIB) as u64);
    assert_eq!(meta.used_percent, Some(98.53));
    // DUP: the device holds two copies.
    assert_eq!(meta.per_device[0].device, "/dev/loop0");
    assert_eq!(meta.per_device[0].bytes, (153.5 * MIB) as u64);
    assert_eq!(u.unallocated.len(), 1);
    assert_eq!(u.unallocated[0].bytes, (878.5 * MIB) as i64);
}

/// Human and `-b` captures of one filesystem agree within the rounding of 3 significant
/// digits.
#[test]
fn usage_human_and_raw_agree() {
    for fs in ["single", "raid1", "mixed", "full", "degraded"] {
        let h = btrfs_usage::parse(&fixture(&format!("btrfs-usage-{fs}.txt")), fs).unwrap();
        let b = btrfs_usage::parse(&fixture(&format!("btrfs-usage-b-{fs}.txt")), fs).unwrap();
        assert!(b.exact && !h.exact, "{fs}");
        let close = |x: u64, y: u64| x.abs_diff(y) <= y / 200 + 8192;
        assert!(close(h.overall.device_size, b.overall.device_size), "{fs}");
        assert!(
            close(h.overall.device_allocated, b.overall.device_allocated),
            "{fs}"
        );
        assert_eq!(h.block_groups.len(), b.block_groups.len(), "{fs}");
        for (x, y) in h.block_groups.iter().zip(&b.block_groups) {
            assert_eq!((&x.kind, &x.profile), (&y.kind, &y.profile), "{fs}");
            assert!(close(x.size, y.size), "{fs} {}", x.kind);
            let devs = |g: &btrfs_usage::BlockGroup| {
                g.per_device
                    .iter()
                    .map(|d| d.device.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(devs(x), devs(y), "{fs}");
        }
    }
}

#[test]
fn usage_multi_device_raid1() {
    let u = btrfs_usage::parse(&fixture("btrfs-usage-raid1.txt"), "u").unwrap();
    let data = &u.block_groups[0];
    assert_eq!(
        (&data.kind, &data.profile),
        (&BlockGroupKind::Data, &Profile::Raid1)
    );
    let devs: Vec<(&str, u64)> = data
        .per_device
        .iter()
        .map(|d| (d.device.as_str(), d.bytes))
        .collect();
    assert_eq!(
        devs,
        [
            ("/dev/loop1", 736 << 20),
            ("/dev/loop2", 535 << 20),
            ("/dev/loop3", 1_331_439_862) // 1.24GiB, rounded
        ]
    );
    // Metadata and System went to the two larger devices only.
    assert_eq!(u.block_groups[1].per_device.len(), 2);
    let unalloc: Vec<(&str, i64)> = u
        .unallocated
        .iter()
        .map(|d| (d.device.as_str(), d.bytes))
        .collect();
    assert_eq!(
        unalloc,
        [
            ("/dev/loop1", 288 << 20),
            ("/dev/loop2", 225 << 20),
            ("/dev/loop3", 1 << 20)
        ]
    );

    let b = btrfs_usage::parse(&fixture("btrfs-usage-b-raid1.txt"), "b").unwrap();
    assert_eq!(b.overall.device_size, 3_758_096_384);
    assert_eq!(b.block_groups[0].size, 1_332_740_096);
    assert_eq!(b.block_groups[0].per_device[2].bytes, 1_332_740_096);
}

#[test]
fn usage_multiple_profiles() {
    let u = btrfs_usage::parse(&fixture("btrfs-usage-b-mixed.txt"), "u").unwrap();
    let o = &u.overall;
    assert_eq!(o.multiple_profiles, Some(true));
    assert_eq!(o.multiple_profiles_in, ["data"]);
    assert_eq!(o.data_ratio, 1.2);
    assert_eq!(o.free_estimated, 996_759_981);
    assert_eq!(o.free_estimated_min, Some(796_457_755));
    let data: Vec<&Profile> = u
        .block_groups
        .iter()
        .filter(|g| g.kind == BlockGroupKind::Data)
        .map(|g| &g.profile)
        .collect();
    assert_eq!(data, [&Profile::Single, &Profile::Raid1]);
    assert_eq!(u.block_groups[0].per_device[0].bytes, 444_596_224);
    assert_eq!(u.block_groups[1].used_percent, Some(42.31));
}

#[test]
fn usage_degraded_has_missing_disk() {
    let u = btrfs_usage::parse(&fixture("btrfs-usage-b-degraded.txt"), "u").unwrap();
    assert_eq!(u.overall.device_missing, 1_610_612_736);
    assert_eq!(u.block_groups[0].per_device[2].device, "<missing disk>");
    assert_eq!(u.block_groups[0].per_device[2].bytes, 1_332_740_096);
    assert_eq!(u.unallocated[2].device, "<missing disk>");
    assert_eq!(u.unallocated[2].bytes, 1_048_576);
}

#[test]
fn usage_full_filesystem() {
    let u = btrfs_usage::parse(&fixture("btrfs-usage-full.txt"), "u").unwrap();
    assert_eq!(u.overall.free_estimated, 0);
    assert_eq!(u.overall.free_statfs, Some(0));
    assert_eq!(u.overall.device_unallocated, 1 << 20);
    assert_eq!(u.block_groups[0].used_percent, Some(100.0));
    assert_eq!(u.block_groups[1].used_percent, Some(32.23));
}

// ---------------------------------------------------------------------------------------
// btrfs filesystem df

#[test]
fn btrfs_df_lines() {
    let d = btrfs_df::parse(&fixture("btrfs-df-single.txt"), "d").unwrap();
    assert!(!d.exact && d.warnings.is_empty());
    let rows: Vec<(String, String)> = d
        .entries
        .iter()
        .map(|e| (e.kind.to_string(), e.profile.to_string()))
        .collect();
    let want = [
        ("Data", "single"),
        ("System", "dup"),
        ("Metadata", "dup"),
        ("GlobalReserve", "single"),
    ];
    assert_eq!(rows, want.map(|(a, b)| (a.to_string(), b.to_string())));
    assert_eq!(d.entries[2].total, (76.75 * MIB) as u64);
    assert_eq!(d.entries[2].used, (75.62 * MIB).round() as u64);

    let b = btrfs_df::parse(&fixture("btrfs-df-b-single.txt"), "b").unwrap();
    assert!(b.exact);
    assert_eq!(
        (b.entries[2].total, b.entries[2].used),
        (80_478_208, 79_298_560)
    );
    assert_eq!(b.entries[3].total, 5_767_168);
    // The §7 rule (Metadata total <= used + GlobalReserve) fires here although 878 MiB are
    // unallocated: the kernel simply allocates another metadata chunk.
    assert!(b.metadata_full());
    let r = btrfs_df::parse(&fixture("btrfs-df-b-raid1.txt"), "r").unwrap();
    assert!(!r.metadata_full());
    assert_eq!(r.entries[0].profile, Profile::Raid1);
}

#[test]
fn btrfs_df_keeps_stderr_warnings() {
    let plain = btrfs_df::parse(&fixture("btrfs-df-mixed.txt"), "m").unwrap();
    let with = btrfs_df::parse(&fixture("btrfs-df-mixed-stderr.txt"), "m").unwrap();
    assert_eq!(plain.entries, with.entries);
    assert_eq!(with.warnings.len(), 2);
    assert!(with.warnings[1].contains("Data: single, raid1"));
    let data: Vec<_> = with
        .of_kind(&BlockGroupKind::Data)
        .map(|e| e.profile.clone())
        .collect();
    assert_eq!(data, [Profile::Single, Profile::Raid1]);
    let b = btrfs_df::parse(&fixture("btrfs-df-b-mixed.txt"), "b").unwrap();
    assert_eq!(b.entries[1].total, 218_103_808);
    let full = btrfs_df::parse(&fixture("btrfs-df-full.txt"), "f").unwrap();
    assert_eq!(full.entries[0].total, full.entries[0].used);
}

// ---------------------------------------------------------------------------------------
// btrfs device stats

#[test]
fn device_stats() {
    let s = device_stats::parse(&fixture("btrfs-device-stats-raid1.txt"), "s").unwrap();
    let devs: Vec<&str> = s.iter().map(|d| d.device.as_str()).collect();
    assert_eq!(devs, ["/dev/loop1", "/dev/loop2", "/dev/loop3"]);
    assert!(s.iter().all(|d| d.total() == 0 && d.other.is_empty()));
    assert_eq!(s[0].corruption_errs, Some(0));
    let c = device_stats::parse(&fixture("btrfs-device-stats-c-raid1.txt"), "c").unwrap();
    assert_eq!(c, s);
    let one = device_stats::parse(&fixture("btrfs-device-stats-single.txt"), "1").unwrap();
    assert_eq!(one.len(), 1);
    let m = device_stats::parse(&fixture("btrfs-device-stats-mixed.txt"), "m").unwrap();
    assert_eq!(m[1].device, "/dev/loop5");
    let dg = device_stats::parse(&fixture("btrfs-device-stats-degraded.txt"), "d").unwrap();
    assert_eq!(dg[2].device, "<missing disk>");
    assert_eq!(dg[2].generation_errs, Some(0));
}

// ---------------------------------------------------------------------------------------
// iostat

fn row<'a>(r: &'a iostat::IostatReport, sample: usize, dev: &str) -> &'a iostat::DeviceRow {
    r.samples[sample]
        .devices
        .iter()
        .find(|d| d.device == dev)
        .unwrap()
}

#[test]
fn iostat_sysstat12_extended() {
    let r = iostat::parse(&fixture("iostat-x.txt"), "iostat-x.txt").unwrap();
    assert_eq!(r.columns, iostat::ColumnSet::Sysstat12);
    assert!(!r.json);
    let h = r.host.as_ref().unwrap();
    assert_eq!(h.sysname.as_deref(), Some("Linux"));
    assert_eq!(h.release.as_deref(), Some("6.18.44-fc-v657"));
    assert_eq!(h.nodename.as_deref(), Some("vm"));
    assert_eq!(h.date.as_deref(), Some("11/21/26"));
    assert_eq!(h.machine.as_deref(), Some("x86_64"));
    assert_eq!(h.cpus, Some(2));
    assert_eq!(r.samples.len(), 3);
    assert!(
        r.samples
            .iter()
            .all(|s| s.devices.len() == 7 && s.avg_cpu.is_some())
    );
    let cpu = r.samples[1].avg_cpu.as_ref().unwrap();
    assert_eq!(
        (cpu.system, cpu.iowait, cpu.idle),
        (Some(66.16), Some(17.17), Some(10.10))
    );
    let l = row(&r, 1, "loop0");
    assert_eq!(l.writes_per_s, Some(5241.0));
    assert_eq!(l.write_bytes_per_s, Some(67336.0 * 1024.0));
    assert_eq!(l.write_request_bytes, Some(12.85 * 1024.0));
    assert_eq!(l.flushes_per_s, Some(826.0));
    assert_eq!(l.flush_await_ms, Some(0.43));
    assert_eq!(l.write_await_ms, Some(0.65));
    assert_eq!(l.queue_size, Some(3.74));
    assert_eq!(l.util_pct, Some(76.8));
    assert_eq!(l.service_ms, None);
    assert_eq!(l.await_ms, None);
    assert!(l.other.is_empty());
    // The since-boot sample: mkfs discarded the whole loop device in one go.
    assert_eq!(
        row(&r, 0, "loop0").discard_request_bytes,
        Some(911_716.17 * 1024.0)
    );
    assert_eq!(row(&r, 2, "vda").writes_per_s, Some(12696.0));

    let k = iostat::parse(&fixture("iostat-x-k.txt"), "k").unwrap();
    assert_eq!(k.samples.len(), 3);
    assert_eq!(k.columns, iostat::ColumnSet::Sysstat12);
}

#[test]
fn iostat_megabytes_device_only_and_timestamps() {
    let m = iostat::parse(&fixture("iostat-x-m.txt"), "m").unwrap();
    assert_eq!(row(&m, 1, "loop0").write_bytes_per_s, Some(65.76 * MIB));
    assert_eq!(
        row(&m, 1, "loop0").write_request_bytes,
        Some(12.85 * 1024.0)
    );

    let d = iostat::parse(&fixture("iostat-x-d.txt"), "d").unwrap();
    assert_eq!(d.samples.len(), 3);
    assert!(
        d.samples
            .iter()
            .all(|s| s.avg_cpu.is_none() && s.devices.len() == 7)
    );
    assert_eq!(row(&d, 2, "loop0").writes_per_s, Some(6161.0));

    let t = iostat::parse(&fixture("iostat-x-t.txt"), "t").unwrap();
    let times: Vec<_> = t
        .samples
        .iter()
        .map(|s| s.timestamp.as_deref().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "11/21/26 10:21:24",
            "11/21/26 10:21:25",
            "11/21/26 10:21:26"
        ]
    );
    assert_eq!(row(&t, 1, "loop0").writes_per_s, Some(5239.0));
}

#[test]
fn iostat_json() {
    let r = iostat::parse(&fixture("iostat-x-json.json"), "j").unwrap();
    assert!(r.json);
    assert_eq!(r.columns, iostat::ColumnSet::Sysstat12);
    assert_eq!(r.host.as_ref().unwrap().cpus, Some(2));
    assert_eq!(r.samples.len(), 3);
    assert_eq!(r.samples[1].avg_cpu.as_ref().unwrap().system, Some(66.67));
    let l = row(&r, 1, "loop0");
    assert_eq!(l.writes_per_s, Some(5237.0));
    assert_eq!(l.flushes_per_s, Some(826.0));
    assert_eq!(l.write_bytes_per_s, Some(67272.0 * 1024.0));
    assert!(l.util_pct.is_some() && l.write_merges_pct.is_some());
    assert!(l.other.is_empty(), "{:?}", l.other);
    // The same devices as the text report.
    let text = iostat::parse(&fixture("iostat-x.txt"), "x").unwrap();
    let names = |r: &iostat::IostatReport| {
        r.samples[0]
            .devices
            .iter()
            .map(|d| d.device.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&r), names(&text));
}

#[test]
fn iostat_sysstat11_classic_columns() {
    let r = iostat::parse(&fixture("iostat11.4.3-x.txt"), "11.4").unwrap();
    assert_eq!(r.columns, iostat::ColumnSet::Sysstat11Classic);
    assert_eq!(r.samples.len(), 3);
    let l = row(&r, 1, "loop0");
    assert_eq!(l.writes_per_s, Some(5253.0));
    assert_eq!(l.write_bytes_per_s, Some(67488.0 * 1024.0));
    assert_eq!(l.request_bytes, Some(25.70 * 512.0)); // avgrq-sz is in sectors
    assert_eq!(l.queue_size, Some(3.74));
    assert_eq!(l.await_ms, Some(0.65));
    assert_eq!(l.service_ms, Some(0.15));
    assert_eq!(l.util_pct, Some(76.8));
    assert_eq!(l.write_merges_per_s, Some(0.0));
    assert_eq!(l.flushes_per_s, None);
    assert_eq!(l.write_request_bytes, None);
}

#[test]
fn iostat_sysstat11_late_columns_text_and_json() {
    let r = iostat::parse(&fixture("iostat11.6.1-x.txt"), "11.6").unwrap();
    assert_eq!(r.columns, iostat::ColumnSet::Sysstat11Late);
    let l = row(&r, 2, "loop0");
    assert_eq!(l.writes_per_s, Some(6144.0));
    assert_eq!(l.write_request_bytes, Some(12.97 * 1024.0));
    assert_eq!(l.service_ms, Some(0.12));
    assert_eq!(l.util_pct, Some(74.8));
    let j = iostat::parse(&fixture("iostat11.6.1-x-json.json"), "11.6j").unwrap();
    assert_eq!(j.columns, iostat::ColumnSet::Sysstat11Late);
    assert_eq!(row(&j, 1, "loop0").writes_per_s, Some(5265.0));
    assert!(row(&j, 1, "loop0").service_ms.is_some());
}

// ---------------------------------------------------------------------------------------
// iotop

#[test]
fn iotop_python_without_delay_accounting() {
    let r = iotop::parse(&fixture("iotop-py.txt"), "py").unwrap();
    assert_eq!(r.flavor, iotop::IotopFlavor::Python);
    assert_eq!(r.delay_accounting, iotop::DelayAccounting::Off);
    assert!(!r.processes && !r.accumulated);
    assert_eq!(r.iterations.len(), 3);
    let it = &r.iterations[0];
    assert_eq!(it.total_write_bytes_per_s, Some(326.0 * MIB));
    assert_eq!(it.current_write_bytes_per_s, Some(24.43 * MIB));
    assert_eq!(it.total_read_bytes_per_s, Some(0.0));
    let first = &it.threads[0];
    assert_eq!(first.tid, 31105);
    assert_eq!((first.prio.as_str(), first.user.as_str()), ("be/4", "root"));
    assert_eq!(first.write_bytes_per_s, 137.58 * MIB);
    assert_eq!((first.swapin_pct, first.io_pct), (None, None));
    assert_eq!(first.command, "[kworker/u8:7-loop2]");
    assert!(
        it.threads
            .iter()
            .any(|t| t.command.starts_with("fio --name=x --rw=randwrite"))
    );
    let read_row = r.iterations[1]
        .threads
        .iter()
        .find(|t| t.tid == 30180)
        .unwrap();
    assert_eq!(read_row.read_bytes_per_s, 3.98 * 1024.0);
}

#[test]
fn iotop_c_without_delay_accounting() {
    let r = iotop::parse(&fixture("iotop-c.txt"), "c").unwrap();
    assert_eq!(r.flavor, iotop::IotopFlavor::C);
    assert_eq!(r.delay_accounting, iotop::DelayAccounting::Off);
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.iterations.len(), 3);
    // iotop-c's first refresh has no deltas yet.
    assert!(r.iterations[0].threads.is_empty());
    assert_eq!(r.iterations[1].threads.len(), 10);
    assert_eq!(
        r.iterations[1].total_read_bytes_per_s,
        Some(1239.60 * 1024.0)
    );
    let fio = r.iterations[1]
        .threads
        .iter()
        .find(|t| t.tid == 31295)
        .unwrap();
    assert_eq!(fio.command, "fio");
    assert_eq!(fio.write_bytes_per_s, 34.04 * MIB);
    // Printed as 0.00 %, but not measured.
    assert_eq!((fio.swapin_pct, fio.io_pct), (None, None));
    assert_eq!(
        r.iterations[1].threads[0].command,
        "kworker/u8:6-ext4-rsv-conversion"
    );
}

#[test]
fn iotop_with_delay_accounting() {
    let py = iotop::parse(&fixture("iotop-py-delayacct.txt"), "py").unwrap();
    assert_eq!(py.delay_accounting, iotop::DelayAccounting::On);
    let t = py.iterations[1]
        .threads
        .iter()
        .find(|t| t.tid == 31381)
        .unwrap();
    assert_eq!((t.swapin_pct, t.io_pct), (Some(0.0), Some(65.40)));
    assert_eq!(
        py.iterations[1].total_write_bytes_per_s,
        Some(2.06 * 1024.0 * MIB)
    );
    let c = iotop::parse(&fixture("iotop-c-delayacct.txt"), "c").unwrap();
    assert_eq!(c.flavor, iotop::IotopFlavor::C);
    assert_eq!(c.delay_accounting, iotop::DelayAccounting::On);
    assert!(c.warnings.is_empty());
    let t = c.iterations[1]
        .threads
        .iter()
        .find(|t| t.tid == 31382)
        .unwrap();
    assert_eq!(t.io_pct, Some(66.20));
    assert_eq!(
        c.iterations[2].current_write_bytes_per_s,
        Some(497.69 * MIB)
    );
}

// ---------------------------------------------------------------------------------------
// /proc/pressure/io

#[test]
fn pressure() {
    let p = psi::parse(&fixture("psi-io-idle.txt"), "p").unwrap();
    assert_eq!(p.some.avg10, 14.76);
    assert_eq!(p.some.total_us, 55_328_313);
    let full = p.full.unwrap();
    assert_eq!((full.avg60, full.avg300), (1.87, 1.06));
    let l = psi::parse(&fixture("psi-io-load.txt"), "l").unwrap();
    assert_eq!(l.some.avg10, 20.24);
    assert!(l.some.total_us > p.some.total_us);
}

// ---------------------------------------------------------------------------------------
// More output forms: df -P, usage -T, non-root runs, device stats -T, iotop -t/-P/-a

#[test]
fn df_posix_format() {
    let p = df::parse(&fixture("df-P.txt"), "df-P.txt").unwrap();
    assert_eq!(p.units, df::DfUnits::Blocks { block_size: 1024 });
    let single = &p.filesystems[1];
    assert_eq!(single.used, Some(570_144 * KIB));
    assert_eq!(single.use_percent, Some(37.0)); // the `Capacity` column
    assert_eq!(single.mountpoint, "/tmp/btrtune-metrics.v7nPPF/mnt single");
}

/// The tabular (`-T`) and linear captures of one filesystem describe the same chunks.
#[test]
fn usage_tabular_matches_linear() {
    for fs in ["raid1", "mixed", "degraded"] {
        let t = btrfs_usage::parse(&fixture(&format!("btrfs-usage-T-{fs}.txt")), fs).unwrap();
        let l = btrfs_usage::parse(&fixture(&format!("btrfs-usage-{fs}.txt")), fs).unwrap();
        assert!(t.tabular && !l.tabular, "{fs}");
        assert_eq!(t.block_groups.len(), l.block_groups.len(), "{fs}");
        for (a, b) in t.block_groups.iter().zip(&l.block_groups) {
            assert_eq!(
                (&a.kind, &a.profile, a.size),
                (&b.kind, &b.profile, b.size),
                "{fs}"
            );
            assert_eq!(a.per_device, b.per_device, "{fs}");
            assert_eq!(a.used_percent, None);
        }
        assert_eq!(t.unallocated, l.unallocated, "{fs}");
        assert_eq!(t.overall.device_size, l.overall.device_size, "{fs}");
        assert!(l.device_sizes.is_empty());
    }
    let t = btrfs_usage::parse(&fixture("btrfs-usage-T-raid1.txt"), "t").unwrap();
    let sizes: Vec<(&str, u64)> = t
        .device_sizes
        .iter()
        .map(|d| (d.device.as_str(), d.bytes))
        .collect();
    assert_eq!(
        sizes,
        [
            ("/dev/loop1", 1 << 30),
            ("/dev/loop2", 1 << 30),
            ("/dev/loop3", 1_610_612_736)
        ]
    );
    assert_eq!(t.block_groups[0].used, (710.41 * MIB).round() as u64);
    // loop1 holds no metadata: `-` in the table.
    assert_eq!(t.block_groups[1].per_device.len(), 2);
    let d = btrfs_usage::parse(&fixture("btrfs-usage-T-degraded.txt"), "d").unwrap();
    assert_eq!(d.device_sizes[2].device, "<missing disk>");
    let m = btrfs_usage::parse(&fixture("btrfs-usage-T-mixed.txt"), "m").unwrap();
    assert_eq!(m.block_groups[1].profile, Profile::Raid1);
    assert_eq!(m.block_groups[1].used, 88 << 20);
}

#[test]
fn usage_as_non_root() {
    let n = btrfs_usage::parse(&fixture("btrfs-usage-nonroot.txt"), "n").unwrap();
    assert!(n.warnings[0].starts_with("WARNING: cannot read detailed chunk info"));
    // `Device slack: 16.00EiB` is a wrapped negative number: dropped, with a note.
    assert_eq!(n.overall.device_slack, None);
    assert!(n.warnings.iter().any(|w| w.contains("16.00EiB")));
    assert_eq!(n.block_groups.len(), 3);
    assert!(n.block_groups.iter().all(|g| g.per_device.is_empty()));
    assert!(n.unallocated.is_empty());
    let root = btrfs_usage::parse(&fixture("btrfs-usage-single.txt"), "r").unwrap();
    assert_eq!(n.overall.device_size, root.overall.device_size);
    assert_eq!(n.overall.used, root.overall.used);
    assert_eq!(n.block_groups[0].size, root.block_groups[0].size);
}

#[test]
fn device_stats_tabular_and_non_root() {
    let t = device_stats::parse(&fixture("btrfs-device-stats-T-raid1.txt"), "t").unwrap();
    let b = device_stats::parse(&fixture("btrfs-device-stats-raid1.txt"), "b").unwrap();
    assert_eq!(t, b);
    let e = device_stats::parse(&fixture("btrfs-device-stats-nonroot.txt"), "nonroot")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("nonroot:1:"), "{e}");
    assert!(
        e.contains("Operation not permitted") && e.contains("needs root"),
        "{e}"
    );
}

#[test]
fn iotop_time_processes_and_accumulated() {
    let py = iotop::parse(&fixture("iotop-py-tP.txt"), "py").unwrap();
    assert!(py.processes);
    assert_eq!(py.flavor, iotop::IotopFlavor::Python);
    assert_eq!(py.iterations.len(), 2);
    assert_eq!(py.iterations[0].time.as_deref(), Some("10:21:24"));
    assert_eq!(py.iterations[0].total_write_bytes_per_s, Some(250.81 * MIB));
    let r = &py.iterations[0].threads[0];
    assert_eq!((r.time.as_deref(), r.tid), (Some("10:21:24"), 30181));
    assert!(
        py.iterations[1]
            .threads
            .iter()
            .any(|t| t.command == "iostat -x -o JSON 1 3")
    );
    let small = py.iterations[0]
        .threads
        .iter()
        .find(|t| t.tid == 31105)
        .unwrap();
    assert_eq!(small.write_bytes_per_s, 411.59 * 1024.0);

    let c = iotop::parse(&fixture("iotop-c-tP.txt"), "c").unwrap();
    assert!(c.processes);
    assert_eq!(c.flavor, iotop::IotopFlavor::C);
    assert_eq!(c.delay_accounting, iotop::DelayAccounting::Off);
    assert_eq!(
        c.iterations[1].time.as_deref(),
        Some("Sat Nov 21 10:21:25 2026")
    );
    assert_eq!(c.iterations[1].threads.len(), 10);

    let a = iotop::parse(&fixture("iotop-py-a.txt"), "a").unwrap();
    assert!(a.accumulated);
    let first = &a.iterations[0].threads[0];
    assert_eq!(
        (first.tid, first.write_bytes_per_s),
        (30181, 1892.0 * 1024.0)
    );
    // The summary lines stay rates.
    assert_eq!(a.iterations[0].total_write_bytes_per_s, Some(1013.73 * MIB));
}

// ---------------------------------------------------------------------------------------
// Malformed input (hand-written; the only hand-written inputs in this file)

type Parser = fn(&str, &str) -> Result<(), AdvisorError>;

fn parsers() -> Vec<(&'static str, Parser)> {
    vec![
        ("df", |t, o| df::parse(t, o).map(drop)),
        ("btrfs-usage", |t, o| btrfs_usage::parse(t, o).map(drop)),
        ("btrfs-df", |t, o| btrfs_df::parse(t, o).map(drop)),
        ("device-stats", |t, o| device_stats::parse(t, o).map(drop)),
        ("iostat", |t, o| iostat::parse(t, o).map(drop)),
        ("iotop", |t, o| iotop::parse(t, o).map(drop)),
        ("psi", |t, o| psi::parse(t, o).map(drop)),
    ]
}

#[test]
fn malformed_inputs_name_origin_and_line() {
    // (parser, what is wrong, input, line the error must name)
    let cases: &[(&str, &str, &str, usize)] = &[
        (
            "df",
            "wrong header",
            "Filesystem Foo Bar Mounted on\n/dev/sda 1 2 /\n",
            1,
        ),
        ("df", "not df at all", "hello world\n", 1),
        (
            "df",
            "truncated row",
            "Filesystem 1K-blocks Used Available Use% Mounted on\n/dev/sda 100 50 50\n",
            2,
        ),
        (
            "df",
            "non-numeric size",
            "Filesystem 1K-blocks Used Available Use% Mounted on\n/dev/sda 10 5 5 50% /\n/dev/sdb 1O0 5 5 5% /b\n",
            3,
        ),
        (
            "df",
            "bad percentage",
            "Filesystem Size Used Avail Use% Mounted on\n/dev/sda 1G 1G 0 full /\n",
            2,
        ),
        (
            "btrfs-usage",
            "wrong header",
            "Summary:\n    Device size: 1.00GiB\n",
            1,
        ),
        (
            "btrfs-usage",
            "truncated Overall",
            "\nOverall:\n    Device size:\t\t1.00GiB\n",
            2,
        ),
        (
            "btrfs-usage",
            "non-numeric size",
            "Overall:\n    Device size:\t\tlots\n    Device allocated: 1\n    Device unallocated: 1\n    Device missing: 0\n    Used: 1\n    Free (estimated): 1\n    Data ratio: 1.00\n    Metadata ratio: 2.00\n    Global reserve: 1\n",
            2,
        ),
        (
            "btrfs-usage",
            "bad block-group line",
            "Overall:\n    Device size: 1\nData single Size 1\n",
            3,
        ),
        (
            "btrfs-usage",
            "bad per-device size",
            "Overall:\n    Device size: 1\nData,single: Size:1.00GiB, Used:1.00GiB\n   /dev/sda\t1.00XB\n",
            4,
        ),
        ("btrfs-df", "wrong line", "Data single total 1\n", 1),
        (
            "btrfs-df",
            "non-numeric total",
            "Data, single: total=1.00GiB, used=1.00GiB\nMetadata, DUP: total=abc, used=0.00B\n",
            2,
        ),
        (
            "btrfs-df",
            "missing used",
            "Data, single: total=1.00GiB\n",
            1,
        ),
        (
            "device-stats",
            "no brackets",
            "/dev/sda.write_io_errs 0\n",
            1,
        ),
        (
            "device-stats",
            "non-numeric counter",
            "[/dev/sda].write_io_errs    0\n[/dev/sda].read_io_errs     many\n",
            2,
        ),
        ("device-stats", "truncated", "[/dev/sda].write_io_errs\n", 1),
        (
            "iostat",
            "truncated row",
            "Device r/s w/s %util\nsda 1.00 2.00\n",
            2,
        ),
        (
            "iostat",
            "non-numeric value",
            "avg-cpu:  %user %idle\n          1.00  x\n",
            2,
        ),
        (
            "iostat",
            "garbage between blocks",
            "Device r/s\nsda 1.00\n\nhello there\n",
            4,
        ),
        (
            "iostat",
            "truncated avg-cpu",
            "\n\navg-cpu:  %user %idle\n",
            3,
        ),
        (
            "iostat",
            "truncated JSON",
            "{\"sysstat\": {\"hosts\": [\n",
            2,
        ),
        (
            "iostat",
            "wrong JSON structure",
            "{\n\"sysstat\": {\"hosts\": [{\"statistics\": [{\"disk\": 5}]}]}}\n",
            2,
        ),
        (
            "iotop",
            "bad unit",
            "Total DISK READ: 0.00 B/s | Total DISK WRITE: 0.00 B/s\n  TID  PRIO  USER     DISK READ  DISK WRITE  SWAPIN      IO    COMMAND\n 1 be/4 root 1.00 X/s 0.00 B/s ?unavailable? init\n",
            3,
        ),
        (
            "iotop",
            "truncated row",
            "Total DISK READ: 0.00 B/s | Total DISK WRITE: 0.00 B/s\n 12 be/4 root 1.00 B/s\n",
            2,
        ),
        (
            "iotop",
            "non-numeric tid",
            "Total DISK READ: 0.00 B/s | Total DISK WRITE: 0.00 B/s\nabc be/4 root 1.00 B/s 0.00 B/s 0.00 % 0.00 % x\n",
            2,
        ),
        (
            "iotop",
            "bad total",
            "Total DISK READ: fast | Total DISK WRITE: 0.00 B/s\n",
            1,
        ),
        (
            "psi",
            "non-numeric",
            "some avg10=0.00 avg60=abc avg300=0.00 total=1\n",
            1,
        ),
        (
            "psi",
            "wrong prefix",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nhalf avg10=0.00\n",
            2,
        ),
        ("psi", "truncated", "some avg10=0.00 avg60=0.00\n", 1),
    ];
    let table = parsers();
    for (which, what, input, line) in cases {
        let (_, parse) = table.iter().find(|(n, _)| n == which).unwrap();
        let origin = format!("<{which} {what}>");
        let e = parse(input, &origin).expect_err(&format!("{which}: {what} should fail"));
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{origin}:{line}:")),
            "{which}: {what}: expected `{origin}:{line}:`, got `{shown}`"
        );
        match &e {
            AdvisorError::Input { message, .. } => assert!(
                message.contains("expected"),
                "{which}: {what}: the message says what was expected: {message}"
            ),
            other => panic!("{which}: {what}: not an Input error: {other:?}"),
        }
    }
}

#[test]
fn empty_input_is_an_error_for_every_parser() {
    for (name, parse) in parsers() {
        let e = parse("", "<empty>").expect_err(name);
        assert!(e.to_string().starts_with("<empty>"), "{name}: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// No input panics a parser

fn all_fixture_texts() -> Vec<String> {
    FIXTURES.iter().map(|(n, _)| fixture(n)).collect()
}

fn run_all(text: &str) {
    for (_, parse) in parsers() {
        let _ = parse(text, "<prop>");
    }
    let _ = df::parse_si(text, "<prop>");
    let _ = parse_any(text, "<prop>");
    let _ = observe::classify(text);
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
    DuplicateLine(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        Just(' '),
        Just('\t'),
        Just('\n'),
        Just('-'),
        Just('.'),
        Just(','),
        Just('%'),
        Just(':'),
        Just('['),
        Just(']'),
        Just('('),
        Just('{'),
        Just('"'),
        Just('9'),
        Just('0'),
        Just('é'),
        Just('\u{0}'),
        any::<char>(),
    ];
    prop_oneof![
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match *e {
            Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
            Edit::Delete(i) if !chars.is_empty() => {
                chars.remove(i % n);
            }
            Edit::Replace(i, c) if !chars.is_empty() => chars[i % n] = c,
            Edit::DuplicateLine(i) => {
                let s: String = chars.iter().collect();
                let lines: Vec<&str> = s.split('\n').collect();
                let k = i % lines.len();
                let mut out: Vec<&str> = lines.clone();
                out.insert(k, lines[k]);
                chars = out.join("\n").chars().collect();
            }
            Edit::Truncate(i) => chars.truncate(i % n),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        run_all(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        run_all(&text);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        let texts = all_fixture_texts();
        run_all(&apply(&texts[which], &edits));
    }
}

// ---------------------------------------------------------------------------------------
// Observations

#[test]
fn observations_from_the_issue() {
    let cases: &[(&str, Symptom, &[&str])] = &[
        (
            "podman pulls are slow",
            Symptom::SlowContainerPulls,
            &["podman", "pulls", "slow"],
        ),
        (
            "IDE freezes on save",
            Symptom::IdeFreezes,
            &["ide", "freezes", "on save"],
        ),
        (
            "postgres commits take forever",
            Symptom::SlowDbWrites,
            &["postgres", "commits", "take forever"],
        ),
        (
            "nix builds are slow",
            Symptom::SlowBuilds,
            &["nix builds", "slow"],
        ),
        (
            "firefox hangs when I type",
            Symptom::BrowserStutter,
            &["firefox", "hangs"],
        ),
        (
            "the whole system stutters during updates",
            Symptom::GeneralSluggishness,
            &["whole system", "stutters"],
        ),
    ];
    for (text, symptom, triggers) in cases {
        let o = observe::classify(text);
        assert_eq!(o.text, *text);
        let m = o
            .matches
            .iter()
            .find(|m| m.symptom == *symptom)
            .unwrap_or_else(|| panic!("{text}: {o:?}"));
        assert_eq!(m.category, symptom.category());
        assert_eq!(m.triggers, *triggers, "{text}");
        assert!(m.confidence >= 0.8, "{text}: {}", m.confidence);
    }
    let updates = observe::classify("the whole system stutters during updates");
    assert_eq!(
        updates.categories().into_iter().collect::<Vec<_>>(),
        [Category::GeneralSluggishness, Category::BootAndUpdates]
    );
    assert_eq!(
        observe::classify("podman pulls are slow").matches[0].category,
        Category::Containers
    );
    assert_eq!(
        observe::classify("postgres queries are slow").matches[0].symptom,
        Symptom::SlowDbReads
    );
}

#[test]
fn observations_about_space() {
    for text in [
        "disk full",
        "rsync: No space left on device (28)",
        "ENOSPC during nixos-rebuild",
        "we ran out of space",
    ] {
        let o = observe::classify(text);
        let m = o
            .matches
            .iter()
            .find(|m| m.symptom == Symptom::Enospc)
            .unwrap_or_else(|| panic!("{text}: {o:?}"));
        assert_eq!(m.category, Category::Space);
        assert!(m.confidence >= 0.9);
    }
}

#[test]
fn unknown_text_is_kept_without_match() {
    let all = observe::classify_all(["the weather is nice", "docker builds crawl", ""]);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].text, "the weather is nice");
    assert!(all[0].is_unmatched());
    assert!(!all[1].is_unmatched());
    assert!(all[2].is_unmatched());
    // A workload named without a complaint is a weak match.
    let weak = observe::classify("we run postgres");
    assert_eq!(weak.matches[0].symptom, Symptom::SlowDbWrites);
    assert!(weak.matches[0].confidence < 0.5);
}

#[test]
fn symptom_names_parse_and_list_valid_names_on_error() {
    for s in Symptom::ALL {
        assert_eq!(s.name().parse::<Symptom>().unwrap(), s);
        assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        assert_eq!(s.to_string(), s.name());
        let o = s.observation();
        assert_eq!(o.matches[0].category, s.category());
    }
    assert_eq!(
        "SLOW_DB_WRITES".parse::<Symptom>().unwrap(),
        Symptom::SlowDbWrites
    );
    let e = "slow-build".parse::<Symptom>().unwrap_err();
    assert_eq!(e.suggestion, Some("slow-builds"));
    let msg = e.to_string();
    assert!(msg.contains("did you mean `slow-builds`?"), "{msg}");
    for s in Symptom::ALL {
        assert!(msg.contains(s.name()), "{msg} lists {s}");
    }
    let far = "quantum".parse::<Symptom>().unwrap_err();
    assert_eq!(far.suggestion, None);
    // Every category has a symptom.
    for c in Category::ALL {
        assert!(Symptom::ALL.iter().any(|s| s.category() == c), "{c}");
        assert_eq!(serde_json::to_value(c).unwrap(), c.name());
    }
}

#[test]
fn vocabulary_is_well_formed() {
    let word_ok =
        |w: &str| !w.is_empty() && w.chars().all(|c| c.is_alphanumeric() && !c.is_uppercase());
    let phrase_ok = |p: &str| p.split(' ').all(word_ok);
    let mut seen = std::collections::BTreeSet::new();
    for cue in observe::CUES {
        assert!(
            phrase_ok(cue.phrase),
            "cue `{}` must be lowercase words separated by single spaces",
            cue.phrase
        );
        assert!(
            seen.insert(cue.phrase),
            "cue `{}` appears twice",
            cue.phrase
        );
        assert!(
            !observe::COMPLAINTS.contains(&cue.phrase),
            "`{}` is both a cue and a complaint",
            cue.phrase
        );
        if cue.kind == CueKind::Refine {
            assert!(
                observe::CUES.iter().any(|c| c.kind == CueKind::Subject
                    && c.symptom.category() == cue.symptom.category()),
                "refine cue `{}` has a subject in its category",
                cue.phrase
            );
        }
    }
    for c in observe::COMPLAINTS.iter().chain(observe::NEGATIONS) {
        assert!(phrase_ok(c), "`{c}` must be lowercase words");
    }
    let mut complaints = std::collections::BTreeSet::new();
    for c in observe::COMPLAINTS {
        assert!(complaints.insert(c), "complaint `{c}` appears twice");
    }
    // Every symptom can be reached from text.
    for s in Symptom::ALL {
        assert!(
            observe::CUES
                .iter()
                .any(|c| c.symptom == s && c.kind != CueKind::Refine)
                || observe::CUES.iter().any(|c| c.symptom == s),
            "{s} has a cue"
        );
        let cue = observe::CUES.iter().find(|c| c.symptom == s).unwrap();
        let subject = observe::CUES
            .iter()
            .find(|c| c.kind == CueKind::Subject && c.symptom.category() == s.category())
            .map_or("", |c| c.phrase);
        let text = match cue.kind {
            CueKind::Refine => format!("{subject} {} is slow", cue.phrase),
            _ => format!("{} is slow", cue.phrase),
        };
        let o = observe::classify(&text);
        assert!(
            o.matches.iter().any(|m| m.symptom == s),
            "`{text}` gives {s}: {o:?}"
        );
    }
}

/// Found by `cargo fuzz run device_stats`: a `-T` header without counter columns.
#[test]
fn fuzz_regression_table_without_columns() {
    let e = btrtune_advisor::metrics::device_stats::parse("Id Path\n 1  0\n", "stats.txt")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("stats.txt:1:"), "{e}");
}
