//! Measured strategies for databases and containers (profiles/strategies/*.toml): which
//! layout, engine settings, snapshot and backup plan, and migration, by engine or workload,
//! priority and hardware class. The plan, diagnose and `btrtune explain` read them.

pub mod containers;
pub mod db;
pub mod measured;
