//! Assets embedded in the binary under content-hashed names, cached for a year: a new build
//! with a changed stylesheet or script has a new name, so no browser keeps a stale one.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

const CSS: &str = include_str!("../../assets/tern.css");
const JS: &str = include_str!("../../assets/tern.js");

/// `tern-<12 characters of the SHA-256 of the content, base64url>.<extension>`.
fn hashed(content: &str, extension: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content.as_bytes());
    let short = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..9]);
    format!("tern-{short}.{extension}")
}

static CSS_NAME: LazyLock<String> = LazyLock::new(|| hashed(CSS, "css"));
static JS_NAME: LazyLock<String> = LazyLock::new(|| hashed(JS, "js"));

/// The stylesheet's URL path (templates link it).
pub(crate) fn css_href() -> String {
    format!("/app/assets/{}", *CSS_NAME)
}

/// The script's URL path.
pub(crate) fn js_href() -> String {
    format!("/app/assets/{}", *JS_NAME)
}

/// `GET /app/assets/{name}`: only the current names exist.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind) = if name == *CSS_NAME {
        (CSS, "text/css; charset=utf-8")
    } else if name == *JS_NAME {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn assets_are_named_by_their_content() {
        for (href, ext) in [(super::css_href(), ".css"), (super::js_href(), ".js")] {
            assert!(href.starts_with("/app/assets/tern-") && href.ends_with(ext), "{href}");
            assert_eq!(href.len(), "/app/assets/tern-".len() + 12 + ext.len());
        }
    }
}
