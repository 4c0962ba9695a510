//! Real PostgreSQL driven by real pgbench, in the directory under test: the check on the
//! synthetic WAL writer (benchmark-method.md §3.1).
//!
//! Per run, in the candidate subvolume `<dir>`:
//!
//! 1. `initdb --no-sync` into `<dir>/pgdata` (so the heap files and `pg_wal` both live on
//!    the layout under test), as the `postgres` account when btrtune is root
//!    ([`account`]);
//! 2. `postgres` on it with explicit settings ([`DEFAULT_SETTINGS`]), reachable only through
//!    a Unix socket in a private directory under /tmp ([`server`]); it is stopped on every
//!    path, including errors, panics and Ctrl-C;
//! 3. `pgbench -i -s SCALE`, an optional warm-up `pgbench -T`, then pgbench's own pre-run
//!    vacuum, a `CHECKPOINT` and a `syncfs`, so that each measured run starts from the
//!    same state ([`PREPARE`]);
//! 4. measured: `pgbench -n -c CLIENTS -j JOBS -T SECONDS --log` ([`client`]).
//!
//! The [`Measurement`](crate::Measurement): primary `tps` (pgbench's "without initial
//! connection time"), latency percentiles exact from the per-transaction logs
//! ([`output`]), CPU of pgbench (`RUSAGE_CHILDREN`) plus the server (`/proc`,
//! [`procstat`]), and in `extra`: `transactions`, `failed` (any is an error), `scale`,
//! `clients`, `jobs`, `wal_bytes` (`pg_current_wal_insert_lsn()` difference),
//! `wal_bytes_per_tx`, `wal_records`, `wal_fpi`, `wal_write`, `wal_sync`,
//! `wal_sync_per_tx` (below 1: group commit), `wal_sync_mean_us` (from `pg_stat_wal`),
//! `checkpoints` during the run, `tps_cv_pct` (per-second throughput from the logs),
//! `initdb_s`, `init_s`, `server_version_num`.
//!
//! ```
//! use btrtune_workloads::pgbench::{PgbenchConfig, PgbenchWorkload};
//! use btrtune_workloads::Workload;
//!
//! let w = PgbenchWorkload::mount("tpcb", "/data", PgbenchConfig::default()).unwrap();
//! assert_eq!(w.name(), "pgbench-tpcb");
//! assert_eq!(w.params()["clients"], 4);
//! ```

pub mod account;
pub mod binaries;
pub mod child;
pub mod client;
pub mod config;
pub mod output;
pub mod procstat;
pub(crate) mod run;
pub mod server;

pub use binaries::{INSTALL_HINT, PgBinaries};
pub use config::{BUILTINS, Builtin, DEFAULT_SETTINGS, PgbenchConfig, Sizes};
pub use output::{Summary, TxLine, TxLog, TxOutcome};
pub use run::{INIT_STEPS, INITDB_ARGS, PREPARE, PgbenchWorkload};
