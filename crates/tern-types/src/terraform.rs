//! [`TerraformVersion`]: which Terraform (or OpenTofu) a workspace runs, as TFE's
//! `terraform-version` attribute names it — an exact version such as `1.11.4`, or `latest`.
//!
//! A workspace never names a program: the operator registers binaries with the runners, each
//! probed for its version, and a run uses the one whose version the workspace asks for. The
//! meaning of `latest` is defined once, here ([`TerraformVersion::latest_of`]), because the
//! store (which pins a run's version when a runner claims it) and the runner (which picks the
//! binary) must agree on it.

use std::fmt;
use std::str::FromStr;

pub use semver::Version;

/// A `terraform-version` that is neither `latest` nor an exact version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "terraform-version {value:?} is not an exact version such as \"1.11.4\" (or \"1.6.0-rc1\"), nor \"latest\"{hint}"
)]
pub struct TerraformVersionError {
    /// What was given.
    pub value: String,
    /// Why, when it can be said more precisely.
    hint: &'static str,
}

/// The longest version text accepted.
const MAX_LEN: usize = 64;

/// The Terraform version a workspace asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TerraformVersion {
    /// The highest version the runner has (released versions first; see
    /// [`TerraformVersion::latest_of`]).
    Latest,
    /// Exactly this version.
    Exact(Version),
}

impl TerraformVersion {
    /// Parse `latest` or an exact semantic version (`1.11.4`, `1.6.0-alpha20230719`).
    /// Constraints (`~> 1.5`, `>= 1.0`), partial versions (`1.5`) and a leading `v` are refused.
    pub fn parse(value: &str) -> Result<Self, TerraformVersionError> {
        let refuse = |hint| Err(TerraformVersionError { value: value.to_owned(), hint });
        if value == "latest" {
            return Ok(Self::Latest);
        }
        if value.is_empty() || value.len() > MAX_LEN {
            return refuse("");
        }
        if value.starts_with(['~', '>', '<', '=', '!', '^']) {
            return refuse(": version constraints are not supported, name the exact version");
        }
        if value.starts_with(['v', 'V']) {
            return refuse(": leave out the leading \"v\"");
        }
        match Version::parse(value) {
            Ok(v) => Ok(Self::Exact(v)),
            Err(_)
                if value.split('.').count() < 3 && value.chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                refuse(": give all three numbers, e.g. \"1.11.4\"")
            }
            Err(_) => refuse(""),
        }
    }

    /// Whether this is `latest`.
    pub fn is_latest(&self) -> bool {
        matches!(self, Self::Latest)
    }

    /// The version `latest` means among `versions`: the highest released version (no
    /// pre-release part), or, when there is none, the highest pre-release.
    pub fn latest_of<'a>(versions: impl IntoIterator<Item = &'a Version>) -> Option<&'a Version> {
        let mut best_release: Option<&Version> = None;
        let mut best_any: Option<&Version> = None;
        for v in versions {
            if v.pre.is_empty() && best_release.is_none_or(|b| v > b) {
                best_release = Some(v);
            }
            if best_any.is_none_or(|b| v > b) {
                best_any = Some(v);
            }
        }
        best_release.or(best_any)
    }

    /// The version of `versions` this asks for: the exact one if present, or `latest`'s.
    pub fn pick<'a>(&self, versions: impl IntoIterator<Item = &'a Version>) -> Option<&'a Version> {
        match self {
            Self::Latest => Self::latest_of(versions),
            Self::Exact(want) => versions.into_iter().find(|v| *v == want),
        }
    }
}

impl Default for TerraformVersion {
    /// `latest`, as TFE's default.
    fn default() -> Self {
        Self::Latest
    }
}

impl FromStr for TerraformVersion {
    type Err = TerraformVersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TerraformVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => f.write_str("latest"),
            Self::Exact(v) => v.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn accepts_latest_and_exact_versions() {
        for (text, want) in [
            ("latest", TerraformVersion::Latest),
            ("1.11.4", TerraformVersion::Exact(v("1.11.4"))),
            ("1.0.3", TerraformVersion::Exact(v("1.0.3"))),
            ("1.6.0-alpha20230719", TerraformVersion::Exact(v("1.6.0-alpha20230719"))),
            ("1.0.3-slow", TerraformVersion::Exact(v("1.0.3-slow"))),
        ] {
            assert_eq!(TerraformVersion::parse(text).unwrap(), want, "{text}");
            assert_eq!(TerraformVersion::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn refuses_programs_constraints_and_partial_versions() {
        for (text, hint) in [
            ("", ""),
            ("/bin/sh", ""),
            ("terraform", ""),
            ("Latest", ""),
            ("~> 1.5", "constraints are not supported"),
            (">= 1.0.0", "constraints are not supported"),
            ("v1.2.3", "leading \"v\""),
            ("1.5", "all three numbers"),
            ("1", "all three numbers"),
            ("1.2.3.4", ""),
            ("1.2.3 ", ""),
            ("1.2.3\n", ""),
        ] {
            let err = TerraformVersion::parse(text).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("not an exact version"), "{text:?}: {message}");
            assert!(message.contains(hint), "{text:?}: {message}");
        }
        assert!(TerraformVersion::parse(&"1".repeat(65)).is_err());
    }

    #[test]
    fn latest_is_the_highest_release_then_the_highest_prerelease() {
        let set = [v("1.0.3"), v("1.11.4"), v("1.9.8"), v("1.12.0-beta1")];
        assert_eq!(TerraformVersion::latest_of(&set), Some(&v("1.11.4")), "semver order, not text order");
        let pre = [v("1.0.3-slow"), v("1.6.0-rc1")];
        assert_eq!(TerraformVersion::latest_of(&pre), Some(&v("1.6.0-rc1")));
        assert_eq!(TerraformVersion::latest_of(&[]), None);
        assert_eq!(TerraformVersion::parse("1.9.8").unwrap().pick(&set), Some(&v("1.9.8")));
        assert_eq!(TerraformVersion::parse("1.9.9").unwrap().pick(&set), None);
        assert_eq!(TerraformVersion::Latest.pick(&set), Some(&v("1.11.4")));
    }
}
