//! Signing in: sessions, sign-ins in flight, `terraform login`'s authorization codes, and the
//! users and team memberships an identity provider vouches for.
//!
//! Rules held here: a session, a sign-in attempt and an authorization code are stored as the
//! SHA-256 of their secret, so a copy of the database signs nobody in; a session ends at its
//! absolute expiry, or earlier when idle longer than the caller's limit, and deleting it (sign
//! out; ending it by its public id, which ends only a session of the user named; or the user's
//! deletion) ends it on every replica at once; a sign-in attempt and a code are used at most
//! once (taken: read and deleted in one statement), only before they expire, and an attempt
//! only by the browser that started it.

use sqlx::Row as _;
use tern_types::SecretString;

use crate::audit::Audit;
use crate::crypto::{new_id, new_token_secret, token_hash};
use crate::teams::{OWNERS, User};
use crate::{AuditInput, Store, StoreError};

/// A session record (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `ses-…`: names it in lists and the audit trail.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, updated at most once a minute.
    pub last_seen_at: i64,
    /// Absolute end, unix seconds.
    pub expires_at: i64,
}

/// A sign-in in flight, taken back at the callback.
#[derive(Debug)]
pub struct SigninAttempt {
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub verifier: SecretString,
    /// Where to send the browser afterwards (a path of this server).
    pub return_to: String,
}

/// An authorization code of `terraform login`, taken back at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// Whose token it becomes.
    pub user_id: String,
    /// The client that asked (`terraform-cli`).
    pub client_id: String,
    /// Where the code was sent.
    pub redirect_uri: String,
    /// The PKCE challenge (S256).
    pub challenge: String,
}

/// What a sign-in did to the user's team memberships.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipChanges {
    /// Teams joined, as `(team id, team name)`.
    pub added: Vec<(String, String)>,
    /// Teams left.
    pub removed: Vec<(String, String)>,
}

const ONE_MINUTE: i64 = 60;
/// Sign-ins started and not finished, at most (each lives 10 minutes).
const MAX_SIGNINS_IN_FLIGHT: i64 = 10_000;

impl Store {
    // ------------------------------------------------------------------------ sign-in attempts

    /// Record a sign-in in flight: `state` (sent to the provider and back) and `browser` (a
    /// cookie of the browser that started it) as hashes, the verifier sealed.
    pub async fn put_signin_attempt(
        &self,
        state: &SecretString,
        browser: &SecretString,
        nonce: &str,
        verifier: &SecretString,
        return_to: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let state_hash = token_hash(state.expose_secret());
        let context = format!("signin:{}", context_of(&state_hash));
        let sealed = self.cipher.seal(&context, verifier.expose_secret().as_bytes())?;
        // Expired attempts of abandoned sign-ins go with each new one; past a bound, new ones
        // wait (a flood of sign-in starts fills nothing).
        sqlx::query("DELETE FROM signin_attempts WHERE expires_at < $1")
            .bind(self.now())
            .execute(&self.pool)
            .await?;
        let (in_flight,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM signin_attempts").fetch_one(&self.pool).await?;
        if in_flight >= MAX_SIGNINS_IN_FLIGHT {
            return Err(StoreError::Conflict(
                "too many sign-ins are in progress; try again in a few minutes".into(),
            ));
        }
        sqlx::query("INSERT INTO signin_attempts (state_hash, browser_hash, nonce, verifier, return_to, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&state_hash)
            .bind(token_hash(browser.expose_secret()))
            .bind(nonce)
            .bind(sealed)
            .bind(return_to)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Take the sign-in `state` names, once: `None` when it is unknown, used, expired, or was
    /// started by another browser.
    pub async fn take_signin_attempt(
        &self,
        state: &str,
        browser: &str,
    ) -> Result<Option<SigninAttempt>, StoreError> {
        let state_hash = token_hash(state);
        let row = sqlx::query(
            "DELETE FROM signin_attempts WHERE state_hash = $1 RETURNING browser_hash, nonce, verifier, return_to, expires_at",
        )
        .bind(&state_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let browser_hash: Vec<u8> = row.try_get("browser_hash")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        if browser_hash != token_hash(browser) || expires_at < self.now() {
            return Ok(None);
        }
        let sealed: Vec<u8> = row.try_get("verifier")?;
        let plain = self.cipher.open(&format!("signin:{}", context_of(&state_hash)), &sealed)?;
        let verifier = String::from_utf8(plain.to_vec())
            .map_err(|_| StoreError::Invalid("a stored PKCE verifier is not text".into()))?;
        Ok(Some(SigninAttempt {
            nonce: row.try_get("nonce")?,
            verifier: SecretString::new(verifier),
            return_to: row.try_get("return_to")?,
        }))
    }

    // ------------------------------------------------------------------------ users from the provider

    /// The user the identity provider vouches for: found by `identity` (issuer and subject),
    /// else created with it. A user who exists under that name but is not linked to this
    /// identity is refused, never linked: anyone may hold any username at a provider (an
    /// administrator pre-creates a user with their identity instead). A user created here is
    /// recorded with `audit`, made from it, in the same transaction.
    pub async fn user_for_identity(
        &self,
        identity: &str,
        username: &str,
        email: &str,
        audit: impl Audit<User>,
    ) -> Result<User, StoreError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE identity = $1")
            .bind(identity)
            .fetch_optional(&self.pool)
            .await?;
        if let Some((id,)) = found {
            if !email.is_empty() {
                sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
                    .bind(&id)
                    .bind(email)
                    .execute(&self.pool)
                    .await?;
            }
            return self.user(&id).await;
        }
        match self.create_user_with_identity(username, email, false, Some(identity), audit).await {
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "the username {username:?} belongs to a user who does not sign in as this identity; an administrator can create users for the identity provider with `tern user create NAME --identity '{identity}'`"
            ))),
            other => other,
        }
    }

    /// Make the user's memberships follow the provider's groups: join every team whose
    /// `sso-team-id` is one of `groups` (or, with `by_name`, whose name is); leave every team
    /// that has an `sso-team-id` not among them. Teams without one are left only by hand (a
    /// member added by name mapping stays until removed); the owners team is joined only
    /// through an explicit `sso-team-id`.
    pub async fn sync_groups(
        &self,
        user_id: &str,
        groups: &[String],
        by_name: bool,
        audit: impl Audit<MembershipChanges>,
    ) -> Result<MembershipChanges, StoreError> {
        let teams: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT id, name, sso_team_id FROM teams ORDER BY seq")
                .fetch_all(&self.pool)
                .await?;
        let mine: Vec<(String,)> = sqlx::query_as("SELECT team_id FROM team_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        let is_member = |id: &str| mine.iter().any(|(t,)| t == id);
        let mut changes = MembershipChanges::default();
        // Read above, written here in one transaction with its record (when anything changes).
        let mut tx = self.pool.begin().await?;
        for (id, name, sso) in teams {
            let wanted = match &sso {
                Some(group) => groups.contains(group),
                None => by_name && name != OWNERS && groups.contains(&name),
            };
            if wanted && !is_member(&id) {
                sqlx::query(
                    "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
                changes.added.push((id, name));
            } else if !wanted && sso.is_some() && is_member(&id) {
                sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
                    .bind(&id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                changes.removed.push((id, name));
            }
        }
        if changes != MembershipChanges::default() {
            self.audit_in(&mut tx, &audit(&changes)).await?;
            tx.commit().await?;
        }
        Ok(changes)
    }

    // ------------------------------------------------------------------------ sessions

    /// Start a session for a user, ending at `expires_at`; its secret is returned here only.
    /// A session opened with a token (`from_token`) ends with it: revoked, or expired.
    pub async fn create_session(
        &self,
        user_id: &str,
        expires_at: i64,
        from_token: Option<&crate::Token>,
    ) -> Result<(Session, SecretString), StoreError> {
        self.insert_session(user_id, expires_at, from_token, None::<fn(&Session) -> AuditInput>).await
    }

    /// [`Store::create_session`] for a person signing in: `audit`, made from the new session,
    /// is recorded in the same transaction.
    pub async fn sign_in(
        &self,
        user_id: &str,
        expires_at: i64,
        from_token: Option<&crate::Token>,
        audit: impl Audit<Session>,
    ) -> Result<(Session, SecretString), StoreError> {
        self.insert_session(user_id, expires_at, from_token, Some(audit)).await
    }

    async fn insert_session(
        &self,
        user_id: &str,
        expires_at: i64,
        from_token: Option<&crate::Token>,
        audit: Option<impl Audit<Session>>,
    ) -> Result<(Session, SecretString), StoreError> {
        let secret = new_token_secret("tern-session")?;
        let id = new_id("ses")?;
        let now = self.now();
        let expires_at = match from_token.and_then(|t| t.expires_at) {
            Some(end) => expires_at.min(end),
            None => expires_at,
        };
        // Ended sessions whose cookie never came back go with each new one, in a transaction of
        // their own: one that also inserted would wait on the user's or token's row (the new
        // session's foreign keys) while holding expired sessions a revocation cascades to.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO sessions (id, hash, user_id, created_at, last_seen_at, expires_at, token_id) VALUES ($1, $2, $3, $4, $4, $5, $6)")
            .bind(&id)
            .bind(token_hash(&secret))
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .bind(from_token.map(|t| t.id.as_str()))
            .execute(&mut *tx)
            .await?;
        let session =
            Session { id, user_id: user_id.to_owned(), created_at: now, last_seen_at: now, expires_at };
        if let Some(audit) = audit {
            self.audit_in(&mut tx, &audit(&session)).await?;
        }
        tx.commit().await?;
        Ok((session, SecretString::new(secret.to_string())))
    }

    /// The live session `secret` opens, with its user: `None` when unknown, ended, past its
    /// absolute expiry, or idle longer than `idle_s` (then it is deleted).
    pub async fn session(&self, secret: &str, idle_s: i64) -> Result<Option<(Session, User)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE hash = $1",
        )
        .bind(token_hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut s = session_of_row(&row)?;
        let now = self.now();
        if s.expires_at <= now || s.last_seen_at.saturating_add(idle_s) <= now {
            sqlx::query("DELETE FROM sessions WHERE id = $1").bind(&s.id).execute(&self.pool).await?;
            return Ok(None);
        }
        if s.last_seen_at.saturating_add(ONE_MINUTE) <= now {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
                .bind(&s.id)
                .bind(now)
                .execute(&self.pool)
                .await?;
            s.last_seen_at = now;
        }
        let user = self.user(&s.user_id).await?;
        Ok(Some((s, user)))
    }

    /// End the session `secret` opens (sign-out); whether there was one. `audit` (a person's
    /// sign-out; none when a new sign-in replaces the browser's session) is recorded in the same
    /// transaction, when a session ended.
    pub async fn end_session(&self, secret: &str, audit: Option<&AuditInput>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(token_hash(secret))
            .execute(&mut *tx)
            .await?;
        let ended = done.rows_affected() > 0;
        if ended && let Some(audit) = audit {
            self.audit_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// The live sessions of a user, newest first: those past their absolute end or idle longer
    /// than `idle_s` are not listed (the next request with one ends it).
    pub async fn list_user_sessions(&self, user_id: &str, idle_s: i64) -> Result<Vec<Session>, StoreError> {
        let now = self.now();
        let rows = sqlx::query(
            "SELECT id, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY seq DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let s = session_of_row(&row)?;
            if s.last_seen_at.saturating_add(idle_s) > now {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// End session `id` (its public id) if it is `user_id`'s: the session ended, or `None` when
    /// that user has no session by that id (another user's is left alone).
    /// `audit`, made from the ended session, is recorded in the same transaction.
    pub async fn end_user_session(
        &self,
        user_id: &str,
        id: &str,
        audit: impl Audit<Session>,
    ) -> Result<Option<Session>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "DELETE FROM sessions WHERE id = $1 AND user_id = $2 RETURNING id, user_id, created_at, last_seen_at, expires_at",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(ended) = row.as_ref().map(session_of_row).transpose()? else { return Ok(None) };
        self.audit_in(&mut tx, &audit(&ended)).await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// End every session of a user but `keep` (its public id: the browser asking); how many.
    /// `audit`, made from that number, is recorded in the same transaction when any ended.
    pub async fn end_user_sessions_except(
        &self,
        user_id: &str,
        keep: &str,
        audit: impl Audit<u64>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep)
            .execute(&mut *tx)
            .await?;
        let ended = done.rows_affected();
        if ended > 0 {
            self.audit_in(&mut tx, &audit(&ended)).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// End every session of a user; how many. `audit`, made from that number, is recorded in
    /// the same transaction.
    pub async fn end_user_sessions(&self, user_id: &str, audit: impl Audit<u64>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        let ended = done.rows_affected();
        self.audit_in(&mut tx, &audit(&ended)).await?;
        tx.commit().await?;
        Ok(ended)
    }

    // ------------------------------------------------------------------------ authorization codes

    /// An authorization code for `terraform login`, valid until `expires_at`; returned here only.
    pub async fn create_authorization_code(
        &self,
        code: &AuthorizationCode,
        expires_at: i64,
    ) -> Result<SecretString, StoreError> {
        let secret = new_token_secret("tern-code")?;
        sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
            .bind(self.now())
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO authorization_codes (code_hash, user_id, client_id, redirect_uri, challenge, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_hash(&secret))
            .bind(&code.user_id)
            .bind(&code.client_id)
            .bind(&code.redirect_uri)
            .bind(&code.challenge)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(SecretString::new(secret.to_string()))
    }

    /// Take a code, once: `None` when unknown, used or expired.
    pub async fn take_authorization_code(&self, code: &str) -> Result<Option<AuthorizationCode>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM authorization_codes WHERE code_hash = $1 RETURNING user_id, client_id, redirect_uri, challenge, expires_at",
        )
        .bind(token_hash(code))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at < self.now() {
            return Ok(None);
        }
        Ok(Some(AuthorizationCode {
            user_id: row.try_get("user_id")?,
            client_id: row.try_get("client_id")?,
            redirect_uri: row.try_get("redirect_uri")?,
            challenge: row.try_get("challenge")?,
        }))
    }
}

/// A session read from a row with its `id, user_id, created_at, last_seen_at, expires_at`.
fn session_of_row(row: &sqlx::any::AnyRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// The sealing context of an attempt's verifier: its state hash, in base64url.
fn context_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
