//! `docs/api-endpoints.md` is generated from the router's endpoint table and the table of TFE
//! features tern answers "not supported" for: this test keeps it true (rerun with
//! `TERN_UPDATE_GOLDEN=1` after changing either, and review the diff).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use tern_server::api::{ENDPOINTS, unsupported_features};

#[test]
fn the_api_endpoint_document_lists_every_endpoint_and_every_unsupported_feature() {
    let mut doc = String::from(
        "# tern's API, endpoint by endpoint\n\n\
         Generated from the server's endpoint table (`crates/tern-server/src/api/table.rs`) and\n\
         its table of TFE features it does not have (`crates/tern-server/src/api/mod.rs`) by\n\
         `crates/tern-server/tests/api_doc.rs`; `GET /api/v2/openapi.json` serves the same list.\n\
         [`tfe-api.md`](tfe-api.md) says how tern's API differs from TFE's and how it is tested.\n\n\
         ## Endpoints\n\n| Method | Path | What |\n|---|---|---|\n",
    );
    let mut endpoints: Vec<_> = ENDPOINTS.iter().collect();
    endpoints.sort_by_key(|(method, path, _)| (*path, *method));
    for (method, path, what) in endpoints {
        writeln!(doc, "| {method} | `{path}` | {} |", what.replace('|', "\\|")).unwrap();
    }
    doc.push_str(
        "\n## TFE features tern answers \"not supported\" for\n\n\
         Each answers a JSON:API error (404, or 405 for a method) whose `detail` names the feature\n\
         and what to do instead, so an SDK reports more than \"not found\". `*` is one path segment.\n\n\
         | Method | Path | tern does not support |\n|---|---|---|\n",
    );
    for (method, path, feature) in unsupported_features() {
        let method = if method == "*" { "any" } else { method };
        writeln!(doc, "| {method} | `{path}` | {} |", feature.replace('|', "\\|")).unwrap();
    }
    tern_testkit::assert_golden(
        &tern_testkit::workspace_root().join("docs"),
        "api-endpoints.md",
        doc.as_bytes(),
    );
}
