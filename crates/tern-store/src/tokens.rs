//! Bearer tokens: created once (the caller shows the token to the user, once), stored as a
//! SHA-256, checked on every request. Job tokens die with their job.

use sqlx::Row as _;
use sqlx::any::AnyRow;
use tern_types::SecretString;

use crate::audit::Audit;
use crate::crypto::{new_id, new_token_secret, token_hash};
use crate::{AuditInput, Store, StoreError, Token, TokenKind, not_found, sql};

pub(crate) const COLUMNS: &str = "id, kind, organization_id, job_id, agent_pool_id, user_id, team_id, created_by, description, expires_at, created_at, last_used_at";

pub(crate) fn token(row: &AnyRow) -> Result<Token, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(Token {
        id: row.try_get("id")?,
        kind: TokenKind::parse(&kind).unwrap_or(TokenKind::Job),
        organization_id: row.try_get("organization_id")?,
        job_id: row.try_get("job_id")?,
        agent_pool_id: row.try_get("agent_pool_id")?,
        user_id: row.try_get("user_id")?,
        team_id: row.try_get("team_id")?,
        created_by: row.try_get("created_by")?,
        description: row.try_get("description")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// The prefix of each kind's tokens, so a leaked token says what it is (and secret scanners
/// can match it).
fn prefix(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Admin => "tern-admin",
        TokenKind::Organization => "tern-org",
        TokenKind::Agent => "tern-agent",
        TokenKind::Job => "tern-job",
        TokenKind::User => "tern-user",
        TokenKind::Team => "tern-team",
    }
}

/// What [`Store::bootstrap_admin_token`] did.
#[derive(Debug)]
pub enum AdminBootstrap {
    /// TERN_ADMIN_TOKEN is the admin token; `revoked` other admin tokens were revoked.
    Given {
        /// How many.
        revoked: u64,
    },
    /// An admin token existed (an earlier start, or a replica that started at the same time).
    Existing,
    /// The first start: this new token, to show once.
    Created(SecretString),
}

impl Store {
    /// Create a token; the secret is returned here and never again. What the server makes for
    /// itself (a job's token, its workers'); a token someone asks for is made by a function
    /// that records who did, in the same transaction.
    pub async fn create_token(
        &self,
        kind: TokenKind,
        organization_id: Option<&str>,
        job_id: Option<&str>,
        description: &str,
        expires_at: Option<i64>,
    ) -> Result<(Token, SecretString), StoreError> {
        let secret = new_token_secret(prefix(kind))?;
        let row = NewToken {
            kind,
            organization_id,
            job_id,
            agent_pool_id: None,
            description,
            expires_at,
            created_by: None,
        };
        self.insert_token(&row, &secret, None::<fn(&Token) -> AuditInput>).await
    }

    /// Create a token of `kind` for organization `organization_id` (an organization token, or
    /// an agent token not bound to a pool), recording who made it (`created_by`, as TFE names
    /// a creator: `users:<id>`, `teams:<id>`, `organizations:<name>`) and, in the same
    /// transaction, `audit`. The secret is returned here and never again.
    pub async fn create_organization_scoped_token(
        &self,
        kind: TokenKind,
        organization_id: &str,
        description: &str,
        expires_at: Option<i64>,
        created_by: Option<&str>,
        audit: impl Audit<Token>,
    ) -> Result<(Token, SecretString), StoreError> {
        let secret = new_token_secret(prefix(kind))?;
        let row = NewToken {
            kind,
            organization_id: Some(organization_id),
            job_id: None,
            agent_pool_id: None,
            description,
            expires_at,
            created_by,
        };
        self.insert_token(&row, &secret, Some(audit)).await
    }

    /// Create an agent token bound to agent pool `pool_id`: it claims the jobs of the pool's
    /// workspaces and nothing else, recording who made it (`created_by`, as in
    /// [`Store::create_organization_scoped_token`]) and `audit`. The secret is returned here and
    /// never again.
    pub async fn create_pool_token(
        &self,
        pool_id: &str,
        description: &str,
        expires_at: Option<i64>,
        created_by: Option<&str>,
        audit: impl Audit<Token>,
    ) -> Result<(Token, SecretString), StoreError> {
        let pool = self.agent_pool(pool_id).await?;
        let secret = new_token_secret(prefix(TokenKind::Agent))?;
        let row = NewToken {
            kind: TokenKind::Agent,
            organization_id: Some(&pool.organization_id),
            job_id: None,
            agent_pool_id: Some(&pool.id),
            description,
            expires_at,
            created_by,
        };
        self.insert_token(&row, &secret, Some(audit)).await
    }

    /// The tokens of an agent pool, oldest first.
    pub async fn list_pool_tokens(&self, pool_id: &str) -> Result<Vec<Token>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM tokens WHERE kind = 'agent' AND agent_pool_id = $1 ORDER BY seq"
        )))
        .bind(pool_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(token).collect::<Result<_, _>>()?)
    }

    async fn insert_token(
        &self,
        new: &NewToken<'_>,
        secret: &str,
        audit: Option<impl Audit<Token>>,
    ) -> Result<(Token, SecretString), StoreError> {
        let id = new_id("at")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tokens (id, hash, kind, organization_id, job_id, agent_pool_id, description, expires_at, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $9, $6, $7, $8, $10)")
            .bind(&id)
            .bind(token_hash(secret))
            .bind(new.kind.as_str())
            .bind(new.organization_id)
            .bind(new.job_id)
            .bind(new.description)
            .bind(new.expires_at)
            .bind(self.now())
            .bind(new.agent_pool_id)
            .bind(new.created_by)
            .execute(&mut *tx)
            .await?;
        let created = token_on(&mut tx, &id).await?;
        if let Some(audit) = audit {
            self.audit_in(&mut tx, &audit(&created)).await?;
        }
        tx.commit().await?;
        Ok((created, SecretString::new(secret.to_owned())))
    }

    /// A token's record.
    pub async fn token(&self, id: &str) -> Result<Token, StoreError> {
        token_on(&mut *self.pool.acquire().await?, id).await
    }

    /// The record of a presented token, if it exists and has not expired.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<Token>, StoreError> {
        let row = sqlx::query(sql(format!("SELECT {COLUMNS} FROM tokens WHERE hash = $1")))
            .bind(token_hash(presented))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let t = token(&row)?;
        let now = self.now();
        if t.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        if t.kind != TokenKind::Job && t.last_used_at.is_none_or(|at| at < now - 15) {
            // When a token was last used (token lists; when an agent was last seen, for `tern
            // doctor`): written at most every 15 s, and only then, so that polling takes no
            // write lock.
            sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
                .bind(now)
                .bind(&t.id)
                .bind(now - 15)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(t))
    }

    /// Agent tokens used since `since` (unix seconds): `(description, last used)`, newest first.
    pub async fn agents_seen_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT description, last_used_at FROM tokens WHERE kind = 'agent' AND last_used_at IS NOT NULL AND last_used_at >= $1 ORDER BY last_used_at DESC",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The admin token at start, safe when replicas start at the same instant on one database
    /// (each step runs under one row lock, so the second replica sees what the first did):
    /// - `given` (TERN_ADMIN_TOKEN) becomes *the* admin token: registered if new, and every other
    ///   admin token is revoked, so that rotating the variable invalidates the old token (and the
    ///   one created on first start);
    /// - otherwise, the first start creates one and returns its secret (shown once); later
    ///   starts, and a replica that lost the race, find it and create none.
    pub async fn bootstrap_admin_token(
        &self,
        given: Option<&SecretString>,
    ) -> Result<AdminBootstrap, StoreError> {
        if let Some(secret) = given
            && secret.len() < 32
        {
            return Err(StoreError::Invalid("a token must be at least 32 characters long".into()));
        }
        let mut tx = self.pool.begin().await?;
        // The lock: a write first, so that on SQLite this transaction holds the write lock from
        // its start, and on PostgreSQL a concurrent bootstrap waits on the row until we commit.
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ('lock:admin-bootstrap', '') \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .execute(&mut *tx)
        .await?;
        let outcome = match given {
            Some(secret) => {
                let hash = token_hash(secret.expose_secret());
                // A TERN_ADMIN_TOKEN that a newer one replaced: a replica still configured with
                // it (restarted mid-rollout, or forgotten) must not take the admin token back
                // from the replicas that have the new one.
                let tombstone = format!("rotated-admin-token:{}", tombstone_of(&hash));
                let rotated: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
                    .bind(&tombstone)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some((when,)) = rotated {
                    return Err(StoreError::Conflict(format!(
                        "this TERN_ADMIN_TOKEN was replaced by a newer one (at unix time {when}); give this replica the current TERN_ADMIN_TOKEN"
                    )));
                }
                let known: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM tokens WHERE hash = $1 AND kind = 'admin'")
                        .bind(&hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                if known.is_none() {
                    let other: Option<(String,)> = sqlx::query_as("SELECT kind FROM tokens WHERE hash = $1")
                        .bind(&hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if other.is_some() {
                        return Err(StoreError::Invalid(
                            "this token is already another kind of token; choose a new random one".into(),
                        ));
                    }
                    sqlx::query("INSERT INTO tokens (id, hash, kind, description, created_at) VALUES ($1, $2, 'admin', 'from TERN_ADMIN_TOKEN', $3)")
                        .bind(new_id("at")?)
                        .bind(&hash)
                        .bind(self.now())
                        .execute(&mut *tx)
                        .await?;
                }
                // The replaced admin tokens: remembered (as hashes of their hashes), then revoked.
                let replaced: Vec<(Vec<u8>,)> =
                    sqlx::query_as("SELECT hash FROM tokens WHERE kind = 'admin' AND hash <> $1")
                        .bind(&hash)
                        .fetch_all(&mut *tx)
                        .await?;
                for (old,) in &replaced {
                    sqlx::query(
                        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(format!("rotated-admin-token:{}", tombstone_of(old)))
                    .bind(self.now().to_string())
                    .execute(&mut *tx)
                    .await?;
                }
                let revoked = sqlx::query("DELETE FROM tokens WHERE kind = 'admin' AND hash <> $1")
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if revoked > 0 {
                    // The installation's own act, recorded with it.
                    let details = serde_json::json!({"kind": "admin", "count": revoked, "reason": "a new TERN_ADMIN_TOKEN"});
                    self.audit_in(&mut tx, &AuditInput::system("token.revoked", details)).await?;
                }
                AdminBootstrap::Given { revoked }
            }
            None => {
                let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tokens WHERE kind = 'admin'")
                    .fetch_one(&mut *tx)
                    .await?;
                if n.0 > 0 {
                    AdminBootstrap::Existing
                } else {
                    let secret = new_token_secret(prefix(TokenKind::Admin))?;
                    sqlx::query("INSERT INTO tokens (id, hash, kind, description, created_at) VALUES ($1, $2, 'admin', 'created on first start', $3)")
                        .bind(new_id("at")?)
                        .bind(token_hash(&secret))
                        .bind(self.now())
                        .execute(&mut *tx)
                        .await?;
                    AdminBootstrap::Created(SecretString::new(secret.to_string()))
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// The API tokens (every kind but job tokens) of an organization, or all of them (`None`:
    /// admin tokens and the server's own workers' too), oldest first.
    pub async fn list_api_tokens(&self, organization_id: Option<&str>) -> Result<Vec<Token>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM tokens WHERE kind <> 'job' AND ($1 = '' OR organization_id = $1) ORDER BY seq"
        )))
        .bind(organization_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(token).collect::<Result<_, _>>()?)
    }

    /// Tokens of a kind (and organization), oldest first.
    pub async fn list_tokens(
        &self,
        kind: TokenKind,
        organization_id: Option<&str>,
    ) -> Result<Vec<Token>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM tokens WHERE kind = $1 AND ($2 = '' OR organization_id = $2) ORDER BY seq"
        )))
        .bind(kind.as_str())
        .bind(organization_id.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(token).collect::<Result<_, _>>()?)
    }

    /// Revoke a token, recording `audit` in the same transaction.
    pub async fn revoke_token(&self, id: &str, audit: &AuditInput) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM tokens WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(not_found("token", id));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The columns of a token to insert.
struct NewToken<'a> {
    kind: TokenKind,
    organization_id: Option<&'a str>,
    job_id: Option<&'a str>,
    agent_pool_id: Option<&'a str>,
    description: &'a str,
    expires_at: Option<i64>,
    created_by: Option<&'a str>,
}

/// A token's record, read on `conn` (a transaction's, to see what it wrote).
pub(crate) async fn token_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Token, StoreError> {
    let row = sqlx::query(sql(format!("SELECT {COLUMNS} FROM tokens WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("token", id))?;
    Ok(token(&row)?)
}

/// What a replaced admin token is remembered by: a hash of its stored hash, base64url (the
/// settings table holds text, and even the stored hash is not kept twice).
fn tombstone_of(hash: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(token_hash(&base64::engine::general_purpose::STANDARD.encode(hash)))
}
