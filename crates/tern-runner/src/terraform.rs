//! The Terraform and OpenTofu binaries a runner has: registered by the operator
//! (`--terraform PATH`, `--tools-dir DIR`) or, with neither, found on `PATH` (`terraform`, then
//! `tofu`) so that a first start needs no setting. Each is probed once at start with
//! `<path> version -json`; a workspace then chooses one by version (`terraform-version`), never
//! by path. [`TerraformSet::versions`] is what the runner advertises when it claims work, so the
//! server only hands it jobs it can run.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tern_types::{TerraformVersion, Version};

/// How long a binary gets to answer `version -json`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Terraform or OpenTofu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// HashiCorp Terraform.
    Terraform,
    /// OpenTofu.
    OpenTofu,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Terraform => "Terraform",
            Self::OpenTofu => "OpenTofu",
        })
    }
}

/// One probed binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerraformBinary {
    /// Where it is (as registered or found, not canonicalised).
    pub path: PathBuf,
    /// What `version -json` said.
    pub version: Version,
    /// Terraform or OpenTofu (from its name or its `version -json` keys).
    pub flavor: Flavor,
}

impl TerraformBinary {
    /// Its file name, for log lines (`$ terraform plan …`).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// Where the operator said binaries are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerraformSources {
    /// `--terraform PATH` (repeatable) or `TERN_TERRAFORM` (`:`-separated).
    pub paths: Vec<PathBuf>,
    /// `--tools-dir DIR`: every executable file in it named `terraform*` or `tofu*`.
    pub tools_dir: Option<PathBuf>,
}

impl TerraformSources {
    /// Whether the operator named nothing (then `PATH` is searched).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.tools_dir.is_none()
    }
}

/// Why the binaries could not be set up. Each names the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    /// It could not be started.
    #[error("Terraform binary {path}: cannot run it")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It did not answer in time.
    #[error("Terraform binary {path}: `version -json` did not answer within {} s", .timeout.as_secs_f32())]
    Timeout {
        /// The binary.
        path: PathBuf,
        /// How long it had.
        timeout: Duration,
    },
    /// It failed.
    #[error("Terraform binary {path}: `version -json` failed ({status}): {stderr}")]
    Failed {
        /// The binary.
        path: PathBuf,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The start of what it printed on stderr.
        stderr: String,
    },
    /// It answered something that is not Terraform's `version -json`.
    #[error(
        "Terraform binary {path}: `version -json` printed no terraform_version ({detail}); is it Terraform or OpenTofu, 0.13 or later?"
    )]
    NotTerraform {
        /// The binary.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The tools directory cannot be read.
    #[error("--tools-dir {dir}: cannot read it")]
    ToolsDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The tools directory holds nothing to run.
    #[error("--tools-dir {dir} holds no executable file named terraform* or tofu*")]
    EmptyToolsDir {
        /// The directory.
        dir: PathBuf,
    },
}

/// The binaries a runner has, highest version first.
#[derive(Debug, Clone, Default)]
pub struct TerraformSet {
    binaries: Vec<TerraformBinary>,
}

impl TerraformSet {
    /// Probe what `sources` name or, when they name nothing, the first of `terraform` and
    /// `tofu` found on `path_var`. Two binaries of the same version: the first is kept (flags
    /// before the tools directory, which is read in name order) and the other is logged.
    /// Finding nothing on `PATH` is not an error here (an empty set: the caller decides).
    pub async fn discover(
        sources: &TerraformSources,
        path_var: &OsStr,
        timeout: Duration,
    ) -> Result<Self, TerraformError> {
        let mut candidates = sources.paths.clone();
        if let Some(dir) = &sources.tools_dir {
            let found = tools_in(dir)?;
            if found.is_empty() {
                return Err(TerraformError::EmptyToolsDir { dir: dir.clone() });
            }
            candidates.extend(found);
        }
        if sources.is_empty() {
            candidates.extend(["terraform", "tofu"].iter().find_map(|name| find_on_path(name, path_var)));
        }
        let mut set = Self::default();
        for given in candidates {
            // A bare name is looked up on PATH; errors name the path as the operator gave it.
            let path = match given.to_str() {
                Some(name) if !name.contains('/') => find_on_path(name, path_var).unwrap_or(given),
                _ => given,
            };
            let mut binary = probe(&path, path_var, timeout).await?;
            // Terraform runs in the job's directory: a relative path would name another file.
            binary.path = std::path::absolute(&path).unwrap_or(path);
            match set.binaries.iter().find(|b| b.version == binary.version) {
                Some(kept) => tracing::warn!(
                    "{} and {} both report version {}: using {}",
                    kept.path.display(),
                    binary.path.display(),
                    binary.version,
                    kept.path.display()
                ),
                None => set.binaries.push(binary),
            }
        }
        set.binaries.sort_by(|a, b| b.version.cmp(&a.version));
        Ok(set)
    }

    /// A set of already probed binaries (tests, tools that probed themselves).
    pub fn from_binaries(mut binaries: Vec<TerraformBinary>) -> Self {
        binaries.sort_by(|a, b| b.version.cmp(&a.version));
        binaries.dedup_by(|a, b| a.version == b.version);
        Self { binaries }
    }

    /// Where its binaries are (what a sandbox must let a phase read).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.binaries.iter().map(|b| b.path.clone()).collect()
    }

    /// The exact versions it has, highest first: what the runner advertises when it claims.
    pub fn versions(&self) -> Vec<Version> {
        self.binaries.iter().map(|b| b.version.clone()).collect()
    }

    /// Whether it has nothing to run.
    pub fn is_empty(&self) -> bool {
        self.binaries.is_empty()
    }

    /// The binary for `requested`: that exact version, or for `latest` the highest release
    /// (the rule the server pins runs with).
    pub fn select(&self, requested: &TerraformVersion) -> Option<&TerraformBinary> {
        let version = requested.pick(self.binaries.iter().map(|b| &b.version))?;
        self.binaries.iter().find(|b| &b.version == version)
    }

    /// One line for the log: `1.11.4 (Terraform, /usr/bin/terraform), …`.
    pub fn describe(&self) -> String {
        if self.binaries.is_empty() {
            return "none".to_owned();
        }
        self.binaries
            .iter()
            .map(|b| format!("{} ({}, {})", b.version, b.flavor, b.path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The first executable file `name` in the directories of `path_var`.
fn find_on_path(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var).map(|dir| dir.join(name)).find(|p| is_executable_file(p))
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The executable files of `dir` named `terraform*` or `tofu*`, by name.
fn tools_in(dir: &Path) -> Result<Vec<PathBuf>, TerraformError> {
    let entries =
        std::fs::read_dir(dir).map_err(|source| TerraformError::ToolsDir { dir: dir.to_owned(), source })?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("terraform") || name.starts_with("tofu")
        })
        .map(|e| e.path())
        .filter(|p| is_executable_file(p))
        .collect();
    found.sort();
    Ok(found)
}

/// Run `<path> version -json` (no environment but `PATH`, update checks off) and read it.
pub async fn probe(
    path: &Path,
    path_var: &OsStr,
    timeout: Duration,
) -> Result<TerraformBinary, TerraformError> {
    let mut command = tokio::process::Command::new(path);
    command
        .args(["version", "-json"])
        .env_clear()
        .env("PATH", path_var)
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(timeout, command.output()).await {
        Err(_) => return Err(TerraformError::Timeout { path: path.to_owned(), timeout }),
        Ok(Err(source)) => return Err(TerraformError::Spawn { path: path.to_owned(), source }),
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        let stderr: String = String::from_utf8_lossy(&output.stderr).chars().take(300).collect();
        return Err(TerraformError::Failed {
            path: path.to_owned(),
            status: output.status,
            stderr: stderr.trim().to_owned(),
        });
    }
    parse_version_json(path, &output.stdout)
}

fn parse_version_json(path: &Path, stdout: &[u8]) -> Result<TerraformBinary, TerraformError> {
    let not = |detail: String| TerraformError::NotTerraform { path: path.to_owned(), detail };
    let value: serde_json::Value =
        serde_json::from_slice(stdout).map_err(|e| not(format!("not JSON: {e}")))?;
    let text = value
        .get("terraform_version")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| not("no terraform_version key".into()))?;
    let version = Version::parse(text).map_err(|e| not(format!("{text:?} is not a version: {e}")))?;
    let named_tofu = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("tofu"));
    let says_tofu = value.as_object().is_some_and(|o| o.keys().any(|k| k.starts_with("tofu")));
    let flavor = if named_tofu || says_tofu { Flavor::OpenTofu } else { Flavor::Terraform };
    Ok(TerraformBinary { path: path.to_owned(), version, flavor })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::ffi::OsString;

    use super::*;

    /// Tests that write a script and then run it take turns: a file still open for writing in
    /// a child another test thread is forking cannot be executed (ETXTBSY).
    static SCRIPTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// A fake binary answering `version -json` with `json` (and nothing else).
    fn fake(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn answering(dir: &Path, name: &str, version: &str) -> PathBuf {
        fake(
            dir,
            name,
            &format!(
                "[ \"$1 $2\" = \"version -json\" ] || exit 3\necho '{{\"terraform_version\":\"{version}\",\"platform\":\"linux_amd64\"}}'"
            ),
        )
    }

    fn path_of(dirs: &[&Path]) -> OsString {
        std::env::join_paths(dirs.iter().copied().chain([Path::new("/usr/bin"), Path::new("/bin")])).unwrap()
    }

    fn exact(v: &str) -> TerraformVersion {
        TerraformVersion::parse(v).unwrap()
    }

    #[tokio::test]
    async fn registered_versions_are_selected_exactly_and_latest_is_the_highest() {
        let _turn = SCRIPTS.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let old = answering(dir.path(), "terraform-1.9", "1.9.0");
        let new = answering(dir.path(), "tf-new", "1.11.4");
        let sources = TerraformSources { paths: vec![old.clone(), new.clone()], tools_dir: None };
        let set = TerraformSet::discover(&sources, &path_of(&[]), PROBE_TIMEOUT).await.unwrap();
        assert_eq!(set.versions(), vec![Version::new(1, 11, 4), Version::new(1, 9, 0)], "semver order");
        assert_eq!(set.select(&exact("1.9.0")).unwrap().path, old);
        assert_eq!(set.select(&exact("1.11.4")).unwrap().path, new);
        assert_eq!(set.select(&TerraformVersion::Latest).unwrap().path, new, "1.11 > 1.9");
        assert!(set.select(&exact("1.0.3")).is_none());
        assert!(set.describe().starts_with("1.11.4 (Terraform, "), "{}", set.describe());
    }

    #[tokio::test]
    async fn a_tools_directory_gives_its_terraform_and_tofu_executables() {
        let _turn = SCRIPTS.lock().await;
        let dir = tempfile::tempdir().unwrap();
        answering(dir.path(), "terraform-1.0.3", "1.0.3");
        let tofu = answering(dir.path(), "tofu-1.8.0", "1.8.0");
        answering(dir.path(), "helper", "9.9.9");
        std::fs::write(dir.path().join("terraform-notes.txt"), "not executable").unwrap();
        let sources = TerraformSources { paths: Vec::new(), tools_dir: Some(dir.path().to_owned()) };
        let set = TerraformSet::discover(&sources, &path_of(&[]), PROBE_TIMEOUT).await.unwrap();
        assert_eq!(set.versions(), vec![Version::new(1, 8, 0), Version::new(1, 0, 3)]);
        let picked = set.select(&TerraformVersion::Latest).unwrap();
        assert_eq!((picked.path.clone(), picked.flavor), (tofu, Flavor::OpenTofu));
        let empty = tempfile::tempdir().unwrap();
        let err = TerraformSet::discover(
            &TerraformSources { paths: Vec::new(), tools_dir: Some(empty.path().to_owned()) },
            &path_of(&[]),
            PROBE_TIMEOUT,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("holds no executable file named terraform*"), "{err}");
    }

    #[tokio::test]
    async fn without_settings_terraform_then_tofu_is_found_on_path() {
        let _turn = SCRIPTS.lock().await;
        let both = tempfile::tempdir().unwrap();
        answering(both.path(), "terraform", "1.0.3");
        answering(both.path(), "tofu", "1.8.0");
        let only_tofu = tempfile::tempdir().unwrap();
        answering(only_tofu.path(), "tofu", "1.8.0");
        let none = tempfile::tempdir().unwrap();
        let found = |dir: PathBuf| async move {
            TerraformSet::discover(
                &TerraformSources::default(),
                &std::env::join_paths([dir]).unwrap(),
                PROBE_TIMEOUT,
            )
            .await
            .unwrap()
        };
        let set = found(both.path().to_owned()).await;
        assert_eq!(set.versions(), vec![Version::new(1, 0, 3)], "terraform first, and only it");
        let set = found(only_tofu.path().to_owned()).await;
        assert_eq!(set.select(&TerraformVersion::Latest).unwrap().flavor, Flavor::OpenTofu);
        assert!(found(none.path().to_owned()).await.is_empty());
    }

    #[tokio::test]
    async fn a_binary_that_is_not_terraform_is_refused_naming_its_path() {
        let _turn = SCRIPTS.lock().await;
        let dir = tempfile::tempdir().unwrap();
        for (name, body, says) in [
            ("fails", "echo broken >&2; exit 1", "failed"),
            ("chatty", "echo 'Terraform v1.0.3'", "not JSON"),
            ("nokey", "echo '{\"version\":\"1.0.3\"}'", "no terraform_version key"),
            ("badversion", "echo '{\"terraform_version\":\"one\"}'", "is not a version"),
            ("slow", "sleep 5", "did not answer within 0.3 s"),
        ] {
            let path = fake(dir.path(), name, body);
            let sources = TerraformSources { paths: vec![path.clone()], tools_dir: None };
            let err = TerraformSet::discover(&sources, &path_of(&[]), Duration::from_millis(300))
                .await
                .unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&path.display().to_string()) && message.contains(says),
                "{name}: {message}"
            );
        }
        let missing = dir.path().join("missing");
        let sources = TerraformSources { paths: vec![missing], tools_dir: None };
        let err = TerraformSet::discover(&sources, &path_of(&[]), PROBE_TIMEOUT).await.unwrap_err();
        assert!(matches!(err, TerraformError::Spawn { .. }), "{err}");
    }

    #[tokio::test]
    async fn the_same_version_twice_keeps_the_first() {
        let _turn = SCRIPTS.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let first = answering(dir.path(), "a", "1.0.3");
        let second = answering(dir.path(), "b", "1.0.3");
        let sources = TerraformSources { paths: vec![first.clone(), second], tools_dir: None };
        let set = TerraformSet::discover(&sources, &path_of(&[]), PROBE_TIMEOUT).await.unwrap();
        assert_eq!(set.versions().len(), 1);
        assert_eq!(set.select(&exact("1.0.3")).unwrap().path, first);
    }
}
