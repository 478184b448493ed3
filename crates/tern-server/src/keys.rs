//! Managed signing keys: the key ring lives in the database (private keys sealed under the
//! operator's key-encryption key), shared by every replica. [`ManagedKeys::refresh`] runs
//! periodically on each replica: it promotes a `next` key whose time has come, schedules the
//! next rotation, drops retired keys whose tokens have all expired, and swaps the documents and
//! the signer when the ring changed. A new key is published `lead` before it signs, so relying
//! parties that cache the JWKS (for at most its max-age) know it before they see a token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tern_identity::{ClaimPolicy, IssuerDocuments, KeyError, KeyRing, KeyRingError, KeySpec, SigningKey};
use tern_store::{KeyState, ManagedKey, Store, StoreError};
use tern_types::{IssuerUrl, Ttl};

use crate::api::Signer;
use crate::{CachePolicy, IssuerState};

/// Why the managed key ring could not be loaded or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key does not parse, or generating one failed.
    #[error("managed signing key: {0}")]
    Key(#[from] KeyError),
    /// The keys do not form a ring.
    #[error(transparent)]
    Ring(#[from] KeyRingError),
    /// There is no current key (another replica is creating the first one).
    #[error("the database has no current signing key")]
    NoCurrentKey,
    /// A key would sign before every relying party and replica can know it.
    #[error(
        "activate-in {given}s is too short: a new key must be published for at least {min}s (the JWKS max-age, which relying parties may cache, plus the {refresh}s every replica takes to refresh its keys) before it signs"
    )]
    TooSoon {
        /// Asked for.
        given: u64,
        /// The least allowed.
        min: u64,
        /// The refresh interval in it.
        refresh: u64,
    },
    /// A key would be published for longer than anyone plans ahead.
    #[error("activate-in {given}s is too long: at most {max}s (10 years)")]
    TooLate {
        /// Asked for.
        given: u64,
        /// The most allowed.
        max: u64,
    },
}

/// The longest a next key may wait before it signs.
pub const MAX_ACTIVATE_IN: Duration = Duration::from_secs(10 * 365 * 86_400);

/// How keys rotate.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// Key type of new keys.
    pub spec: KeySpec,
    /// A new key every this long (None: only by hand).
    pub every: Option<Duration>,
    /// How long a new key is published before it signs.
    pub lead: Duration,
    /// How long a retired key stays published: the longest token lifetime, plus leeway.
    pub window: Duration,
}

impl RotationPolicy {
    /// How often each replica refreshes its key ring: the longest a key that one replica
    /// publishes or promotes takes to reach another's JWKS (a third of the publish lead, 1 to
    /// 10 s).
    pub fn refresh_interval(&self) -> Duration {
        (self.lead / 3).clamp(Duration::from_secs(1), Duration::from_secs(10))
    }

    /// The least a new key must be published before it signs: the JWKS max-age (relying
    /// parties may cache it that long) plus the refresh interval (another replica may serve the
    /// older JWKS until its next refresh).
    pub fn min_publish_lead(&self, jwks_max_age: Duration) -> Duration {
        jwks_max_age + self.refresh_interval()
    }

    /// A retired key stays published for the longest lifetime a token can have (an inline token
    /// lives as long as its phase, at most 24 h), plus five minutes.
    pub fn default_window() -> Duration {
        Ttl::MAX + Duration::from_secs(300)
    }
}

/// The managed key ring of this replica.
pub struct ManagedKeys {
    store: Store,
    issuer: IssuerUrl,
    policy: ClaimPolicy,
    rotation: RotationPolicy,
    /// How long relying parties may cache the JWKS.
    jwks_max_age: Duration,
    documents: Arc<IssuerState>,
    signer: Arc<Signer>,
    loaded: Mutex<Vec<(String, KeyState)>>,
}

impl std::fmt::Debug for ManagedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedKeys").field("rotation", &self.rotation).finish_non_exhaustive()
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl ManagedKeys {
    /// Load the ring (creating the first key if the database has none) and build the documents
    /// and signer that serve it.
    pub async fn start(
        store: Store,
        issuer: IssuerUrl,
        policy: ClaimPolicy,
        cache: CachePolicy,
        rotation: RotationPolicy,
        max_ttl: Ttl,
        now: i64,
    ) -> Result<Arc<Self>, KeysError> {
        if !store.managed_keys().await?.iter().any(|k| k.state == KeyState::Current) {
            let key = SigningKey::generate(rotation.spec)?;
            let pem = key.to_pkcs8_pem()?;
            if store
                .add_managed_key(
                    key.kid().as_str(),
                    &key.algorithm().to_string(),
                    pem.as_bytes(),
                    KeyState::Current,
                    now,
                    None,
                )
                .await?
            {
                tracing::warn!(kid = %key.kid(), "the database had no signing key: generated the first one ({})", key.algorithm());
            }
        }
        let (ring, loaded) = Self::load(&store).await?;
        let documents = Arc::new(IssuerState::new(&IssuerDocuments::build(&issuer, &ring, &policy), cache));
        let signer = Arc::new(Signer {
            ring: ArcSwap::from_pointee(ring),
            issuer: issuer.clone(),
            policy: policy.clone(),
            max_ttl,
        });
        Ok(Arc::new(Self {
            store,
            issuer,
            policy,
            rotation,
            jwks_max_age: cache.jwks_max_age,
            documents,
            signer,
            loaded: Mutex::new(loaded),
        }))
    }

    /// The documents to serve.
    pub fn documents(&self) -> Arc<IssuerState> {
        self.documents.clone()
    }

    /// The signer to mint with.
    pub fn signer(&self) -> Arc<Signer> {
        self.signer.clone()
    }

    /// How keys rotate here.
    pub fn rotation(&self) -> RotationPolicy {
        self.rotation
    }

    /// How long relying parties may cache the JWKS.
    pub fn jwks_max_age(&self) -> Duration {
        self.jwks_max_age
    }

    async fn load(store: &Store) -> Result<(KeyRing, Vec<(String, KeyState)>), KeysError> {
        let keys = store.managed_keys().await?;
        let mut current = None;
        let mut published = Vec::new();
        for k in &keys {
            let pem = store.managed_key_pem(&k.kid).await?;
            let key = SigningKey::from_pem(&pem)?;
            if k.state == KeyState::Current && current.is_none() {
                current = Some(key);
            } else {
                published.push(key.public_jwk().clone());
            }
        }
        let ring = KeyRing::new(current.ok_or(KeysError::NoCurrentKey)?, published)?;
        Ok((ring, keys.iter().map(|k| (k.kid.clone(), k.state)).collect()))
    }

    /// Advance the ring and serve it if it changed. Returns whether it changed.
    pub async fn refresh(&self, now: i64) -> Result<bool, KeysError> {
        let mut moved = self.store.advance_managed_keys(secs(self.rotation.window)).await?;
        if let Some(every) = self.rotation.every {
            let keys = self.store.managed_keys().await?;
            let due = keys
                .iter()
                .find(|k| k.state == KeyState::Current)
                .is_some_and(|c| c.activates_at + secs(every) - secs(self.rotation.lead) <= now);
            if due && !keys.iter().any(|k| k.state == KeyState::Next) {
                let record = |mut details: serde_json::Value| {
                    details["by"] = "the rotation schedule".into();
                    tern_store::AuditInput::system("key.rotated", details)
                };
                // A failed rotation is tried again at the next refresh; what did change (a key
                // promoted above, another replica's rotation) is still served now.
                match self.add_next(now + secs(self.rotation.lead), record).await {
                    Ok(Some(key)) => {
                        moved = true;
                        tracing::info!(kid = %key.kid, "scheduled rotation: published the next key");
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!("scheduled rotation: publishing the next key: {e}"),
                }
            }
        }
        if moved {
            // What this replica changed, the others load now rather than at their next refresh.
            self.announce().await;
        }
        let keys = self.store.managed_keys().await?;
        let now_loaded: Vec<(String, KeyState)> = keys.iter().map(|k| (k.kid.clone(), k.state)).collect();
        let changed = self.loaded.lock().map(|l| *l != now_loaded).unwrap_or(true);
        if changed {
            let (ring, loaded) = Self::load(&self.store).await?;
            self.documents.replace(&IssuerDocuments::build(&self.issuer, &ring, &self.policy));
            tracing::info!(signing = %ring.signing_key().kid(), published = ring.public_keys().count(), "key ring changed");
            self.signer.ring.store(Arc::new(ring));
            if let Ok(mut l) = self.loaded.lock() {
                *l = loaded;
            }
        }
        Ok(changed)
    }

    /// Publish a new next key that signs from `activates_at`, with the audit record `record`
    /// makes of its details (kid, algorithm, activation); `None` when another replica published
    /// one first.
    async fn add_next(
        &self,
        activates_at: i64,
        record: impl FnOnce(serde_json::Value) -> tern_store::AuditInput,
    ) -> Result<Option<ManagedKey>, KeysError> {
        let key = SigningKey::generate(self.rotation.spec)?;
        let pem = key.to_pkcs8_pem()?;
        let kid = key.kid().as_str().to_owned();
        let algorithm = key.algorithm().to_string();
        let event =
            record(serde_json::json!({ "kid": kid, "algorithm": algorithm, "activates-at": activates_at }));
        if !self
            .store
            .add_managed_key(&kid, &algorithm, pem.as_bytes(), KeyState::Next, activates_at, Some(&event))
            .await?
        {
            return Ok(None);
        }
        tracing::info!(%kid, activates_at, "published the next signing key");
        Ok(self.store.managed_keys().await?.into_iter().find(|k| k.kid == kid))
    }

    /// Publish a new key that signs from `now + activate_in` (refused when that is sooner than
    /// [`RotationPolicy::min_publish_lead`]).
    /// `record` makes the audit record, committed with the key, from the key's details.
    pub async fn rotate(
        &self,
        now: i64,
        activate_in: Duration,
        record: impl FnOnce(serde_json::Value) -> tern_store::AuditInput,
    ) -> Result<ManagedKey, KeysError> {
        let min = self.rotation.min_publish_lead(self.jwks_max_age);
        if activate_in < min {
            return Err(KeysError::TooSoon {
                given: activate_in.as_secs(),
                min: min.as_secs(),
                refresh: self.rotation.refresh_interval().as_secs(),
            });
        }
        if let Some(next) = self.store.managed_keys().await?.into_iter().find(|k| k.state == KeyState::Next) {
            return Err(StoreError::Conflict(format!(
                "key {} is already published as the next key (it signs from {}); retire it first to replace it",
                next.kid, next.activates_at
            ))
            .into());
        }
        // Bounded: a delay past any real plan must not wrap into the past (a key signing at once).
        if activate_in > MAX_ACTIVATE_IN {
            return Err(KeysError::TooLate { given: activate_in.as_secs(), max: MAX_ACTIVATE_IN.as_secs() });
        }
        let key = self.add_next(now.saturating_add(secs(activate_in)), record).await?.ok_or_else(|| {
            KeysError::Store(StoreError::Conflict(
                "another replica published a next key at the same moment".into(),
            ))
        })?;
        self.announce().await;
        self.refresh(now).await?;
        Ok(key)
    }

    /// Retire a key (see `Store::retire_managed_key`), recording `audit` with it.
    pub async fn retire(
        &self,
        now: i64,
        kid: &str,
        unpublish: bool,
        audit: &tern_store::AuditInput,
    ) -> Result<(), KeysError> {
        self.store.retire_managed_key(kid, secs(self.rotation.window), unpublish, audit).await?;
        self.announce().await;
        self.refresh(now).await?;
        Ok(())
    }

    /// Tell the other replicas the ring changed; a failure costs only promptness (they still
    /// refresh on their own schedule).
    async fn announce(&self) {
        if let Err(e) = self.store.announce_key_change().await {
            tracing::warn!("announcing a key change to the other replicas: {e}");
        }
    }

    /// Key ring changes announced by any replica (PostgreSQL), to refresh at once.
    pub async fn changes(&self) -> Option<tern_store::KeyChanges> {
        match self.store.key_changes().await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(
                    "listening for the other replicas' key changes (refreshing on schedule only): {e}"
                );
                None
            }
        }
    }

    /// The keys, signing key first.
    pub async fn list(&self) -> Result<Vec<ManagedKey>, KeysError> {
        Ok(self.store.managed_keys().await?)
    }
}
