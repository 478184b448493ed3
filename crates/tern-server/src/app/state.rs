//! A workspace's state versions as the State tab shows them: the list, one version's bytes to
//! download, and what changed between two versions.
//!
//! Who may see what: the list shows what an outputs reader already sees on the overview (the
//! serial) plus when and by which run, so it needs `state-versions: read-outputs`; a version's
//! content — the file, its resources, the attribute names a comparison lists — needs
//! `state-versions: read`, as the API's download does. Terraform keeps secrets in state in the
//! clear, so a comparison names attributes and never shows their values, and shows an output's
//! value only when it is sensitive in neither version.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tern_access::WorkspaceAction as WA;
use tern_store::{Page, Paged, StateVersion, Workspace};

use super::workspaces::{self, Output, managed_instances, state_outputs};
use crate::api::{ApiError, ApiState, Caller, access};

/// Changes a comparison lists, of resources and of outputs each; the rest are counted.
pub(crate) const MAX_CHANGES: usize = 1000;
/// State bytes a list page decodes to count resources: past it, a version's count is not
/// worked out (a page of large states would otherwise decode up to 25 × 64 MiB).
const COUNT_BUDGET: i64 = 16 * 1024 * 1024;
/// The most state (both versions, bytes) one comparison decodes.
const MAX_COMPARED_BYTES: i64 = 32 * 1024 * 1024;
/// Comparisons decoding at once.
static COMPARING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
/// Characters of an output's value a comparison shows.
const MAX_VALUE_CHARS: usize = 2000;

/// A state version in the list.
#[derive(Debug)]
pub(crate) struct Listed {
    pub(crate) version: StateVersion,
    /// Managed resource instances; `None` when the caller may not read the state or the page's
    /// budget for counting was spent.
    pub(crate) resources: Option<usize>,
}

/// One page of a workspace's state versions for this caller.
#[derive(Debug)]
pub(crate) struct Listing {
    pub(crate) ws: Workspace,
    pub(crate) versions: Paged<Listed>,
}

/// Workspace `ws` of `org`'s state versions, newest first, one page.
pub(crate) async fn list(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    ws: &str,
    page: Page,
) -> Result<Listing, ApiError> {
    // As the API's list: the versions are the state's history, for those who may read it.
    let (ws, _) = workspaces::by_name(s, caller, org, ws, WA::ReadState).await?;
    let paged = s.store.list_state_versions(&ws.id, page).await?;
    let mut budget = COUNT_BUDGET;
    let mut items = Vec::with_capacity(paged.items.len());
    for version in paged.items {
        let resources = if version.size <= budget {
            budget -= version.size;
            let bytes = s.store.state_bytes(&version.id).await?;
            Some(off_runtime(move || count_resources(&bytes)).await?)
        } else {
            None
        };
        items.push(Listed { version, resources });
    }
    Ok(Listing { ws, versions: Paged { items, total: paged.total, page: paged.page } })
}

/// A state version's file, for download.
#[derive(Debug)]
pub(crate) struct Download {
    pub(crate) ws: Workspace,
    pub(crate) version: StateVersion,
    pub(crate) bytes: Vec<u8>,
}

/// State version `id` of workspace `ws` of `org`, with its bytes, if the caller may read state.
pub(crate) async fn download(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    ws: &str,
    id: &str,
) -> Result<Download, ApiError> {
    let (ws, standing) = workspaces::by_name(s, caller, org, ws, WA::Read).await?;
    let version = of_workspace(s, &ws, id).await?;
    access::decide_ws(&standing, &ws, WA::ReadState, &ws.name)?;
    let bytes = s.store.state_bytes(&version.id).await?;
    Ok(Download { ws, version, bytes })
}

/// Two state versions of one workspace and what changed from the first to the second.
#[derive(Debug)]
pub(crate) struct Comparison {
    pub(crate) ws: Workspace,
    /// The version looked at.
    pub(crate) version: StateVersion,
    /// What it is compared with; `None`: there is no earlier version (everything is added).
    pub(crate) base: Option<StateVersion>,
    pub(crate) diff: Diff,
}

/// State version `id` of workspace `ws` of `org` compared with version `with` of the same
/// workspace (default: the one with the next lower serial), if the caller may read state.
pub(crate) async fn compare(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    ws: &str,
    id: &str,
    with: Option<&str>,
) -> Result<Comparison, ApiError> {
    let (ws, standing) = workspaces::by_name(s, caller, org, ws, WA::Read).await?;
    let version = of_workspace(s, &ws, id).await?;
    access::decide_ws(&standing, &ws, WA::ReadState, &ws.name)?;
    let base = match with {
        Some(other) => Some(of_workspace(s, &ws, other).await?),
        None => s.store.previous_state_version(&ws.id, version.serial).await?,
    };
    // Two decoded states at once, per request: refused above a bound, and one comparison at a
    // time, so a few requests cannot hold gigabytes (`terraform state pull` and a local diff
    // serve larger states).
    let size = version.size + base.as_ref().map_or(0, |b| b.size);
    if size > MAX_COMPARED_BYTES {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
            format!(
                "these two state versions hold {size} bytes together; the page compares at most {MAX_COMPARED_BYTES}: download them and compare locally"
            ),
        ));
    }
    let _one_at_a_time = COMPARING.acquire().await;
    let after = s.store.state_bytes(&version.id).await?;
    let before = match &base {
        Some(b) => s.store.state_bytes(&b.id).await?,
        None => b"{}".to_vec(),
    };
    let diff = off_runtime(move || diff(&before, &after)).await?;
    Ok(Comparison { ws, version, base, diff })
}

/// State version `id`, if it is one of `ws`'s (another workspace's is not found here, whoever
/// asks: no oracle for ids).
async fn of_workspace(s: &ApiState, ws: &Workspace, id: &str) -> Result<StateVersion, ApiError> {
    let not_found =
        || ApiError::not_found(format!("state version {id:?} not found in workspace {:?}", ws.name));
    match s.store.state_version(id).await {
        Ok(v) if v.workspace_id == ws.id => Ok(v),
        Ok(_) | Err(tern_store::StoreError::NotFound { .. }) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// Decoding a state can take long (up to 64 MiB): off the async runtime.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("reading the state failed: {e}")))
}

/// Managed resource instances in a state, counted as the overview lists them.
fn count_resources(bytes: &[u8]) -> usize {
    let state: Value = serde_json::from_slice(bytes).unwrap_or_default();
    managed_instances(&state).len()
}

/// How a resource or an output differs between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    Changed,
    Removed,
}

impl Change {
    /// Terraform's symbol and word for it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Added => "+ added",
            Self::Changed => "~ changed",
            Self::Removed => "− removed",
        }
    }

    /// The stylesheet's class for it (the text says it too).
    pub(crate) fn class(self) -> &'static str {
        match self {
            Self::Added => "add",
            Self::Changed => "change",
            Self::Removed => "destroy",
        }
    }
}

/// A resource instance that differs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResourceChange {
    pub(crate) address: String,
    pub(crate) change: Change,
    /// Names of the top-level attributes whose values differ (changed instances only); never a
    /// value.
    pub(crate) attributes: Vec<String>,
}

/// An output that differs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OutputChange {
    pub(crate) name: String,
    pub(crate) change: Change,
    /// Sensitive in either version: neither value is shown.
    pub(crate) sensitive: bool,
    /// Compact JSON (cut at [`MAX_VALUE_CHARS`]); `None` when absent or sensitive.
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
}

/// What changed between two states.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Diff {
    /// By address, at most [`MAX_CHANGES`].
    pub(crate) resources: Vec<ResourceChange>,
    /// By name, at most [`MAX_CHANGES`].
    pub(crate) outputs: Vec<OutputChange>,
    /// Resource instances added, changed and removed (all, listed or not).
    pub(crate) added: usize,
    pub(crate) changed: usize,
    pub(crate) removed: usize,
    /// Changes not listed.
    pub(crate) more_resources: usize,
    pub(crate) more_outputs: usize,
}

/// What changed from state `before` to state `after` (an unreadable one reads as empty).
pub(crate) fn diff(before: &[u8], after: &[u8]) -> Diff {
    let old: Value = serde_json::from_slice(before).unwrap_or_default();
    let new: Value = serde_json::from_slice(after).unwrap_or_default();
    let mut d = Diff::default();

    let was: BTreeMap<String, Option<&Value>> = managed_instances(&old).into_iter().collect();
    let is: BTreeMap<String, Option<&Value>> = managed_instances(&new).into_iter().collect();
    let addresses: BTreeSet<&String> = was.keys().chain(is.keys()).collect();
    for address in addresses {
        let (change, attributes) = match (was.get(address), is.get(address)) {
            (Some(_), None) => (Change::Removed, Vec::new()),
            (None, Some(_)) => (Change::Added, Vec::new()),
            (Some(a), Some(b)) => match changed_attributes(*a, *b) {
                names if names.is_empty() => continue,
                names => (Change::Changed, names),
            },
            (None, None) => continue,
        };
        match change {
            Change::Added => d.added += 1,
            Change::Changed => d.changed += 1,
            Change::Removed => d.removed += 1,
        }
        if d.resources.len() < MAX_CHANGES {
            d.resources.push(ResourceChange { address: address.clone(), change, attributes });
        } else {
            d.more_resources += 1;
        }
    }

    let was: BTreeMap<&str, (bool, Option<&Value>)> =
        state_outputs(&old).map(|(n, s, v)| (n, (s, v))).collect();
    let is: BTreeMap<&str, (bool, Option<&Value>)> =
        state_outputs(&new).map(|(n, s, v)| (n, (s, v))).collect();
    let names: BTreeSet<&str> = was.keys().chain(is.keys()).copied().collect();
    for name in names {
        let (a, b) = (was.get(name), is.get(name));
        let change = match (a, b) {
            (Some(_), None) => Change::Removed,
            (None, Some(_)) => Change::Added,
            (Some(a), Some(b)) if a != b => Change::Changed,
            _ => continue,
        };
        if d.outputs.len() >= MAX_CHANGES {
            d.more_outputs += 1;
            continue;
        }
        let sensitive = a.is_some_and(|a| a.0) || b.is_some_and(|b| b.0);
        let shown = |side: Option<&(bool, Option<&Value>)>| {
            side.and_then(|(_, v)| Output::shown(name, sensitive, *v).value).map(|v| cut(v, MAX_VALUE_CHARS))
        };
        d.outputs.push(OutputChange {
            name: name.to_owned(),
            change,
            sensitive,
            before: shown(a),
            after: shown(b),
        });
    }
    d
}

/// The names of an instance's top-level attributes whose values differ between two versions
/// (Terraform 0.11's flat attributes when there are no others). The values are compared here
/// and go no further.
fn changed_attributes(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    fn attributes(i: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
        i.and_then(|i| i.get("attributes").or_else(|| i.get("attributes_flat"))).and_then(Value::as_object)
    }
    let (a, b) = (attributes(before), attributes(after));
    let names: BTreeSet<&String> = a.into_iter().chain(b).flat_map(serde_json::Map::keys).collect();
    names
        .into_iter()
        .filter(|n| a.and_then(|m| m.get(n.as_str())) != b.and_then(|m| m.get(n.as_str())))
        .cloned()
        .collect()
}

/// `text` cut to at most `max` characters, with "…" when cut.
fn cut(mut text: String, max: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "attr-secret-5b1e9c";
    const OUTPUT_SECRET: &str = "output-secret-77d2";

    fn state(serial: u32, resources: &str, outputs: &str) -> Vec<u8> {
        format!(r#"{{"version":4,"serial":{serial},"lineage":"L","outputs":{{{outputs}}},"resources":[{resources}]}}"#)
            .into_bytes()
    }

    const KEPT: &str =
        r#"{"mode":"managed","type":"null_resource","name":"kept","instances":[{"attributes":{"id":"1"}}]}"#;
    const GONE: &str =
        r#"{"mode":"managed","type":"null_resource","name":"gone","instances":[{"attributes":{"id":"2"}}]}"#;
    const NEW: &str = r#"{"module":"module.m","mode":"managed","type":"null_resource","name":"new","instances":[{"index_key":"a","attributes":{"id":"3"}}]}"#;
    const DATA: &str = r#"{"mode":"data","type":"d","name":"x","instances":[{"attributes":{"id":"4"}}]}"#;

    fn db(password: &str, size: u32) -> String {
        format!(
            r#"{{"mode":"managed","type":"db","name":"main","instances":[{{"index_key":0,"attributes":{{"id":"db","password":"{password}","size":{size},"engine":"pg"}},"sensitive_attributes":[[{{"type":"get_attr","value":"password"}}]]}}]}}"#
        )
    }

    #[test]
    fn resources_added_removed_and_changed_name_their_attributes_only() {
        let before = state(1, &[KEPT, GONE, &db("old-password", 10), DATA].join(","), "");
        let after = state(2, &[KEPT, NEW, &db(SECRET, 20)].join(","), "");
        let d = diff(&before, &after);
        let got: Vec<(&str, Change, Vec<String>)> =
            d.resources.iter().map(|r| (r.address.as_str(), r.change, r.attributes.clone())).collect();
        assert_eq!(
            got,
            [
                ("db.main[0]", Change::Changed, vec!["password".to_owned(), "size".to_owned()]),
                ("module.m.null_resource.new[\"a\"]", Change::Added, vec![]),
                ("null_resource.gone", Change::Removed, vec![]),
            ],
            "a data source is not a managed resource; an unchanged one is not listed"
        );
        assert_eq!((d.added, d.changed, d.removed, d.more_resources), (1, 1, 1, 0));
        let shown = format!("{d:?}");
        assert!(!shown.contains(SECRET) && !shown.contains("old-password"), "a value left the diff: {shown}");
    }

    #[test]
    fn sensitive_outputs_never_show_a_value_on_either_side() {
        let outputs = |endpoint: &str, password: &str, token_sensitive: bool| {
            format!(
                r#""endpoint":{{"value":"{endpoint}","type":"string"}},
                   "password":{{"value":"{password}","type":"string","sensitive":true}},
                   "token":{{"value":"tok-{OUTPUT_SECRET}","type":"string","sensitive":{token_sensitive}}},
                   "same":{{"value":1,"type":"number"}}"#
            )
        };
        let before = state(1, "", &outputs("https://a.example", "p1", false));
        let after = state(
            2,
            "",
            &format!(r#"{},"added":{{"value":[1,2]}}"#, outputs("https://b.example", OUTPUT_SECRET, true)),
        );
        let d = diff(&before, &after);
        let change =
            |name: &str, change, sensitive, before: Option<&str>, after: Option<&str>| OutputChange {
                name: name.to_owned(),
                change,
                sensitive,
                before: before.map(str::to_owned),
                after: after.map(str::to_owned),
            };
        assert_eq!(
            d.outputs,
            [
                change("added", Change::Added, false, None, Some("[1,2]")),
                change(
                    "endpoint",
                    Change::Changed,
                    false,
                    Some("\"https://a.example\""),
                    Some("\"https://b.example\"")
                ),
                change("password", Change::Changed, true, None, None),
                // Public before, sensitive now: the old value may well be the secret.
                change("token", Change::Changed, true, None, None),
            ]
        );
        assert!(!format!("{d:?}").contains(OUTPUT_SECRET));
        let removed = diff(&after, &before);
        assert!(removed.outputs.iter().any(|o| o.name == "added" && o.change == Change::Removed));
        assert!(!format!("{removed:?}").contains(OUTPUT_SECRET));
    }

    #[test]
    fn the_first_version_is_all_added_and_long_lists_are_cut() {
        let many: Vec<String> = (0..MAX_CHANGES + 5)
            .map(|i| format!(r#"{{"mode":"managed","type":"t","name":"r{i:05}","instances":[{{}}]}}"#))
            .collect();
        let d = diff(b"{}", &state(1, &many.join(","), ""));
        assert_eq!((d.added, d.resources.len(), d.more_resources), (MAX_CHANGES + 5, MAX_CHANGES, 5));
        assert!(d.resources.iter().all(|r| r.change == Change::Added));
        assert_eq!(diff(&state(1, KEPT, ""), &state(2, KEPT, "")), Diff::default(), "nothing changed");
        assert_eq!(diff(b"not json", b"{}"), Diff::default());
        assert_eq!(cut("héllo".to_owned(), 2), "hé…");
        assert_eq!(cut("hé".to_owned(), 2), "hé");
    }
}
