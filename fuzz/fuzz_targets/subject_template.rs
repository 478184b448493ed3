//! Subject templates and the names they render: line 1 is a template, lines 2–4 an
//! organization, project and workspace name. A template either parses or is refused; when the
//! names are valid, the rendered subject has exactly one `key:value` pair per template key, so
//! no name can forge another segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_identity::{ClaimPolicy, ClaimProfile, RunContext, SubjectTemplate};
use tern_types::{OrganizationName, ProjectName, ResourceId, RunId, RunPhase, WorkspaceName};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.split('\n');
    let template = lines.next().unwrap_or_default();
    let organization = OrganizationName::parse(lines.next().unwrap_or("acme"));
    let project = ProjectName::parse(lines.next().unwrap_or("Default Project"));
    let workspace = WorkspaceName::parse(lines.next().unwrap_or("prod"));
    let Ok(template) = SubjectTemplate::parse(template) else { return };
    let keys = template.keys().len();
    let (Ok(organization), Ok(project), Ok(workspace)) = (organization, project, workspace) else { return };
    let ids = (
        ResourceId::parse("org-GRFXpGJkuZfOkmqH"),
        ResourceId::parse("prj-8Q4dVhGMzWPS7Tuv"),
        ResourceId::parse("ws-mbsd5E3Ktt5Rg2Xm"),
        RunId::parse("run-CZcmD7eagjhyX0vN"),
    );
    let (Ok(organization_id), Ok(project_id), Ok(workspace_id), Ok(run_id)) = ids else {
        panic!("fixed ids must parse")
    };
    let ctx = RunContext {
        organization,
        organization_id,
        project,
        project_id,
        workspace,
        workspace_id,
        run_id,
        phase: RunPhase::Apply,
    };
    for profile in ClaimProfile::ALL {
        let policy = ClaimPolicy::new(profile, Some(template.clone()));
        let subject = policy.subject(&ctx);
        assert_eq!(subject.split(':').count(), 2 * keys, "subject {subject:?} has a forged segment");
        let pattern = template.render_pattern(|_| None);
        assert_eq!(pattern.split(':').count(), 2 * keys, "pattern {pattern:?}");
        let _ = policy.fixed_claims("https://tern.example.com", &ctx);
    }
});
