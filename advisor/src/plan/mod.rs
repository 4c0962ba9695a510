//! The planner: toolstack + hardware -> [`Layout`], with the reason for every choice.
//!
//! 1. Collect the data the tools write (the tools database), the base system paths, project
//!    directories and explicit `[[data]]` wishes.
//! 2. Treat each piece of data by its kind, the tools' I/O pattern, the priority and the
//!    purpose (`treat`); explicit wishes override, conflicts are resolved by priority and
//!    reported.
//! 3. Group: data gets its own subvolume when its treatment differs from the subvolume it sits
//!    in; nested data with the same treatment merges into its parent.
//! 4. Choose the filesystem-wide options once for the filesystem, and the system settings
//!    (sysctls, I/O scheduler, snapshots, engine settings) that disko does not hold.

mod system;
mod treat;

use crate::error::AdvisorError;
use crate::hardware::{DeviceClass, DiskInfo, HardwareProfile};
use crate::layout::{
    BtrfsFilesystem, Bytes, Compression, CompressionProperty, Content, DataPolicy, Disk,
    DiskContent, FsOptions, HomeSubvolume, Hooks, Layout, Luks, MkfsOptions, PartSize, Partition,
    PlainFilesystem, Purpose, SCHEMA_VERSION, Snapshots, SubvolMount, Subvolume, Swapfile,
    VfsOptions,
};
use crate::profiles::{Access, Category, Level, Mode, Tool, ToolDb};
use crate::reason::{Aspect, Ref, Why};
use crate::toolstack::{HostPurpose, ModeChoice, Priority, Toolstack, VolumeKind};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use treat::{Treatment, treat};

/// A plan: the layout, what it was made from, and what had to be traded off.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// What the plan was made from.
    pub input: PlanInput,
    /// The layout.
    pub layout: Layout,
    /// Wishes that conflicted, and how the priority resolved them.
    pub conflicts: Vec<Conflict>,
    /// Things the user should know (hardware limits, assumptions).
    pub warnings: Vec<Why>,
}

/// The inputs of a plan, as understood.
#[derive(Clone, Debug, Serialize)]
pub struct PlanInput {
    /// Where the toolstack came from.
    pub origin: String,
    /// One line about the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tools, by canonical name.
    pub tools: Vec<String>,
    /// Priority.
    pub priority: Priority,
    /// Purpose.
    pub purpose: HostPurpose,
    /// Hardware, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareProfile>,
    /// The disk planned on.
    pub disk: DiskInfo,
}

/// Two wishes that cannot both hold, and the choice made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// What it is about (a path or an option).
    pub subject: String,
    /// What was wanted, and by whom.
    pub wanted: Vec<String>,
    /// What the plan does.
    pub chosen: String,
    /// Why.
    pub why: Why,
}

/// What the rules see.
#[derive(Clone, Debug)]
pub(crate) struct Context {
    pub priority: Priority,
    pub purpose: HostPurpose,
    pub class: DeviceClass,
    pub snapshots_enabled: bool,
    pub ram: Option<u64>,
}

/// Where data lives: a system path or a path in every user's home.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DataPath {
    System(String),
    Home(String),
}

impl DataPath {
    fn parse(p: &str) -> Self {
        match p.strip_prefix("~/") {
            Some(h) => DataPath::Home(h.to_string()),
            None => DataPath::System(p.to_string()),
        }
    }

    fn display(&self) -> String {
        match self {
            DataPath::System(p) => p.clone(),
            DataPath::Home(h) => format!("~/{h}"),
        }
    }

    fn depth(&self) -> usize {
        match self {
            DataPath::System(p) if p == "/" => 0,
            DataPath::System(p) => p.matches('/').count(),
            DataPath::Home(h) => 100 + h.matches('/').count(),
        }
    }

    /// True when `self` lies inside `other` (component-wise).
    fn inside(&self, other: &DataPath) -> bool {
        match (self, other) {
            (DataPath::System(a), DataPath::System(b)) => {
                a != b && (b == "/" || a.starts_with(&format!("{b}/")))
            }
            (DataPath::Home(a), DataPath::Home(b)) => a != b && a.starts_with(&format!("{b}/")),
            (DataPath::Home(_), DataPath::System(b)) => b == "/home" || b == "/",
            (DataPath::System(_), DataPath::Home(_)) => false,
        }
    }
}

/// One piece of data to place.
#[derive(Clone, Debug)]
struct Dataset<'a> {
    path: DataPath,
    purpose: Purpose,
    tools: BTreeMap<String, &'a Tool>,
    notes: Vec<String>,
    wish: Option<crate::toolstack::DataWish>,
}

/// A planned subvolume (system or per-user) while grouping.
#[derive(Clone, Debug)]
struct Unit {
    path: DataPath,
    purpose: Purpose,
    tools: BTreeSet<String>,
    holds: BTreeSet<String>,
    treatment: Treatment,
}

/// Makes a plan. `hardware` (from facter.json) takes precedence over the toolstack's
/// `[hardware]`; `device` (from `--disk`) over both.
pub fn plan(
    toolstack: &Toolstack,
    db: &ToolDb,
    hardware: Option<HardwareProfile>,
    device: Option<&str>,
) -> Result<Plan, AdvisorError> {
    let tools = toolstack.resolve(db)?;
    for (name, o) in &toolstack.tool_options {
        if let Some(p) = &o.profile {
            let s = crate::strategy::containers::Strategies::bundled()?;
            if s.profile(p).is_none() {
                return Err(AdvisorError::Request(format!(
                    "{}: [tool.{name}] profile `{p}`: expected one of {}",
                    toolstack.origin,
                    s.profiles
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    let hardware = hardware.or_else(|| toolstack.hardware_profile());
    let mut warnings = Vec::new();
    let mut conflicts = Vec::new();

    let disk = choose_disk(hardware.as_ref(), device, &mut warnings)?;
    let ctx = Context {
        priority: toolstack.priority,
        purpose: toolstack.purpose,
        class: disk.class,
        snapshots_enabled: toolstack.snapshots,
        ram: hardware.as_ref().and_then(|h| h.ram_bytes),
    };
    hardware_warnings(&ctx, &tools, hardware.as_ref(), &disk, &mut warnings);

    let datasets = collect(toolstack, db, &tools, &ctx, &mut conflicts);
    let fs_compress = choose_compression(&ctx);
    let units = group(&ctx, datasets, &mut conflicts, &mut warnings);
    let options = fs_options(
        &ctx,
        &tools,
        &units,
        toolstack,
        db,
        fs_compress,
        &mut conflicts,
    );
    let mut btrfs = build_btrfs(units, options);
    add_swap(&ctx, toolstack, &mut btrfs, &disk, &mut warnings);
    let db_partitions = database_partitions(&ctx, toolstack, db, &mut btrfs, &disk, &mut warnings)?;

    let system = system::settings(&ctx, &tools, toolstack, db, &btrfs);
    let inner = Content::Btrfs(btrfs);
    let root_content = if toolstack.encrypt {
        let discards = !disk.class.is_rotational();
        Content::Luks(Luks {
            name: "crypted".into(),
            allow_discards: discards,
            content: Box::new(inner),
            why: Some(Why::new(
                if discards {
                    "Encrypted with LUKS (toolstack `encrypt = true`), passphrase asked at format \
                     time and at boot. `allowDiscards` lets TRIM through the encryption layer, \
                     so btrfs's default `discard=async` reaches the SSD (it reveals which blocks \
                     are free)."
                } else {
                    "Encrypted with LUKS (toolstack `encrypt = true`), passphrase asked at format \
                     time and at boot. No `allowDiscards`: a rotational disk has no TRIM."
                },
                [Ref::input("toolstack encrypt"), Ref::fact("1.2")],
            )),
        })
    } else {
        inner
    };
    let esp = Partition {
        name: "ESP".into(),
        size: PartSize::Fixed(Bytes::gib(1)),
        type_code: Some("EF00".into()),
        content: Some(Content::Filesystem(PlainFilesystem {
            format: "vfat".into(),
            mountpoint: Some("/boot".into()),
            mount_options: vec!["umask=0077".into()],
            extra_args: vec![],
        })),
        why: Some(Why::new(
            "EFI system partition at /boot, 1 GiB so that several NixOS generations' kernels and \
             initrds fit; `umask=0077` keeps the random seed and keys private.",
            [Ref::input("NixOS boot loader (systemd-boot)")],
        )),
    };
    let root = Partition {
        name: if toolstack.encrypt { "luks" } else { "root" }.into(),
        size: PartSize::Percent(100),
        type_code: None,
        content: Some(root_content),
        why: Some(Why::new(
            "One btrfs filesystem over the rest of the disk: subvolumes share its free space, \
             so no data set can run out while another has room.",
            [Ref::fact("1.1")],
        )),
    };
    let mut layout = Layout {
        schema_version: SCHEMA_VERSION,
        disks: vec![Disk {
            name: "main".into(),
            kind: crate::layout::DiskKind::Disk,
            device: disk.device.clone(),
            class: Some(disk.class),
            content: DiskContent::Gpt {
                partitions: std::iter::once(esp)
                    .chain(db_partitions)
                    .chain(std::iter::once(root))
                    .collect(),
            },
            why: Some(disk_why(&disk, hardware.as_ref(), device)),
        }],
        nodev: vec![],
        system,
    };
    if toolstack.hibernate {
        hibernation(&mut layout, toolstack.encrypt);
    }
    layout.check()?;
    Ok(Plan {
        input: PlanInput {
            origin: toolstack.origin.clone(),
            description: toolstack.description.clone(),
            tools: tools.iter().map(|t| t.name.clone()).collect(),
            priority: toolstack.priority,
            purpose: toolstack.purpose,
            hardware,
            disk,
        },
        layout,
        conflicts,
        warnings,
    })
}

fn choose_disk(
    hardware: Option<&HardwareProfile>,
    device: Option<&str>,
    warnings: &mut Vec<Why>,
) -> Result<DiskInfo, AdvisorError> {
    let from_hw = hardware.and_then(HardwareProfile::system_disk).cloned();
    let disk = match (device, from_hw) {
        (Some(dev), hw) => {
            let matched = hardware.and_then(|h| {
                h.disks
                    .iter()
                    .find(|d| d.device == dev || d.kernel_name.as_deref() == Some(dev))
            });
            match (matched, hw) {
                (Some(d), _) => DiskInfo {
                    device: dev.to_string(),
                    ..d.clone()
                },
                (None, Some(h)) if hardware.is_some_and(|x| x.disks.len() == 1) => DiskInfo {
                    device: dev.to_string(),
                    kernel_name: None,
                    ..h
                },
                _ => {
                    let class = guess_class_from_path(dev);
                    DiskInfo {
                        device: dev.to_string(),
                        class,
                        class_confidence: crate::hardware::Confidence::Low,
                        size_bytes: None,
                        ..DiskInfo::default()
                    }
                }
            }
        }
        (None, Some(d)) => d,
        (None, None) => {
            warnings.push(Why::new(
                "No hardware given (--facter or a [hardware] table): planned for an unknown \
                 disk at /dev/sda with default sizes. Give --facter facter.json for a plan \
                 that fits the machine.",
                [Ref::input("no hardware")],
            ));
            DiskInfo {
                device: "/dev/sda".into(),
                class: DeviceClass::Unknown,
                class_confidence: crate::hardware::Confidence::Low,
                size_bytes: None,
                ..DiskInfo::default()
            }
        }
    };
    if !disk.device.starts_with("/dev/") {
        return Err(AdvisorError::Request(format!(
            "disk `{}` is not a device path (expected /dev/...)",
            disk.device
        )));
    }
    if let Some(h) = hardware {
        // The other disks, grouped by class, model and size.
        let mut groups: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for d in h
            .disks
            .iter()
            .filter(|d| d.device != disk.device && d.kernel_name.as_deref() != Some(&disk.device))
        {
            let key = (
                d.class.to_string(),
                d.model.clone().unwrap_or_else(|| d.device.clone()),
                d.size_bytes
                    .map(|s| format!(", {} GB", s / 1_000_000_000))
                    .unwrap_or_default(),
            );
            *groups.entry(key).or_default() += 1;
        }
        let others: Vec<String> = groups
            .into_iter()
            .map(|((class, model, size), n)| {
                let count = if n > 1 {
                    format!("{n} × ")
                } else {
                    String::new()
                };
                format!("{count}{model} ({class}{size})")
            })
            .collect();
        if !others.is_empty() && device.is_none() {
            warnings.push(Why::new(
                format!(
                    "Planned on the fastest disk, {} ({}). Not used by this plan: {}. Give \
                     --disk to choose another.",
                    disk.device,
                    disk.class,
                    others.join("; ")
                ),
                [Ref::input(&h.source)],
            ));
        }
    }
    Ok(disk)
}

fn guess_class_from_path(dev: &str) -> DeviceClass {
    let d = dev.rsplit('/').next().unwrap_or(dev);
    if d.starts_with("nvme") {
        DeviceClass::Nvme
    } else if d.starts_with("vd") || d.starts_with("virtio-") {
        DeviceClass::Virtio
    } else if d.starts_with("mmcblk") || d.starts_with("mmc-") {
        DeviceClass::Sd
    } else if d.starts_with("usb-") {
        DeviceClass::Usb
    } else {
        DeviceClass::Unknown
    }
}

fn disk_why(disk: &DiskInfo, hw: Option<&HardwareProfile>, device: Option<&str>) -> Why {
    let what = match (device, hw) {
        (Some(_), _) => "given with --disk".to_string(),
        (None, Some(h)) => format!("from {}", h.source),
        (None, None) => "a placeholder: set it to your disk".to_string(),
    };
    let model = disk
        .model
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let stable = if disk.device.starts_with("/dev/disk/by-id/") {
        " A /dev/disk/by-id path stays the same when disks are added."
    } else {
        " Prefer a /dev/disk/by-id/... path: kernel names can change between boots."
    };
    Why::new(
        format!(
            "{} disk{model}, {what}.{stable}",
            disk.class.as_str().to_uppercase()
        ),
        [Ref::input("hardware")],
    )
}

fn hardware_warnings(
    ctx: &Context,
    tools: &[&Tool],
    hw: Option<&HardwareProfile>,
    disk: &DiskInfo,
    warnings: &mut Vec<Why>,
) {
    let heavy: Vec<&str> = tools
        .iter()
        .filter(|t| {
            matches!(
                t.category,
                Category::Database | Category::Container | Category::Vm
            )
        })
        .filter(|t| !t.paths.is_empty())
        .map(|t| t.name.as_str())
        .collect();
    if !heavy.is_empty() && (ctx.class.is_rotational() || ctx.class.is_slow_flash()) {
        warnings.push(Why::new(
            format!(
                "{} on {}: random I/O and fsyncs are bounded by the device (published \
                 pg_test_fsync figures: about 80 fdatasync/s on a 2 TB HDD against ~1 000–1 400 \
                 on SATA/NVMe SSDs). The layout helps, but an SSD helps more.",
                heavy.join(", "),
                disk.class
            ),
            [Ref::method("3.1"), Ref::fact("2")],
        ));
    }
    if let Some(ram) = ctx.ram
        && ram < (2 << 30)
        && !heavy.is_empty()
    {
        warnings.push(Why::new(
            format!(
                "Only {} MiB of RAM for {}: the page cache cannot hold the working set, so \
                 reads go to the disk.",
                ram >> 20,
                heavy.join(", ")
            ),
            [Ref::input("RAM")],
        ));
    }
    if disk.class_confidence == crate::hardware::Confidence::Low && hw.is_some() {
        warnings.push(Why::new(
            format!(
                "The class of {} ({}) is a guess: check it, because HDD and SSD plans differ.",
                disk.device, disk.class
            ),
            [Ref::input("hardware")],
        ));
    }
}

fn mode_of(ts: &Toolstack, db: &ToolDb, tool: &Tool) -> ModeChoice {
    ts.options_for(db, &tool.name)
        .mode
        .unwrap_or(match ts.purpose {
            HostPurpose::Development => ModeChoice::Both,
            HostPurpose::Production => ModeChoice::Rootful,
        })
}

fn collect<'a>(
    ts: &Toolstack,
    db: &ToolDb,
    tools: &[&'a Tool],
    ctx: &Context,
    conflicts: &mut Vec<Conflict>,
) -> Vec<Dataset<'a>> {
    let mut sets: BTreeMap<DataPath, Dataset<'a>> = BTreeMap::new();
    let mut add =
        |path: DataPath, purpose: Purpose, tool: Option<&'a Tool>, note: Option<String>| {
            let e = sets.entry(path.clone()).or_insert_with(|| Dataset {
                path: path.clone(),
                purpose,
                tools: BTreeMap::new(),
                notes: Vec::new(),
                wish: None,
            });
            if e.purpose != purpose {
                let (keep, other) = if precedence(purpose) > precedence(e.purpose) {
                    (purpose, e.purpose)
                } else {
                    (e.purpose, purpose)
                };
                let mut wanted = vec![format!(
                    "{} (by {})",
                    e.purpose,
                    e.tools.keys().cloned().collect::<Vec<_>>().join(", ")
                )];
                wanted.push(format!(
                    "{purpose} (by {})",
                    tool.map_or("the toolstack", |t| t.name.as_str())
                ));
                conflicts.push(Conflict {
                    subject: path.display(),
                    wanted,
                    chosen: format!("treated as {keep}"),
                    why: Why::new(
                        format!(
                            "Two kinds of data at one path: {keep} needs the stricter treatment, \
                         which is also safe for {other}."
                        ),
                        [Ref::fact("5")],
                    ),
                });
                e.purpose = keep;
            }
            if let Some(t) = tool {
                e.tools.insert(t.name.clone(), t);
            }
            if let Some(n) = note {
                e.notes.push(n);
            }
        };
    add(DataPath::System("/".into()), Purpose::System, None, None);
    add(
        DataPath::System("/home".into()),
        Purpose::UserData,
        None,
        None,
    );
    add(
        DataPath::System("/nix".into()),
        Purpose::NixStore,
        None,
        None,
    );
    add(
        DataPath::System("/var/log".into()),
        Purpose::Logs,
        None,
        None,
    );
    let desktop = tools.iter().any(|t| {
        matches!(
            t.category,
            Category::Ide | Category::Editor | Category::Browser | Category::Desktop
        )
    }) || ctx.purpose == HostPurpose::Development;
    if desktop {
        add(
            DataPath::Home(".cache".into()),
            Purpose::Cache,
            None,
            Some("XDG cache ($XDG_CACHE_HOME)".into()),
        );
    }
    for t in tools {
        let opts = ts.options_for(db, &t.name);
        let mode = mode_of(ts, db, t);
        for p in &t.paths {
            let wanted = match (p.mode, mode) {
                (None, _) | (_, ModeChoice::Both) => true,
                (Some(Mode::Rootful), m) => m == ModeChoice::Rootful,
                (Some(Mode::Rootless), m) => m == ModeChoice::Rootless,
            };
            if !wanted {
                continue;
            }
            let mut purpose = p.class;
            if purpose == Purpose::ContainerVolumes && opts.volumes == Some(VolumeKind::Database) {
                purpose = Purpose::Database;
            }
            add(DataPath::parse(&p.path), purpose, Some(t), p.note.clone());
        }
    }
    for proj in &ts.projects {
        add(
            DataPath::System(proj.clone()),
            Purpose::Projects,
            None,
            Some("project directory".into()),
        );
    }
    let mut out: Vec<Dataset<'a>> = sets.into_values().collect();
    for w in &ts.data {
        let path = DataPath::parse(&w.path);
        let purpose = w.purpose.unwrap_or(Purpose::UserData);
        match out.iter_mut().find(|d| d.path == path) {
            Some(d) => {
                d.wish = Some(w.clone());
                if w.purpose.is_some() {
                    d.purpose = purpose;
                }
            }
            None => out.push(Dataset {
                path,
                purpose,
                tools: BTreeMap::new(),
                notes: w.note.iter().cloned().collect(),
                wish: Some(w.clone()),
            }),
        }
    }
    out.sort_by(|a, b| (a.path.depth(), &a.path).cmp(&(b.path.depth(), &b.path)));
    out
}

/// Which purpose wins when two tools disagree about one path (the stricter treatment).
fn precedence(p: Purpose) -> u8 {
    match p {
        Purpose::Database => 9,
        Purpose::VmImages => 8,
        Purpose::ContainerVolumes => 7,
        Purpose::Projects | Purpose::UserData | Purpose::AppState | Purpose::Mail => 6,
        Purpose::ServiceState => 5,
        Purpose::ContainerStorage => 4,
        Purpose::Media | Purpose::Games | Purpose::AiModels => 3,
        Purpose::NixStore | Purpose::Logs | Purpose::System | Purpose::Swap => 2,
        Purpose::Cache | Purpose::PackageCache | Purpose::BuildOutput => 1,
        Purpose::Snapshots | Purpose::Other => 0,
    }
}

/// The treatment of one dataset: the rules, then the user's explicit wishes.
fn treatment_of(ctx: &Context, d: &Dataset<'_>, conflicts: &mut Vec<Conflict>) -> Treatment {
    let tools: Vec<&Tool> = d.tools.values().copied().collect();
    let mut t = treat(ctx, d.purpose, &tools);
    let personal = matches!(
        d.purpose,
        Purpose::UserData | Purpose::AppState | Purpose::Media | Purpose::Mail
    );
    match &d.path {
        // Inside homes, personal data stays in the snapshotted home subvolume.
        DataPath::Home(_) if personal => t.own = false,
        // Per-user subvolumes are made by tmpfiles and get no snapshot schedule of their own:
        // data that wants snapshots stays in the subvolume it sits in.
        DataPath::Home(_) if t.snapshots.is_on() => t.own = false,
        // Service data under /var must not roll back with /.
        DataPath::System(p) if personal && p != "/home" && !p.starts_with("/home/") => {
            t.own = true;
        }
        _ => {}
    }
    if matches!(d.purpose, Purpose::Database | Purpose::VmImages)
        && ctx.priority == Priority::Durability
        && tools.iter().any(|x| x.cow_sensitivity >= Level::High)
    {
        conflicts.push(Conflict {
            subject: d.path.display(),
            wanted: vec![
                format!(
                    "NOCOW for in-place overwrites ({})",
                    tools
                        .iter()
                        .map(|x| x.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "data checksums and cheap snapshots (priority durability)".into(),
            ],
            chosen: "copy-on-write with checksums".into(),
            why: Why::new(
                "NOCOW turns off data checksums, so scrub can no longer detect corruption; \
                 priority durability keeps them.",
                [Ref::fact("1.4"), Ref::input("toolstack priority")],
            ),
        });
    }
    let Some(w) = &d.wish else { return t };
    t.own = true;
    t.why.insert(
        Aspect::Placement,
        Why::new(
            format!(
                "Listed in the toolstack's [[data]] as {}{}.",
                d.purpose,
                w.note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
            [Ref::input("toolstack [[data]]")],
        ),
    );
    if let Some(n) = w.nocow {
        t.nocow = n;
        t.why.insert(
            Aspect::Nocow,
            Why::new(
                if n {
                    "NOCOW as asked in [[data]]: in-place writes, no checksums, no compression."
                } else {
                    "Copy-on-write as asked in [[data]]."
                },
                [Ref::input("toolstack [[data]] nocow"), Ref::fact("1.4")],
            ),
        );
    }
    if let Some(c) = w.compression {
        t.compression = Some(c);
        t.why.insert(
            Aspect::Compression,
            Why::new(
                format!(
                    "Compression property `{}` as asked in [[data]].",
                    c.as_str()
                ),
                [
                    Ref::input("toolstack [[data]] compression"),
                    Ref::fact("1.1"),
                ],
            ),
        );
    }
    if let Some(s) = w.snapshots {
        t.snapshots = if s {
            match t.snapshots {
                Snapshots::Off => Snapshots::Timeline {
                    hourly: 0,
                    daily: 7,
                    weekly: 4,
                    monthly: 0,
                    consistency: crate::layout::Consistency::Any,
                },
                on => on,
            }
        } else {
            Snapshots::Off
        };
        t.why.insert(
            Aspect::Snapshots,
            Why::new(
                if s {
                    "Snapshotted as asked in [[data]]."
                } else {
                    "Not snapshotted, as asked in [[data]]."
                },
                [Ref::input("toolstack [[data]] snapshots"), Ref::fact("5")],
            ),
        );
    }
    if t.nocow
        && t.compression
            .is_some_and(|c| c != CompressionProperty::None)
    {
        let keep_nocow = ctx.priority != Priority::Durability;
        let wanted = vec![
            "NOCOW (in-place writes)".to_string(),
            format!(
                "compression `{}`",
                t.compression.map_or("", CompressionProperty::as_str)
            ),
        ];
        let chosen;
        if keep_nocow {
            t.compression = None;
            chosen = "NOCOW, no compression".to_string();
        } else {
            t.nocow = false;
            chosen = "copy-on-write with compression and checksums".to_string();
        }
        t.why.insert(
            Aspect::Nocow,
            Why::new(
                format!(
                    "NOCOW and compression were both asked, but btrfs never compresses NOCOW \
                     files; priority {} chose: {chosen}.",
                    ctx.priority
                ),
                [Ref::fact("1.2"), Ref::input("toolstack priority")],
            ),
        );
        conflicts.push(Conflict {
            subject: d.path.display(),
            wanted,
            chosen,
            why: Why::new(
                format!(
                    "btrfs never compresses NOCOW files; priority {} decides (performance and \
                     balanced keep NOCOW, durability keeps copy-on-write with checksums).",
                    ctx.priority
                ),
                [Ref::fact("1.2"), Ref::input("toolstack priority")],
            ),
        });
    }
    if t.nocow && d.purpose == Purpose::Swap {
        t.nocow = false;
    }
    t
}

fn group(
    ctx: &Context,
    datasets: Vec<Dataset<'_>>,
    conflicts: &mut Vec<Conflict>,
    warnings: &mut Vec<Why>,
) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    for d in datasets {
        let t = treatment_of(ctx, &d, conflicts);
        // The closest planned subvolume this data sits in.
        let parent = units
            .iter()
            .enumerate()
            .filter(|(_, u)| d.path.inside(&u.path))
            .max_by_key(|(_, u)| u.path.depth())
            .map(|(i, _)| i);
        let tools: BTreeSet<String> = d.tools.keys().cloned().collect();
        let merge_into = match parent {
            Some(i) if !t.own => Some(i),
            Some(i) if units[i].treatment.key(units[i].purpose) == t.key(d.purpose) => Some(i),
            _ => None,
        };
        match merge_into {
            Some(i) => {
                let u = &mut units[i];
                if t.snapshots.is_on() && !u.treatment.snapshots.is_on() {
                    warnings.push(Why::new(
                        format!(
                            "{} ({}) deserves snapshots but lies inside {}, which is not \
                             snapshotted; back it up another way{}.",
                            d.path.display(),
                            d.purpose,
                            u.path.display(),
                            if d.purpose == Purpose::ContainerVolumes {
                                " (e.g. `podman volume export`)"
                            } else {
                                ""
                            }
                        ),
                        [Ref::fact("5")],
                    ));
                }
                u.tools.extend(tools);
                u.holds.insert(d.path.display());
            }
            None => units.push(Unit {
                path: d.path.clone(),
                purpose: d.purpose,
                tools,
                holds: BTreeSet::from([d.path.display()]),
                treatment: t,
            }),
        }
    }
    units
}

/// The filesystem-wide compression: zstd level 1 unless speed comes first on a fast device.
fn choose_compression(ctx: &Context) -> Option<Compression> {
    let fast = matches!(ctx.class, DeviceClass::Nvme | DeviceClass::Ram);
    if ctx.priority == Priority::Performance && fast {
        None
    } else {
        Some(Compression::zstd(1))
    }
}

fn compression_why(ctx: &Context, c: Option<Compression>) -> Why {
    match c {
        Some(c) => Why::new(
            format!(
                "`compress={c}` on every mount: compression is filesystem-wide and only the \
                 first mount's value counts, so every mount carries the same value. Level 1 \
                 keeps most of level 3's ratio at a fraction of its cost (zstd 1: ratio 2.57 at \
                 260 MB/s, zstd 3: 2.71 at 174 MB/s on 2 vCPUs); on {} disks fewer bytes written \
                 also means {}. Incompressible data is skipped by the heuristic; NOCOW files are \
                 never compressed.",
                ctx.class,
                if ctx.class.is_rotational() || ctx.class.is_slow_flash() {
                    "less time waiting for a slow device"
                } else {
                    "less wear and space"
                }
            ),
            [Ref::fact("1.1"), Ref::fact("1.2"), Ref::method("4")],
        ),
        None => Why::new(
            format!(
                "No filesystem-wide compression: priority performance on a fast {} device, \
                 where zstd costs CPU time on every write (zstd 1 wrote 260 MB/s against 504 MB/s \
                 uncompressed on 2 vCPUs). Data that compresses well and is written once (the \
                 Nix store) gets the `compression` property instead.",
                ctx.class
            ),
            [Ref::fact("1.1"), Ref::method("4")],
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn fs_options(
    ctx: &Context,
    tools: &[&Tool],
    units: &[Unit],
    ts: &Toolstack,
    db: &ToolDb,
    compress: Option<Compression>,
    conflicts: &mut Vec<Conflict>,
) -> (FsOptions, BTreeMap<String, Why>) {
    let mut o = FsOptions {
        compress,
        ..FsOptions::default()
    };
    let mut why = BTreeMap::new();
    why.insert("compress".to_string(), compression_why(ctx, compress));
    if !ctx.class.is_rotational() {
        why.insert(
            "discard".to_string(),
            Why::new(
                "No `discard` option written: since kernel 6.2 btrfs uses `discard=async` \
                 (batched TRIM) by default where the device supports it; synchronous `discard` \
                 costs a lot.",
                [Ref::fact("1.2"), Ref::fact("9")],
            ),
        );
    }
    if ctx.class.is_rotational() {
        let small_random: Vec<&str> = tools
            .iter()
            .filter(|t| {
                t.access == Access::RandomOverwrite
                    && !matches!(
                        t.file_sizes,
                        crate::profiles::FileSizes::Large | crate::profiles::FileSizes::Huge
                    )
            })
            .map(|t| t.name.as_str())
            .collect();
        let big_overwrites: Vec<String> = units
            .iter()
            .filter(|u| {
                matches!(u.purpose, Purpose::Database | Purpose::VmImages) && !u.treatment.nocow
            })
            .flat_map(|u| u.tools.iter().cloned())
            .collect();
        if !small_random.is_empty() && big_overwrites.is_empty() {
            o.autodefrag = true;
            why.insert(
                "autodefrag".to_string(),
                Why::new(
                    format!(
                        "`autodefrag` on this HDD: {} rewrite small SQLite files at random, and \
                         on rotational media every extra fragment is a seek (autodefrag \"works \
                         best for small files\"). Trade-off: it unshares extents shared with \
                         snapshots, so snapshots grow a little more.",
                        small_random.join(", ")
                    ),
                    [Ref::fact("1.2"), Ref::fact("2"), Ref::fact("5")],
                ),
            );
        } else if !small_random.is_empty() {
            conflicts.push(Conflict {
                subject: "autodefrag (filesystem-wide)".into(),
                wanted: vec![
                    format!(
                        "on, for small random writes on an HDD ({})",
                        small_random.join(", ")
                    ),
                    format!(
                        "off, for large copy-on-write files ({})",
                        big_overwrites.join(", ")
                    ),
                ],
                chosen: "off".into(),
                why: Why::new(
                    "autodefrag is filesystem-wide and \"may not be well suited for large \
                     database workloads\"; the large files win.",
                    [Ref::fact("1.2"), Ref::fact("2")],
                ),
            });
            why.insert(
                "autodefrag".to_string(),
                Why::new(
                    "No `autodefrag`: it is filesystem-wide and not suited to the large \
                     copy-on-write database or image files here.",
                    [Ref::fact("1.2"), Ref::fact("2")],
                ),
            );
        }
    }
    let rootless_btrfs = tools.iter().any(|t| {
        t.category == Category::Container
            && ts.options_for(db, &t.name).driver.as_deref() == Some("btrfs")
            && matches!(mode_of(ts, db, t), ModeChoice::Rootless | ModeChoice::Both)
    });
    if rootless_btrfs {
        o.user_subvol_rm_allowed = true;
        why.insert(
            "user_subvol_rm_allowed".to_string(),
            Why::new(
                "Rootless containers with the btrfs storage driver create a subvolume per layer \
                 and must be able to delete them (`user_subvol_rm_allowed`, filesystem-wide).",
                [Ref::fact("3"), Ref::fact("1.2")],
            ),
        );
    }
    (o, why)
}

/// The subvolume name for a path: short names for the usual places, else the path.
fn subvol_name(path: &str) -> String {
    match path {
        "/" => "@root".into(),
        "/home" => "@home".into(),
        "/nix" => "@nix".into(),
        "/var/log" => "@log".into(),
        "/.swapvol" => "@swap".into(),
        _ => {
            let rest = ["/var/lib/", "/var/", "/srv/", "/home/", "/"]
                .iter()
                .find_map(|p| path.strip_prefix(p))
                .unwrap_or(path);
            let cleaned: String = rest
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            let mut name = String::from("@");
            for c in cleaned.trim_matches('-').chars() {
                if !(c == '-' && name.ends_with('-')) {
                    name.push(c);
                }
            }
            name
        }
    }
}

/// Database data that the matrix places on a partition of its own (priority performance):
/// its subvolume leaves the btrfs filesystem and becomes a partition, sized from the
/// toolstack's `data_size` or a quarter of the disk (at least 8 GiB).
fn database_partitions(
    ctx: &Context,
    toolstack: &Toolstack,
    db: &ToolDb,
    btrfs: &mut BtrfsFilesystem,
    disk: &DiskInfo,
    warnings: &mut Vec<Why>,
) -> Result<Vec<Partition>, AdvisorError> {
    let Some((matrix, results)) = crate::strategy::db::bundled() else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < btrfs.subvolumes.len() {
        let s = &btrfs.subvolumes[i];
        let choice = (s.data.purpose == Purpose::Database)
            .then(|| {
                s.data.tools.iter().find_map(|t| {
                    let c = matrix.choose(t, ctx.priority, ctx.class)?;
                    let opts = toolstack.options_for(db, t);
                    (c.cell.placement == crate::strategy::db::Placement::Partition
                        && opts.partition != Some(false))
                    .then_some((t.clone(), c, opts))
                })
            })
            .flatten();
        let (Some((tool, choice, opts)), Some(mount)) = (choice, s.mount.clone()) else {
            i += 1;
            continue;
        };
        // Nested subvolumes (or another tool's data) below it stay on btrfs only if they are
        // not inside the new partition's mount point.
        let inside = btrfs.subvolumes.iter().any(|o| {
            o.name != s.name
                && o.mount
                    .as_ref()
                    .is_some_and(|m| m.mountpoint.starts_with(&format!("{}/", mount.mountpoint)))
        });
        if inside || s.data.tools.len() > 1 {
            i += 1;
            continue;
        }
        let fs = choice
            .cell
            .filesystem
            .clone()
            .unwrap_or_else(|| "ext4".into());
        let size = match &opts.data_size {
            Some(t) => t.parse::<Bytes>().map_err(|e| {
                AdvisorError::Request(format!(
                    "{}: [tool.{tool}] data_size `{t}`: {e} (expected a size such as 64G)",
                    toolstack.origin
                ))
            })?,
            None => {
                let guess = disk
                    .size_bytes
                    .map_or(Bytes::gib(32), |b| Bytes((b / 4).max(Bytes::gib(8).0)));
                warnings.push(Why::new(
                    format!(
                        "The {fs} partition for {tool}'s data is sized {guess} by guess (a \
                         quarter of the disk, at least 8 GiB); say how much data to expect with \
                         `[tool.{tool}] data_size = \"64G\"`: growing a partition later means \
                         moving the btrfs partition behind it."
                    ),
                    [Ref::input("toolstack [tool] data_size")],
                ));
                guess
            }
        };
        let measured = choice
            .measured_text(results)
            .map(|(t, _)| format!(" {t}."))
            .unwrap_or_default();
        let why = Why::new(
            format!(
                "{tool}'s data on a dedicated {fs} partition at {} (priority {}): {}{measured} \
                 Trade-off: no data checksums, no btrfs snapshots of that data (back it up with \
                 {}); `[tool.{tool}] partition = false` keeps it on btrfs.",
                mount.mountpoint, ctx.priority, choice.cell.why, choice.family.backup
            ),
            [Ref::fact("2"), Ref::fact("1.4"), Ref::tool(&tool)],
        );
        out.push(Partition {
            name: tool.clone(),
            size: PartSize::Fixed(size),
            type_code: None,
            content: Some(Content::Filesystem(PlainFilesystem {
                format: fs,
                mountpoint: Some(mount.mountpoint.clone()),
                mount_options: vec!["noatime".into()],
                extra_args: vec![],
            })),
            why: Some(why),
        });
        btrfs.subvolumes.remove(i);
    }
    Ok(out)
}

fn build_btrfs(
    units: Vec<Unit>,
    (options, why): (FsOptions, BTreeMap<String, Why>),
) -> BtrfsFilesystem {
    let mut why = why;
    why.insert(
        "mkfs".to_string(),
        Why::new(
            "mkfs.btrfs defaults are kept: DUP metadata on a single device, the free-space \
             tree, crc32c checksums, 16 KiB nodes; only the label is set.",
            [Ref::fact("1.3")],
        ),
    );
    let mount_why = Why::new(
        "`noatime`: reads never write access times. With snapshots, relatime would rewrite \
         the atime of every file read a day after a snapshot, copying metadata for nothing. \
         `noatime` is a per-mount option, so each mount says it.",
        [Ref::fact("1.2"), Ref::fact("5")],
    );
    let mut subvolumes: Vec<Subvolume> = Vec::new();
    let mut home_subvolumes = Vec::new();
    let mut used_names: BTreeSet<String> = BTreeSet::new();
    for u in units {
        let mut data = DataPolicy::new(u.purpose);
        data.tools = u.tools.into_iter().collect();
        data.holds = u.holds.into_iter().collect();
        data.nocow = u.treatment.nocow;
        data.compression = u.treatment.compression;
        data.snapshots = u.treatment.snapshots;
        data.why = u.treatment.why;
        if data.compression.is_none()
            && options.compress.is_none()
            && matches!(u.purpose, Purpose::NixStore)
        {
            data.compression = Some(CompressionProperty::Zstd);
            data.why.insert(
                Aspect::Compression,
                Why::new(
                    "Compression property `zstd` on the store: written once, read often and \
                     highly compressible (zstd 2.69× on nixbuild.net's NARs), so it is \
                     compressed even though the filesystem has no compress option.",
                    [Ref::fact("1.1"), Ref::fact("4")],
                ),
            );
        }
        data.why.entry(Aspect::Compression).or_insert_with(|| {
            if data.nocow {
                Why::new(
                    "NOCOW: btrfs never compresses NOCOW files, so no compression property.",
                    [Ref::fact("1.2")],
                )
            } else {
                match options.compress {
                    Some(c) => Why::new(
                        format!("Inherits `compress={c}` from the filesystem."),
                        [Ref::fact("1.1")],
                    ),
                    None => Why::new(
                        "Not compressed (the filesystem has no compress option).",
                        [Ref::fact("1.1")],
                    ),
                }
            }
        });
        match u.path {
            DataPath::Home(rel) => home_subvolumes.push(HomeSubvolume { path: rel, data }),
            DataPath::System(path) => {
                let mut name = subvol_name(&path);
                if used_names.contains(&name) {
                    name = format!("@{}", path.trim_start_matches('/').replace('/', "-"));
                }
                used_names.insert(name.clone());
                data.why.insert(Aspect::Mount, mount_why.clone());
                subvolumes.push(Subvolume {
                    name,
                    mount: Some(SubvolMount {
                        mountpoint: path,
                        vfs: VfsOptions::noatime(),
                        fs_override: None,
                    }),
                    data,
                    swapfiles: vec![],
                    extra_args: vec![],
                });
            }
        }
    }
    // snapper keeps its snapshots in a `.snapshots` subvolume inside the snapshotted one.
    let nested: Vec<Subvolume> = subvolumes
        .iter()
        .filter(|s| s.data.snapshots.is_on())
        .map(|s| {
            let mut data = DataPolicy::new(Purpose::Snapshots);
            data.why.insert(
                Aspect::Placement,
                Why::new(
                    format!(
                        "snapper's snapshot directory for {}: a nested subvolume, so snapshots \
                         of {} do not contain earlier snapshots (nested subvolumes are a \
                         snapshot barrier).",
                        s.name, s.name
                    ),
                    [Ref::fact("5"), Ref::fact("3")],
                ),
            );
            data.why.insert(
                Aspect::Snapshots,
                Why::new(
                    "Holds snapshots; never snapshotted itself.",
                    [Ref::fact("5")],
                ),
            );
            Subvolume {
                name: format!("{}/.snapshots", s.name),
                mount: None,
                data,
                swapfiles: vec![],
                extra_args: vec![],
            }
        })
        .collect();
    subvolumes.extend(nested);
    subvolumes.sort_by(|a, b| a.name.cmp(&b.name));
    home_subvolumes.sort_by(|a, b| a.path.cmp(&b.path));
    BtrfsFilesystem {
        mkfs: MkfsOptions {
            label: Some("nixos".into()),
            ..MkfsOptions::default()
        },
        options,
        top_level: None,
        subvolumes,
        home_subvolumes,
        hooks: Hooks::default(),
        why,
    }
}

/// Hibernation into a swap file needs the device holding it and the file's offset.
fn hibernation(layout: &mut Layout, encrypted: bool) {
    let has_swapfile = layout
        .btrfs_filesystems()
        .iter()
        .any(|(_, b)| b.subvolumes.iter().any(|s| !s.swapfiles.is_empty()));
    if !has_swapfile {
        return;
    }
    let device = if encrypted {
        "/dev/mapper/crypted"
    } else {
        "/dev/disk/by-partlabel/disk-main-root"
    };
    layout.system.nixos.push(crate::layout::NixosSetting {
        path: "boot.resumeDevice".into(),
        value: crate::layout::NixValue::Str(device.into()),
        why: Why::new(
            format!(
                "Hibernation resumes from the swap file on {device}. The kernel also needs the \
                 file's offset, known only once it exists: after installing, add \
                 `boot.kernelParams = [ \"resume_offset=N\" ];` with N from \
                 `btrfs inspect-internal map-swapfile -r /.swapvol/swapfile`."
            ),
            [Ref::fact("1.4"), Ref::input("toolstack hibernate")],
        ),
    });
    layout.system.nixos.sort_by(|a, b| a.path.cmp(&b.path));
}

fn add_swap(
    ctx: &Context,
    ts: &Toolstack,
    fs: &mut BtrfsFilesystem,
    disk: &DiskInfo,
    warnings: &mut Vec<Why>,
) {
    if ctx.class.is_slow_flash() {
        return; // zram instead (system settings)
    }
    let ram = ctx.ram.map(Bytes);
    let size = match (ts.hibernate, ram) {
        (true, Some(r)) => r.ceil_gib(),
        (false, Some(r)) => r.ceil_gib().min(Bytes::gib(8)),
        (_, None) => Bytes::gib(4),
    };
    let size = match disk.size_bytes {
        Some(d) if size.0 > d / 10 => {
            warnings.push(Why::new(
                format!(
                    "Swap file capped at a tenth of the {} GB disk.",
                    d / 1_000_000_000
                ),
                [Ref::input("disk size")],
            ));
            Bytes((d / 10) >> 30 << 30).max(Bytes::gib(1))
        }
        _ => size,
    };
    let mut data = DataPolicy::new(Purpose::Swap);
    let tr = treat(ctx, Purpose::Swap, &[]);
    data.why = tr.why;
    data.why.insert(
        Aspect::Swap,
        Why::new(
            match (ts.hibernate, ram) {
                (true, Some(_)) => {
                    format!("Swap file of {size}: hibernation needs room for all of RAM.")
                }
                (false, Some(_)) => format!(
                    "Swap file of {size} (RAM, at most 8 GiB) for memory pressure; no \
                     hibernation asked."
                ),
                (_, None) => format!("Swap file of {size}: RAM unknown, a modest default."),
            },
            [Ref::input("RAM"), Ref::fact("1.4")],
        ),
    );
    data.why.insert(
        Aspect::Compression,
        Why::new(
            "Swap files are NOCOW and preallocated (mkswapfile), so never compressed.",
            [Ref::fact("1.4"), Ref::fact("1.2")],
        ),
    );
    data.why.insert(
        Aspect::Mount,
        Why::new(
            "Mounted (disko needs a mount point for swap files) with the same options as \
             every other mount of the filesystem.",
            [Ref::fact("1.1")],
        ),
    );
    fs.subvolumes.push(Subvolume {
        name: "@swap".into(),
        mount: Some(SubvolMount {
            mountpoint: "/.swapvol".into(),
            vfs: VfsOptions::noatime(),
            fs_override: None,
        }),
        data,
        swapfiles: vec![Swapfile {
            path: "swapfile".into(),
            size,
            priority: None,
            options: vec![],
        }],
        extra_args: vec![],
    });
    fs.subvolumes.sort_by(|a, b| a.name.cmp(&b.name));
}

#[cfg(test)]
mod tests;
