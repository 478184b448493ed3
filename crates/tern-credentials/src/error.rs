//! Everything that can be wrong with a workspace's dynamic credentials variables. Each message
//! names the variables involved and says what to do; all problems are reported at once.

use std::fmt;

use tern_types::RunPhase;

use crate::platform::Platform;
use crate::tag::{Tag, TagError};

/// One configuration of a platform: the default one or an alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigRef {
    /// The platform.
    pub platform: Platform,
    /// `None` for the default configuration.
    pub tag: Option<Tag>,
}

impl fmt::Display for ConfigRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            None => write!(f, "{} (default configuration)", self.platform),
            Some(t) => write!(f, "{} (configuration {t})", self.platform),
        }
    }
}

/// A problem with the variables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A switch that is neither true nor false.
    #[error(
        "{variable}={value:?}: set it to true to switch {platform} dynamic credentials on, or false (or remove it) to keep them off"
    )]
    InvalidSwitch {
        /// The variable.
        variable: String,
        /// Its value.
        value: String,
        /// The platform.
        platform: Platform,
    },
    /// `TFC_DEFAULT_<P>_PROVIDER_AUTH`.
    #[error(
        "{variable} does not exist: configurations are switched on one by one, with {} or {}",
        .platform.enable_variable(None), .platform.enable_variable(Some("<TAG>"))
    )]
    DefaultSwitch {
        /// The variable.
        variable: String,
        /// The platform.
        platform: Platform,
    },
    /// An invalid tag.
    #[error("{variable}: {error}")]
    BadTag {
        /// The variable.
        variable: String,
        /// Why the tag is invalid.
        error: TagError,
    },
    /// A `TFC_<P>_…` name that is not a variable of the platform.
    #[error("{variable} is not a {platform} dynamic credentials variable{}", did_you_mean(.suggestion))]
    UnknownVariable {
        /// The variable.
        variable: String,
        /// The platform.
        platform: Platform,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// Variables of an alias whose switch does not exist.
    #[error(
        "{} configure{} {config}, but {switch} is not set: set {switch}=true, or fix the tag",
        .variables.join(", "), if .variables.len() == 1 { "s" } else { "" }
    )]
    TagWithoutSwitch {
        /// The variables.
        variables: Vec<String>,
        /// The configuration they name.
        config: ConfigRef,
        /// Its switch.
        switch: String,
    },
    /// A required value that no variable provides.
    #[error("{config} needs {what}{}: set {}", phase_text(.phase), .candidates.join(" or "))]
    Missing {
        /// The configuration.
        config: ConfigRef,
        /// What is missing, e.g. "a role ARN".
        what: &'static str,
        /// The phase it is missing for (phased variables).
        phase: Option<RunPhase>,
        /// Variables that would provide it, most specific first.
        candidates: Vec<String>,
    },
    /// A phase-specific value with no value for the other phase.
    #[error(
        "{config}: {set} is set, but the {missing} phase has no {what}; set {} (a run's plan and apply must both be able to authenticate)",
        .candidates.join(" or ")
    )]
    PhaseWithoutFallback {
        /// The configuration.
        config: ConfigRef,
        /// What is missing.
        what: &'static str,
        /// The phase-specific variable that is set.
        set: String,
        /// The phase without a value.
        missing: RunPhase,
        /// Variables that would provide it.
        candidates: Vec<String>,
    },
    /// A value that does not validate.
    #[error("{variable}{} {reason}", shown(.value))]
    InvalidValue {
        /// The variable.
        variable: String,
        /// Its value, unless the variable is sensitive.
        value: Option<String>,
        /// What is wrong and what to write.
        reason: String,
    },
    /// A problem between several variables of one configuration.
    #[error("{config}: {reason}")]
    Invalid {
        /// The configuration.
        config: ConfigRef,
        /// What is wrong and what to do.
        reason: String,
    },
    /// HCP Terraform and Terrakube names for one platform.
    #[error(
        "{platform} is configured with both HCP Terraform variables ({}) and Terrakube variables ({}); keep one set",
        .tfc.join(", "), .terrakube.join(", ")
    )]
    MixedNames {
        /// The platform.
        platform: Platform,
        /// The HCP Terraform names.
        tfc: Vec<String>,
        /// The Terrakube names.
        terrakube: Vec<String>,
    },
    /// A Terrakube switch whose value is not `true`.
    #[error(
        "{variable}={value:?}: Terrakube switches {platform} dynamic credentials on whenever this variable exists, whatever its value; tern needs true, so set it to true or remove it"
    )]
    TerrakubeSwitch {
        /// The variable.
        variable: String,
        /// Its value.
        value: String,
        /// The platform.
        platform: Platform,
    },
    /// A workspace variable that contradicts dynamic credentials.
    #[error(
        "{variable} is set in the workspace, but {config} provides {platform_name} credentials: {reason}"
    )]
    Conflict {
        /// The variable.
        variable: String,
        /// The configuration it conflicts with.
        config: ConfigRef,
        /// The platform's name.
        platform_name: &'static str,
        /// Why it conflicts and what to do.
        reason: &'static str,
    },
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_default()
}

fn phase_text(p: &Option<RunPhase>) -> String {
    p.map(|p| format!(" for the {p} phase")).unwrap_or_default()
}

fn shown(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("={v:?}"),
        None => " (sensitive)".to_owned(),
    }
}

/// All problems found; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} problem{} with the dynamic credentials variables", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
