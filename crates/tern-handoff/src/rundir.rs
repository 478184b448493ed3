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
    /// The command running with these credentials (Terraform), so that a phase whose runner was
    /// killed does not go on running after the runner starts again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRecord>,
}

/// A process (and its process group, which it leads) that a phase started.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessRecord {
    /// Its pid, which is also its process group id.
    pub pid: u32,
    /// Its start time (`/proc/<pid>/stat` field 22, clock ticks since boot): a pid reused by
    /// another process has another start time, so only the recorded process is ever signalled.
    pub start_ticks: u64,
}

impl ProcessRecord {
    /// The record of a live process, or `None` if it is gone or `/proc` cannot tell.
    pub fn of(pid: u32) -> Option<Self> {
        Some(Self { pid, start_ticks: process_start_ticks(pid)? })
    }

    /// Whether the recorded process is still the one running under its pid (a zombie, dead
    /// but not yet reaped, is not running).
    pub fn is_alive(&self) -> bool {
        process_start_ticks(self.pid) == Some(self.start_ticks)
    }
}

/// Records the command a phase runs in its recovery state, as it starts.
#[derive(Debug, Clone)]
pub struct ProcessRecorder {
    path: PathBuf,
    state: RecoveryState,
}

impl ProcessRecorder {
    /// Record `pid` (which leads its own process group). Written without waiting for the disk:
    /// the record matters only while this machine stays up, and a killed runner's writes
    /// survive it in the page cache.
    pub fn record(&self, pid: u32) {
        let mut state = self.state.clone();
        state.process = ProcessRecord::of(pid);
        let bytes = serde_json::to_vec_pretty(&state).unwrap_or_default();
        if let Err(e) = crate::files::write_private(&self.path, &bytes) {
            tracing::warn!("recording the command's pid in {}: {e}", self.path.display());
        }
    }
}

/// Field 22 of `/proc/<pid>/stat` (after the parenthesised command name, which may hold
/// spaces and parentheses itself).
/// `None` for a process that is gone or a zombie.
fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; field 22 is the 20th.
    let mut fields = after_name.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
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

    /// What records, for this phase's recovery, each command it starts.
    pub fn process_recorder(&self, state: &RecoveryState) -> ProcessRecorder {
        ProcessRecorder { path: self.path.join(".state.json"), state: state.clone() }
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
        let state = RecoveryState {
            vault_tokens: vec![],
            tfvars: Some(root.path().join("x.auto.tfvars.json")),
            process: None,
        };
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

    #[test]
    fn a_process_record_names_one_process_and_not_a_reused_pid() {
        let me = ProcessRecord::of(std::process::id()).unwrap();
        assert!(me.is_alive());
        assert!(
            !ProcessRecord { start_ticks: me.start_ticks + 1, ..me }.is_alive(),
            "same pid, other process"
        );
        assert!(ProcessRecord::of(u32::MAX).is_none(), "no such pid");
        // An older record without the field still reads.
        let old: RecoveryState = serde_json::from_str(r#"{"vault_tokens":[],"tfvars":null}"#).unwrap();
        assert_eq!(old.process, None);
    }
}
