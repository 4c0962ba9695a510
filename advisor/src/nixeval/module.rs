//! Module shapes: a disko.nix is a set, a function of `{ lib, disks ? ..., ... }`, or a NixOS
//! module of `{ config, lib, pkgs, ... }` with `imports`, `config`, `mkIf` and `mkMerge`.
//! This finds every definition of `disko.devices` in it and merges them.

use super::value::{Thunk, Value};
use super::{EvalError, Evaluator, Loc, Node};
use std::collections::BTreeMap;
use std::rc::Rc;

type R<T> = Result<T, EvalError>;

impl Evaluator {
    /// A string argument (`--argstr`).
    pub(crate) fn string_thunk(&self, s: &str) -> Thunk {
        Thunk::value(Value::str(s))
    }

    /// Collects `disko.devices` from a module and merges the definitions.
    pub(crate) fn module_devices(
        &self,
        root: Thunk,
        args: &[(String, Thunk)],
        name: &str,
    ) -> R<Node> {
        let mut found = Vec::new();
        self.collect_module(root, args, &mut found, 0)?;
        let mut acc: Option<Node> = None;
        for t in found {
            if let Some(n) = self.to_node(&t)? {
                acc = Some(match acc {
                    None => n,
                    Some(a) => super::merge(a, n, "disko.devices")?,
                });
            }
        }
        acc.ok_or_else(|| {
            EvalError::new(
                Some(Loc {
                    file: name.to_string(),
                    line: 1,
                    column: 1,
                }),
                "no `disko.devices` found (expected `{ disko.devices = ...; }`, a function \
                 returning it, or a NixOS module setting it)",
            )
        })
    }

    fn module_args(&self, f: &Value, args: &[(String, Thunk)], at: Option<&Loc>) -> R<Thunk> {
        let mut available: BTreeMap<String, Thunk> = BTreeMap::new();
        available.insert("lib".into(), Thunk::value(super::builtins::lib()));
        for k in [
            "config",
            "options",
            "pkgs",
            "modulesPath",
            "specialArgs",
            "utils",
        ] {
            available.insert(k.into(), Thunk::value(Value::Unknown(Rc::from(k))));
        }
        let user: BTreeMap<String, Thunk> = args.iter().cloned().collect();
        let mut pass = BTreeMap::new();
        match self.formals(f) {
            Some((names, ellipsis)) => {
                for (n, _) in &names {
                    if let Some(t) = user.get(n).or_else(|| available.get(n)) {
                        pass.insert(n.clone(), t.clone());
                    }
                }
                for k in user.keys() {
                    if !ellipsis && !names.iter().any(|(n, _)| n == k) {
                        return Err(EvalError::new(
                            at.cloned(),
                            format!("--arg {k}: the configuration's function does not take `{k}`"),
                        ));
                    }
                }
                if ellipsis {
                    for (k, v) in available.into_iter().chain(user) {
                        pass.entry(k).or_insert(v);
                    }
                }
            }
            None => {
                pass = available;
                pass.extend(user);
            }
        }
        Ok(Thunk::value(Value::attrs(pass)))
    }

    fn collect_module(
        &self,
        module: Thunk,
        args: &[(String, Thunk)],
        out: &mut Vec<Thunk>,
        depth: usize,
    ) -> R<()> {
        if depth > 64 {
            return Err(EvalError::new(
                module.loc().cloned(),
                "imports nest too deeply (an import cycle?)",
            ));
        }
        let mut v = module.force(self)?;
        if matches!(v, Value::Lambda(_) | Value::Builtin(_)) {
            let a = self.module_args(&v, args, module.loc())?;
            v = self.call(&v, a, module.loc())?;
        }
        let m = match v {
            Value::Attrs(m) => m,
            Value::Unknown(u) => {
                self.warn(
                    module.loc(),
                    format!("module {u} is unknown statically: skipped"),
                );
                return Ok(());
            }
            other => {
                return Err(EvalError::new(
                    module.loc().cloned(),
                    format!(
                        "a configuration must be a set or a function returning one, got {}",
                        other.type_name()
                    ),
                ));
            }
        };
        if let Some(imps) = m.get("imports") {
            match imps.force(self)? {
                Value::List(items) => {
                    for it in items.iter() {
                        let t = match it.force(self)? {
                            Value::Path(p) => {
                                let p = if p.is_dir() { p.join("default.nix") } else { p };
                                let name = p.display().to_string();
                                self.eval_file(&p, &name).map_err(|e| {
                                    if e.at.is_some() {
                                        e
                                    } else {
                                        EvalError::new(it.loc().cloned(), e.message)
                                    }
                                })?
                            }
                            Value::Unknown(u) => {
                                self.warn(
                                    it.loc(),
                                    format!("import of {u}: unknown statically, skipped"),
                                );
                                continue;
                            }
                            Value::Attrs(_) | Value::Lambda(_) | Value::Builtin(_) => it.clone(),
                            other => {
                                return Err(EvalError::new(
                                    it.loc().cloned(),
                                    format!(
                                        "`imports` entries must be paths or modules, got {}",
                                        other.type_name()
                                    ),
                                ));
                            }
                        };
                        self.collect_module(t, args, out, depth + 1)?;
                    }
                }
                Value::Unknown(u) => {
                    self.warn(imps.loc(), format!("imports from {u}: unknown statically"));
                }
                other => {
                    return Err(EvalError::new(
                        imps.loc().cloned(),
                        format!("`imports` must be a list, got {}", other.type_name()),
                    ));
                }
            }
        }
        let is_full_module = m.contains_key("options") || m.contains_key("imports");
        let config = match m.get("config") {
            Some(c) if is_full_module || m.len() == 1 => c.clone(),
            _ => Thunk::value_at(Value::Attrs(m.clone()), module.loc_rc()),
        };
        self.find(config, &["disko", "devices"], out)
    }

    /// Follows `path` through sets and the module system's wrappers.
    fn find(&self, t: Thunk, path: &[&str], out: &mut Vec<Thunk>) -> R<()> {
        let Some((first, rest)) = path.split_first() else {
            out.push(t);
            return Ok(());
        };
        match t.force(self)? {
            Value::Attrs(m) => {
                if let Some(ty) = m.get("_type")
                    && let Value::Str(ty) = ty.force(self)?
                {
                    let field = |k: &str| m.get(k).cloned();
                    match ty.as_ref() {
                        "if" => {
                            let keep =
                                match field("condition").map(|c| c.force(self)).transpose()? {
                                    Some(Value::Bool(b)) => b,
                                    Some(Value::Unknown(u)) => {
                                        self.warn(
                                        t.loc(),
                                        format!(
                                            "mkIf on {u} (unknown statically): its content is kept"
                                        ),
                                    );
                                        true
                                    }
                                    _ => false,
                                };
                            if keep && let Some(c) = field("content") {
                                self.find(c, path, out)?;
                            }
                        }
                        "merge" => {
                            if let Some(Value::List(items)) =
                                field("contents").map(|c| c.force(self)).transpose()?
                            {
                                for it in items.iter() {
                                    self.find(it.clone(), path, out)?;
                                }
                            }
                        }
                        "override" | "order" => {
                            if let Some(c) = field("content") {
                                self.find(c, path, out)?;
                            }
                        }
                        _ => {}
                    }
                    return Ok(());
                }
                if let Some(next) = m.get(*first) {
                    self.find(next.clone(), rest, out)?;
                }
                Ok(())
            }
            Value::Unknown(u) => {
                self.warn(
                    t.loc(),
                    format!("{u} may hold more of `disko.devices`: unknown statically"),
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
