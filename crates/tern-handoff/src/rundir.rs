//! The private credentials directory of a run, and recovery from phases that died.
//!
//! Layout: `<base>/<run id>/`. The base directory must be owned by the current user and closed
//! to everyone else; tern creates it so if missing and refuses to use it otherwise. The run
//! directory (mode 0700) is stable for the whole run, so a saved plan's paths are valid at
//! apply. A phase holds an exclusive lock on `<run dir>/.lock` while it runs, and records what
//! it must revoke in `<run dir>/.state.json`; a later start that can take the lock of a run
//! directory knows its phase died, revokes what it recorded and removes the directory.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the credentials directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// An I/O error on a named path.
    #[error("credentials directory {}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Owned by someone else.
    #[error(
        "credentials directory {} is owned by uid {owner}, not by this user (uid {me}); tern keeps credentials only in directories it owns",
        .path.display()
    )]
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current user.
        me: u32,
    },
    /// Readable or writable by others.
    #[error(
        "credentials directory {} has mode {mode:04o}; it must be private (chmod 700 {})",
        .path.display(), .path.display()
    )]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// Another phase of the same run is running.
    #[error("run {run_id} already has a phase running (its credentials directory {} is locked)", .path.display())]
    Busy {
        /// The run.
        run_id: String,
        /// Its directory.
        path: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DirError + '_ {
    move |source| DirError::Io { path: path.to_path_buf(), source }
}

/// Make sure `base` exists, is a directory owned by us, and is private.
pub fn prepare_base(base: &Path) -> Result<(), DirError> {
    match fs::symlink_metadata(base) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(base).map_err(io(base))?;
            fs::set_permissions(base, fs::Permissions::from_mode(0o700)).map_err(io(base))?;
        }
        Err(e) => return Err(io(base)(e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(io(base)(std::io::Error::other("exists and is not a directory")));
        }
        Ok(_) => {}
    }
    let meta = fs::metadata(base).map_err(io(base))?;
    let me = nix::unistd::getuid().as_raw();
    if meta.uid() != me {
        return Err(DirError::NotOwned { path: base.to_path_buf(), owner: meta.uid(), me });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DirError::NotPrivate { path: base.to_path_buf(), mode });
    }
    Ok(())
}

/// What a phase must undo if it dies: recorded before each step that creates it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecoveryState {
    /// Vault logins: where to revoke each token from (the token is in `token_file`).
    pub vault_tokens: Vec<VaultRecord>,
    /// The Terraform input variables file written into the working directory.
    pub tfvars: Option<PathBuf>,
}

/// A Vault token to revoke on recovery.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VaultRecord {
    /// Vault address.
    pub addr: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// CA bundle file, if any.
    pub ca_file: Option<PathBuf>,
    /// File holding the token.
    pub token_file: PathBuf,
}

/// An exclusive hold on a run's credentials directory.
pub struct RunDir {
    path: PathBuf,
    _lock: File,
}

impl RunDir {
    /// Create (or reuse) `<base>/<run_id>` and lock it.
    pub fn acquire(base: &Path, run_id: &str) -> Result<Self, DirError> {
        prepare_base(base)?;
        let path = base.join(run_id);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&path)(e)),
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).map_err(io(&path))?;
        let lock_path = path.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => Ok(Self { path, _lock: lock }),
            Err(std::fs::TryLockError::WouldBlock) => Err(DirError::Busy { run_id: run_id.to_owned(), path }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&lock_path)(e)),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record what to undo if this phase dies.
    pub fn record(&self, state: &RecoveryState) -> Result<(), DirError> {
        let path = self.path.join(".state.json");
        let bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
        crate::files::write_private_synced(&path, &bytes).map_err(io(&path))
    }

    /// Remove the directory and everything in it (the lock is released when `self` drops).
    pub fn remove(self) -> Result<(), DirError> {
        fs::remove_dir_all(&self.path).map_err(io(&self.path))
    }
}

/// A run directory whose phase died, with what it recorded.
#[derive(Debug)]
pub struct Abandoned {
    /// The directory.
    pub path: PathBuf,
    /// What it recorded.
    pub state: RecoveryState,
    _lock: File,
}

impl Abandoned {
    /// Remove the directory (after revoking what it recorded).
    pub fn remove(self) -> Result<(), DirError> {
        if let Some(tfvars) = &self.state.tfvars {
            let _ = fs::remove_file(tfvars);
        }
        fs::remove_dir_all(&self.path).map_err(io(&self.path))
    }
}

/// Run directories under `base` whose phase is no longer running (their lock can be taken).
pub fn abandoned(base: &Path) -> Vec<Abandoned> {
    let Ok(entries) = fs::read_dir(base) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let lock_path = path.join(".lock");
        let Ok(lock) =
            OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&lock_path)
        else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue; // a live phase holds it
        }
        let state = fs::read(path.join(".state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        out.push(Abandoned { path, state, _lock: lock });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_created_private_and_checked() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("tern");
        prepare_base(&base).unwrap();
        assert_eq!(fs::metadata(&base).unwrap().permissions().mode() & 0o777, 0o700);
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(prepare_base(&base), Err(DirError::NotPrivate { mode: 0o755, .. })));
        let file = root.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(prepare_base(&file).is_err());
    }

    #[test]
    fn a_run_is_locked_while_a_phase_holds_it_and_swept_after() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("tern");
        let held = RunDir::acquire(&base, "run-1").unwrap();
        assert!(matches!(RunDir::acquire(&base, "run-1"), Err(DirError::Busy { .. })));
        assert!(abandoned(&base).is_empty(), "a live phase is not swept");
        let state =
            RecoveryState { vault_tokens: vec![], tfvars: Some(root.path().join("x.auto.tfvars.json")) };
        held.record(&state).unwrap();
        fs::write(held.path().join("aws.token"), "t").unwrap();
        drop(held); // the phase "dies": its lock is released, its files remain
        let found = abandoned(&base);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].state, state);
        for a in found {
            a.remove().unwrap();
        }
        assert!(!base.join("run-1").exists());
        // The same run can start again.
        RunDir::acquire(&base, "run-1").unwrap().remove().unwrap();
    }
}
