//! A small, lazy evaluator for the subset of Nix that disko configurations use, over the
//! `rnix` parser: attribute sets (dotted, quoted and dynamic keys, `rec`), lists, strings with
//! interpolation, paths, `let ... in`, functions with patterns, defaults, `...` and `@`,
//! `inherit`, `with`, `//`, `++`, arithmetic, comparisons, `if`, `assert`, `import` of
//! relative files, the common `builtins`, and the `lib` functions configurations call
//! (`mkDefault`, `mkForce`, `mkIf`, `mkMerge`, `optional(s)`, `optionalAttrs`, `genAttrs`,
//! `listToAttrs`, ...). `lib.mk*` build the same `_type` sets as nixpkgs, so the data can be
//! resolved the way the module system does (`Evaluator::to_node`).
//!
//! What cannot be known statically (`config.networking.hostName`, `pkgs.foo`, `<nixpkgs>`)
//! evaluates to an *unknown* value: harmless where it is only carried along (hook text, an
//! unused attribute), a warning where it decides something (`mkIf` on it keeps the content),
//! and an error naming file, line and column where a structure depends on it.

mod builtins;
mod module;
pub mod value;

use crate::error::AdvisorError;
use rnix::ast::{self, BinOpKind, HasEntry, InterpolPart, UnaryOpKind};
use rowan::ast::AstNode;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use value::{Builtin, Env, FileCtx, Lambda, Scope, Thunk, Value};
pub use value::{Data, Loc, Node};

/// An evaluation error, with where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    /// Where.
    pub at: Option<Loc>,
    /// What went wrong and what was expected.
    pub message: String,
}

impl EvalError {
    pub(crate) fn new(at: Option<Loc>, message: impl Into<String>) -> Self {
        EvalError {
            at,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Some(l) => write!(f, "{l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<EvalError> for AdvisorError {
    fn from(e: EvalError) -> Self {
        match e.at {
            Some(l) => AdvisorError::Input {
                path: l.file,
                line: l.line,
                column: l.column,
                message: e.message,
            },
            None => AdvisorError::Input {
                path: "(nix)".into(),
                line: 0,
                column: 0,
                message: e.message,
            },
        }
    }
}

type R<T> = Result<T, EvalError>;

/// A warning: something was assumed because it could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Where.
    pub at: Option<Loc>,
    /// What was assumed.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Some(l) => write!(f, "{l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// How many evaluation steps an evaluation may take before it is called runaway.
const MAX_STEPS: u64 = 20_000_000;
/// How deep evaluation may nest (functions calling functions).
const MAX_DEPTH: u32 = 4_000;

/// The evaluator. Not `Send`: run it on one thread (see [`crate::disko::parse`]).
pub struct Evaluator {
    globals: Env,
    /// Scopes whose bindings can refer back to the scope (`rec`, `let`, function patterns):
    /// cleared on drop to break the reference cycles.
    cyclic: RefCell<Vec<Env>>,
    imports: RefCell<BTreeMap<PathBuf, Thunk>>,
    warnings: RefCell<Vec<Warning>>,
    steps: Cell<u64>,
    depth: Cell<u32>,
}

impl Default for Evaluator {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        for s in self.cyclic.borrow().iter() {
            s.vars.borrow_mut().clear();
        }
    }
}

impl Evaluator {
    /// A scope whose bindings may refer to itself; freed when the evaluator is dropped.
    fn cyclic_scope(&self, parent: &Env) -> Env {
        let s = Rc::new(Scope {
            vars: RefCell::new(BTreeMap::new()),
            with: None,
            parent: Some(parent.clone()),
        });
        self.cyclic.borrow_mut().push(s.clone());
        s
    }

    /// An evaluator with `builtins` and the global functions in scope.
    pub fn new() -> Self {
        Evaluator {
            globals: builtins::globals(),
            cyclic: RefCell::new(Vec::new()),
            imports: RefCell::new(BTreeMap::new()),
            warnings: RefCell::new(Vec::new()),
            steps: Cell::new(0),
            depth: Cell::new(0),
        }
    }

    /// The warnings so far.
    pub fn warnings(&self) -> Vec<Warning> {
        self.warnings.borrow().clone()
    }

    pub(crate) fn warn(&self, at: Option<&Loc>, message: impl Into<String>) {
        let w = Warning {
            at: at.cloned(),
            message: message.into(),
        };
        let mut ws = self.warnings.borrow_mut();
        if !ws.contains(&w) {
            ws.push(w);
        }
    }

    /// Parses Nix text; a syntax error names line and column.
    fn parse(&self, text: &str, name: &str) -> R<ast::Expr> {
        let parse = rnix::Root::parse(text);
        if let Some(e) = parse.errors().first() {
            let (offset, msg) = parse_error(e);
            let (line, column) = crate::error::line_col(text, offset);
            return Err(EvalError::new(
                Some(Loc {
                    file: name.to_string(),
                    line,
                    column,
                }),
                format!("Nix syntax error: {msg}"),
            ));
        }
        parse.tree().expr().ok_or_else(|| {
            EvalError::new(
                Some(Loc {
                    file: name.to_string(),
                    line: 1,
                    column: 1,
                }),
                "the file holds no expression",
            )
        })
    }

    /// Evaluates a file (`name` is how messages call it).
    pub(crate) fn eval_file(&self, path: &Path, name: &str) -> R<Thunk> {
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Some(t) = self.imports.borrow().get(&canon) {
            return Ok(t.clone());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| EvalError::new(None, format!("{name}: cannot read: {e}")))?;
        let expr = self.parse(&text, name)?;
        let file = Rc::new(FileCtx {
            path: Some(path.to_path_buf()),
            name: name.to_string(),
            text: Rc::from(text.as_str()),
        });
        let t = Thunk::pending(expr, self.globals.clone(), file);
        self.imports.borrow_mut().insert(canon, t.clone());
        Ok(t)
    }

    /// Evaluates text that is not a file (`--arg` values); relative paths resolve against `dir`.
    pub(crate) fn eval_text(&self, text: &str, name: &str, dir: &Path) -> R<Thunk> {
        let expr = self.parse(text, name)?;
        let file = Rc::new(FileCtx {
            path: Some(dir.join(".arg.nix")),
            name: name.to_string(),
            text: Rc::from(text),
        });
        Ok(Thunk::pending(expr, self.globals.clone(), file))
    }

    fn step(&self, at: impl FnOnce() -> Option<Loc>) -> R<()> {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        if n > MAX_STEPS {
            return Err(EvalError::new(
                at(),
                "evaluation takes too long (runaway recursion?)",
            ));
        }
        Ok(())
    }

    fn loc_of(&self, node: &impl AstNode, file: &FileCtx) -> Loc {
        file.loc(node.syntax().text_range().start().into())
    }

    /// Evaluates an expression in a scope.
    pub(crate) fn eval(&self, expr: &ast::Expr, env: &Env, file: &Rc<FileCtx>) -> R<Value> {
        self.step(|| Some(self.loc_of(expr, file)))?;
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH {
            return Err(EvalError::new(
                Some(self.loc_of(expr, file)),
                "evaluation nests too deeply (infinite recursion?)",
            ));
        }
        self.depth.set(d);
        let r = self.eval_inner(expr, env, file);
        self.depth.set(d - 1);
        r
    }

    fn thunk(&self, e: Option<ast::Expr>, env: &Env, file: &Rc<FileCtx>, what: &str) -> Thunk {
        match e {
            Some(e) => Thunk::pending(e, env.clone(), file.clone()),
            None => Thunk::value(Value::Unknown(Rc::from(format!("<missing {what}>")))),
        }
    }

    fn eval_inner(&self, expr: &ast::Expr, env: &Env, file: &Rc<FileCtx>) -> R<Value> {
        let at = || Some(self.loc_of(expr, file));
        let sub = |e: Option<ast::Expr>, what: &str| -> R<Value> {
            match e {
                Some(e) => self.eval(&e, env, file),
                None => Err(EvalError::new(
                    at(),
                    format!("incomplete expression: no {what}"),
                )),
            }
        };
        match expr {
            ast::Expr::Root(r) => sub(r.expr(), "expression"),
            ast::Expr::Paren(p) => sub(p.expr(), "expression in parentheses"),
            ast::Expr::Literal(l) => Ok(match l.kind() {
                ast::LiteralKind::Integer(i) => Value::Int(
                    i.value()
                        .map_err(|e| EvalError::new(at(), format!("integer out of range: {e}")))?,
                ),
                ast::LiteralKind::Float(f) => Value::Float(
                    f.value()
                        .map_err(|e| EvalError::new(at(), format!("bad float: {e}")))?,
                ),
                ast::LiteralKind::Uri(u) => Value::str(&u.to_string()),
            }),
            ast::Expr::Str(s) => {
                let mut out = String::new();
                for part in s.normalized_parts() {
                    match part {
                        InterpolPart::Literal(l) => out.push_str(&l),
                        InterpolPart::Interpolation(i) => {
                            let v = sub(i.expr(), "interpolated expression")?;
                            out.push_str(&self.coerce_to_string(&v, at().as_ref(), true)?);
                        }
                    }
                }
                Ok(Value::str(&out))
            }
            ast::Expr::PathAbs(_) | ast::Expr::PathRel(_) | ast::Expr::PathHome(_) => {
                self.eval_path(expr, env, file)
            }
            ast::Expr::PathSearch(p) => {
                let what = p.to_string();
                self.warn(
                    at().as_ref(),
                    format!("{what} is a search path: not available to static evaluation"),
                );
                Ok(Value::Unknown(Rc::from(what.as_str())))
            }
            ast::Expr::Ident(i) => {
                let name = i.to_string();
                self.lookup(&name, env)?.map_or_else(
                    || Err(EvalError::new(at(), format!("undefined variable `{name}`"))),
                    |t| t.force(self),
                )
            }
            ast::Expr::AttrSet(s) => {
                if s.rec_token().is_some() {
                    let scope = self.cyclic_scope(env);
                    let m = self.build_attrs(s, &scope, env, file)?;
                    *scope.vars.borrow_mut() = m.clone();
                    Ok(Value::attrs(m))
                } else {
                    Ok(Value::attrs(self.build_attrs(s, env, env, file)?))
                }
            }
            ast::Expr::LetIn(l) => {
                let scope = self.cyclic_scope(env);
                let m = self.build_entries(l, &scope, &scope, file)?;
                *scope.vars.borrow_mut() = m;
                let body = l
                    .body()
                    .ok_or_else(|| EvalError::new(at(), "`let` without `in` body"))?;
                self.eval(&body, &scope, file)
            }
            ast::Expr::LegacyLet(l) => {
                let scope = self.cyclic_scope(env);
                let m = self.build_entries(l, &scope, &scope, file)?;
                *scope.vars.borrow_mut() = m.clone();
                m.get("body")
                    .ok_or_else(|| EvalError::new(at(), "`let { }` without `body`"))?
                    .force(self)
            }
            ast::Expr::Lambda(l) => Ok(Value::Lambda(Rc::new(Lambda {
                node: l.clone(),
                env: env.clone(),
                file: file.clone(),
            }))),
            ast::Expr::Apply(a) => {
                let f = sub(a.lambda(), "function")?;
                let arg = self.thunk(a.argument(), env, file, "argument");
                self.call(&f, arg, at().as_ref())
            }
            ast::Expr::Select(s) => self.eval_select(s, env, file),
            ast::Expr::HasAttr(h) => {
                let mut v = sub(h.expr(), "expression")?;
                let path = h
                    .attrpath()
                    .ok_or_else(|| EvalError::new(at(), "`?` without an attribute"))?;
                for a in path.attrs() {
                    let key = self.attr_name(&a, env, file)?;
                    match v {
                        Value::Attrs(m) => match m.get(&key) {
                            Some(t) => v = t.force(self)?,
                            None => return Ok(Value::Bool(false)),
                        },
                        Value::Unknown(u) => {
                            return Ok(Value::Unknown(Rc::from(format!("{u} ? {key}"))));
                        }
                        _ => return Ok(Value::Bool(false)),
                    }
                }
                Ok(Value::Bool(true))
            }
            ast::Expr::With(w) => {
                let ns = self.thunk(w.namespace(), env, file, "with namespace");
                let scope = Rc::new(Scope {
                    vars: RefCell::new(BTreeMap::new()),
                    with: Some(ns),
                    parent: Some(env.clone()),
                });
                let body = w
                    .body()
                    .ok_or_else(|| EvalError::new(at(), "`with` without a body"))?;
                self.eval(&body, &scope, file)
            }
            ast::Expr::IfElse(i) => {
                let c = sub(i.condition(), "condition")?;
                match c {
                    Value::Bool(true) => sub(i.body(), "then-branch"),
                    Value::Bool(false) => sub(i.else_body(), "else-branch"),
                    Value::Unknown(u) => Err(EvalError::new(
                        at(),
                        format!(
                            "cannot decide `if` statically: the condition depends on {u}; give \
                             the value with --arg or evaluate with --nix-eval"
                        ),
                    )),
                    other => Err(EvalError::new(
                        at(),
                        format!("`if` needs a Boolean condition, got {}", other.type_name()),
                    )),
                }
            }
            ast::Expr::Assert(a) => {
                match sub(a.condition(), "condition")? {
                    Value::Bool(true) => {}
                    Value::Bool(false) => {
                        return Err(EvalError::new(at(), "assertion failed"));
                    }
                    Value::Unknown(u) => {
                        self.warn(
                            at().as_ref(),
                            format!("assertion on {u} not checked (unknown statically)"),
                        );
                    }
                    other => {
                        return Err(EvalError::new(
                            at(),
                            format!("`assert` needs a Boolean, got {}", other.type_name()),
                        ));
                    }
                }
                sub(a.body(), "body")
            }
            ast::Expr::List(l) => Ok(Value::List(Rc::new(
                l.items()
                    .map(|e| Thunk::pending(e, env.clone(), file.clone()))
                    .collect(),
            ))),
            ast::Expr::UnaryOp(u) => {
                let v = sub(u.expr(), "operand")?;
                match (u.operator(), v) {
                    (Some(UnaryOpKind::Invert), Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (Some(UnaryOpKind::Negate), Value::Int(i)) => Ok(Value::Int(-i)),
                    (Some(UnaryOpKind::Negate), Value::Float(f)) => Ok(Value::Float(-f)),
                    (_, Value::Unknown(u)) => Ok(Value::Unknown(Rc::from(format!("!{u}")))),
                    (_, other) => Err(EvalError::new(
                        at(),
                        format!("cannot apply this operator to {}", other.type_name()),
                    )),
                }
            }
            ast::Expr::BinOp(b) => self.eval_binop(b, env, file),
            ast::Expr::CurPos(_) => {
                let l = at().unwrap_or(Loc {
                    file: file.name.clone(),
                    line: 0,
                    column: 0,
                });
                let mut m = BTreeMap::new();
                m.insert("file".into(), Thunk::value(Value::str(&l.file)));
                m.insert("line".into(), Thunk::value(Value::Int(l.line as i64)));
                m.insert("column".into(), Thunk::value(Value::Int(l.column as i64)));
                Ok(Value::attrs(m))
            }
            ast::Expr::Error(_) => Err(EvalError::new(at(), "Nix syntax error")),
        }
    }

    fn eval_path(&self, expr: &ast::Expr, env: &Env, file: &Rc<FileCtx>) -> R<Value> {
        let parts = match expr {
            ast::Expr::PathAbs(p) => p.parts(),
            ast::Expr::PathRel(p) => p.parts(),
            ast::Expr::PathHome(p) => p.parts(),
            _ => unreachable!("called for paths only"),
        };
        let at = Some(self.loc_of(expr, file));
        let mut s = String::new();
        for p in parts {
            match p {
                InterpolPart::Literal(l) => s.push_str(l.text()),
                InterpolPart::Interpolation(i) => {
                    let v = match i.expr() {
                        Some(e) => self.eval(&e, env, file)?,
                        None => return Err(EvalError::new(at, "empty interpolation")),
                    };
                    s.push_str(&self.coerce_to_string(&v, at.as_ref(), true)?);
                }
            }
        }
        let p = if let Some(rest) = s.strip_prefix("~/") {
            self.warn(at.as_ref(), format!("home path {s} resolved against $HOME"));
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest)
        } else if s.starts_with('/') {
            PathBuf::from(&s)
        } else {
            normalize(&file.dir().join(&s))
        };
        Ok(Value::Path(p))
    }

    fn lookup(&self, name: &str, env: &Env) -> R<Option<Thunk>> {
        // Lexical bindings first, then `with` scopes from the innermost out.
        let mut e = Some(env.clone());
        while let Some(s) = e {
            if let Some(t) = s.vars.borrow().get(name) {
                return Ok(Some(t.clone()));
            }
            e = s.parent.clone();
        }
        let mut e = Some(env.clone());
        while let Some(s) = e {
            if let Some(w) = &s.with {
                match w.force(self)? {
                    Value::Attrs(m) => {
                        if let Some(t) = m.get(name) {
                            return Ok(Some(t.clone()));
                        }
                    }
                    Value::Unknown(u) => {
                        return Ok(Some(Thunk::value(Value::Unknown(Rc::from(format!(
                            "{u}.{name}"
                        ))))));
                    }
                    other => {
                        return Err(EvalError::new(
                            w.loc().cloned(),
                            format!("`with` needs a set, got {}", other.type_name()),
                        ));
                    }
                }
            }
            e = s.parent.clone();
        }
        Ok(None)
    }

    fn attr_name(&self, a: &ast::Attr, env: &Env, file: &Rc<FileCtx>) -> R<String> {
        match a {
            ast::Attr::Ident(i) => Ok(i.to_string()),
            ast::Attr::Str(s) => match self.eval(&ast::Expr::Str(s.clone()), env, file)? {
                Value::Str(s) => Ok(s.to_string()),
                other => Err(EvalError::new(
                    Some(self.loc_of(s, file)),
                    format!("attribute name must be a string, got {}", other.type_name()),
                )),
            },
            ast::Attr::Dynamic(d) => {
                let at = Some(self.loc_of(d, file));
                let v = match d.expr() {
                    Some(e) => self.eval(&e, env, file)?,
                    None => return Err(EvalError::new(at, "empty `${}` attribute name")),
                };
                match v {
                    Value::Str(s) => Ok(s.to_string()),
                    Value::Unknown(u) => Err(EvalError::new(
                        at,
                        format!("attribute name depends on {u}, unknown statically"),
                    )),
                    other => Err(EvalError::new(
                        at,
                        format!("attribute name must be a string, got {}", other.type_name()),
                    )),
                }
            }
        }
    }

    /// The bindings of an attribute set literal; values see `scope`, `inherit` names
    /// `outer`.
    fn build_attrs(
        &self,
        s: &ast::AttrSet,
        scope: &Env,
        outer: &Env,
        file: &Rc<FileCtx>,
    ) -> R<BTreeMap<String, Thunk>> {
        self.build_entries(s, scope, outer, file)
    }

    fn build_entries(
        &self,
        node: &impl HasEntry,
        scope: &Env,
        outer: &Env,
        file: &Rc<FileCtx>,
    ) -> R<BTreeMap<String, Thunk>> {
        let mut tree: BTreeMap<String, Pending> = BTreeMap::new();
        for entry in node.entries() {
            match entry {
                ast::Entry::Inherit(inh) => {
                    let from = inh
                        .from()
                        .and_then(|f| f.expr())
                        .map(|e| Thunk::pending(e, scope.clone(), file.clone()));
                    for a in inh.attrs() {
                        let name = self.attr_name(&a, scope, file)?;
                        let at = Rc::new(self.loc_of(&a, file));
                        let t = match &from {
                            Some(src) => {
                                let src = src.clone();
                                let key = name.clone();
                                lazy_select(src, key, at.clone())
                            }
                            None => self.lookup(&name, outer)?.ok_or_else(|| {
                                EvalError::new(
                                    Some((*at).clone()),
                                    format!("`inherit {name}`: undefined variable `{name}`"),
                                )
                            })?,
                        };
                        insert_pending(&mut tree, &[name], Pending::Leaf(t), &at)?;
                    }
                }
                ast::Entry::AttrpathValue(kv) => {
                    let at = Rc::new(self.loc_of(&kv, file));
                    let path: Vec<String> = kv
                        .attrpath()
                        .ok_or_else(|| {
                            EvalError::new(Some((*at).clone()), "missing attribute name")
                        })?
                        .attrs()
                        .map(|a| self.attr_name(&a, scope, file))
                        .collect::<R<_>>()?;
                    let value = kv.value().ok_or_else(|| {
                        EvalError::new(Some((*at).clone()), "missing value after `=`")
                    })?;
                    let p = match &value {
                        // A literal set can be merged with dotted definitions of the same name.
                        ast::Expr::AttrSet(s) if s.rec_token().is_none() => Pending::Set(
                            self.build_entries(s, scope, outer, file)?
                                .into_iter()
                                .map(|(k, v)| (k, Pending::Leaf(v)))
                                .collect(),
                            Some(Thunk::pending(value.clone(), scope.clone(), file.clone())),
                        ),
                        _ => Pending::Leaf(Thunk::pending(value, scope.clone(), file.clone())),
                    };
                    insert_pending(&mut tree, &path, p, &at)?;
                }
            }
        }
        Ok(tree.into_iter().map(|(k, p)| (k, p.into_thunk())).collect())
    }

    fn eval_select(&self, s: &ast::Select, env: &Env, file: &Rc<FileCtx>) -> R<Value> {
        let at = Some(self.loc_of(s, file));
        let mut v = match s.expr() {
            Some(e) => self.eval(&e, env, file)?,
            None => return Err(EvalError::new(at, "selection without a set")),
        };
        let path = s
            .attrpath()
            .ok_or_else(|| EvalError::new(at.clone(), "selection without an attribute"))?;
        let mut done: Vec<String> = Vec::new();
        for a in path.attrs() {
            let key = self.attr_name(&a, env, file)?;
            let next = match &v {
                Value::Attrs(m) => m.get(&key).cloned(),
                Value::Unknown(u) => {
                    return Ok(Value::Unknown(Rc::from(format!(
                        "{u}.{}",
                        std::iter::once(key)
                            .chain(
                                path.attrs()
                                    .skip(done.len() + 1)
                                    .map(|a| a.syntax().text().to_string())
                            )
                            .collect::<Vec<_>>()
                            .join(".")
                    ))));
                }
                other => {
                    if let Some(d) = s.default_expr() {
                        return self.eval(&d, env, file);
                    }
                    return Err(EvalError::new(
                        at,
                        format!(
                            "cannot select `{key}` from {} ({})",
                            other.type_name(),
                            if done.is_empty() {
                                "the expression".to_string()
                            } else {
                                format!("`{}`", done.join("."))
                            }
                        ),
                    ));
                }
            };
            match next {
                Some(t) => v = t.force(self)?,
                None => {
                    if let Some(d) = s.default_expr() {
                        return self.eval(&d, env, file);
                    }
                    let names: Vec<String> = match &v {
                        Value::Attrs(m) => m.keys().take(12).cloned().collect(),
                        _ => vec![],
                    };
                    return Err(EvalError::new(
                        at,
                        format!(
                            "attribute `{key}` missing{} (it has: {})",
                            if done.is_empty() {
                                String::new()
                            } else {
                                format!(" in `{}`", done.join("."))
                            },
                            names.join(", ")
                        ),
                    ));
                }
            }
            done.push(key);
        }
        Ok(v)
    }

    fn eval_binop(&self, b: &ast::BinOp, env: &Env, file: &Rc<FileCtx>) -> R<Value> {
        let at = Some(self.loc_of(b, file));
        let op = b
            .operator()
            .ok_or_else(|| EvalError::new(at.clone(), "unknown operator"))?;
        let lhs = || match b.lhs() {
            Some(e) => self.eval(&e, env, file),
            None => Err(EvalError::new(at.clone(), "operator without left operand")),
        };
        let rhs = || match b.rhs() {
            Some(e) => self.eval(&e, env, file),
            None => Err(EvalError::new(at.clone(), "operator without right operand")),
        };
        let unknown = |a: &Value, b: &Value| -> Option<Value> {
            match (a, b) {
                (Value::Unknown(u), _) | (_, Value::Unknown(u)) => Some(Value::Unknown(u.clone())),
                _ => None,
            }
        };
        match op {
            BinOpKind::And => match lhs()? {
                Value::Bool(false) => Ok(Value::Bool(false)),
                Value::Bool(true) => rhs(),
                Value::Unknown(u) => Ok(Value::Unknown(u)),
                o => Err(type_err(&at, "&&", &o)),
            },
            BinOpKind::Or => match lhs()? {
                Value::Bool(true) => Ok(Value::Bool(true)),
                Value::Bool(false) => rhs(),
                Value::Unknown(u) => Ok(Value::Unknown(u)),
                o => Err(type_err(&at, "||", &o)),
            },
            BinOpKind::Implication => match lhs()? {
                Value::Bool(false) => Ok(Value::Bool(true)),
                Value::Bool(true) => rhs(),
                Value::Unknown(u) => Ok(Value::Unknown(u)),
                o => Err(type_err(&at, "->", &o)),
            },
            BinOpKind::PipeRight => {
                let (a, f) = (lhs()?, rhs()?);
                self.call(&f, Thunk::value(a), at.as_ref())
            }
            BinOpKind::PipeLeft => {
                let (f, a) = (lhs()?, rhs()?);
                self.call(&f, Thunk::value(a), at.as_ref())
            }
            _ => {
                let (a, c) = (lhs()?, rhs()?);
                if let Some(u) = unknown(&a, &c) {
                    return Ok(u);
                }
                builtins::binop(self, op, a, c, &at)
            }
        }
    }

    /// Applies a function to an argument.
    pub(crate) fn call(&self, f: &Value, arg: Thunk, at: Option<&Loc>) -> R<Value> {
        self.step(|| at.cloned())?;
        match f {
            Value::Lambda(l) => self.call_lambda(l, arg, at),
            Value::Builtin(b) => {
                let mut b = (**b).clone();
                b.args.push(arg);
                if b.args.len() == b.arity {
                    let loc = at.cloned().unwrap_or(Loc {
                        file: "(builtin)".into(),
                        line: 0,
                        column: 0,
                    });
                    (b.f)(self, &b.args, &loc)
                } else {
                    Ok(Value::Builtin(Rc::new(b)))
                }
            }
            Value::Attrs(m) if m.contains_key("__functor") => {
                let functor = m["__functor"].force(self)?;
                let partial = self.call(&functor, Thunk::value(f.clone()), at)?;
                self.call(&partial, arg, at)
            }
            Value::Unknown(u) => Ok(Value::Unknown(Rc::from(format!("{u} (applied)")))),
            other => Err(EvalError::new(
                at.cloned(),
                format!(
                    "attempt to call {}, which is not a function",
                    other.type_name()
                ),
            )),
        }
    }

    fn call_lambda(&self, l: &Lambda, arg: Thunk, at: Option<&Loc>) -> R<Value> {
        let param = l
            .node
            .param()
            .ok_or_else(|| EvalError::new(at.cloned(), "function without a parameter"))?;
        // Defaults are evaluated in the function's own scope: only then can it refer to itself.
        let has_defaults = matches!(&param, ast::Param::Pattern(p)
            if p.pat_entries().any(|e| e.default().is_some()));
        let scope = if has_defaults {
            self.cyclic_scope(&l.env)
        } else {
            Rc::new(Scope {
                vars: RefCell::new(BTreeMap::new()),
                with: None,
                parent: Some(l.env.clone()),
            })
        };
        match param {
            ast::Param::IdentParam(p) => {
                let name = p.ident().map(|i| i.to_string()).unwrap_or_default();
                scope.vars.borrow_mut().insert(name, arg);
            }
            ast::Param::Pattern(p) => {
                let given = match arg.force(self)? {
                    Value::Attrs(m) => m,
                    Value::Unknown(u) => {
                        return Err(EvalError::new(
                            at.cloned(),
                            format!("the function's arguments depend on {u}, unknown statically"),
                        ));
                    }
                    other => {
                        return Err(EvalError::new(
                            at.cloned(),
                            format!(
                                "the function expects a set of arguments, got {}",
                                other.type_name()
                            ),
                        ));
                    }
                };
                let mut vars = BTreeMap::new();
                let mut names = Vec::new();
                for e in p.pat_entries() {
                    let name = e.ident().map(|i| i.to_string()).unwrap_or_default();
                    names.push(name.clone());
                    let t = match given.get(&name) {
                        Some(t) => t.clone(),
                        None => match e.default() {
                            Some(d) => Thunk::pending(d, scope.clone(), l.file.clone()),
                            None => {
                                return Err(EvalError::new(
                                    at.cloned(),
                                    format!(
                                        "the function at {} needs the argument `{name}`, which \
                                         has no default: give it with --arg {name} VALUE",
                                        self.loc_of(&l.node, &l.file)
                                    ),
                                ));
                            }
                        },
                    };
                    vars.insert(name, t);
                }
                if p.ellipsis_token().is_none()
                    && let Some(extra) = given.keys().find(|k| !names.contains(k))
                {
                    return Err(EvalError::new(
                        at.cloned(),
                        format!(
                            "the function at {} does not take the argument `{extra}`",
                            self.loc_of(&l.node, &l.file)
                        ),
                    ));
                }
                if let Some(b) = p.pat_bind().and_then(|b| b.ident()) {
                    vars.insert(b.to_string(), arg.clone());
                }
                *scope.vars.borrow_mut() = vars;
            }
        }
        let body = l
            .node
            .body()
            .ok_or_else(|| EvalError::new(at.cloned(), "function without a body"))?;
        self.eval(&body, &scope, &l.file)
    }

    /// The formal arguments of a function value (pattern names, and whether it takes `...`).
    pub(crate) fn formals(&self, f: &Value) -> Option<(Vec<(String, bool)>, bool)> {
        let Value::Lambda(l) = f else { return None };
        match l.node.param()? {
            ast::Param::Pattern(p) => Some((
                p.pat_entries()
                    .map(|e| {
                        (
                            e.ident().map(|i| i.to_string()).unwrap_or_default(),
                            e.default().is_some(),
                        )
                    })
                    .collect(),
                p.ellipsis_token().is_some(),
            )),
            ast::Param::IdentParam(_) => None,
        }
    }

    /// A string from a value (strings, paths; integers and Booleans only with `loose`, as
    /// `toString` and interpolation allow). Unknown values become `${...}` placeholders
    /// with a warning.
    pub(crate) fn coerce_to_string(&self, v: &Value, at: Option<&Loc>, interp: bool) -> R<String> {
        match v {
            Value::Str(s) => Ok(s.to_string()),
            Value::Path(p) => Ok(p.display().to_string()),
            Value::Int(i) if !interp => Ok(i.to_string()),
            Value::Float(f) if !interp => Ok(f.to_string()),
            Value::Bool(b) if !interp => Ok(if *b { "1".into() } else { String::new() }),
            Value::Null if !interp => Ok(String::new()),
            Value::List(l) if !interp => {
                let mut parts = Vec::new();
                for t in l.iter() {
                    parts.push(self.coerce_to_string(&t.force(self)?, at, false)?);
                }
                Ok(parts.join(" "))
            }
            Value::Attrs(m) if m.contains_key("outPath") => {
                self.coerce_to_string(&m["outPath"].force(self)?, at, interp)
            }
            Value::Unknown(u) => {
                self.warn(at, format!("{u} is unknown statically: kept as `${{{u}}}`"));
                Ok(format!("${{{u}}}"))
            }
            other => Err(EvalError::new(
                at.cloned(),
                format!("cannot coerce {} to a string", other.type_name()),
            )),
        }
    }

    /// Deep equality; `None` when an unknown value decides it.
    pub(crate) fn equal(&self, a: &Value, b: &Value) -> R<Option<bool>> {
        Ok(Some(match (a, b) {
            (Value::Unknown(_), _) | (_, Value::Unknown(_)) => return Ok(None),
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => {
                (*x as f64) == *y
            }
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::Path(x), Value::Path(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                if x.len() != y.len() {
                    return Ok(Some(false));
                }
                for (p, q) in x.iter().zip(y.iter()) {
                    match self.equal(&p.force(self)?, &q.force(self)?)? {
                        Some(true) => {}
                        other => return Ok(other),
                    }
                }
                true
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
                if x.len() != y.len() || x.keys().ne(y.keys()) {
                    return Ok(Some(false));
                }
                for (p, q) in x.values().zip(y.values()) {
                    match self.equal(&p.force(self)?, &q.force(self)?)? {
                        Some(true) => {}
                        other => return Ok(other),
                    }
                }
                true
            }
            _ => false,
        }))
    }

    /// Forces a value deeply into [`Node`] data, resolving the module system's wrappers:
    /// `mkIf` (content kept when the condition is true or unknown, with a warning for
    /// unknown), `mkMerge` (merged), `mkOverride`/`mkDefault`/`mkForce` (priority kept for
    /// merging) and `mkOrder`. `None` means the value is absent (a false `mkIf`).
    pub(crate) fn to_node(&self, t: &Thunk) -> Result<Option<Node>, EvalError> {
        self.to_node_at(t, "")
    }

    fn to_node_at(&self, t: &Thunk, path: &str) -> R<Option<Node>> {
        self.step(|| t.loc().cloned())?;
        let v = t.force(self)?;
        let at = t.loc().cloned();
        let node = |data: Data| Node {
            data,
            at: at.clone(),
            priority: 100,
        };
        Ok(Some(match v {
            Value::Null => node(Data::Null),
            Value::Bool(b) => node(Data::Bool(b)),
            Value::Int(i) => node(Data::Int(i)),
            Value::Float(f) => node(Data::Float(f)),
            Value::Str(s) => node(Data::Str(s.to_string())),
            Value::Path(p) => node(Data::Str(p.display().to_string())),
            Value::Lambda(l) => node(Data::Function(format!(
                "function at {}",
                self.loc_of(&l.node, &l.file)
            ))),
            Value::Builtin(b) => node(Data::Function(format!("builtin {}", b.name))),
            Value::Unknown(u) => node(Data::Unknown(u.to_string())),
            Value::List(items) => {
                let mut out = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    if let Some(n) = self.to_node_at(it, &format!("{path}[{i}]"))? {
                        out.push(n);
                    }
                }
                node(Data::List(out))
            }
            Value::Attrs(m) => {
                if let Some(ty) = m.get("_type") {
                    let ty = ty.force(self)?;
                    if let Value::Str(ty) = ty {
                        return self.wrapper(&ty, &m, t, path);
                    }
                }
                let mut out = BTreeMap::new();
                for (k, v) in m.iter() {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if let Some(n) = self.to_node_at(v, &p)? {
                        out.insert(k.clone(), n);
                    }
                }
                node(Data::Attrs(out))
            }
        }))
    }

    fn wrapper(
        &self,
        ty: &str,
        m: &BTreeMap<String, Thunk>,
        t: &Thunk,
        path: &str,
    ) -> R<Option<Node>> {
        let field = |k: &str| {
            m.get(k).cloned().ok_or_else(|| {
                EvalError::new(
                    t.loc().cloned(),
                    format!("`_type = \"{ty}\"` without `{k}`"),
                )
            })
        };
        match ty {
            "if" => {
                let cond = field("condition")?.force(self)?;
                match cond {
                    Value::Bool(false) => Ok(None),
                    Value::Bool(true) => self.to_node_at(&field("content")?, path),
                    Value::Unknown(u) => {
                        self.warn(
                            t.loc(),
                            format!(
                                "mkIf on {u} (unknown statically): its content is kept{}",
                                if path.is_empty() {
                                    String::new()
                                } else {
                                    format!(" at `{path}`")
                                }
                            ),
                        );
                        self.to_node_at(&field("content")?, path)
                    }
                    other => Err(EvalError::new(
                        t.loc().cloned(),
                        format!("mkIf needs a Boolean condition, got {}", other.type_name()),
                    )),
                }
            }
            "merge" => {
                let items = match field("contents")?.force(self)? {
                    Value::List(l) => l,
                    other => {
                        return Err(EvalError::new(
                            t.loc().cloned(),
                            format!("mkMerge needs a list, got {}", other.type_name()),
                        ));
                    }
                };
                let mut acc: Option<Node> = None;
                for it in items.iter() {
                    if let Some(n) = self.to_node_at(it, path)? {
                        acc = Some(match acc {
                            None => n,
                            Some(a) => merge(a, n, path)?,
                        });
                    }
                }
                Ok(acc.or_else(|| {
                    Some(Node {
                        data: Data::Attrs(BTreeMap::new()),
                        at: t.loc().cloned(),
                        priority: 100,
                    })
                }))
            }
            "override" => {
                let prio = match field("priority")?.force(self)? {
                    Value::Int(p) => p,
                    _ => 100,
                };
                Ok(self.to_node_at(&field("content")?, path)?.map(|mut n| {
                    n.priority = prio;
                    n
                }))
            }
            "order" => self.to_node_at(&field("content")?, path),
            // Option declarations and other module-system values are not data.
            other => Ok(Some(Node {
                data: Data::Unknown(format!("module-system value `_type = \"{other}\"`")),
                at: t.loc().cloned(),
                priority: 100,
            })),
        }
    }
}

/// Merges two definitions the way the module system does for the types disko uses: sets
/// merge key by key, lists concatenate, hook strings (`lines`) join, and otherwise the
/// higher priority (lower number) wins; equal priorities must agree.
pub fn merge(a: Node, b: Node, path: &str) -> Result<Node, EvalError> {
    if a.priority != b.priority && !matches!((&a.data, &b.data), (Data::Attrs(_), Data::Attrs(_))) {
        return Ok(if a.priority < b.priority { a } else { b });
    }
    match (a.data, b.data) {
        (Data::Attrs(mut x), Data::Attrs(y)) => {
            for (k, v) in y {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let merged = match x.remove(&k) {
                    Some(old) => merge(old, v, &p)?,
                    None => v,
                };
                x.insert(k, merged);
            }
            Ok(Node {
                data: Data::Attrs(x),
                at: a.at,
                priority: a.priority.min(b.priority),
            })
        }
        (Data::List(mut x), Data::List(y)) => {
            x.extend(y);
            Ok(Node {
                data: Data::List(x),
                at: a.at,
                priority: a.priority,
            })
        }
        (Data::Str(x), Data::Str(y)) if path.ends_with("Hook") => Ok(Node {
            data: Data::Str(format!("{x}\n{y}")),
            at: a.at,
            priority: a.priority,
        }),
        (x, y) if x == y => Ok(Node {
            data: x,
            at: a.at,
            priority: a.priority,
        }),
        (x, y) => {
            let where_b =
                b.at.as_ref()
                    .map(|l| format!(" and at {l}"))
                    .unwrap_or_default();
            Err(EvalError::new(
                a.at,
                format!(
                    "`{path}` is defined twice with different values ({} here{where_b}, {})",
                    Node::new(x).kind(),
                    Node::new(y).kind()
                ),
            ))
        }
    }
}

/// A binding being built: a value, or a set built from dotted paths.
enum Pending {
    Leaf(Thunk),
    Set(BTreeMap<String, Pending>, Option<Thunk>),
}

impl Pending {
    fn into_thunk(self) -> Thunk {
        match self {
            Pending::Leaf(t) => t,
            Pending::Set(m, origin) => Thunk::value_at(
                Value::attrs(m.into_iter().map(|(k, p)| (k, p.into_thunk())).collect()),
                origin.and_then(|t| t.loc_rc()),
            ),
        }
    }
}

fn insert_pending(
    tree: &mut BTreeMap<String, Pending>,
    path: &[String],
    value: Pending,
    at: &Rc<Loc>,
) -> R<()> {
    let Some((first, rest)) = path.split_first() else {
        return Err(EvalError::new(Some((**at).clone()), "empty attribute path"));
    };
    if rest.is_empty() {
        match (tree.remove(first), value) {
            (None, v) => {
                tree.insert(first.clone(), v);
            }
            (Some(Pending::Set(mut a, o)), Pending::Set(b, _)) => {
                for (k, v) in b {
                    insert_pending(&mut a, &[k], v, at)?;
                }
                tree.insert(first.clone(), Pending::Set(a, o));
            }
            (Some(_), _) => {
                return Err(EvalError::new(
                    Some((**at).clone()),
                    format!("attribute `{first}` already defined"),
                ));
            }
        }
        return Ok(());
    }
    let entry = tree.entry(first.clone()).or_insert_with(|| {
        Pending::Set(
            BTreeMap::new(),
            Some(Thunk::value_at(Value::Null, Some(at.clone()))),
        )
    });
    match entry {
        Pending::Set(m, _) => insert_pending(m, rest, value, at),
        Pending::Leaf(_) => Err(EvalError::new(
            Some((**at).clone()),
            format!("attribute `{first}` already defined (not as a set)"),
        )),
    }
}

/// A thunk that selects `key` from `src` when forced (for `inherit (src) key`).
fn lazy_select(src: Thunk, key: String, at: Rc<Loc>) -> Thunk {
    // Built as a builtin application so it stays lazy.
    let b = Builtin {
        name: "inherit",
        arity: 2,
        f: |ev, args, loc| {
            let k = match args[1].force(ev)? {
                Value::Str(s) => s.to_string(),
                _ => String::new(),
            };
            match args[0].force(ev)? {
                Value::Attrs(m) => m.get(&k).map(|t| t.force(ev)).unwrap_or_else(|| {
                    Err(EvalError::new(
                        Some(loc.clone()),
                        format!("`inherit`: attribute `{k}` missing"),
                    ))
                }),
                Value::Unknown(u) => Ok(Value::Unknown(Rc::from(format!("{u}.{k}")))),
                other => Err(EvalError::new(
                    Some(loc.clone()),
                    format!("`inherit (...)` needs a set, got {}", other.type_name()),
                )),
            }
        },
        args: vec![src, Thunk::value(Value::str(&key))],
    };
    let loc = (*at).clone();
    // Deferred: a builtin with all arguments is applied when forced.
    Thunk::deferred(Rc::new(b), loc)
}

fn type_err(at: &Option<Loc>, op: &str, v: &Value) -> EvalError {
    EvalError::new(
        at.clone(),
        format!("`{op}` needs Booleans, got {}", v.type_name()),
    )
}

fn parse_error(e: &rnix::ParseError) -> (usize, String) {
    use rnix::ParseError as P;
    match e {
        P::Unexpected(r) => (r.start().into(), "unexpected input".into()),
        P::UnexpectedExtra(r) => (r.start().into(), "unexpected extra input".into()),
        P::UnexpectedWanted(got, r, want) => (
            r.start().into(),
            format!(
                "unexpected {}, expected {}",
                kind_name(*got),
                want.iter()
                    .map(|k| kind_name(*k))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ),
        P::UnexpectedDoubleBind(r) => (r.start().into(), "double `@` binding".into()),
        P::DuplicatedArgs(r, name) => (r.start().into(), format!("argument `{name}` twice")),
        P::UnexpectedEOF => (usize::MAX, "unexpected end of file".into()),
        P::UnexpectedEOFWanted(want) => (
            usize::MAX,
            format!(
                "unexpected end of file, expected {}",
                want.iter()
                    .map(|k| kind_name(*k))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ),
        P::RecursionLimitExceeded => (0, "nesting too deep".into()),
        other => (0, other.to_string()),
    }
}

/// A token kind in words (`TOKEN_SEMICOLON` -> `semicolon`).
fn kind_name(k: rnix::SyntaxKind) -> String {
    let s = format!("{k:?}");
    s.trim_start_matches("TOKEN_")
        .trim_start_matches("NODE_")
        .to_ascii_lowercase()
        .replace('_', " ")
}

/// `a/./b/../c` -> `a/c`, without touching the filesystem.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
