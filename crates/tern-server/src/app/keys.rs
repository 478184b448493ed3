//! The installation's signing keys: list, rotate, retire, and the JWKS they publish. The TFE
//! API's `/api/v2/admin/signing-keys…` and `/api/v2/admin/jwks`, and the web UI's admin page,
//! act through these functions: only site administrators (the admin token, or a user with
//! `site_admin`) may, and every change goes to the audit trail.

use std::time::Duration;

use tern_identity::IssuerDocuments;
use tern_store::ManagedKey;

use crate::api::{ApiError, ApiState, Caller, Scope};
use crate::keys::ManagedKeys;

/// The managed key ring, for a site administrator (the decision every key action makes first).
pub(crate) fn managed<'a>(s: &'a ApiState, caller: &Caller) -> Result<&'a ManagedKeys, ApiError> {
    caller.check_admin()?;
    s.keys.as_deref().ok_or_else(|| {
        ApiError::conflict(
            "this server signs with key files (--signing-key); rotate them by restarting with the next key listed second (see `tern serve --help`), or start it with --managed-keys",
        )
    })
}

/// The keys, signing key first.
pub(crate) async fn list(s: &ApiState, caller: &Caller) -> Result<Vec<ManagedKey>, ApiError> {
    Ok(managed(s, caller)?.list().await?)
}

/// Publish the next key, signing `activate_in` from now (None: the server's publish lead).
pub(crate) async fn rotate(
    s: &ApiState,
    caller: &Caller,
    activate_in: Option<Duration>,
) -> Result<ManagedKey, ApiError> {
    let keys = managed(s, caller)?;
    let lead = activate_in.unwrap_or(keys.rotation().lead);
    // The key and the record of who published it commit together.
    let record = |details| ApiState::event(caller, "key.rotated", Scope::default(), details);
    Ok(keys.rotate(s.store.unix_now(), lead, record).await?)
}

/// Retire key `kid` (and take it out of the JWKS at once with `unpublish`); the keys after.
pub(crate) async fn retire(
    s: &ApiState,
    caller: &Caller,
    kid: &str,
    unpublish: bool,
) -> Result<Vec<ManagedKey>, ApiError> {
    let keys = managed(s, caller)?;
    let details = serde_json::json!({ "kid": kid, "unpublished": unpublish });
    let event = ApiState::event(caller, "key.retired", Scope::default(), details);
    keys.retire(s.store.unix_now(), kid, unpublish, &event).await?;
    Ok(keys.list().await?)
}

/// The public JWKS the issuer serves at `/.well-known/jwks`, byte for byte — the signing key,
/// a next key and retired keys still published — for a cloud that is given it instead of
/// fetching it (a private issuer). Built from the ring the signer holds, which is the ring the
/// documents are built from (managed keys swap both together); public keys only.
pub(crate) fn jwks(s: &ApiState, caller: &Caller) -> Result<Vec<u8>, ApiError> {
    caller.check_admin()?;
    let ring = s.signer.ring.load();
    Ok(IssuerDocuments::build(&s.signer.issuer, &ring, &s.signer.policy).jwks().to_vec())
}
