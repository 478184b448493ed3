//! The one table of API endpoints. Every route is added here with its method, path and summary,
//! and the router, the OpenAPI document, `docs/api-endpoints.md` and the authorization-matrix
//! tests all come from it: an endpoint cannot be routed without being listed (and so checked by
//! the matrix), nor listed without being routed.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};

use super::ApiState;

/// An HTTP method the API routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Verb {
    /// `GET`, `POST`…
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
            Self::Put => MethodFilter::PUT,
            Self::Patch => MethodFilter::PATCH,
            Self::Delete => MethodFilter::DELETE,
        }
    }
}

/// One endpoint as the table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Its method.
    pub method: Verb,
    /// Its path template (`{id}` segments).
    pub path: &'static str,
    /// What it does, for the OpenAPI document and the docs.
    pub summary: &'static str,
}

/// The endpoints being added, and the router they make.
pub(crate) struct Table {
    router: Router<ApiState>,
    listed: Vec<Endpoint>,
}

impl Table {
    pub(crate) fn new() -> Self {
        Self { router: Router::new(), listed: Vec::new() }
    }

    /// Route `verb path` to `handler`, and list it with `summary`.
    pub(crate) fn add<H, T>(self, verb: Verb, path: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        self.push(verb, path, summary, on(verb.filter(), handler))
    }

    /// [`Table::add`] for an endpoint whose body may be larger than the API's JSON limit (up to
    /// `limit` bytes).
    pub(crate) fn add_with_limit<H, T>(
        self,
        verb: Verb,
        path: &'static str,
        summary: &'static str,
        limit: usize,
        handler: H,
    ) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        self.push(verb, path, summary, on(verb.filter(), handler).layer(DefaultBodyLimit::max(limit)))
    }

    fn push(
        mut self,
        verb: Verb,
        path: &'static str,
        summary: &'static str,
        route: axum::routing::MethodRouter<ApiState>,
    ) -> Self {
        // axum merges the methods of one path, and panics on the same method twice.
        self.router = self.router.route(path, route);
        self.listed.push(Endpoint { method: verb, path, summary });
        self
    }

    pub(crate) fn into_parts(self) -> (Router<ApiState>, Vec<Endpoint>) {
        (self.router, self.listed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::{ApiLimits, ENDPOINTS, openapi::openapi, table};

    #[test]
    fn the_listing_the_document_and_the_router_are_one_table() {
        let (_, listed) = table(ApiLimits::default());
        let unique: HashSet<_> = listed.iter().map(|e| (e.method, e.path)).collect();
        assert_eq!(unique.len(), listed.len(), "an endpoint is added once");
        assert!(listed.iter().all(|e| !e.summary.is_empty() && e.path.starts_with("/api/")));
        assert_eq!(ENDPOINTS.len(), listed.len());
        let doc = openapi();
        let operations: usize = doc["paths"]
            .as_object()
            .map(|p| p.values().filter_map(|m| m.as_object()).map(|m| m.len()).sum())
            .unwrap_or(0);
        assert_eq!(operations, listed.len(), "the OpenAPI document lists every routed endpoint, once");
    }
}
