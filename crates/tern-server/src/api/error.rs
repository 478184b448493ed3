//! API errors as JSON:API error objects.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use tern_protocol::jsonapi::{ErrorDocument, ErrorObject, ErrorSource, MEDIA_TYPE};
use tern_store::StoreError;

/// An error response: status, a short title, and a detail that says what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short, stable title.
    pub title: &'static str,
    /// What went wrong and what to do.
    pub detail: String,
    /// JSON pointer into the request document, for validation errors.
    pub pointer: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self { status, title, detail: detail.into(), pointer: None }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad request", detail)
    }

    pub(crate) fn invalid(pointer: &str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "invalid attribute",
            detail: detail.into(),
            pointer: Some(pointer.to_owned()),
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not found", detail)
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// A bearer token that is unknown, revoked or expired.
    pub(crate) fn unauthorized_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the token is not valid: unknown, revoked, or expired",
        )
    }

    /// Something went wrong inside the server; `cause` goes to the log, not to the caller.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "tern failed to answer; the server log has the cause",
        )
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => Self::not_found(e.to_string()),
            StoreError::Conflict(m) => Self::conflict(m),
            StoreError::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            other => {
                tracing::error!(error = %other, "store error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                    "tern could not complete the request because of a storage error; the server log has the cause",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let document = ErrorDocument {
            errors: vec![ErrorObject {
                status: self.status.as_u16().to_string(),
                title: self.title.to_string(),
                detail: self.detail.clone(),
                source: self.pointer.clone().map(|pointer| ErrorSource { pointer }),
            }],
        };
        let body = serde_json::to_string(&document).unwrap_or_default();
        let mut response = (self.status, [(CONTENT_TYPE, MEDIA_TYPE)], body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"tern\""),
            );
        }
        response
    }
}
