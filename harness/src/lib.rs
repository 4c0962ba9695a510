//! btrtune's calibration harness: builds a [`Layout`](btrtune_advisor::layout::Layout) as a
//! real btrfs filesystem on a loop device (or a spare device the user names and confirms),
//! runs workloads in its subvolumes, and records the results.
//!
//! Everything it creates is held by a guard and released on success, error, panic and
//! Ctrl-C; a state file lets `btrtune cleanup` remove what a killed run left behind.

#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

pub mod build;
pub mod compare;
pub mod crosscheck;
pub mod error;
pub mod safety;
pub mod state;
pub mod sys;

pub use error::HarnessError;
pub mod env;
pub mod matrix;
pub mod record;
pub mod run;
