//! The one table of the browser's routes: every page and form of the web UI (and of the sign-in
//! and `terraform login` pages of [`crate::web`]) is added here with its method, path, what it
//! needs of the person asking and what it does. The router is built from it and nothing else,
//! so a route cannot exist unlisted; the web authorization-matrix test
//! (`tests/api/ui_matrix.rs`) walks [`PAGES`] and tries every route with every kind of caller.
//!
//! `needs` describes the decision; it does not make it. The application layer (`crate::app`,
//! through `api::access`) decides on every request, and the matrix checks that what it decides
//! is what the table says and what the permission model (`docs/permissions.md`) gives.

use std::sync::LazyLock;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::api::ApiState;

/// A method the browser's routes answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageMethod {
    /// A page (or a download, an event stream, a redirect).
    Get,
    /// A form.
    Post,
}

impl PageMethod {
    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
        }
    }
}

/// A workspace access level (`docs/permissions.md`), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkspaceLevel {
    /// `read`: the workspace, its runs, variables (never sensitive values) and state.
    Read,
    /// `plan`: queue plans, cancel a run that is still planning.
    Plan,
    /// `write`: apply and discard, variables, locking.
    Write,
    /// `admin`: settings, force-unlock, delete, teams' access to it.
    Admin,
}

/// An organization permission (HCP Terraform's `organization-access` name), or membership of
/// the owners team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `read-workspaces`: the organization's variable sets (and `read` on every workspace).
    ReadWorkspaces,
    /// `manage-workspaces` (or `manage-projects`): change variable sets and where they apply.
    ManageWorkspaces,
    /// `manage-teams`: create, rename and delete teams.
    ManageTeams,
    /// `manage-membership` (or `manage-teams`): add and remove members.
    ManageMembership,
    /// Whoever manages the kind of API token at hand: the organization's tokens (and the owners
    /// team's) are its owners', a team's `manage-teams`', an agent pool's `manage-agent-pools`'.
    ManageTheToken,
    /// Membership of the owners team: the audit trail, the list of API tokens.
    Owners,
}

/// What a route needs of the person asking, as `docs/permissions.md` says; the route's main act
/// where a form can ask for more than one (its summary names the others). A site administrator
/// has everything; no route needs less than it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Needs {
    /// Nothing: served to anyone, signed in or not (the sign-in pages, assets, and redirects
    /// that look nothing up).
    Public,
    /// A signed-in person, acting on their own session or account.
    SignedIn,
    /// A site administrator.
    SiteAdmin,
    /// Membership of the organization (a team of it): someone else is told it does not exist.
    Member,
    /// An organization permission.
    Organization(Permission),
    /// At least this access to the workspace (its own, or the one the form names); someone
    /// with none is told it does not exist.
    Workspace(WorkspaceLevel),
}

/// One route of the browser's side, as the table lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Its method.
    pub method: PageMethod,
    /// Its path template (`{org}` segments, as axum matches them).
    pub path: &'static str,
    /// What it needs of the person asking.
    pub needs: Needs,
    /// A form that must carry the CSRF token of the browser's session (or, signing in, of its
    /// pre-session cookie). Every POST does but `terraform login`'s token exchange, which
    /// takes no cookie.
    pub csrf: bool,
    /// What it does.
    pub summary: &'static str,
}

/// The routes being added, and the router they make.
pub(crate) struct Pages {
    router: Router<ApiState>,
    listed: Vec<Page>,
}

impl Pages {
    pub(crate) fn new() -> Self {
        Self { router: Router::new(), listed: Vec::new() }
    }

    /// A page: `GET path`.
    pub(crate) fn get<H, T>(self, path: &'static str, needs: Needs, summary: &'static str, handler: H) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        self.push(Page { method: PageMethod::Get, path, needs, csrf: false, summary }, handler)
    }

    /// A form: `POST path`, carrying the session's CSRF token.
    pub(crate) fn post<H, T>(
        self,
        path: &'static str,
        needs: Needs,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        self.push(Page { method: PageMethod::Post, path, needs, csrf: true, summary }, handler)
    }

    /// A `POST` that no browser form sends, and so carries no CSRF token (a client's exchange
    /// that authenticates by what it sends, with no cookie).
    pub(crate) fn post_without_csrf<H, T>(
        self,
        path: &'static str,
        needs: Needs,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        self.push(Page { method: PageMethod::Post, path, needs, csrf: false, summary }, handler)
    }

    fn push<H, T>(mut self, page: Page, handler: H) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        // axum merges the methods of one path, and panics on the same method twice.
        let route: MethodRouter<ApiState> = on(page.method.filter(), handler);
        self.router = self.router.route(page.path, route);
        self.listed.push(page);
        self
    }

    pub(crate) fn into_parts(self) -> (Router<ApiState>, Vec<Page>) {
        (self.router, self.listed)
    }
}

/// Every route of the browser's side, from the one table (built once).
pub static PAGES: LazyLock<Vec<Page>> = LazyLock::new(|| super::table().1);

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{PAGES, PageMethod};

    #[test]
    fn every_route_is_listed_once_with_what_it_needs() {
        let (_, listed) = super::super::table();
        let unique: HashSet<_> = listed.iter().map(|p| (p.method, p.path)).collect();
        assert_eq!(unique.len(), listed.len(), "a route is added once");
        assert_eq!(PAGES.len(), listed.len());
        for p in &listed {
            assert!(!p.summary.is_empty(), "{} {}", p.method.as_str(), p.path);
            assert!(p.path.starts_with("/app") || p.path.starts_with("/oauth/"), "{}", p.path);
            assert!(p.method == PageMethod::Post || !p.csrf, "{}: a page is not a form", p.path);
        }
        let without: Vec<_> =
            listed.iter().filter(|p| p.method == PageMethod::Post && !p.csrf).map(|p| p.path).collect();
        assert_eq!(without, ["/oauth/token"], "every form carries a CSRF token");
    }
}
