//! `btrtune diagnose`: bottlenecks with evidence, ranked recommendations and before/after
//! projections.
//!
//! The pipeline is one way: [`Inputs`] → [`Host`] (every input parsed, texts kept for
//! evidence, one view of where data lives) → [`rules`] (named checks with stable ids, each
//! finding with severity, confidence, evidence lines and sources) → [`recommend`] (concrete
//! changes as edits of the current [`Layout`](crate::layout::Layout), with disruption class,
//! risk and the models' projections) → [`render`] (terminal, Markdown, JSON, disko.nix diff,
//! NixOS snippet, dry-run script). Nothing here mounts or runs anything.
//!
//! ```
//! use btrtune_advisor::diagnose::{self, Inputs};
//! use btrtune_advisor::metrics::observe::Symptom;
//! use btrtune_advisor::model::set::ModelSet;
//!
//! let inputs = Inputs { symptoms: vec![Symptom::SlowDbWrites], ..Inputs::default() };
//! let d = diagnose::run(&inputs, &ModelSet::shipped().unwrap()).unwrap();
//! // Nothing but a symptom: the diagnosis says what it could not look at.
//! assert!(d.missing.iter().any(|m| m.contains("facter")));
//! assert!(d.findings.iter().any(|f| f.rule == "W05"));
//! ```

pub mod evidence;
pub mod host;
pub mod recommend;
pub mod render;
pub mod rules;

pub use evidence::Evidence;
pub use host::{Host, Inputs};
pub use recommend::{Disruption, Edit, Projected, Recommendation, Risk, shell_quote};
pub use rules::{Finding, RULES, Rule, Severity};

use crate::error::AdvisorError;
use crate::hardware::DeviceClass;
use crate::model::set::ModelSet;
use serde::Serialize;

/// Version of the JSON a diagnosis is printed as.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole diagnosis.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    /// Format version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The device class the hardware rules and projections used.
    pub class: DeviceClass,
    /// How the class was decided.
    pub class_basis: String,
    /// The inputs read.
    pub inputs: Vec<String>,
    /// What is missing and what that costs.
    pub missing: Vec<String>,
    /// What the disko parser warned about.
    pub disko_warnings: Vec<String>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Recommendations, best impact against disruption first.
    pub recommendations: Vec<Recommendation>,
    /// Every layout recommendation applied at once, projected by the models (effects
    /// combine in the model, they are not summed).
    pub combined: Vec<Projected>,
    /// The current layout as disko.nix (btrtune's rendering), when there is one.
    #[serde(skip)]
    pub current_disko: Option<String>,
    /// The layout with every recommendation applied, as disko.nix.
    #[serde(skip)]
    pub proposed_disko: Option<String>,
    /// The NixOS snippet for the system-level recommendations.
    #[serde(skip)]
    pub nixos_snippet: Option<String>,
}

/// Diagnoses a host from its inputs.
pub fn run(inputs: &Inputs, models: &ModelSet) -> Result<Diagnosis, AdvisorError> {
    let host = Host::load(inputs)?;
    Ok(diagnose_host(&host, models))
}

/// Diagnoses a loaded host.
pub fn diagnose_host(host: &Host, models: &ModelSet) -> Diagnosis {
    let mut findings = rules::check_all(host);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.rule.cmp(b.rule))
    });
    let plan = recommend::recommend(host, &findings, models);
    Diagnosis {
        schema_version: SCHEMA_VERSION,
        class: host.class,
        class_basis: host.class_basis.clone(),
        inputs: host.texts.names(),
        missing: host.missing.clone(),
        disko_warnings: host.declared_warnings.clone(),
        findings,
        recommendations: plan.recommendations,
        combined: plan.combined,
        current_disko: plan.current_disko,
        proposed_disko: plan.proposed_disko,
        nixos_snippet: plan.nixos_snippet,
    }
}
