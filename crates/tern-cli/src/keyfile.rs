//! Key files on disk: reading them with errors that name the file, warning about loose
//! permissions, and writing new ones with mode 0600 without ever leaving a partial file.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use tern_identity::{KeyError, KeyRing, PublicJwk, SigningKey};
use zeroize::Zeroizing;

use crate::settings::KeySources;

/// A key file is a few KiB; refuse to read anything much larger.
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// Read a key file. `what` names it in errors ("signing key", "public key", …).
pub fn read(what: &str, path: &Path, private: bool) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let shown = path.display();
    let meta = fs::metadata(path).map_err(|e| anyhow!("{what} {shown}: cannot read it: {e}"))?;
    if meta.is_dir() {
        bail!("{what} {shown}: is a directory, not a key file");
    }
    if meta.len() > MAX_KEY_FILE {
        bail!("{what} {shown}: is {} bytes; a key file is a few KiB", meta.len());
    }
    let mode = meta.permissions().mode() & 0o777;
    if private && mode & 0o077 != 0 {
        tracing::warn!(
            "{what} {shown} is readable by other users (mode {mode:04o}); restrict it with: chmod 600 {shown}"
        );
    }
    let bytes = fs::read(path).map_err(|e| anyhow!("{what} {shown}: cannot read it: {e}"))?;
    Ok(Zeroizing::new(bytes))
}

/// Load the key that signs.
pub fn load_signing_key(sources: &KeySources) -> anyhow::Result<SigningKey> {
    let path = sources.signing.first().context("no signing key configured")?;
    let pem = read("signing key", path, true)?;
    let mut key = SigningKey::from_pem(&pem).with_context(|| format!("signing key {}", path.display()))?;
    if let Some(public) = &sources.public {
        let public_pem = read("public key", public, false)?;
        key.check_public_pem(&public_pem).with_context(|| {
            format!("public key {} (for signing key {})", public.display(), path.display())
        })?;
    }
    if let Some(kid) = &sources.kid {
        key = key.with_kid(kid.clone());
    }
    Ok(key)
}

/// Load a key that is only published: a private key file (its public half is kept) or a
/// public key file.
pub fn load_published_key(path: &Path) -> anyhow::Result<PublicJwk> {
    let pem = read("published key", path, false)?;
    match SigningKey::from_pem(&pem) {
        Ok(key) => Ok(key.public_jwk().clone()),
        Err(KeyError::NoPrivateKey { .. }) => {
            PublicJwk::from_spki_pem(&pem).with_context(|| format!("published key {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("published key {}", path.display())),
    }
}

/// Load the signing key and the published keys into a ring.
pub fn load_ring(sources: &KeySources) -> anyhow::Result<KeyRing> {
    let signing = load_signing_key(sources)?;
    let published =
        sources.signing.iter().skip(1).map(|p| load_published_key(p)).collect::<anyhow::Result<Vec<_>>>()?;
    KeyRing::new(signing, published).with_context(|| {
        let paths: Vec<String> = sources.signing.iter().map(|p| p.display().to_string()).collect();
        format!("--signing-key {}", paths.join(", "))
    })
}

/// Write `contents` to `path` with `mode`. Without `force`, refuse to replace an existing
/// file. With `force`, write a temporary file in the same directory and rename it over `path`.
pub fn write_new(path: &Path, contents: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    let shown = path.display();
    if path.is_dir() {
        bail!("cannot write {shown}: it is a directory");
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.exists() && !parent.is_dir() {
        bail!("cannot write {shown}: {} is not a directory", parent.display());
    }
    if !parent.exists() {
        bail!("cannot write {shown}: directory {} does not exist (create it first)", parent.display());
    }
    let write = |target: &Path, create_new: bool| -> std::io::Result<()> {
        let mut options = OpenOptions::new();
        options.write(true).mode(mode);
        if create_new {
            options.create_new(true);
        } else {
            options.create(true).truncate(true);
        }
        let mut file = options.open(target)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    if !force {
        return write(path, true).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow!("{shown} already exists; use --force to replace it"),
            _ => anyhow!("cannot write {shown}: {e}"),
        });
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = parent.join(format!(".{name}.tern-tmp-{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    let result = write(&temp, true).and_then(|()| fs::rename(&temp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        bail!("cannot write {shown}: {e}");
    }
    Ok(())
}
