//! `--nix-eval`: evaluate a disko.nix with the real Nix (`nix-instantiate`) and feed its JSON
//! to the same converter. Handles sets, functions (`{ lib, disks ? ..., ... }:`) and the
//! `config.disko.devices` shape; a NixOS module's `imports` need the module system, which is
//! out of its reach (the built-in evaluator follows them).

use super::parse::{ArgValue, ParseOptions};
use crate::error::AdvisorError;
use crate::nixeval::{Data, Node};
use std::path::Path;
use std::process::Command;

const EXPR: &str = r#"
{ __file, __lib ? null, ... }@args:
let
  userArgs = builtins.removeAttrs args [ "__file" "__lib" ];
  lib =
    if __lib != null then import __lib
    else let t = builtins.tryEval (import <nixpkgs/lib>); in if t.success then t.value else null;
  f = import __file;
  failing = name: builtins.throw "${name} is not available to --nix-eval";
  modArgs = { config = failing "config"; options = failing "options"; pkgs = failing "pkgs"; }
    // (if lib != null then { inherit lib; } else { }) // userArgs;
  fa = builtins.functionArgs f;
  called =
    if builtins.isFunction f then
      f (if fa == { } then modArgs else (builtins.intersectAttrs fa modArgs) // userArgs)
    else f;
  cfg = if called ? disko then called else if called ? config then called.config else called;
in
  cfg.disko.devices
"#;

/// `disko.devices` of a file, evaluated by `nix-instantiate`.
pub(crate) fn devices(path: &Path, opts: &ParseOptions) -> Result<Node, AdvisorError> {
    let abs = path.canonicalize().map_err(|e| AdvisorError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut cmd = Command::new("nix-instantiate");
    cmd.args([
        "--eval",
        "--strict",
        "--json",
        "--readonly-mode",
        "--store",
        "dummy://",
    ])
    .arg("--arg")
    .arg("__file")
    .arg(&abs);
    if let Some(lib) = &opts.nix_lib {
        let lib = lib.canonicalize().map_err(|e| AdvisorError::Io {
            path: lib.clone(),
            source: e,
        })?;
        cmd.arg("--arg").arg("__lib").arg(lib);
    }
    for (k, v) in &opts.args {
        match v {
            ArgValue::Expr(e) => cmd.arg("--arg").arg(k).arg(e),
            ArgValue::Str(s) => cmd.arg("--argstr").arg(k).arg(s),
        };
    }
    cmd.arg("-E").arg(EXPR);
    let out = cmd.output().map_err(|e| {
        AdvisorError::Request(format!(
            "--nix-eval needs nix-instantiate on PATH (apt-get install nix-bin): {e}"
        ))
    })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(AdvisorError::Input {
            path: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("nix-instantiate failed:\n{}", msg.trim()),
        });
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| AdvisorError::Request(format!("nix-instantiate printed no JSON: {e}")))?;
    let node = Node::from_json(&json);
    Ok(resolve(node).unwrap_or_else(|| Node::new(Data::Attrs(Default::default()))))
}

/// Resolves the module system's `_type` sets (what nixpkgs' `mkIf`, `mkMerge`, `mkOverride`
/// return) in data that the real Nix printed.
fn resolve(n: Node) -> Option<Node> {
    let Data::Attrs(m) = n.data else {
        return Some(match n.data {
            Data::List(items) => Node {
                data: Data::List(items.into_iter().filter_map(resolve).collect()),
                ..n
            },
            _ => n,
        });
    };
    match m.get("_type").and_then(Node::as_str) {
        Some("if") => match m.get("condition").map(|c| &c.data) {
            Some(Data::Bool(true)) => m.get("content").cloned().and_then(resolve),
            _ => None,
        },
        Some("merge") => {
            let Some(Data::List(items)) = m.get("contents").map(|c| c.data.clone()) else {
                return None;
            };
            let mut acc: Option<Node> = None;
            for it in items.into_iter().filter_map(resolve) {
                acc = Some(match acc {
                    None => it,
                    Some(a) => crate::nixeval::merge(a, it, "disko.devices").ok()?,
                });
            }
            acc
        }
        Some("override") => {
            let prio = match m.get("priority").map(|p| &p.data) {
                Some(Data::Int(p)) => *p,
                _ => 100,
            };
            m.get("content").cloned().and_then(resolve).map(|mut c| {
                c.priority = prio;
                c
            })
        }
        Some("order") => m.get("content").cloned().and_then(resolve),
        _ => Some(Node {
            data: Data::Attrs(
                m.into_iter()
                    .filter_map(|(k, v)| resolve(v).map(|v| (k, v)))
                    .collect(),
            ),
            at: n.at,
            priority: n.priority,
        }),
    }
}
