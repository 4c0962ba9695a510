//! `builtins`, the global functions, operators, and the part of nixpkgs' `lib` that disko
//! configurations use (implemented here, not read from nixpkgs).

use super::value::{Builtin, BuiltinFn, Env, Loc, Scope, Thunk, Value};
use super::{EvalError, Evaluator};
use rnix::ast::BinOpKind;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

type R<T> = Result<T, EvalError>;

fn err(at: &Loc, msg: impl Into<String>) -> EvalError {
    EvalError::new(Some(at.clone()), msg)
}

fn b(name: &'static str, arity: usize, f: BuiltinFn) -> Value {
    Value::Builtin(Rc::new(Builtin {
        name,
        arity,
        f,
        args: Vec::new(),
    }))
}

fn unknown(what: impl AsRef<str>) -> Value {
    Value::Unknown(Rc::from(what.as_ref()))
}

/// A lazy application `f x` (or `f x y`).
fn apply(f: &Thunk, args: &[Thunk], at: &Loc) -> Thunk {
    let mut all = vec![f.clone()];
    all.extend(args.iter().cloned());
    let (name, arity, func): (&'static str, usize, BuiltinFn) = match args.len() {
        1 => ("apply", 2, |ev, a, at| {
            ev.call(&a[0].force(ev)?, a[1].clone(), Some(at))
        }),
        _ => ("apply2", 3, |ev, a, at| {
            let g = ev.call(&a[0].force(ev)?, a[1].clone(), Some(at))?;
            ev.call(&g, a[2].clone(), Some(at))
        }),
    };
    Thunk::deferred(
        Rc::new(Builtin {
            name,
            arity,
            f: func,
            args: all,
        }),
        at.clone(),
    )
}

fn call1(ev: &Evaluator, f: &Thunk, x: Thunk, at: &Loc) -> R<Value> {
    ev.call(&f.force(ev)?, x, Some(at))
}

fn call2(ev: &Evaluator, f: &Thunk, x: Thunk, y: Thunk, at: &Loc) -> R<Value> {
    let g = ev.call(&f.force(ev)?, x, Some(at))?;
    ev.call(&g, y, Some(at))
}

/// What an argument forced to a given type gives: the value, or an unknown to return as is.
enum Got<T> {
    It(T),
    Unknown(Value),
}

macro_rules! want {
    ($ev:expr, $t:expr, $at:expr, $fname:expr, $pat:ident, $what:expr) => {
        match $t.force($ev)? {
            Value::$pat(x) => Got::It(x),
            Value::Unknown(u) => Got::Unknown(Value::Unknown(u)),
            other => {
                return Err(err(
                    $at,
                    format!("{}: expected {}, got {}", $fname, $what, other.type_name()),
                ));
            }
        }
    };
}

macro_rules! get {
    ($e:expr) => {
        match $e {
            Got::It(x) => x,
            Got::Unknown(u) => return Ok(u),
        }
    };
}

fn list(ev: &Evaluator, t: &Thunk, at: &Loc, f: &str) -> R<Got<Rc<Vec<Thunk>>>> {
    Ok(want!(ev, t, at, f, List, "a list"))
}

fn attrs(ev: &Evaluator, t: &Thunk, at: &Loc, f: &str) -> R<Got<Rc<BTreeMap<String, Thunk>>>> {
    Ok(want!(ev, t, at, f, Attrs, "a set"))
}

fn int(ev: &Evaluator, t: &Thunk, at: &Loc, f: &str) -> R<Got<i64>> {
    Ok(want!(ev, t, at, f, Int, "an integer"))
}

fn string(ev: &Evaluator, t: &Thunk, at: &Loc, f: &str) -> R<Got<String>> {
    match t.force(ev)? {
        Value::Str(s) => Ok(Got::It(s.to_string())),
        Value::Path(p) => Ok(Got::It(p.display().to_string())),
        Value::Unknown(u) => Ok(Got::Unknown(Value::Unknown(u))),
        other => Err(err(
            at,
            format!("{f}: expected a string, got {}", other.type_name()),
        )),
    }
}

/// A condition; unknown ones count as true, with a warning (nothing is dropped).
fn cond(ev: &Evaluator, t: &Thunk, at: &Loc, f: &str) -> R<bool> {
    match t.force(ev)? {
        Value::Bool(b) => Ok(b),
        Value::Unknown(u) => {
            ev.warn(
                Some(at),
                format!("{f} on {u} (unknown statically): taken as true"),
            );
            Ok(true)
        }
        other => Err(err(
            at,
            format!("{f}: expected a Boolean, got {}", other.type_name()),
        )),
    }
}

fn mk_list(items: Vec<Thunk>) -> Value {
    Value::List(Rc::new(items))
}

fn typed(ty: &str, fields: Vec<(&str, Thunk)>) -> Value {
    let mut m = BTreeMap::new();
    m.insert("_type".to_string(), Thunk::value(Value::str(ty)));
    for (k, v) in fields {
        m.insert(k.to_string(), v);
    }
    Value::attrs(m)
}

/// The global scope: `builtins`, `true`/`false`/`null`, and the global functions.
pub(crate) fn globals() -> Env {
    let builtins = builtins_set();
    let mut g = BTreeMap::new();
    for name in [
        "abort",
        "baseNameOf",
        "derivation",
        "dirOf",
        "fetchGit",
        "fetchTarball",
        "fetchurl",
        "import",
        "isNull",
        "map",
        "placeholder",
        "removeAttrs",
        "throw",
        "toString",
    ] {
        if let Some(t) = builtins.get(name) {
            g.insert(name.to_string(), t.clone());
        }
    }
    g.insert("true".into(), Thunk::value(Value::Bool(true)));
    g.insert("false".into(), Thunk::value(Value::Bool(false)));
    g.insert("null".into(), Thunk::value(Value::Null));
    g.insert("builtins".into(), Thunk::value(Value::attrs(builtins)));
    Rc::new(Scope {
        vars: RefCell::new(g),
        with: None,
        parent: None,
    })
}

fn builtins_set() -> BTreeMap<String, Thunk> {
    let mut m: BTreeMap<String, Thunk> = BTreeMap::new();
    let mut add = |name: &'static str, arity: usize, f: BuiltinFn| {
        m.insert(name.to_string(), Thunk::value(b(name, arity, f)));
    };
    add("abort", 1, |ev, a, at| {
        let msg = ev.coerce_to_string(&a[0].force(ev)?, Some(at), false)?;
        Err(err(at, format!("evaluation aborted: {msg}")))
    });
    add("throw", 1, |ev, a, at| {
        let msg = ev.coerce_to_string(&a[0].force(ev)?, Some(at), false)?;
        Err(err(at, format!("the configuration throws: {msg}")))
    });
    add("add", 2, |ev, a, at| {
        binop(
            ev,
            BinOpKind::Add,
            a[0].force(ev)?,
            a[1].force(ev)?,
            &Some(at.clone()),
        )
    });
    add("sub", 2, |ev, a, at| {
        binop(
            ev,
            BinOpKind::Sub,
            a[0].force(ev)?,
            a[1].force(ev)?,
            &Some(at.clone()),
        )
    });
    add("mul", 2, |ev, a, at| {
        binop(
            ev,
            BinOpKind::Mul,
            a[0].force(ev)?,
            a[1].force(ev)?,
            &Some(at.clone()),
        )
    });
    add("div", 2, |ev, a, at| {
        binop(
            ev,
            BinOpKind::Div,
            a[0].force(ev)?,
            a[1].force(ev)?,
            &Some(at.clone()),
        )
    });
    add("lessThan", 2, |ev, a, at| {
        binop(
            ev,
            BinOpKind::Less,
            a[0].force(ev)?,
            a[1].force(ev)?,
            &Some(at.clone()),
        )
    });
    add("all", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "all")?);
        for x in l.iter() {
            match call1(ev, &a[0], x.clone(), at)? {
                Value::Bool(true) => {}
                Value::Bool(false) => return Ok(Value::Bool(false)),
                other => return Ok(unknown_or(other, "all")),
            }
        }
        Ok(Value::Bool(true))
    });
    add("any", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "any")?);
        for x in l.iter() {
            match call1(ev, &a[0], x.clone(), at)? {
                Value::Bool(true) => return Ok(Value::Bool(true)),
                Value::Bool(false) => {}
                other => return Ok(unknown_or(other, "any")),
            }
        }
        Ok(Value::Bool(false))
    });
    add("attrNames", 1, |ev, a, at| {
        let m = get!(attrs(ev, &a[0], at, "attrNames")?);
        Ok(mk_list(
            m.keys().map(|k| Thunk::value(Value::str(k))).collect(),
        ))
    });
    add("attrValues", 1, |ev, a, at| {
        let m = get!(attrs(ev, &a[0], at, "attrValues")?);
        Ok(mk_list(m.values().cloned().collect()))
    });
    add("baseNameOf", 1, |ev, a, at| {
        let s = get!(string(ev, &a[0], at, "baseNameOf")?);
        Ok(Value::str(
            s.trim_end_matches('/').rsplit('/').next().unwrap_or(""),
        ))
    });
    add("dirOf", 1, |ev, a, at| match a[0].force(ev)? {
        Value::Path(p) => Ok(Value::Path(p.parent().map(PathBuf::from).unwrap_or(p))),
        _ => {
            let s = get!(string(ev, &a[0], at, "dirOf")?);
            Ok(Value::str(
                s.rsplit_once('/')
                    .map_or(".", |(d, _)| if d.is_empty() { "/" } else { d }),
            ))
        }
    });
    add("catAttrs", 2, |ev, a, at| {
        let k = get!(string(ev, &a[0], at, "catAttrs")?);
        let l = get!(list(ev, &a[1], at, "catAttrs")?);
        let mut out = Vec::new();
        for x in l.iter() {
            let m = get!(attrs(ev, x, at, "catAttrs")?);
            if let Some(v) = m.get(&k) {
                out.push(v.clone());
            }
        }
        Ok(mk_list(out))
    });
    add("concatLists", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "concatLists")?);
        let mut out = Vec::new();
        for x in l.iter() {
            out.extend(get!(list(ev, x, at, "concatLists")?).iter().cloned());
        }
        Ok(mk_list(out))
    });
    add("concatMap", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "concatMap")?);
        let mut out = Vec::new();
        for x in l.iter() {
            let r = Thunk::value(call1(ev, &a[0], x.clone(), at)?);
            out.extend(get!(list(ev, &r, at, "concatMap")?).iter().cloned());
        }
        Ok(mk_list(out))
    });
    add("concatStringsSep", 2, |ev, a, at| {
        let sep = get!(string(ev, &a[0], at, "concatStringsSep")?);
        let l = get!(list(ev, &a[1], at, "concatStringsSep")?);
        let mut parts = Vec::new();
        for x in l.iter() {
            parts.push(ev.coerce_to_string(&x.force(ev)?, Some(at), true)?);
        }
        Ok(Value::str(&parts.join(&sep)))
    });
    add("deepSeq", 2, |ev, a, _| {
        ev.to_node(&a[0])?;
        a[1].force(ev)
    });
    add("seq", 2, |ev, a, _| {
        a[0].force(ev)?;
        a[1].force(ev)
    });
    add("elem", 2, |ev, a, at| {
        let x = a[0].force(ev)?;
        let l = get!(list(ev, &a[1], at, "elem")?);
        for y in l.iter() {
            match ev.equal(&x, &y.force(ev)?)? {
                Some(true) => return Ok(Value::Bool(true)),
                Some(false) => {}
                None => return Ok(unknown("elem of an unknown value")),
            }
        }
        Ok(Value::Bool(false))
    });
    add("elemAt", 2, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "elemAt")?);
        let i = get!(int(ev, &a[1], at, "elemAt")?);
        usize::try_from(i)
            .ok()
            .and_then(|i| l.get(i))
            .ok_or_else(|| {
                err(
                    at,
                    format!("elemAt: index {i} out of range for a list of {}", l.len()),
                )
            })?
            .force(ev)
    });
    add("filter", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "filter")?);
        let mut out = Vec::new();
        for x in l.iter() {
            match call1(ev, &a[0], x.clone(), at)? {
                Value::Bool(true) => out.push(x.clone()),
                Value::Bool(false) => {}
                Value::Unknown(u) => {
                    ev.warn(Some(at), format!("filter on {u}: element kept"));
                    out.push(x.clone());
                }
                other => {
                    return Err(err(
                        at,
                        format!("filter: the predicate returned {}", other.type_name()),
                    ));
                }
            }
        }
        Ok(mk_list(out))
    });
    add("foldl'", 3, |ev, a, at| {
        let l = get!(list(ev, &a[2], at, "foldl'")?);
        let mut acc = a[1].clone();
        for x in l.iter() {
            acc = Thunk::value(call2(ev, &a[0], acc, x.clone(), at)?);
        }
        acc.force(ev)
    });
    add("fromJSON", 1, |ev, a, at| {
        let s = get!(string(ev, &a[0], at, "fromJSON")?);
        let j: serde_json::Value =
            serde_json::from_str(&s).map_err(|e| err(at, format!("fromJSON: {e}")))?;
        Ok(from_json(&j))
    });
    add("functionArgs", 1, |ev, a, _| {
        let f = a[0].force(ev)?;
        let mut m = BTreeMap::new();
        if let Some((names, _)) = ev.formals(&f) {
            for (n, has_default) in names {
                m.insert(n, Thunk::value(Value::Bool(has_default)));
            }
        }
        Ok(Value::attrs(m))
    });
    add("genList", 2, |ev, a, at| {
        let n = get!(int(ev, &a[1], at, "genList")?);
        if !(0..=1_000_000).contains(&n) {
            return Err(err(at, format!("genList: length {n} out of range")));
        }
        Ok(mk_list(
            (0..n)
                .map(|i| apply(&a[0], &[Thunk::value(Value::Int(i))], at))
                .collect(),
        ))
    });
    add("getAttr", 2, |ev, a, at| {
        let k = get!(string(ev, &a[0], at, "getAttr")?);
        let m = get!(attrs(ev, &a[1], at, "getAttr")?);
        m.get(&k)
            .ok_or_else(|| err(at, format!("getAttr: attribute `{k}` missing")))?
            .force(ev)
    });
    add("getEnv", 1, |ev, a, at| {
        let k = get!(string(ev, &a[0], at, "getEnv")?);
        ev.warn(
            Some(at),
            format!("getEnv \"{k}\": environment is unknown statically"),
        );
        Ok(unknown(format!("$${k}")))
    });
    add("hasAttr", 2, |ev, a, at| {
        let k = get!(string(ev, &a[0], at, "hasAttr")?);
        let m = get!(attrs(ev, &a[1], at, "hasAttr")?);
        Ok(Value::Bool(m.contains_key(&k)))
    });
    add("head", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "head")?);
        l.first()
            .ok_or_else(|| err(at, "head: the list is empty"))?
            .force(ev)
    });
    add("tail", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "tail")?);
        if l.is_empty() {
            return Err(err(at, "tail: the list is empty"));
        }
        Ok(mk_list(l[1..].to_vec()))
    });
    add("import", 1, |ev, a, at| {
        let p = match a[0].force(ev)? {
            Value::Path(p) => p,
            Value::Str(s) if s.starts_with('/') => PathBuf::from(s.as_ref()),
            Value::Unknown(u) => {
                ev.warn(Some(at), format!("import of {u}: unknown statically"));
                return Ok(unknown(format!("import {u}")));
            }
            other => {
                return Err(err(
                    at,
                    format!("import: expected a path, got {}", other.type_name()),
                ));
            }
        };
        let p = if p.is_dir() { p.join("default.nix") } else { p };
        let name = p.display().to_string();
        ev.eval_file(&p, &name)
            .map_err(|e| {
                if e.at.is_some() {
                    e
                } else {
                    err(at, e.message)
                }
            })?
            .force(ev)
    });
    add("intersectAttrs", 2, |ev, a, at| {
        let x = get!(attrs(ev, &a[0], at, "intersectAttrs")?);
        let y = get!(attrs(ev, &a[1], at, "intersectAttrs")?);
        Ok(Value::attrs(
            y.iter()
                .filter(|(k, _)| x.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
    });
    add("isAttrs", 1, |ev, a, _| {
        is(ev, &a[0], |v| matches!(v, Value::Attrs(_)))
    });
    add("isBool", 1, |ev, a, _| {
        is(ev, &a[0], |v| matches!(v, Value::Bool(_)))
    });
    add("isFloat", 1, |ev, a, _| {
        is(ev, &a[0], |v| matches!(v, Value::Float(_)))
    });
    add("isFunction", 1, |ev, a, _| {
        is(ev, &a[0], |v| {
            matches!(v, Value::Lambda(_) | Value::Builtin(_))
        })
    });
    add("isInt", 1, |ev, a, _| {
        is(ev, &a[0], |v| matches!(v, Value::Int(_)))
    });
    add("isList", 1, |ev, a, _| {
        is(ev, &a[0], |v| matches!(v, Value::List(_)))
    });
    add("isNull", 1, |ev, a, _| {
        is(ev, &a[0], |v| matches!(v, Value::Null))
    });
    add("isPath", 1, |ev, a, _| {
        is(ev, &a[0], |v| matches!(v, Value::Path(_)))
    });
    add("isString", 1, |ev, a, _| {
        is(ev, &a[0], |v| matches!(v, Value::Str(_)))
    });
    add("length", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "length")?);
        Ok(Value::Int(l.len() as i64))
    });
    add("listToAttrs", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "listToAttrs")?);
        let mut m = BTreeMap::new();
        for x in l.iter() {
            let e = get!(attrs(ev, x, at, "listToAttrs")?);
            let name = match e.get("name") {
                Some(n) => get!(string(ev, n, at, "listToAttrs")?),
                None => return Err(err(at, "listToAttrs: an element has no `name`")),
            };
            let value = e
                .get("value")
                .ok_or_else(|| err(at, "listToAttrs: an element has no `value`"))?;
            // The first definition of a name wins, as in Nix.
            m.entry(name).or_insert_with(|| value.clone());
        }
        Ok(Value::attrs(m))
    });
    add("map", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "map")?);
        Ok(mk_list(
            l.iter()
                .map(|x| apply(&a[0], std::slice::from_ref(x), at))
                .collect(),
        ))
    });
    add("mapAttrs", 2, |ev, a, at| {
        let m = get!(attrs(ev, &a[1], at, "mapAttrs")?);
        Ok(Value::attrs(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        apply(&a[0], &[Thunk::value(Value::str(k)), v.clone()], at),
                    )
                })
                .collect(),
        ))
    });
    add("match", 2, |ev, a, at| {
        let _ = (a, ev);
        ev.warn(
            Some(at),
            "builtins.match (regular expressions) is not evaluated statically",
        );
        Ok(unknown("builtins.match"))
    });
    add("pathExists", 1, |ev, a, at| match a[0].force(ev)? {
        Value::Path(p) => Ok(Value::Bool(p.exists())),
        Value::Unknown(u) => Ok(Value::Unknown(u)),
        other => Err(err(
            at,
            format!("pathExists: expected a path, got {}", other.type_name()),
        )),
    });
    add("readFile", 1, |ev, a, at| match a[0].force(ev)? {
        Value::Path(p) => std::fs::read_to_string(&p)
            .map(|s| Value::str(&s))
            .map_err(|e| err(at, format!("readFile {}: {e}", p.display()))),
        Value::Unknown(u) => Ok(Value::Unknown(u)),
        other => Err(err(
            at,
            format!("readFile: expected a path, got {}", other.type_name()),
        )),
    });
    add("removeAttrs", 2, |ev, a, at| {
        let m = get!(attrs(ev, &a[0], at, "removeAttrs")?);
        let l = get!(list(ev, &a[1], at, "removeAttrs")?);
        let mut out = (*m).clone();
        for x in l.iter() {
            out.remove(&get!(string(ev, x, at, "removeAttrs")?));
        }
        Ok(Value::attrs(out))
    });
    add("replaceStrings", 3, |ev, a, at| {
        let from = get!(list(ev, &a[0], at, "replaceStrings")?);
        let to = get!(list(ev, &a[1], at, "replaceStrings")?);
        let s = get!(string(ev, &a[2], at, "replaceStrings")?);
        if from.len() != to.len() {
            return Err(err(at, "replaceStrings: the lists differ in length"));
        }
        let mut pairs = Vec::new();
        for (f, t) in from.iter().zip(to.iter()) {
            pairs.push((
                get!(string(ev, f, at, "replaceStrings")?),
                get!(string(ev, t, at, "replaceStrings")?),
            ));
        }
        let mut out = String::new();
        let mut i = 0;
        let bytes = s.as_str();
        'outer: while i <= bytes.len() {
            for (f, t) in &pairs {
                if bytes[i..].starts_with(f.as_str()) {
                    out.push_str(t);
                    if f.is_empty() {
                        if let Some(c) = bytes[i..].chars().next() {
                            out.push(c);
                            i += c.len_utf8();
                        } else {
                            break 'outer;
                        }
                    } else {
                        i += f.len();
                    }
                    continue 'outer;
                }
            }
            match bytes[i..].chars().next() {
                Some(c) => {
                    out.push(c);
                    i += c.len_utf8();
                }
                None => break,
            }
        }
        Ok(Value::str(&out))
    });
    add("sort", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "sort")?);
        let mut items: Vec<Thunk> = l.to_vec();
        // Insertion sort: stable, and the comparator may fail.
        for i in 1..items.len() {
            let mut j = i;
            while j > 0 {
                let less = call2(ev, &a[0], items[j].clone(), items[j - 1].clone(), at)?;
                if matches!(less, Value::Bool(true)) {
                    items.swap(j, j - 1);
                    j -= 1;
                } else {
                    break;
                }
            }
        }
        Ok(mk_list(items))
    });
    add("stringLength", 1, |ev, a, at| {
        let s = get!(string(ev, &a[0], at, "stringLength")?);
        Ok(Value::Int(s.len() as i64))
    });
    add("substring", 3, |ev, a, at| {
        let start = get!(int(ev, &a[0], at, "substring")?).max(0) as usize;
        let len = get!(int(ev, &a[1], at, "substring")?);
        let s = get!(string(ev, &a[2], at, "substring")?);
        let bytes = s.as_bytes();
        let start = start.min(bytes.len());
        let end = if len < 0 {
            bytes.len()
        } else {
            (start + len as usize).min(bytes.len())
        };
        Ok(Value::str(&String::from_utf8_lossy(&bytes[start..end])))
    });
    add("toJSON", 1, |ev, a, at| {
        let n = ev
            .to_node(&a[0])?
            .ok_or_else(|| err(at, "toJSON of an absent value"))?;
        Ok(Value::str(
            &serde_json::to_string(&n).map_err(|e| err(at, format!("toJSON: {e}")))?,
        ))
    });
    add("toString", 1, |ev, a, at| {
        Ok(Value::str(&ev.coerce_to_string(
            &a[0].force(ev)?,
            Some(at),
            false,
        )?))
    });
    add("trace", 2, |ev, a, _| a[1].force(ev));
    add("tryEval", 1, |ev, a, _| {
        let (ok, v) = match a[0].force(ev) {
            Ok(v) => (true, v),
            Err(_) => (false, Value::Bool(false)),
        };
        let mut m = BTreeMap::new();
        m.insert("success".into(), Thunk::value(Value::Bool(ok)));
        m.insert("value".into(), Thunk::value(v));
        Ok(Value::attrs(m))
    });
    add("typeOf", 1, |ev, a, _| {
        Ok(Value::str(match a[0].force(ev)? {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Path(_) => "path",
            Value::List(_) => "list",
            Value::Attrs(_) => "set",
            Value::Lambda(_) | Value::Builtin(_) => "lambda",
            Value::Unknown(u) => return Ok(Value::Unknown(u)),
        }))
    });
    add("ceil", 1, |ev, a, at| match a[0].force(ev)? {
        Value::Float(f) => Ok(Value::Int(f.ceil() as i64)),
        Value::Int(i) => Ok(Value::Int(i)),
        other => Err(err(at, format!("ceil: got {}", other.type_name()))),
    });
    add("floor", 1, |ev, a, at| match a[0].force(ev)? {
        Value::Float(f) => Ok(Value::Int(f.floor() as i64)),
        Value::Int(i) => Ok(Value::Int(i)),
        other => Err(err(at, format!("floor: got {}", other.type_name()))),
    });
    add("partition", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "partition")?);
        let (mut right, mut wrong) = (Vec::new(), Vec::new());
        for x in l.iter() {
            match call1(ev, &a[0], x.clone(), at)? {
                Value::Bool(true) => right.push(x.clone()),
                _ => wrong.push(x.clone()),
            }
        }
        let mut m = BTreeMap::new();
        m.insert("right".into(), Thunk::value(mk_list(right)));
        m.insert("wrong".into(), Thunk::value(mk_list(wrong)));
        Ok(Value::attrs(m))
    });
    add("zipAttrsWith", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "zipAttrsWith")?);
        let mut acc: BTreeMap<String, Vec<Thunk>> = BTreeMap::new();
        for x in l.iter() {
            for (k, v) in get!(attrs(ev, x, at, "zipAttrsWith")?).iter() {
                acc.entry(k.clone()).or_default().push(v.clone());
            }
        }
        Ok(Value::attrs(
            acc.into_iter()
                .map(|(k, vs)| {
                    let t = apply(
                        &a[0],
                        &[Thunk::value(Value::str(&k)), Thunk::value(mk_list(vs))],
                        at,
                    );
                    (k, t)
                })
                .collect(),
        ))
    });
    for (name, what) in [
        ("derivation", "a derivation"),
        ("fetchGit", "builtins.fetchGit"),
        ("fetchTarball", "builtins.fetchTarball"),
        ("fetchurl", "builtins.fetchurl"),
        ("placeholder", "builtins.placeholder"),
        ("hashString", "builtins.hashString"),
        ("storePath", "builtins.storePath"),
    ] {
        let _ = what;
        add(name, 1, |ev, _, at| {
            ev.warn(
                Some(at),
                "a store or network builtin is not evaluated statically",
            );
            Ok(unknown("store value"))
        });
    }
    m.insert(
        "currentSystem".into(),
        Thunk::value(unknown("builtins.currentSystem")),
    );
    m.insert("nixVersion".into(), Thunk::value(Value::str("2.18.0")));
    m.insert("storeDir".into(), Thunk::value(Value::str("/nix/store")));
    m.insert("true".into(), Thunk::value(Value::Bool(true)));
    m.insert("false".into(), Thunk::value(Value::Bool(false)));
    m.insert("null".into(), Thunk::value(Value::Null));
    m
}

fn unknown_or(v: Value, f: &str) -> Value {
    match v {
        Value::Unknown(u) => Value::Unknown(u),
        _ => unknown(format!("{f} with a non-Boolean predicate")),
    }
}

fn is(ev: &Evaluator, t: &Thunk, p: fn(&Value) -> bool) -> R<Value> {
    let v = t.force(ev)?;
    if let Value::Unknown(u) = v {
        return Ok(Value::Unknown(u));
    }
    Ok(Value::Bool(p(&v)))
}

fn from_json(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => {
            mk_list(a.iter().map(|x| Thunk::value(from_json(x))).collect())
        }
        serde_json::Value::Object(m) => Value::attrs(
            m.iter()
                .map(|(k, v)| (k.clone(), Thunk::value(from_json(v))))
                .collect(),
        ),
    }
}

/// Binary operators on forced, known operands.
pub(crate) fn binop(
    ev: &Evaluator,
    op: BinOpKind,
    a: Value,
    c: Value,
    at: &Option<Loc>,
) -> R<Value> {
    let e = |m: String| EvalError::new(at.clone(), m);
    let num = |a: &Value| match a {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    Ok(match op {
        BinOpKind::Concat => match (a, c) {
            (Value::List(x), Value::List(y)) => {
                let mut v = (*x).clone();
                v.extend(y.iter().cloned());
                mk_list(v)
            }
            (x, y) => {
                return Err(e(format!(
                    "`++` needs two lists, got {} and {}",
                    x.type_name(),
                    y.type_name()
                )));
            }
        },
        BinOpKind::Update => match (a, c) {
            (Value::Attrs(x), Value::Attrs(y)) => {
                let mut m = (*x).clone();
                for (k, v) in y.iter() {
                    m.insert(k.clone(), v.clone());
                }
                Value::attrs(m)
            }
            (x, y) => {
                return Err(e(format!(
                    "`//` needs two sets, got {} and {}",
                    x.type_name(),
                    y.type_name()
                )));
            }
        },
        BinOpKind::Add => match (a, c) {
            (Value::Int(x), Value::Int(y)) => Value::Int(
                x.checked_add(y)
                    .ok_or_else(|| e("integer overflow".into()))?,
            ),
            (Value::Str(x), y) => {
                let ys = ev.coerce_to_string(&y, at.as_ref(), true)?;
                Value::str(&format!("{x}{ys}"))
            }
            (Value::Path(x), y) => {
                let ys = ev.coerce_to_string(&y, at.as_ref(), true)?;
                Value::Path(PathBuf::from(format!("{}{ys}", x.display())))
            }
            (x, y) => match (num(&x), num(&y)) {
                (Some(p), Some(q)) => Value::Float(p + q),
                _ => {
                    return Err(e(format!(
                        "cannot add {} and {}",
                        x.type_name(),
                        y.type_name()
                    )));
                }
            },
        },
        BinOpKind::Sub | BinOpKind::Mul | BinOpKind::Div => match (&a, &c) {
            (Value::Int(x), Value::Int(y)) => Value::Int(
                match op {
                    BinOpKind::Sub => x.checked_sub(*y),
                    BinOpKind::Mul => x.checked_mul(*y),
                    _ if *y == 0 => return Err(e("division by zero".into())),
                    _ => x.checked_div(*y),
                }
                .ok_or_else(|| e("integer overflow".into()))?,
            ),
            _ => match (num(&a), num(&c)) {
                (Some(p), Some(q)) => Value::Float(match op {
                    BinOpKind::Sub => p - q,
                    BinOpKind::Mul => p * q,
                    _ if q == 0.0 => return Err(e("division by zero".into())),
                    _ => p / q,
                }),
                _ => {
                    return Err(e(format!(
                        "arithmetic needs numbers, got {} and {}",
                        a.type_name(),
                        c.type_name()
                    )));
                }
            },
        },
        BinOpKind::Equal | BinOpKind::NotEqual => match ev.equal(&a, &c)? {
            Some(eq) => Value::Bool(eq == (op == BinOpKind::Equal)),
            None => unknown("a comparison with an unknown value"),
        },
        BinOpKind::Less | BinOpKind::LessOrEq | BinOpKind::More | BinOpKind::MoreOrEq => {
            let ord = match (&a, &c) {
                (Value::Str(x), Value::Str(y)) => x.cmp(y),
                _ => match (num(&a), num(&c)) {
                    (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
                    _ => {
                        return Err(e(format!(
                            "cannot compare {} with {}",
                            a.type_name(),
                            c.type_name()
                        )));
                    }
                },
            };
            use std::cmp::Ordering::*;
            Value::Bool(match op {
                BinOpKind::Less => ord == Less,
                BinOpKind::LessOrEq => ord != Greater,
                BinOpKind::More => ord == Greater,
                _ => ord != Less,
            })
        }
        BinOpKind::And
        | BinOpKind::Or
        | BinOpKind::Implication
        | BinOpKind::PipeLeft
        | BinOpKind::PipeRight => return Err(e("operator handled elsewhere".into())),
    })
}

/// The subset of nixpkgs' `lib` that disko configurations use.
pub(crate) fn lib() -> Value {
    let builtins = builtins_set();
    let mut m: BTreeMap<String, Thunk> = BTreeMap::new();
    // Straight from builtins.
    for name in [
        "all",
        "any",
        "attrNames",
        "attrValues",
        "catAttrs",
        "concatLists",
        "concatMap",
        "concatStringsSep",
        "elem",
        "elemAt",
        "filter",
        "foldl'",
        "genList",
        "getAttr",
        "hasAttr",
        "head",
        "tail",
        "intersectAttrs",
        "isAttrs",
        "isBool",
        "isFunction",
        "isInt",
        "isList",
        "isString",
        "length",
        "listToAttrs",
        "map",
        "mapAttrs",
        "removeAttrs",
        "replaceStrings",
        "sort",
        "stringLength",
        "substring",
        "toString",
        "typeOf",
        "partition",
        "zipAttrsWith",
        "functionArgs",
        "trace",
        "seq",
        "deepSeq",
    ] {
        if let Some(t) = builtins.get(name) {
            m.insert(name.to_string(), t.clone());
        }
    }
    let mut add = |name: &'static str, arity: usize, f: BuiltinFn| {
        m.insert(name.to_string(), Thunk::value(b(name, arity, f)));
    };
    // lib.modules
    add("mkIf", 2, |_, a, _| {
        Ok(typed(
            "if",
            vec![("condition", a[0].clone()), ("content", a[1].clone())],
        ))
    });
    add("mkMerge", 1, |_, a, _| {
        Ok(typed("merge", vec![("contents", a[0].clone())]))
    });
    add("mkOverride", 2, |_, a, _| {
        Ok(typed(
            "override",
            vec![("priority", a[0].clone()), ("content", a[1].clone())],
        ))
    });
    add("mkDefault", 1, |_, a, _| Ok(over(1000, &a[0])));
    add("mkForce", 1, |_, a, _| Ok(over(50, &a[0])));
    add("mkOptionDefault", 1, |_, a, _| Ok(over(1500, &a[0])));
    add("mkImageMediaOverride", 1, |_, a, _| Ok(over(60, &a[0])));
    add("mkVMOverride", 1, |_, a, _| Ok(over(10, &a[0])));
    add("mkOrder", 2, |_, a, _| {
        Ok(typed(
            "order",
            vec![("priority", a[0].clone()), ("content", a[1].clone())],
        ))
    });
    add("mkBefore", 1, |_, a, _| {
        Ok(typed(
            "order",
            vec![
                ("priority", Thunk::value(Value::Int(500))),
                ("content", a[0].clone()),
            ],
        ))
    });
    add("mkAfter", 1, |_, a, _| {
        Ok(typed(
            "order",
            vec![
                ("priority", Thunk::value(Value::Int(1500))),
                ("content", a[0].clone()),
            ],
        ))
    });
    for name in [
        "mkOption",
        "mkEnableOption",
        "mkPackageOption",
        "mkRemovedOptionModule",
        "mkRenamedOptionModule",
    ] {
        add(name, 1, |_, _, _| Ok(unknown("an option declaration")));
    }
    // lib.lists
    add("optional", 2, |ev, a, at| {
        Ok(mk_list(if cond(ev, &a[0], at, "optional")? {
            vec![a[1].clone()]
        } else {
            vec![]
        }))
    });
    add("optionals", 2, |ev, a, at| {
        if cond(ev, &a[0], at, "optionals")? {
            a[1].force(ev)
        } else {
            Ok(mk_list(vec![]))
        }
    });
    add("flatten", 1, |ev, a, at| {
        fn go(ev: &Evaluator, t: &Thunk, out: &mut Vec<Thunk>) -> R<()> {
            match t.force(ev)? {
                Value::List(l) => {
                    for x in l.iter() {
                        go(ev, x, out)?;
                    }
                }
                _ => out.push(t.clone()),
            }
            Ok(())
        }
        let _ = at;
        let mut out = Vec::new();
        go(ev, &a[0], &mut out)?;
        Ok(mk_list(out))
    });
    add("imap0", 2, |ev, a, at| imap(ev, a, at, 0));
    add("imap1", 2, |ev, a, at| imap(ev, a, at, 1));
    add("range", 2, |ev, a, at| {
        let x = get!(int(ev, &a[0], at, "range")?);
        let y = get!(int(ev, &a[1], at, "range")?);
        if y - x > 1_000_000 {
            return Err(err(at, "range: too long"));
        }
        Ok(mk_list(
            (x..=y).map(|i| Thunk::value(Value::Int(i))).collect(),
        ))
    });
    add("last", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "last")?);
        l.last()
            .ok_or_else(|| err(at, "last: the list is empty"))?
            .force(ev)
    });
    add("init", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "init")?);
        if l.is_empty() {
            return Err(err(at, "init: the list is empty"));
        }
        Ok(mk_list(l[..l.len() - 1].to_vec()))
    });
    add("take", 2, |ev, a, at| {
        let n = get!(int(ev, &a[0], at, "take")?).max(0) as usize;
        let l = get!(list(ev, &a[1], at, "take")?);
        Ok(mk_list(l.iter().take(n).cloned().collect()))
    });
    add("drop", 2, |ev, a, at| {
        let n = get!(int(ev, &a[0], at, "drop")?).max(0) as usize;
        let l = get!(list(ev, &a[1], at, "drop")?);
        Ok(mk_list(l.iter().skip(n).cloned().collect()))
    });
    add("reverseList", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "reverseList")?);
        Ok(mk_list(l.iter().rev().cloned().collect()))
    });
    add("singleton", 1, |_, a, _| Ok(mk_list(vec![a[0].clone()])));
    add("toList", 1, |ev, a, _| match a[0].force(ev)? {
        Value::List(l) => Ok(Value::List(l)),
        _ => Ok(mk_list(vec![a[0].clone()])),
    });
    add("unique", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "unique")?);
        let mut out: Vec<Thunk> = Vec::new();
        let mut seen: Vec<Value> = Vec::new();
        for x in l.iter() {
            let v = x.force(ev)?;
            let mut dup = false;
            for s in &seen {
                if ev.equal(s, &v)? == Some(true) {
                    dup = true;
                    break;
                }
            }
            if !dup {
                seen.push(v);
                out.push(x.clone());
            }
        }
        Ok(mk_list(out))
    });
    add("remove", 2, |ev, a, at| {
        let x = a[0].force(ev)?;
        let l = get!(list(ev, &a[1], at, "remove")?);
        let mut out = Vec::new();
        for y in l.iter() {
            if ev.equal(&x, &y.force(ev)?)? != Some(true) {
                out.push(y.clone());
            }
        }
        Ok(mk_list(out))
    });
    add("foldr", 3, |ev, a, at| {
        let l = get!(list(ev, &a[2], at, "foldr")?);
        let mut acc = a[1].clone();
        for x in l.iter().rev() {
            acc = Thunk::value(call2(ev, &a[0], x.clone(), acc, at)?);
        }
        acc.force(ev)
    });
    add("foldl", 3, |ev, a, at| {
        let l = get!(list(ev, &a[2], at, "foldl")?);
        let mut acc = a[1].clone();
        for x in l.iter() {
            acc = Thunk::value(call2(ev, &a[0], acc, x.clone(), at)?);
        }
        acc.force(ev)
    });
    add("forEach", 2, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "forEach")?);
        Ok(mk_list(
            l.iter()
                .map(|x| apply(&a[1], std::slice::from_ref(x), at))
                .collect(),
        ))
    });
    add("findFirst", 3, |ev, a, at| {
        let l = get!(list(ev, &a[2], at, "findFirst")?);
        for x in l.iter() {
            if matches!(call1(ev, &a[0], x.clone(), at)?, Value::Bool(true)) {
                return x.force(ev);
            }
        }
        a[1].force(ev)
    });
    add("count", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "count")?);
        let mut n = 0;
        for x in l.iter() {
            if matches!(call1(ev, &a[0], x.clone(), at)?, Value::Bool(true)) {
                n += 1;
            }
        }
        Ok(Value::Int(n))
    });
    add("zipListsWith", 3, |ev, a, at| {
        let x = get!(list(ev, &a[1], at, "zipListsWith")?);
        let y = get!(list(ev, &a[2], at, "zipListsWith")?);
        Ok(mk_list(
            x.iter()
                .zip(y.iter())
                .map(|(p, q)| apply(&a[0], &[p.clone(), q.clone()], at))
                .collect(),
        ))
    });
    // lib.attrsets
    add("optionalAttrs", 2, |ev, a, at| {
        if cond(ev, &a[0], at, "optionalAttrs")? {
            a[1].force(ev)
        } else {
            Ok(Value::attrs(BTreeMap::new()))
        }
    });
    add("genAttrs", 2, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "genAttrs")?);
        let mut m = BTreeMap::new();
        for x in l.iter() {
            let k = get!(string(ev, x, at, "genAttrs")?);
            m.insert(k, apply(&a[1], std::slice::from_ref(x), at));
        }
        Ok(Value::attrs(m))
    });
    add("nameValuePair", 2, |_, a, _| {
        let mut m = BTreeMap::new();
        m.insert("name".into(), a[0].clone());
        m.insert("value".into(), a[1].clone());
        Ok(Value::attrs(m))
    });
    add("mapAttrs'", 2, |ev, a, at| {
        let m = get!(attrs(ev, &a[1], at, "mapAttrs'")?);
        let mut out = BTreeMap::new();
        for (k, v) in m.iter() {
            let pair = call2(ev, &a[0], Thunk::value(Value::str(k)), v.clone(), at)?;
            let p = get!(attrs(ev, &Thunk::value(pair), at, "mapAttrs'")?);
            let name = match p.get("name") {
                Some(n) => get!(string(ev, n, at, "mapAttrs'")?),
                None => return Err(err(at, "mapAttrs': the function returned no `name`")),
            };
            let value = p
                .get("value")
                .ok_or_else(|| err(at, "mapAttrs': the function returned no `value`"))?;
            out.insert(name, value.clone());
        }
        Ok(Value::attrs(out))
    });
    add("mapAttrsToList", 2, |ev, a, at| {
        let m = get!(attrs(ev, &a[1], at, "mapAttrsToList")?);
        Ok(mk_list(
            m.iter()
                .map(|(k, v)| apply(&a[0], &[Thunk::value(Value::str(k)), v.clone()], at))
                .collect(),
        ))
    });
    add("attrsToList", 1, |ev, a, at| {
        let m = get!(attrs(ev, &a[0], at, "attrsToList")?);
        Ok(mk_list(
            m.iter()
                .map(|(k, v)| {
                    let mut p = BTreeMap::new();
                    p.insert("name".into(), Thunk::value(Value::str(k)));
                    p.insert("value".into(), v.clone());
                    Thunk::value(Value::attrs(p))
                })
                .collect(),
        ))
    });
    add("filterAttrs", 2, |ev, a, at| {
        let m = get!(attrs(ev, &a[1], at, "filterAttrs")?);
        let mut out = BTreeMap::new();
        for (k, v) in m.iter() {
            match call2(ev, &a[0], Thunk::value(Value::str(k)), v.clone(), at)? {
                Value::Bool(false) => {}
                Value::Unknown(u) => {
                    ev.warn(Some(at), format!("filterAttrs on {u}: `{k}` kept"));
                    out.insert(k.clone(), v.clone());
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(Value::attrs(out))
    });
    add("concatMapAttrs", 2, |ev, a, at| {
        let m = get!(attrs(ev, &a[1], at, "concatMapAttrs")?);
        let mut out = BTreeMap::new();
        for (k, v) in m.iter() {
            let r = call2(ev, &a[0], Thunk::value(Value::str(k)), v.clone(), at)?;
            for (k2, v2) in get!(attrs(ev, &Thunk::value(r), at, "concatMapAttrs")?).iter() {
                out.insert(k2.clone(), v2.clone());
            }
        }
        Ok(Value::attrs(out))
    });
    add("foldlAttrs", 3, |ev, a, at| {
        let m = get!(attrs(ev, &a[2], at, "foldlAttrs")?);
        let mut acc = a[1].clone();
        for (k, v) in m.iter() {
            let f1 = call2(ev, &a[0], acc, Thunk::value(Value::str(k)), at)?;
            acc = Thunk::value(ev.call(&f1, v.clone(), Some(at))?);
        }
        acc.force(ev)
    });
    add("recursiveUpdate", 2, |ev, a, at| {
        fn go(ev: &Evaluator, x: &Thunk, y: &Thunk) -> R<Value> {
            match (x.force(ev)?, y.force(ev)?) {
                (Value::Attrs(p), Value::Attrs(q)) => {
                    let mut m = (*p).clone();
                    for (k, v) in q.iter() {
                        let merged = match m.get(k) {
                            Some(old) => Thunk::value(go(ev, old, v)?),
                            None => v.clone(),
                        };
                        m.insert(k.clone(), merged);
                    }
                    Ok(Value::attrs(m))
                }
                (_, v) => Ok(v),
            }
        }
        let _ = at;
        go(ev, &a[0], &a[1])
    });
    add("attrByPath", 3, |ev, a, at| {
        let path = get!(list(ev, &a[0], at, "attrByPath")?);
        let mut cur = a[2].clone();
        for p in path.iter() {
            let k = get!(string(ev, p, at, "attrByPath")?);
            match cur.force(ev)? {
                Value::Attrs(m) => match m.get(&k) {
                    Some(t) => cur = t.clone(),
                    None => return a[1].force(ev),
                },
                Value::Unknown(u) => return Ok(Value::Unknown(u)),
                _ => return a[1].force(ev),
            }
        }
        cur.force(ev)
    });
    add("getAttrFromPath", 2, |ev, a, at| {
        let path = get!(list(ev, &a[0], at, "getAttrFromPath")?);
        let mut cur = a[1].clone();
        for p in path.iter() {
            let k = get!(string(ev, p, at, "getAttrFromPath")?);
            let m = get!(attrs(ev, &cur, at, "getAttrFromPath")?);
            cur = m
                .get(&k)
                .ok_or_else(|| err(at, format!("getAttrFromPath: `{k}` missing")))?
                .clone();
        }
        cur.force(ev)
    });
    add("hasAttrByPath", 2, |ev, a, at| {
        let path = get!(list(ev, &a[0], at, "hasAttrByPath")?);
        let mut cur = a[1].clone();
        for p in path.iter() {
            let k = get!(string(ev, p, at, "hasAttrByPath")?);
            match cur.force(ev)? {
                Value::Attrs(m) => match m.get(&k) {
                    Some(t) => cur = t.clone(),
                    None => return Ok(Value::Bool(false)),
                },
                Value::Unknown(u) => return Ok(Value::Unknown(u)),
                _ => return Ok(Value::Bool(false)),
            }
        }
        Ok(Value::Bool(true))
    });
    add("setAttrByPath", 2, |ev, a, at| {
        let path = get!(list(ev, &a[0], at, "setAttrByPath")?);
        let mut v = a[1].clone();
        for p in path.iter().rev() {
            let k = get!(string(ev, p, at, "setAttrByPath")?);
            let mut m = BTreeMap::new();
            m.insert(k, v);
            v = Thunk::value(Value::attrs(m));
        }
        v.force(ev)
    });
    add("isDerivation", 1, |ev, a, _| {
        Ok(Value::Bool(match a[0].force(ev)? {
            Value::Attrs(m) => m.contains_key("drvPath"),
            _ => false,
        }))
    });
    // lib.strings
    add("optionalString", 2, |ev, a, at| {
        if cond(ev, &a[0], at, "optionalString")? {
            a[1].force(ev)
        } else {
            Ok(Value::str(""))
        }
    });
    add("concatStrings", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "concatStrings")?);
        let mut s = String::new();
        for x in l.iter() {
            s.push_str(&ev.coerce_to_string(&x.force(ev)?, Some(at), true)?);
        }
        Ok(Value::str(&s))
    });
    add("concatMapStrings", 2, |ev, a, at| {
        let l = get!(list(ev, &a[1], at, "concatMapStrings")?);
        let mut s = String::new();
        for x in l.iter() {
            let v = call1(ev, &a[0], x.clone(), at)?;
            s.push_str(&ev.coerce_to_string(&v, Some(at), true)?);
        }
        Ok(Value::str(&s))
    });
    add("concatMapStringsSep", 3, |ev, a, at| {
        let sep = get!(string(ev, &a[0], at, "concatMapStringsSep")?);
        let l = get!(list(ev, &a[2], at, "concatMapStringsSep")?);
        let mut parts = Vec::new();
        for x in l.iter() {
            let v = call1(ev, &a[1], x.clone(), at)?;
            parts.push(ev.coerce_to_string(&v, Some(at), true)?);
        }
        Ok(Value::str(&parts.join(&sep)))
    });
    add("hasPrefix", 2, |ev, a, at| {
        let p = get!(string(ev, &a[0], at, "hasPrefix")?);
        let s = get!(string(ev, &a[1], at, "hasPrefix")?);
        Ok(Value::Bool(s.starts_with(&p)))
    });
    add("hasSuffix", 2, |ev, a, at| {
        let p = get!(string(ev, &a[0], at, "hasSuffix")?);
        let s = get!(string(ev, &a[1], at, "hasSuffix")?);
        Ok(Value::Bool(s.ends_with(&p)))
    });
    add("hasInfix", 2, |ev, a, at| {
        let p = get!(string(ev, &a[0], at, "hasInfix")?);
        let s = get!(string(ev, &a[1], at, "hasInfix")?);
        Ok(Value::Bool(s.contains(&p)))
    });
    add("removePrefix", 2, |ev, a, at| {
        let p = get!(string(ev, &a[0], at, "removePrefix")?);
        let s = get!(string(ev, &a[1], at, "removePrefix")?);
        Ok(Value::str(s.strip_prefix(&p).unwrap_or(&s)))
    });
    add("removeSuffix", 2, |ev, a, at| {
        let p = get!(string(ev, &a[0], at, "removeSuffix")?);
        let s = get!(string(ev, &a[1], at, "removeSuffix")?);
        Ok(Value::str(s.strip_suffix(&p).unwrap_or(&s)))
    });
    add("toLower", 1, |ev, a, at| {
        Ok(Value::str(
            &get!(string(ev, &a[0], at, "toLower")?).to_lowercase(),
        ))
    });
    add("toUpper", 1, |ev, a, at| {
        Ok(Value::str(
            &get!(string(ev, &a[0], at, "toUpper")?).to_uppercase(),
        ))
    });
    add("splitString", 2, |ev, a, at| {
        let sep = get!(string(ev, &a[0], at, "splitString")?);
        let s = get!(string(ev, &a[1], at, "splitString")?);
        if sep.is_empty() {
            return Err(err(at, "splitString: empty separator"));
        }
        Ok(mk_list(
            s.split(sep.as_str())
                .map(|p| Thunk::value(Value::str(p)))
                .collect(),
        ))
    });
    add("stringToCharacters", 1, |ev, a, at| {
        let s = get!(string(ev, &a[0], at, "stringToCharacters")?);
        Ok(mk_list(
            s.chars()
                .map(|c| Thunk::value(Value::str(&c.to_string())))
                .collect(),
        ))
    });
    add("escapeShellArg", 1, |ev, a, at| {
        let s = get!(string(ev, &a[0], at, "escapeShellArg")?);
        Ok(Value::str(&shell_quote(&s)))
    });
    add("escapeShellArgs", 1, |ev, a, at| {
        let l = get!(list(ev, &a[0], at, "escapeShellArgs")?);
        let mut parts = Vec::new();
        for x in l.iter() {
            parts.push(shell_quote(&get!(string(ev, x, at, "escapeShellArgs")?)));
        }
        Ok(Value::str(&parts.join(" ")))
    });
    add("toInt", 1, |ev, a, at| {
        let s = get!(string(ev, &a[0], at, "toInt")?);
        s.trim()
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| err(at, format!("toInt: `{s}` is not an integer")))
    });
    add("fileContents", 1, |ev, a, at| match a[0].force(ev)? {
        Value::Path(p) => std::fs::read_to_string(&p)
            .map(|s| Value::str(s.trim_end_matches('\n')))
            .map_err(|e| err(at, format!("fileContents {}: {e}", p.display()))),
        Value::Unknown(u) => Ok(Value::Unknown(u)),
        other => Err(err(
            at,
            format!("fileContents: expected a path, got {}", other.type_name()),
        )),
    });
    add("boolToString", 1, |ev, a, at| match a[0].force(ev)? {
        Value::Bool(b) => Ok(Value::str(if b { "true" } else { "false" })),
        Value::Unknown(u) => Ok(Value::Unknown(u)),
        other => Err(err(at, format!("boolToString: got {}", other.type_name()))),
    });
    // lib.trivial
    add("id", 1, |ev, a, _| a[0].force(ev));
    add("const", 2, |ev, a, _| a[0].force(ev));
    add("flip", 3, |ev, a, at| {
        call2(ev, &a[0], a[2].clone(), a[1].clone(), at)
    });
    add("pipe", 2, |ev, a, at| {
        let fs = get!(list(ev, &a[1], at, "pipe")?);
        let mut v = a[0].clone();
        for f in fs.iter() {
            v = Thunk::value(call1(ev, f, v, at)?);
        }
        v.force(ev)
    });
    add("warn", 2, |ev, a, _| a[1].force(ev));
    add("warnIf", 3, |ev, a, _| a[2].force(ev));
    add("throwIf", 3, |ev, a, at| {
        if matches!(a[0].force(ev)?, Value::Bool(true)) {
            let msg = ev.coerce_to_string(&a[1].force(ev)?, Some(at), false)?;
            return Err(err(at, format!("the configuration throws: {msg}")));
        }
        a[2].force(ev)
    });
    add("throwIfNot", 3, |ev, a, at| {
        if matches!(a[0].force(ev)?, Value::Bool(false)) {
            let msg = ev.coerce_to_string(&a[1].force(ev)?, Some(at), false)?;
            return Err(err(at, format!("the configuration throws: {msg}")));
        }
        a[2].force(ev)
    });
    add("min", 2, |ev, a, at| {
        let (x, y) = (a[0].force(ev)?, a[1].force(ev)?);
        let less = binop(ev, BinOpKind::Less, x.clone(), y.clone(), &Some(at.clone()))?;
        Ok(if matches!(less, Value::Bool(true)) {
            x
        } else {
            y
        })
    });
    add("max", 2, |ev, a, at| {
        let (x, y) = (a[0].force(ev)?, a[1].force(ev)?);
        let less = binop(ev, BinOpKind::Less, x.clone(), y.clone(), &Some(at.clone()))?;
        Ok(if matches!(less, Value::Bool(true)) {
            y
        } else {
            x
        })
    });
    add("mod", 2, |ev, a, at| {
        let x = get!(int(ev, &a[0], at, "mod")?);
        let y = get!(int(ev, &a[1], at, "mod")?);
        if y == 0 {
            return Err(err(at, "mod: division by zero"));
        }
        Ok(Value::Int(x % y))
    });
    m.insert("types".into(), Thunk::value(unknown("lib.types")));
    m.insert("options".into(), Thunk::value(unknown("lib.options")));
    let flat = Value::attrs(m.clone());
    // The namespaces people reach through (`lib.lists.optional`, `lib.attrsets.genAttrs`).
    for ns in [
        "lists", "attrsets", "strings", "trivial", "modules", "debug",
    ] {
        m.insert(ns.into(), Thunk::value(flat.clone()));
    }
    m.insert(
        "mkOptionType".into(),
        Thunk::value(b("mkOptionType", 1, |_, _, _| {
            Ok(unknown("an option type"))
        })),
    );
    Value::attrs(m)
}

fn over(prio: i64, t: &Thunk) -> Value {
    typed(
        "override",
        vec![
            ("priority", Thunk::value(Value::Int(prio))),
            ("content", t.clone()),
        ],
    )
}

fn imap(ev: &Evaluator, a: &[Thunk], at: &Loc, base: i64) -> R<Value> {
    let l = get!(list(ev, &a[1], at, "imap")?);
    Ok(mk_list(
        l.iter()
            .enumerate()
            .map(|(i, x)| {
                apply(
                    &a[0],
                    &[Thunk::value(Value::Int(i as i64 + base)), x.clone()],
                    at,
                )
            })
            .collect(),
    ))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
