//! Values of the evaluator: lazily evaluated (thunks), and the plain data they become.

use rnix::ast;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;

/// A place in a source file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Loc {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A source file being evaluated.
#[derive(Debug)]
pub(crate) struct FileCtx {
    /// Its path on disk (for relative paths and imports), if any.
    pub path: Option<PathBuf>,
    /// How errors name it.
    pub name: String,
    /// Its text (for line and column).
    pub text: Rc<str>,
}

impl FileCtx {
    pub fn loc(&self, offset: usize) -> Loc {
        let (line, column) = crate::error::line_col(&self.text, offset);
        Loc {
            file: self.name.clone(),
            line,
            column,
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.path
            .as_ref()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// A scope: variables bound here, or an attribute set brought in by `with`.
#[derive(Debug)]
pub(crate) struct Scope {
    pub vars: RefCell<BTreeMap<String, Thunk>>,
    pub with: Option<Thunk>,
    pub parent: Option<Env>,
}

/// A chain of scopes.
pub(crate) type Env = Rc<Scope>;

/// A function written in Nix.
#[derive(Debug)]
pub(crate) struct Lambda {
    pub node: ast::Lambda,
    pub env: Env,
    pub file: Rc<FileCtx>,
}

/// A built-in function, possibly partly applied.
#[derive(Clone)]
pub(crate) struct Builtin {
    pub name: &'static str,
    pub arity: usize,
    pub f: BuiltinFn,
    pub args: Vec<Thunk>,
}

pub(crate) type BuiltinFn =
    fn(&super::Evaluator, &[Thunk], &Loc) -> Result<Value, super::EvalError>;

impl fmt::Debug for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<builtin {} {}/{}>",
            self.name,
            self.args.len(),
            self.arity
        )
    }
}

/// An evaluated value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Path(PathBuf),
    List(Rc<Vec<Thunk>>),
    Attrs(Rc<BTreeMap<String, Thunk>>),
    Lambda(Rc<Lambda>),
    Builtin(Rc<Builtin>),
    /// Something that cannot be known statically (`config.x`, `pkgs.y`): its description.
    Unknown(Rc<str>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a Boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Path(_) => "a path",
            Value::List(_) => "a list",
            Value::Attrs(_) => "a set",
            Value::Lambda(_) | Value::Builtin(_) => "a function",
            Value::Unknown(_) => "an unknown value",
        }
    }

    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    pub fn attrs(m: BTreeMap<String, Thunk>) -> Value {
        Value::Attrs(Rc::new(m))
    }
}

#[derive(Debug)]
enum State {
    Pending {
        expr: ast::Expr,
        env: Env,
        file: Rc<FileCtx>,
    },
    /// A built-in applied to all its arguments, run when forced.
    Deferred(Rc<Builtin>),
    Running,
    Done(Value),
}

/// A lazily evaluated value.
#[derive(Clone, Debug)]
pub(crate) struct Thunk(Rc<RefCell<State>>, Option<Rc<Loc>>);

impl Thunk {
    pub fn pending(expr: ast::Expr, env: Env, file: Rc<FileCtx>) -> Thunk {
        use rowan::ast::AstNode;
        let offset: usize = expr.syntax().text_range().start().into();
        let loc = file.loc(offset);
        Thunk(
            Rc::new(RefCell::new(State::Pending { expr, env, file })),
            Some(Rc::new(loc)),
        )
    }

    /// A saturated built-in call, run when forced.
    pub fn deferred(b: Rc<Builtin>, loc: Loc) -> Thunk {
        Thunk(
            Rc::new(RefCell::new(State::Deferred(b))),
            Some(Rc::new(loc)),
        )
    }

    pub fn value(v: Value) -> Thunk {
        Thunk(Rc::new(RefCell::new(State::Done(v))), None)
    }

    pub fn value_at(v: Value, loc: Option<Rc<Loc>>) -> Thunk {
        Thunk(Rc::new(RefCell::new(State::Done(v))), loc)
    }

    /// Where its expression is written, if it comes from source.
    pub fn loc(&self) -> Option<&Loc> {
        self.1.as_deref()
    }

    pub fn loc_rc(&self) -> Option<Rc<Loc>> {
        self.1.clone()
    }

    /// Forces the thunk.
    pub fn force(&self, ev: &super::Evaluator) -> Result<Value, super::EvalError> {
        let taken = {
            let mut st = self.0.borrow_mut();
            match &*st {
                State::Done(v) => return Ok(v.clone()),
                State::Running => {
                    return Err(super::EvalError::new(
                        self.loc().cloned(),
                        "infinite recursion: this value depends on itself",
                    ));
                }
                State::Pending { .. } | State::Deferred(_) => {
                    std::mem::replace(&mut *st, State::Running)
                }
            }
        };
        let (expr, env, file) = match taken {
            State::Pending { expr, env, file } => (expr, env, file),
            State::Deferred(b) => {
                let loc = self.loc().cloned().unwrap_or(Loc {
                    file: "(builtin)".into(),
                    line: 0,
                    column: 0,
                });
                let r = (b.f)(ev, &b.args, &loc);
                *self.0.borrow_mut() = match &r {
                    Ok(v) => State::Done(v.clone()),
                    Err(_) => State::Deferred(b),
                };
                return r;
            }
            State::Running | State::Done(_) => unreachable!("handled above"),
        };
        match ev.eval(&expr, &env, &file) {
            Ok(v) => {
                *self.0.borrow_mut() = State::Done(v.clone());
                Ok(v)
            }
            Err(e) => {
                // Leave it re-evaluable (the error is reported once anyway).
                *self.0.borrow_mut() = State::Pending { expr, env, file };
                Err(e)
            }
        }
    }
}

/// Plain data: a fully evaluated value with module-system wrappers resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Data {
    /// `null`.
    Null,
    /// A Boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (paths become strings too).
    Str(String),
    /// A list.
    List(Vec<Node>),
    /// An attribute set.
    Attrs(BTreeMap<String, Node>),
    /// A function (not data; an error where data is needed).
    Function(String),
    /// A value that cannot be known statically, described.
    Unknown(String),
}

/// A datum and where it is written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// The value.
    #[serde(flatten)]
    pub data: Data,
    /// Where it is defined (none when it comes from `nix-instantiate` JSON).
    #[serde(skip)]
    pub at: Option<Loc>,
    /// Module-system priority (`mkDefault` 1000, plain 100, `mkForce` 50).
    #[serde(skip)]
    pub priority: i64,
}

impl Node {
    /// A datum with no location and the plain priority.
    pub fn new(data: Data) -> Node {
        Node {
            data,
            at: None,
            priority: 100,
        }
    }

    /// The attribute `key` of a set.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.data {
            Data::Attrs(m) => m.get(key),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.data {
            Data::Str(s) => Some(s),
            _ => None,
        }
    }

    /// What kind of datum this is, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.data {
            Data::Null => "null",
            Data::Bool(_) => "a Boolean",
            Data::Int(_) => "an integer",
            Data::Float(_) => "a float",
            Data::Str(_) => "a string",
            Data::List(_) => "a list",
            Data::Attrs(_) => "a set",
            Data::Function(_) => "a function",
            Data::Unknown(_) => "an unknown value",
        }
    }

    /// Builds a node tree from JSON (what `nix-instantiate --eval --json` prints).
    pub fn from_json(v: &serde_json::Value) -> Node {
        Node::new(match v {
            serde_json::Value::Null => Data::Null,
            serde_json::Value::Bool(b) => Data::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Data::Int(i),
                None => Data::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Data::Str(s.clone()),
            serde_json::Value::Array(a) => Data::List(a.iter().map(Node::from_json).collect()),
            serde_json::Value::Object(m) => Data::Attrs(
                m.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v)))
                    .collect(),
            ),
        })
    }
}
