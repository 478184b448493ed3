//! A workspace's dynamic credentials as a run would see them, before any run: the
//! configurations its environment variables make for each phase, the `sub` its tokens carry,
//! and every problem — the very messages a run would fail with (`tern-credentials` resolves
//! them as the runner does).

use tern_access::WorkspaceAction as WA;
use tern_identity::SubjectKey;
use tern_store::{Category, Workspace};
use tern_types::RunPhase;

use crate::api::{ApiError, ApiState, Caller, access};

/// What one phase's tokens carry and what they are for.
#[derive(Debug)]
pub(crate) struct Phase {
    pub(crate) phase: &'static str,
    /// `sub`, with `*` for what changes from run to run.
    pub(crate) subject: String,
    /// Each configuration: platform (and alias), role or identity, audience, and where each
    /// setting came from.
    pub(crate) configurations: Vec<String>,
}

/// The workspace's dynamic credentials.
#[derive(Debug)]
pub(crate) struct Credentials {
    pub(crate) issuer: String,
    /// `None` when the variables do not resolve; then `problems` says why.
    pub(crate) phases: Option<Vec<Phase>>,
    /// The message a run would fail with, line by line.
    pub(crate) problems: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

/// Workspace `ws`'s dynamic credentials, if the caller may read its variables. Sensitive values
/// take part in the resolution (so the verdict is a run's) but never appear in what is returned.
pub(crate) async fn of_workspace(
    s: &ApiState,
    caller: &Caller,
    ws: &str,
) -> Result<(Workspace, Credentials), ApiError> {
    let ws = access::ws_for(s, caller, ws, WA::ReadVariables).await?;
    let org = s.store.organization_by_id(&ws.organization_id).await?;
    let vars = s.store.job_variables(&ws.id).await?;
    let mut variables = tern_credentials::Variables::new();
    let mut secrets: Vec<String> = Vec::new();
    let mut sensitive_names: Vec<String> = Vec::new();
    for v in vars.iter().filter(|v| v.category == Category::Env) {
        let plain = v.value.expose_secret();
        variables.insert(v.key.clone(), plain.to_owned(), v.sensitive);
        if v.sensitive {
            sensitive_names.push(v.key.clone());
            // The forms a message may quote: as given, trimmed, without a trailing slash, line by
            // line, and escaped as `{:?}` escapes it. Short ones are not masked (masking "a"
            // would reveal it); the lines that name a sensitive variable are withheld anyway.
            let trimmed = plain.trim();
            let escaped = format!("{trimmed:?}");
            for form in [plain, trimmed, trimmed.trim_end_matches('/'), escaped.trim_matches('"')]
                .into_iter()
                .chain(plain.lines().map(str::trim))
            {
                if form.chars().count() >= 4 {
                    secrets.push(form.to_owned());
                }
            }
        }
    }
    // The longest first, so that a secret containing another is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    // A line that names a sensitive variable may carry its value, whole or in part, in any
    // form: it is withheld, saying which variable; other lines are masked besides.
    let mask = |text: String| -> String {
        if let Some(name) = sensitive_names.iter().find(|n| text.contains(n.as_str())) {
            return format!(
                "(withheld: this line concerns the sensitive variable {name}, whose value is never shown)"
            );
        }
        secrets.iter().fold(text, |t, secret| t.replace(secret.as_str(), "(sensitive)"))
    };
    let issuer = s.signer.issuer.as_str().to_owned();
    let template = s.signer.policy.subject_template();
    Ok((
        ws.clone(),
        match tern_credentials::resolve(&variables) {
            Err(errors) => Credentials {
                issuer,
                phases: None,
                problems: errors.0.iter().map(|e| mask(e.to_string())).collect(),
                warnings: Vec::new(),
            },
            Ok(configs) => {
                let phases = [RunPhase::Plan, RunPhase::Apply]
                    .into_iter()
                    .map(|phase| Phase {
                        phase: phase.as_str(),
                        subject: template.render_pattern(|key| match key {
                            SubjectKey::Organization => Some(org.name.clone()),
                            SubjectKey::OrganizationId => Some(org.id.clone()),
                            SubjectKey::Project => Some(ws.project.clone()),
                            SubjectKey::ProjectId => Some(ws.project_id.clone()),
                            SubjectKey::Workspace => Some(ws.name.clone()),
                            SubjectKey::WorkspaceId => Some(ws.id.clone()),
                            SubjectKey::RunPhase => Some(phase.as_str().to_owned()),
                            SubjectKey::RunId => None,
                        }),
                        configurations: configs
                            .describe(phase)
                            .lines()
                            .map(|l| mask(l.trim().to_owned()))
                            .filter(|l| !l.is_empty())
                            .collect(),
                    })
                    .collect();
                Credentials {
                    issuer,
                    phases: Some(phases),
                    problems: Vec::new(),
                    warnings: configs.warnings.iter().map(|w| mask(w.clone())).collect(),
                }
            }
        },
    ))
}
