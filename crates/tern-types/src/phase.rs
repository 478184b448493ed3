//! [`RunPhase`]: plan or apply. Tokens are minted per phase, so a trust policy can give the
//! plan phase a read-only role and the apply phase a read-write one.

use std::fmt;
use std::str::FromStr;

/// A phase that is not `plan` or `apply`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run phase {value:?} is not one of: plan, apply")]
pub struct PhaseError {
    /// What was given.
    pub value: String,
}

/// The phase of a run a token is minted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunPhase {
    /// `terraform plan`.
    Plan,
    /// `terraform apply`.
    Apply,
}

impl RunPhase {
    /// `plan` or `apply`, as in `sub` and `terraform_run_phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Apply => "apply",
        }
    }

    /// `PLAN` or `APPLY`, as in variable names such as `TFC_AWS_PLAN_ROLE_ARN`.
    pub fn as_upper(self) -> &'static str {
        match self {
            Self::Plan => "PLAN",
            Self::Apply => "APPLY",
        }
    }
}

impl FromStr for RunPhase {
    type Err = PhaseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "plan" => Ok(Self::Plan),
            "apply" => Ok(Self::Apply),
            _ => Err(PhaseError { value: s.to_owned() }),
        }
    }
}

impl fmt::Display for RunPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_cases() {
        assert_eq!("plan".parse::<RunPhase>(), Ok(RunPhase::Plan));
        assert_eq!("APPLY".parse::<RunPhase>(), Ok(RunPhase::Apply));
        assert!("destroy".parse::<RunPhase>().is_err());
        assert_eq!(RunPhase::Apply.as_upper(), "APPLY");
    }
}
