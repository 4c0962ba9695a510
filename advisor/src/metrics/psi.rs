//! Pressure stall information, `/proc/pressure/io` (the same format serves `cpu` and
//! `memory`):
//!
//! ```text
//! some avg10=0.47 avg60=0.39 avg300=0.31 total=8070552
//! full avg10=0.41 avg60=0.28 avg300=0.24 total=7093793
//! ```
//!
//! `some`: the share of time at least one task was stalled on I/O; `full`: the share of
//! time all non-idle tasks were stalled at once.

use super::text::{err, integer, number, numbered, shown, tokens};
use crate::error::AdvisorError;
use serde::{Deserialize, Serialize};

/// A parsed pressure file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    /// The `some` line.
    pub some: PressureLine,
    /// The `full` line (absent for `/proc/pressure/cpu` on kernels before 5.13).
    pub full: Option<PressureLine>,
}

/// One `some`/`full` line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PressureLine {
    /// Percent of the last 10 s stalled.
    pub avg10: f64,
    /// Percent of the last 60 s stalled.
    pub avg60: f64,
    /// Percent of the last 300 s stalled.
    pub avg300: f64,
    /// Total stall time since boot, in microseconds.
    pub total_us: u64,
}

/// Parses `/proc/pressure/io`.
pub fn parse(text: &str, origin: &str) -> Result<Pressure, AdvisorError> {
    let mut some = None;
    let mut full = None;
    for (no, line) in numbered(text) {
        let toks = tokens(line);
        let Some(first) = toks.first() else { continue };
        let slot = match first.s {
            "some" => &mut some,
            "full" => &mut full,
            other => {
                return Err(err(
                    origin,
                    no,
                    super::text::column(line, first.at),
                    format!(
                        "expected `some avg10=… avg60=… avg300=… total=…` or `full …`, found `{}`",
                        shown(other)
                    ),
                ));
            }
        };
        if slot.is_some() {
            return Err(err(origin, no, 1, format!("a second `{}` line", first.s)));
        }
        let mut vals = [None; 3];
        let mut total = None;
        for t in &toks[1..] {
            let col = super::text::column(line, t.at);
            let Some((k, v)) = t.s.split_once('=') else {
                return Err(err(
                    origin,
                    no,
                    col,
                    format!("expected `key=value`, found `{}`", shown(t.s)),
                ));
            };
            let bad = || {
                err(
                    origin,
                    no,
                    col,
                    format!("`{k}`: expected a number, found `{}`", shown(v)),
                )
            };
            match k {
                "avg10" | "avg60" | "avg300" => {
                    let i = ["avg10", "avg60", "avg300"]
                        .iter()
                        .position(|x| *x == k)
                        .unwrap_or(0);
                    vals[i] = Some(number(v).filter(|x| *x >= 0.0).ok_or_else(bad)?);
                }
                "total" => total = Some(integer(v).ok_or_else(bad)?),
                _ => {
                    return Err(err(
                        origin,
                        no,
                        col,
                        format!(
                            "unknown key `{}`: expected avg10, avg60, avg300, total",
                            shown(k)
                        ),
                    ));
                }
            }
        }
        let [Some(avg10), Some(avg60), Some(avg300)] = vals else {
            return Err(err(
                origin,
                no,
                0,
                "expected all of avg10=, avg60=, avg300= and total=".into(),
            ));
        };
        let Some(total_us) = total else {
            return Err(err(
                origin,
                no,
                0,
                "expected all of avg10=, avg60=, avg300= and total=".into(),
            ));
        };
        *slot = Some(PressureLine {
            avg10,
            avg60,
            avg300,
            total_us,
        });
    }
    let Some(some) = some else {
        return Err(err(
            origin,
            0,
            0,
            "no `some` line: expected the contents of /proc/pressure/io".into(),
        ));
    };
    Ok(Pressure { some, full })
}
