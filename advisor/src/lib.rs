//! btrtune's recommender: the [`Layout`](layout::Layout) type every part of btrtune shares,
//! the tools database, the planner and the disko.nix generator.
//!
//! Everything here is pure: it reads files and returns values, and never needs root. The
//! harness (which builds layouts on real devices) depends on this crate, never the reverse.
//!
//! ```
//! use btrtune_advisor::{plan, profiles::ToolDb, toolstack::Toolstack};
//!
//! let db = ToolDb::bundled().unwrap();
//! let stack = Toolstack::from_tools("postgresql,firefox,nix").unwrap();
//! let plan = plan::plan(&stack, &db, None, Some("/dev/nvme0n1")).unwrap();
//! let nix = btrtune_advisor::disko::emit(&plan);
//! assert!(nix.contains("chattr +C"));
//! ```

#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

pub mod diagnose;
pub mod disko;
pub mod error;
pub mod explain;
pub mod hardware;
pub mod layout;
pub mod metrics;
pub mod model;
pub mod nixeval;
pub mod nixos;
pub mod plan;
pub mod profiles;
pub mod reason;
pub mod stats;
pub mod strategy;
pub mod toolstack;
pub mod validate;
pub mod verdict;

#[cfg(test)]
mod rng_for_tests;

pub use error::AdvisorError;

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::PathBuf;

    /// `../shared` beside the checkout (CI and development machines have it).
    pub fn shared_dir() -> PathBuf {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
        assert!(
            d.join("corpus").is_dir(),
            "tests need ../shared beside the checkout (looked in {})",
            d.display()
        );
        d
    }
}
