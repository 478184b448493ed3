//! tern's persistent store, on SQLite (embedded, the default) or PostgreSQL (several replicas).
//!
//! One schema in two flavours (`migrations/sqlite`, `migrations/postgres`), applied on
//! [`Store::open`]; every query is written once, with `$N` parameters that both backends accept,
//! and runs through sqlx's `Any` driver. Times are unix seconds from the injected clock.
//!
//! The store owns the rules that must hold whatever the caller does: names unique per
//! organization, sensitive values only as ciphertext, tokens only as hashes, one active run per
//! workspace, a job claimed by exactly one agent — and only by a runner its rules allow
//! (`claims.rs`: agent pools, the server's workers, Terraform versions) —, run states moving only
//! along TFE's edges.
//! It knows nothing of HTTP.

mod audit;
mod claims;
mod crypto;
mod keys;
mod migrate;
mod notify;
mod pools;
mod records;
mod runs;
mod sessions;
mod state;
mod teams;
mod tokens;
mod variables;
mod workspaces;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor as _};
use tern_types::{Clock, unix_seconds};

pub use audit::{Audit, AuditEvent, AuditFilter, AuditInput, AuditWriter, MintCondition};
pub use crypto::{Cipher, CryptoError, EncryptionKey, token_hash};
pub use keys::{KeyState, ManagedKey};
pub use migrate::MigrationStatus;
pub use notify::{KeyChanges, RunChanges};
pub use pools::{CurrentJob, PoolAgentStatus};
pub use records::*;
pub use runs::JobOutcome;
pub use sessions::{AuthorizationCode, MembershipChanges, Session, SigninAttempt};
pub use state::{
    MAX_STATE_BYTES, StateError, StateHeader, managed_resources, md5_hex, parse_state, parse_state_header,
};
pub use teams::{Holder, OWNERS, Team, TeamChanges, TeamProject, TeamWorkspace, User};
pub use tokens::AdminBootstrap;
pub use variables::{MAX_VALUE_BYTES, valid_variable_name};
pub use workspaces::{DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, check_tag};

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (WAL).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist (or the caller may not see it).
    #[error("{what} {id:?} not found")]
    NotFound {
        /// Kind of resource.
        what: &'static str,
        /// Its id or name.
        id: String,
    },
    /// The change conflicts with what is stored (a name taken, a run in the wrong state).
    #[error("{0}")]
    Conflict(String),
    /// The input is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The database URL is not one tern can use.
    #[error(
        "database URL {0:?} is not supported: use sqlite://PATH (embedded) or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedUrl(String),
    /// A migration failed or the schema is newer than this tern.
    #[error("migrating the database: {0}")]
    Migration(String),
    /// Encryption at rest.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Conflict("it already exists".into());
        }
        Self::Database(e)
    }
}

pub(crate) fn not_found(what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound { what, id: id.to_owned() }
}

/// A page of a list: 1-based number and size (TFE's `page[number]`, `page[size]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based.
    pub number: u32,
    /// Items per page.
    pub size: u32,
}

impl Default for Page {
    fn default() -> Self {
        Self { number: 1, size: 20 }
    }
}

impl Page {
    /// Largest page size served.
    pub const MAX_SIZE: u32 = 100;

    pub(crate) fn limit(self) -> i64 {
        i64::from(self.size.clamp(1, Self::MAX_SIZE))
    }

    pub(crate) fn offset(self) -> i64 {
        i64::from(self.number.max(1) - 1) * self.limit()
    }
}

/// Items of one page and the total count.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    /// The items.
    pub items: Vec<T>,
    /// How many there are in all.
    pub total: u64,
    /// The page served.
    pub page: Page,
}

impl<T> Paged<T> {
    /// Page `items` (all of them, already in order) in memory: for short lists filtered by
    /// the caller, not by a query.
    pub fn in_memory(items: Vec<T>, page: Page) -> Self {
        let total = items.len() as u64;
        let size = usize::try_from(page.limit()).unwrap_or(usize::MAX);
        let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        Self { items: items.into_iter().skip(skip).take(size).collect(), total, page }
    }
}

/// The store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    cipher: Arc<Cipher>,
    url_key: Arc<aws_lc_rs::hmac::Key>,
    clock: Arc<dyn Clock>,
    /// The database URL (PostgreSQL: a listener connects separately).
    url: Arc<str>,
    /// Runs that changed in this process (a log appended, a status moved): see `notify.rs`.
    runs_changed: tokio::sync::broadcast::Sender<Arc<str>>,
    /// Callers' grants, parsed, per organization's grants version: see [`Store::grants`].
    grants: Arc<teams::GrantsCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// `sqlite://PATH`, as documented, creates the file on first start: sqlx's SQLite driver only
/// opens existing files unless the URL asks for `mode=rwc`. A URL that names a mode keeps it.
fn sqlite_create_mode(url: &str) -> std::borrow::Cow<'_, str> {
    if !url.starts_with("sqlite:") || url.contains("mode=") || url.contains(":memory:") {
        return url.into();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc").into()
}

/// The setting that proves the key-encryption key is the one the database was set up with.
const KEK_CHECK: &str = "kek-check";

impl Store {
    /// Connect to `url`, apply migrations, and check the key-encryption key.
    pub async fn open(url: &str, key: &EncryptionKey, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        install_default_drivers();
        let (backend, connections) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, 4)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, 10)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let mut options =
            AnyPoolOptions::new().max_connections(connections).acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            // A connection to a local file cannot go stale: pinging it on every acquire (sqlx's
            // default) cost two thread hand-offs per query, half the mint endpoint's time.
            options = options.test_before_acquire(false).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;").await?;
                    Ok(())
                })
            });
        }
        let url = sqlite_create_mode(url);
        let pool = options.connect(&url).await.map_err(StoreError::Database)?;
        migrate::run(&pool, backend).await?;
        let cipher = Arc::new(Cipher::new(key)?);
        let url_key = Arc::new(key.derive_hmac_key("tern signed URLs"));
        let store = Self {
            pool,
            backend,
            cipher,
            url_key,
            clock,
            url: Arc::from(url.as_ref()),
            runs_changed: notify::run_bell(),
            grants: Arc::default(),
        };
        store.check_key().await?;
        let sealed = store.seal_legacy().await?;
        if sealed > 0 {
            tracing::info!(
                "sealed {sealed} state files and saved plans stored in the clear by an earlier tern"
            );
        }
        Ok(store)
    }

    /// Connect to an existing database without changing it (no migrations, no setup): for
    /// `tern doctor`. A SQLite file that does not exist is an error, not created. Returns the
    /// store when the schema is current, and the migration status either way.
    pub async fn inspect(
        url: &str,
        key: Option<&EncryptionKey>,
        clock: Arc<dyn Clock>,
    ) -> Result<(MigrationStatus, Option<Self>), StoreError> {
        install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if !std::path::Path::new(path).exists() {
                return Err(StoreError::Invalid(format!(
                    "the SQLite database {path} does not exist (tern serve creates it on its first start)"
                )));
            }
            (Backend::Sqlite, format!("sqlite://{path}?mode=ro"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&url)
            .await
            .map_err(StoreError::Database)?;
        let status = migrate::status(&pool, backend).await?;
        let store = match key {
            Some(key) if status.is_current() => {
                let cipher = Arc::new(Cipher::new(key)?);
                let url_key = Arc::new(key.derive_hmac_key("tern signed URLs"));
                let store = Self {
                    pool,
                    backend,
                    cipher,
                    url_key,
                    clock,
                    url: Arc::from(url.as_str()),
                    runs_changed: notify::run_bell(),
                    grants: Arc::default(),
                };
                if let Some(sealed) = store.setting(KEK_CHECK).await? {
                    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed)
                        .map_err(|_| StoreError::Crypto(CryptoError::Open))?;
                    store.cipher.open(KEK_CHECK, &bytes).map_err(|_| {
                        StoreError::Invalid(
                            "the key-encryption key is not the one this database was set up with".into(),
                        )
                    })?;
                }
                Some(store)
            }
            _ => None,
        };
        Ok((status, store))
    }

    /// A signature of `message` (hex HMAC-SHA256 under a key derived from the encryption key,
    /// so every replica agrees), for capability URLs such as log-read URLs.
    pub fn sign(&self, message: &str) -> String {
        aws_lc_rs::hmac::sign(&self.url_key, message.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` is [`Store::sign`] of `message` (constant time).
    pub fn verify_signature(&self, message: &str, signature: &str) -> bool {
        let bytes: Option<Vec<u8>> = (0..signature.len())
            .step_by(2)
            .map(|i| signature.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        bytes.is_some_and(|b| aws_lc_rs::hmac::verify(&self.url_key, message.as_bytes(), &b).is_ok())
    }

    /// The current time, unix seconds.
    pub fn unix_now(&self) -> i64 {
        self.now()
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool (for health checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn now(&self) -> i64 {
        i64::try_from(unix_seconds(self.clock.now())).unwrap_or(i64::MAX)
    }

    async fn check_key(&self) -> Result<(), StoreError> {
        match self.setting(KEK_CHECK).await? {
            Some(sealed) => {
                let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed)
                    .map_err(|_| StoreError::Crypto(CryptoError::Open))?;
                self.cipher.open(KEK_CHECK, &bytes).map_err(|_| {
                    StoreError::Invalid("the key-encryption key is not the one this database was set up with: sensitive variables and managed keys cannot be read. Start tern with the original key (TERN_ENCRYPTION_KEY or --encryption-key-file).".into())
                })?;
            }
            None => {
                let sealed = self.cipher.seal(KEK_CHECK, b"tern")?;
                let text = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sealed);
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(KEK_CHECK)
                .bind(text)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// A setting of the installation.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let value: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.map(|v| v.0))
    }
}

/// `(seq/total)` helper for counts, which come back as `i64` on both backends.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A query text assembled from this crate's constants (column lists, fixed filters), never
/// from input: every value is a bound parameter.
impl Store {
    /// Every row of every table as text, table by table in name order, rows sorted: one line per
    /// row, columns joined by `|`, binary columns in hex. For operators' forensics and for the
    /// tests that prove bad input changed nothing and that no secret is stored in the clear.
    /// Reads everything: not for request paths.
    pub async fn dump(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        use sqlx::Row as _;
        let tables: Vec<String> = match self.backend {
            Backend::Sqlite => sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            ),
            Backend::Postgres => sqlx::query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
            ),
        }
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(tables.len());
        for table in tables {
            // Names come from the catalogue, not from a caller; quote them anyway.
            let quoted = format!("\"{}\"", table.replace('"', "\"\""));
            // (name, whether it holds bytes)
            let columns: Vec<(String, bool)> = match self.backend {
                Backend::Sqlite => sqlx::query(sql(format!(
                    "SELECT name, 0 AS binary FROM pragma_table_info('{}') ORDER BY cid",
                    table.replace('\'', "''")
                )))
                .fetch_all(&self.pool)
                .await?,
                Backend::Postgres => sqlx::query(
                    "SELECT column_name::text AS name, CASE WHEN data_type = 'bytea' THEN 1 ELSE 0 END AS binary \
                     FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(&table)
                .fetch_all(&self.pool)
                .await?,
            }
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("name")?, r.try_get::<i32, _>("binary")? != 0)))
            .collect::<Result<_, sqlx::Error>>()?;
            let cells: Vec<String> = columns
                .iter()
                .map(|(c, binary)| {
                    let c = format!("\"{}\"", c.replace('"', "\"\""));
                    match (self.backend, binary) {
                        (Backend::Sqlite, _) => format!(
                            "CASE WHEN typeof({c}) = 'blob' THEN 'x' || hex({c}) ELSE coalesce(CAST({c} AS TEXT), 'NULL') END"
                        ),
                        (Backend::Postgres, true) => {
                            format!("coalesce('x' || upper(encode({c}, 'hex')), 'NULL')")
                        }
                        (Backend::Postgres, false) => format!("coalesce({c}::text, 'NULL')"),
                    }
                })
                .collect();
            let joined = if cells.is_empty() { "''".to_owned() } else { cells.join(" || '|' || ") };
            let mut rows: Vec<String> = sqlx::query(sql(format!("SELECT {joined} AS row FROM {quoted}")))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("row"))
                .collect::<Result<_, _>>()?;
            rows.sort();
            out.push((table, rows));
        }
        Ok(out)
    }
}

pub(crate) fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// A boolean column: BOOLEAN on PostgreSQL, a 0/1 INTEGER on SQLite (sqlx's `Any` driver does
/// not decode SQLite's BOOLEAN).
pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row as _;
    row.try_get::<bool, _>(column).or_else(|_| row.try_get::<i64, _>(column).map(|v| v != 0))
}

/// A nullable boolean column.
pub(crate) fn flag_opt(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<bool>, sqlx::Error> {
    use sqlx::Row as _;
    row.try_get::<Option<bool>, _>(column)
        .or_else(|_| row.try_get::<Option<i64>, _>(column).map(|v| v.map(|v| v != 0)))
}

#[cfg(test)]
mod tests {
    use super::sqlite_create_mode;

    #[test]
    fn sqlite_urls_create_their_file_unless_they_name_a_mode() {
        assert_eq!(
            sqlite_create_mode("sqlite:///var/lib/tern/tern.db"),
            "sqlite:///var/lib/tern/tern.db?mode=rwc"
        );
        assert_eq!(sqlite_create_mode("sqlite://t.db?cache=shared"), "sqlite://t.db?cache=shared&mode=rwc");
        assert_eq!(sqlite_create_mode("sqlite://t.db?mode=ro"), "sqlite://t.db?mode=ro");
        assert_eq!(sqlite_create_mode("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(sqlite_create_mode("postgres://u@h/db"), "postgres://u@h/db");
    }
}
