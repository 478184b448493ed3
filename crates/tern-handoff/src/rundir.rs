//! The private credentials directory of a run, and recovery from phases that died.
//!
//! Layout: `<base>/<run id>/`. The base directory must be owned by the current user and closed
//! to everyone else; tern creates it so if missing and refuses to use it otherwise. The run
//! directory (mode 0700) is stable for the whole run, so a saved plan's paths are valid at
//! apply. A phase holds an exclusive lock on `<run dir>/.lock` while it runs, and records what
//! it must revoke in `<run dir>/.state.json`; a later start that can take the lock of a run
//! directory knows its phase died, revokes what it recorded and removes the directory.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a directory tern keeps private files in (a run's credentials, an agent's jobs) cannot
/// be used.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// An I/O error on a named path.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A symbolic link where the directory must be: it could lead anywhere.
    #[error("{} is a symbolic link, not a directory", .path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Something other than a directory.
    #[error("{} exists and is not a directory", .path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Owned by someone else.
    #[error("{} is owned by uid {owner}, not you (uid {me})", .path.display())]
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current user.
        me: u32,
    },
    /// Writable by the group or by others, who could then replace what is in it.
    #[error("{} has mode {mode:04o}: other users can write to it", .path.display())]
    Writable {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// Readable or writable by others (the credentials base must be closed to everyone).
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

impl DirError {
    /// Whether the directory exists but someone else may control it (another user created it,
    /// can write to it, or it is a link): the files tern would put there are not safe in it.
    pub fn is_not_ours(&self) -> bool {
        matches!(self, Self::Symlink { .. } | Self::NotOwned { .. } | Self::Writable { .. })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DirError + '_ {
    move |source| DirError::Io { path: path.to_path_buf(), source }
}

/// Make sure `dir` is a directory of ours that no one else can change: a real directory (not
/// a symbolic link), owned by the current user, with no group or other write permission.
/// Missing, it is created with mode 0700 whatever the umask (missing parents too).
///
/// A directory someone else created first (in `/tmp`, say) is refused rather than used: its
/// owner could read or replace whatever tern puts in it.
pub fn ensure_own_dir(dir: &Path) -> Result<fs::Metadata, DirError> {
    if let Err(e) = fs::symlink_metadata(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(io(dir)(e));
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(io(parent))?;
        }
        // Not recursive: if another process created it meanwhile, this fails and the checks
        // below judge theirs.
        match DirBuilder::new().mode(0o700).create(dir) {
            // The umask may have taken bits away; set exactly 0700.
            Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(dir)(e)),
        }
    }
    let meta = fs::symlink_metadata(dir).map_err(io(dir))?;
    if meta.file_type().is_symlink() {
        return Err(DirError::Symlink { path: dir.to_path_buf() });
    }
    if !meta.is_dir() {
        return Err(DirError::NotADirectory { path: dir.to_path_buf() });
    }
    let me = nix::unistd::getuid().as_raw();
    if meta.uid() != me {
        return Err(DirError::NotOwned { path: dir.to_path_buf(), owner: meta.uid(), me });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(DirError::Writable { path: dir.to_path_buf(), mode });
    }
    Ok(meta)
}

/// Make sure `base` exists, is a directory owned by us (see [`ensure_own_dir`]), and is
/// private: credentials are closed to everyone else, reading included.
pub fn prepare_base(base: &Path) -> Result<(), DirError> {
    let meta = ensure_own_dir(base)?;
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
    /// The first 64 bits of the kernel's boot id when it was recorded: after a reboot, pids and
    /// start times repeat, and a record from before names nothing. Absent in older records.
    #[serde(default)]
    pub boot: Option<u64>,
}

/// The first 64 bits of `/proc/sys/kernel/random/boot_id`.
fn boot_id() -> Option<u64> {
    let text = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let hex: String = text.chars().filter(char::is_ascii_hexdigit).take(16).collect();
    u64::from_str_radix(&hex, 16).ok()
}

impl ProcessRecord {
    /// The record of a live process, or `None` if it is gone or `/proc` cannot tell.
    pub fn of(pid: u32) -> Option<Self> {
        Some(Self { pid, start_ticks: process_start_ticks(pid)?, boot: boot_id() })
    }

    /// Whether the record was made since this machine booted.
    fn this_boot(&self) -> bool {
        self.boot.is_none() || self.boot == boot_id()
    }

    /// Whether the recorded process is still the one running under its pid (a zombie, dead
    /// but not yet reaped, is not running).
    pub fn is_alive(&self) -> bool {
        self.this_boot() && process_start_ticks(self.pid) == Some(self.start_ticks)
    }
}

impl ProcessRecord {
    /// Whether anything of the recorded process group still runs: the recorded process, or,
    /// once it is gone, members of its group that run in another PID namespace than this
    /// process and started after it. That is a sandbox whose outer bubblewrap died with the
    /// runner while its PID namespace lived on (bwrap's pid 1 waiting for a provider). A group
    /// id stays reserved while any member lives, so such members are the recorded group's.
    pub fn still_runs(&self) -> bool {
        self.is_alive() || !self.sandboxed_survivors().is_empty()
    }

    /// Members of the recorded group in another PID namespace, started after the record. None
    /// when another process holds the recorded pid: a pid is not reused while a group of that
    /// id has members, so then the group is not the recorded one (nor after a reboot).
    pub fn sandboxed_survivors(&self) -> Vec<u32> {
        // The recorded process, dead but not yet reaped (a zombie), still holds its pid: that is
        // the runner just killed, and its group is the recorded one.
        let holder = stat_start_ticks(self.pid);
        if !self.this_boot() || holder.is_some_and(|t| t != self.start_ticks) {
            return Vec::new();
        }
        let ours = fs::read_link("/proc/self/ns/pid").ok();
        let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                process_group(pid) == Some(self.pid)
                    && process_start_ticks(pid).is_some_and(|t| t >= self.start_ticks)
                    && fs::read_link(format!("/proc/{pid}/ns/pid")).ok().is_some_and(|ns| Some(ns) != ours)
            })
            .collect()
    }

    /// Whether the recorded process is still running, as a child of this process (a command
    /// this runner started, not another runner's).
    pub fn is_child_of_this_process(&self) -> bool {
        self.is_alive() && process_parent(self.pid) == Some(std::process::id())
    }
}

/// The commands that phases under `base` recorded and that still run as children of this
/// process: what a runner stopping at once must end itself, since nothing else will until it
/// starts again.
pub fn running_children(base: &Path) -> Vec<ProcessRecord> {
    let Ok(entries) = fs::read_dir(base) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let bytes = fs::read(entry.path().join(".state.json")).ok()?;
            serde_json::from_slice::<RecoveryState>(&bytes).ok()?.process
        })
        .filter(ProcessRecord::is_child_of_this_process)
        .collect()
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

/// Field 22 of `/proc/<pid>/stat` of whatever holds `pid`, zombies included.
fn stat_start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
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

/// Field 5 of `/proc/<pid>/stat`: the process group.
fn process_group(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(2)?.parse().ok()
}

/// Field 4 of `/proc/<pid>/stat`: the parent's pid.
fn process_parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
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
        assert!(matches!(prepare_base(&file), Err(DirError::NotADirectory { .. })));
    }

    #[test]
    fn an_own_dir_is_created_0700() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("tern-1000");
        ensure_own_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o7777, 0o700);
        assert_eq!(fs::metadata(root.path().join("a")).unwrap().permissions().mode() & 0o777, 0o700);
        // An existing one of ours that others may read but not write is accepted as it is.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_own_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn a_dir_others_can_write_is_refused() {
        let root = tempfile::tempdir().unwrap();
        for mode in [0o777, 0o1777, 0o770, 0o702] {
            let dir = root.path().join(format!("tern-{mode:o}"));
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let err = ensure_own_dir(&dir).unwrap_err();
            assert!(matches!(err, DirError::Writable { mode: m, .. } if m == mode), "{mode:o}: {err:?}");
            assert!(err.is_not_ours());
            assert_eq!(
                err.to_string(),
                format!("{} has mode {mode:04o}: other users can write to it", dir.display())
            );
            assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o7777, mode, "left as it was");
        }
    }

    #[test]
    fn a_dir_owned_by_another_user_is_refused() {
        if !nix::unistd::getuid().is_root() {
            eprintln!("skipped: only root can give a directory to another user");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("tern-1000");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let err = ensure_own_dir(&dir).unwrap_err();
        assert!(matches!(err, DirError::NotOwned { owner: 65534, me: 0, .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("{} is owned by uid 65534, not you (uid 0)", dir.display()));
        assert!(matches!(prepare_base(&dir), Err(DirError::NotOwned { .. })));
    }

    #[test]
    fn a_symlink_is_refused_even_to_a_dir_of_ours() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("real");
        ensure_own_dir(&target).unwrap();
        let link = root.path().join("tern-1000");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = ensure_own_dir(&link).unwrap_err();
        assert!(matches!(err, DirError::Symlink { .. }), "{err:?}");
        assert!(err.is_not_ours());
        assert!(matches!(prepare_base(&link), Err(DirError::Symlink { .. })));
        // A dangling one too: tern must not create the directory where it points.
        let dangling = root.path().join("tern-1001");
        std::os::unix::fs::symlink(root.path().join("elsewhere"), &dangling).unwrap();
        assert!(matches!(ensure_own_dir(&dangling), Err(DirError::Symlink { .. })));
        assert!(!root.path().join("elsewhere").exists());
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
    fn running_children_are_the_recorded_commands_this_process_started() {
        use std::os::unix::process::CommandExt as _;
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("tern");
        let mut child = std::process::Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
        let mine = RunDir::acquire(&base, "run-1").unwrap();
        mine.process_recorder(&RecoveryState::default()).record(child.id());
        // Another runner's command (here: init) is not ours to end.
        let other = RunDir::acquire(&base, "run-2").unwrap();
        other.process_recorder(&RecoveryState::default()).record(1);
        assert!(ProcessRecord::of(1).is_some_and(|p| !p.is_child_of_this_process()));
        let found = running_children(&base);
        assert_eq!(found.iter().map(|p| p.pid).collect::<Vec<_>>(), [child.id()]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(running_children(&base).is_empty(), "a process that ended is not running");
    }

    #[test]
    fn a_process_record_names_one_process_and_not_a_reused_pid() {
        let me = ProcessRecord::of(std::process::id()).unwrap();
        assert!(me.is_alive());
        assert!(
            !ProcessRecord { start_ticks: me.start_ticks + 1, ..me }.is_alive(),
            "same pid, other process"
        );
        let other_boot = ProcessRecord { boot: Some(me.boot.unwrap_or(0) ^ 1), ..me };
        assert!(
            !other_boot.is_alive() && !other_boot.still_runs(),
            "a record from before a reboot names nothing"
        );
        assert!(
            ProcessRecord { start_ticks: 0, ..me }.sandboxed_survivors().is_empty(),
            "a pid in use by another process: its group is not the recorded one"
        );
        assert!(ProcessRecord::of(u32::MAX).is_none(), "no such pid");
        // An older record without the field still reads.
        let old: RecoveryState = serde_json::from_str(r#"{"vault_tokens":[],"tfvars":null}"#).unwrap();
        assert_eq!(old.process, None);
    }
}
