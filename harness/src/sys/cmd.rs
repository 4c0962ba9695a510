//! Running the tools the harness drives (mkfs.btrfs, btrfs, chattr, ...).

use crate::error::HarnessError;
use std::path::Path;
use std::process::{Command, Stdio};

/// A command line, for running and for messages.
#[derive(Clone, Debug)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
}

impl Cmd {
    /// `program` with no arguments.
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(a.as_ref().to_string_lossy().into_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        for a in it {
            self = self.arg(a);
        }
        self
    }

    /// The command as typed.
    pub fn line(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs it; its standard output on success, an error with its standard error otherwise.
    pub fn output(&self) -> Result<String, HarnessError> {
        let out = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    HarnessError::Missing {
                        tool: self.program.clone(),
                        hint: package_of(&self.program).into(),
                    }
                } else {
                    HarnessError::Command {
                        command: self.line(),
                        message: e.to_string(),
                    }
                }
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(HarnessError::Command {
                command: self.line(),
                message: format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }
}

/// Runs a command; its standard output.
pub fn run(program: &str, args: &[&str]) -> Result<String, HarnessError> {
    Cmd::new(program).args(args).output()
}

/// The Debian package that provides a tool, for install hints.
pub fn package_of(tool: &str) -> &'static str {
    match tool {
        "mkfs.btrfs" | "btrfs" => "apt-get install btrfs-progs",
        "chattr" | "lsattr" | "mkfs.ext4" | "filefrag" => "apt-get install e2fsprogs",
        "mkfs.xfs" => "apt-get install xfsprogs",
        "fio" => "apt-get install fio",
        "blkid" | "wipefs" | "losetup" => "apt-get install util-linux",
        _ => "install it",
    }
}

/// `sync` then drop the page cache, dentries and inodes, so a run starts cold.
pub fn drop_caches() -> Result<(), HarnessError> {
    nix::unistd::sync();
    std::fs::write("/proc/sys/vm/drop_caches", "3").map_err(|e| HarnessError::Io {
        path: Path::new("/proc/sys/vm/drop_caches").to_path_buf(),
        source: e,
    })
}
