//! The redacted, structured plan Terraform's `cloud` block renders (`terraform show` of a saved
//! cloud plan, TFE's `json-output-redacted`): the plan's changes from `terraform show -json`,
//! every value a sensitivity mask marks replaced by `null`, with the schemas of just the
//! resource types it changes from `terraform providers schema -json` (a whole provider's
//! schema can be tens of megabytes).

use serde_json::{Map, Value, json};

/// What went wrong composing the structured plan.
#[derive(Debug, thiserror::Error)]
pub enum StructuredError {
    /// One of the two documents is not what Terraform writes.
    #[error("{0} is not {1}")]
    NotJson(&'static str, &'static str),
}

/// Compose the structured plan from a JSON plan and the providers' schemas.
pub fn redacted_plan(plan_json: &[u8], schemas_json: &[u8]) -> Result<Vec<u8>, StructuredError> {
    let plan: Value = serde_json::from_slice(plan_json)
        .map_err(|_| StructuredError::NotJson("the plan", "JSON (terraform show -json)"))?;
    let schemas: Value = serde_json::from_slice(schemas_json)
        .map_err(|_| StructuredError::NotJson("the schemas", "JSON (terraform providers schema -json)"))?;
    if !plan.is_object() || !schemas.is_object() {
        return Err(StructuredError::NotJson("a document", "a JSON object"));
    }
    let changes = redact_changes(plan.get("resource_changes"));
    let drift = redact_changes(plan.get("resource_drift"));
    let mut outputs = Map::new();
    if let Some(Value::Object(out)) = plan.get("output_changes") {
        for (name, change) in out {
            outputs.insert(name.clone(), redact_change(change));
        }
    }
    // Only the schemas the changes need: provider name → resource / data source types.
    let mut used: Vec<(String, String, &'static str)> = Vec::new();
    for rc in changes.iter().chain(&drift) {
        let provider = rc.get("provider_name").and_then(Value::as_str).unwrap_or_default();
        let kind = rc.get("type").and_then(Value::as_str).unwrap_or_default();
        let mode = if rc.get("mode").and_then(Value::as_str) == Some("data") {
            "data_source_schemas"
        } else {
            "resource_schemas"
        };
        used.push((provider.to_owned(), kind.to_owned(), mode));
    }
    let mut provider_schemas = Map::new();
    if let Some(Value::Object(all)) = schemas.get("provider_schemas") {
        for (provider, schema) in all {
            let mut kept = Map::new();
            if let Some(p) = schema.get("provider") {
                kept.insert("provider".into(), p.clone());
            }
            for mode in ["resource_schemas", "data_source_schemas"] {
                let mut types = Map::new();
                for (p, kind, m) in &used {
                    if p == provider
                        && *m == mode
                        && let Some(s) = schema.get(mode).and_then(|t| t.get(kind))
                    {
                        types.insert(kind.clone(), s.clone());
                    }
                }
                kept.insert(mode.into(), Value::Object(types));
            }
            provider_schemas.insert(provider.clone(), Value::Object(kept));
        }
    }
    let doc = json!({
        "plan_format_version": plan.get("format_version").cloned().unwrap_or(Value::Null),
        "output_changes": outputs,
        "resource_changes": changes,
        "resource_drift": drift,
        "relevant_attributes": plan.get("relevant_attributes").cloned().unwrap_or(json!([])),
        "provider_format_version": schemas.get("format_version").cloned().unwrap_or(Value::Null),
        "provider_schemas": provider_schemas,
    });
    serde_json::to_vec(&doc).map_err(|_| StructuredError::NotJson("the composed plan", "serializable"))
}

fn redact_changes(changes: Option<&Value>) -> Vec<Value> {
    let Some(Value::Array(items)) = changes else { return Vec::new() };
    items
        .iter()
        .map(|rc| {
            let mut rc = rc.clone();
            if let Some(change) = rc.get("change") {
                let redacted = redact_change(change);
                rc["change"] = redacted;
            }
            rc
        })
        .collect()
}

/// A change with `before`/`after` redacted by `before_sensitive`/`after_sensitive`.
fn redact_change(change: &Value) -> Value {
    let mut out = change.clone();
    for (value, mask) in [("before", "before_sensitive"), ("after", "after_sensitive")] {
        if let Some(v) = change.get(value) {
            let m = change.get(mask).cloned().unwrap_or(Value::Bool(false));
            out[value] = redact(v, &m);
        }
    }
    out
}

/// `value` with every part `mask` marks `true` replaced by `null`.
fn redact(value: &Value, mask: &Value) -> Value {
    match (value, mask) {
        (_, Value::Bool(true)) => Value::Null,
        (Value::Object(fields), Value::Object(masks)) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), masks.get(k).map_or_else(|| v.clone(), |m| redact(v, m))))
                .collect(),
        ),
        (Value::Array(items), Value::Array(masks)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| masks.get(i).map_or_else(|| v.clone(), |m| redact(v, m)))
                .collect(),
        ),
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sensitive_values_are_removed_and_only_the_used_schemas_kept() {
        let plan = json!({
            "format_version": "1.2",
            "resource_changes": [{
                "address": "x.a", "mode": "managed", "type": "x", "name": "a", "provider_name": "registry.terraform.io/hashicorp/x",
                "change": {
                    "actions": ["create"], "before": null,
                    "after": {"name": "plain", "password": "s3cr3t", "tags": ["t", "hidden"], "nested": {"key": "k3y"}},
                    "after_sensitive": {"password": true, "tags": [false, true], "nested": true}
                }
            }],
            "output_changes": {
                "pw": {"actions": ["create"], "before": null, "after": "0utput", "after_sensitive": true},
                "url": {"actions": ["create"], "before": null, "after": "https://x", "after_sensitive": false}
            },
            "variables": {"password": {"value": "v4r"}}
        });
        let schemas = json!({
            "format_version": "1.0",
            "provider_schemas": {"registry.terraform.io/hashicorp/x": {
                "provider": {"version": 0},
                "resource_schemas": {"x": {"version": 0}, "unused": {"version": 0}},
                "data_source_schemas": {"other": {"version": 0}}
            }}
        });
        let out = redacted_plan(plan.to_string().as_bytes(), schemas.to_string().as_bytes()).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        for secret in ["s3cr3t", "hidden", "k3y", "0utput", "v4r"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["plan_format_version"], "1.2");
        assert_eq!(doc["resource_changes"][0]["change"]["after"]["name"], "plain");
        assert_eq!(doc["resource_changes"][0]["change"]["after"]["tags"], json!(["t", null]));
        assert_eq!(doc["output_changes"]["url"]["after"], "https://x");
        let kept = &doc["provider_schemas"]["registry.terraform.io/hashicorp/x"];
        assert_eq!(kept["resource_schemas"].as_object().unwrap().len(), 1, "{kept}");
        assert!(kept["data_source_schemas"].as_object().unwrap().is_empty());
    }

    #[test]
    fn documents_that_are_not_terraforms_are_refused() {
        assert!(redacted_plan(b"not json", b"{}").is_err());
        assert!(redacted_plan(b"[]", b"{}").is_err());
    }
}
