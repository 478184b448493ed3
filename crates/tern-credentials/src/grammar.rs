//! The grammar of HCP Terraform's dynamic credentials variable names (SPEC §4):
//!
//! - `TFC_<P>_PROVIDER_AUTH` / `TFC_<P>_PROVIDER_AUTH_<TAG>` switch a configuration on
//!   (`TFC_VAULT_BACKED_<X>_AUTH[_<TAG>]` for the Vault-backed platforms);
//! - every other variable `X` is spelled `TFC_<P>_X`, `TFC_<P>_X_<TAG>` or `TFC_DEFAULT_<P>_X`,
//!   and phased variables have `RUN_`, `PLAN_` and `APPLY_` forms;
//! - `TFC_WORKLOAD_IDENTITY_AUDIENCE[_<TAG>]` asks for a generic token.
//!
//! [`parse`] turns one name into what it configures; it never looks at values.

use crate::platform::{Form, Platform, VarSpec};
use crate::tag::{Tag, TagError};

/// Which phase form of a phased variable a name uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhaseForm {
    /// `RUN_<X>`: both phases.
    Run,
    /// `PLAN_<X>`.
    Plan,
    /// `APPLY_<X>`.
    Apply,
}

impl PhaseForm {
    /// `RUN`, `PLAN` or `APPLY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "RUN",
            Self::Plan => "PLAN",
            Self::Apply => "APPLY",
        }
    }
}

/// What a variable name means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// `TFC_<P>_PROVIDER_AUTH[_<TAG>]`.
    Switch {
        /// The platform.
        platform: Platform,
        /// `None` for the default configuration.
        tag: Option<Tag>,
    },
    /// A configuration variable.
    Variable {
        /// The platform.
        platform: Platform,
        /// Which variable.
        spec: VarSpec,
        /// Its phase form, for phased variables.
        phase: Option<PhaseForm>,
        /// `None` for the default configuration or a `TFC_DEFAULT_` spelling.
        tag: Option<Tag>,
        /// Spelled `TFC_DEFAULT_<P>_X`.
        default_prefix: bool,
    },
    /// `TFC_WORKLOAD_IDENTITY_AUDIENCE[_<TAG>]`.
    Generic {
        /// `None` for the untagged one.
        tag: Option<Tag>,
    },
    /// `TFC_DEFAULT_<P>_PROVIDER_AUTH`, which does not exist.
    DefaultSwitch {
        /// The platform.
        platform: Platform,
    },
    /// Starts like a platform's variable but is none of them.
    Unknown {
        /// The platform whose prefix it has.
        platform: Platform,
        /// The closest known name, if one is close.
        suggestion: Option<String>,
    },
    /// A tag that is not valid.
    BadTag {
        /// The platform.
        platform: Platform,
        /// Why.
        error: TagError,
    },
    /// Not a dynamic credentials variable (other `TFC_*` run variables included).
    NotOurs,
}

const GENERIC: &str = "TFC_WORKLOAD_IDENTITY_AUDIENCE";

/// Platforms with the longest key first, so `VAULT_BACKED_AWS` wins over `VAULT`.
fn platforms_longest_first() -> [Platform; 8] {
    let mut all = Platform::ALL;
    all.sort_by_key(|p| std::cmp::Reverse(p.key().len()));
    all
}

/// Every spelling of the platform's variables without tag, longest first:
/// (`RUN_ROLE_ARN`, spec, Some(Run)), …
fn forms(platform: Platform) -> Vec<(String, VarSpec, Option<PhaseForm>)> {
    let mut out = Vec::new();
    for spec in platform.variables() {
        match spec.form {
            Form::Plain => out.push((spec.name.to_owned(), *spec, None)),
            Form::Phased => {
                for phase in [PhaseForm::Run, PhaseForm::Plan, PhaseForm::Apply] {
                    out.push((format!("{}_{}", phase.as_str(), spec.name), *spec, Some(phase)));
                }
            }
        }
    }
    out.sort_by_key(|(form, _, _)| std::cmp::Reverse(form.len()));
    out
}

fn tagged(platform: Platform, rest: &str) -> Result<Option<Tag>, Name> {
    if rest.is_empty() {
        return Ok(None);
    }
    Tag::parse(rest).map(Some).map_err(|error| Name::BadTag { platform, error })
}

/// What `name` configures.
pub fn parse(name: &str) -> Name {
    if name == GENERIC {
        return Name::Generic { tag: None };
    }
    if let Some(tag) = name.strip_prefix(GENERIC).and_then(|r| r.strip_prefix('_')) {
        return match Tag::parse(tag) {
            Ok(tag) => Name::Generic { tag: Some(tag) },
            Err(error) => Name::BadTag { platform: Platform::Aws, error },
        };
    }
    let (default_prefix, after) = match name.strip_prefix("TFC_DEFAULT_") {
        Some(after) => (true, after),
        None => match name.strip_prefix("TFC_") {
            Some(after) => (false, after),
            None => return Name::NotOurs,
        },
    };
    let Some((platform, rest)) = platforms_longest_first()
        .into_iter()
        .find_map(|p| after.strip_prefix(p.key()).and_then(|r| r.strip_prefix('_')).map(|r| (p, r)))
    else {
        return Name::NotOurs;
    };

    // One longest match over the switch and every variable spelling: `AUTH_TYPE_X` is the
    // variable AUTH_TYPE of alias X, `AUTH_X` the switch of alias X (this is why HCP Terraform
    // reserves the tag TYPE).
    let enable = platform.enable_name();
    /// A spelling and the variable it names (`None`: the switch).
    type Spelling = (String, Option<(VarSpec, Option<PhaseForm>)>);
    let mut spellings: Vec<Spelling> =
        forms(platform).into_iter().map(|(f, spec, phase)| (f, Some((spec, phase)))).collect();
    spellings.push((enable.to_owned(), None));
    spellings.sort_by_key(|(form, _)| std::cmp::Reverse(form.len()));
    for (form, var) in spellings {
        let tag_part = if rest == form {
            Some("")
        } else {
            rest.strip_prefix(form.as_str()).and_then(|r| r.strip_prefix('_'))
        };
        let Some(tag_part) = tag_part else { continue };
        if default_prefix && !tag_part.is_empty() {
            continue; // TFC_DEFAULT_ spellings take no tag
        }
        let tag = match tagged(platform, tag_part) {
            Ok(tag) => tag,
            Err(bad) => return bad,
        };
        return match var {
            None if default_prefix => Name::DefaultSwitch { platform },
            None => Name::Switch { platform, tag },
            Some((spec, phase)) => Name::Variable { platform, spec, phase, tag, default_prefix },
        };
    }
    Name::Unknown { platform, suggestion: suggest(platform, rest, default_prefix) }
}

/// The known spelling closest to `rest` (edit distance at most 3), as a full variable name.
fn suggest(platform: Platform, rest: &str, default_prefix: bool) -> Option<String> {
    let prefix = if default_prefix { "TFC_DEFAULT_" } else { "TFC_" };
    let mut candidates: Vec<String> = forms(platform).into_iter().map(|(f, _, _)| f).collect();
    if !default_prefix {
        candidates.push(platform.enable_name().to_owned());
    }
    candidates
        .into_iter()
        .map(|c| (edit_distance(rest, &c), c))
        .filter(|(d, c)| *d <= 3 || (rest.len() >= 4 && c.starts_with(rest)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("{prefix}{}_{c}", platform.key()))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The spelling of variable `spec` (in phase form `phase`) for the configuration `tag`.
pub fn spelling(
    platform: Platform,
    spec: &VarSpec,
    phase: Option<PhaseForm>,
    tag: Option<&Tag>,
    default_prefix: bool,
) -> String {
    let base = match phase {
        Some(p) => format!("{}_{}", p.as_str(), spec.name),
        None => spec.name.to_owned(),
    };
    match (default_prefix, tag) {
        (true, _) => format!("TFC_DEFAULT_{}_{base}", platform.key()),
        (false, Some(t)) => format!("TFC_{}_{base}_{t}", platform.key()),
        (false, None) => format!("TFC_{}_{base}", platform.key()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(
        platform: Platform,
        name: &'static str,
        phase: Option<PhaseForm>,
        tag: Option<&str>,
        default_prefix: bool,
    ) -> Name {
        let spec = *platform.variables().iter().find(|s| s.name == name).unwrap();
        Name::Variable { platform, spec, phase, tag: tag.map(|t| Tag::parse(t).unwrap()), default_prefix }
    }

    #[test]
    fn grammar_table() {
        use PhaseForm::*;
        use Platform::*;
        let t = |s: &str| Some(Tag::parse(s).unwrap());
        let cases: Vec<(&str, Name)> = vec![
            ("TFC_AWS_PROVIDER_AUTH", Name::Switch { platform: Aws, tag: None }),
            ("TFC_AWS_PROVIDER_AUTH_PROD", Name::Switch { platform: Aws, tag: t("PROD") }),
            ("TFC_AWS_PROVIDER_AUTH_my_alias_2", Name::Switch { platform: Aws, tag: t("my_alias_2") }),
            ("TFC_VAULT_BACKED_AWS_AUTH", Name::Switch { platform: VaultBackedAws, tag: None }),
            ("TFC_VAULT_BACKED_GCP_AUTH_X", Name::Switch { platform: VaultBackedGcp, tag: t("X") }),
            ("TFC_VAULT_PROVIDER_AUTH", Name::Switch { platform: Vault, tag: None }),
            ("TFC_AWS_RUN_ROLE_ARN", var(Aws, "ROLE_ARN", Some(Run), None, false)),
            ("TFC_AWS_PLAN_ROLE_ARN", var(Aws, "ROLE_ARN", Some(Plan), None, false)),
            ("TFC_AWS_APPLY_ROLE_ARN_PROD", var(Aws, "ROLE_ARN", Some(Apply), Some("PROD"), false)),
            ("TFC_DEFAULT_AWS_RUN_ROLE_ARN", var(Aws, "ROLE_ARN", Some(Run), None, true)),
            ("TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE", var(Aws, "WORKLOAD_IDENTITY_AUDIENCE", None, None, false)),
            (
                "TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE_A_B",
                var(Aws, "WORKLOAD_IDENTITY_AUDIENCE", None, Some("A_B"), false),
            ),
            ("TFC_GCP_WORKLOAD_PROVIDER_NAME", var(Gcp, "WORKLOAD_PROVIDER_NAME", None, None, false)),
            (
                "TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL_X",
                var(Gcp, "SERVICE_ACCOUNT_EMAIL", Some(Run), Some("X"), false),
            ),
            ("TFC_VAULT_ADDR", var(Vault, "ADDR", None, None, false)),
            ("TFC_VAULT_RUN_ROLE_SECONDARY", var(Vault, "ROLE", Some(Run), Some("SECONDARY"), false)),
            (
                "TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE",
                var(VaultBackedAws, "VAULT_ROLE", Some(Run), None, false),
            ),
            ("TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN", var(VaultBackedAws, "ROLE_ARN", Some(Run), None, false)),
            (
                "TFC_VAULT_BACKED_GCP_PLAN_VAULT_STATIC_ACCOUNT",
                var(VaultBackedGcp, "VAULT_STATIC_ACCOUNT", Some(Plan), None, false),
            ),
            (
                "TFC_VAULT_BACKED_AZURE_SLEEP_SECONDS",
                var(VaultBackedAzure, "SLEEP_SECONDS", None, None, false),
            ),
            ("TFC_WORKLOAD_IDENTITY_AUDIENCE", Name::Generic { tag: None }),
            ("TFC_WORKLOAD_IDENTITY_AUDIENCE_CUSTOM", Name::Generic { tag: t("CUSTOM") }),
            ("TFC_DEFAULT_AWS_PROVIDER_AUTH", Name::DefaultSwitch { platform: Aws }),
            ("TFC_AWS_PROVIDER_AUTH_TYPE", Name::BadTag { platform: Aws, error: TagError::Reserved }),
            (
                "TFC_AWS_RUN_ROLE_ARM",
                Name::Unknown { platform: Aws, suggestion: Some("TFC_AWS_RUN_ROLE_ARN".into()) },
            ),
            (
                "TFC_AWS_RUN_ROLE",
                Name::Unknown { platform: Aws, suggestion: Some("TFC_AWS_RUN_ROLE_ARN".into()) },
            ),
            (
                "TFC_DEFAULT_AWS_RUN_ROLE_ARN_X",
                Name::Unknown { platform: Aws, suggestion: Some("TFC_DEFAULT_AWS_RUN_ROLE_ARN".into()) },
            ),
            ("TFC_RUN_ID", Name::NotOurs),
            ("TFC_WORKSPACE_NAME", Name::NotOurs),
            ("AWS_ROLE_ARN", Name::NotOurs),
            ("tfc_aws_provider_auth", Name::NotOurs),
        ];
        for (name, expected) in cases {
            assert_eq!(parse(name), expected, "{name}");
        }
    }

    #[test]
    fn spellings_round_trip() {
        for platform in Platform::ALL {
            for spec in platform.variables() {
                let phases: Vec<Option<PhaseForm>> = match spec.form {
                    Form::Plain => vec![None],
                    Form::Phased => vec![Some(PhaseForm::Run), Some(PhaseForm::Plan), Some(PhaseForm::Apply)],
                };
                for phase in phases {
                    for (tag, default_prefix) in
                        [(None, false), (Some(Tag::parse("T_1").unwrap()), false), (None, true)]
                    {
                        let name = spelling(platform, spec, phase, tag.as_ref(), default_prefix);
                        assert_eq!(
                            parse(&name),
                            Name::Variable { platform, spec: *spec, phase, tag: tag.clone(), default_prefix },
                            "{name}"
                        );
                    }
                }
            }
        }
    }
}
