//! Configuration tarballs. For any bytes (the limits are small here):
//! - `inspect` and `unpack` agree: if the check accepts, unpacking into a fresh directory
//!   succeeds with the same summary; if it refuses, unpacking refuses too, with the same message
//!   unless the archive is unreadable or too large (where the two report the read differently);
//! - nothing is written outside the directory, and every path in it, resolved by the kernel
//!   (links followed), stays inside;
//! - `resolve_within` agrees with the kernel on every path of an unpacked configuration.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use tern_archive::{ArchiveError, Limits};

const LIMITS: Limits = Limits { max_unpacked_bytes: 64 * 1024, max_entries: 64 };

/// Every path below `dir`, without following links.
fn everything_below(dir: &Path, out: &mut Vec<PathBuf>) {
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
    let beside = outer.path().join("beside");
    if std::fs::create_dir(&dest).is_err() || std::fs::create_dir(&beside).is_err() {
        return;
    }
    let unpacked = tern_archive::unpack(data, &dest, LIMITS);
    match (&inspected, &unpacked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "inspect and unpack disagree on the contents"),
        (Err(ArchiveError::Corrupt(_) | ArchiveError::TooLarge(_)), Err(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "inspect and unpack refuse differently"),
        (a, b) => panic!("inspect says {a:?} but unpack says {b:?}"),
    }

    let mut written = Vec::new();
    everything_below(outer.path(), &mut written);
    let real_dest = dest.canonicalize().unwrap_or_else(|e| panic!("canonicalize: {e}"));
    for path in &written {
        if path == &beside {
            continue;
        }
        assert!(path.starts_with(&dest), "{path:?} was written outside the configuration");
        // The kernel's resolution of the path, every link followed.
        if let Ok(real) = path.canonicalize() {
            assert!(real.starts_with(&real_dest), "{path:?} resolves to {real:?}, outside");
        }
    }
    assert!(std::fs::read_dir(&beside).is_ok_and(|mut d| d.next().is_none()), "written beside");
    if unpacked.is_err() {
        return;
    }
    for path in std::iter::once(dest.clone()).chain(written.into_iter().filter(|p| p.starts_with(&dest))) {
        let Some(rel) = path.strip_prefix(&dest).ok().and_then(Path::to_str) else { continue };
        let kernel = path.canonicalize().ok().filter(|p| p.is_dir());
        match tern_archive::resolve_within(&dest, rel) {
            Ok(dir) => {
                assert!(dir.starts_with(&dest), "{rel:?} resolved to {dir:?}");
                let real = dir.canonicalize().ok();
                assert_eq!(real, kernel, "{rel:?}: resolve_within and the kernel disagree");
            }
            Err(e) => assert!(kernel.is_none(), "{rel:?}: refused ({e}) but the kernel finds {kernel:?}"),
        }
    }
});
