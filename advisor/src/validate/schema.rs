//! disko's option schema, as the module system checks it: every option name and type of the
//! disko types a btrfs layout uses, read from nix-community/disko 878ec37 (`lib/types/*.nix`,
//! `lib/default.nix`; the btrfs part is `../shared/docs/disko-btrfs-schema.md`).
//!
//! Hooks (`preCreateHook` ... `postUnmountHook`) are added by disko's `mkSubType` to every
//! type (disk, gpt, btrfs, luks, ...), but not to the plain submodules inside them: gpt
//! partitions, LVM volumes, btrfs subvolumes and swap files have none. ZFS and bcachefs types
//! are not checked (no btrfs inside); a warning says so.

use super::findings::{Finding, Severity};
use super::locate::Sources;
use crate::nixeval::{Data, Node};

/// An option's type, the way disko declares it.
pub(crate) enum Ty {
    /// `str`.
    Str,
    /// `nonEmptyStr`.
    NonEmptyStr,
    /// `int`.
    Int,
    /// `bool`.
    Bool,
    /// `lines` (hooks).
    Lines,
    /// disko's `absolute-pathname`.
    AbsPath,
    /// A mount point (`nullOr absolute-pathname`); relative and trailing-slash paths are the
    /// mount rules' (`mount/relative`, `mount/trailing-slash`), so only the type is checked.
    MountPoint,
    /// `nullOr T`.
    NullOr(&'static Ty),
    /// `enum [ ... ]`.
    Enum(&'static [&'static str]),
    /// `strMatching` (or an `either` of them), with a description and an example.
    Pattern(fn(&str) -> bool, &'static str, &'static str),
    /// `listOf T`.
    ListOf(&'static Ty),
    /// `attrsOf anything`.
    AnyAttrs,
    /// `attrsOf (submodule ...)`.
    AttrsOfSub(&'static Schema),
    /// `listOf (submodule ...)`.
    ListOfSub(&'static Schema),
    /// `nullOr (submodule ...)`.
    NullOrSub(&'static Schema),
    /// disko's `deviceType` (true) or `partitionType` (false): `nullOr` one of the types.
    Content(bool),
}

impl Ty {
    /// How disko names the type in its errors.
    fn describe(&self) -> String {
        match self {
            Ty::Str => "string".into(),
            Ty::NonEmptyStr => "non-empty string".into(),
            Ty::Int => "signed integer".into(),
            Ty::Bool => "boolean".into(),
            Ty::Lines => "strings concatenated with \"\\n\"".into(),
            Ty::AbsPath => "absolute pathname".into(),
            Ty::MountPoint => "null or absolute pathname".into(),
            Ty::NullOr(t) => format!("null or {}", t.describe()),
            Ty::Enum(v) => format!(
                "one of {}",
                v.iter()
                    .map(|x| format!("\"{x}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ty::Pattern(_, d, _) => d.to_string(),
            Ty::ListOf(t) => format!("list of {}", t.describe()),
            Ty::AnyAttrs => "attribute set".into(),
            Ty::AttrsOfSub(_) => "attribute set of submodules".into(),
            Ty::ListOfSub(_) => "list of submodules".into(),
            Ty::NullOrSub(_) => "null or submodule".into(),
            Ty::Content(_) => "null or a disko content set (`{ type = \"...\"; ... }`)".into(),
        }
    }

    /// A value of the type, for fixes.
    fn example(&self) -> String {
        match self {
            Ty::Str | Ty::NonEmptyStr => "\"...\"".into(),
            Ty::Int => "1".into(),
            Ty::Bool => "true".into(),
            Ty::Lines => "''\n  ...\n''".into(),
            Ty::AbsPath | Ty::MountPoint => "\"/path\"".into(),
            Ty::NullOr(t) => t.example(),
            Ty::Enum(v) => format!("\"{}\"", v.first().copied().unwrap_or("")),
            Ty::Pattern(_, _, e) => format!("\"{e}\""),
            Ty::ListOf(t) => format!("[ {} ]", t.example()),
            Ty::AnyAttrs | Ty::AttrsOfSub(_) | Ty::NullOrSub(_) => "{ ... }".into(),
            Ty::ListOfSub(_) => "[ { ... } ]".into(),
            Ty::Content(_) => "{ type = \"btrfs\"; ... }".into(),
        }
    }
}

/// One option.
pub(crate) struct Opt {
    pub name: &'static str,
    pub ty: Ty,
    /// No default: leaving it out fails (`... was accessed but has no value defined`).
    pub required: bool,
}

/// A submodule: its options and whether disko adds hooks to it.
pub(crate) struct Schema {
    /// How messages call it (`btrfs subvolume`).
    pub name: &'static str,
    pub options: &'static [Opt],
    pub hooks: bool,
}

const fn o(name: &'static str, ty: Ty) -> Opt {
    Opt {
        name,
        ty,
        required: false,
    }
}

const fn req(name: &'static str, ty: Ty) -> Opt {
    Opt {
        name,
        ty,
        required: true,
    }
}

/// The hooks `mkSubType` adds.
pub(crate) const HOOKS: [&str; 6] = [
    "preCreateHook",
    "postCreateHook",
    "preMountHook",
    "postMountHook",
    "preUnmountHook",
    "postUnmountHook",
];

/// Internal, read-only options disko computes (never set).
const INTERNAL: [&str; 8] = [
    "_parent", "_meta", "_create", "_mount", "_unmount", "_config", "_pkgs", "_index",
];

fn size_kmgtp(s: &str) -> bool {
    let digits = s.trim_end_matches(['K', 'M', 'G', 'T', 'P']);
    s.len() - digits.len() <= 1 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn swap_size(s: &str) -> bool {
    s.is_empty()
        || (s.len() >= 2
            && s.ends_with(['K', 'M', 'G', 'T', 'P'])
            && s[..s.len() - 1].bytes().all(|b| b.is_ascii_digit()))
}

fn part_size(s: &str) -> bool {
    s == "100%" || size_kmgtp(s)
}

fn hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5 && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| hex(p, n))
}

fn gpt_type(s: &str) -> bool {
    hex(s, 4) || guid(s)
}

pub(crate) static SWAPFILE: Schema = Schema {
    name: "btrfs swap file",
    options: &[
        req(
            "size",
            Ty::Pattern(
                swap_size,
                "string matching the pattern ^([0-9]+[KMGTP])?$",
                "8G",
            ),
        ),
        o("path", Ty::Str),
        o("priority", Ty::NullOr(&Ty::Int)),
        o("options", Ty::ListOf(&Ty::NonEmptyStr)),
    ],
    hooks: false,
};

pub(crate) static SUBVOLUME: Schema = Schema {
    name: "btrfs subvolume",
    options: &[
        o("name", Ty::Str),
        o("type", Ty::Enum(&["btrfs_subvol"])),
        o("extraArgs", Ty::ListOf(&Ty::Str)),
        o("mountOptions", Ty::ListOf(&Ty::Str)),
        o("mountpoint", Ty::MountPoint),
        o("swap", Ty::AttrsOfSub(&SWAPFILE)),
    ],
    hooks: false,
};

pub(crate) static BTRFS: Schema = Schema {
    name: "btrfs filesystem",
    options: &[
        req("type", Ty::Enum(&["btrfs"])),
        o("device", Ty::Str),
        o("extraArgs", Ty::ListOf(&Ty::Str)),
        o("mountOptions", Ty::ListOf(&Ty::Str)),
        o("subvolumes", Ty::AttrsOfSub(&SUBVOLUME)),
        o("mountpoint", Ty::MountPoint),
        o("swap", Ty::AttrsOfSub(&SWAPFILE)),
    ],
    hooks: true,
};

static FILESYSTEM: Schema = Schema {
    name: "filesystem",
    options: &[
        req("type", Ty::Enum(&["filesystem"])),
        o("device", Ty::Str),
        o("extraArgs", Ty::ListOf(&Ty::Str)),
        o("mountOptions", Ty::ListOf(&Ty::Str)),
        o("mountpoint", Ty::MountPoint),
        req("format", Ty::Str),
    ],
    hooks: true,
};

static SWAP: Schema = Schema {
    name: "swap partition",
    options: &[
        req("type", Ty::Enum(&["swap"])),
        o("device", Ty::Str),
        o(
            "discardPolicy",
            Ty::NullOr(&Ty::Enum(&["once", "pages", "both"])),
        ),
        o("extraArgs", Ty::ListOf(&Ty::Str)),
        o("mountOptions", Ty::ListOf(&Ty::NonEmptyStr)),
        o("priority", Ty::NullOr(&Ty::Int)),
        o("randomEncryption", Ty::Bool),
        o("resumeDevice", Ty::Bool),
    ],
    hooks: true,
};

static LUKS: Schema = Schema {
    name: "luks",
    options: &[
        req("type", Ty::Enum(&["luks"])),
        o("device", Ty::Str),
        req("name", Ty::Str),
        o("keyFile", Ty::NullOr(&Ty::AbsPath)),
        o("passwordFile", Ty::NullOr(&Ty::AbsPath)),
        o("askPassword", Ty::Bool),
        o("settings", Ty::AnyAttrs),
        o("additionalKeyFiles", Ty::ListOf(&Ty::AbsPath)),
        o("initrdUnlock", Ty::Bool),
        o("extraFormatArgs", Ty::ListOf(&Ty::Str)),
        o("extraOpenArgs", Ty::ListOf(&Ty::Str)),
        o("content", Ty::Content(true)),
    ],
    hooks: true,
};

static LVM_PV: Schema = Schema {
    name: "lvm_pv",
    options: &[
        req("type", Ty::Enum(&["lvm_pv"])),
        o("device", Ty::Str),
        req("vg", Ty::Str),
    ],
    hooks: true,
};

static MDRAID: Schema = Schema {
    name: "mdraid",
    options: &[
        req("type", Ty::Enum(&["mdraid"])),
        o("device", Ty::Str),
        req("name", Ty::Str),
    ],
    hooks: true,
};

static HYBRID: Schema = Schema {
    name: "gpt hybrid MBR entry",
    options: &[
        o("mbrPartitionType", Ty::NullOr(&Ty::Str)),
        o("mbrBootableFlag", Ty::Bool),
    ],
    hooks: false,
};

static GPT_PARTITION: Schema = Schema {
    name: "gpt partition",
    options: &[
        o(
            "type",
            Ty::Pattern(gpt_type, "string matching [A-Fa-f0-9]{4} or a GUID", "8300"),
        ),
        o("attributes", Ty::ListOf(&Ty::Int)),
        o("device", Ty::Str),
        o("priority", Ty::Int),
        o("name", Ty::Str),
        o(
            "uuid",
            Ty::NullOr(&Ty::Pattern(
                guid,
                "string matching a UUID (8-4-4-4-12 hex digits)",
                "809b3a2b-828a-4730-95e1-75b6343e415a",
            )),
        ),
        o("label", Ty::Str),
        o(
            "size",
            Ty::Pattern(
                part_size,
                "\"100%\" or a string matching [0-9]+[KMGTP]?",
                "100%",
            ),
        ),
        o("alignment", Ty::Int),
        o("start", Ty::Str),
        o("end", Ty::Str),
        o("content", Ty::Content(false)),
        o("hybrid", Ty::NullOrSub(&HYBRID)),
    ],
    hooks: false,
};

static GPT: Schema = Schema {
    name: "gpt",
    options: &[
        req("type", Ty::Enum(&["gpt"])),
        o("device", Ty::Str),
        o("partitions", Ty::AttrsOfSub(&GPT_PARTITION)),
        o("efiGptPartitionFirst", Ty::Bool),
    ],
    hooks: true,
};

static TABLE_PARTITION: Schema = Schema {
    name: "table partition",
    options: &[
        o("part-type", Ty::Enum(&["primary", "logical", "extended"])),
        o(
            "fs-type",
            Ty::NullOr(&Ty::Enum(&[
                "bcachefs",
                "btrfs",
                "ext2",
                "ext3",
                "ext4",
                "fat16",
                "fat32",
                "hfs",
                "hfs+",
                "linux-swap",
                "ntfs",
                "reiserfs",
                "udf",
                "xfs",
            ])),
        ),
        o("name", Ty::NullOr(&Ty::Str)),
        o("start", Ty::Str),
        o("end", Ty::Str),
        o("flags", Ty::ListOf(&Ty::Str)),
        o("bootable", Ty::Bool),
        o("content", Ty::Content(false)),
    ],
    hooks: false,
};

static TABLE: Schema = Schema {
    name: "table",
    options: &[
        req("type", Ty::Enum(&["table"])),
        o("device", Ty::Str),
        o("format", Ty::Enum(&["gpt", "msdos"])),
        o("partitions", Ty::ListOfSub(&TABLE_PARTITION)),
    ],
    hooks: true,
};

static DISK: Schema = Schema {
    name: "disk",
    options: &[
        o("name", Ty::Str),
        o("type", Ty::Enum(&["disk"])),
        req("device", Ty::AbsPath),
        o("destroy", Ty::Bool),
        o("imageName", Ty::Str),
        o(
            "imageSize",
            Ty::Pattern(size_kmgtp, "string matching [0-9]+[KMGTP]?", "2G"),
        ),
        o("content", Ty::Content(true)),
    ],
    hooks: true,
};

static MDADM: Schema = Schema {
    name: "mdadm",
    options: &[
        o("name", Ty::Str),
        o("type", Ty::Enum(&["mdadm"])),
        o("level", Ty::Int),
        o(
            "metadata",
            Ty::Enum(&["1", "1.0", "1.1", "1.2", "default", "ddf", "imsm"]),
        ),
        o("content", Ty::Content(true)),
        o("extraArgs", Ty::ListOf(&Ty::Str)),
    ],
    hooks: true,
};

static LV: Schema = Schema {
    name: "lvm logical volume",
    options: &[
        o("name", Ty::Str),
        o("priority", Ty::Int),
        req("size", Ty::Str),
        o(
            "lvm_type",
            Ty::NullOr(&Ty::Enum(&[
                "mirror",
                "raid0",
                "raid1",
                "raid4",
                "raid5",
                "raid6",
                "thin-pool",
                "thinlv",
            ])),
        ),
        o("extraArgs", Ty::ListOf(&Ty::Str)),
        o("pool", Ty::NullOr(&Ty::Str)),
        o("content", Ty::Content(false)),
    ],
    hooks: false,
};

static LVM_VG: Schema = Schema {
    name: "lvm_vg",
    options: &[
        o("name", Ty::Str),
        req("type", Ty::Enum(&["lvm_vg"])),
        o("lvs", Ty::AttrsOfSub(&LV)),
    ],
    hooks: true,
};

static NODEV: Schema = Schema {
    name: "nodev",
    options: &[
        o("type", Ty::Enum(&["nodev"])),
        req("fsType", Ty::Str),
        o("device", Ty::Str),
        o("mountpoint", Ty::MountPoint),
        o("mountOptions", Ty::ListOf(&Ty::Str)),
    ],
    hooks: true,
};

/// `disko.devices` itself.
const TOP: [&str; 6] = [
    "bcachefs_filesystems",
    "disk",
    "mdadm",
    "zpool",
    "lvm_vg",
    "nodev",
];

/// The content types allowed in a device (`true`) or a partition (`false`).
fn content_types(device: bool) -> &'static [&'static str] {
    if device {
        &[
            "bcachefs",
            "table",
            "gpt",
            "btrfs",
            "filesystem",
            "zfs",
            "mdraid",
            "luks",
            "lvm_pv",
            "swap",
        ]
    } else {
        &[
            "bcachefs",
            "btrfs",
            "filesystem",
            "zfs",
            "mdraid",
            "luks",
            "lvm_pv",
            "swap",
        ]
    }
}

fn content_schema(ty: &str) -> Option<&'static Schema> {
    Some(match ty {
        "btrfs" => &BTRFS,
        "filesystem" => &FILESYSTEM,
        "swap" => &SWAP,
        "luks" => &LUKS,
        "lvm_pv" => &LVM_PV,
        "mdraid" => &MDRAID,
        "gpt" => &GPT,
        "table" => &TABLE,
        _ => return None,
    })
}

/// The nearest of `known` to `wrong`, if it is near enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    wrong: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lw = wrong.to_lowercase();
    known
        .into_iter()
        .map(|k| {
            let score = if k.to_lowercase() == lw {
                1.0
            } else {
                strsim::jaro_winkler(&lw, &k.to_lowercase())
            };
            (score, k)
        })
        .filter(|(s, _)| *s >= 0.84)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, k)| k)
}

/// `disko.devices.a."b c".d` for messages.
pub(crate) fn option_path(keys: &[String]) -> String {
    let mut s = String::from("disko.devices");
    for k in keys {
        if k.starts_with('[') {
            s.push_str(k);
        } else if crate::disko::writer::is_ident(k) {
            s.push('.');
            s.push_str(k);
        } else {
            s.push_str(&format!(".\"{}\"", k.replace('"', "\\\"")));
        }
    }
    s
}

/// Checks `disko.devices` against the schema.
pub(crate) struct SchemaCheck<'s> {
    pub sources: &'s Sources,
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
}

impl SchemaCheck<'_> {
    fn push(
        &mut self,
        code: &'static str,
        node: &Node,
        keys: &[String],
        message: String,
        fix: String,
    ) {
        let loc = self.sources.loc(node, keys);
        self.findings
            .push(Finding::at(code, Severity::Error, &loc, message, fix));
    }

    /// The whole of `disko.devices`.
    pub fn devices(&mut self, devices: &Node) {
        let Data::Attrs(m) = &devices.data else {
            if !matches!(devices.data, Data::Unknown(_)) {
                self.type_error(devices, &[], "attribute set", "{ disk = { ... }; }");
            }
            return;
        };
        for (k, v) in m {
            let keys = vec![k.clone()];
            let schema = match k.as_str() {
                "disk" => &DISK,
                "mdadm" => &MDADM,
                "lvm_vg" => &LVM_VG,
                "nodev" => &NODEV,
                "zpool" | "bcachefs_filesystems" => {
                    self.warnings.push(format!(
                        "{}: disko.devices.{k} is not checked (no btrfs inside)",
                        self.sources.loc(v, &keys)
                    ));
                    continue;
                }
                _ => {
                    self.unknown(v, &keys, k, "disko.devices", &TOP, None);
                    continue;
                }
            };
            self.value(&Ty::AttrsOfSub(schema), v, &keys);
        }
    }

    fn unknown(
        &mut self,
        node: &Node,
        keys: &[String],
        key: &str,
        what: &str,
        known: &[&str],
        special: Option<String>,
    ) {
        let suggestion = did_you_mean(key, known.iter().copied());
        let mut message = format!("disko: The option `{}` does not exist", option_path(keys));
        if let Some(s) = suggestion {
            message.push_str(&format!("; did you mean `{s}`?"));
        } else {
            message.push_str(&format!(" ({what} has: {})", known.join(", ")));
        }
        let fix = special.unwrap_or_else(|| match suggestion {
            Some(s) => format!("rename `{key}` to `{s}`"),
            None => format!("remove `{key}`"),
        });
        self.push("schema/unknown-option", node, keys, message, fix);
    }

    fn type_error(&mut self, node: &Node, keys: &[String], ty: &str, example: &str) {
        let got = match &node.data {
            Data::Str(s) => format!("the string \"{}\"", short(s)),
            Data::Int(i) => format!("the integer {i}"),
            Data::Bool(b) => format!("{b}"),
            _ => node.kind().to_string(),
        };
        let name = keys.last().map_or("disko.devices", String::as_str);
        let as_int = match &node.data {
            Data::Str(s) if ty.contains("integer") => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let fix = if let Some(i) = as_int {
            format!("write `{name} = {i};` (a number, without quotes)")
        } else if example.contains('\n') {
            format!("write `{name}` as {}", example.replace('\n', " "))
        } else {
            format!("write `{name} = {example};`")
        };
        self.push(
            "schema/type",
            node,
            keys,
            format!(
                "disko: The option `{}` is not of type `{ty}`: it is {got}",
                option_path(keys)
            ),
            fix,
        );
    }

    /// Checks a value against a type.
    fn value(&mut self, ty: &Ty, node: &Node, keys: &[String]) {
        if matches!(node.data, Data::Unknown(_)) {
            return;
        }
        let bad = |s: &mut Self| s.type_error(node, keys, &ty.describe(), &ty.example());
        match ty {
            Ty::Str | Ty::Lines => {
                if !matches!(node.data, Data::Str(_)) {
                    bad(self)
                }
            }
            Ty::NonEmptyStr => match &node.data {
                Data::Str(s) if !s.trim().is_empty() => {}
                _ => bad(self),
            },
            Ty::Int => {
                if !matches!(node.data, Data::Int(_)) {
                    bad(self)
                }
            }
            Ty::Bool => {
                if !matches!(node.data, Data::Bool(_)) {
                    bad(self)
                }
            }
            Ty::AbsPath => match &node.data {
                Data::Str(s)
                    if s.starts_with('/') && (s == "/" || s.split('/').any(|c| !c.is_empty())) => {}
                _ => bad(self),
            },
            Ty::MountPoint => {
                if !matches!(node.data, Data::Str(_) | Data::Null) {
                    bad(self)
                }
            }
            Ty::NullOr(t) => {
                if !matches!(node.data, Data::Null) {
                    self.value(t, node, keys)
                }
            }
            Ty::Enum(vals) => match &node.data {
                Data::Str(s) if vals.contains(&s.as_str()) => {}
                Data::Str(s) => {
                    let suggestion = match vals {
                        [only] => Some(*only),
                        _ => did_you_mean(s, vals.iter().copied()),
                    };
                    let fix = match suggestion {
                        Some(v) => format!(
                            "write `{} = \"{v}\";`",
                            keys.last().map_or("", String::as_str)
                        ),
                        None => {
                            format!("use one of {}", ty.describe().trim_start_matches("one of "))
                        }
                    };
                    let loc_node = node;
                    self.push(
                        "schema/type",
                        loc_node,
                        keys,
                        format!(
                            "disko: The option `{}` is not of type `{}`: it is \"{}\"",
                            option_path(keys),
                            ty.describe(),
                            short(s)
                        ),
                        fix,
                    );
                }
                _ => bad(self),
            },
            Ty::Pattern(f, desc, example) => match &node.data {
                Data::Str(s) if f(s) => {}
                Data::Str(s) => {
                    let fixed = fix_size(s);
                    let name = keys.last().map_or("", String::as_str);
                    let fix = match fixed.filter(|x| f(x)) {
                        Some(x) => format!("write `{name} = \"{x}\";`"),
                        None => format!("write `{name} = \"{example}\";` (a {desc})"),
                    };
                    self.push(
                        "schema/type",
                        node,
                        keys,
                        format!(
                            "disko: The option `{}` is not of type `{desc}`: it is \"{}\"",
                            option_path(keys),
                            short(s)
                        ),
                        fix,
                    );
                }
                _ => bad(self),
            },
            Ty::ListOf(t) => match &node.data {
                Data::List(items) => {
                    for (i, it) in items.iter().enumerate() {
                        let mut k = keys.to_vec();
                        k.push(format!("[{i}]"));
                        // An item without a location is reported at the list.
                        let it = located(it, node);
                        self.value(t, &it, &k);
                    }
                }
                Data::Str(s) if matches!(t, Ty::Str | Ty::NonEmptyStr) => {
                    let name = keys.last().map_or("", String::as_str);
                    let items: Vec<String> = s
                        .split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(|x| format!("\"{x}\""))
                        .collect();
                    self.push(
                        "schema/type",
                        node,
                        keys,
                        format!(
                            "disko: The option `{}` is not of type `{}`: it is the string \"{}\"",
                            option_path(keys),
                            ty.describe(),
                            short(s)
                        ),
                        format!("write `{name} = [ {} ];`", items.join(" ")),
                    );
                }
                _ => bad(self),
            },
            Ty::AnyAttrs => {
                if !matches!(node.data, Data::Attrs(_)) {
                    bad(self)
                }
            }
            Ty::AttrsOfSub(s) => match &node.data {
                Data::Attrs(m) => {
                    for (k, v) in m {
                        let mut kk = keys.to_vec();
                        kk.push(k.clone());
                        let v = located(v, node);
                        self.submodule(s, &v, &kk);
                    }
                }
                _ => bad(self),
            },
            Ty::ListOfSub(s) => match &node.data {
                Data::List(items) => {
                    for (i, it) in items.iter().enumerate() {
                        let mut kk = keys.to_vec();
                        kk.push(format!("[{i}]"));
                        let it = located(it, node);
                        self.submodule(s, &it, &kk);
                    }
                }
                _ => bad(self),
            },
            Ty::NullOrSub(s) => {
                if !matches!(node.data, Data::Null) {
                    self.submodule(s, node, keys)
                }
            }
            Ty::Content(device) => self.content(*device, node, keys),
        }
    }

    fn content(&mut self, device: bool, node: &Node, keys: &[String]) {
        let m = match &node.data {
            Data::Null | Data::Unknown(_) => return,
            Data::Attrs(m) => m,
            _ => {
                self.type_error(
                    node,
                    keys,
                    &Ty::Content(device).describe(),
                    "{ type = \"btrfs\"; }",
                );
                return;
            }
        };
        let allowed = content_types(device);
        let ty = match m.get("type").map(|t| &t.data) {
            Some(Data::Str(s)) => s.clone(),
            Some(Data::Unknown(_)) => return,
            Some(_) => {
                let t = m.get("type").map_or(node, |t| t);
                let mut k = keys.to_vec();
                k.push("type".into());
                self.type_error(t, &k, "string", "\"btrfs\"");
                return;
            }
            None => {
                self.push(
                    "schema/missing-option",
                    node,
                    keys,
                    format!(
                        "disko: The option `{}.type` was accessed but has no value defined: \
                         disko picks the content's type by it",
                        option_path(keys)
                    ),
                    format!("add `type = \"...\";` (one of {})", allowed.join(", ")),
                );
                return;
            }
        };
        let tnode = m.get("type").map_or(node, |t| t);
        let mut tkeys = keys.to_vec();
        tkeys.push("type".into());
        if !allowed.contains(&ty.as_str()) {
            let all = content_types(true);
            let msg = if all.contains(&ty.as_str()) {
                format!(
                    "disko: `type = \"{ty}\"` is not allowed here: a partition holds one of {} \
                     (partition tables go on a disk)",
                    allowed.join(", ")
                )
            } else {
                format!(
                    "disko: The option `{}` is not of type `one of {}`: it is \"{}\"",
                    option_path(&tkeys),
                    allowed.join(","),
                    short(&ty)
                )
            };
            let fix = match did_you_mean(&ty, allowed.iter().copied()) {
                Some(s) if s != ty => format!("write `type = \"{s}\";`"),
                _ => format!("use one of {}", allowed.join(", ")),
            };
            self.push("schema/type", tnode, &tkeys, msg, fix);
            return;
        }
        match content_schema(&ty) {
            Some(s) => self.submodule(s, node, keys),
            None => self.warnings.push(format!(
                "{}: `type = \"{ty}\"` at {} is not checked (no btrfs inside)",
                self.sources.loc(node, keys),
                option_path(keys)
            )),
        }
    }

    fn submodule(&mut self, schema: &'static Schema, node: &Node, keys: &[String]) {
        let m = match &node.data {
            Data::Unknown(_) => return,
            Data::Attrs(m) => m,
            _ => {
                self.type_error(
                    node,
                    keys,
                    &format!("submodule ({})", schema.name),
                    "{ ... }",
                );
                return;
            }
        };
        let names: Vec<&str> = schema
            .options
            .iter()
            .map(|o| o.name)
            .chain(if schema.hooks { &HOOKS[..] } else { &[] }.iter().copied())
            .collect();
        for (k, v) in m {
            let mut kk = keys.to_vec();
            kk.push(k.clone());
            let v = located(v, node);
            if let Some(opt) = schema.options.iter().find(|o| o.name == k) {
                self.value(&opt.ty, &v, &kk);
            } else if schema.hooks && HOOKS.contains(&k.as_str()) {
                self.value(&Ty::Lines, &v, &kk);
            } else if INTERNAL.contains(&k.as_str()) {
                self.push(
                    "schema/internal-option",
                    &v,
                    &kk,
                    format!(
                        "disko: The option `{}` is internal and read-only: disko computes it",
                        option_path(&kk)
                    ),
                    format!("remove `{k}`"),
                );
            } else if k == "_module" {
            } else {
                let special = special_fix(schema, k, keys, m);
                self.unknown(&v, &kk, k, &format!("a {}", schema.name), &names, special);
            }
        }
        for opt in schema.options.iter().filter(|o| o.required) {
            if !m.contains_key(opt.name) {
                self.push(
                    "schema/missing-option",
                    node,
                    keys,
                    format!(
                        "disko: The option `{}.{}` was accessed but has no value defined \
                         ({} needs it)",
                        option_path(keys),
                        opt.name,
                        schema.name
                    ),
                    format!("add `{} = {};`", opt.name, opt.ty.example()),
                );
            }
        }
    }
}

/// A fix for the options people expect on a subvolume (NOCOW, compression, hooks).
fn special_fix(
    schema: &Schema,
    key: &str,
    keys: &[String],
    m: &std::collections::BTreeMap<String, Node>,
) -> Option<String> {
    if !std::ptr::eq(schema, &SUBVOLUME) {
        return None;
    }
    let name = m
        .get("name")
        .and_then(Node::as_str)
        .map(str::to_string)
        .or_else(|| keys.last().cloned())
        .unwrap_or_default();
    let name = name.trim_start_matches('/');
    let lk = key.to_lowercase();
    if HOOKS.contains(&key) {
        return Some(format!(
            "hooks exist only on the btrfs node (btrfs-tuning-facts.md §1.1; disko-btrfs-schema.md \
             \"Hooks\"): move it to the filesystem's `{key}` and address the subvolume as \
             `\"$MNTPOINT/{name}\"` after mounting the top level there:\n{}",
            hook_snippet(&format!(
                "# commands for {name}, e.g. chattr +C \"$MNTPOINT/{name}\""
            ))
        ));
    }
    if lk.contains("cow") || lk == "nodatasum" {
        return Some(format!(
            "disko has no NOCOW option and mount options cannot set it per subvolume \
             (btrfs-tuning-facts.md §1.1): remove `{key}` and set the NOCOW attribute on the \
             empty subvolume in the btrfs node's postCreateHook:\n{}",
            hook_snippet(&format!("chattr +C \"$MNTPOINT/{name}\""))
        ));
    }
    if lk.starts_with("compress") {
        return Some(format!(
            "disko has no compression option and `compress=` in one subvolume's mountOptions is \
             ignored (btrfs-tuning-facts.md §1.1): remove `{key}` and set the compression \
             property in the btrfs node's postCreateHook:\n{}",
            hook_snippet(&format!(
                "btrfs property set \"$MNTPOINT/{name}\" compression zstd"
            ))
        ));
    }
    None
}

/// A postCreateHook that mounts the top level and runs `cmd` (disko-btrfs-schema.md).
pub(crate) fn hook_snippet(cmd: &str) -> String {
    format!(
        "postCreateHook = ''\n  (\n    MNTPOINT=$(mktemp -d)\n    mount \"$device\" \"$MNTPOINT\" -o subvol=/\n    trap 'umount \"$MNTPOINT\"; rmdir \"$MNTPOINT\"' EXIT\n    {cmd}\n  )\n'';"
    )
}

/// A child node with its parent's location when it has none of its own.
fn located(child: &Node, parent: &Node) -> Node {
    if child.at.is_some() || parent.at.is_none() {
        child.clone()
    } else {
        Node {
            at: parent.at.clone(),
            ..child.clone()
        }
    }
}

/// A value shortened for messages.
pub(crate) fn short(s: &str) -> String {
    let one: String = s.chars().take(60).collect();
    let one = one.replace('\n', "\\n");
    if s.chars().count() > 60 {
        format!("{one}...")
    } else {
        one
    }
}

/// `8GB`, `8GiB`, `8g` -> `8G`.
fn fix_size(s: &str) -> Option<String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .or_else(|| t.strip_suffix('B'))
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(t);
    let t = t.to_uppercase();
    (t != s).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_disko() {
        assert!(swap_size("8G") && swap_size("") && swap_size("512M"));
        assert!(!swap_size("8GB") && !swap_size("8") && !swap_size("G"));
        assert!(part_size("100%") && part_size("1G") && part_size("512"));
        assert!(!part_size("50%") && !part_size("1GiB"));
        assert!(gpt_type("EF00") && gpt_type("0fc63daf-8483-4772-8e79-3d69d8477de4"));
        assert!(!gpt_type("EF0"));
        assert_eq!(fix_size("8GB").as_deref(), Some("8G"));
        assert_eq!(fix_size("16gib").as_deref(), Some("16G"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("mountoptions", ["mountOptions", "mountpoint"]),
            Some("mountOptions")
        );
        assert_eq!(
            did_you_mean("mountPoint", ["mountOptions", "mountpoint"]),
            Some("mountpoint")
        );
        assert_eq!(did_you_mean("zzz", ["mountOptions"]), None);
    }
}
