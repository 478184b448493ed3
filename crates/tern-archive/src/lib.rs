//! Configuration tarballs (`.tar.gz`), as TFE's configuration versions carry them.
//!
//! [`inspect`] checks an upload without writing anything; [`unpack`] writes it below a
//! directory; [`pack`] makes the archive `tern run start` uploads. [`resolve_within`] resolves a
//! relative path (a workspace's working directory) inside an unpacked configuration.
//!
//! # The rule
//!
//! `inspect` and `unpack` run the same walk over the archive, which places every entry in one
//! model of the tree before anything is written (`model.rs`), so they refuse exactly the same
//! archives, with the same error naming the same entry. An archive is accepted only if:
//!
//! - every entry's path is relative, without `..`, names of at most 255 bytes and at most 2048
//!   bytes in all, and names a path no earlier entry holds (a directory may be listed again);
//! - every parent component of every entry is a directory of the archive: listed as one, or
//!   created as the parent of an earlier entry; never a symbolic link, never a file. Nothing is
//!   ever written *through* a link;
//! - every symbolic link has a relative, non-empty target of at most 1024 bytes that, resolved
//!   as the kernel will resolve it in the finished tree (following the archive's other links, at
//!   most 40 of them counting itself, and at most 4096 path components, which keeps the check
//!   linear; `..` after a link going to the parent of where the link led), stays inside the
//!   destination. Links to
//!   directories are allowed on that condition (Terraform module trees use them). A link that
//!   resolves to nothing (dangling) is allowed only if the rest of its target, read lexically
//!   from where resolution stopped, would not climb out either, so creating the missing part
//!   later cannot open a way out. Links are judged against the whole archive, since an entry
//!   after a link can change where the link leads;
//! - every hard link names a regular file of an earlier entry, reached through directories
//!   only;
//! - there are no devices, FIFOs or other special entries, and the archive stays within its
//!   [`Limits`] (a gzip bomb stops at the size limit, not at the end of the stream).
//!
//! `unpack` refuses an entry before writing it. It writes files and directories as it goes and
//! creates the symbolic links last, after the whole archive has been checked, so no link exists
//! on disk until every entry is known to be acceptable. It also never trusts the disk to match
//! the model: every parent is checked on disk to be a real directory (not a link), and files are
//! created with `O_CREAT | O_EXCL` (which never follows a link), so even a bug in the model
//! cannot write outside the destination.

mod model;
mod within;

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use model::{
    LinkRefusal, MAX_LINK_HOPS, MAX_TARGET_BYTES, Refusal, Tree, joined, relative, within_name_limits,
};
pub use within::{WithinError, resolve_within};

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

/// Why an archive was refused. Each message names the entry, as the uploader wrote it.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not gzip/tar, or truncated.
    #[error("not a readable .tar.gz archive: {0}")]
    Corrupt(String),
    /// A path that would leave the directory.
    #[error("entry {0:?} has an absolute path or '..': every path must stay inside the configuration")]
    Traversal(String),
    /// A path component over 255 bytes, a path over 2048 bytes, or a link target over 1024.
    #[error("entry {0:?} has a name or link target too long to unpack")]
    TooLong(String),
    /// An entry below a symbolic link or a file of the archive.
    #[error(
        "entry {path:?} is below {parent:?}, which is a {found} in the archive: entries may only be inside directories"
    )]
    ThroughLink {
        /// Entry.
        path: String,
        /// The parent that is not a directory.
        parent: String,
        /// What that parent is.
        found: &'static str,
    },
    /// A path an earlier entry already holds.
    #[error("entry {0:?} names a path an earlier entry already holds")]
    Duplicate(String),
    /// A symbolic link that leads out of the directory (or could, once what it names exists).
    #[error("entry {path:?} is a symbolic link to {target:?}, which leads outside the configuration")]
    LinkOutside {
        /// Entry.
        path: String,
        /// Its target.
        target: String,
    },
    /// A symbolic link that takes too many links to resolve.
    #[error(
        "entry {path:?} is a symbolic link to {target:?}, which takes more than {MAX_LINK_HOPS} symbolic links to resolve"
    )]
    LinkTooDeep {
        /// Entry.
        path: String,
        /// Its target.
        target: String,
    },
    /// A hard link to anything but an earlier regular file.
    #[error(
        "entry {path:?} is a hard link to {target:?}, which is not an earlier regular file of the configuration"
    )]
    HardLink {
        /// Entry.
        path: String,
        /// Its target.
        target: String,
    },
    /// Devices, FIFOs, anything but files, directories and links.
    #[error(
        "entry {path:?} is a {kind}; configurations may hold only files, directories and links within them"
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
    /// The destination holds something the archive did not create where it needs a directory
    /// (only if the destination was not empty, or something else wrote into it).
    #[error("refusing to write through {path:?}: it is a {found} on disk, not a directory of the archive")]
    OnDisk {
        /// Where.
        path: PathBuf,
        /// What is there.
        found: &'static str,
    },
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
    /// Regular files (hard links included).
    pub files: u64,
    /// Bytes of file contents.
    pub bytes: u64,
    /// Regular files named `*.tf` or `*.tf.json` (a configuration without any plans to destroy
    /// everything its state holds).
    pub terraform_files: u64,
}

/// Whether `path` names a Terraform configuration file.
pub fn is_terraform_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".tf") || n.ends_with(".tf.json"))
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

/// What the walk asks its caller to do for an accepted entry, in archive order.
enum Action<'a> {
    /// Make sure the directory exists.
    Dir(&'a Path),
    /// Write the entry's contents as a new file.
    File {
        /// Where.
        path: &'a Path,
        /// Whether any executable bit was set.
        executable: bool,
    },
    /// Make a hard link to an earlier file.
    HardLink {
        /// Where.
        path: &'a Path,
        /// The earlier file.
        target: &'a Path,
    },
}

/// A symbolic link to create once the whole archive is accepted.
struct Symlink {
    path: PathBuf,
    target: PathBuf,
}

/// The decompressed stream of an archive held in memory.
type Reader<'d> = Bounded<GzDecoder<&'d [u8]>>;

/// The one walk behind [`inspect`] and [`unpack`]: reads every entry, places it in the model,
/// hands accepted files, directories and hard links to `each`, and checks every symbolic link
/// against the finished model. Returns the symbolic links to create.
fn walk<'d>(
    data: &'d [u8],
    limits: Limits,
    mut each: impl FnMut(Action<'_>, &mut tar::Entry<'_, Reader<'d>>) -> Result<(), ArchiveError>,
) -> Result<(Summary, Vec<Symlink>), ArchiveError> {
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
    let mut tree = Tree::new();
    // Symbolic links as the archive gave them: (path, shown path, target).
    let mut links: Vec<(Vec<OsString>, String, PathBuf)> = Vec::new();
    let corrupt = |e: io::Error| {
        if e.to_string().contains("unpacks to more than") {
            ArchiveError::TooLarge(limits.max_unpacked_bytes)
        } else {
            ArchiveError::Corrupt(e.to_string())
        }
    };
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let kind = entry.header().entry_type();
        // pax/GNU extension headers are consumed by the tar crate; should one show, skip it.
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            continue;
        }
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(ArchiveError::TooManyEntries(limits.max_entries));
        }
        let raw = entry.path().map_err(corrupt)?.into_owned();
        let shown = raw.display().to_string();
        let parts = relative(&raw).ok_or_else(|| ArchiveError::Traversal(shown.clone()))?;
        if !within_name_limits(&parts) {
            return Err(ArchiveError::TooLong(shown));
        }
        let path = joined(&parts);
        let refused = |r: Refusal, shown: &str, target: Option<&Path>| match r {
            Refusal::Parent { parent, found } => ArchiveError::ThroughLink {
                path: shown.to_owned(),
                parent: parent.display().to_string(),
                found,
            },
            Refusal::Taken => ArchiveError::Duplicate(shown.to_owned()),
            Refusal::HardLinkTarget => ArchiveError::HardLink {
                path: shown.to_owned(),
                target: target.map(|t| t.display().to_string()).unwrap_or_default(),
            },
        };
        let link_target = |entry: &tar::Entry<'_, Reader<'d>>| -> Result<PathBuf, ArchiveError> {
            let target = entry.link_name().map_err(corrupt)?.map(|t| t.into_owned()).unwrap_or_default();
            if target.as_os_str().len() > MAX_TARGET_BYTES {
                return Err(ArchiveError::TooLong(shown.clone()));
            }
            Ok(target)
        };
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                tree.add_file(&parts).map_err(|r| refused(r, &shown, None))?;
                summary.files += 1;
                summary.terraform_files += u64::from(is_terraform_file(&path));
                summary.bytes = summary.bytes.saturating_add(entry.size());
                if summary.bytes > limits.max_unpacked_bytes {
                    return Err(ArchiveError::TooLarge(limits.max_unpacked_bytes));
                }
                let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                each(Action::File { path: &path, executable }, &mut entry)?;
            }
            tar::EntryType::Directory => {
                tree.add_dir(&parts).map_err(|r| refused(r, &shown, None))?;
                if !parts.is_empty() {
                    each(Action::Dir(&path), &mut entry)?;
                }
            }
            tar::EntryType::Symlink => {
                let target = link_target(&entry)?;
                let outside = || ArchiveError::LinkOutside {
                    path: shown.clone(),
                    target: target.display().to_string(),
                };
                // An empty target cannot be created, an absolute one leaves: refuse both now.
                if target.as_os_str().is_empty() || target.is_absolute() {
                    return Err(outside());
                }
                tree.add_symlink(&parts, &target).map_err(|r| refused(r, &shown, None))?;
                links.push((parts, shown, target));
            }
            tar::EntryType::Link => {
                let target = link_target(&entry)?;
                let wrong =
                    || ArchiveError::HardLink { path: shown.clone(), target: target.display().to_string() };
                let target_parts = relative(&target).ok_or_else(wrong)?;
                // The entry's own parents first, so a hard link below a link reads as such.
                tree.add_hard_link(&parts, &target_parts).map_err(|r| refused(r, &shown, Some(&target)))?;
                summary.files += 1;
                summary.terraform_files += u64::from(is_terraform_file(&path));
                each(Action::HardLink { path: &path, target: &joined(&target_parts) }, &mut entry)?;
            }
            tar::EntryType::Char => return Err(ArchiveError::Kind { path: shown, kind: "character device" }),
            tar::EntryType::Block => return Err(ArchiveError::Kind { path: shown, kind: "block device" }),
            tar::EntryType::Fifo => return Err(ArchiveError::Kind { path: shown, kind: "FIFO" }),
            _ => return Err(ArchiveError::Kind { path: shown, kind: "special entry" }),
        }
    }
    // Links last: an entry after a link can change where it leads.
    let mut symlinks = Vec::with_capacity(links.len());
    for (parts, shown, target) in links {
        match tree.resolve_link(&parts, &target) {
            Ok(()) => symlinks.push(Symlink { path: joined(&parts), target }),
            Err(LinkRefusal::Outside) => {
                return Err(ArchiveError::LinkOutside { path: shown, target: target.display().to_string() });
            }
            Err(LinkRefusal::TooDeep) => {
                return Err(ArchiveError::LinkTooDeep { path: shown, target: target.display().to_string() });
            }
        }
    }
    Ok((summary, symlinks))
}

/// Check an archive without writing anything.
pub fn inspect(data: &[u8], limits: Limits) -> Result<Summary, ArchiveError> {
    let (summary, _) = walk(data, limits, |action, entry| {
        if let Action::File { .. } = action {
            io::copy(entry, &mut io::sink()).map_err(|e| {
                if e.to_string().contains("unpacks to more than") {
                    ArchiveError::TooLarge(limits.max_unpacked_bytes)
                } else {
                    ArchiveError::Corrupt(e.to_string())
                }
            })?;
        }
        Ok(())
    })?;
    Ok(summary)
}

/// Make sure every parent of `rel` below `dest` is a real directory on disk (creating missing
/// ones), never a symbolic link: the model says so, and the disk must agree.
fn real_parents(dest: &Path, rel: &Path) -> Result<(), ArchiveError> {
    let mut here = dest.to_path_buf();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        here.push(part);
        real_dir(&here)?;
    }
    Ok(())
}

/// Make sure `path` is a real directory, creating it if missing.
fn real_dir(path: &Path) -> Result<(), ArchiveError> {
    match fs::create_dir(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(ArchiveError::Io { path: path.to_owned(), source }),
    }
    let meta =
        fs::symlink_metadata(path).map_err(|source| ArchiveError::Io { path: path.to_owned(), source })?;
    let kind = meta.file_type();
    if kind.is_dir() {
        Ok(())
    } else {
        let found = if kind.is_symlink() {
            "symbolic link"
        } else if kind.is_file() {
            "file"
        } else {
            "special file"
        };
        Err(ArchiveError::OnDisk { path: path.to_owned(), found })
    }
}

/// Unpack below `dest` (which must exist and should be empty).
pub fn unpack(data: &[u8], dest: &Path, limits: Limits) -> Result<Summary, ArchiveError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { path, source }
    };
    let (summary, symlinks) = walk(data, limits, |action, entry| {
        match action {
            Action::Dir(rel) => {
                real_parents(dest, rel)?;
                real_dir(&dest.join(rel))?;
            }
            Action::File { path: rel, executable } => {
                real_parents(dest, rel)?;
                let target = dest.join(rel);
                // O_EXCL: never follows a link, never replaces anything.
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(io_err(&target))?;
                io::copy(entry, &mut out).map_err(|e| {
                    if e.to_string().contains("unpacks to more than") {
                        ArchiveError::TooLarge(limits.max_unpacked_bytes)
                    } else {
                        ArchiveError::Io { path: target.clone(), source: e }
                    }
                })?;
                use std::os::unix::fs::PermissionsExt as _;
                // Keep the executable bit; never setuid/setgid/sticky or group/other write.
                // On the open file, not the path: nothing is followed.
                let mode = if executable { 0o755 } else { 0o644 };
                out.set_permissions(fs::Permissions::from_mode(mode)).map_err(io_err(&target))?;
            }
            Action::HardLink { path: rel, target: original } => {
                real_parents(dest, rel)?;
                real_parents(dest, original)?;
                let (link, original) = (dest.join(rel), dest.join(original));
                // The model says it is a file of this archive; the disk must agree.
                let meta = fs::symlink_metadata(&original).map_err(io_err(&original))?;
                if !meta.file_type().is_file() {
                    return Err(ArchiveError::OnDisk { path: original, found: "not a regular file" });
                }
                // link(2) without AT_SYMLINK_FOLLOW: a link at `original` would not be followed.
                fs::hard_link(&original, &link).map_err(io_err(&link))?;
            }
        }
        Ok(())
    })?;
    for link in symlinks {
        real_parents(dest, &link.path)?;
        let at = dest.join(&link.path);
        std::os::unix::fs::symlink(&link.target, &at).map_err(io_err(&at))?;
    }
    Ok(summary)
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

    /// An entry: path, kind, contents, link target.
    type E<'a> = (&'a str, tar::EntryType, &'a [u8], Option<&'a str>);

    fn archive(entries: &[E<'_>]) -> Vec<u8> {
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

    use tar::EntryType::{Char, Directory, Fifo, Link, Regular, Symlink};

    /// A scratch destination `<tmp>/cfg`, with `<tmp>/outside` next to it.
    fn scratch() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("cfg");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        (dir, dest)
    }

    /// Everything below `dir`, without following links.
    fn listing(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if fs::symlink_metadata(&path).unwrap().is_dir() {
                    todo.push(path.clone());
                }
                out.push(path);
            }
        }
        out.sort();
        out
    }

    /// Unpack into a fresh scratch directory and check that inspect agrees, that nothing
    /// appeared outside the destination, and that every link on disk resolves inside it (or to
    /// nothing). Returns unpack's result.
    fn unpack_checked(data: &[u8]) -> Result<Summary, ArchiveError> {
        let (dir, dest) = scratch();
        let inspected = inspect(data, Limits::default());
        let unpacked = unpack(data, &dest, Limits::default());
        match (&inspected, &unpacked) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "the same refusal"),
            (a, b) => panic!("inspect says {a:?}, unpack says {b:?}"),
        }
        let outside: Vec<_> = listing(dir.path())
            .into_iter()
            .filter(|p| !p.starts_with(&dest) && !p.ends_with("outside"))
            .collect();
        assert!(outside.is_empty(), "written outside: {outside:?}");
        assert!(listing(&dir.path().join("outside")).is_empty());
        let real = dest.canonicalize().unwrap();
        for path in listing(&dest) {
            if let Ok(to) = path.canonicalize() {
                assert!(to.starts_with(&real), "{path:?} leads to {to:?}");
            }
        }
        unpacked
    }

    #[test]
    fn hostile_archives_are_refused_before_anything_escapes() {
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("absolute", archive(&[("/etc/passwd", Regular, b"x", None)]), "absolute path or '..'"),
            ("dotdot", archive(&[("a/../../x", Regular, b"x", None)]), "absolute path or '..'"),
            ("dotdot inside", archive(&[("a/../x", Regular, b"x", None)]), "absolute path or '..'"),
            ("symlink out", archive(&[("l", Symlink, b"", Some("../../etc"))]), "outside the configuration"),
            ("symlink up", archive(&[("l", Symlink, b"", Some(".."))]), "outside the configuration"),
            (
                "absolute symlink",
                archive(&[("l", Symlink, b"", Some("/etc/passwd"))]),
                "outside the configuration",
            ),
            (
                "absolute symlink inside",
                archive(&[("a", Regular, b"", None), ("l", Symlink, b"", Some("/a"))]),
                "outside the configuration",
            ),
            ("empty symlink", archive(&[("l", Symlink, b"", Some(""))]), "outside the configuration"),
            (
                "write through a link",
                archive(&[("d", Symlink, b"", Some(".")), ("d/x", Regular, b"x", None)]),
                "is below \"d\", which is a symbolic link",
            ),
            (
                "write below a file",
                archive(&[("f", Regular, b"x", None), ("f/x", Regular, b"x", None)]),
                "which is a file",
            ),
            ("hard link out", archive(&[("h", Link, b"", Some("/etc/passwd"))]), "is a hard link to"),
            ("hard link to nothing", archive(&[("h", Link, b"", Some("main.tf"))]), "is a hard link to"),
            ("device", archive(&[("dev", Char, b"", None)]), "character device"),
            ("fifo", archive(&[("p", Fifo, b"", None)]), "FIFO"),
            ("not gzip", b"plain text".to_vec(), "not a readable"),
        ];
        for (name, data, expected) in cases {
            let err = unpack_checked(&data).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    /// Issue 15: `d -> .` is harmless on its own, but a path through `d/d/…/..` reaches the
    /// parent of the destination. Before, the check resolved targets lexically (`d/d/..` looks
    /// like `d`) and both sides let a later entry write outside.
    #[test]
    fn issue_15_chains_through_a_link_to_the_root_are_refused() {
        let d = ("d", Symlink, &b""[..], Some("."));
        let cases: Vec<(&str, Vec<E<'_>>, &str)> = vec![
            (
                "link through the chain",
                vec![d, ("e", Symlink, b"", Some("d/d/.."))],
                "\"e\" is a symbolic link",
            ),
            (
                "deeper chain",
                vec![d, ("e", Symlink, b"", Some("d/d/d/d/d/d/../escape.tf"))],
                "\"e\" is a symbolic link",
            ),
            ("entry through the chain", vec![d, ("d/d/../x.tf", Regular, b"x", None)], "'..'"),
            ("entry below the link", vec![d, ("d/d/x.tf", Regular, b"x", None)], "which is a symbolic link"),
            (
                "then written through",
                vec![d, ("e", Symlink, b"", Some("d/d/..")), ("e/x.tf", Regular, b"x", None)],
                "which is a symbolic link",
            ),
            (
                "a link two steps away",
                vec![("a", Symlink, b"", Some("b/..")), ("b", Symlink, b"", Some("d/d/..")), d],
                "outside the configuration",
            ),
        ];
        for (name, entries, expected) in cases {
            let err = unpack_checked(&archive(&entries)).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
        // `d -> .` alone, or followed inside, is a valid configuration.
        let fine = archive(&[d, ("x.tf", Regular, b"x", None), ("e", Symlink, b"", Some("d/d/x.tf"))]);
        assert_eq!(unpack_checked(&fine).unwrap().files, 1);
    }

    /// A link is judged against the whole archive: a later entry can change where an earlier
    /// link leads, and a dangling link must not be one that escapes once its target exists.
    #[test]
    fn links_are_judged_against_the_finished_tree() {
        let refused: Vec<(&str, Vec<E<'_>>)> = vec![
            (
                "later link reroutes",
                vec![("l", Symlink, b"", Some("a/../x")), ("a", Symlink, b"", Some("."))],
            ),
            ("dangling, climbs once created", vec![("l", Symlink, b"", Some("missing/../.."))]),
            ("through a file, climbs", vec![("f", Regular, b"", None), ("l", Symlink, b"", Some("f/../.."))]),
            ("loop", vec![("a", Symlink, b"", Some("b")), ("b", Symlink, b"", Some("a"))]),
            ("self", vec![("a", Symlink, b"", Some("a/x"))]),
        ];
        for (name, entries) in refused {
            assert!(unpack_checked(&archive(&entries)).is_err(), "{name}");
        }
        let accepted: Vec<(&str, Vec<E<'_>>)> = vec![
            (
                "link before its target",
                vec![("l", Symlink, b"", Some("sub/x.tf")), ("sub/x.tf", Regular, b"", None)],
            ),
            ("dangling inside", vec![("l", Symlink, b"", Some("missing/x.tf"))]),
            ("dangling, back to the root", vec![("l", Symlink, b"", Some("missing/../x.tf"))]),
        ];
        for (name, entries) in accepted {
            unpack_checked(&archive(&entries)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn links_to_directories_are_accepted_only_inside() {
        let tree = |link: &'static str| {
            archive(&[
                ("modules/", Directory, b"", None),
                ("modules/net/", Directory, b"", None),
                ("modules/net/main.tf", Regular, b"# net", None),
                ("envs/prod/", Directory, b"", None),
                ("envs/prod/net", Symlink, b"", Some(link)),
            ])
        };
        let (_dir, dest) = scratch();
        unpack(&tree("../../modules/net"), &dest, Limits::default()).unwrap();
        assert_eq!(fs::read_to_string(dest.join("envs/prod/net/main.tf")).unwrap(), "# net");
        for inside in ["../../modules/net/..", "../../modules", "../..", ".."] {
            unpack_checked(&tree(inside)).unwrap_or_else(|e| panic!("{inside}: {e}"));
        }
        for outside in ["../../..", "../../modules/../..", "../../../cfg/modules/net"] {
            let err = unpack_checked(&tree(outside)).unwrap_err().to_string();
            assert!(err.contains("\"envs/prod/net\" is a symbolic link"), "{outside}: {err}");
        }
        // Through another link to a directory: `..` goes to the parent of where it led.
        let via = archive(&[
            ("a/b/c/", Directory, b"", None),
            ("x", Symlink, b"", Some("a/b/c")),
            ("y", Symlink, b"", Some("x/../../..")),
            ("z", Symlink, b"", Some("x/../../../..")),
        ]);
        let err = unpack_checked(&via).unwrap_err().to_string();
        assert!(err.contains("\"z\" is a symbolic link to \"x/../../../..\""), "{err}");
    }

    #[test]
    fn hard_links_must_name_an_earlier_regular_file_inside() {
        let a = ("a.tf", Regular, &b"shared"[..], None);
        let (_dir, dest) = scratch();
        let ok = archive(&[a, ("sub/b.tf", Link, b"", Some("./a.tf"))]);
        assert_eq!(
            unpack(&ok, &dest, Limits::default()).unwrap(),
            Summary { files: 2, bytes: 6, terraform_files: 2 }
        );
        assert_eq!(fs::read(dest.join("sub/b.tf")).unwrap(), b"shared");
        let cases: Vec<(&str, Vec<E<'_>>)> = vec![
            ("absolute", vec![a, ("b", Link, b"", Some("/etc/passwd"))]),
            ("dotdot", vec![a, ("b", Link, b"", Some("../a.tf"))]),
            ("later file", vec![("b", Link, b"", Some("a.tf")), a]),
            ("directory", vec![("sub/", Directory, b"", None), ("b", Link, b"", Some("sub"))]),
            ("symlink", vec![a, ("l", Symlink, b"", Some("a.tf")), ("b", Link, b"", Some("l"))]),
            ("through a symlink", vec![a, ("d", Symlink, b"", Some(".")), ("b", Link, b"", Some("d/a.tf"))]),
            ("itself", vec![a, ("a.tf", Link, b"", Some("a.tf"))]),
        ];
        for (name, entries) in cases {
            let err = unpack_checked(&archive(&entries)).unwrap_err().to_string();
            assert!(
                err.contains("hard link") || err.contains("earlier entry already holds"),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn a_path_is_taken_once_and_directories_may_repeat() {
        let twice = archive(&[("a", Regular, b"1", None), ("./a", Regular, b"2", None)]);
        assert!(unpack_checked(&twice).unwrap_err().to_string().contains("\"./a\" names a path"));
        let over_dir = archive(&[("a/x", Regular, b"", None), ("a", Symlink, b"", Some("."))]);
        assert!(matches!(unpack_checked(&over_dir), Err(ArchiveError::Duplicate(_))));
        let root = archive(&[("./", Directory, b"", None), (".", Regular, b"", None)]);
        assert!(matches!(unpack_checked(&root), Err(ArchiveError::Duplicate(_))));
        let dirs = archive(&[
            ("./", Directory, b"", None),
            ("a/x", Regular, b"", None),
            ("a/", Directory, b"", None),
            ("a", Directory, b"", None),
        ]);
        assert_eq!(unpack_checked(&dirs).unwrap().files, 1);
    }

    #[test]
    fn a_deep_chain_of_links_stops_at_forty() {
        let mut names: Vec<(String, String)> = vec![("l0".into(), "sub".into())];
        for i in 1..45 {
            names.push((format!("l{i}"), format!("l{}", i - 1)));
        }
        let chain = |upto: usize| {
            let mut entries: Vec<E<'_>> = vec![("sub/", Directory, b"", None)];
            entries.extend(
                names[..=upto].iter().map(|(n, t)| (n.as_str(), Symlink, &b""[..], Some(t.as_str()))),
            );
            archive(&entries)
        };
        // l39 -> l38 -> … -> l0 -> sub: forty links, as the kernel counts them from l39.
        unpack_checked(&chain(39)).unwrap();
        let err = unpack_checked(&chain(40)).unwrap_err().to_string();
        assert!(err.contains("\"l40\" is a symbolic link to \"l39\", which takes more than 40"), "{err}");
        // Long chains of components with few links stay bounded too.
        let long = format!("{}sub", "./".repeat(40));
        unpack_checked(&archive(&[("sub/", Directory, b"", None), ("l", Symlink, b"", Some(&long))]))
            .unwrap();
    }

    /// The model trusts nothing on disk: a destination that already holds links is never
    /// written through, whatever the archive says.
    #[test]
    fn links_already_on_disk_are_never_written_through() {
        let (dir, dest) = scratch();
        let outside = dir.path().join("outside");
        std::os::unix::fs::symlink(&outside, dest.join("x")).unwrap();
        std::os::unix::fs::symlink(outside.join("y.tf"), dest.join("y.tf")).unwrap();
        let below = archive(&[("x/f.tf", Regular, b"x", None)]);
        let err = unpack(&below, &dest, Limits::default()).unwrap_err();
        assert!(matches!(&err, ArchiveError::OnDisk { found: "symbolic link", .. }), "{err}");
        let over = archive(&[("y.tf", Regular, b"x", None)]);
        let err = unpack(&over, &dest, Limits::default()).unwrap_err();
        assert!(matches!(&err, ArchiveError::Io { .. }), "{err}");
        assert!(listing(&outside).is_empty());
    }

    /// Random archives over a small alphabet of names and targets: inspect and unpack agree,
    /// and nothing is written or linked outside (the fuzz target checks the same, longer).
    #[test]
    fn random_archives_agree_and_stay_inside() {
        const NAMES: [&str; 8] = ["a", "b", "d", "a/b", "d/d", "d/x", "b/c/d", "a/../b"];
        const TARGETS: [&str; 9] = [".", "..", "a", "d/d/..", "b/..", "../cfg", "a/b/../..", "x", "d"];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..300 {
            let entries: Vec<E<'_>> = (0..1 + next(5))
                .map(|_| {
                    let name = NAMES[next(NAMES.len())];
                    match next(4) {
                        0 => (name, Directory, &b""[..], None),
                        1 => (name, Regular, &b"x"[..], None),
                        2 => (name, Link, &b""[..], Some(NAMES[next(NAMES.len())])),
                        _ => (name, Symlink, &b""[..], Some(TARGETS[next(TARGETS.len())])),
                    }
                })
                .collect();
            match unpack_checked(&archive(&entries)) {
                Ok(_) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
        assert!(accepted > 30 && refused > 30, "{accepted} accepted, {refused} refused");
    }

    #[test]
    fn limits_stop_bombs_and_floods() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let bomb = archive(&[("big", Regular, &zeros, None)]);
        assert!(bomb.len() < 20_000, "compresses well: {}", bomb.len());
        let limits = Limits { max_unpacked_bytes: 1024 * 1024, max_entries: 10 };
        assert!(matches!(inspect(&bomb, limits), Err(ArchiveError::TooLarge(_))));
        let many: Vec<(String, tar::EntryType, &[u8], Option<&str>)> =
            (0..11).map(|i| (format!("f{i}"), Regular, &b"x"[..], None)).collect();
        let refs: Vec<E<'_>> = many.iter().map(|(p, k, d, l)| (p.as_str(), *k, *d, *l)).collect();
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
