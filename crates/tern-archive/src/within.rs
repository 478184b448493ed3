//! [`resolve_within`]: a relative path resolved below a directory on the real filesystem, the
//! way the kernel would, refusing any step that leaves the directory. The runner uses it for a
//! workspace's working directory, which it then writes into (variables, backend override,
//! state): a path that merely looks relative can lead anywhere through symbolic links.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::model::{MAX_LINK_HOPS, joined};

/// Why a path cannot be resolved inside its directory.
#[derive(Debug, thiserror::Error)]
pub enum WithinError {
    /// The path given is absolute.
    #[error("{path:?} is an absolute path; it must be relative to the configuration")]
    Absolute {
        /// The path given.
        path: String,
    },
    /// A step leads outside: `..` at the top, or a symbolic link out.
    #[error("{path:?} leads outside the configuration: {step}")]
    Outside {
        /// The path given.
        path: String,
        /// The step that leaves, in words.
        step: String,
    },
    /// Too many symbolic links.
    #[error("{path:?} takes more than {MAX_LINK_HOPS} symbolic links to resolve")]
    TooDeep {
        /// The path given.
        path: String,
    },
    /// A component does not exist.
    #[error("{path:?} does not exist in the configuration (there is no {at:?})")]
    NotFound {
        /// The path given.
        path: String,
        /// Where resolution stopped, relative to the directory.
        at: PathBuf,
    },
    /// A component is not a directory.
    #[error("{path:?} is not a directory of the configuration ({at:?} is a {found})")]
    NotADirectory {
        /// The path given.
        path: String,
        /// Where resolution stopped, relative to the directory.
        at: PathBuf,
        /// What it is.
        found: &'static str,
    },
    /// The filesystem refused a read.
    #[error("reading {at:?}: {source}")]
    Io {
        /// What was read.
        at: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

/// One step of a resolution, owned (link targets are read from disk as it goes).
enum Step {
    Up,
    Down(OsString),
}

/// Push `path`'s steps so that its first component is popped first; `false` if it is absolute.
fn push(pending: &mut Vec<Step>, path: &Path) -> bool {
    let start = pending.len();
    for c in path.components() {
        match c {
            Component::Normal(p) => pending.push(Step::Down(p.to_owned())),
            Component::ParentDir => pending.push(Step::Up),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                pending.truncate(start);
                return false;
            }
        }
    }
    pending[start..].reverse();
    true
}

/// Resolve `relative` below `root` on the real filesystem and return the directory it names,
/// as `root` joined with components that are all real directories (no symbolic link left in
/// it). Symbolic links are followed as the kernel would (at most [`MAX_LINK_HOPS`]); `..`
/// goes to the parent of where the path stands after a link; an absolute link target is
/// followed only if it lies under `root`'s canonical path. Any step that would leave `root`,
/// a missing component, or one that is not a directory is an error naming it.
///
/// `root` itself is trusted (the caller made it). Nothing else may change the tree while this
/// runs; resolve again after anything untrusted has run in it.
pub fn resolve_within(root: &Path, relative: &str) -> Result<PathBuf, WithinError> {
    let shown = || relative.to_owned();
    let mut pending = Vec::new();
    if !push(&mut pending, Path::new(relative)) {
        return Err(WithinError::Absolute { path: shown() });
    }
    let real_root =
        fs::canonicalize(root).map_err(|source| WithinError::Io { at: root.to_owned(), source })?;
    let mut here: Vec<OsString> = Vec::new();
    // The hop bound also bounds the work: at most 41 paths of at most PATH_MAX bytes.
    let mut hops = 0usize;
    while let Some(step) = pending.pop() {
        let name = match step {
            Step::Up => {
                if here.pop().is_none() {
                    return Err(WithinError::Outside {
                        path: shown(),
                        step: "'..' above the top of the configuration".to_owned(),
                    });
                }
                continue;
            }
            Step::Down(name) => name,
        };
        let mut rel = joined(&here);
        rel.push(&name);
        let at = root.join(&rel);
        let meta = match fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(WithinError::NotFound { path: shown(), at: rel });
            }
            Err(source) => return Err(WithinError::Io { at, source }),
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            here.push(name);
        } else if kind.is_symlink() {
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(WithinError::TooDeep { path: shown() });
            }
            let target = fs::read_link(&at).map_err(|source| WithinError::Io { at: at.clone(), source })?;
            if target.is_absolute() {
                // Absolute: acceptable only if it names a place under the root.
                let Ok(rest) = target.strip_prefix(&real_root) else {
                    return Err(WithinError::Outside {
                        path: shown(),
                        step: format!("the symbolic link {rel:?} points to {target:?}"),
                    });
                };
                here.clear();
                push(&mut pending, rest);
            } else {
                push(&mut pending, &target);
            }
        } else {
            let found = if kind.is_file() { "file" } else { "special file" };
            return Err(WithinError::NotADirectory { path: shown(), at: rel, found });
        }
    }
    Ok(if here.is_empty() { root.to_path_buf() } else { root.join(joined(&here)) })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A scratch tree: `<tmp>/outside/`, `<tmp>/config/` with `sub/inner/`, `main.tf`.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("config");
        fs::create_dir_all(root.join("sub/inner")).unwrap();
        fs::create_dir_all(tmp.path().join("outside")).unwrap();
        fs::write(root.join("main.tf"), "").unwrap();
        (tmp, root)
    }

    #[test]
    fn paths_inside_resolve_to_real_directories() {
        let (_tmp, root) = tree();
        symlink(".", root.join("d")).unwrap();
        symlink("sub/inner", root.join("m")).unwrap();
        symlink("m/..", root.join("up")).unwrap(); // `..` after a link: the parent of sub/inner
        let real = fs::canonicalize(&root).unwrap();
        symlink(real.join("sub"), root.join("abs")).unwrap();
        for (given, expected) in [
            ("", ""),
            (".", ""),
            ("sub", "sub"),
            ("sub/./inner/", "sub/inner"),
            ("sub/inner/..", "sub"),
            ("d/d/d/sub", "sub"),
            ("m", "sub/inner"),
            ("up", "sub"),
            ("d/m/../..", ""),
            ("abs/inner", "sub/inner"),
        ] {
            let got = resolve_within(&root, given).unwrap_or_else(|e| panic!("{given:?}: {e}"));
            assert_eq!(got, root.join(expected), "{given:?}");
        }
    }

    #[test]
    fn every_way_out_is_refused_with_what_left() {
        let (tmp, root) = tree();
        symlink(".", root.join("d")).unwrap();
        symlink("d/d/..", root.join("e")).unwrap(); // the chain of issue 15
        symlink("../outside", root.join("out")).unwrap();
        symlink(tmp.path().join("outside"), root.join("abs")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let cases: [(&str, &str); 10] = [
            ("/etc", "absolute"),
            ("..", "'..' above the top"),
            ("sub/../..", "'..' above the top"),
            ("d/d/../..", "'..' above the top"),
            ("e", "'..' above the top"),
            ("e/config", "'..' above the top"),
            ("out", "'..' above the top"),
            ("abs", "points to"),
            ("loop", "more than 40 symbolic links"),
            ("main.tf", "is a file"),
        ];
        for (given, expected) in cases {
            let err = resolve_within(&root, given).unwrap_err().to_string();
            assert!(err.contains(expected), "{given:?}: {err}");
            assert!(err.contains(&format!("{given:?}")), "{given:?}: the message names the path: {err}");
        }
        let err = resolve_within(&root, "sub/nope/x").unwrap_err().to_string();
        assert!(err.contains("there is no \"sub/nope\""), "{err}");
    }

    #[test]
    fn a_deep_chain_is_followed_to_the_bound_and_no_further() {
        let (_tmp, root) = tree();
        // l0 -> sub, l1 -> l0, ..., l39 -> l38: 40 links to follow from l39.
        symlink("sub", root.join("l0")).unwrap();
        for i in 1..45 {
            symlink(format!("l{}", i - 1), root.join(format!("l{i}"))).unwrap();
        }
        assert_eq!(resolve_within(&root, "l39").unwrap(), root.join("sub"));
        let err = resolve_within(&root, "l40").unwrap_err().to_string();
        assert!(err.contains("more than 40 symbolic links"), "{err}");
    }
}
