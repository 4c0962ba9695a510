//! What the rules look at, with where each part is written: every mount (btrfs subvolumes,
//! btrfs top levels, other filesystems, nodev), every btrfs filesystem with its subvolumes,
//! swap files, hooks and mkfs arguments, and every device path the configuration declares.
//!
//! Collected from the evaluated `disko.devices` tolerantly: a part with the wrong type is the
//! schema check's finding and is skipped here.

use super::locate::Sources;
use crate::nixeval::{Data, Loc, Node};
use std::collections::BTreeMap;

/// One written word (a mount option, an mkfs argument) and the line of the list item it is in.
#[derive(Clone, Debug)]
pub(crate) struct Word {
    pub text: String,
    pub loc: Loc,
}

/// What provides a mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MountKind {
    /// A btrfs subvolume: (filesystem, subvolume) indices.
    Subvolume(usize, usize),
    /// A btrfs top level (subvolid 5).
    TopLevel(usize),
    /// Another filesystem (`type = "filesystem"`).
    Filesystem,
    /// A `nodev` mount (tmpfs, ...).
    Nodev,
}

/// One entry of NixOS `fileSystems` that disko derives.
#[derive(Clone, Debug)]
pub(crate) struct Mount {
    /// The mount point as written.
    pub path: String,
    /// Where the mount point is written.
    pub loc: Loc,
    /// In words (`subvolume @home`, `partition main.ESP (vfat)`).
    pub owner: String,
    pub kind: MountKind,
    /// The mount options, one per comma-separated option.
    pub options: Vec<Word>,
}

impl Mount {
    /// True when an option (`noauto`) is written.
    pub fn has(&self, opt: &str) -> bool {
        self.options.iter().any(|w| w.text == opt)
    }
}

/// A swap file disko makes with `btrfs filesystem mkswapfile`.
#[derive(Clone, Debug)]
pub(crate) struct SwapEntry {
    pub key: String,
    pub path: String,
    pub loc: Loc,
    /// Where `path` is written (the entry when it is not).
    pub path_loc: Loc,
}

/// A btrfs subvolume.
#[derive(Clone, Debug)]
pub(crate) struct Subvol {
    /// The attribute name (disko creates subvolumes in this order).
    pub key: String,
    /// The name as written (`name`, else the key).
    pub raw_name: String,
    /// The name without a leading `/`: its path below the top level.
    pub name: String,
    pub loc: Loc,
    /// Where the name is written (the `name` option, else the subvolume).
    pub name_loc: Loc,
    /// Index into [`Model::mounts`].
    pub mount: Option<usize>,
    /// mountOptions written without a mount point (disko ignores them).
    pub unused_options: Option<(Vec<String>, Loc)>,
    pub swap: Vec<SwapEntry>,
}

/// A hook of a btrfs node.
#[derive(Clone, Debug)]
pub(crate) struct Hook {
    pub key: &'static str,
    pub text: String,
    pub loc: Loc,
}

/// A btrfs filesystem (`type = "btrfs"`).
#[derive(Clone, Debug)]
pub(crate) struct Fs {
    /// The device mkfs runs on, when known.
    pub device: Option<String>,
    /// The `disko.devices.disk` entry it is in, if any.
    pub disk: Option<String>,
    /// The mkfs arguments, split into words.
    pub extra_args: Vec<Word>,
    /// Index into [`Model::mounts`] of the top-level mount.
    pub top_mount: Option<usize>,
    pub top_swap: Vec<SwapEntry>,
    pub subvols: Vec<Subvol>,
    pub hooks: Vec<Hook>,
}

impl Fs {
    /// The subvolume whose name is `name` (leading `/` ignored).
    pub fn subvol(&self, name: &str) -> Option<usize> {
        let n = name.trim_start_matches('/');
        self.subvols.iter().position(|s| s.name == n)
    }
}

/// A device path the configuration creates.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    pub path: String,
    /// What it is, in words.
    pub what: String,
    /// It holds content of its own (a filesystem, LUKS, ...).
    pub has_content: bool,
    /// disko creates it (a partition, LUKS mapping, md array or LV); a disk exists already.
    pub created: bool,
    /// The `disko.devices.disk` entry it is on.
    pub disk: Option<String>,
    pub loc: Loc,
}

/// The configuration, located.
#[derive(Default, Debug)]
pub(crate) struct Model {
    pub filesystems: Vec<Fs>,
    pub mounts: Vec<Mount>,
    pub devices: Vec<Device>,
    /// Partitions with a label too long for disko to use as is (it hashes those).
    pub hashed_labels: bool,
    /// LVM volume group names.
    pub volume_groups: Vec<String>,
}

/// Where a content set sits.
struct Ctx {
    keys: Vec<String>,
    device: Option<String>,
    disk: Option<String>,
    owner: String,
}

pub(crate) fn collect(devices: &Node, src: &Sources) -> Model {
    let mut c = Collector {
        src,
        model: Model::default(),
    };
    if let Data::Attrs(m) = &devices.data {
        c.top(m);
    }
    c.model
}

struct Collector<'s> {
    src: &'s Sources,
    model: Model,
}

fn attrs(n: &Node) -> Option<&BTreeMap<String, Node>> {
    match &n.data {
        Data::Attrs(m) => Some(m),
        _ => None,
    }
}

fn string(m: &BTreeMap<String, Node>, k: &str) -> Option<String> {
    m.get(k).and_then(Node::as_str).map(str::to_string)
}

fn child(keys: &[String], k: &str) -> Vec<String> {
    let mut v = keys.to_vec();
    v.push(k.to_string());
    v
}

impl Collector<'_> {
    fn loc(&self, n: &Node, keys: &[String]) -> Loc {
        self.src.loc(n, keys)
    }

    /// The words of a string list, each with its item's line.
    fn words(&self, n: Option<&Node>, keys: &[String], split_commas: bool) -> Vec<Word> {
        let Some(n) = n else { return vec![] };
        let Data::List(items) = &n.data else {
            return vec![];
        };
        let list_loc = self.loc(n, keys);
        let mut out = Vec::new();
        for it in items {
            let Data::Str(s) = &it.data else { continue };
            let loc = it.at.clone().unwrap_or_else(|| list_loc.clone());
            let parts: Vec<&str> = if split_commas {
                s.split(',').collect()
            } else {
                s.split_whitespace().collect()
            };
            for p in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
                out.push(Word {
                    text: p.to_string(),
                    loc: loc.clone(),
                });
            }
        }
        out
    }

    fn top(&mut self, m: &BTreeMap<String, Node>) {
        if let Some(disks) = m.get("disk").and_then(attrs) {
            for (name, d) in disks {
                let keys = vec!["disk".to_string(), name.clone()];
                let Some(dm) = attrs(d) else { continue };
                let device = string(dm, "device");
                let has_content = dm.get("content").is_some_and(|c| attrs(c).is_some());
                if let Some(dev) = &device {
                    self.model.devices.push(Device {
                        path: dev.clone(),
                        what: format!("disk {name}"),
                        has_content,
                        created: false,
                        disk: Some(name.clone()),
                        loc: self.loc(d, &keys),
                    });
                }
                let dname = string(dm, "name").unwrap_or_else(|| name.replace('/', "_"));
                if let Some(c) = dm.get("content") {
                    self.content(
                        c,
                        &Ctx {
                            keys: child(&keys, "content"),
                            device,
                            disk: Some(name.clone()),
                            owner: format!("disk {name}"),
                        },
                        ("disk", &dname),
                    );
                }
            }
        }
        if let Some(mds) = m.get("mdadm").and_then(attrs) {
            for (name, md) in mds {
                let keys = vec!["mdadm".to_string(), name.clone()];
                let Some(mm) = attrs(md) else { continue };
                let mdname = string(mm, "name").unwrap_or_else(|| name.clone());
                let device = format!("/dev/md/{mdname}");
                self.model.devices.push(Device {
                    path: device.clone(),
                    what: format!("md array {mdname}"),
                    has_content: mm.get("content").is_some_and(|c| attrs(c).is_some()),
                    created: true,
                    disk: None,
                    loc: self.loc(md, &keys),
                });
                if let Some(c) = mm.get("content") {
                    self.content(
                        c,
                        &Ctx {
                            keys: child(&keys, "content"),
                            device: Some(device),
                            disk: None,
                            owner: format!("md array {mdname}"),
                        },
                        ("mdadm", &mdname),
                    );
                }
            }
        }
        if let Some(vgs) = m.get("lvm_vg").and_then(attrs) {
            for (vg, v) in vgs {
                let Some(vm) = attrs(v) else { continue };
                let vgname = string(vm, "name").unwrap_or_else(|| vg.clone());
                self.model.volume_groups.push(vgname.clone());
                let Some(lvs) = vm.get("lvs").and_then(attrs) else {
                    continue;
                };
                for (lv, l) in lvs {
                    let keys = vec!["lvm_vg".into(), vg.clone(), "lvs".into(), lv.clone()];
                    let Some(lm) = attrs(l) else { continue };
                    let lvname = string(lm, "name").unwrap_or_else(|| lv.clone());
                    let device = format!("/dev/{vgname}/{lvname}");
                    self.model.devices.push(Device {
                        path: device.clone(),
                        what: format!("logical volume {vgname}/{lvname}"),
                        has_content: lm.get("content").is_some_and(|c| attrs(c).is_some()),
                        created: true,
                        disk: None,
                        loc: self.loc(l, &keys),
                    });
                    if let Some(c) = lm.get("content") {
                        self.content(
                            c,
                            &Ctx {
                                keys: child(&keys, "content"),
                                device: Some(device),
                                disk: None,
                                owner: format!("logical volume {vgname}/{lvname}"),
                            },
                            ("lvm_vg", &vgname),
                        );
                    }
                }
            }
        }
        if let Some(nodev) = m.get("nodev").and_then(attrs) {
            for (key, n) in nodev {
                let keys = vec!["nodev".to_string(), key.clone()];
                let Some(nm) = attrs(n) else { continue };
                let (path, loc) = match nm.get("mountpoint") {
                    Some(p) => match &p.data {
                        Data::Str(s) => (s.clone(), self.loc(p, &child(&keys, "mountpoint"))),
                        _ => continue,
                    },
                    None => (key.clone(), self.loc(n, &keys)),
                };
                let okeys = child(&keys, "mountOptions");
                self.model.mounts.push(Mount {
                    path,
                    loc,
                    owner: format!(
                        "nodev {key} ({})",
                        string(nm, "fsType").unwrap_or_else(|| "?".into())
                    ),
                    kind: MountKind::Nodev,
                    options: self.words(nm.get("mountOptions"), &okeys, true),
                });
            }
        }
    }

    /// A content set; `parent` is the enclosing disko type and its name (for partition labels).
    fn content(&mut self, n: &Node, ctx: &Ctx, parent: (&str, &str)) {
        let Some(m) = attrs(n) else { return };
        let device = string(m, "device").or_else(|| ctx.device.clone());
        match string(m, "type").as_deref() {
            Some("gpt") => self.gpt(m, ctx, parent),
            Some("table") => self.table(m, ctx, device),
            Some("luks") => {
                let Some(name) = string(m, "name") else {
                    return;
                };
                let mapped = format!("/dev/mapper/{name}");
                self.model.devices.push(Device {
                    path: mapped.clone(),
                    what: format!("LUKS device {name} on {}", ctx.owner),
                    has_content: m.get("content").is_some_and(|c| attrs(c).is_some()),
                    created: true,
                    disk: ctx.disk.clone(),
                    loc: self.loc(n, &ctx.keys),
                });
                if let Some(c) = m.get("content") {
                    self.content(
                        c,
                        &Ctx {
                            keys: child(&ctx.keys, "content"),
                            device: Some(mapped),
                            disk: ctx.disk.clone(),
                            owner: format!("{} (LUKS {name})", ctx.owner),
                        },
                        ("luks", &name),
                    );
                }
            }
            Some("filesystem") => {
                if let Some(mp) = m.get("mountpoint")
                    && let Data::Str(p) = &mp.data
                {
                    let okeys = child(&ctx.keys, "mountOptions");
                    let format = string(m, "format").unwrap_or_else(|| "?".into());
                    self.model.mounts.push(Mount {
                        path: p.clone(),
                        loc: self.loc(mp, &child(&ctx.keys, "mountpoint")),
                        owner: format!("{} ({format})", ctx.owner),
                        kind: MountKind::Filesystem,
                        options: self.words(m.get("mountOptions"), &okeys, true),
                    });
                }
            }
            Some("btrfs") => self.btrfs(m, ctx, device),
            _ => {}
        }
    }

    fn gpt(&mut self, m: &BTreeMap<String, Node>, ctx: &Ctx, parent: (&str, &str)) {
        let Some(parts) = m.get("partitions").and_then(attrs) else {
            return;
        };
        // disko's partition index: by priority, then name.
        let mut order: Vec<(i64, &String)> = parts
            .iter()
            .map(|(k, p)| {
                let pm = attrs(p);
                let prio = pm
                    .and_then(|pm| match pm.get("priority").map(|x| &x.data) {
                        Some(Data::Int(i)) => Some(*i),
                        _ => None,
                    })
                    .unwrap_or_else(|| {
                        let size = pm.and_then(|pm| string(pm, "size"));
                        let ty = pm.and_then(|pm| string(pm, "type"));
                        if size.as_deref() == Some("100%") {
                            9001
                        } else if ty.as_deref() == Some("EF02") {
                            100
                        } else {
                            1000
                        }
                    });
                (prio, k)
            })
            .collect();
        order.sort();
        for (key, p) in parts {
            let keys = child(&child(&ctx.keys, "partitions"), key);
            let Some(pm) = attrs(p) else { continue };
            let pname = string(pm, "name").unwrap_or_else(|| key.clone());
            let dev = if let Some(d) = string(pm, "device") {
                d
            } else if let Some(u) = string(pm, "uuid") {
                format!("/dev/disk/by-partuuid/{u}")
            } else if parent.0 == "mdadm" {
                let idx = order.iter().position(|(_, k)| *k == key).unwrap_or(0) + 1;
                format!("/dev/disk/by-id/md-name-any:{}-part{idx}", parent.1)
            } else {
                let label = string(pm, "label")
                    .unwrap_or_else(|| format!("{}-{}-{pname}", parent.0, parent.1));
                if label.chars().count() > 36 && !pm.contains_key("label") {
                    self.model.hashed_labels = true;
                }
                format!("/dev/disk/by-partlabel/{}", udev_escape(&label))
            };
            let has_content = pm.get("content").is_some_and(|c| attrs(c).is_some());
            self.model.devices.push(Device {
                path: dev.clone(),
                what: format!("partition {}.{key}", parent.1),
                has_content,
                created: true,
                disk: ctx.disk.clone(),
                loc: self.loc(p, &keys),
            });
            if let Some(c) = pm.get("content") {
                self.content(
                    c,
                    &Ctx {
                        keys: child(&keys, "content"),
                        device: Some(dev),
                        disk: ctx.disk.clone(),
                        owner: format!("partition {}.{key}", parent.1),
                    },
                    ("partition", &pname),
                );
            }
        }
    }

    fn table(&mut self, m: &BTreeMap<String, Node>, ctx: &Ctx, device: Option<String>) {
        let Some(Data::List(parts)) = m.get("partitions").map(|p| &p.data) else {
            return;
        };
        for (i, p) in parts.iter().enumerate() {
            let keys = child(&child(&ctx.keys, "partitions"), &format!("[{i}]"));
            let Some(pm) = attrs(p) else { continue };
            let dev = device.as_deref().map(|d| numbered(d, i + 1));
            if let Some(d) = &dev {
                self.model.devices.push(Device {
                    path: d.clone(),
                    what: format!("{} partition {}", ctx.owner, i + 1),
                    has_content: pm.get("content").is_some_and(|c| attrs(c).is_some()),
                    created: true,
                    disk: ctx.disk.clone(),
                    loc: self.loc(p, &keys),
                });
            }
            if let Some(c) = pm.get("content") {
                let pname = string(pm, "name").unwrap_or_else(|| format!("part{}", i + 1));
                self.content(
                    c,
                    &Ctx {
                        keys: child(&keys, "content"),
                        device: dev,
                        disk: ctx.disk.clone(),
                        owner: format!("{} partition {pname}", ctx.owner),
                    },
                    ("partition", &pname),
                );
            }
        }
    }

    fn swaps(&self, n: Option<&Node>, keys: &[String]) -> Vec<SwapEntry> {
        let Some(m) = n.and_then(attrs) else {
            return vec![];
        };
        m.iter()
            .filter_map(|(k, v)| {
                let kk = child(keys, k);
                let vm = attrs(v)?;
                let loc = self.loc(v, &kk);
                let (path, path_loc) = match vm.get("path") {
                    Some(p) => (p.as_str()?.to_string(), self.loc(p, &child(&kk, "path"))),
                    None => (k.clone(), loc.clone()),
                };
                Some(SwapEntry {
                    key: k.clone(),
                    path,
                    loc,
                    path_loc,
                })
            })
            .collect()
    }

    fn btrfs(&mut self, m: &BTreeMap<String, Node>, ctx: &Ctx, device: Option<String>) {
        let keys = &ctx.keys;
        let fs_index = self.model.filesystems.len();
        let mut fs = Fs {
            device,
            disk: ctx.disk.clone(),
            extra_args: self.words(m.get("extraArgs"), &child(keys, "extraArgs"), false),
            top_mount: None,
            top_swap: self.swaps(m.get("swap"), &child(keys, "swap")),
            subvols: Vec::new(),
            hooks: Vec::new(),
        };
        for h in super::schema::HOOKS {
            if let Some(hn) = m.get(h)
                && let Data::Str(s) = &hn.data
                && !s.trim().is_empty()
            {
                fs.hooks.push(Hook {
                    key: h,
                    text: s.clone(),
                    loc: self.loc(hn, &child(keys, h)),
                });
            }
        }
        if let Some(mp) = m.get("mountpoint")
            && let Data::Str(p) = &mp.data
        {
            let okeys = child(keys, "mountOptions");
            fs.top_mount = Some(self.model.mounts.len());
            self.model.mounts.push(Mount {
                path: p.clone(),
                loc: self.loc(mp, &child(keys, "mountpoint")),
                owner: format!("the top level of the btrfs filesystem on {}", ctx.owner),
                kind: MountKind::TopLevel(fs_index),
                options: self.words(m.get("mountOptions"), &okeys, true),
            });
        }
        if let Some(svs) = m.get("subvolumes").and_then(attrs) {
            for (key, sv) in svs {
                let skeys = child(&child(keys, "subvolumes"), key);
                let Some(sm) = attrs(sv) else { continue };
                let loc = self.loc(sv, &skeys);
                let (raw_name, name_loc) = match sm.get("name") {
                    Some(nn) => match nn.as_str() {
                        Some(s) => (s.to_string(), self.loc(nn, &child(&skeys, "name"))),
                        None => (key.clone(), loc.clone()),
                    },
                    None => (key.clone(), loc.clone()),
                };
                let okeys = child(&skeys, "mountOptions");
                let options = self.words(sm.get("mountOptions"), &okeys, true);
                let options_loc = sm.get("mountOptions").map(|o| self.loc(o, &okeys));
                let sub_index = fs.subvols.len();
                let mut mount = None;
                let mut unused_options = None;
                match sm.get("mountpoint").map(|p| (p, &p.data)) {
                    Some((p, Data::Str(path))) => {
                        mount = Some(self.model.mounts.len());
                        self.model.mounts.push(Mount {
                            path: path.clone(),
                            loc: self.loc(p, &child(&skeys, "mountpoint")),
                            owner: format!("subvolume {raw_name}"),
                            kind: MountKind::Subvolume(fs_index, sub_index),
                            options,
                        });
                    }
                    _ => {
                        let texts: Vec<String> = options
                            .iter()
                            .map(|w| w.text.clone())
                            .filter(|t| t != "defaults")
                            .collect();
                        if !texts.is_empty()
                            && let Some(l) = options_loc
                        {
                            unused_options = Some((texts, l));
                        }
                    }
                }
                fs.subvols.push(Subvol {
                    key: key.clone(),
                    name: raw_name.trim_start_matches('/').to_string(),
                    raw_name,
                    loc,
                    name_loc,
                    mount,
                    unused_options,
                    swap: self.swaps(sm.get("swap"), &child(&skeys, "swap")),
                });
            }
        }
        self.model.filesystems.push(fs);
    }
}

/// disko's `hexEscapeUdevSymlink`: characters udev does not keep in a symlink become `\xNN`.
fn udev_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "#+,-.:=@_/".contains(c) {
            o.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                o.push_str(&format!("\\x{b:x}"));
            }
        }
    }
    o
}

/// disko's `deviceNumbering`: the path of partition `i` of a device.
fn numbered(dev: &str, i: usize) -> String {
    let name = dev.strip_prefix("/dev/").unwrap_or(dev);
    if name.starts_with("sd") || name.starts_with("vd") || name.starts_with("xvd") {
        format!("{dev}{i}")
    } else if name.starts_with("disk/") || name.starts_with("zvol/") {
        format!("{dev}-part{i}")
    } else if name.starts_with("nvme")
        || name.starts_with("mmcblk")
        || (name.starts_with("md/") && name.ends_with(|c: char| c.is_ascii_digit()))
    {
        format!("{dev}p{i}")
    } else {
        format!("{dev}{i}")
    }
}
