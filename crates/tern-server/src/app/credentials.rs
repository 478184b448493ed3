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

/// What a workspace's dynamic credentials are worked out from: the workspace, its
/// organization's id, its environment variables (sensitive ones included, so that every verdict
/// is a run's) and what they resolve to. It holds sensitive values: nothing here is shown as
/// is; [`view`] and `app::trust` take from it only what may be shown.
pub(crate) struct Context {
    pub(crate) ws: Workspace,
    pub(crate) organization_id: String,
    pub(crate) variables: tern_credentials::Variables,
    pub(crate) resolved: Result<tern_credentials::CredentialConfigs, tern_credentials::ConfigErrors>,
    pub(crate) masker: Masker,
}

impl std::fmt::Debug for Context {
    /// Without the variables: they hold sensitive values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("ws", &self.ws.id).finish_non_exhaustive()
    }
}

impl Context {
    /// The sensitive variable `source` names, if it is one: a value from it must not be shown.
    pub(crate) fn sensitive<'a>(&self, source: &'a tern_credentials::Source) -> Option<&'a str> {
        match source {
            tern_credentials::Source::Variable(name) if self.variables.is_sensitive(name) => Some(name),
            _ => None,
        }
    }
}

#[cfg(test)]
impl Context {
    /// A context as [`context`] loads one for workspace `web` of `acme`, from the given
    /// environment variables (name, value, sensitive).
    #[allow(clippy::unwrap_used)]
    pub(crate) fn for_tests(vars: &[(&str, &str, bool)]) -> Self {
        let mut variables = tern_credentials::Variables::new();
        for (k, v, s) in vars {
            variables.insert(*k, *v, *s);
        }
        let ws = Workspace {
            id: "ws-abcdefghijklmnop".into(),
            organization_id: "org-abcdefghijklmnop".into(),
            organization: "acme".into(),
            project_id: "prj-abcdefghijklmnop".into(),
            project: "Default Project".into(),
            name: "web".into(),
            description: String::new(),
            terraform_version: tern_types::TerraformVersion::parse("1.11.4").unwrap(),
            working_directory: String::new(),
            auto_apply: false,
            execution_mode: tern_store::ExecutionMode::Remote,
            agent_pool_id: None,
            plan_timeout_s: 3600,
            apply_timeout_s: 3600,
            locked: false,
            active_run_id: None,
            latest_run_id: None,
            current_state_version_id: None,
            created_at: 0,
            updated_at: 0,
            tag_names: Vec::new(),
        };
        let masker = Masker::new(&variables);
        let resolved = tern_credentials::resolve(&variables);
        Self { organization_id: ws.organization_id.clone(), ws, variables, resolved, masker }
    }
}

/// Keeps sensitive values out of text that may quote them (resolution messages, descriptions).
pub(crate) struct Masker {
    /// The forms a message may quote a sensitive value in, longest first.
    secrets: Vec<String>,
    sensitive_names: Vec<String>,
}

impl Masker {
    fn new(vars: &tern_credentials::Variables) -> Self {
        let mut secrets: Vec<String> = Vec::new();
        let mut sensitive_names: Vec<String> = Vec::new();
        for (name, plain, sensitive) in vars.iter() {
            if !sensitive {
                continue;
            }
            sensitive_names.push(name.to_owned());
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
        // The longest first, so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets, sensitive_names }
    }

    /// A line that names a sensitive variable may carry its value, whole or in part, in any
    /// form: it is withheld, saying which variable; other lines are masked besides.
    pub(crate) fn line(&self, text: String) -> String {
        if let Some(name) = self.sensitive_names.iter().find(|n| text.contains(n.as_str())) {
            return format!(
                "(withheld: this line concerns the sensitive variable {name}, whose value is never shown)"
            );
        }
        self.secrets.iter().fold(text, |t, secret| t.replace(secret.as_str(), "(sensitive)"))
    }
}

/// Workspace `ws`'s credentials context, if the caller may read its variables.
pub(crate) async fn context(s: &ApiState, caller: &Caller, ws: &str) -> Result<Context, ApiError> {
    let ws = access::ws_for(s, caller, ws, WA::ReadVariables).await?;
    let org = s.store.organization_by_id(&ws.organization_id).await?;
    let vars = s.store.job_variables(&ws.id).await?;
    let mut variables = tern_credentials::Variables::new();
    for v in vars.iter().filter(|v| v.category == Category::Env) {
        variables.insert(v.key.clone(), v.value.expose_secret().to_owned(), v.sensitive);
    }
    let masker = Masker::new(&variables);
    let resolved = tern_credentials::resolve(&variables);
    Ok(Context { ws, organization_id: org.id, variables, resolved, masker })
}

/// What the credentials page shows of a context: sensitive values take part in the resolution
/// (so the verdict is a run's) but never appear in what is returned.
pub(crate) fn view(s: &ApiState, c: &Context) -> Credentials {
    let issuer = s.signer.issuer.as_str().to_owned();
    let template = s.signer.policy.subject_template();
    let (ws, mask) = (&c.ws, |text: String| c.masker.line(text));
    match &c.resolved {
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
                        SubjectKey::Organization => Some(ws.organization.clone()),
                        SubjectKey::OrganizationId => Some(c.organization_id.clone()),
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
    }
}
