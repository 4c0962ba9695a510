//! `btrtune report` from the shipped results: the page renders in headless Chromium with
//! every kind of chart holding data and nothing fetched from outside, the committed example
//! is what the command writes today, and bad inputs are named.
//!
//! The Chromium test needs `chromium` (Debian: `chromium`, and `fonts-dejavu-core` for the
//! text). Without it, it skips; with `BTRTUNE_REQUIRE_TOOLS=1` (CI), it fails.
//! `BTRTUNE_BLESS=1` rewrites `reports/examples/shipped/` instead of comparing with it.

use assert_cmd::Command;
use predicates::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn btrtune() -> Command {
    let mut c = Command::cargo_bin("btrtune").expect("the btrtune binary is built");
    c.current_dir(root());
    c
}

/// The inputs of the shipped example: the RAM class's calibration and database runs, the
/// models, a diagnosis (of `tests/fixtures/diagnose/09-vm-images-cow-autodefrag`) and that
/// host's disko.nix.
const SHIPPED: &[&str] = &[
    "results/ram",
    "results/databases/ram/databases.jsonl",
    "results/models/models.json",
    "tests/fixtures/report/diagnosis.json",
    "tests/fixtures/diagnose/09-vm-images-cow-autodefrag/disko.nix",
];
const TITLE: &str = "btrtune: the shipped RAM-class results";

/// Writes the shipped example into `dir`; returns `--json`'s output.
fn shipped_report(dir: &Path) -> serde_json::Value {
    let out = btrtune()
        .arg("report")
        .args(SHIPPED)
        .args(["--title", TITLE, "--json", "-o"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const KINDS: [&str; 5] = [
    "throughput",
    "latency",
    "model-fit",
    "before-after",
    "layout",
];

/// Chromium's binary, or `None` (a skip, unless `BTRTUNE_REQUIRE_TOOLS=1`).
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var("BTRTUNE_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "chromium is required (BTRTUNE_REQUIRE_TOOLS=1): apt-get install chromium fonts-dejavu-core"
        );
        eprintln!("SKIPPED: no chromium (apt-get install chromium fonts-dejavu-core)");
    }
    found
}

/// Runs headless Chromium on `page` with `args`, killed after two minutes; returns stdout.
fn headless(bin: &Path, profile: &Path, args: &[String], page: &Path) -> Vec<u8> {
    let mut child = std::process::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // Nothing may be fetched: the page must stand alone.
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).unwrap();
        v
    });
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = reader.join().unwrap();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            assert!(status.success(), "chromium failed: {status}\n{err}");
            return out;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The chart figures of a DOM: (data-chart, data-points, data elements inside).
fn figures(dom: &str) -> Vec<(String, usize, usize)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let k = format!("{name}=\"");
        let i = tag.find(&k)? + k.len();
        Some(tag[i..i + tag[i..].find('"')?].to_string())
    };
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find("<figure class=\"chart\"") {
        let body = &rest[i..];
        let end = body.find("</figure>").expect("figures are closed");
        let fig = &body[..end];
        let tag = &fig[..fig.find('>').unwrap()];
        let id = attr(tag, "data-chart").expect("data-chart");
        let points: usize = attr(tag, "data-points").unwrap().parse().unwrap();
        let data = fig.matches("class=\"data\"").count();
        assert!(fig.contains("<svg"), "{id}: no inline svg");
        out.push((id, points, data));
        rest = &body[end..];
    }
    out
}

/// Nothing in the page refers to anything outside it.
fn assert_self_contained(html: &str) {
    for bad in [
        "http:", "https:", "<script", "<link", "<img", "<iframe", "url(", "@import", "src=",
    ] {
        assert!(!html.contains(bad), "the page has `{bad}`");
    }
    for (i, _) in html.match_indices("href=\"") {
        let v = &html[i + 6..];
        assert!(
            v.starts_with('#'),
            "a link out of the page: {}",
            &v[..v.len().min(60)]
        );
    }
}

#[test]
fn the_shipped_report_renders_in_headless_chromium_with_data_in_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let json = shipped_report(&out);
    let counts = &json["counts"];
    for k in KINDS {
        assert!(
            counts[k].as_u64().unwrap_or(0) > 0,
            "no {k} chart: {counts}"
        );
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_self_contained(&html);
    let Some(bin) = chromium() else {
        return;
    };
    let page = out.join("report.html");
    let profile = dir.path().join("chromium-profile");
    let shot = dir.path().join("shot.png");
    headless(
        &bin,
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,4000".into(),
        ],
        &page,
    );
    // The screenshot: the right size, and not blank.
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&shot).expect("chromium wrote the screenshot"),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 4000));
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let mut colours: BTreeMap<&[u8], usize> = BTreeMap::new();
    for p in &pixels {
        *colours.entry(&p[..3.min(px)]).or_default() += 1;
    }
    let background = colours.values().max().copied().unwrap_or(0);
    assert!(
        colours.len() > 50 && background < pixels.len() * 98 / 100,
        "the screenshot looks blank: {} colours, {background} of {} pixels the same",
        colours.len(),
        pixels.len()
    );
    // The DOM as Chromium built it: every chart there, with its data.
    let dom = String::from_utf8(headless(&bin, &profile, &["--dump-dom".into()], &page)).unwrap();
    assert_self_contained(&dom);
    let figs = figures(&dom);
    assert_eq!(
        figs.len(),
        json["charts"].as_array().unwrap().len(),
        "every chart is in the DOM"
    );
    for (id, points, data) in &figs {
        assert_eq!(points, data, "{id}: data-points against the data elements");
        assert!(*data > 0, "{id}: an empty chart");
    }
    for k in KINDS {
        assert!(
            figs.iter()
                .any(|(id, _, n)| id.starts_with(&format!("{k}:")) && *n > 0),
            "no {k} chart with data in the DOM"
        );
    }
    // Model fits mark held-out and in-sample points; throughput charts have every run.
    let fit = dom
        .split("<figure class=\"chart\"")
        .find(|f| f.contains("data-chart=\"model-fit:ram:wal-postgresql\""))
        .expect("the RAM WAL model's chart");
    assert!(fit.contains("(held out)") && fit.contains("(in-sample fit)"));
}

#[test]
fn the_committed_example_is_what_report_writes_today() {
    let example = root().join("reports/examples/shipped");
    let dir = tempfile::tempdir().unwrap();
    let json = shipped_report(dir.path());
    let files: Vec<String> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    if std::env::var("BTRTUNE_BLESS").as_deref() == Ok("1") {
        let _ = std::fs::remove_dir_all(&example);
        std::fs::create_dir_all(&example).unwrap();
        for f in &files {
            std::fs::copy(dir.path().join(f), example.join(f)).unwrap();
        }
        return;
    }
    let mut committed: Vec<String> = std::fs::read_dir(&example)
        .unwrap_or_else(|e| panic!("{}: {e} (BTRTUNE_BLESS=1 writes it)", example.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let mut expected = files.clone();
    expected.sort();
    assert_eq!(
        committed, expected,
        "reports/examples/shipped is stale: regenerate it (reports/README.md)"
    );
    for f in &files {
        let now = std::fs::read_to_string(dir.path().join(f)).unwrap();
        let then = std::fs::read_to_string(example.join(f)).unwrap();
        assert!(
            now == then,
            "reports/examples/shipped/{f} differs from what `btrtune report` writes now: regenerate it (reports/README.md)"
        );
    }
}

#[test]
fn the_same_input_writes_the_same_bytes_and_stale_charts_go() {
    let dir = tempfile::tempdir().unwrap();
    btrtune()
        .args(["report", "results/ram/raw.jsonl", "-o"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote report.html, report.md and"));
    let first = std::fs::read(dir.path().join("report.html")).unwrap();
    btrtune()
        .args(["report", "results/ram/raw.jsonl", "-o"])
        .arg(dir.path())
        .assert()
        .success();
    assert_eq!(
        first,
        std::fs::read(dir.path().join("report.html")).unwrap()
    );
    let svgs = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".svg"))
            .collect();
        v.sort();
        v
    };
    assert!(
        svgs(dir.path())
            .iter()
            .any(|f| f.starts_with("throughput-ram-fio-seqwrite"))
    );
    // A report of something else in the same directory leaves no chart of the first.
    btrtune()
        .args([
            "report",
            "tests/fixtures/diagnose/09-vm-images-cow-autodefrag/disko.nix",
            "-o",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let now = svgs(dir.path());
    assert!(now.iter().all(|f| f.starts_with("layout-")), "{now:?}");
    assert!(!dir.path().read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .contains("btrtune-tmp")
    }));
}

#[test]
fn inputs_that_are_not_reports_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello\n").unwrap();
    btrtune()
        .arg("report")
        .arg(&text)
        .arg("-o")
        .arg(dir.path().join("r"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "{}: not a results file",
            text.display()
        )));
    let good = std::fs::read_to_string(root().join("results/ram/raw.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        format!("{first}\n{{\"cell\": 1, \"measurement\": 2}}\n"),
    )
    .unwrap();
    btrtune()
        .arg("report")
        .arg(&bad)
        .arg("-o")
        .arg(dir.path().join("r"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "{}:2: not a btrtune run record",
            bad.display()
        )));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    btrtune()
        .arg("report")
        .arg(&empty)
        .arg("-o")
        .arg(dir.path().join("r"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("no .jsonl results files"));
    assert!(
        !dir.path().join("r").exists(),
        "nothing written after a bad input"
    );
    btrtune()
        .args(["report", "results/ram"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--out"));
}

#[test]
fn diagnose_writes_its_report_with_plots() {
    let dir = tempfile::tempdir().unwrap();
    let case = "tests/fixtures/diagnose/09-vm-images-cow-autodefrag";
    let facter = root().join("../shared/corpus/facter/tower-mixed-nvme-sata-ssd-hdd-desktop.json");
    btrtune()
        .args(["diagnose", "--bundle"])
        .arg(format!("{case}/bundle"))
        .arg("--disko")
        .arg(format!("{case}/disko.nix"))
        .arg("--facter")
        .arg(&facter)
        .arg("--report")
        .arg(dir.path())
        .assert()
        .success();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["schema_version"], 1);
    assert!(
        json["counts"]["before-after"].as_u64().unwrap() >= 2,
        "{}",
        json["counts"]
    );
    assert_eq!(
        json["counts"]["layout"], 2,
        "the current and the proposed layout"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("Layout proposed (diagnosis)"));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for c in json["charts"].as_array().unwrap() {
        let f = c["file"].as_str().unwrap();
        assert!(
            md.contains(&format!("]({f})")),
            "{f} is linked from report.md"
        );
        assert!(dir.path().join(f).is_file());
    }
}
