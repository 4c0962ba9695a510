//! Helpers shared by the integration tests: the toolstacks under test, a reader for the
//! literal Nix the generator writes (parsed with rnix), and the external checks.

#![allow(dead_code, clippy::unwrap_used)] // test support: a panic is the right failure

use btrtune_advisor::hardware::facter;
use btrtune_advisor::plan::{Plan, plan};
use btrtune_advisor::profiles::ToolDb;
use btrtune_advisor::toolstack::{EXAMPLES, Toolstack};
use rnix::ast::{self, HasEntry};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::process::Command;

/// `../shared` beside the checkout.
pub fn shared() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    assert!(
        d.join("corpus").is_dir(),
        "tests need ../shared at {}",
        d.display()
    );
    d
}

/// Named toolstacks with their plans: the bundled examples plus `--tools` lists and
/// facter-based ones.
pub fn cases() -> Vec<(String, Plan)> {
    let db = ToolDb::bundled().unwrap();
    let mut out = Vec::new();
    for (name, _) in EXAMPLES {
        let p = plan(&Toolstack::example(name).unwrap(), &db, None, None).unwrap();
        out.push((format!("example-{name}"), p));
    }
    let facter_dir = shared().join("corpus/facter");
    let extra: [(&str, &str, Option<&str>, &str); 4] = [
        (
            "tools-issue-example",
            "postgresql,podman,vscode,firefox,nix",
            Some("framework13-amd-nvme-laptop.json"),
            "balanced",
        ),
        (
            "tools-mysql-docker-redis",
            "mysql,mariadb,redis,docker,nix",
            Some("thinkcentre-sata-ssd-desktop.json"),
            "durability",
        ),
        (
            "tools-desktop-hdd",
            "desktop,steam,thunderbird,firefox,libvirt,virtualbox,nix",
            Some("tower-mixed-nvme-sata-ssd-hdd-desktop.json"),
            "performance",
        ),
        (
            "tools-no-hardware",
            "etcd,k3s,containerd,nix",
            None,
            "balanced",
        ),
    ];
    for (name, tools, facter_file, priority) in extra {
        let mut ts = Toolstack::from_tools(tools).unwrap();
        ts.priority = priority.parse().unwrap();
        // A stable origin, so that snapshots do not depend on where the checkout is.
        let hw = facter_file.map(|f| {
            let text = std::fs::read_to_string(facter_dir.join(f)).unwrap();
            facter::parse(&text, &format!("corpus/facter/{f}")).unwrap()
        });
        let mut disk = None;
        if name == "tools-desktop-hdd" {
            disk = Some("/dev/disk/by-id/ata-SAMSUNG_HD154UI_S1XWJ1WZ404248");
        }
        out.push((name.to_string(), plan(&ts, &db, hw, disk).unwrap()));
    }
    out
}

/// Literal Nix (attribute sets, lists, strings, numbers, booleans, a leading `{ ... }:`) as
/// JSON. Anything else is an error: the generator writes nothing else.
pub fn nix_to_json(text: &str) -> Result<Value, String> {
    let parse = rnix::Root::parse(text);
    if let Some(e) = parse.errors().first() {
        return Err(format!("parse error: {e}"));
    }
    let root = parse.tree();
    let expr = root.expr().ok_or("empty file")?;
    value(expr)
}

fn value(e: ast::Expr) -> Result<Value, String> {
    Ok(match e {
        ast::Expr::Lambda(l) => value(l.body().ok_or("lambda without body")?)?,
        ast::Expr::Paren(p) => value(p.expr().ok_or("empty parens")?)?,
        ast::Expr::AttrSet(s) => {
            let mut m = Map::new();
            for kv in s.attrpath_values() {
                let path: Vec<String> = kv
                    .attrpath()
                    .ok_or("no attrpath")?
                    .attrs()
                    .map(attr)
                    .collect::<Result<_, _>>()?;
                let v = value(kv.value().ok_or("no value")?)?;
                insert(&mut m, &path, v)?;
            }
            Value::Object(m)
        }
        ast::Expr::List(l) => Value::Array(l.items().map(value).collect::<Result<_, _>>()?),
        ast::Expr::Str(s) => Value::String(string(&s)?),
        ast::Expr::Ident(i) => match i.to_string().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            other => return Err(format!("free variable `{other}`")),
        },
        ast::Expr::Literal(l) => {
            let t = l.to_string();
            Value::from(
                t.parse::<i64>()
                    .map_err(|_| format!("not an integer: {t}"))?,
            )
        }
        other => return Err(format!("not literal Nix: {other}")),
    })
}

fn string(s: &ast::Str) -> Result<String, String> {
    let mut out = String::new();
    for p in s.normalized_parts() {
        match p {
            ast::InterpolPart::Literal(l) => out.push_str(&l),
            ast::InterpolPart::Interpolation(_) => return Err("interpolation".into()),
        }
    }
    Ok(out)
}

fn attr(a: ast::Attr) -> Result<String, String> {
    match a {
        ast::Attr::Ident(i) => Ok(i.to_string()),
        ast::Attr::Str(s) => string(&s),
        ast::Attr::Dynamic(_) => Err("dynamic attribute".into()),
    }
}

fn insert(m: &mut Map<String, Value>, path: &[String], v: Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty attrpath")?;
    if rest.is_empty() {
        match (m.get_mut(first), v) {
            (Some(Value::Object(old)), Value::Object(new)) => {
                for (k, x) in new {
                    insert(old, &[k], x)?;
                }
            }
            (Some(_), _) => return Err(format!("attribute `{first}` defined twice")),
            (None, v) => {
                m.insert(first.clone(), v);
            }
        }
        return Ok(());
    }
    let e = m
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    match e {
        Value::Object(inner) => insert(inner, rest, v),
        _ => Err(format!("attribute `{first}` is not a set")),
    }
}

/// Every btrfs node of a disko config (as JSON), depth first.
pub fn btrfs_nodes(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        match x {
            Value::Object(m) => {
                if m.get("type").and_then(Value::as_str) == Some("btrfs") {
                    out.push(x);
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    out
}

/// Whether `nix-instantiate` is here; when `BTRTUNE_REQUIRE_TOOLS=1` (CI), its absence fails.
pub fn have_nix() -> bool {
    let ok = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("BTRTUNE_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "nix-instantiate is required (BTRTUNE_REQUIRE_TOOLS=1): apt-get install nix-bin"
        );
        eprintln!("SKIPPED: nix-instantiate not found (apt-get install nix-bin)");
    }
    ok
}

/// `nix-instantiate --parse` on a text; `Err` with Nix's message.
pub fn nix_parse(text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.nix");
    std::fs::write(&f, text).unwrap();
    let o = Command::new("nix-instantiate")
        .args(["--parse", "--readonly-mode", "--store", "dummy://"])
        .arg(&f)
        .env("NIX_PATH", "")
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

use btrtune_advisor::hardware::{Confidence, DeviceClass, DiskInfo, HardwareProfile};
use btrtune_advisor::layout::{CompressionProperty, Purpose};
use btrtune_advisor::toolstack::{DataWish, HostPurpose, Priority};
use proptest::prelude::*;
use std::sync::OnceLock;

pub fn db() -> &'static ToolDb {
    static DB: OnceLock<ToolDb> = OnceLock::new();
    DB.get_or_init(|| ToolDb::bundled().unwrap())
}

pub fn names() -> Vec<String> {
    db().tools().map(|t| t.name.clone()).collect()
}

const CLASSES: [DeviceClass; 8] = [
    DeviceClass::Nvme,
    DeviceClass::SataSsd,
    DeviceClass::Hdd,
    DeviceClass::Virtio,
    DeviceClass::Emmc,
    DeviceClass::Sd,
    DeviceClass::Usb,
    DeviceClass::Unknown,
];

pub fn toolstack() -> impl Strategy<Value = (Toolstack, Option<HardwareProfile>)> {
    let n = names().len();
    (
        prop::collection::btree_set(0..n, 1..8),
        0..3usize,
        any::<bool>(),
        prop::option::of((0..CLASSES.len(), 0u64..70, 1u32..64)),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        prop::option::of((any::<bool>(), any::<bool>(), 0..4usize)),
        any::<bool>(),
    )
        .prop_map(|(tools, prio, dev, hw, (enc, hib, snaps), wish, project)| {
            let all = names();
            let list: Vec<&str> = tools.iter().map(|i| all[*i].as_str()).collect();
            let mut ts = Toolstack::from_tools(&list.join(",")).unwrap();
            ts.priority = [
                Priority::Performance,
                Priority::Balanced,
                Priority::Durability,
            ][prio];
            ts.purpose = if dev {
                HostPurpose::Development
            } else {
                HostPurpose::Production
            };
            ts.encrypt = enc;
            ts.hibernate = hib;
            ts.snapshots = snaps;
            if project {
                ts.users = vec!["alice".into()];
                ts.projects = vec!["/home/alice/src".into(), "/srv/work".into()];
            }
            if let Some((nocow, compress, p)) = wish {
                ts.data.push(DataWish {
                    path: "/srv/data".into(),
                    purpose: Some(
                        [
                            Purpose::Database,
                            Purpose::Media,
                            Purpose::ServiceState,
                            Purpose::Cache,
                        ][p],
                    ),
                    nocow: Some(nocow),
                    compression: compress.then_some(CompressionProperty::Zstd),
                    snapshots: None,
                    note: None,
                });
            }
            let hw = hw.map(|(c, ram, threads)| HardwareProfile {
                source: "proptest".into(),
                ram_bytes: (ram > 0).then_some(ram << 28),
                cpu_threads: Some(threads),
                disks: vec![DiskInfo {
                    device: CLASSES[c].placeholder_device().into(),
                    class: CLASSES[c],
                    class_confidence: Confidence::High,
                    size_bytes: Some(64 << 30),
                    ..DiskInfo::default()
                }],
                ..HardwareProfile::default()
            });
            (ts, hw)
        })
}
