//! Names and identifiers of organizations, projects, workspaces and runs.
//!
//! These values end up inside a token's `sub`, where `:` separates segments. A name that could
//! contain `:` would let a workspace called `prod:run_phase:apply` forge another subject, so the
//! alphabet is closed here, once, for every crate (see docs/threat-model.md, "subject injection").

use std::fmt;
use std::str::FromStr;

/// Which kind of name failed to parse; used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// An organization name.
    Organization,
    /// A project name.
    Project,
    /// A workspace name.
    Workspace,
    /// A run identifier.
    Run,
    /// A resource identifier (organization, project or workspace id).
    ResourceId,
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            Self::Organization => "organization name",
            Self::Project => "project name",
            Self::Workspace => "workspace name",
            Self::Run => "run id",
            Self::ResourceId => "resource id",
        }
    }

    fn alphabet(self) -> &'static str {
        match self {
            Self::Organization | Self::Workspace => "letters, digits, '-' and '_'",
            Self::Project => "letters, digits, spaces, '-' and '_'",
            Self::Run | Self::ResourceId => "letters, digits, '-', '_' and '.'",
        }
    }

    fn max_len(self) -> usize {
        match self {
            Self::Organization | Self::Workspace | Self::Project => 90,
            Self::Run | Self::ResourceId => 128,
        }
    }

    fn allows(self, c: char) -> bool {
        let common = c.is_ascii_alphanumeric() || c == '-' || c == '_';
        match self {
            Self::Organization | Self::Workspace => common,
            Self::Project => common || c == ' ',
            Self::Run | Self::ResourceId => common || c == '.',
        }
    }
}

/// A name or identifier that does not follow its rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The value is empty.
    #[error("{} must not be empty", .kind.noun())]
    Empty {
        /// What was being parsed.
        kind: NameKind,
    },
    /// The value is longer than allowed.
    #[error("{} is {len} characters long; at most {max} are allowed", .kind.noun())]
    TooLong {
        /// What was being parsed.
        kind: NameKind,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value holds a character outside its alphabet.
    #[error("{} {value:?} contains {ch:?} at position {position}; use {}", .kind.noun(), .kind.alphabet())]
    BadCharacter {
        /// What was being parsed.
        kind: NameKind,
        /// The rejected value.
        value: String,
        /// The first offending character.
        ch: char,
        /// Its position (0-based, in characters).
        position: usize,
    },
    /// A project name starts or ends with a space.
    #[error("{} {value:?} starts or ends with a space", .kind.noun())]
    OuterSpace {
        /// What was being parsed.
        kind: NameKind,
        /// The rejected value.
        value: String,
    },
}

fn check(kind: NameKind, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { kind });
    }
    let len = value.chars().count();
    if len > kind.max_len() {
        return Err(NameError::TooLong { kind, len, max: kind.max_len() });
    }
    if let Some((position, ch)) = value.chars().enumerate().find(|(_, c)| !kind.allows(*c)) {
        return Err(NameError::BadCharacter { kind, value: value.to_owned(), ch, position });
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(NameError::OuterSpace { kind, value: value.to_owned() });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parse and validate.
            pub fn parse(value: &str) -> Result<Self, NameError> {
                check($kind, value)?;
                Ok(Self(value.to_owned()))
            }

            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// An organization name: letters, digits, `-` and `_`, at most 90 characters.
    OrganizationName,
    NameKind::Organization
);
name_type!(
    /// A project name: letters, digits, spaces, `-` and `_`, at most 90 characters.
    /// HCP Terraform's default project is `Default Project`, with its space.
    ProjectName,
    NameKind::Project
);
name_type!(
    /// A workspace name: letters, digits, `-` and `_`, at most 90 characters.
    WorkspaceName,
    NameKind::Workspace
);
name_type!(
    /// A run identifier such as `run-CZcmD7eagjhyX0vN`.
    RunId,
    NameKind::Run
);
name_type!(
    /// An organization, project or workspace identifier such as `ws-mbsd5E3Ktt5Rg2Xm` or a UUID.
    ResourceId,
    NameKind::ResourceId
);

impl ProjectName {
    /// HCP Terraform's default project, `Default Project`.
    pub fn default_project() -> Self {
        Self("Default Project".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        // (kind, input, ok)
        let cases: &[(NameKind, &str, bool)] = &[
            (NameKind::Organization, "acme", true),
            (NameKind::Organization, "acme-corp_2", true),
            (NameKind::Organization, "", false),
            (NameKind::Organization, "acme:corp", false),
            (NameKind::Organization, "acme corp", false),
            (NameKind::Workspace, "prod", true),
            (NameKind::Workspace, "prod:run_phase:apply", false),
            (NameKind::Workspace, "prod/x", false),
            (NameKind::Workspace, "pröd", false),
            (NameKind::Project, "Default Project", true),
            (NameKind::Project, " Default", false),
            (NameKind::Project, "Default ", false),
            (NameKind::Project, "a:b", false),
            (NameKind::Run, "run-CZcmD7eagjhyX0vN", true),
            (NameKind::Run, "42", true),
            (NameKind::Run, "run 1", false),
            (NameKind::ResourceId, "03446895-220d-47e1-9564-4eeaa3691b42", true),
            (NameKind::ResourceId, "ws-1.2", true),
        ];
        for (kind, input, ok) in cases {
            assert_eq!(check(*kind, input).is_ok(), *ok, "{kind:?} {input:?}");
        }
    }

    #[test]
    fn length_limits() {
        let long = "a".repeat(91);
        assert!(matches!(WorkspaceName::parse(&long), Err(NameError::TooLong { len: 91, max: 90, .. })));
        assert!(WorkspaceName::parse(&"a".repeat(90)).is_ok());
    }

    #[test]
    fn errors_name_the_problem() {
        let err = WorkspaceName::parse("prod:run_phase:apply").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "workspace name \"prod:run_phase:apply\" contains ':' at position 4; use letters, digits, '-' and '_'"
            )
        );
    }
}
