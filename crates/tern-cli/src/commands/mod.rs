//! One module per subcommand.

pub mod agent;
pub mod client;
pub mod doctor;
pub mod exec;
pub mod keygen;
pub mod serve;
pub mod token;
pub mod trust;

use std::path::{Path, PathBuf};

use tern_handoff::DirError;

use crate::settings::Env;

/// `$XDG_RUNTIME_DIR/tern`, else `/tmp/tern-<uid>`: where `tern exec` keeps its credentials and
/// `tern agent` its jobs and credentials, unless told otherwise.
pub(crate) fn default_runtime_dir(env: Env<'_>) -> PathBuf {
    match env("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("tern"),
        None => PathBuf::from(format!("/tmp/tern-{}", nix::unistd::getuid().as_raw())),
    }
}

/// Make sure the default directory `dir` is ours and nobody else can write to it, creating it
/// (mode 0700) if missing. In a shared `/tmp` another user can create `/tmp/tern-<uid>` first;
/// tern must then refuse it, and say what to do: `holds` says what tern keeps there, `instead`
/// names the flags that choose another directory.
pub(crate) fn own_default_dir(dir: &Path, holds: &str, instead: &str) -> anyhow::Result<()> {
    let Err(e) = tern_handoff::rundir::ensure_own_dir(dir) else { return Ok(()) };
    let shown = dir.display();
    Err(anyhow::anyhow!(match e {
        DirError::NotOwned { .. } => format!(
            "{e}: another user may have created it to read your {holds}; remove it, or pass {instead}"
        ),
        DirError::Writable { .. } => format!(
            "{e}, and so replace your {holds}; remove it (or `chmod go-w {shown}`), or pass {instead}"
        ),
        DirError::Symlink { .. } =>
            format!("{e}: it may lead to a directory another user controls; remove it, or pass {instead}"),
        DirError::NotADirectory { .. } => format!("{e}; remove it, or pass {instead}"),
        e => format!("{e}; pass {instead} to use another directory"),
    }))
}
