//! Writing credential files: mode 0600, exactly the bytes given (no trailing newline added —
//! boto3, google-auth and azure-identity send a token file verbatim), replaced atomically
//! (temporary file in the same directory, then rename) so a reader never sees half a token.
//!
//! Credential files are not fsynced: they live for one phase, a machine crash ends the phase
//! anyway, and the rename is atomic for readers without it. An fsync per file was most of the
//! time a phase spent writing its credentials (scripts/bench, "phase start to Terraform").
//! The recovery record, which must survive a crash to clean up after it, is synced
//! ([`write_private_synced`]).

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Write `contents` to `path` atomically with mode 0600.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomically(path, contents, false)
}

/// [`write_private`], and on disk before it returns (fsync).
pub fn write_private_synced(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomically(path, contents, true)
}

fn write_atomically(path: &Path, contents: &[u8], sync: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temp);
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        file.write_all(contents)?;
        if sync {
            file.sync_all()?;
        }
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
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
}
