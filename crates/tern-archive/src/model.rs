//! The archive's own model of the tree it unpacks: every entry is placed in it before anything is
//! written, so [`crate::inspect`] and [`crate::unpack`] take every decision from the same code
//! and cannot disagree. Symbolic links are resolved here the way the kernel will resolve them
//! once they are on disk (following links in the tree, `..` after a link going to the parent of
//! where the link led), against the whole archive, not only the entries before them.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed in one resolution before giving up (Linux's own limit, so a link
/// the model accepts is one the kernel can follow).
pub(crate) const MAX_LINK_HOPS: usize = 40;
/// Path components walked in one resolution before giving up: keeps the check linear in the
/// archive's size, whatever chains of links it holds.
pub(crate) const MAX_RESOLVE_STEPS: usize = 4096;
/// Longest name of one path component (the kernel's `NAME_MAX`).
pub(crate) const MAX_NAME_BYTES: usize = 255;
/// Longest relative path of an entry: with the destination's own path it stays far below the
/// kernel's `PATH_MAX` (4096).
pub(crate) const MAX_PATH_BYTES: usize = 2048;
/// Longest target of a symbolic link or hard link.
pub(crate) const MAX_TARGET_BYTES: usize = 1024;

/// One node of the tree.
enum Node {
    /// A directory the archive created (an entry, or the parent of one).
    Dir(BTreeMap<OsString, Node>),
    /// A regular file (or a hard link to one).
    File,
    /// A symbolic link, with its target exactly as the archive gave it.
    Symlink(PathBuf),
}

/// Why the model refuses to place an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A parent component is a symbolic link (`found` = "symbolic link") or a file.
    Parent { parent: PathBuf, found: &'static str },
    /// The path is already taken (or is the root itself).
    Taken,
    /// A hard link whose target is not an earlier regular file reached through directories.
    HardLinkTarget,
}

/// Why a symbolic link is refused once the whole tree is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkRefusal {
    /// It resolves (or, dangling, would resolve) outside the root.
    Outside,
    /// More than [`MAX_LINK_HOPS`] links, or more than [`MAX_RESOLVE_STEPS`] components.
    TooDeep,
}

/// The tree an archive builds, rooted at the destination.
pub(crate) struct Tree {
    root: BTreeMap<OsString, Node>,
}

/// A relative path, normalised: `None` if it is absolute or has a `..` component.
pub(crate) fn relative(path: &Path) -> Option<Vec<OsString>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The components as a path.
pub(crate) fn joined(parts: &[OsString]) -> PathBuf {
    parts.iter().collect()
}

/// Whether a path (components) is within the name and length limits.
pub(crate) fn within_name_limits(parts: &[OsString]) -> bool {
    let total: usize = parts.iter().map(|p| p.len() + 1).sum();
    total <= MAX_PATH_BYTES + 1 && parts.iter().all(|p| p.len() <= MAX_NAME_BYTES)
}

impl Tree {
    pub(crate) fn new() -> Self {
        Self { root: BTreeMap::new() }
    }

    /// The parent directory of `path`, creating missing directories; refuses a parent that is
    /// a link or a file.
    fn parent_mut(&mut self, path: &[OsString]) -> Result<&mut BTreeMap<OsString, Node>, Refusal> {
        let mut dir = &mut self.root;
        let mut seen = PathBuf::new();
        let parents = path.split_last().map_or(&[][..], |(_, parents)| parents);
        for part in parents {
            seen.push(part);
            let node = dir.entry(part.clone()).or_insert_with(|| Node::Dir(BTreeMap::new()));
            dir = match node {
                Node::Dir(children) => children,
                Node::File => return Err(Refusal::Parent { parent: seen, found: "file" }),
                Node::Symlink(_) => return Err(Refusal::Parent { parent: seen, found: "symbolic link" }),
            };
        }
        Ok(dir)
    }

    /// A directory entry: an existing directory is fine (archives list a directory after
    /// files that created it, or twice).
    pub(crate) fn add_dir(&mut self, path: &[OsString]) -> Result<(), Refusal> {
        let Some(name) = path.last() else { return Ok(()) }; // the root itself
        let dir = self.parent_mut(path)?;
        match dir.get(name) {
            None => {
                dir.insert(name.clone(), Node::Dir(BTreeMap::new()));
                Ok(())
            }
            Some(Node::Dir(_)) => Ok(()),
            Some(_) => Err(Refusal::Taken),
        }
    }

    /// A regular file: its path must be new.
    pub(crate) fn add_file(&mut self, path: &[OsString]) -> Result<(), Refusal> {
        self.add_new(path, Node::File)
    }

    /// A symbolic link: its path must be new. Its target is checked by [`Tree::resolve_link`]
    /// once the whole archive is known.
    pub(crate) fn add_symlink(&mut self, path: &[OsString], target: &Path) -> Result<(), Refusal> {
        self.add_new(path, Node::Symlink(target.to_owned()))
    }

    /// A hard link: its target must name a regular file already in the tree, reached through
    /// directories only (no link is followed); its path must be new.
    pub(crate) fn add_hard_link(&mut self, path: &[OsString], target: &[OsString]) -> Result<(), Refusal> {
        let mut dir = &self.root;
        let Some((name, parents)) = target.split_last() else { return Err(Refusal::HardLinkTarget) };
        for part in parents {
            match dir.get(part) {
                Some(Node::Dir(children)) => dir = children,
                _ => return Err(Refusal::HardLinkTarget),
            }
        }
        if !matches!(dir.get(name), Some(Node::File)) {
            return Err(Refusal::HardLinkTarget);
        }
        self.add_new(path, Node::File)
    }

    fn add_new(&mut self, path: &[OsString], node: Node) -> Result<(), Refusal> {
        let Some(name) = path.last() else { return Err(Refusal::Taken) }; // the root itself
        let dir = self.parent_mut(path)?;
        if dir.contains_key(name) {
            return Err(Refusal::Taken);
        }
        dir.insert(name.clone(), node);
        Ok(())
    }

    /// Resolve the symbolic link at `link` (whose parents are directories of the tree) as the
    /// kernel would, and refuse it if it leads outside the root. A link that does not resolve
    /// to anything (dangling, or through a file) is refused if the rest of its path, read
    /// lexically from where resolution stopped, would climb out once the missing parts exist.
    pub(crate) fn resolve_link(&self, link: &[OsString], target: &Path) -> Result<(), LinkRefusal> {
        // The directories from the root down to where resolution stands.
        let mut stack: Vec<&BTreeMap<OsString, Node>> = vec![&self.root];
        let parents = link.split_last().map_or(&[][..], |(_, parents)| parents);
        for part in parents {
            match stack.last().and_then(|d| d.get(part)) {
                Some(Node::Dir(children)) => stack.push(children),
                // Parents are directories by construction; anything else is refused anyway.
                _ => return Err(LinkRefusal::Outside),
            }
        }
        let mut pending: Vec<Step<'_>> = Vec::new(); // reversed: the next step is last
        push_target(&mut pending, target)?;
        // The link itself counts, as when the kernel meets it in a path.
        let (mut hops, mut steps) = (1usize, 0usize);
        while let Some(step) = pending.pop() {
            steps += 1;
            if steps > MAX_RESOLVE_STEPS {
                return Err(LinkRefusal::TooDeep);
            }
            match step {
                Step::Up => {
                    if stack.len() <= 1 {
                        return Err(LinkRefusal::Outside);
                    }
                    stack.pop();
                }
                Step::Down(name) => match stack.last().and_then(|d| d.get(name)) {
                    Some(Node::Dir(children)) => stack.push(children),
                    Some(Node::Symlink(next)) => {
                        hops += 1;
                        if hops > MAX_LINK_HOPS {
                            return Err(LinkRefusal::TooDeep);
                        }
                        push_target(&mut pending, next)?;
                    }
                    Some(Node::File) if pending.is_empty() => return Ok(()),
                    Some(Node::File) | None => {
                        // Resolution stops here; what is left is read lexically.
                        // Depth below the root, counting the component that is not there.
                        let mut depth = stack.len();
                        while let Some(rest) = pending.pop() {
                            match rest {
                                Step::Down(_) => depth += 1,
                                Step::Up => {
                                    if depth == 0 {
                                        return Err(LinkRefusal::Outside);
                                    }
                                    depth -= 1;
                                }
                            }
                        }
                        return Ok(());
                    }
                },
            }
        }
        Ok(())
    }
}

/// One step of a resolution.
#[derive(Clone, Copy)]
enum Step<'a> {
    Up,
    Down(&'a OsStr),
}

/// Push a link target's steps so that its first component is popped first. An absolute target
/// leaves the root.
fn push_target<'a>(pending: &mut Vec<Step<'a>>, target: &'a Path) -> Result<(), LinkRefusal> {
    let start = pending.len();
    for c in target.components() {
        match c {
            Component::Normal(p) => pending.push(Step::Down(p)),
            Component::ParentDir => pending.push(Step::Up),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(LinkRefusal::Outside),
        }
    }
    pending[start..].reverse();
    Ok(())
}
