//! Assets embedded in the binary under content-hashed names, cached for a year: a new build
//! with a changed stylesheet has a new name, so no browser keeps a stale one.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

const CSS: &str = include_str!("../../assets/tern.css");

/// `tern-<12 characters of the SHA-256 of the stylesheet, base64url>.css`.
static CSS_NAME: LazyLock<String> = LazyLock::new(|| {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, CSS.as_bytes());
    let short = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..9]);
    format!("tern-{short}.css")
});

/// The stylesheet's URL path (templates link it).
pub(crate) fn css_href() -> String {
    format!("/app/assets/{}", *CSS_NAME)
}

/// `GET /app/assets/{name}`: only the current names exist.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    if name != *CSS_NAME {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    }
    let mut r = CSS.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stylesheet_is_named_by_its_content() {
        let href = super::css_href();
        assert!(href.starts_with("/app/assets/tern-") && href.ends_with(".css"), "{href}");
        assert_eq!(href.len(), "/app/assets/tern-".len() + 12 + ".css".len());
    }
}
