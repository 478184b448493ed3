//! The router and handlers of the public issuer endpoints.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tern_identity::IssuerDocuments;
use tower_http::trace::TraceLayer;

/// How long relying parties may cache each document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// `Cache-Control: public, max-age=…` of the discovery document.
    pub discovery_max_age: Duration,
    /// `Cache-Control: public, max-age=…` of the JWKS. Keep it shorter than the time between
    /// publishing a new key and signing with it.
    pub jwks_max_age: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self { discovery_max_age: Duration::from_secs(3600), jwks_max_age: Duration::from_secs(300) }
    }
}

struct Document {
    body: Bytes,
    etag: HeaderValue,
}

struct Served {
    discovery: Document,
    jwks: Document,
}

impl Served {
    fn new(docs: &IssuerDocuments) -> Self {
        let doc = |body: &[u8], etag: &str| Document {
            body: Bytes::copy_from_slice(body),
            // ETags are quoted base64url: always a valid header value.
            etag: HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\"")),
        };
        Self {
            discovery: doc(docs.discovery(), docs.discovery_etag()),
            jwks: doc(docs.jwks(), docs.jwks_etag()),
        }
    }
}

/// What the public endpoints serve. The documents can be replaced while serving (key rotation):
/// readers never wait and never see half of a change.
pub struct IssuerState {
    served: ArcSwap<Served>,
    discovery_cache_control: HeaderValue,
    jwks_cache_control: HeaderValue,
}

impl IssuerState {
    /// Serve `docs` with `cache` headers.
    pub fn new(docs: &IssuerDocuments, cache: CachePolicy) -> Self {
        let cc = |max_age: Duration| {
            HeaderValue::from_str(&format!("public, max-age={}", max_age.as_secs()))
                .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
        };
        Self {
            served: ArcSwap::from_pointee(Served::new(docs)),
            discovery_cache_control: cc(cache.discovery_max_age),
            jwks_cache_control: cc(cache.jwks_max_age),
        }
    }

    /// Start serving new documents (after a key ring change).
    pub fn replace(&self, docs: &IssuerDocuments) {
        self.served.store(Arc::new(Served::new(docs)));
    }
}

/// The router: well-known documents at the root and, when the issuer has a path
/// (`https://host/tern`), under that path too; `/healthz`; JSON 404 for everything else.
pub fn app(state: Arc<IssuerState>, issuer_path: &str) -> Router {
    app_with(state, issuer_path, Router::new())
}

/// [`app`] with more routes (the API), which share its fallback and tracing.
pub fn app_with(state: Arc<IssuerState>, issuer_path: &str, more: Router) -> Router {
    let mut router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks", get(jwks))
        .route("/healthz", get(health))
        .route("/.well-known/terraform.json", get(terraform_discovery));
    if !issuer_path.is_empty() && issuer_path.starts_with('/') {
        router = router
            .route(&format!("{issuer_path}/.well-known/openid-configuration"), get(discovery))
            .route(&format!("{issuer_path}/.well-known/jwks"), get(jwks));
    }
    // The request span names the method and path only: no query string, and a signed log
    // URL's signature (a read capability for that log) replaced.
    let trace = TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<axum::body::Body>| {
        tracing::debug_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()))
    });
    router.with_state(state).merge(more).fallback(not_found).layer(trace)
}

/// `path` fit for logs: the signature segment of a signed URL (`/…/logs/<expiry>.<signature>`,
/// `/…/upload/<expiry>.<creator>.<signature>`, `/…/json-upload/…`) is replaced.
pub(crate) fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    if let Some((head, last)) = path.rsplit_once('/')
        && (head.ends_with("/logs") || head.ends_with("/upload") || head.ends_with("/json-upload"))
        && let Some((expiry, _)) = last.split_once('.')
    {
        return std::borrow::Cow::Owned(format!("{head}/{expiry}.<signature>"));
    }
    std::borrow::Cow::Borrowed(path)
}

async fn discovery(State(state): State<Arc<IssuerState>>, headers: HeaderMap) -> Response {
    let served = state.served.load();
    respond(&headers, &served.discovery, &state.discovery_cache_control)
}

async fn jwks(State(state): State<Arc<IssuerState>>, headers: HeaderMap) -> Response {
    let served = state.served.load();
    respond(&headers, &served.jwks, &state.jwks_cache_control)
}

fn respond(request: &HeaderMap, doc: &Document, cache_control: &HeaderValue) -> Response {
    let common = [
        (ETAG, doc.etag.clone()),
        (CACHE_CONTROL, cache_control.clone()),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    if if_none_match(request, &doc.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (StatusCode::OK, common, [(CONTENT_TYPE, HeaderValue::from_static("application/json"))], doc.body.clone())
        .into_response()
}

/// RFC 9110 §13.1.2: `*`, or any listed tag equal under weak comparison.
fn if_none_match(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    request.get_all(IF_NONE_MATCH).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == ours)
        })
    })
}

/// Terraform's service discovery: where the TFE API is, for the `remote` backend, the `cloud`
/// block and `terraform login`.
async fn terraform_discovery() -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        format!(
            "{}\n",
            serde_json::json!({
                "tfe.v2": "/api/v2/", "tfe.v2.1": "/api/v2/", "tfe.v2.2": "/api/v2/",
                "login.v1": crate::web::login_service(),
            })
        ),
    )
        .into_response()
}

async fn health() -> Response {
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        "{\"status\":\"ok\"}\n",
    )
        .into_response()
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if (path == "/app" || path.starts_with("/app/")) && matches!(method, Method::GET | Method::HEAD) {
        return crate::web::no_such_page(path);
    }
    let detail = match crate::api::unsupported_feature(method.as_str(), uri.path()) {
        Some(feature) => format!("tern does not support {feature}"),
        None => format!("no resource at {}", uri.path()),
    };
    crate::api::ApiError::not_found(detail).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn signed_log_urls_are_not_logged() {
        assert_eq!(
            super::loggable_path("/api/v2/plans/plan-1/logs/1790000000.9f86d081884c7d65"),
            "/api/v2/plans/plan-1/logs/1790000000.<signature>"
        );
        assert_eq!(
            super::loggable_path(
                "/api/v2/configuration-versions/cv-1/upload/1790000000.at-1.9f86d081884c7d65"
            ),
            "/api/v2/configuration-versions/cv-1/upload/1790000000.<signature>"
        );
        assert_eq!(
            super::loggable_path("/api/v2/state-versions/sv-1/json-upload/1790000000.at-1.9f86d081884c7d65"),
            "/api/v2/state-versions/sv-1/json-upload/1790000000.<signature>"
        );
        assert_eq!(super::loggable_path("/api/v2/runs/run-1"), "/api/v2/runs/run-1");
        assert_eq!(super::loggable_path("/.well-known/jwks"), "/.well-known/jwks");
    }

    use super::*;

    #[test]
    fn if_none_match_table() {
        let etag = HeaderValue::from_static("\"abc\"");
        for (value, matches) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("*", true),
            ("\"abd\"", false),
            ("abc", false),
            ("", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            assert_eq!(if_none_match(&headers, &etag), matches, "{value:?}");
        }
        assert!(!if_none_match(&HeaderMap::new(), &etag));
    }
}
