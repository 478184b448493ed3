//! `tern doctor`'s checks from inside the running server, for site administrators (the admin
//! token, or a user with `site_admin`): the issuer this server signs for, its store, the key it
//! signs with now, its own discovery document and JWKS fetched at its public issuer URL as a
//! cloud fetches them, a token minted and verified against them, the runners polling it, and
//! the TLS chain served at the issuer. The checks are [`crate::doctor`]'s, the very functions
//! `tern doctor` runs from outside; what only the CLI can see (key file permissions, the
//! database's migrations before a start, a test sandbox) stays there.
//!
//! Bounded: every request to the issuer URL (a fixed URL of the operator's configuration,
//! never one a request names) and the TLS handshake give up after [`TIMEOUT`], and the
//! signature runs off the async workers.

use std::sync::Arc;
use std::time::Duration;

use tern_store::Store;
use tern_types::IssuerUrl;

use crate::api::{ApiError, ApiState, Caller};
use crate::doctor::{self, Finding, Report};

/// How long one network check may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(3);

/// The findings, in the order `tern doctor` prints them.
pub(crate) async fn run(s: &ApiState, caller: &Caller) -> Result<Vec<Finding>, ApiError> {
    caller.check_admin()?;
    Ok(checks(s, TIMEOUT).await.into_findings())
}

async fn checks(s: &ApiState, timeout: Duration) -> Report {
    let mut report = Report::default();
    let issuer = &s.signer.issuer;
    let clock = s.clock.as_ref();
    doctor::issuer_url(&mut report, issuer, "the issuer this server signs for");
    doctor::https(&mut report, issuer);
    database(&mut report, &s.store, timeout).await;

    // The key that signs now (a rotation swaps the ring; this is the one in use).
    let key = s.signer.ring.load().signing_key().clone();
    let managed = match &s.keys {
        Some(keys) => match tokio::time::timeout(timeout, keys.list()).await {
            Ok(Ok(list)) => format!("managed key ({} keys in the ring)", list.len()),
            _ => "managed key".to_owned(),
        },
        None => "key file (--signing-key)".to_owned(),
    };
    report.pass("signing key", format!("kid={} {}, {managed}", key.kid(), key.algorithm()));

    // The issuer's documents at its public URL, as a cloud fetches them.
    let jwks = match doctor::http_client(timeout, Vec::new()) {
        Ok(client) => doctor::issuer_documents(&mut report, &client, issuer, Some(key.as_ref()), clock).await,
        Err(e) => {
            report.fail(
                "discovery document",
                format!("building the HTTP client: {e}"),
                "see the server's log; this is not a configuration problem",
            );
            None
        }
    };

    // A token mints and verifies: a signature, so off the async workers.
    let (mint_issuer, mint_clock) = (issuer.clone(), Arc::clone(&s.clock));
    let minted = tokio::task::spawn_blocking(move || {
        let mut r = Report::default();
        doctor::mint_and_verify(&mut r, &mint_issuer, Some(key.as_ref()), jwks.as_ref(), mint_clock.as_ref());
        r
    })
    .await;
    match minted {
        Ok(r) => report.extend(r),
        Err(e) => {
            report.fail("mint and verify", format!("the check did not finish: {e}"), "see the server's log")
        }
    }

    doctor::agents(&mut report, Some(&s.store), clock).await;
    doctor::served_tls(&mut report, issuer, timeout, true, clock).await;
    report
}

/// The store answers (the server migrated it and checked its encryption key when it started).
async fn database(report: &mut Report, store: &Store, timeout: Duration) {
    let backend = match store.backend() {
        tern_store::Backend::Sqlite => "SQLite",
        tern_store::Backend::Postgres => "PostgreSQL",
    };
    match tokio::time::timeout(timeout, store.ping()).await {
        Ok(Ok(())) => report.pass(
            "database",
            format!("{backend}, reachable; migrated and its encryption key checked when this server started"),
        ),
        Ok(Err(e)) => report.fail(
            "database",
            format!("{backend}: {e}"),
            "check the database server and the network between it and this server",
        ),
        Err(_) => report.fail(
            "database",
            format!("{backend}: no answer within {} s", timeout.as_secs()),
            "check the database server's load and the network between it and this server",
        ),
    }
}

/// The issuer a finding is about (for a page's heading).
pub(crate) fn issuer(s: &ApiState) -> &IssuerUrl {
    &s.signer.issuer
}
