//! Who may do what: HCP Terraform's permission model, and the one function that decides.
//!
//! A caller stands in an organization ([`Standing`]): as the installation's administrator, as
//! the organization's own token, as the member of some teams (a user's teams, or the one team
//! whose token it holds), or not at all. Teams carry [`OrgPermissions`], and access to
//! workspaces ([`WorkspaceGrant`]: `read`, `plan`, `write`, `admin` or `custom`) and to projects
//! ([`ProjectGrant`]: `read`, `write`, `maintain`, `admin` or `custom`), as HCP Terraform's
//! teams do. What a caller may do to one workspace is the union of every grant that reaches it
//! ([`Effective`]). Every decision is a [`Decision`]: allowed; hidden (the caller may not even
//! know the resource exists — answered as "not found", never "forbidden", so that a caller
//! cannot probe for names); or denied with the permission that is missing.
//!
//! This crate does no I/O: the server loads a caller's grants for an organization and asks
//! here. The HTTP front ends (the TFE API, later the web UI) never decide themselves.

mod decide;
mod levels;

pub use decide::{
    Decision, Denied, OrgAction, ProjectAction, Standing, TeamGrants, Visible, WorkspaceAction, WorkspaceRef,
};
pub use levels::{
    AccessLevel, Effective, LevelError, OrgPermissions, ProjectAccessLevel, ProjectCustom, ProjectGrant,
    ProjectSettingsPermission, ProjectTeamsPermission, RunsPermission, StatePermission,
    VariableSetsPermission, VariablesPermission, WorkspaceGrant, WorkspacePermissions,
};
