//! disko.nix -> [`Layout`]: evaluate the file (statically with [`crate::nixeval`], or with
//! the real Nix when asked), then convert `disko.devices` into the same `Layout` the
//! generator emits.
//!
//! The conversion follows the kernel's rule for mount options: the options of the mount that
//! comes first (`/`, else the shallowest mount point) are the filesystem's; a later mount
//! that asks for other filesystem-wide options keeps them in
//! [`SubvolMount::fs_override`](crate::layout::SubvolMount), so that [`Layout::check`] can
//! say they are ignored. NOCOW and compression set by `chattr +C` / `btrfs property set` in
//! a hook become the subvolumes' attributes.

use crate::error::AdvisorError;
use crate::hardware::DeviceClass;
use crate::layout::options::{ParsedMountOptions, parse_mount_options};
use crate::layout::{
    BtrfsFilesystem, Bytes, CompressionProperty, Content, DataPolicy, Disk, DiskContent, DiskKind,
    FsOptions, Hooks, Layout, Luks, MkfsOptions, NodevMount, PartSize, Partition, PlainFilesystem,
    Purpose, SCHEMA_VERSION, SubvolMount, Subvolume, SwapPartition, Swapfile, SystemSettings,
    TopLevelMount, mount_depth,
};
use crate::nixeval::{Data, Evaluator, Node, Warning};
use crate::reason::{Aspect, Ref, Why};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A value given on the command line for a function argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgValue {
    /// `--arg NAME EXPR`: a Nix expression.
    Expr(String),
    /// `--argstr NAME STRING`: a string.
    Str(String),
}

/// How to read a disko.nix.
#[derive(Clone, Debug, Default)]
pub struct ParseOptions {
    /// Arguments for a function-style config (`{ disks ? [...], ... }:`).
    pub args: Vec<(String, ArgValue)>,
    /// Evaluate with `nix-instantiate` instead of the built-in evaluator.
    pub nix_eval: bool,
    /// nixpkgs' `lib` for `nix_eval` (a directory holding `default.nix`); `<nixpkgs/lib>`
    /// from `NIX_PATH` when not given.
    pub nix_lib: Option<PathBuf>,
}

/// A parsed disko.nix.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ParsedDisko {
    /// The layout it describes.
    pub layout: Layout,
    /// What had to be assumed, and what disko itself would warn about.
    pub warnings: Vec<Warning>,
}

/// Stack for the evaluator's thread: deeply nested configurations recurse deeply.
const STACK: usize = 256 << 20;

/// Reads a disko.nix file.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<ParsedDisko, AdvisorError> {
    if !path.is_file() {
        return Err(AdvisorError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let name = path.display().to_string();
    let (devices, mut warnings) = if opts.nix_eval {
        (super::nix_eval::devices(path, opts)?, Vec::new())
    } else {
        let path = path.to_path_buf();
        let opts2 = opts.clone();
        let name2 = name.clone();
        run_on_big_stack(move || evaluate(&path, &name2, &opts2))?
    };
    let mut conv = Converter {
        origin: name,
        warnings: Vec::new(),
    };
    let layout = conv.layout(&devices)?;
    warnings.extend(conv.warnings);
    Ok(ParsedDisko { layout, warnings })
}

/// Reads disko.nix text (relative imports resolve against the current directory).
pub fn parse_text(
    text: &str,
    name: &str,
    opts: &ParseOptions,
) -> Result<ParsedDisko, AdvisorError> {
    let dir = tempdir_for(text)?;
    let file = dir.join("disko.nix");
    std::fs::write(&file, text).map_err(|e| AdvisorError::Io {
        path: file.clone(),
        source: e,
    })?;
    let r = (|| {
        let (devices, mut warnings) = {
            let f = file.clone();
            let n = name.to_string();
            let o = opts.clone();
            run_on_big_stack(move || evaluate(&f, &n, &o))?
        };
        let mut conv = Converter {
            origin: name.to_string(),
            warnings: Vec::new(),
        };
        let layout = conv.layout(&devices)?;
        warnings.extend(conv.warnings);
        Ok(ParsedDisko { layout, warnings })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// The evaluated `disko.devices` of a file and the evaluator's warnings, before conversion:
/// what `btrtune validate` checks against disko's schema (every [`Node`] keeps the file, line
/// and column it is written at; with `nix_eval` there are none). `name` is how locations name
/// the file.
pub fn evaluate_devices(
    path: &Path,
    name: &str,
    opts: &ParseOptions,
) -> Result<(Node, Vec<Warning>), AdvisorError> {
    if opts.nix_eval {
        return Ok((super::nix_eval::devices(path, opts)?, Vec::new()));
    }
    let path = path.to_path_buf();
    let name = name.to_string();
    let opts = opts.clone();
    run_on_big_stack(move || evaluate(&path, &name, &opts))
}

/// [`evaluate_devices`] for text (written to a temporary file first, so relative imports do
/// not resolve).
pub fn evaluate_devices_text(
    text: &str,
    name: &str,
    opts: &ParseOptions,
) -> Result<(Node, Vec<Warning>), AdvisorError> {
    let dir = tempdir_for(text)?;
    let file = dir.join("disko.nix");
    let r = std::fs::write(&file, text)
        .map_err(|e| AdvisorError::Io {
            path: file.clone(),
            source: e,
        })
        .and_then(|()| evaluate_devices(&file, name, opts));
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// Converts evaluated `disko.devices` (from [`evaluate_devices`]) into a [`Layout`], the way
/// [`parse_file`] does; `origin` names the file in errors without a location.
pub fn convert_devices(devices: &Node, origin: &str) -> Result<ParsedDisko, AdvisorError> {
    let mut conv = Converter {
        origin: origin.to_string(),
        warnings: Vec::new(),
    };
    let layout = conv.layout(devices)?;
    Ok(ParsedDisko {
        layout,
        warnings: conv.warnings,
    })
}

fn tempdir_for(text: &str) -> Result<PathBuf, AdvisorError> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    std::thread::current().id().hash(&mut h);
    let dir = std::env::temp_dir().join(format!(
        "btrtune-parse-{}-{:x}",
        std::process::id(),
        h.finish()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| AdvisorError::Io {
        path: dir.clone(),
        source: e,
    })?;
    Ok(dir)
}

fn run_on_big_stack<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AdvisorError> + Send + 'static,
) -> Result<T, AdvisorError> {
    std::thread::Builder::new()
        .name("nix-eval".into())
        .stack_size(STACK)
        .spawn(f)
        .map_err(|e| AdvisorError::Request(format!("cannot start the evaluator: {e}")))?
        .join()
        .map_err(|_| AdvisorError::Request("the evaluator failed unexpectedly".into()))?
}

/// Evaluates a file to its merged `disko.devices` data.
fn evaluate(
    path: &Path,
    name: &str,
    opts: &ParseOptions,
) -> Result<(Node, Vec<Warning>), AdvisorError> {
    let ev = Evaluator::new();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut args = Vec::new();
    for (k, v) in &opts.args {
        let t = match v {
            ArgValue::Expr(e) => ev.eval_text(e, &format!("--arg {k}"), &dir)?,
            ArgValue::Str(s) => ev.string_thunk(s),
        };
        args.push((k.clone(), t));
    }
    let root = ev.eval_file(path, name)?;
    let devices = ev.module_devices(root, &args, name)?;
    Ok((devices, ev.warnings()))
}

/// A Node's location as `file:line`, for reasons.
fn at_str(n: &Node, origin: &str) -> String {
    n.at.as_ref()
        .map_or_else(|| origin.to_string(), |l| format!("{}:{}", l.file, l.line))
}

/// Converts evaluated `disko.devices` data into a Layout.
struct Converter {
    origin: String,
    warnings: Vec<Warning>,
}

type C<T> = Result<T, AdvisorError>;

impl Converter {
    fn err(&self, n: &Node, msg: impl Into<String>) -> AdvisorError {
        match &n.at {
            Some(l) => AdvisorError::Input {
                path: l.file.clone(),
                line: l.line,
                column: l.column,
                message: msg.into(),
            },
            None => AdvisorError::Input {
                path: self.origin.clone(),
                line: 0,
                column: 0,
                message: msg.into(),
            },
        }
    }

    fn warn(&mut self, n: &Node, msg: impl Into<String>) {
        self.warnings.push(Warning {
            at: n.at.clone(),
            message: msg.into(),
        });
    }

    fn attrs<'a>(&self, n: &'a Node, what: &str) -> C<&'a BTreeMap<String, Node>> {
        match &n.data {
            Data::Attrs(m) => Ok(m),
            _ => Err(self.err(n, format!("{what} must be a set, got {}", n.kind()))),
        }
    }

    /// A string field; unknown values give a warning and `<unknown: ...>`.
    fn string(&mut self, n: &Node, what: &str) -> C<String> {
        match &n.data {
            Data::Str(s) => Ok(s.clone()),
            Data::Unknown(u) => {
                self.warn(n, format!("{what} depends on {u}, unknown statically"));
                Ok(format!("<unknown:{u}>"))
            }
            Data::Int(i) => Ok(i.to_string()),
            _ => Err(self.err(n, format!("{what} must be a string, got {}", n.kind()))),
        }
    }

    fn opt_string(
        &mut self,
        m: &BTreeMap<String, Node>,
        key: &str,
        what: &str,
    ) -> C<Option<String>> {
        match m.get(key) {
            None => Ok(None),
            Some(Node {
                data: Data::Null, ..
            }) => Ok(None),
            Some(n) => self.string(n, &format!("{what}.{key}")).map(Some),
        }
    }

    fn string_list(&mut self, n: &Node, what: &str) -> C<Vec<String>> {
        match &n.data {
            Data::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| self.string(x, &format!("{what}[{i}]")))
                .collect(),
            Data::Unknown(u) => {
                self.warn(
                    n,
                    format!("{what} depends on {u}, unknown statically: taken as empty"),
                );
                Ok(vec![])
            }
            _ => Err(self.err(
                n,
                format!("{what} must be a list of strings, got {}", n.kind()),
            )),
        }
    }

    fn opt_list(&mut self, m: &BTreeMap<String, Node>, key: &str, what: &str) -> C<Vec<String>> {
        match m.get(key) {
            None => Ok(vec![]),
            Some(n) => self.string_list(n, &format!("{what}.{key}")),
        }
    }

    fn boolean(&mut self, m: &BTreeMap<String, Node>, key: &str, what: &str) -> C<bool> {
        match m.get(key) {
            None => Ok(false),
            Some(n) => match &n.data {
                Data::Bool(b) => Ok(*b),
                Data::Unknown(u) => {
                    self.warn(n, format!("{what}.{key} depends on {u}: taken as false"));
                    Ok(false)
                }
                _ => Err(self.err(
                    n,
                    format!("{what}.{key} must be true or false, got {}", n.kind()),
                )),
            },
        }
    }

    fn check_keys(&mut self, n: &Node, m: &BTreeMap<String, Node>, known: &[&str], what: &str) {
        for k in m.keys() {
            if !known.contains(&k.as_str()) && !k.starts_with('_') {
                self.warn(
                    n,
                    format!(
                        "{what}: option `{k}` is not modelled by btrtune and was not read \
                         (disko rejects options it does not know)"
                    ),
                );
            }
        }
    }

    fn layout(&mut self, devices: &Node) -> C<Layout> {
        let m = self.attrs(devices, "disko.devices")?;
        let mut disks = Vec::new();
        let mut nodev = Vec::new();
        for (section, node) in m {
            match section.as_str() {
                "disk" => {
                    for (name, d) in self.attrs(node, "disko.devices.disk")?.clone() {
                        disks.push(self.disk(&name, &d)?);
                    }
                }
                "lvm_vg" => {
                    for (vg, v) in self.attrs(node, "disko.devices.lvm_vg")?.clone() {
                        let vm = self.attrs(&v, &format!("lvm_vg.{vg}"))?.clone();
                        if let Some(lvs) = vm.get("lvs") {
                            for (lv, l) in self.attrs(lvs, &format!("lvm_vg.{vg}.lvs"))?.clone() {
                                let lm = self.attrs(&l, &format!("lvm_vg.{vg}.lvs.{lv}"))?.clone();
                                if let Some(c) = lm.get("content") {
                                    disks.push(self.volume(
                                        &format!("{vg}/{lv}"),
                                        DiskKind::LvmLv,
                                        format!("/dev/{vg}/{lv}"),
                                        &l,
                                        c,
                                    )?);
                                }
                            }
                        }
                    }
                }
                "mdadm" => {
                    for (name, md) in self.attrs(node, "disko.devices.mdadm")?.clone() {
                        let mm = self.attrs(&md, &format!("mdadm.{name}"))?.clone();
                        if let Some(c) = mm.get("content") {
                            disks.push(self.volume(
                                &name,
                                DiskKind::Mdadm,
                                format!("/dev/md/{name}"),
                                &md,
                                c,
                            )?);
                        }
                    }
                }
                "nodev" => {
                    for (mp, n) in self.attrs(node, "disko.devices.nodev")?.clone() {
                        let nm = self.attrs(&n, &format!("nodev.\"{mp}\""))?.clone();
                        let what = format!("nodev.\"{mp}\"");
                        let mountpoint = self
                            .opt_string(&nm, "mountpoint", &what)?
                            .unwrap_or(mp.clone());
                        nodev.push(NodevMount {
                            mountpoint,
                            fs_type: self
                                .opt_string(&nm, "fsType", &what)?
                                .unwrap_or_else(|| "tmpfs".into()),
                            mount_options: self.opt_list(&nm, "mountOptions", &what)?,
                        });
                    }
                }
                "zpool" => {
                    self.warn(
                        node,
                        "zpool devices are not modelled by btrtune (no btrfs inside); skipped \
                         on purpose",
                    );
                }
                other => self.warn(
                    node,
                    format!("disko.devices.{other} is not a disko device type; not read"),
                ),
            }
        }
        disks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Layout {
            schema_version: SCHEMA_VERSION,
            disks,
            nodev,
            system: SystemSettings::default(),
        })
    }

    /// An LVM volume or md array holding content, as a [`Disk`] of its kind.
    fn volume(
        &mut self,
        name: &str,
        kind: DiskKind,
        device: String,
        node: &Node,
        content: &Node,
    ) -> C<Disk> {
        let what = match kind {
            DiskKind::LvmLv => format!("lvm_vg.{}", name.replacen('/', ".lvs.", 1)),
            _ => format!("mdadm.{name}"),
        };
        Ok(Disk {
            name: name.to_string(),
            kind,
            device,
            class: None,
            content: DiskContent::Whole {
                content: self.content(content, &what)?,
            },
            why: Some(self.source(node)),
        })
    }

    fn source(&self, n: &Node) -> Why {
        Why::new(
            "As written in the configuration.",
            [Ref::Source {
                at: at_str(n, &self.origin),
            }],
        )
    }

    fn disk(&mut self, name: &str, d: &Node) -> C<Disk> {
        let what = format!("disk.{name}");
        let m = self.attrs(d, &what)?.clone();
        self.check_keys(
            d,
            &m,
            &[
                "type",
                "device",
                "content",
                "imageSize",
                "imageName",
                "name",
                "preCreateHook",
                "postCreateHook",
                "preMountHook",
                "postMountHook",
                "preUnmountHook",
                "postUnmountHook",
            ],
            &what,
        );
        let device = match m.get("device") {
            Some(n) => self.string(n, &format!("{what}.device"))?,
            None => return Err(self.err(d, format!("{what} has no `device`"))),
        };
        let content = match m.get("content") {
            None => DiskContent::Gpt { partitions: vec![] },
            Some(c) => {
                let cm = self.attrs(c, &format!("{what}.content"))?.clone();
                let ty = self.opt_string(&cm, "type", &format!("{what}.content"))?;
                match ty.as_deref() {
                    Some("gpt") => DiskContent::Gpt {
                        partitions: self.gpt(c, &cm, &what)?,
                    },
                    Some("table") => DiskContent::Table {
                        format: self
                            .opt_string(&cm, "format", &what)?
                            .unwrap_or_else(|| "gpt".into()),
                        partitions: self.table(&cm, &what)?,
                    },
                    _ => DiskContent::Whole {
                        content: self.content(c, &format!("{what}.content"))?,
                    },
                }
            }
        };
        Ok(Disk {
            name: name.to_string(),
            kind: DiskKind::Disk,
            class: class_from_path(&device),
            device,
            content,
            why: Some(self.source(d)),
        })
    }

    fn gpt(&mut self, c: &Node, cm: &BTreeMap<String, Node>, what: &str) -> C<Vec<Partition>> {
        let Some(parts) = cm.get("partitions") else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for (name, p) in self
            .attrs(parts, &format!("{what}.content.partitions"))?
            .clone()
        {
            let pw = format!("{what}.content.partitions.{name}");
            let pm = self.attrs(&p, &pw)?.clone();
            self.check_keys(
                &p,
                &pm,
                &[
                    "size",
                    "type",
                    "content",
                    "name",
                    "label",
                    "priority",
                    "start",
                    "end",
                    "uuid",
                    "alignment",
                    "device",
                    "hybrid",
                ],
                &pw,
            );
            let size_s = self
                .opt_string(&pm, "size", &pw)?
                .unwrap_or_else(|| "0".into());
            let type_code = self.opt_string(&pm, "type", &pw)?;
            let priority = match pm.get("priority").map(|n| &n.data) {
                Some(Data::Int(i)) => *i,
                _ if size_s == "100%" => 9001,
                _ if type_code.as_deref() == Some("EF02") => 100,
                _ => 1000,
            };
            let size = match (pm.get("start"), pm.get("end")) {
                (Some(s), Some(e)) if size_s == "0" => PartSize::Span {
                    start: self.string(s, &format!("{pw}.start"))?,
                    end: self.string(e, &format!("{pw}.end"))?,
                },
                _ => part_size(&size_s),
            };
            let content = match pm.get("content") {
                Some(n) => Some(self.content(n, &format!("{pw}.content"))?),
                None => None,
            };
            out.push((
                priority,
                name.clone(),
                Partition {
                    name: name.clone(),
                    size,
                    type_code: type_code.filter(|t| t != "8300"),
                    content,
                    why: Some(self.source(&p)),
                },
            ));
        }
        let _ = c;
        // disko creates partitions by priority, then in attribute (name) order.
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        Ok(out.into_iter().map(|(_, _, p)| p).collect())
    }

    fn table(&mut self, cm: &BTreeMap<String, Node>, what: &str) -> C<Vec<Partition>> {
        let Some(parts) = cm.get("partitions") else {
            return Ok(vec![]);
        };
        let Data::List(items) = &parts.data else {
            return Err(self.err(
                parts,
                format!("{what}.content.partitions must be a list (legacy `table` format)"),
            ));
        };
        let mut out = Vec::new();
        for (i, p) in items.iter().enumerate() {
            let pw = format!("{what}.content.partitions[{i}]");
            let pm = self.attrs(p, &pw)?.clone();
            let name = self
                .opt_string(&pm, "name", &pw)?
                .unwrap_or_else(|| format!("part{}", i + 1));
            let start = self
                .opt_string(&pm, "start", &pw)?
                .unwrap_or_else(|| "0%".into());
            let end = self
                .opt_string(&pm, "end", &pw)?
                .unwrap_or_else(|| "100%".into());
            let content = match pm.get("content") {
                Some(n) => Some(self.content(n, &format!("{pw}.content"))?),
                None => None,
            };
            out.push(Partition {
                name,
                size: PartSize::Span { start, end },
                type_code: self.opt_string(&pm, "part-type", &pw)?,
                content,
                why: Some(self.source(p)),
            });
        }
        Ok(out)
    }

    fn content(&mut self, n: &Node, what: &str) -> C<Content> {
        let m = self.attrs(n, what)?.clone();
        let ty = match m.get("type") {
            Some(t) => self.string(t, &format!("{what}.type"))?,
            None => return Err(self.err(n, format!("{what} has no `type`"))),
        };
        Ok(match ty.as_str() {
            "btrfs" => Content::Btrfs(self.btrfs(n, &m, what)?),
            "filesystem" => Content::Filesystem(PlainFilesystem {
                format: self.opt_string(&m, "format", what)?.unwrap_or_default(),
                mountpoint: self.opt_string(&m, "mountpoint", what)?,
                mount_options: self
                    .opt_list(&m, "mountOptions", what)?
                    .into_iter()
                    .filter(|o| o != "defaults")
                    .collect(),
                extra_args: self.opt_list(&m, "extraArgs", what)?,
            }),
            "swap" => Content::Swap(SwapPartition {
                random_encryption: self.boolean(&m, "randomEncryption", what)?,
                resume_device: self.boolean(&m, "resumeDevice", what)?,
            }),
            "luks" => {
                let allow_discards = match m.get("settings") {
                    Some(s) => {
                        let sm = self.attrs(s, &format!("{what}.settings"))?.clone();
                        self.boolean(&sm, "allowDiscards", &format!("{what}.settings"))?
                    }
                    None => false,
                };
                let inner = match m.get("content") {
                    Some(c) => self.content(c, &format!("{what}.content"))?,
                    None => Content::Other {
                        disko_type: "none".into(),
                    },
                };
                Content::Luks(Luks {
                    name: self
                        .opt_string(&m, "name", what)?
                        .unwrap_or_else(|| "crypted".into()),
                    allow_discards,
                    content: Box::new(inner),
                    why: Some(self.source(n)),
                })
            }
            other => {
                self.warn(
                    n,
                    format!("{what}: `type = \"{other}\"` is kept by name only (no btrfs inside)"),
                );
                Content::Other {
                    disko_type: other.to_string(),
                }
            }
        })
    }

    fn btrfs(&mut self, n: &Node, m: &BTreeMap<String, Node>, what: &str) -> C<BtrfsFilesystem> {
        self.check_keys(
            n,
            m,
            &[
                "type",
                "device",
                "extraArgs",
                "mountOptions",
                "mountpoint",
                "subvolumes",
                "swap",
                "preCreateHook",
                "postCreateHook",
                "preMountHook",
                "postMountHook",
                "preUnmountHook",
                "postUnmountHook",
            ],
            what,
        );
        let mkfs = mkfs_options(&self.opt_list(m, "extraArgs", what)?);
        let mut hooks = Hooks::default();
        for (key, slot) in [
            ("preCreateHook", &mut hooks.pre_create),
            ("postCreateHook", &mut hooks.post_create),
            ("preMountHook", &mut hooks.pre_mount),
            ("postMountHook", &mut hooks.post_mount),
            ("preUnmountHook", &mut hooks.pre_unmount),
            ("postUnmountHook", &mut hooks.post_unmount),
        ] {
            if let Some(h) = m.get(key) {
                let s = self.string(h, &format!("{what}.{key}"))?;
                if !s.trim().is_empty() {
                    *slot = Some(s);
                }
            }
        }
        // Mounts: (mount point, subvolume or None for the top level, options, node).
        let mut mounts: Vec<(String, Option<String>, ParsedMountOptions, Node)> = Vec::new();
        let top_mp = self.opt_string(m, "mountpoint", what)?;
        if let Some(mp) = &top_mp {
            let opts = self.opt_list(m, "mountOptions", what)?;
            let opts_node = m.get("mountOptions").unwrap_or(n).clone();
            let parsed = self.mount_options(&opts_node, &opts, &format!("{what}.mountOptions"))?;
            mounts.push((mp.clone(), None, parsed, n.clone()));
        }
        let mut subvolumes = Vec::new();
        if let Some(svs) = m.get("subvolumes") {
            for (key, sv) in self.attrs(svs, &format!("{what}.subvolumes"))?.clone() {
                let sw = format!("{what}.subvolumes.\"{key}\"");
                let sm = self.attrs(&sv, &sw)?.clone();
                self.check_keys(
                    &sv,
                    &sm,
                    &[
                        "name",
                        "type",
                        "mountpoint",
                        "mountOptions",
                        "extraArgs",
                        "swap",
                    ],
                    &sw,
                );
                let name = self.opt_string(&sm, "name", &sw)?.unwrap_or(key.clone());
                let mountpoint = self.opt_string(&sm, "mountpoint", &sw)?;
                let opts = self.opt_list(&sm, "mountOptions", &sw)?;
                let opts_node = sm.get("mountOptions").unwrap_or(&sv).clone();
                match &mountpoint {
                    Some(mp) => {
                        let parsed =
                            self.mount_options(&opts_node, &opts, &format!("{sw}.mountOptions"))?;
                        mounts.push((mp.clone(), Some(name.clone()), parsed, sv.clone()));
                    }
                    None if opts.iter().any(|o| o != "defaults") => self.warn(
                        &sv,
                        format!(
                            "subvolume `{name}` has mountOptions but no mountpoint: disko \
                             ignores them ({})",
                            opts.join(",")
                        ),
                    ),
                    None => {}
                }
                let swapfiles = match sm.get("swap") {
                    Some(s) => self.swapfiles(s, &format!("{sw}.swap"))?,
                    None => vec![],
                };
                if !swapfiles.is_empty() && mountpoint.is_none() {
                    return Err(self.err(&sv, format!("subvolume `{name}` has swap files but no mountpoint: disko needs one to place them")));
                }
                let mut data = DataPolicy::new(infer_purpose(
                    &name,
                    mountpoint.as_deref(),
                    !swapfiles.is_empty(),
                ));
                data.why.insert(
                    Aspect::Placement,
                    Why::new(
                        "As written in the configuration.",
                        [Ref::Source {
                            at: at_str(&sv, &self.origin),
                        }],
                    ),
                );
                subvolumes.push(Subvolume {
                    name,
                    mount: mountpoint.map(|mp| SubvolMount {
                        mountpoint: mp,
                        vfs: Default::default(),
                        fs_override: None,
                    }),
                    data,
                    swapfiles,
                    extra_args: self.opt_list(&sm, "extraArgs", &sw)?,
                });
            }
        }
        let top_swap = match m.get("swap") {
            Some(s) => self.swapfiles(s, &format!("{what}.swap"))?,
            None => vec![],
        };
        if !top_swap.is_empty() && top_mp.is_none() {
            return Err(self.err(
                n,
                format!("{what}.swap needs {what}.mountpoint (disko places swap files below it)"),
            ));
        }

        // The first mount sets the filesystem's options.
        let mut order: Vec<usize> = (0..mounts.len()).collect();
        order.sort_by_key(|&i| {
            let mp = &mounts[i].0;
            (mount_depth(mp), mp.clone())
        });
        let mut options = FsOptions::default();
        let mut why = BTreeMap::new();
        if let Some(&first) = order.first() {
            options = mounts[first].2.fs.clone();
            let tied: Vec<&str> = order
                .iter()
                .filter(|&&i| mount_depth(&mounts[i].0) == mount_depth(&mounts[first].0))
                .filter(|&&i| mounts[i].2.fs != options)
                .map(|&i| mounts[i].0.as_str())
                .collect();
            if !tied.is_empty() && mounts[first].0 != "/" {
                let n0 = mounts[first].3.clone();
                self.warn(
                    &n0,
                    format!(
                        "the mount order between {} and {} is not fixed by their paths, and \
                         their filesystem-wide options differ: assuming {} mounts first",
                        mounts[first].0,
                        tied.join(", "),
                        mounts[first].0
                    ),
                );
            }
            why.insert(
                "options".to_string(),
                Why::new(
                    format!(
                        "The options of the first mount, {}: later mounts of the filesystem \
                         cannot change them.",
                        mounts[first].0
                    ),
                    [
                        Ref::fact("1.1"),
                        Ref::Source {
                            at: at_str(&mounts[first].3, &self.origin),
                        },
                    ],
                ),
            );
        }
        let mut top_level = None;
        for (mp, sub, parsed, _) in mounts {
            let fs_override = (parsed.fs != options).then_some(parsed.fs);
            match sub {
                None => {
                    top_level = Some(TopLevelMount {
                        mountpoint: mp,
                        vfs: parsed.vfs,
                        fs_override,
                        swapfiles: top_swap.clone(),
                    })
                }
                Some(name) => {
                    if let Some(s) = subvolumes.iter_mut().find(|s| s.name == name)
                        && let Some(mnt) = &mut s.mount
                    {
                        mnt.vfs = parsed.vfs;
                        mnt.fs_override = fs_override;
                    }
                }
            }
        }
        // Attributes set by hooks.
        let mut keep_post_create = hooks.post_create.clone();
        for (hook, is_post_create) in [
            (hooks.post_create.clone(), true),
            (hooks.post_mount.clone(), false),
        ] {
            if let Some(text) = hook {
                let all_ours = self.hook_attributes(&text, &mut subvolumes, n);
                if is_post_create && all_ours {
                    keep_post_create = None;
                }
            }
        }
        hooks.post_create = keep_post_create;
        subvolumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(BtrfsFilesystem {
            mkfs,
            options,
            top_level,
            subvolumes,
            home_subvolumes: vec![],
            hooks,
            why,
        })
    }

    fn mount_options(&mut self, n: &Node, opts: &[String], what: &str) -> C<ParsedMountOptions> {
        parse_mount_options(opts).map_err(|e| self.err(n, format!("{what}: {e}")))
    }

    fn swapfiles(&mut self, n: &Node, what: &str) -> C<Vec<Swapfile>> {
        let mut out = Vec::new();
        for (key, f) in self.attrs(n, what)?.clone() {
            let fw = format!("{what}.{key}");
            let fm = self.attrs(&f, &fw)?.clone();
            let size_s = match fm.get("size") {
                Some(s) => self.string(s, &format!("{fw}.size"))?,
                None => return Err(self.err(&f, format!("{fw} has no `size` (e.g. \"8G\")"))),
            };
            let size = size_s
                .parse::<Bytes>()
                .map_err(|e| self.err(&f, format!("{fw}.size: {e}; disko accepts e.g. \"8G\"")))?;
            let priority = match fm.get("priority").map(|p| &p.data) {
                Some(Data::Int(i)) => Some(
                    i32::try_from(*i)
                        .map_err(|_| self.err(&f, format!("{fw}.priority out of range")))?,
                ),
                _ => None,
            };
            out.push(Swapfile {
                path: self.opt_string(&fm, "path", &fw)?.unwrap_or(key.clone()),
                size,
                priority,
                options: self
                    .opt_list(&fm, "options", &fw)?
                    .into_iter()
                    .filter(|o| o != "defaults")
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Reads `chattr +C PATH` and `btrfs property set PATH compression ALG` from a hook;
    /// true when every command in it is one the generator writes (so nothing else is lost
    /// by dropping the text).
    fn hook_attributes(&mut self, text: &str, subs: &mut [Subvolume], n: &Node) -> bool {
        let mut all_ours = true;
        let find = |path: &str, subs: &mut [Subvolume]| -> Option<usize> {
            let p = path.trim_matches(|c| c == '"' || c == '\'');
            // `$MNT/@name` (the top level temporarily mounted) or `/mnt/<mountpoint>`.
            subs.iter()
                .position(|s| {
                    let nm = s.name.trim_start_matches('/');
                    p.ends_with(&format!("/{nm}")) && (p.starts_with('$') || p.starts_with("${"))
                })
                .or_else(|| {
                    let mp = p.strip_prefix("/mnt")?;
                    let mp = if mp.is_empty() { "/" } else { mp };
                    subs.iter()
                        .position(|s| s.mount.as_ref().is_some_and(|m| m.mountpoint == mp))
                })
        };
        for line in text.lines().map(str::trim) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                [w, ..] if w.starts_with('#') => {}
                ["chattr", "+C", path] => match find(path, subs) {
                    Some(i) => subs[i].data.nocow = true,
                    None => {
                        all_ours = false;
                        self.warn(n, format!("hook sets NOCOW on {path}, which is no subvolume root of this filesystem"));
                    }
                },
                ["btrfs", "property", "set", path, "compression", alg] => {
                    match (find(path, subs), CompressionProperty::from_name(alg)) {
                        (Some(i), Some(c)) => subs[i].data.compression = Some(c),
                        _ => {
                            all_ours = false;
                            self.warn(n, format!("hook sets compression {alg} on {path}: not matched to a subvolume"));
                        }
                    }
                }
                ["(" | ")"] => {}
                [w, ..] if w.starts_with("MNTPOINT=$(mktemp") => {}
                ["mount", "\"$device\"", "\"$MNTPOINT\"", "-o", "subvol=/"] => {}
                ["trap", ..] if line.contains("umount") => {}
                _ => all_ours = false,
            }
        }
        all_ours
    }
}

fn part_size(s: &str) -> PartSize {
    s.parse::<PartSize>()
        .unwrap_or_else(|_| PartSize::Raw(s.to_string()))
}

/// Flags of mkfs.btrfs that take a value (the next word, or `--flag=value`).
pub const MKFS_TAKES_VALUE: &[&str] = &[
    "-L",
    "--label",
    "-d",
    "--data",
    "-m",
    "--metadata",
    "--csum",
    "--checksum",
    "-C",
    "-n",
    "--nodesize",
    "-O",
    "--features",
    "-s",
    "--sectorsize",
    "-r",
    "--rootdir",
    "-U",
    "--uuid",
    "--device-uuid",
    "-b",
    "--byte-count",
    "-R",
    "--runtime-features",
    "-u",
    "--subvol",
    "--inode-flags",
    "--compress",
];

/// mkfs.btrfs arguments as disko passes them (space-joined, so one element may hold several).
pub fn mkfs_options(args: &[String]) -> MkfsOptions {
    let words: Vec<String> = args
        .iter()
        .flat_map(|a| a.split_whitespace().map(String::from))
        .collect();
    let mut o = MkfsOptions::default();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (w.clone(), None),
        };
        let takes = MKFS_TAKES_VALUE;
        if takes.contains(&flag.as_str()) {
            let v = inline.or_else(|| {
                i += 1;
                words.get(i).cloned()
            });
            let Some(v) = v else {
                o.other.push(flag);
                break;
            };
            match flag.as_str() {
                "-L" | "--label" => o.label = Some(v),
                "-d" | "--data" => o.data_profile = Some(v),
                "-m" | "--metadata" => o.metadata_profile = Some(v),
                "--csum" | "--checksum" | "-C" => o.checksum = Some(v),
                "-n" | "--nodesize" => o.nodesize = Some(v),
                "-O" | "--features" => o.features.extend(v.split(',').map(String::from)),
                // Not modelled: kept with its value, so that the value is not taken for a device.
                _ => {
                    o.other.push(flag);
                    o.other.push(v);
                }
            }
        } else if w.starts_with('-') {
            o.other.push(w.clone());
        } else {
            o.extra_devices.push(w.clone());
        }
        i += 1;
    }
    o
}

fn class_from_path(dev: &str) -> Option<DeviceClass> {
    let d = dev.rsplit('/').next().unwrap_or(dev);
    if d.starts_with("nvme") {
        Some(DeviceClass::Nvme)
    } else if d.starts_with("vd") || d.starts_with("virtio-") {
        Some(DeviceClass::Virtio)
    } else if d.starts_with("mmcblk") || d.starts_with("mmc-") {
        Some(DeviceClass::Sd)
    } else if d.starts_with("usb-") {
        Some(DeviceClass::Usb)
    } else {
        None
    }
}

/// A first guess at what a subvolume holds, from its name and mount point.
pub fn infer_purpose(name: &str, mountpoint: Option<&str>, swap: bool) -> Purpose {
    if swap {
        return Purpose::Swap;
    }
    if name.ends_with("/.snapshots") || mountpoint.is_some_and(|m| m.ends_with("/.snapshots")) {
        return Purpose::Snapshots;
    }
    let Some(mp) = mountpoint else {
        return Purpose::Other;
    };
    match mp {
        "/" => return Purpose::System,
        "/home" => return Purpose::UserData,
        "/nix" => return Purpose::NixStore,
        "/var/log" => return Purpose::Logs,
        "/tmp" | "/var/tmp" | "/var/cache" => return Purpose::Cache,
        "/.swapvol" | "/swap" => return Purpose::Swap,
        _ => {}
    }
    // The tools database knows where programs keep their data (loaded once).
    static DB: std::sync::OnceLock<Option<crate::profiles::ToolDb>> = std::sync::OnceLock::new();
    if let Some(db) = DB.get_or_init(|| crate::profiles::ToolDb::bundled().ok()) {
        let mut best: Option<(usize, Purpose)> = None;
        for t in db.tools() {
            for p in &t.paths {
                if p.path.starts_with('/')
                    && (mp == p.path || mp.starts_with(&format!("{}/", p.path)))
                    && best.is_none_or(|(l, _)| p.path.len() > l)
                {
                    best = Some((p.path.len(), p.class));
                }
            }
        }
        if let Some((_, c)) = best {
            return c;
        }
    }
    if mp.starts_with("/home/") {
        Purpose::UserData
    } else {
        Purpose::Other
    }
}

impl Layout {
    /// The part of a layout a disko.nix holds: what a round trip through disko.nix must keep.
    /// Purposes, tools, snapshot policies, per-user subvolumes, system settings, disk classes
    /// and reasons live elsewhere (the NixOS module, the plan) and are cleared.
    pub fn disko_view(&self) -> Layout {
        let mut l = self.without_reasons();
        for d in &mut l.disks {
            d.class = None;
        }
        fn clear(c: &mut Content) {
            match c {
                Content::Btrfs(b) => {
                    b.home_subvolumes.clear();
                    for s in &mut b.subvolumes {
                        let mut p = DataPolicy::new(Purpose::Other);
                        p.nocow = s.data.nocow;
                        p.compression = s.data.compression;
                        s.data = p;
                    }
                }
                Content::Luks(l) => clear(&mut l.content),
                _ => {}
            }
        }
        for d in &mut l.disks {
            match &mut d.content {
                DiskContent::Gpt { partitions } | DiskContent::Table { partitions, .. } => {
                    for p in partitions {
                        if let Some(c) = &mut p.content {
                            clear(c);
                        }
                    }
                }
                DiskContent::Whole { content } => clear(content),
            }
        }
        l
    }
}

#[cfg(test)]
mod tests;
