//! The operator's Terraform CLI configuration (`.terraformrc`), given to every phase: its
//! provider mirrors and plugin cache must be visible in the phase's sandbox, so the file is read
//! (with an HCL parser, `hcl-rs`) for the paths it names.

use std::path::{Path, PathBuf};

/// Why the CLI configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CliConfigError {
    /// Reading the file.
    #[error("Terraform CLI configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Parsing it.
    #[error("Terraform CLI configuration {path} is not valid HCL: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A path in it that a phase could not be shown.
    #[error(
        "Terraform CLI configuration {path}: {what} {value:?} must be an absolute path that exists (phases see it at the same place, read-only)"
    )]
    Path {
        /// The file.
        path: PathBuf,
        /// The setting.
        what: &'static str,
        /// Its value.
        value: String,
    },
}

/// A CLI configuration file and what phases must see of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliConfig {
    /// The file (`TF_CLI_CONFIG_FILE` in every phase).
    pub file: PathBuf,
    /// Provider mirrors and development overrides: read-only in every phase.
    pub read_only: Vec<PathBuf>,
    /// The plugin cache (`plugin_cache_dir`): read-write in every phase, shared by all.
    pub read_write: Vec<PathBuf>,
    /// Whether it holds `credentials` blocks (registry tokens every phase can then read).
    pub has_credentials: bool,
}

fn string(expr: &hcl::Expression) -> Option<String> {
    match expr {
        hcl::Expression::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl CliConfig {
    /// Read `file` and the paths it names.
    pub fn load(file: &Path) -> Result<Self, CliConfigError> {
        let text = std::fs::read_to_string(file)
            .map_err(|source| CliConfigError::Read { path: file.to_path_buf(), source })?;
        Self::parse(file, &text)
    }

    /// [`CliConfig::load`] of text already read.
    pub fn parse(file: &Path, text: &str) -> Result<Self, CliConfigError> {
        let body = hcl::parse(text)
            .map_err(|e| CliConfigError::Parse { path: file.to_path_buf(), message: e.to_string() })?;
        let mut config = CliConfig {
            file: file.to_path_buf(),
            read_only: Vec::new(),
            read_write: Vec::new(),
            has_credentials: false,
        };
        let checked = |what: &'static str, value: String| -> Result<PathBuf, CliConfigError> {
            let path = PathBuf::from(&value);
            if path.is_absolute() && path.exists() {
                Ok(path)
            } else {
                Err(CliConfigError::Path { path: file.to_path_buf(), what, value })
            }
        };
        for attr in body.attributes() {
            if attr.key() == "plugin_cache_dir"
                && let Some(dir) = string(attr.expr())
            {
                config.read_write.push(checked("plugin_cache_dir", dir)?);
            }
        }
        for block in body.blocks() {
            match block.identifier() {
                "credentials" => config.has_credentials = true,
                "provider_installation" => {
                    for method in block.body().blocks() {
                        match method.identifier() {
                            "filesystem_mirror" => {
                                for attr in method.body().attributes().filter(|a| a.key() == "path") {
                                    if let Some(dir) = string(attr.expr()) {
                                        config.read_only.push(checked("filesystem_mirror path", dir)?);
                                    }
                                }
                            }
                            "dev_overrides" => {
                                for attr in method.body().attributes() {
                                    if let Some(dir) = string(attr.expr()) {
                                        config.read_only.push(checked("dev_overrides path", dir)?);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_cache_and_credentials_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let (mirror, cache) = (dir.path().join("mirror"), dir.path().join("cache"));
        std::fs::create_dir(&mirror).unwrap();
        std::fs::create_dir(&cache).unwrap();
        let file = dir.path().join("terraform.rc");
        let text = format!(
            "plugin_cache_dir = \"{}\"\ncredentials \"app.terraform.io\" {{\n  token = \"x\"\n}}\nprovider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n    include = [\"registry.terraform.io/*/*\"]\n  }}\n  direct {{\n    exclude = [\"registry.terraform.io/*/*\"]\n  }}\n}}\n",
            cache.display(),
            mirror.display()
        );
        let config = CliConfig::parse(&file, &text).unwrap();
        assert_eq!(config.read_only, vec![mirror]);
        assert_eq!(config.read_write, vec![cache]);
        assert!(config.has_credentials);
    }

    #[test]
    fn a_relative_or_missing_path_and_bad_hcl_say_what_is_wrong() {
        let file = Path::new("/etc/terraform.rc");
        let err = CliConfig::parse(
            file,
            "provider_installation {\n  filesystem_mirror {\n    path = \"mirror\"\n  }\n}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("filesystem_mirror path \"mirror\" must be an absolute path"), "{err}");
        let err = CliConfig::parse(file, "provider_installation {").unwrap_err().to_string();
        assert!(err.contains("is not valid HCL"), "{err}");
    }
}
