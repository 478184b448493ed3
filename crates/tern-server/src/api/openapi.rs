//! The OpenAPI document, generated from the endpoint table ([`super::table`]) that also makes
//! the router: it lists exactly what is routed.

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::docs;
use super::table::{Table, Verb};

/// Every API endpoint: method, path, and what it does, from the one endpoint table (built once;
/// the limits change only the routes' body limits, not what is listed).
pub static ENDPOINTS: LazyLock<Vec<(&'static str, &'static str, &'static str)>> = LazyLock::new(|| {
    super::table(super::ApiLimits::default())
        .1
        .iter()
        .map(|e| (e.method.as_str(), e.path, e.summary))
        .collect()
});

pub(crate) fn endpoints(t: Table) -> Table {
    t.add(Verb::Get, "/api/v2/openapi.json", "This document", document)
}

/// The OpenAPI 3.1 document.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for (method, path, summary) in ENDPOINTS.iter() {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[method.to_ascii_lowercase()] = json!({
            "summary": summary,
            "parameters": params,
            "security": if path.contains("{signature}") || *path == "/api/v2/openapi.json" { json!([]) } else { json!([{ "bearer": [] }]) },
            "responses": {
                "200": { "description": "OK" },
                "401": { "description": "No token, or not a valid one" },
                "404": { "description": "Not found, or not visible to this token" },
            },
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "tern API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "TFE API v2 (JSON:API) for the resources tern shares with HCP Terraform, and tern's agent API." },
        "components": { "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } } },
        "paths": paths,
    })
}

/// Served without a token: it describes the API, and holds nothing of any organization.
async fn document() -> Response {
    docs::respond(StatusCode::OK, &openapi())
}
