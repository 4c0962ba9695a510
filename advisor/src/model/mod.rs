//! Per-hardware-class models fitted from calibration results, and the projections `plan`
//! and `diagnose` make with them (`benchmark-method.md` §5).

pub mod against_example;
pub mod features;
pub mod fit;
pub mod ols;
pub mod priors;
pub mod project;
pub mod set;
pub mod validate;
