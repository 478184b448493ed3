//! What the user typed: clap definitions only. Doc comments are the help text (first line
//! short). Nothing here validates beyond syntax; `settings.rs` turns these into checked values
//! before any I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tern: a Terraform/OpenTofu automation server whose core is dynamic provider credentials.
///
/// tern is an OpenID Connect issuer: for every plan and apply it mints a short-lived signed
/// token that AWS, Google Cloud, Azure, Kubernetes and Vault exchange for temporary
/// credentials. No static cloud keys anywhere.
#[derive(Debug, Parser)]
#[command(name = "tern", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Start here:\n  \
    tern serve                      run the server (SQLite, development key) and see what to do next\n  \
    tern run start --help           run Terraform on the server with dynamic credentials\n  \
    tern agent --help               run jobs on another machine\n  \
    tern exec --help                run terraform locally with dynamic credentials for your clouds\n  \
    tern keygen --out key.pem       make a production signing key\n  \
    tern token mint --help          mint a token by hand to test a trust policy\n\n\
    Exit codes: 0 success, 1 failure (including a refused token), 2 usage error.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TERN_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Run the server: OIDC issuer, TFE-compatible API, and workers that run plans and applies.
    #[command(after_help = SERVE_AFTER_HELP)]
    Serve(ServeArgs),
    /// Generate a signing key (PKCS#8 PEM, mode 0600) and print its kid and public JWK.
    #[command(after_help = "Examples:\n  \
        tern keygen --out /etc/tern/signing-key.pem\n  \
        tern keygen --out es256.pem --algorithm ES256\n  \
        tern keygen --out next.pem --public-out next.pub.pem   # for OTF/Terrakube-style setups")]
    Keygen(KeygenArgs),
    /// Run a command (e.g. terraform plan) with dynamic credentials for every configured cloud.
    #[command(after_help = EXEC_AFTER_HELP)]
    Exec(ExecArgs),
    /// Mint, inspect and verify workload identity tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run jobs for a tern server on this machine (no signing key needed: the server mints).
    #[command(
        after_help = "The token decides what the agent runs: a pool's token (tern agent-pool token) runs the\n\
        workspaces of that pool (agent execution mode); an organization-wide token (tern agent-token\n\
        create) runs the organization's remote-mode workspaces. The agent takes only jobs whose\n\
        Terraform version it has (--terraform, --tools-dir, or terraform/tofu on PATH).\n\n\
        Jobs and credentials go under $XDG_RUNTIME_DIR/tern, else /tmp/tern-<uid>: created mode\n\
        0700, and refused if it is a link, someone else's, or writable by others.\n\n\
        SIGTERM or Ctrl-C stops it: no new jobs, running ones end first (their Terraform gets the\n\
        signal, and is killed after --grace); a second signal kills their Terraform at once (the\n\
        jobs are still reported and cleaned up), a third exits without cleaning up.\n\n\
        Examples:\n  \
        tern agent-pool token prod --org acme         # on a machine logged in to tern\n  \
        TERN_AGENT_TOKEN=tern-agent.… tern agent --server https://tern.example.com \\\n    \
        --terraform /opt/terraform-1.11.4 --terraform /opt/tofu-1.8.0"
    )]
    Agent(AgentArgs),
    /// Store the server address and a token for the client commands.
    Login(LoginArgs),
    /// The audit trail: who did what, and every workload identity token minted (never a
    /// secret). Oldest first; --json prints JSON lines to keep or ship elsewhere.
    Audit(AuditArgs),
    /// Organizations.
    #[command(subcommand, name = "org")]
    Org(OrgCommand),
    /// Users: create them, give them tokens, make them administrators.
    #[command(subcommand, after_help = USER_AFTER_HELP)]
    User(UserCommand),
    /// Teams of an organization: members, permissions, access to workspaces and projects.
    #[command(subcommand, after_help = TEAM_AFTER_HELP)]
    Team(TeamCommand),
    /// Projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Variables of a workspace or a variable set (sensitive values are write-only).
    #[command(subcommand)]
    Var(VarCommand),
    /// Variable sets: variables shared by many workspaces (by workspace, project, or all).
    #[command(subcommand)]
    Varset(VarsetCommand),
    /// Runs: start (uploads a directory), follow logs, apply, discard, cancel.
    #[command(subcommand)]
    Run(RunCommand),
    /// State versions.
    #[command(subcommand)]
    State(StateCommand),
    /// Organization-wide agent tokens (their agents run remote-mode workspaces).
    #[command(subcommand, name = "agent-token")]
    AgentToken(AgentTokenCommand),
    /// Agent pools: the agents that run the workspaces in agent execution mode.
    #[command(subcommand, name = "agent-pool", after_help = AGENT_POOL_AFTER_HELP)]
    AgentPool(AgentPoolCommand),
    /// Managed signing keys of a server started with --managed-keys, and the issuer's JWKS (admin
    /// token).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print what a cloud must be told to trust this server's tokens (Terraform, JSON or CLI).
    #[command(after_help = TRUST_AFTER_HELP)]
    Trust(TrustArgs),
    /// Say whether a cloud would accept a token, condition by condition (exit 0 yes, 1 no).
    #[command(after_help = EXPLAIN_AFTER_HELP)]
    Explain(ExplainArgs),
    /// Check an installation (run it with tern serve's flags and environment): issuer,
    /// documents, keys, clock, database, agents, TLS. Exit 0 when nothing fails.
    #[command(after_help = DOCTOR_AFTER_HELP)]
    Doctor(DoctorArgs),
}

const TRUST_AFTER_HELP: &str = "\
Subjects come from the claim profile and subject template in use (--profile,
--subject-template, or TERN_CLAIM_PROFILE / TERN_SUBJECT_TEMPLATE as tern serve reads them),
so the trust and the tokens cannot drift. Leave --project or --workspace out to trust any
(AWS, Google Cloud, Vault); Azure and Kubernetes compare subjects exactly and need both.

--phase: plan, apply, both (one role for either phase; default) or each (one role per phase,
so plan can be read-only).

Examples:
  tern trust aws --organization acme --project 'Default Project' --workspace prod > trust.tf
  tern trust gcp --organization acme --workspace prod --format cli --gcp-project-id my-proj
  tern trust azure --organization acme --project 'Default Project' --workspace prod --format json
  tern trust vault --organization acme --phase each --format cli | sh
  tern trust kubernetes --organization acme --project Platform --workspace eks --audience k8s";

const EXPLAIN_AFTER_HELP: &str = "\
The token comes from --token (a file, or - for stdin), or tern mints a sample from
--organization/--project/--workspace/--phase with the issuer and claim profile in use. Each
condition is printed with the token's value and the expected one, and the first difference
is pointed at (a trailing slash, a missing project segment, the phase, 'Default Project', an
audience). The signature is not checked: that is `tern token verify`.

--trust takes what the cloud prints, or what `tern trust --format json` wrote:
  aws    the role trust policy (aws iam get-role --role-name R, or its AssumeRolePolicyDocument);
         --provider-url and --client-id describe the IAM OIDC provider
  gcp    the provider (gcloud iam workload-identity-pools providers describe P --format json);
         --member checks a service account binding's principal too
  azure  the federated credential(s) (az ad app federated-credential list --id APP)
  vault  the role (vault read -format=json auth/jwt/role/R); --config the auth method's config

Exit codes: 0 the cloud would accept the token, 1 it would refuse it, 2 unreadable input.

Examples:
  tern explain aws --trust role.json --provider-url https://tern.example.com --token token.jwt
  tern explain vault --trust role.json --config config.json \\
    --organization acme --workspace prod --phase apply";

const DOCTOR_AFTER_HELP: &str = "\
Run it where tern serve runs, with the same flags and environment: it reads the same issuer,
keys, database and TLS files, fetches the discovery and JWKS documents at the issuer URL as a
cloud would, and changes nothing. Each check prints pass, warn or FAIL, and a fix.

Exit codes: 0 no check failed (warnings allowed), 1 some check failed, 2 unusable flags.

Example:
  TERN_ISSUER_URL=https://tern.example.com tern doctor --signing-key /etc/tern/key.pem \\
    --tls-cert /etc/tern/cert.pem --tls-key /etc/tern/key.pem --database-url postgres://…";

/// A relying party for `tern trust`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TrustCloud {
    /// AWS IAM OIDC provider and role trust policy.
    Aws,
    /// Google Cloud workload identity pool, provider and service account binding.
    Gcp,
    /// Microsoft Entra ID federated identity credentials.
    Azure,
    /// Vault / OpenBao JWT auth method, roles and policy.
    Vault,
    /// EKS identity provider config (or structured authentication) and RBAC bindings.
    Kubernetes,
}

/// A relying party for `tern explain`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExplainCloud {
    /// AWS STS AssumeRoleWithWebIdentity.
    Aws,
    /// Google Cloud STS with a workload identity provider.
    Gcp,
    /// Microsoft Entra ID federated credentials.
    Azure,
    /// Vault / OpenBao JWT login.
    Vault,
}

/// Output of `tern trust`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TrustFormat {
    /// Terraform resources.
    Terraform,
    /// The cloud's own JSON documents.
    Json,
    /// The cloud's CLI commands, as a shell script.
    Cli,
}

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The cloud.
    #[arg(value_enum)]
    pub cloud: TrustCloud,

    /// Output: terraform, json (the cloud's documents) or cli (a shell script).
    #[arg(long, value_enum, default_value = "terraform")]
    pub format: TrustFormat,

    /// Issuer URL of the server, exactly as in its tokens.
    #[arg(long, value_name = "URL", env = "TERN_ISSUER_URL")]
    pub issuer_url: Option<String>,

    #[command(flatten)]
    pub claims: ClaimArgs,

    /// Organization name.
    #[arg(long, value_name = "NAME")]
    pub organization: String,

    /// Organization id (needed when the subject template uses organization_id).
    #[arg(long, value_name = "ID")]
    pub organization_id: Option<String>,

    /// Project name (HCP Terraform's default: 'Default Project'); omitted: any project.
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,

    /// Project id, when the subject template uses project_id; omitted: any.
    #[arg(long, value_name = "ID")]
    pub project_id: Option<String>,

    /// Workspace name; omitted: any workspace of the organization (and project).
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,

    /// Workspace id, when the subject template uses workspace_id; omitted: any.
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,

    /// Which phases: plan, apply, both (one role) or each (one role per phase).
    #[arg(long, value_parser = ["plan", "apply", "both", "each"], default_value = "both")]
    pub phase: String,

    /// Audience, when the workspace sets one (TFC_<P>_WORKLOAD_IDENTITY_AUDIENCE); required
    /// for Kubernetes. Default: the cloud's (aws.workload.identity, api://AzureADTokenExchange,
    /// vault.workload.identity, Google's provider name).
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,

    /// Base name of roles, pools, credentials and policies (default tern-<org>[-<workspace>]).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// AWS account id (json format: the provider ARN; cli format asks AWS otherwise).
    #[arg(long, value_name = "ID", help_heading = "Cloud settings")]
    pub aws_account_id: Option<String>,

    /// Google Cloud project id of the pool.
    #[arg(long, value_name = "ID", help_heading = "Cloud settings")]
    pub gcp_project_id: Option<String>,

    /// Google Cloud project number (json format: resource names).
    #[arg(long, value_name = "NUMBER", help_heading = "Cloud settings")]
    pub gcp_project_number: Option<String>,

    /// Workload identity pool id (default: the base name).
    #[arg(long, value_name = "ID", help_heading = "Cloud settings")]
    pub gcp_pool_id: Option<String>,

    /// Workload identity pool provider id (default: tern).
    #[arg(long, value_name = "ID", help_heading = "Cloud settings")]
    pub gcp_provider_id: Option<String>,

    /// Service account the runs impersonate.
    #[arg(long, value_name = "EMAIL", help_heading = "Cloud settings")]
    pub service_account: Option<String>,

    /// Google Cloud, private issuer: upload this JWKS (`tern keys export-jwks`) to the provider
    /// instead of letting Google fetch the issuer's; public keys only. Stale after a rotation.
    #[arg(long, value_name = "FILE", help_heading = "Cloud settings")]
    pub jwks_file: Option<PathBuf>,

    /// Object id of the Entra ID application.
    #[arg(long, value_name = "ID", help_heading = "Cloud settings")]
    pub azure_application_id: Option<String>,

    /// Vault JWT auth mount path (default: jwt).
    #[arg(long, value_name = "PATH", help_heading = "Cloud settings")]
    pub vault_mount: Option<String>,

    /// EKS cluster name.
    #[arg(long, value_name = "NAME", help_heading = "Cloud settings")]
    pub eks_cluster: Option<String>,

    /// Kubernetes ClusterRole the runs are bound to (default: edit).
    #[arg(long, value_name = "ROLE", help_heading = "Cloud settings")]
    pub kubernetes_cluster_role: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The cloud.
    #[arg(value_enum)]
    pub cloud: ExplainCloud,

    /// The trust configuration (JSON; see below for what each cloud takes).
    #[arg(long, value_name = "PATH")]
    pub trust: PathBuf,

    /// The token to explain: a file, or - for stdin. Without it, a sample is minted (not
    /// signed) from --organization, --workspace, … with the issuer and profile in use.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["organization", "workspace"])]
    pub token: Option<String>,

    /// Sample token: organization name.
    #[arg(long, value_name = "NAME", required_unless_present = "token", requires = "workspace")]
    pub organization: Option<String>,

    /// Sample token: project name.
    #[arg(long, value_name = "NAME", default_value = "Default Project")]
    pub project: String,

    /// Sample token: workspace name.
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,

    /// Sample token: phase.
    #[arg(long, value_parser = ["plan", "apply"], default_value = "plan")]
    pub phase: String,

    /// Sample token: issuer URL (the server's).
    #[arg(long, value_name = "URL", env = "TERN_ISSUER_URL")]
    pub issuer_url: Option<String>,

    #[command(flatten)]
    pub claims: ClaimArgs,

    /// Sample token: audience (default: the cloud's, as tern's tokens carry it).
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,

    /// AWS: the IAM OIDC provider's URL.
    #[arg(long, value_name = "URL")]
    pub provider_url: Option<String>,

    /// AWS: the IAM OIDC provider's client IDs (repeatable).
    #[arg(long = "client-id", value_name = "AUD")]
    pub client_ids: Vec<String>,

    /// Google Cloud: a service account binding's member to check, e.g.
    /// principalSet://iam.googleapis.com/projects/…/workloadIdentityPools/POOL/*.
    #[arg(long, value_name = "PRINCIPAL")]
    pub member: Option<String>,

    /// Vault: the auth method's config (vault read -format=json auth/jwt/config).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Which role of a `tern trust --format json` document (AWS RoleName, Vault role name).
    #[arg(long, value_name = "NAME")]
    pub role: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub serve: ServeArgs,

    /// Extra CA certificate (PEM) to trust when fetching the issuer's documents.
    #[arg(long, value_name = "PATH", help_heading = "Doctor")]
    pub ca_cert: Option<PathBuf>,

    /// Time limit of each network check.
    #[arg(long, value_name = "DURATION", default_value = "10s", help_heading = "Doctor")]
    pub timeout: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys: the signing key, the next one, and retired ones still published.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Publish a new key now; it signs once --activate-in has passed (default: the server's
    /// --key-publish-lead), and the current key then retires.
    Rotate {
        /// How long to publish the new key before it signs, e.g. 1h. The server refuses less
        /// than the JWKS max-age plus its key refresh interval (a third of --key-publish-lead,
        /// 1 to 10 s): a relying party may cache the JWKS for max-age, and another replica
        /// serves the new key only after its next refresh.
        #[arg(long, value_name = "DURATION")]
        activate_in: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Retire a key: it stops signing (the next key takes over at once) and stays published
    /// until its tokens have expired, or leaves the JWKS at once with --unpublish.
    Retire {
        /// Key id (as `tern keys list` shows it; it may start with '-').
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Remove it from the JWKS now: tokens it signed stop verifying (a compromised key).
        #[arg(long)]
        unpublish: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the issuer's public JWKS, for a cloud that cannot reach this server (private issuer).
    ///
    /// Exactly the document /.well-known/jwks serves: the signing key, a next key and retired
    /// keys still published. A cloud given it instead of the issuer's URL (`tern trust gcp
    /// --jwks-file`) must be given it again before each next key signs (`tern keys list` shows
    /// when). Works with key files too.
    #[command(name = "export-jwks")]
    ExportJwks {
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Where the server is and which token to use. Flags win over the environment, which wins over
/// the file `tern login` writes.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// tern server URL.
    #[arg(long, global = true, value_name = "URL", env = "TERN_SERVER")]
    pub server: Option<String>,
    /// API token; prefer TERN_TOKEN or `tern login`.
    #[arg(long, global = true, value_name = "TOKEN", env = "TERN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// tern server URL, e.g. https://tern.example.com or http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Read the token from this file instead of standard input ("-" for stdin).
    #[arg(long, value_name = "PATH", default_value = "-")]
    pub token_file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (with its "Default Project"); needs the admin token.
    Create {
        /// Name: letters, digits, '-' and '_'.
        name: String,
        /// Contact address.
        #[arg(long, default_value = "")]
        email: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List organizations.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create an API token limited to one organization (for Terraform's `credentials` block or
    /// CI); needs the admin token. Printed once.
    Token {
        /// Organization name.
        name: String,
        /// Free text shown with the token.
        #[arg(long, default_value = "")]
        description: String,
        /// Make the token expire after this long, e.g. 90d or 12h (default: it does not expire;
        /// `tern token revoke` ends it at any time).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

const USER_AFTER_HELP: &str = "\
What a user may do comes from their teams, as in HCP Terraform: every organization has an
`owners` team that may do everything in it, and other teams get organization permissions and
access to workspaces (read < plan < write < admin) or projects (tern team --help). A user's token
acts as their teams allow; an administrator's (--admin) may do everything in every organization.

Without an identity provider, make the first administrator with the admin token:
  tern user create alice --admin && tern user token alice > alice.token
  tern login --server https://tern.example.com --token-file alice.token";

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (admin token); they act through their teams, with their own token.
    #[command(after_help = "Examples:\n  \
        tern user create alice --email alice@example.com\n  \
        tern team add-member --org acme devs alice\n  \
        tern user create root --admin        # an administrator of the installation\n  \
        tern user create bob --identity 'https://login.example.com/realms/acme#0b6f…'   # signs in there")]
    Create {
        /// Username, unique in the installation: letters, digits, '-', '_', '.' (and one '@').
        username: String,
        /// Contact address.
        #[arg(long, value_name = "EMAIL", default_value = "")]
        email: String,
        /// Make them an administrator of the installation: they may do everything, everywhere.
        #[arg(long)]
        admin: bool,
        /// Who they are at the identity provider, `<issuer>#<sub>` (the ID token's `iss` and
        /// `sub`): their sign-in there reaches this user. Without it, a provider sign-in never
        /// reaches a user made here (a provider's username is no proof of being that person).
        #[arg(long, value_name = "ISSUER#SUB")]
        identity: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List every user (admin token).
    #[command(after_help = "Examples:\n  \
        tern user list\n  \
        tern user list --json | jq -r 'select(.\"is-admin\") | .username'")]
    List {
        /// One JSON object per line (id, username, email, is-admin).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a user (admin token): their tokens stop working at once, and they leave every team.
    #[command(after_help = "Example:\n  tern user delete bob")]
    Delete {
        /// Username.
        username: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create an API token for a user, printed once: an administrator makes one for anyone, a
    /// user for themselves. It may do what the user's teams allow.
    #[command(
        after_help = "The token goes to stdout alone (what to know about it to stderr), so that it can be captured.\n\n\
        Examples:\n  \
        export TERN_TOKEN=$(tern user token alice --expires-in 90d)\n  \
        tern user token alice --description laptop > alice.token"
    )]
    Token {
        /// Username.
        username: String,
        /// Free text shown with the token.
        #[arg(long, default_value = "")]
        description: String,
        /// Make the token expire after this long, e.g. 90d or 12h (default: it does not expire;
        /// `tern token revoke` ends it at any time).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make a user an administrator of the installation (admin token).
    #[command(after_help = "Example:\n  tern user grant-admin alice")]
    GrantAdmin {
        /// Username.
        username: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Sign a user out of every browser (admin token), or out of one with --session (yours too):
    /// the web sessions end on every replica, and a page open in them stops following within
    /// seconds. API tokens remain: end those with `tern token revoke`.
    #[command(after_help = "Examples:\n  \
        tern user sign-out bob            # someone leaves; their laptop is gone\n  \
        tern token list                   # then revoke the tokens they held\n  \
        tern user sessions alice          # a browser you no longer use:\n  \
        tern user sign-out alice --session ses-4kQ2rV9xTb1mZp8L")]
    SignOut {
        /// Username.
        username: String,
        /// End only this session (its id, from `tern user sessions`): a user may end their own,
        /// an administrator anyone's.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List a user's browser sessions, newest first: yours with your own token, anyone's with
    /// the admin token. Shows ids and times, never a session's secret.
    #[command(after_help = "Examples:\n  \
        tern user sessions bob\n  \
        tern user sign-out bob --session ses-4kQ2rV9xTb1mZp8L   # end one of them\n  \
        tern user sessions bob --json | jq -r .id")]
    Sessions {
        /// Username.
        username: String,
        /// One JSON object per line (id, created-at, last-seen-at, expires-at).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make a user no longer an administrator (admin token); what their teams allow remains.
    #[command(after_help = "Example:\n  tern user revoke-admin alice")]
    RevokeAdmin {
        /// Username.
        username: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

const TEAM_AFTER_HELP: &str = "\
Every organization has an `owners` team whose members may do everything in it. Other teams get
organization permissions (tern team create --permission) and access to workspaces (read < plan <
write < admin) or projects (read < write < maintain < admin), as in HCP Terraform. A user's token
acts as all their teams allow together; a team's token (tern team token), as that team.

Example:
  tern team create --org acme devs --permission read-workspaces
  tern team add-member --org acme devs alice bob
  tern team access --org acme devs --workspace prod --level plan";

/// The organization permissions a team may hold, in HCP Terraform's names (the keys of
/// `organization-access`), with what each lets a team do in tern. A unit test keeps them the
/// keys of `tern_access::OrgPermissions`.
pub const ORG_PERMISSIONS: [(&str, &str); 16] = [
    ("manage-workspaces", "create workspaces, administer every workspace, manage variable sets"),
    (
        "manage-projects",
        "create, rename and delete projects, administer every project (needs manage-workspaces)",
    ),
    ("read-workspaces", "read every workspace: runs, variables, state"),
    ("read-projects", "see every project (needs read-workspaces)"),
    ("manage-membership", "add users to teams and remove them"),
    ("manage-teams", "create, rename and delete teams, manage their tokens (and members)"),
    ("manage-organization-access", "change teams' organization permissions"),
    ("manage-agent-pools", "create and delete agent pools and their tokens"),
    ("manage-policies", "kept for TFE clients; tern has no policies"),
    ("manage-policy-overrides", "kept for TFE clients; tern has no policies"),
    ("delegate-policy-overrides", "kept for TFE clients; tern has no policies"),
    ("manage-vcs-settings", "kept for TFE clients; tern has no VCS settings"),
    ("manage-providers", "kept for TFE clients; tern has no private registry"),
    ("manage-modules", "kept for TFE clients; tern has no private registry"),
    ("manage-run-tasks", "kept for TFE clients; tern has no run tasks"),
    ("access-secret-teams", "kept for TFE clients; tern shows every team to the organization's members"),
];

fn org_permission() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        ORG_PERMISSIONS.map(|(name, help)| clap::builder::PossibleValue::new(name).help(help)),
    )
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum TeamCommand {
    /// Create a team, with the organization permissions given (manage-teams; permissions need
    /// manage-organization-access).
    #[command(after_help = "Examples:\n  \
        tern team create --org acme devs\n  \
        tern team create --org acme platform --permission manage-workspaces --permission manage-projects\n  \
        tern team create --org acme auditors --permission read-workspaces --sso-team-id audit-group")]
    Create {
        /// Name, unique in the organization: letters, digits, '-', '_' and '.'.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// An organization permission the team holds (repeatable). Without any, the team may do
        /// only what its access to workspaces and projects allows (tern team access).
        #[arg(long = "permission", value_name = "PERMISSION", value_parser = org_permission())]
        permissions: Vec<String>,
        /// The identity provider's group this team stands for (TFE's SSO team id).
        #[arg(long, value_name = "GROUP")]
        sso_team_id: Option<String>,
        /// organization or secret (default), as TFE shows it; in tern every member of the
        /// organization sees every team.
        #[arg(long, value_name = "VISIBILITY", value_parser = ["organization", "secret"])]
        visibility: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the organization's teams: members, permissions.
    #[command(after_help = "Examples:\n  \
        tern team list --org acme\n  \
        tern team list --org acme --json")]
    List {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// One JSON object per line (id, name, users-count, organization-access, visibility,
        /// sso-team-id).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a team: its permissions, members and identity provider group.
    #[command(after_help = "Example:\n  tern team show --org acme devs")]
    Show {
        /// Team name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// One JSON object (its members by username).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a team with its access and tokens (never owners; manage-teams).
    #[command(after_help = "Example:\n  tern team delete --org acme devs")]
    Delete {
        /// Team name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add users to a team (manage-membership).
    #[command(after_help = "Example:\n  tern team add-member --org acme devs alice bob")]
    AddMember {
        /// Team name.
        team: String,
        /// Usernames (tern user list).
        #[arg(required = true, value_name = "USERNAME")]
        usernames: Vec<String>,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove users from a team (manage-membership).
    #[command(after_help = "Example:\n  tern team remove-member --org acme devs bob")]
    RemoveMember {
        /// Team name.
        team: String,
        /// Usernames.
        #[arg(required = true, value_name = "USERNAME")]
        usernames: Vec<String>,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Give a team access to a workspace or a project, change it, or remove it (--remove); needs
    /// admin access to the workspace (project).
    #[command(after_help = TEAM_ACCESS_AFTER_HELP)]
    Access {
        /// Team name.
        team: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        target: TeamAccessTarget,
        /// On a workspace: read, plan, write or admin; on a project: read, write, maintain or
        /// admin.
        #[arg(long, value_name = "LEVEL", required_unless_present = "remove", conflicts_with = "remove")]
        level: Option<String>,
        /// Remove the team's access instead.
        #[arg(long)]
        remove: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create an API token for a team, printed once: it may do what the team may (manage-teams).
    #[command(
        after_help = "The token goes to stdout alone (what to know about it to stderr), so that it can be captured.\n\n\
        Examples:\n  \
        tern team token --org acme ci --description 'GitHub Actions' --expires-in 90d > ci.token\n  \
        tern team token --org acme ci --replace      # and revoke the team's other tokens"
    )]
    Token {
        /// Team name.
        team: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Free text shown with the token.
        #[arg(long, default_value = "")]
        description: String,
        /// Make the token expire after this long, e.g. 90d or 12h (default: it does not expire;
        /// `tern token revoke` ends it at any time).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Revoke the team's other tokens (TFE's one team token).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

const TEAM_ACCESS_AFTER_HELP: &str = "\
Workspace levels, each with everything of the one before, as in HCP Terraform:
  read      read runs, variables and state
  plan      also start plans
  write     also apply, write variables and state, lock and unlock
  admin     also change settings, delete the workspace, manage teams' access to it
Project levels reach every workspace of the project:
  read      read the project and its workspaces
  write     write its workspaces (as workspace write)
  maintain  administer its workspaces, create and delete them
  admin     also rename and delete the project, manage teams' access to it
custom (permission by permission) is set through the API only: POST /api/v2/team-workspaces or
/api/v2/team-projects with access \"custom\".

Examples:
  tern team access --org acme devs --workspace prod --level plan
  tern team access --org acme platform --project infra --level maintain
  tern team access --org acme devs --workspace prod --remove";

/// The workspace or the project of `tern team access`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct TeamAccessTarget {
    /// Workspace name.
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,
    /// Project name: the access reaches every workspace in it.
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project.
    Create {
        /// Name (letters, digits, spaces, '-' and '_').
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List projects.
    List {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum WorkspaceCommand {
    /// Create a workspace.
    Create {
        /// Name: letters, digits, '-' and '_'.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Project name (default: Default Project).
        #[arg(long)]
        project: Option<String>,
        /// Apply without confirmation when a plan has changes.
        #[arg(long)]
        auto_apply: bool,
        /// Terraform version runs use: an exact version (1.11.4) or latest (default: the highest
        /// version the runner has). The runners' operators register the binaries.
        #[arg(long, value_name = "VERSION")]
        terraform_version: Option<String>,
        /// Removed: a workspace chooses a Terraform version (--terraform-version), not a program.
        #[arg(long, value_name = "PROGRAM", hide = true)]
        terraform_bin: Option<String>,
        /// Directory of the configuration where Terraform runs.
        #[arg(long, value_name = "DIR")]
        working_directory: Option<String>,
        /// remote (default: tern serve's workers), agent (the agents of --agent-pool) or local
        /// (Terraform runs on the client; tern keeps the state).
        #[arg(long, value_name = "MODE")]
        execution_mode: Option<String>,
        /// Agent pool (name or apool-… id) whose agents run this workspace; implies
        /// --execution-mode agent.
        #[arg(long, value_name = "POOL")]
        agent_pool: Option<String>,
        /// Plan phase timeout, e.g. 30m (default 2h).
        #[arg(long, value_name = "DURATION")]
        plan_timeout: Option<String>,
        /// Apply phase timeout, e.g. 1h (default 2h).
        #[arg(long, value_name = "DURATION")]
        apply_timeout: Option<String>,
        /// A tag (repeatable): the `cloud` block's `workspaces { tags = [...] }` selects the
        /// workspaces that have all of its tags.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List workspaces.
    List {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Only names containing this.
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change a workspace's settings: only the options given change.
    Update {
        /// Workspace name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// A new name (Terraform's configurations that name the workspace must follow).
        #[arg(long, value_name = "NAME")]
        rename: Option<String>,
        /// Free text.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Apply without confirmation when a plan has changes: true or false.
        #[arg(long, value_name = "BOOL")]
        auto_apply: Option<bool>,
        /// Terraform version runs use: an exact version (1.11.4) or latest.
        #[arg(long, value_name = "VERSION")]
        terraform_version: Option<String>,
        /// Directory of the configuration where Terraform runs.
        #[arg(long, value_name = "DIR")]
        working_directory: Option<String>,
        /// remote, agent (with --agent-pool) or local.
        #[arg(long, value_name = "MODE")]
        execution_mode: Option<String>,
        /// Agent pool (name or apool-… id); implies --execution-mode agent.
        #[arg(long, value_name = "POOL")]
        agent_pool: Option<String>,
        /// Plan phase timeout, e.g. 30m.
        #[arg(long, value_name = "DURATION")]
        plan_timeout: Option<String>,
        /// Apply phase timeout, e.g. 1h.
        #[arg(long, value_name = "DURATION")]
        apply_timeout: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a workspace with its runs, state versions and variables (refused while a run holds
    /// it).
    Delete {
        /// Workspace name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Only if its current state manages no resource (TFE's safe delete): destroy first.
        #[arg(long)]
        safe: bool,
        /// Required: deleting cannot be undone.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Lock a workspace: no run starts and no client applies until it is unlocked.
    Lock {
        /// Workspace name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Unlock a workspace.
    Unlock {
        /// Workspace name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a workspace.
    Show {
        /// Workspace name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum VarCommand {
    /// Create or update a variable: `tern var set KEY=VALUE` (or `KEY` and the value on stdin).
    Set {
        /// KEY=VALUE, or KEY to read the value from standard input (keeps it out of shell history;
        /// at a terminal, tern asks for it).
        ///
        /// An empty standard input is refused, so that a forgotten `< file` does not store an
        /// empty value: to set one on purpose, write `KEY=`.
        assignment: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        owner: VarOwner,
        /// An environment variable of Terraform's process (default).
        #[arg(long, conflicts_with = "terraform")]
        env: bool,
        /// A Terraform input variable.
        #[arg(long)]
        terraform: bool,
        /// Write-only: never shown again, encrypted at rest.
        #[arg(long)]
        sensitive: bool,
        /// The value is HCL (lists, maps).
        #[arg(long)]
        hcl: bool,
        /// Free text shown with the variable.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List variables (sensitive values show as <sensitive>).
    List {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        owner: VarOwner,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a variable.
    Delete {
        /// Variable name.
        key: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        owner: VarOwner,
        /// Delete the Terraform variable of that name, not the environment variable.
        #[arg(long)]
        terraform: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "\
Each event names who acted (a token id, or the job id for what a run's phase did), the action
(token.minted, run.created, run.applied, run.discarded, run.canceled, variable.created,
variable.updated, variable.deleted, variable-set.created, variable-set.applied,
variable-set.removed, variable-set.deleted, token.created, token.revoked, key.rotated,
key.retired),
where (workspace, run) and its details — for token.minted the jti, subject, audience, key and
expiry of the token, never the token itself.

Examples:
  tern audit --org acme --since 24h
  tern audit --org acme --action token.minted --workspace prod --json > minted.jsonl
  tern audit --since 2026-12-01T00:00:00Z            # every organization (admin token)")]
pub struct AuditArgs {
    /// Only this organization's events (without it: every event, which needs the admin token).
    #[arg(long, value_name = "ORG", env = "TERN_ORG")]
    pub org: Option<String>,
    /// Events since: a duration back from now (24h, 7d) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Events before: a duration back from now or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only what this actor did (a token id `at-…`, or a job id).
    #[arg(long, value_name = "ID")]
    pub actor: Option<String>,
    /// Only this workspace (a name with --org, or a `ws-…` id).
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,
    /// Only this action, e.g. token.minted.
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// One JSON object per line (every attribute), for export.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Whose variables: a workspace's, or a variable set's.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct VarOwner {
    /// Workspace name.
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,
    /// Variable set name (see `tern varset list`): the variable applies wherever the set does.
    #[arg(long, value_name = "NAME")]
    pub varset: Option<String>,
}

#[derive(Debug, Subcommand)]
#[command(after_help = "\
A variable set holds variables that apply to many workspaces: to the workspaces and projects it is
applied to, or to every workspace of the organization (--global). A workspace's own variable wins
over a set's of the same name and kind; a set applied to the workspace wins over one applied to its
project, which wins over a global one. Set a set's variables with `tern var set --varset NAME`.

Examples:
  tern varset create aws-prod --org acme --description \"AWS role for production\"
  tern var set TFC_AWS_PROVIDER_AUTH=true --varset aws-prod --org acme
  tern varset apply aws-prod --org acme --project production --workspace network
  tern varset show aws-prod --org acme")]
pub enum VarsetCommand {
    /// Create a variable set.
    Create {
        /// Name, unique in the organization.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// Apply it to every workspace of the organization.
        #[arg(long)]
        global: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the organization's variable sets.
    List {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a variable set: where it applies and its variables (sensitive values hidden).
    Show {
        /// Variable set name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Apply a variable set to workspaces and projects (every workspace in them).
    Apply {
        /// Variable set name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        targets: VarsetTargets,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Stop applying a variable set to workspaces and projects.
    Remove {
        /// Variable set name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        targets: VarsetTargets,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a variable set and its variables.
    Delete {
        /// Variable set name.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Confirm: the set's variables stop applying to every workspace at once.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// The workspaces and projects a variable set is applied to or removed from.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct VarsetTargets {
    /// A workspace (repeat for several).
    #[arg(long, value_name = "NAME")]
    pub workspace: Vec<String>,
    /// A project: every workspace in it (repeat for several).
    #[arg(long, value_name = "NAME")]
    pub project: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Pack a directory, upload it, and start a run; follows its logs unless --no-follow.
    #[command(after_help = "\
The directory is packed without .terraform/, .git/ and state files. The run executes on the
server's workers or an agent, with the workspace's variables and dynamic credentials.

Exit code (when following): 0 if the run applied, found nothing to change, or is planned and
waits for `tern run apply`; 1 if it errored, was canceled or discarded.

Examples:
  tern run start --org acme --workspace prod --dir ./infra
  tern run start --org acme --workspace prod --dir ./infra --auto-apply
  RUN=$(tern run start --org acme --workspace prod --no-follow) && tern run logs \"$RUN\" --follow")]
    Start {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Workspace name.
        #[arg(long, value_name = "NAME")]
        workspace: String,
        /// Configuration directory.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Apply without confirmation if the plan has changes.
        #[arg(long)]
        auto_apply: bool,
        /// Plan only.
        #[arg(long)]
        plan_only: bool,
        /// Plan to destroy everything.
        #[arg(long)]
        destroy: bool,
        /// Message shown with the run.
        #[arg(long, short)]
        message: Option<String>,
        /// Print the run id and return at once (default: follow the logs until the run ends or
        /// waits for confirmation).
        #[arg(long)]
        no_follow: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a run.
    Show {
        /// Run id (run-…).
        run: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List a workspace's runs.
    List {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Workspace name.
        #[arg(long, value_name = "NAME")]
        workspace: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Confirm a planned run.
    Apply {
        /// Run id (run-…).
        run: String,
        /// Follow the apply's log.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Discard a planned run.
    Discard {
        /// Run id (run-…).
        run: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Cancel a run (a running phase gets an interrupt, then is killed after the grace period).
    Cancel {
        /// Run id (run-…).
        run: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print a run's logs; --follow waits for the run to end.
    Logs {
        /// Run id (run-…).
        run: String,
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the workspace's current state (as `terraform state pull` does).
    Pull {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Workspace name.
        #[arg(long, value_name = "NAME")]
        workspace: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List state versions.
    List {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Workspace name.
        #[arg(long, value_name = "NAME")]
        workspace: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

const AGENT_POOL_AFTER_HELP: &str = "\
A workspace in agent execution mode names a pool, and only agents holding a token of that pool
run its plans and applies: never tern serve's own workers, never another pool's agents. Runs
of such a workspace wait until an agent of the pool asks for work (the run says so).

Example:
  tern agent-pool create prod --org acme
  tern workspace create app --org acme --agent-pool prod --terraform-version 1.11.4
  TERN_AGENT_TOKEN=$(tern agent-pool token prod --org acme) \\
    tern agent --server https://tern.example.com --terraform /opt/terraform/1.11.4/terraform";

#[derive(Debug, Subcommand)]
pub enum AgentPoolCommand {
    /// Create an agent pool.
    Create {
        /// Name, unique in the organization.
        name: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List agent pools with their agents (seen in the last minute) and workspaces.
    List {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create a token for the pool's agents (printed once; give it to `tern agent`).
    Token {
        /// Pool name (or apool-… id).
        pool: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Free text shown with the token.
        #[arg(long, default_value = "")]
        description: String,
        /// Make the token expire after this long, e.g. 90d or 12h (default: it does not expire;
        /// `tern token revoke` ends it at any time).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a pool and its tokens (refused while a workspace uses it).
    Delete {
        /// Pool name (or apool-… id).
        pool: String,
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentTokenCommand {
    /// Create an organization-wide agent token; printed once. Its agents run the organization's
    /// remote-mode workspaces (like tern serve's workers); for agent mode, use an agent pool's
    /// token (`tern agent-pool token`).
    Create {
        /// Organization name.
        #[arg(long, value_name = "ORG", env = "TERN_ORG")]
        org: String,
        /// Free text shown with the token.
        #[arg(long, default_value = "")]
        description: String,
        /// Make the token expire after this long, e.g. 90d or 12h (default: it does not expire;
        /// `tern token revoke` ends it at any time).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

const EXEC_AFTER_HELP: &str = "\
The workspace variables come from --env-file (dotenv lines) and from the dynamic credentials
variables in the environment (TFC_*, and Terrakube's ENABLE_DYNAMIC_CREDENTIALS_* and
WORKLOAD_IDENTITY_*). Every problem with them is reported before anything is minted.

tern mints a token per configuration, writes credential files into a private directory of the
run (outside the working directory), logs in to Vault and reads secrets engines where asked,
refreshes file tokens and renews Vault tokens while the command runs, and removes everything
(revoking Vault tokens and leases) when it ends: on success, failure, timeout or a signal. A
phase that was killed is cleaned up by the next start. The runner's own cloud credentials are
removed from the command's environment.

Exit code: the command's; 128+N if a signal N killed it; 124 if the phase timed out; 1 (with
an error on stderr) if tern could not prepare the credentials; 2 for a usage error.

tern exec signs with a local key that the command, running as the same user, could read: use
it for development and trusted CI. Runs on a tern server never give the key to the workload.

Examples:
  tern exec --env-file workspace.env --signing-key key.pem --issuer-url https://tern.example.com \\
    --organization acme --workspace prod --run-id run-42 --phase plan -- terraform plan -out=tfplan
  tern exec --dry-run --env-file workspace.env ... -- terraform plan   # show what would be built";

const SERVE_AFTER_HELP: &str = "\
With no options, tern serves on http://127.0.0.1:8080 with a SQLite database, a development
signing key and an encryption key that it generates once in the data directory, runs jobs on 2
workers of its own, and prints what to try next. On first start it creates the admin token in
<data directory>/admin-token (mode 0600; never printed or logged). TERN_ADMIN_TOKEN sets the
admin token instead.

For production, give the https URL at which clouds reach tern and a key made with `tern keygen`;
for several replicas, one PostgreSQL database and the same encryption key:
  tern serve --issuer-url https://tern.example.com --signing-key /etc/tern/key.pem \\
             --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem \\
             --database-url postgres://tern@db:5432/tern --encryption-key-file /etc/tern/kek

Terraform: the workers run the binaries given with --terraform or --tools-dir (or terraform,
else tofu, found on PATH), each probed for its version at start, and take only the jobs whose
workspace's terraform-version they have. They never run a workspace in agent execution mode:
its agent pool's agents do (tern agent-pool --help).

Rotation by hand: publish the next key first, sign with it later, retire the old one last:
  tern serve --signing-key current.pem --signing-key next.pem     # next is only published
  tern serve --signing-key next.pem --signing-key current.pem     # once clouds re-fetched the JWKS
  tern serve --signing-key next.pem                               # after the last old token expired

Migrating: OTF's --private-key-path/--public-key-path and OTF_PRIVATE_KEY_PATH,
OTF_PUBLIC_KEY_PATH, OTF_HOSTNAME, and Terrakube's DynamicCredentialPrivateKeyPath,
DynamicCredentialPublicKeyPath, DynamicCredentialId, DynamicCredentialTtl (minutes) and
DynamicCredentialHostname are accepted as they are.";

/// Which signing keys to use. Shared by `serve` and `token mint`.
#[derive(Debug, Args)]
pub struct SigningKeyArgs {
    /// Private key that signs tokens (PEM: PKCS#8, PKCS#1 or SEC1; RSA >= 2048 bits or EC P-256).
    ///
    /// `tern serve` takes it several times (or comma-separated paths in the variable) to
    /// publish more keys for rotation: the first signs, the others (private or public key
    /// files) are only listed in the JWKS.
    #[arg(
        long = "signing-key",
        visible_alias = "private-key-path",
        value_name = "PATH",
        env = "TERN_SIGNING_KEY",
        value_delimiter = ','
    )]
    pub signing_keys: Vec<PathBuf>,

    /// Public key (PEM PUBLIC KEY) that must match the signing key, or startup fails.
    ///
    /// Optional: tern derives the public key from the private key. Accepted so that OTF and
    /// Terrakube configurations, which give both, keep working and are checked.
    #[arg(
        long = "public-key",
        visible_alias = "public-key-path",
        value_name = "PATH",
        env = "TERN_PUBLIC_KEY"
    )]
    pub public_key: Option<PathBuf>,

    /// Key id (kid) of the signing key; default: its RFC 7638 thumbprint.
    ///
    /// Set it only when relying parties pin a kid, e.g. Terrakube's DynamicCredentialId.
    #[arg(long, value_name = "KID", env = "TERN_KID", allow_hyphen_values = true)]
    pub kid: Option<String>,
}

/// Claim profile and subject layout. Shared by `serve` and `token mint`.
#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// Claim set of the tokens: tfc (HCP Terraform, default), otf or terrakube.
    #[arg(long, value_name = "PROFILE", env = "TERN_CLAIM_PROFILE", default_value = "tfc")]
    pub profile: String,

    /// Custom `sub`: ordered keys, comma-separated, e.g. organization,workspace,run_phase.
    ///
    /// Keys: organization, organization_id, project, project_id, workspace, workspace_id,
    /// run_id, run_phase. Must include the organization and the workspace (name or id).
    /// Default: the profile's own layout.
    #[arg(long, value_name = "KEYS", env = "TERN_SUBJECT_TEMPLATE")]
    pub subject_template: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub keys: SigningKeyArgs,

    #[command(flatten)]
    pub claims: ClaimArgs,

    /// Issuer URL: https, no trailing slash, exactly as clouds are configured to trust it.
    ///
    /// Default on a loopback --listen address: http://127.0.0.1:<port> (https:// with TLS),
    /// which only relying parties on this machine can reach.
    #[arg(long, value_name = "URL", env = "TERN_ISSUER_URL")]
    pub issuer_url: Option<String>,

    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", env = "TERN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// TLS certificate chain (PEM, leaf first). Serves https when given with --tls-key.
    #[arg(long, value_name = "PATH", env = "TERN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PATH", env = "TERN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve https with a certificate made for this machine, to try tern (and Terraform, which
    /// talks only https) locally: a local CA kept in <data dir>/tls (reused across restarts)
    /// signs a server certificate for localhost, 127.0.0.1 and ::1 (and --issuer-url's host).
    /// The server prints the SSL_CERT_FILE line that makes Terraform and tern trust it. In
    /// production give --tls-cert and --tls-key.
    #[arg(long, env = "TERN_TLS_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,

    /// Lifetime of the tokens this server mints, e.g. 15m (10s to 24h; default 15m).
    #[arg(long, value_name = "DURATION", env = "TERN_TOKEN_TTL")]
    pub token_ttl: Option<String>,

    /// Directory for tern's state; the development key lives here.
    ///
    /// Default: $XDG_DATA_HOME/tern, or ~/.local/share/tern.
    #[arg(long, value_name = "DIR", env = "TERN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Cache-Control max-age of the JWKS. Keep it shorter than the wait between publishing a
    /// new key and signing with it.
    #[arg(long, value_name = "DURATION", env = "TERN_JWKS_MAX_AGE", default_value = "5m")]
    pub jwks_max_age: String,

    /// Cache-Control max-age of the discovery document.
    #[arg(long, value_name = "DURATION", env = "TERN_DISCOVERY_MAX_AGE", default_value = "1h")]
    pub discovery_max_age: String,

    /// Database: sqlite://PATH or postgres://USER@HOST:PORT/DB (several replicas share one
    /// PostgreSQL). Default: a SQLite file in the data directory.
    #[arg(long, value_name = "URL", env = "TERN_DATABASE_URL")]
    pub database_url: Option<String>,

    /// File with the key-encryption key (32 random bytes, base64) that seals sensitive variables
    /// at rest; TERN_ENCRYPTION_KEY gives it directly. Default: generated once in the data
    /// directory (development only: keep the production key apart from the database).
    #[arg(long, value_name = "PATH", env = "TERN_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,

    /// Jobs this server runs at once on its own workers (0: only remote agents run jobs).
    #[arg(long, value_name = "N", env = "TERN_WORKERS", default_value_t = 2)]
    pub workers: u16,

    /// Base URL of the API for clients and agents (upload and log URLs). Default: the issuer URL.
    #[arg(long, value_name = "URL", env = "TERN_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Sign people in through this OpenID Connect provider (its issuer URL; tern reads
    /// <issuer>/.well-known/openid-configuration). Register tern there as a confidential client
    /// with the redirect URI <public URL>/oauth/callback; users then sign in at <public URL>/app
    /// and with `terraform login`. Without it, users sign in with a token from `tern user token`.
    #[arg(long, value_name = "URL", env = "TERN_OIDC_ISSUER", help_heading = "Sign-in")]
    pub oidc_issuer: Option<String>,

    /// tern's client id at the provider.
    #[arg(
        long,
        value_name = "ID",
        env = "TERN_OIDC_CLIENT_ID",
        requires = "oidc_issuer",
        help_heading = "Sign-in"
    )]
    pub oidc_client_id: Option<String>,

    /// A file holding tern's client secret at the provider (or set TERN_OIDC_CLIENT_SECRET).
    #[arg(
        long,
        value_name = "PATH",
        env = "TERN_OIDC_CLIENT_SECRET_FILE",
        requires = "oidc_issuer",
        help_heading = "Sign-in"
    )]
    pub oidc_client_secret_file: Option<PathBuf>,

    /// The ID token claim that names the user (a claim the provider controls: preferred_username,
    /// email or sub).
    #[arg(
        long,
        value_name = "CLAIM",
        env = "TERN_OIDC_USERNAME_CLAIM",
        default_value = "preferred_username",
        help_heading = "Sign-in"
    )]
    pub oidc_username_claim: String,

    /// The ID token claim that lists the user's groups: a team whose sso-team-id is one of them
    /// gets the user as a member (and loses them when the group is gone).
    #[arg(
        long,
        value_name = "CLAIM",
        env = "TERN_OIDC_GROUPS_CLAIM",
        default_value = "groups",
        help_heading = "Sign-in"
    )]
    pub oidc_groups_claim: String,

    /// Scopes asked besides openid, comma-separated.
    #[arg(
        long,
        value_name = "SCOPES",
        env = "TERN_OIDC_SCOPES",
        default_value = "profile,email,groups",
        value_delimiter = ',',
        help_heading = "Sign-in"
    )]
    pub oidc_scopes: Vec<String>,

    /// Also make a user a member of teams named like their groups (teams without an
    /// sso-team-id; they are left only by hand).
    #[arg(long, env = "TERN_OIDC_GROUPS_BY_NAME", help_heading = "Sign-in")]
    pub oidc_groups_by_name: bool,

    /// A browser session ends after this long without a request.
    #[arg(
        long,
        value_name = "DURATION",
        env = "TERN_SESSION_IDLE",
        default_value = "1h",
        help_heading = "Sign-in"
    )]
    pub session_idle: String,

    /// A browser session ends this long after sign-in, whatever happens.
    #[arg(
        long,
        value_name = "DURATION",
        env = "TERN_SESSION_MAX",
        default_value = "12h",
        help_heading = "Sign-in"
    )]
    pub session_max: String,

    /// How long a runner keeps a job without reporting (a heartbeat or log), after which the run
    /// is errored: it covers `tern agent` and this server's own workers alike (a worker of a
    /// replica that died loses its job after this long).
    #[arg(long, value_name = "DURATION", env = "TERN_JOB_LEASE", default_value = "60s")]
    pub job_lease: String,

    /// Keep the signing keys in the database (private keys sealed with the encryption key),
    /// shared by every replica, rotated on a schedule and with `tern keys`.
    #[arg(long, env = "TERN_MANAGED_KEYS", conflicts_with = "signing_keys")]
    pub managed_keys: bool,

    /// Managed keys: algorithm of new keys.
    #[arg(long, value_enum, ignore_case = true, default_value = "RS256", requires = "managed_keys")]
    pub key_algorithm: KeyAlgorithm,

    /// Managed keys: publish a new key this often ("off": only `tern keys rotate`).
    #[arg(long, value_name = "DURATION", env = "TERN_ROTATE_KEYS_EVERY", default_value = "30d")]
    pub rotate_keys_every: String,

    /// Managed keys: how long a new key is published before it signs. At least --jwks-max-age
    /// plus the key refresh interval (a third of this, 1 to 10 s, the longest a key takes to
    /// reach every replica), so every relying party has fetched it before it sees a token
    /// signed with it.
    #[arg(long, value_name = "DURATION", env = "TERN_KEY_PUBLISH_LEAD", default_value = "1h")]
    pub key_publish_lead: String,

    #[command(flatten)]
    pub runner: RunnerArgs,
}

/// How workers run phases. Shared by `serve` (its own workers) and `agent`.
#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// Where runs keep their credential files (private, mode 0700). Default: <data dir>/credentials
    /// for `serve`; for `agent`, credentials/ in $XDG_RUNTIME_DIR/tern, else in /tmp/tern-<uid>.
    ///
    /// `tern serve` and `tern agent` clean up here when they start, before they take work: for
    /// each phase a killed process left, they stop the Terraform it left running, revoke its
    /// Vault tokens and remove its files. Give each agent its own directory on local disk. A
    /// Vault login cut off in flight cannot be revoked (tern never received the token): it
    /// expires with the Vault role's token_ttl, so keep that short; tern renews tokens anyway.
    #[arg(long, value_name = "DIR", env = "TERN_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,

    /// How long Terraform gets to stop after an interrupt (cancel, timeout) before it is killed.
    #[arg(long, value_name = "DURATION", default_value = "20s")]
    pub grace: String,

    /// A Terraform or OpenTofu binary that runs may use (repeatable).
    ///
    /// Each is asked for its version (`<binary> version -json`) once at start; workspaces then
    /// choose one by that version (terraform-version: "1.11.4", or "latest" for the highest),
    /// never by path, and this runner only takes jobs whose version it has. TERN_TERRAFORM takes several paths
    /// separated by ':'. With neither --terraform nor --tools-dir, `terraform` (else `tofu`) is
    /// looked up on PATH.
    #[arg(long = "terraform", value_name = "PATH", env = "TERN_TERRAFORM", value_delimiter = ':')]
    pub terraform: Vec<PathBuf>,

    /// A directory of Terraform/OpenTofu binaries: every executable file in it whose name
    /// starts with "terraform" or "tofu" (e.g. terraform-1.11.4, tofu-1.8.0) is registered as
    /// with --terraform.
    #[arg(long, value_name = "DIR", env = "TERN_TOOLS_DIR")]
    pub tools_dir: Option<PathBuf>,

    /// Google STS token URL written into external_account files.
    #[arg(
        long,
        value_name = "URL",
        env = "TERN_GCP_STS_URL",
        default_value = "https://sts.googleapis.com/v1/token"
    )]
    pub gcp_sts_url: String,

    /// Google IAM Credentials base URL (service account impersonation).
    #[arg(
        long,
        value_name = "URL",
        env = "TERN_GCP_IAM_CREDENTIALS_URL",
        default_value = "https://iamcredentials.googleapis.com"
    )]
    pub gcp_iam_credentials_url: String,

    /// How phases are isolated: `sandbox` (the default) runs every phase's Terraform, its
    /// providers and whatever a configuration starts (local-exec, external) in a bubblewrap
    /// sandbox. It sees only its job directory, a private /tmp, its own credential files,
    /// read-only system directories, its Terraform binary and the --sandbox-read-only paths;
    /// not the data directory, other jobs or any process outside it. As root it runs as
    /// --sandbox-user. It keeps network access.
    ///
    /// `none` runs tenant code as this process's user, next to the signing key, the database and
    /// other tenants' jobs: only for a single trusted operator. It is logged at every start and
    /// shown by `tern doctor`. Needs bubblewrap (`apt-get install bubblewrap`).
    #[arg(long, value_name = "MODE", env = "TERN_ISOLATION", default_value = "sandbox", value_parser = ["sandbox", "none"])]
    pub isolation: String,

    /// The user phases run as when tern runs as root: UID[:GID] (default 65534:65534, nobody).
    #[arg(long, value_name = "UID[:GID]", env = "TERN_SANDBOX_USER")]
    pub sandbox_user: Option<String>,

    /// A path every phase sees read-only at the same place (repeatable; TERN_SANDBOX_READ_ONLY
    /// takes several separated by ':'): tools a local-exec needs, a provider mirror. Never give
    /// tern's data directory.
    #[arg(long, value_name = "PATH", env = "TERN_SANDBOX_READ_ONLY", value_delimiter = ':')]
    pub sandbox_read_only: Vec<PathBuf>,

    /// A directory every phase may read AND write at the same place (repeatable;
    /// TERN_SANDBOX_READ_WRITE separated by ':'), e.g. a Terraform plugin cache shared by all
    /// runs. Phases of different workspaces and organizations share it: one can tamper with what
    /// another reads there. Give it only for what all tenants may share.
    #[arg(long, value_name = "DIR", env = "TERN_SANDBOX_READ_WRITE", value_delimiter = ':')]
    pub sandbox_read_write: Vec<PathBuf>,

    /// Terraform's CLI configuration for every phase (provider mirrors, plugin cache, registry
    /// credentials), as TF_CLI_CONFIG_FILE; a workspace variable TF_CLI_CONFIG_FILE overrides it.
    /// The file, its filesystem_mirror paths (read-only) and its plugin_cache_dir (read-write,
    /// shared by all runs) are visible in every phase's sandbox; so are its credentials, to
    /// every tenant. Default: this process's TF_CLI_CONFIG_FILE, else ~/.terraformrc if it exists.
    /// Proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) of this process reach every phase too.
    #[arg(long, value_name = "FILE", env = "TERN_TERRAFORM_CONFIG")]
    pub terraform_config: Option<PathBuf>,

    /// Extra CA certificates (PEM) every phase trusts besides the system's: a private registry,
    /// a provider mirror or a TLS-inspecting proxy signed by your own CA. tern writes them with
    /// the system's roots into one bundle that every phase can read, and points SSL_CERT_FILE
    /// (Terraform, providers, OpenSSL), CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE and
    /// NODE_EXTRA_CA_CERTS there; a workspace variable of the same name overrides one.
    /// Certificates only: a file holding a private key is refused (every tenant can read it).
    #[arg(long, value_name = "FILE", env = "TERN_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,

    /// What network a phase gets. `filtered`: its own network namespace (slirp4netns) with an
    /// nftables filter: the internet, but not this host (its loopback services, e.g. a
    /// PostgreSQL that trusts local connections, and its own addresses), not link-local and
    /// cloud metadata addresses (169.254.169.254, fd00:ec2::254), and not --deny-egress ranges.
    /// Needs root and `apt-get install slirp4netns nftables`. `host`: the host's network, not
    /// confined. `auto` (the default): `filtered` when tern runs as root and the tools are
    /// there, else `host` with a warning at start.
    #[arg(long, value_name = "MODE", env = "TERN_EGRESS", default_value = "auto", value_parser = ["auto", "filtered", "host"])]
    pub egress: String,

    /// An address phases may reach although the filter would refuse it (repeatable;
    /// TERN_ALLOW_EGRESS separated by ','), as IP:PORT: tern's own API on this host, an internal
    /// Vault. 127.0.0.1:PORT reaches that port of this host's loopback, and only that one.
    #[arg(long, value_name = "IP:PORT", env = "TERN_ALLOW_EGRESS", value_delimiter = ',')]
    pub allow_egress: Vec<std::net::SocketAddr>,

    /// A range phases may not reach besides the fixed ones (repeatable; TERN_DENY_EGRESS
    /// separated by ','), e.g. 10.0.0.0/8 for the company network.
    #[arg(long, value_name = "CIDR", env = "TERN_DENY_EGRESS", value_delimiter = ',')]
    pub deny_egress: Vec<String>,

    /// Address space of each process of a phase, in MiB (below 1024, Terraform does not start).
    #[arg(long, value_name = "MIB", env = "TERN_PHASE_MEMORY_MIB", default_value_t = 8192)]
    pub phase_memory_mib: u64,

    /// Processes and threads a phase's user may have (per sandbox user: phases running as the
    /// same user share it).
    #[arg(long, value_name = "N", env = "TERN_PHASE_PROCESSES", default_value_t = 4096)]
    pub phase_processes: u64,

    /// The largest file a phase may write, in MiB.
    #[arg(long, value_name = "MIB", env = "TERN_PHASE_FILE_SIZE_MIB", default_value_t = 10240)]
    pub phase_file_size_mib: u64,

    /// CPU time each process of a phase may use, in seconds (default: no limit; the phase
    /// timeout bounds the wall time).
    #[arg(long, value_name = "SECONDS", env = "TERN_PHASE_CPU_SECONDS")]
    pub phase_cpu_seconds: Option<u64>,

    /// The most a phase may write to its run log, in MiB; a phase that writes more is stopped.
    #[arg(long, value_name = "MIB", env = "TERN_PHASE_LOG_MIB", default_value_t = 64)]
    pub phase_log_mib: u64,
}

/// `tern agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The tern server, e.g. https://tern.example.com.
    #[arg(long, value_name = "URL", env = "TERN_SERVER")]
    pub server: String,

    /// Agent token (`tern agent-pool token`, or `tern agent-token create`); prefer the environment
    /// variable.
    #[arg(long, value_name = "TOKEN", env = "TERN_AGENT_TOKEN", hide_env_values = true)]
    pub token: String,

    /// Name of this agent in runs and logs. Default: the host name.
    #[arg(long, value_name = "NAME", env = "TERN_AGENT_NAME")]
    pub name: Option<String>,

    /// Jobs this agent runs at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub concurrency: u16,

    /// Where jobs get their working directories.
    #[arg(long, value_name = "DIR", env = "TERN_WORK_DIR")]
    pub work_dir: Option<PathBuf>,

    /// Lifetime of tokens in files (refreshed at two thirds), e.g. 15m.
    #[arg(long, value_name = "DURATION", env = "TERN_TOKEN_TTL")]
    pub token_ttl: Option<String>,

    /// Run one job, then exit with 0 if it succeeded (for tests and one-shot CI runners).
    #[arg(long)]
    pub once: bool,

    #[command(flatten)]
    pub runner: RunnerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithm {
    /// RSA with SHA-256: accepted by every cloud (default).
    #[value(name = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256: smaller and faster to sign.
    #[value(name = "ES256")]
    Es256,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,

    /// Signature algorithm the key is for.
    #[arg(long, value_enum, ignore_case = true, default_value = "RS256")]
    pub algorithm: KeyAlgorithm,

    /// RSA modulus size (RS256 only): 2048, 3072 or 4096.
    #[arg(long, value_parser = ["2048", "3072", "4096"])]
    pub bits: Option<String>,

    /// Replace --out (and --public-out) if they exist (atomically: write, then rename).
    #[arg(long)]
    pub force: bool,

    /// Also write the public key (PEM PUBLIC KEY), for setups that want both files.
    #[arg(long, value_name = "PATH")]
    pub public_out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum TokenCommand {
    /// Mint a token with a local key and print it on stdout.
    #[command(
        after_help = "The token goes to stdout, without a trailing newline unless stdout is a terminal,\n\
        so `tern token mint ... > token` writes a file clouds' SDKs read verbatim.\n\n\
        Example (test an AWS trust policy by hand):\n  \
        tern token mint --signing-key key.pem --issuer-url https://tern.example.com \\\n    \
        --organization acme --workspace prod --run-id run-1 --phase apply \\\n    \
        --audience aws.workload.identity > /tmp/token\n  \
        AWS_ROLE_ARN=arn:aws:iam::123456789012:role/prod AWS_WEB_IDENTITY_TOKEN_FILE=/tmp/token \\\n    \
        aws sts get-caller-identity"
    )]
    Mint(MintArgs),
    /// Decode a token and show its header and claims with human times (no verification).
    Inspect(InspectArgs),
    /// Verify a token as a cloud would: discovery, JWKS, signature, issuer, audience, times.
    #[command(
        after_help = "Exit code 0 when the token is valid, 1 when it is refused (the reason is printed).\n\n\
        Example:\n  \
        tern token mint ... | tern token verify --issuer-url https://tern.example.com \\\n    \
        --audience aws.workload.identity"
    )]
    Verify(VerifyArgs),
    /// List the server's API tokens (never their secrets): kind, description, when created,
    /// last used and expiring. With --org, the organization's organization and agent tokens;
    /// without, every token (admin token needed).
    List {
        /// Only this organization's tokens.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke an API token by id (as `tern token list` shows it): it stops working at once, on
    /// every replica. An organization token needs an administrator or an owner; the admin token itself is
    /// rotated by restarting with a new TERN_ADMIN_TOKEN.
    Revoke {
        /// Token id (`at-…`).
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
pub struct MintArgs {
    #[command(flatten)]
    pub minting: MintingArgs,

    /// Audience (`aud`), e.g. aws.workload.identity, vault.workload.identity,
    /// api://AzureADTokenExchange or //iam.googleapis.com/projects/…/providers/….
    #[arg(long, value_name = "AUD")]
    pub audience: String,

    /// Lifetime, e.g. 15m (10s to 24h).
    #[arg(long, value_name = "DURATION", env = "TERN_TOKEN_TTL")]
    pub ttl: Option<String>,

    /// Pretend the token was issued at this time (RFC 3339), e.g. to see how a relying party
    /// treats an expired or not-yet-valid token.
    #[arg(long, value_name = "TIME")]
    pub issued_at: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub minting: MintingArgs,

    /// Workspace variables as dotenv lines (repeatable; later files win).
    #[arg(long = "env-file", value_name = "PATH")]
    pub env_files: Vec<PathBuf>,

    /// Lifetime of tokens in files, refreshed at two thirds of it, e.g. 15m (10s to 24h).
    #[arg(long, value_name = "DURATION", env = "TERN_TOKEN_TTL")]
    pub token_ttl: Option<String>,

    /// Time limit of the phase: then the command is interrupted (SIGINT), and killed after
    /// --grace. Inline tokens (KUBE_TOKEN, TFC_WORKLOAD_IDENTITY_TOKEN) live this long.
    #[arg(long, value_name = "DURATION", default_value = "2h")]
    pub timeout: String,

    /// How long an interrupted command gets to stop before it is killed.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub grace: String,

    /// Where runs' private credential directories live (must be owned by you, mode 0700).
    ///
    /// Default: $XDG_RUNTIME_DIR/tern, or /tmp/tern-<uid>.
    #[arg(long, value_name = "DIR", env = "TERN_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,

    /// Working directory of the command; the Terraform input variables for aliases go here.
    ///
    /// Default: the current directory.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,

    /// Google STS token endpoint written into external_account files (Private Service Connect).
    #[arg(
        long,
        value_name = "URL",
        env = "TERN_GCP_STS_URL",
        default_value = "https://sts.googleapis.com/v1/token"
    )]
    pub gcp_sts_url: String,

    /// Google IAM Credentials endpoint used for service account impersonation.
    #[arg(
        long,
        value_name = "URL",
        env = "TERN_GCP_IAM_CREDENTIALS_URL",
        default_value = "https://iamcredentials.googleapis.com"
    )]
    pub gcp_iam_credentials_url: String,

    /// Print what would be built (configurations, token claims, files, environment names) and
    /// exit; nothing is minted, written or sent, and no secret is printed.
    #[arg(long)]
    pub dry_run: bool,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

/// Who signs, with which claims, for which run: shared by `token mint` and `exec`.
#[derive(Debug, Args)]
pub struct MintingArgs {
    #[command(flatten)]
    pub keys: SigningKeyArgs,

    #[command(flatten)]
    pub claims: ClaimArgs,

    /// Issuer URL written into `iss` (must match what relying parties trust).
    #[arg(long, value_name = "URL", env = "TERN_ISSUER_URL")]
    pub issuer_url: String,

    #[command(flatten)]
    pub run: RunArgs,
}

/// The run a token is for: organization, project, workspace, run and phase. Shared by
/// `token mint` and `exec`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Organization name.
    #[arg(long, value_name = "NAME")]
    pub organization: String,

    /// Organization id; default: derived from the name (stable across mints).
    #[arg(long, value_name = "ID")]
    pub organization_id: Option<String>,

    /// Project name.
    #[arg(long, value_name = "NAME", default_value = "Default Project")]
    pub project: String,

    /// Project id; default: derived from the organization and project names.
    #[arg(long, value_name = "ID")]
    pub project_id: Option<String>,

    /// Workspace name.
    #[arg(long, value_name = "NAME")]
    pub workspace: String,

    /// Workspace id; default: derived from the organization and workspace names.
    #[arg(long, value_name = "ID")]
    pub workspace_id: Option<String>,

    /// Run id (Terrakube: job id).
    #[arg(long, value_name = "ID")]
    pub run_id: String,

    /// Run phase.
    #[arg(long, value_parser = ["plan", "apply"])]
    pub phase: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token; `-` or nothing reads it from stdin (keeps it out of the process list).
    #[arg(value_name = "JWT")]
    pub token: Option<String>,

    /// Print {"header": …, "claims": …} as JSON instead.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Issuer URL to trust, exactly as a cloud would be configured.
    #[arg(long, value_name = "URL")]
    pub issuer_url: String,

    /// Audience the token must carry; without it, `aud` is not checked.
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,

    /// Extra CA certificate (PEM) to trust for https, e.g. a private CA.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,

    /// Allowed clock skew for exp, nbf and iat.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub leeway: String,

    /// Time limit for each HTTP request.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub timeout: String,

    /// The token; `-` or nothing reads it from stdin.
    #[arg(value_name = "JWT")]
    pub token: Option<String>,
}
