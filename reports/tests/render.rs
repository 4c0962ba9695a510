//! Rendering a report of every kind from plain input: each chart has data, the page stands
//! alone, the output is the same bytes every time, names are escaped, and a write is whole.

use btrtune_advisor::hardware::DeviceClass;
use btrtune_advisor::layout::{
    BtrfsFilesystem, Compression, Content, DataPolicy, Disk, DiskContent, FsOptions, Layout,
    Purpose, Snapshots, SubvolMount, Subvolume, SystemSettings, VfsOptions,
};
use btrtune_advisor::model::set::ModelSet;
use btrtune_reports::{
    ChartKind, Comparison, DiagnosisInput, Latency, NamedLayout, ProjectedInput,
    RecommendationInput, ReportError, ReportInput, RunPoint, render, write,
};

fn subvol(name: &str, mp: &str, purpose: Purpose, nocow: bool, snapshots: bool) -> Subvolume {
    let mut data = DataPolicy::new(purpose);
    data.nocow = nocow;
    if snapshots {
        data.snapshots = Snapshots::Timeline {
            hourly: 24,
            daily: 7,
            weekly: 0,
            monthly: 0,
            consistency: btrtune_advisor::layout::Consistency::Any,
        };
    }
    Subvolume {
        name: name.into(),
        mount: Some(SubvolMount {
            mountpoint: mp.into(),
            vfs: VfsOptions::noatime(),
            fs_override: None,
        }),
        data,
        swapfiles: vec![],
        extra_args: vec![],
    }
}

fn layout(nocow: bool) -> Layout {
    Layout {
        schema_version: btrtune_advisor::layout::SCHEMA_VERSION,
        disks: vec![Disk {
            name: "bench".into(),
            kind: Default::default(),
            device: "/dev/loop-under-test".into(),
            class: None,
            content: DiskContent::Whole {
                content: Content::Btrfs(BtrfsFilesystem {
                    mkfs: Default::default(),
                    options: FsOptions {
                        compress: Some(Compression::zstd(1)),
                        ..FsOptions::default()
                    },
                    top_level: None,
                    subvolumes: vec![
                        subvol("@data", "/data", Purpose::Database, nocow, false),
                        subvol("@root", "/", Purpose::System, false, true),
                        subvol("@root/<odd & name>", "/srv/x", Purpose::Cache, false, false),
                    ],
                    home_subvolumes: vec![],
                    hooks: Default::default(),
                    why: Default::default(),
                }),
            },
            why: None,
        }],
        nodev: vec![],
        system: SystemSettings::default(),
    }
}

/// Runs of the shipped model's workload on two layouts that the model knows.
fn input() -> ReportInput {
    let mut runs = Vec::new();
    for (layout, base) in [("cow", 1500.0), ("nocow", 2400.0), ("raw", 9000.0)] {
        for run in 0..4u32 {
            runs.push(RunPoint {
                class: DeviceClass::Ram,
                matrix: if layout == "raw" { "raw" } else { "default" }.into(),
                layout: layout.into(),
                variant: None,
                workload: "wal-postgresql".into(),
                metric: "commits_per_s".into(),
                value: base * (1.0 + 0.02 * f64::from(run)),
                latency: Some(Latency {
                    p50_ns: 1e9 / base,
                    p99_ns: 3e9 / base,
                }),
                mountpoint: (layout != "raw").then(|| "/data".to_string()),
                run,
            });
        }
    }
    let projected = ProjectedInput {
        mountpoint: "/var/lib/postgresql".into(),
        workload: "wal-postgresql".into(),
        metric: "commits_per_s".into(),
        status: "measured".into(),
        before: Some(1500.0),
        after: Some(2400.0),
        ratio: Some([1.6, 1.4, 1.8]),
        capped: false,
        changes: vec!["+nocow".into()],
    };
    ReportInput {
        title: "A <test> & report".into(),
        sources: vec!["results/x.jsonl".into()],
        generated: None,
        runs,
        layouts: vec![
            NamedLayout {
                group: "default".into(),
                name: "cow".into(),
                layout: layout(false),
            },
            NamedLayout {
                group: "default".into(),
                name: "nocow".into(),
                layout: layout(true),
            },
        ],
        models: Some(ModelSet::shipped().unwrap()),
        model_classes: None,
        diagnosis: Some(DiagnosisInput {
            class: "ram".into(),
            class_basis: "test".into(),
            missing: vec![],
            findings: vec![],
            recommendations: vec![
                RecommendationInput {
                    id: "R1".into(),
                    title: "Make /var/lib/postgresql NOCOW".into(),
                    disruption: "data-migration".into(),
                    risk: "medium".into(),
                    projections: vec![projected],
                    projection_note: None,
                },
                RecommendationInput {
                    id: "R2".into(),
                    title: "Set a sysctl".into(),
                    disruption: "live-remount".into(),
                    risk: "low".into(),
                    projections: vec![],
                    projection_note: Some("not calibrated: outside the models".into()),
                },
            ],
            combined: vec![],
        }),
        comparisons: vec![
            Comparison::from_paired_runs(
                "wal-postgresql",
                "commits_per_s",
                "current",
                "proposed",
                &[1500.0, 1520.0, 1490.0, 1510.0],
                &[2300.0, 2390.0, 2350.0, 2410.0],
                Some((1.6, 1.4, 1.8).into()),
            )
            .unwrap(),
            Comparison::from_runs(
                "fio-seqwrite-128k",
                "bytes_per_s",
                "current",
                "proposed",
                &[3e8, 3.1e8, 2.9e8],
                &[3.05e8, 2.95e8, 3.0e8],
                None,
            )
            .unwrap(),
        ],
    }
}

#[test]
fn every_kind_of_chart_has_data_and_the_page_stands_alone() {
    let r = render(&input()).unwrap();
    for kind in ChartKind::ALL {
        let charts: Vec<_> = r.charts.iter().filter(|c| c.kind == kind).collect();
        assert!(!charts.is_empty(), "no {} chart", kind.as_str());
        for c in charts {
            assert!(c.points > 0, "{}: no data", c.id);
            let svg = c.svg();
            assert_eq!(svg.matches("class=\"data\"").count(), c.points, "{}", c.id);
            assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
            assert!(
                r.html.contains(&format!(
                    "data-chart=\"{}\" data-kind=\"{}\" data-points=\"{}\"",
                    c.id,
                    kind.as_str(),
                    c.points
                )),
                "{}",
                c.id
            );
            assert!(r.markdown.contains(&format!("]({})", c.file)), "{}", c.file);
        }
    }
    for bad in ["http", "<script", "<link", "<img", "url("] {
        assert!(!r.html.contains(bad), "{bad}");
    }
    // Names are escaped wherever they appear.
    assert!(
        r.html
            .contains("<title>A &lt;test&gt; &amp; report</title>")
    );
    assert!(r.html.contains("&lt;odd &amp; name&gt;"));
    assert!(!r.html.contains("<odd"));
    assert!(r.markdown.starts_with("# A &lt;test&gt; & report\n"));
    // The model chart has the held-out layouts and the in-sample fit of the runs here.
    let fit = r
        .charts
        .iter()
        .find(|c| c.id == "model-fit:ram:wal-postgresql")
        .unwrap();
    let svg = fit.svg();
    assert!(svg.contains("(held out)") && svg.contains("(in-sample fit)"));
    // A recommendation without a projection is listed with why.
    assert!(
        r.html
            .contains("R2: Set a sysctl: not calibrated: outside the models")
    );
    // The raw device is drawn, not counted as the best layout.
    assert!(r.html.contains("best nocow"));
}

#[test]
fn the_same_input_renders_the_same_bytes() {
    let a = render(&input()).unwrap();
    let b = render(&input()).unwrap();
    assert_eq!(a, b);
    insta::assert_snapshot!(
        a.charts
            .iter()
            .map(|c| format!("{} {} {} {}x{}", c.id, c.file, c.points, c.width, c.height))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn nothing_to_report_is_an_error() {
    assert!(matches!(
        render(&ReportInput::default()),
        Err(ReportError::Empty)
    ));
}

#[test]
fn a_write_is_whole_and_says_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let w = write(&out, &input()).unwrap();
    assert_eq!(w.schema_version, btrtune_reports::SCHEMA_VERSION);
    assert_eq!(w.files[0], "report.html");
    for f in &w.files {
        assert!(out.join(f).is_file(), "{f}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["counts"]["comparison"], 1);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("btrtune-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A second report with fewer charts removes the first one's extra chart files.
    let fewer = ReportInput {
        comparisons: input().comparisons,
        ..ReportInput::default()
    };
    write(&out, &fewer).unwrap();
    let svgs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    assert_eq!(svgs, vec!["comparison-bench.svg".to_string()]);
    // A directory that cannot be made is an error naming it.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let e = write(&blocker.join("sub"), &input())
        .unwrap_err()
        .to_string();
    assert!(e.contains("file/sub"), "{e}");
}
