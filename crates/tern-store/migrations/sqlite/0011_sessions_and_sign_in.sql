-- Sign-in: a user's identity at the identity provider (issuer and subject), server-side sessions
-- (so every replica knows them and a sign-out or a revocation holds everywhere), sign-ins in
-- flight (the OAuth state, the nonce, the PKCE verifier sealed, where to return, bound to the
-- browser that started it), and the authorization codes of `terraform login`. Secrets are
-- stored as SHA-256 hashes, the verifier as ciphertext.
-- Keep in step with ../postgres/0011_sessions_and_sign_in.sql.
ALTER TABLE users ADD COLUMN identity TEXT;
-- Who created a token, as TFE's `created-by` names it (`users:<id>`, `teams:<id>`,
-- `organizations:<name>`).
ALTER TABLE tokens ADD COLUMN created_by TEXT;
CREATE UNIQUE INDEX users_by_identity ON users (identity);

CREATE TABLE sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    hash BLOB NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    token_id TEXT REFERENCES tokens(id) ON DELETE CASCADE
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_end ON sessions (expires_at);

CREATE TABLE signin_attempts (
    state_hash BLOB PRIMARY KEY,
    browser_hash BLOB NOT NULL,
    nonce TEXT NOT NULL,
    verifier BLOB NOT NULL,
    return_to TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX signin_attempts_by_end ON signin_attempts (expires_at);

CREATE TABLE authorization_codes (
    code_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    challenge TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX authorization_codes_by_end ON authorization_codes (expires_at);
