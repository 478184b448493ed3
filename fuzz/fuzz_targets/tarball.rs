//! Configuration tarballs. For any bytes: `inspect` and `unpack` agree on whether the archive is
//! acceptable, and `unpack` never writes outside its directory, whatever the archive holds
//! (traversal, absolute paths, links, devices, bombs: the limits are small here).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tern_archive::{ArchiveError, Limits};

const LIMITS: Limits = Limits { max_unpacked_bytes: 64 * 1024, max_entries: 64 };

fn everything_below(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            everything_below(&path, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let inspected = tern_archive::inspect(data, LIMITS);
    let Ok(outer) = tempfile::tempdir() else { return };
    let dest = outer.path().join("config");
    if std::fs::create_dir(&dest).is_err() {
        return;
    }
    let unpacked = tern_archive::unpack(data, &dest, LIMITS);
    match (&inspected, &unpacked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "inspect and unpack disagree on the contents"),
        (Err(_), Err(_)) | (Ok(_), Err(ArchiveError::Io { .. })) => {}
        (a, b) => panic!("inspect says {a:?} but unpack says {b:?}"),
    }
    let mut written = Vec::new();
    everything_below(outer.path(), &mut written);
    let root = outer.path().canonicalize().unwrap_or_else(|e| panic!("canonicalize: {e}"));
    for path in written {
        assert!(path.starts_with(&dest), "{path:?} was written outside the configuration");
        if let Ok(real) = path.canonicalize() {
            assert!(real.starts_with(root.join("config")), "{path:?} resolves to {real:?}, outside");
        }
    }
});
