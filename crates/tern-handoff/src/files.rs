//! Writing credential files: mode 0600, exactly the bytes given (no trailing newline added —
//! boto3, google-auth and azure-identity send a token file verbatim), replaced atomically
//! (temporary file in the same directory, then rename) so a reader never sees half a token.
//! Reading back what a phase wrote ([`read_regular`]).
//!
//! Neither ever follows a symbolic link at the file's own name: these files live in directories
//! a phase's command (tenant code) can write to, and a link planted there must not make tern
//! write a secret elsewhere, or read (and upload) a file that is not the phase's. A write creates
//! its temporary file with `O_CREAT | O_EXCL | O_NOFOLLOW` and refuses to replace anything but a
//! regular file; a read opens with `O_NOFOLLOW | O_NONBLOCK` (a FIFO cannot hang it), requires a
//! regular file and stops at a size cap.
//!
//! Credential files are not fsynced: they live for one phase, a machine crash ends the phase
//! anyway, and the rename is atomic for readers without it. An fsync per file was most of the
//! time a phase spent writing its credentials (scripts/bench, "phase start to Terraform").
//! The recovery record, which must survive a crash to clean up after it, is synced
//! ([`write_private_synced`]).

use std::fs::{self, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use nix::libc;

/// Write `contents` to `path` atomically with mode 0600. Refuses if `path` exists and is not a
/// regular file (a symbolic link is refused, never followed or replaced).
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomically(path, contents, false, None)
}

/// [`write_private`], the file owned by `owner` (uid, gid) when given: a credential file for a
/// phase that runs as another user (the sandbox's). Changed on the open file, before the rename.
pub fn write_private_owned(path: &Path, contents: &[u8], owner: Option<(u32, u32)>) -> io::Result<()> {
    write_atomically(path, contents, false, owner)
}

/// [`write_private`], and on disk before it returns (fsync).
pub fn write_private_synced(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomically(path, contents, true, None)
}

fn write_atomically(path: &Path, contents: &[u8], sync: bool, owner: Option<(u32, u32)>) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temp); // unlink: a link there goes, its target is untouched
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&temp)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
        file.write_all(contents)?;
        if sync {
            file.sync_all()?;
        }
        // Replace a regular file only. (rename never follows a link either; this keeps a link
        // or directory someone planted from being silently replaced, which would hide it.)
        match fs::symlink_metadata(path) {
            Ok(m) if !m.file_type().is_file() => return Err(not_regular(&m)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Read the regular file at `path`, at most `max` bytes, without following a symbolic link at
/// its name and without blocking on a FIFO. For files a phase's command could have replaced:
/// the state after an apply, the saved plan after a plan.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut file =
        OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).map_err(
            |e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "it is a symbolic link, which tern does not follow",
                    )
                } else {
                    e
                }
            },
        )?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&meta));
    }
    let too_large = || io::Error::new(io::ErrorKind::InvalidData, format!("it is larger than {max} bytes"));
    if meta.len() > max {
        return Err(too_large());
    }
    let mut out = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    (&mut file).take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(too_large()); // it grew while being read
    }
    Ok(out)
}

fn not_regular(meta: &fs::Metadata) -> io::Error {
    let kind = meta.file_type();
    let what = if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("it is {what}; tern reads and replaces only regular files"),
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn private_exact_and_replaceable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.token");
        write_private(&path, b"first").unwrap();
        write_private_synced(&path, b"eyJhbGciOi.second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"eyJhbGciOi.second");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    /// A phase's command can leave links where tern writes or reads next: tern neither writes
    /// through them nor reads (and uploads) what they point to.
    #[test]
    fn links_planted_where_tern_writes_or_reads_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("elsewhere");
        fs::write(&secret, "not the phase's").unwrap();
        let work = dir.path().join("work");
        fs::create_dir(&work).unwrap();
        let link = work.join("zz-tern-workspace.auto.tfvars");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        // The temporary name too: a link there is removed, not written through.
        let temp = work.join(format!(".zz-tern-workspace.auto.tfvars.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&secret, &temp).unwrap();

        let err = write_private(&link, b"password = \"hunter2\"").unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert_eq!(fs::read_to_string(&secret).unwrap(), "not the phase's");
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "left for the log to show");
        assert!(!temp.exists() && fs::symlink_metadata(&temp).is_err(), "no temporary file left");

        let err = read_regular(&link, 1024).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        fs::create_dir(work.join("dir")).unwrap();
        assert!(read_regular(&work.join("dir"), 1024).unwrap_err().to_string().contains("directory"));
        assert!(write_private(&work.join("dir"), b"x").unwrap_err().to_string().contains("directory"));
        assert!(std::process::Command::new("mkfifo").arg(work.join("fifo")).status().unwrap().success());
        assert!(
            read_regular(&work.join("fifo"), 1024).unwrap_err().to_string().contains("not a regular file")
        );

        let state = work.join("terraform.tfstate");
        fs::write(&state, "0123456789").unwrap();
        assert_eq!(read_regular(&state, 10).unwrap(), b"0123456789");
        assert!(read_regular(&state, 9).unwrap_err().to_string().contains("larger than 9 bytes"));
        assert_eq!(read_regular(&work.join("none"), 9).unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
