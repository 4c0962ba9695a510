//! What a [`Choice`] generates: `storage.conf`, NixOS settings, the snapshot strategy,
//! lifecycle-aware volume backups and a migration guide (shell).

use super::{Backup, Cadence, Choice, Compression, DbVolumes, Driver, mode_str};
use crate::profiles::Mode;
use std::fmt::Write as _;

/// The NixOS settings for a choice: `virtualisation.containers.storage.settings` (which
/// NixOS writes to `/etc/containers/storage.conf`; rootless stores read it too, with
/// `rootless_storage_path`), and for a rootless btrfs driver the mount option it needs.
pub fn nixos_snippet(choice: &Choice) -> String {
    let c = &choice.cell;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# btrtune: podman storage, profile {}, priority {}, {} (facts {})",
        choice.profile,
        choice.priority,
        mode_str(choice.mode),
        c.sources.join(", ")
    );
    s.push_str("virtualisation.containers.storage.settings = {\n  storage = {\n");
    let _ = writeln!(s, "    driver = \"{}\";", c.driver.as_str());
    s.push_str("    graphroot = \"/var/lib/containers/storage\";\n");
    s.push_str("    runroot = \"/run/containers/storage\";\n");
    if choice.mode == Mode::Rootless {
        s.push_str("    rootless_storage_path = \"$HOME/.local/share/containers/storage\";\n");
    }
    match c.driver {
        Driver::Overlay => {
            s.push_str("    options.overlay.mountopt = \"nodev\";\n");
        }
        Driver::Btrfs => {
            if let Some(q) = &choice.quota {
                let _ = writeln!(
                    s,
                    "    options.btrfs.size = \"{q}\";  # enables qgroups on the whole filesystem"
                );
            }
        }
    }
    s.push_str("  };\n};\n");
    if c.driver == Driver::Btrfs && choice.mode == Mode::Rootless {
        s.push_str(
            "# rootless btrfs driver: let users delete their layer subvolumes (filesystem-wide;\n\
             # without it podman falls back to rm -rf, facts §3). Add to every btrfs mount:\n\
             # fileSystems.\"/\".options = [ \"user_subvol_rm_allowed\" ];\n",
        );
    }
    s
}

impl Choice {
    /// `storage.conf` (TOML) for [`super::Paths::storage_conf`].
    pub fn storage_conf(&self) -> String {
        let c = &self.cell;
        let p = &self.paths;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# {}: podman storage ({}, profile {}, priority {}; btrtune)",
            p.storage_conf,
            mode_str(self.mode),
            self.profile,
            self.priority
        );
        s.push_str("[storage]\n");
        let _ = writeln!(s, "driver = \"{}\"", c.driver.as_str());
        match self.mode {
            Mode::Rootful => {
                let _ = writeln!(s, "graphroot = \"{}\"", p.graphroot);
                let _ = writeln!(s, "runroot = \"{}\"", p.runroot);
            }
            Mode::Rootless => {
                if p.graphroot.starts_with('/') {
                    let _ = writeln!(s, "graphroot = \"{}\"", p.graphroot);
                } else {
                    s.push_str("# graphroot: the default, $HOME/.local/share/containers/storage\n");
                }
            }
        }
        match c.driver {
            Driver::Overlay => {
                s.push_str("\n[storage.options.overlay]\nmountopt = \"nodev\"\n");
            }
            Driver::Btrfs => {
                if let Some(q) = &self.quota {
                    let _ = writeln!(
                        s,
                        "\n[storage.options.btrfs]\n# enables qgroups on the whole filesystem (facts §3, §5)\nsize = \"{q}\""
                    );
                }
            }
        }
        s
    }

    /// `sudo ` where a rootless user needs root (listing and deleting subvolumes).
    fn sudo(&self) -> &'static str {
        match self.mode {
            Mode::Rootful => "",
            Mode::Rootless => "sudo ",
        }
    }

    /// Which subvolumes snapshots take and leave out, with snapper and btrbk configuration.
    pub fn snapshot_strategy(&self) -> String {
        let c = &self.cell;
        let p = &self.paths;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "- exclude `{}` (its own subvolume): layers and containers are re-created by \
             `podman pull`/`run`; snapshots are not recursive, so the parent's snapshots \
             leave it out (facts §5){}",
            p.graphroot,
            if c.driver == Driver::Btrfs {
                "; with the btrfs driver its layers are nested subvolumes, empty stubs in any snapshot (facts §3)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "- include `{}` (its own subvolume): named volumes hold the data",
            p.volumes
        );
        let _ = writeln!(
            s,
            "- qgroups: {} (snapper's SPACE_LIMIT needs them; use NUMBER_LIMIT instead, facts §5)",
            if c.qgroups { "on (asked for)" } else { "off" }
        );
        let (timeline, hourly, daily) = match c.volume_snapshots {
            Cadence::Hourly => ("yes", 24, 7),
            Cadence::Daily => ("yes", 0, 7),
            Cadence::Off => ("no", 0, 0),
        };
        let name = match self.mode {
            Mode::Rootful => "containers-volumes".to_string(),
            Mode::Rootless => format!(
                "{}-containers-volumes",
                self.paths.owner.trim_start_matches('$').to_lowercase()
            ),
        };
        s.push_str("\n```nix\n");
        let _ = writeln!(s, "services.snapper.configs.{name} = {{");
        let _ = writeln!(s, "  SUBVOLUME = \"{}\";", p.volumes);
        if self.mode == Mode::Rootless {
            let _ = writeln!(s, "  ALLOW_USERS = [ \"{}\" ];", p.owner);
        }
        let _ = writeln!(s, "  TIMELINE_CREATE = {};", timeline == "yes");
        s.push_str("  TIMELINE_CLEANUP = true;\n");
        let _ = writeln!(s, "  TIMELINE_LIMIT_HOURLY = {hourly};");
        let _ = writeln!(s, "  TIMELINE_LIMIT_DAILY = {daily};");
        s.push_str("  TIMELINE_LIMIT_WEEKLY = 0;\n  TIMELINE_LIMIT_MONTHLY = 0;\n  TIMELINE_LIMIT_YEARLY = 0;\n");
        s.push_str("};\n```\n\nbtrbk (off-host copies of the read-only snapshots the backup script makes):\n\n```\n");
        let vol_rel = p.volumes.trim_start_matches('/');
        s.push_str("snapshot_preserve_min   2d\nsnapshot_preserve       14d\ntarget_preserve         20d 8w\n");
        let _ = writeln!(
            s,
            "volume /\n  snapshot_dir .snapshots/containers\n  subvolume {vol_rel}\n    target ssh://backup.example/srv/btrbk/{name}"
        );
        s.push_str("```\n");
        s
    }

    /// A volume backup script that respects the containers' life cycle.
    pub fn backup_script(&self) -> String {
        let c = &self.cell;
        let p = &self.paths;
        let mut s = String::new();
        let (what, how) = match c.volume_backup {
            Backup::Stop => ("stop", "stop the containers using a volume"),
            Backup::Pause => ("pause", "checkpoint the databases, pause the containers"),
            Backup::Engine => ("engine checkpoint", "checkpoint the databases, live"),
        };
        let _ = writeln!(
            s,
            "#!/bin/sh\n# Volume backup ({what}): {how}, snapshot the volumes subvolume\n\
             # read-only, resume. Run as {}.",
            p.owner
        );
        s.push_str("set -eu\n");
        let _ = writeln!(s, "VOLUMES={}", p.volumes);
        let _ = writeln!(
            s,
            "SNAP={}/volume-snapshots/$(date -u +%Y%m%dT%H%M%SZ)",
            parent(&p.graphroot)
        );
        s.push_str("mkdir -p \"$(dirname \"$SNAP\")\"\n");
        s.push_str("USERS=$(for v in $(podman volume ls -q); do podman ps -q --filter volume=\"$v\"; done | sort -u)\n");
        if c.volume_backup != Backup::Stop {
            s.push_str("for v in ${DB_VOLUMES:-");
            s.push_str(&self.db_volumes.join(" "));
            s.push_str("}; do\n  for ctr in $(podman ps -q --filter volume=\"$v\"); do\n");
            s.push_str("    # PostgreSQL with data and pg_wal in this one volume: a snapshot restores like a crash,\n");
            s.push_str("    # CHECKPOINT shortens the replay (facts §2, §5); WAL in another volume: hold\n");
            s.push_str("    # pg_backup_start()/pg_backup_stop() in one session around the snapshot instead\n");
            s.push_str("    podman exec \"$ctr\" sh -c 'command -v psql >/dev/null && psql -U postgres -c CHECKPOINT' || true\n");
            s.push_str("    # MariaDB/MySQL: mariadb-backup --backup into the volume, or FLUSH TABLES WITH READ LOCK\n");
            s.push_str("  done\ndone\n");
        }
        match c.volume_backup {
            Backup::Stop => {
                s.push_str(
                    "[ -z \"$USERS\" ] || podman stop $USERS   # a clean shutdown: consistent\n",
                );
                s.push_str("trap '[ -z \"$USERS\" ] || podman start $USERS' EXIT\n");
            }
            Backup::Pause => {
                s.push_str("# pause freezes the cgroups: the snapshot is crash-consistent across all volumes\n");
                s.push_str("[ -z \"$USERS\" ] || podman pause $USERS\n");
                s.push_str("trap '[ -z \"$USERS\" ] || podman unpause $USERS' EXIT\n");
            }
            Backup::Engine => {
                s.push_str(
                    "# containers keep running: each volume is crash-consistent on its own\n",
                );
            }
        }
        s.push_str("btrfs subvolume snapshot -r \"$VOLUMES\" \"$SNAP\"\n");
        s.push_str(
            "# off-host: btrbk run (incremental send of the read-only snapshots), or per volume\n",
        );
        s.push_str("# with its containers stopped: podman volume export NAME -o NAME.tar\n");
        s
    }

    /// Shell steps from an existing store to this layout, with verification and rollback.
    pub fn migration_guide(&self) -> String {
        let c = &self.cell;
        let p = &self.paths;
        let su = self.sudo();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Migrate {} podman storage to driver {} in its own subvolume (run as {}).",
            mode_str(self.mode),
            c.driver.as_str(),
            p.owner
        );
        s.push_str("set -eu\n");
        let _ = writeln!(s, "G={}", p.graphroot);
        s.push_str("B=/var/tmp/btrtune-podman-migration; mkdir -p \"$B\"\n\n");
        s.push_str("# 1. Inventory: images to pull again, volumes to keep, the current driver\n");
        s.push_str("podman info --format '{{.Store.GraphDriverName}} {{.Store.GraphRoot}}' > \"$B/before.txt\"\n");
        s.push_str("podman images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' > \"$B/images.txt\"\n");
        s.push_str("podman volume ls -q > \"$B/volumes.txt\"\n\n");
        s.push_str("# 2. Stop everything; export the volumes (the rollback copy)\n");
        match self.mode {
            Mode::Rootful => s.push_str("systemctl stop podman.socket podman.service || true\n"),
            Mode::Rootless => {
                s.push_str("systemctl --user stop podman.socket podman.service || true\n")
            }
        }
        s.push_str("podman stop -a\n");
        s.push_str("while read -r v; do podman volume export \"$v\" -o \"$B/$v.tar\"; done < \"$B/volumes.txt\"\n\n");
        s.push_str("# 3. Move the old store aside (a rename: instant, nothing copied)\n");
        let conf = &p.storage_conf;
        let _ = writeln!(s, "[ ! -e {conf} ] || cp -a {conf} \"$B/storage.conf.old\"");
        s.push_str("mv \"$G\" \"$G.old\"\n\n");
        s.push_str(
            "# 4. New subvolumes: the graphroot (out of snapshots) and the volumes (snapshotted)\n",
        );
        s.push_str("btrfs subvolume create \"$G\"\n");
        match c.graphroot_compression {
            Compression::Inherit => {}
            Compression::Zstd => s.push_str("btrfs property set \"$G\" compression zstd\n"),
            Compression::None => s.push_str("btrfs property set \"$G\" compression none\n"),
        }
        s.push_str("btrfs subvolume create \"$G/volumes\"\n\n");
        s.push_str(
            "# 5. The new storage.conf (see above); the driver changes with the empty store\n",
        );
        let _ = writeln!(s, "mkdir -p \"$(dirname {conf})\"");
        let _ = writeln!(s, "cat > {conf} <<'EOF'\n{}EOF\n", self.storage_conf());
        s.push_str(
            "# 6. Volumes back, copied (never mv: a rename keeps the old extents copy-on-write;\n",
        );
        s.push_str("#    +C only takes on empty files, facts §1.4)\n");
        s.push_str("while read -r v; do\n  podman volume create \"$v\"\n");
        s.push_str("  d=$(podman volume inspect \"$v\" --format '{{.Mountpoint}}')\n");
        match c.db_volumes {
            DbVolumes::Nocow => {
                let _ = writeln!(
                    s,
                    "  case \" ${{DB_VOLUMES:-{}}} \" in\n    \
                     *\" $v \"*) chattr +C \"$d\"; r=never;;  # NOCOW before any file exists; no reflink into it\n    \
                     *) r=auto;;\n  esac",
                    self.db_volumes.join(" ")
                );
            }
            DbVolumes::Cow => s.push_str(
                "  r=auto  # database volumes stay copy-on-write (checksums), by priority\n",
            ),
        }
        s.push_str("  cp -a --reflink=$r \"$G.old/volumes/$v/_data/.\" \"$d/\"\n");
        s.push_str("done < \"$B/volumes.txt\"\n\n");
        s.push_str("# 7. Images: pull again (layers are re-creatable, not migrated)\n");
        s.push_str("xargs -r -n1 podman pull < \"$B/images.txt\"\n\n");
        s.push_str("# 8. Verify\n");
        let _ = writeln!(
            s,
            "podman info --format '{{{{.Store.GraphDriverName}}}} {{{{.Store.GraphRoot}}}}'   # {} $G",
            c.driver.as_str()
        );
        s.push_str("btrfs subvolume show \"$G\" >/dev/null && btrfs subvolume show \"$G/volumes\" >/dev/null\n");
        s.push_str(
            "lsattr -d \"$G\"/volumes/*/_data            # C on the database volumes only\n",
        );
        s.push_str("podman volume ls\n");
        s.push_str(
            "# then re-create the containers from their definitions (quadlets, compose, units)\n\n",
        );
        s.push_str("# 9. Rollback (until the old store is removed)\n");
        s.push_str("#   podman stop -a; podman rm -af; podman rmi -af\n");
        let _ = writeln!(
            s,
            "#   {su}btrfs subvolume delete \"$G/volumes\" \"$G\"; mv \"$G.old\" \"$G\""
        );
        let _ = writeln!(
            s,
            "#   cp \"$B/storage.conf.old\" {conf}   # or remove {conf}"
        );
        s.push_str("\n# 10. After a week without problems: remove the old store\n");
        let _ = writeln!(
            s,
            "#   {su}btrfs subvolume list -o \"$G.old\" | awk '{{print $NF}}'   # old btrfs-driver layers: delete these first"
        );
        s.push_str("#   rm -rf \"$G.old\" \"$B\"\n");
        s
    }
}

/// The directory above a path (`/var/lib/containers` for its `storage`).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(p, _)| p)
}
