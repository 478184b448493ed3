//! Configuration tarballs (`.tar.gz`), as TFE's configuration versions carry them.
//!
//! [`inspect`] checks an upload without writing anything; [`unpack`] writes it below a
//! directory and refuses, before writing the offending entry, anything that could escape or
//! exhaust it: absolute paths and `..`, symbolic links whose target leaves the directory, hard
//! links, devices, FIFOs, and archives over the size or file-count limits (a gzip bomb stops at
//! the limit, not at the end of the stream). [`pack`] makes the archive `tern run start` uploads.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Limits on an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file contents after decompression.
    pub max_unpacked_bytes: u64,
    /// Entries (files, directories, links).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_unpacked_bytes: 512 * 1024 * 1024, max_entries: 20_000 }
    }
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not gzip/tar, or truncated.
    #[error("not a readable .tar.gz archive: {0}")]
    Corrupt(String),
    /// A path that would leave the directory.
    #[error("entry {0:?} has an absolute path or '..': every path must stay inside the configuration")]
    Traversal(String),
    /// A link that would leave the directory.
    #[error("entry {path:?} is a symbolic link to {target:?}, outside the configuration")]
    LinkOutside {
        /// Entry.
        path: String,
        /// Its target.
        target: String,
    },
    /// Devices, FIFOs, hard links.
    #[error(
        "entry {path:?} is a {kind}; configurations may hold only files, directories and symbolic links within"
    )]
    Kind {
        /// Entry.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// Over the size limit.
    #[error("the archive unpacks to more than {0} bytes")]
    TooLarge(u64),
    /// Over the entry limit.
    #[error("the archive has more than {0} entries")]
    TooManyEntries(u64),
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// What an archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Regular files.
    pub files: u64,
    /// Bytes of file contents.
    pub bytes: u64,
}

/// A normalised relative path, or `None` if it is absolute or climbs out.
fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether a symbolic link at `link` (relative) pointing to `target` stays inside.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.parent().map_or(0, |p| p.components().count() as i64);
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Bounded reader: fails once more than `limit` bytes came out of the decompressor.
struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::other(format!("the archive unpacks to more than {} bytes", self.limit))
        })?;
        Ok(n)
    }
}

fn walk(
    data: &[u8],
    limits: Limits,
    mut each: impl FnMut(&PathBuf, &mut tar::Entry<'_, Bounded<GzDecoder<&[u8]>>>) -> Result<(), ArchiveError>,
) -> Result<Summary, ArchiveError> {
    // Headers and padding count too: allow for them on top of the content limit.
    let stream_limit = limits
        .max_unpacked_bytes
        .saturating_add(limits.max_entries.saturating_mul(1024))
        .saturating_add(10240);
    let reader =
        Bounded { inner: GzDecoder::new(data), left: stream_limit, limit: limits.max_unpacked_bytes };
    let mut archive = tar::Archive::new(reader);
    let mut summary = Summary::default();
    let mut entries_seen = 0u64;
    let corrupt = |e: io::Error| {
        if e.to_string().contains("unpacks to more than") {
            ArchiveError::TooLarge(limits.max_unpacked_bytes)
        } else {
            ArchiveError::Corrupt(e.to_string())
        }
    };
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(ArchiveError::TooManyEntries(limits.max_entries));
        }
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let shown = raw.display().to_string();
        let path = relative(&raw).ok_or_else(|| ArchiveError::Traversal(shown.clone()))?;
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                summary.files += 1;
                summary.bytes = summary.bytes.saturating_add(entry.size());
                if summary.bytes > limits.max_unpacked_bytes {
                    return Err(ArchiveError::TooLarge(limits.max_unpacked_bytes));
                }
            }
            tar::EntryType::Directory => {}
            tar::EntryType::Symlink => {
                let target = entry.link_name().map_err(corrupt)?.map(|t| t.into_owned()).unwrap_or_default();
                if !link_stays_inside(&path, &target) {
                    return Err(ArchiveError::LinkOutside {
                        path: shown,
                        target: target.display().to_string(),
                    });
                }
            }
            tar::EntryType::Link => return Err(ArchiveError::Kind { path: shown, kind: "hard link" }),
            tar::EntryType::Char => return Err(ArchiveError::Kind { path: shown, kind: "character device" }),
            tar::EntryType::Block => return Err(ArchiveError::Kind { path: shown, kind: "block device" }),
            tar::EntryType::Fifo => return Err(ArchiveError::Kind { path: shown, kind: "FIFO" }),
            // pax/GNU extension headers are consumed by the tar crate; anything else is odd.
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => continue,
            _ => return Err(ArchiveError::Kind { path: shown, kind: "special entry" }),
        }
        if path.as_os_str().is_empty() {
            continue; // "./"
        }
        each(&path, &mut entry)?;
    }
    Ok(summary)
}

/// Check an archive without writing anything.
pub fn inspect(data: &[u8], limits: Limits) -> Result<Summary, ArchiveError> {
    walk(data, limits, |_, entry| {
        io::copy(entry, &mut io::sink()).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        Ok(())
    })
}

/// Unpack below `dest` (which must exist and should be empty).
pub fn unpack(data: &[u8], dest: &Path, limits: Limits) -> Result<Summary, ArchiveError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { path, source }
    };
    walk(data, limits, |rel, entry| {
        let target = dest.join(rel);
        // No entry may write through a symbolic link an earlier entry created.
        let mut check = dest.to_path_buf();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            check.push(part);
            if fs::symlink_metadata(&check).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(ArchiveError::LinkOutside {
                    path: rel.display().to_string(),
                    target: format!("(a path through the symbolic link {})", check.display()),
                });
            }
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&target).map_err(io_err(&target))?,
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(|e| ArchiveError::Corrupt(e.to_string()))?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                std::os::unix::fs::symlink(&link, &target).map_err(io_err(&target))?;
            }
            _ => {
                let mode = entry.header().mode().unwrap_or(0o644);
                let mut out = fs::File::create(&target).map_err(io_err(&target))?;
                io::copy(entry, &mut out).map_err(|e| {
                    if e.to_string().contains("unpacks to more than") {
                        ArchiveError::TooLarge(limits.max_unpacked_bytes)
                    } else {
                        ArchiveError::Io { path: target.clone(), source: e }
                    }
                })?;
                use std::os::unix::fs::PermissionsExt as _;
                // Keep the executable bit; never setuid/setgid/sticky or group/other write.
                let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_err(&target))?;
            }
        }
        Ok(())
    })
}

/// Pack `dir` into a `.tar.gz`, skipping `.terraform/`, `.git/` and `*.tfstate*` files (state
/// lives in tern, provider caches are rebuilt by `terraform init`).
pub fn pack(dir: &Path) -> Result<Vec<u8>, ArchiveError> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    builder.follow_symlinks(false);
    add_dir(&mut builder, dir, Path::new(""))?;
    let encoder =
        builder.into_inner().map_err(|e| ArchiveError::Io { path: dir.to_path_buf(), source: e })?;
    encoder.finish().map_err(|e| ArchiveError::Io { path: dir.to_path_buf(), source: e })
}

fn add_dir(
    builder: &mut tar::Builder<GzEncoder<Vec<u8>>>,
    root: &Path,
    rel: &Path,
) -> Result<(), ArchiveError> {
    let here = root.join(rel);
    let io_err = |source| ArchiveError::Io { path: here.clone(), source };
    let mut names: Vec<_> = fs::read_dir(&here).map_err(io_err)?.collect::<Result<_, _>>().map_err(io_err)?;
    names.sort_by_key(fs::DirEntry::file_name);
    for entry in names {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform" || name_str == ".git" || name_str.contains(".tfstate") {
            continue;
        }
        let rel_path = rel.join(&name);
        let kind = entry.file_type().map_err(|e| ArchiveError::Io { path: entry.path(), source: e })?;
        if kind.is_dir() {
            builder
                .append_dir(&rel_path, entry.path())
                .map_err(|e| ArchiveError::Io { path: entry.path(), source: e })?;
            add_dir(builder, root, &rel_path)?;
        } else if kind.is_file() || kind.is_symlink() {
            builder
                .append_path_with_name(entry.path(), &rel_path)
                .map_err(|e| ArchiveError::Io { path: entry.path(), source: e })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Write the raw name, so hostile paths reach the reader as they would from an attacker.
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(l) = link {
                h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn hostile_archives_are_refused_before_anything_escapes() {
        use tar::EntryType::*;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("absolute", archive(&[("/etc/passwd", Regular, b"x", None)]), "absolute path or '..'"),
            ("dotdot", archive(&[("a/../../x", Regular, b"x", None)]), "absolute path or '..'"),
            ("symlink out", archive(&[("l", Symlink, b"", Some("../../etc"))]), "outside the configuration"),
            (
                "absolute symlink",
                archive(&[("l", Symlink, b"", Some("/etc/passwd"))]),
                "outside the configuration",
            ),
            (
                "write through a link",
                archive(&[("d", Symlink, b"", Some(".")), ("d/x", Regular, b"x", None)]),
                "through the symbolic link",
            ),
            ("hard link", archive(&[("h", Link, b"", Some("main.tf"))]), "hard link"),
            ("device", archive(&[("dev", Char, b"", None)]), "character device"),
            ("fifo", archive(&[("p", Fifo, b"", None)]), "FIFO"),
            ("not gzip", b"plain text".to_vec(), "not a readable"),
        ];
        for (name, data, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            let dest = dir.path().join("cfg");
            fs::create_dir(&dest).unwrap();
            let err = unpack(&data, &dest, Limits::default()).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
            if name != "write through a link" {
                assert!(inspect(&data, Limits::default()).is_err(), "{name}: inspect agrees");
            }
            assert!(!dir.path().join("x").exists() && !dir.path().join("etc").exists(), "{name}");
        }
    }

    #[test]
    fn limits_stop_bombs_and_floods() {
        use tar::EntryType::*;
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let bomb = archive(&[("big", Regular, &zeros, None)]);
        assert!(bomb.len() < 20_000, "compresses well: {}", bomb.len());
        let limits = Limits { max_unpacked_bytes: 1024 * 1024, max_entries: 10 };
        assert!(matches!(inspect(&bomb, limits), Err(ArchiveError::TooLarge(_))));
        let many: Vec<(String, tar::EntryType, &[u8], Option<&str>)> =
            (0..11).map(|i| (format!("f{i}"), Regular, &b"x"[..], None)).collect();
        let refs: Vec<(&str, tar::EntryType, &[u8], Option<&str>)> =
            many.iter().map(|(p, k, d, l)| (p.as_str(), *k, *d, *l)).collect();
        assert!(matches!(inspect(&archive(&refs), limits), Err(ArchiveError::TooManyEntries(10))));
    }

    #[test]
    fn a_packed_directory_round_trips_without_state_or_caches() {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("main.tf"), "resource \"null_resource\" \"x\" {}\n").unwrap();
        fs::create_dir_all(src.path().join("modules/m")).unwrap();
        fs::write(src.path().join("modules/m/m.tf"), "# module\n").unwrap();
        std::os::unix::fs::symlink("modules/m", src.path().join("m")).unwrap();
        fs::create_dir_all(src.path().join(".terraform/providers")).unwrap();
        fs::write(src.path().join("terraform.tfstate"), "{}").unwrap();
        let data = pack(src.path()).unwrap();
        let summary = inspect(&data, Limits::default()).unwrap();
        assert_eq!(summary.files, 2);
        let dest = tempfile::tempdir().unwrap();
        unpack(&data, dest.path(), Limits::default()).unwrap();
        assert_eq!(fs::read_to_string(dest.path().join("m/m.tf")).unwrap(), "# module\n");
        assert!(!dest.path().join(".terraform").exists() && !dest.path().join("terraform.tfstate").exists());
    }
}
