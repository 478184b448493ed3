//! Running one phase's command in a sandbox.
//!
//! The mechanism is bubblewrap (`bwrap`, Flatpak's sandbox), not namespaces set up by hand: it is
//! small, audited, packaged everywhere, and works both as root and unprivileged. This crate builds
//! its command line from what a phase may see ([`Phase`]) and knows nothing of Terraform.
//!
//! What a sandboxed command gets:
//! - its own mount namespace whose root is an empty tmpfs holding only: `/usr` (and the `/bin`,
//!   `/lib`… links), a few files of `/etc` (resolver, CA certificates, users), a fresh `/proc`
//!   (its own PID namespace: no process outside is visible), a minimal `/dev`, a private `/tmp`
//!   (tmpfs, size-limited), the phase's writable directories, and read-only paths the caller
//!   names (its credentials, the Terraform binary, the operator's mirror);
//! - its own PID, IPC and UTS namespaces; `--die-with-parent`: when the runner dies, the
//!   namespace's init dies and the kernel kills every process in it;
//! - no capabilities, `no_new_privs`;
//! - when the runner is root, a different, unprivileged user (`setpriv` switches to it inside the
//!   sandbox, after bwrap, running as root, has bound what the phase may see: bwrap running as
//!   the unprivileged user could not read the runner's private directories to bind them);
//! - resource limits per process (`prlimit`): address space, processes, file size, CPU time.
//!
//! Network: the sandbox shares the host's network here; [`egress`] confines it.

pub mod egress;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Why a sandbox cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A tool the sandbox needs is not installed.
    #[error(
        "{tool} was not found ({why}). tern runs every phase in a bubblewrap sandbox; install it with `apt-get install {package}` (Debian/Ubuntu) or `dnf install {package}` (Fedora), or run without isolation with `--isolation none` (tenant code then runs as tern's own user, next to its keys)"
    )]
    Missing {
        /// The program.
        tool: &'static str,
        /// The package that has it.
        package: &'static str,
        /// Where it was looked for.
        why: String,
    },
    /// The sandbox did not start or did not hold.
    #[error("the sandbox does not work: {0}")]
    Broken(String),
    /// Running a check failed.
    #[error("running {program}: {source}")]
    Io {
        /// The program.
        program: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Resource limits of every process in a phase (`setrlimit`, per process: a phase's total is not
/// bounded without cgroups, which tern does not require).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Address space of a process, in bytes (`RLIMIT_AS`). Go programs reserve address space
    /// generously: below 1 GiB Terraform does not start.
    pub memory_bytes: u64,
    /// Processes and threads of the sandbox user (`RLIMIT_NPROC`).
    pub processes: u64,
    /// The largest file a process may write, in bytes (`RLIMIT_FSIZE`).
    pub file_bytes: u64,
    /// CPU time of a process, in seconds (`RLIMIT_CPU`); none when `None`.
    pub cpu_seconds: Option<u64>,
    /// Size of the private `/tmp` (tmpfs, in memory), in bytes.
    pub tmp_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 8 << 30,
            processes: 4096,
            file_bytes: 10 << 30,
            cpu_seconds: None,
            tmp_bytes: 1 << 30,
        }
    }
}

/// How the sandbox is set up for every phase.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The user (uid, gid) phases run as when the runner is root. Default: nobody (65534).
    pub user: Option<(u32, u32)>,
    /// Limits per process.
    pub limits: Limits,
    /// Paths every phase sees read-only at the same place (tools a `local-exec` needs, a
    /// provider mirror): the operator's choice.
    pub read_only: Vec<PathBuf>,
    /// Directories every phase may read and write (a shared plugin cache): the operator's
    /// choice, shared by all tenants.
    pub read_write: Vec<PathBuf>,
    /// Confine the network of every phase with this policy (needs root); `None`: phases share
    /// the host's network.
    pub egress: Option<Egress>,
}

/// How phases' network is confined.
#[derive(Debug, Clone)]
pub struct Egress {
    /// What is allowed and denied besides the fixed rules.
    pub policy: egress::EgressPolicy,
    /// A file holding [`egress::RESOLV_CONF`], readable by everyone: the sandbox's
    /// `/etc/resolv.conf` (names resolve through slirp4netns's forwarder).
    pub resolv_conf: PathBuf,
}

/// A working sandbox: the tools found and the settings.
#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: PathBuf,
    prlimit: PathBuf,
    env: PathBuf,
    /// `setpriv` and the user, when the runner is root.
    switch: Option<(PathBuf, u32, u32)>,
    limits: Limits,
    read_only: Vec<PathBuf>,
    read_write: Vec<PathBuf>,
    egress: Option<(egress::Tools, Egress)>,
}

/// A command made to run in the sandbox.
#[derive(Clone)]
pub struct Wrapped {
    /// bwrap.
    pub program: OsString,
    /// Its arguments, the command's among them.
    pub args: Vec<OsString>,
    /// The environment to start bwrap with (the command's, without loader variables).
    pub env: Vec<(OsString, OsString)>,
}

impl std::fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment holds secrets: names only.
        let names: Vec<std::borrow::Cow<'_, str>> =
            self.env.iter().map(|(k, _)| k.to_string_lossy()).collect();
        f.debug_struct("Wrapped")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env (names only)", &names)
            .finish()
    }
}

/// glibc's unsafe environment variables (`unsecvars.h`: those it drops for setuid programs),
/// plus `GLIBC_TUNABLES` and every `LD_` variable.
fn is_loader_variable(name: &OsStr) -> bool {
    const UNSAFE: &[&str] = &[
        "GCONV_PATH",
        "GETCONF_DIR",
        "HOSTALIASES",
        "LOCALDOMAIN",
        "LOCPATH",
        "MALLOC_TRACE",
        "NIS_PATH",
        "NLSPATH",
        "RESOLV_HOST_CONF",
        "RES_OPTIONS",
        "TMPDIR",
        "TZDIR",
        "GLIBC_TUNABLES",
        "MALLOC_CHECK_",
        "MALLOC_ARENA_MAX",
        "MALLOC_PERTURB_",
    ];
    let name = name.to_string_lossy();
    name.starts_with("LD_") || UNSAFE.contains(&name.as_ref())
}

/// What one command of a phase sees besides the system.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// Read-write, at the same path (the job's directory).
    pub writable: Vec<PathBuf>,
    /// Read-only, at the same path (credentials, the Terraform binary).
    pub read_only: Vec<PathBuf>,
    /// Working directory of the command.
    pub cwd: PathBuf,
}

/// Files of `/etc` a phase may read: name resolution, TLS trust, users (no secrets: not
/// `shadow`), the dynamic linker's cache, time zone.
const ETC: &[&str] = &[
    "resolv.conf",
    "hosts",
    "host.conf",
    "nsswitch.conf",
    "gai.conf",
    "services",
    "protocols",
    "passwd",
    "group",
    "localtime",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "crypto-policies",
    "alternatives",
    "mime.types",
];

/// Top-level directories that are links into `/usr` on merged-/usr systems, or directories.
const USR_LINKS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// The user phases run as by default when the runner is root.
pub const NOBODY: (u32, u32) = (65534, 65534);

fn find(program: &'static str, package: &'static str) -> Result<PathBuf, SandboxError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from));
    for dir in &dirs {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(SandboxError::Missing {
        tool: program,
        package,
        why: "looked on PATH and in /usr/bin, /usr/sbin".into(),
    })
}

impl Sandbox {
    /// Find the tools and check the settings. As root, phases run as `config.user` (default
    /// nobody); unprivileged, as the runner's own user in a user namespace.
    pub fn new(config: Config) -> Result<Self, SandboxError> {
        let bwrap = find("bwrap", "bubblewrap")?;
        let prlimit = find("prlimit", "util-linux")?;
        let env = find("env", "coreutils")?;
        let switch = if nix::unistd::geteuid().is_root() {
            let (uid, gid) = config.user.unwrap_or(NOBODY);
            if uid == 0 {
                return Err(SandboxError::Broken(
                    "phases cannot run as root: give --sandbox-user an unprivileged uid".into(),
                ));
            }
            Some((find("setpriv", "util-linux")?, uid, gid))
        } else {
            None
        };
        let egress = match config.egress {
            None => None,
            Some(_) if switch.is_none() => {
                return Err(SandboxError::Broken(
                    "confining a phase's network needs tern to run as root (slirp4netns and nft act on the sandbox's namespace); run as root, or give --egress host".into(),
                ));
            }
            Some(e) => {
                let tools = egress::Tools::find().map_err(|e| SandboxError::Broken(e.to_string()))?;
                Some((tools, e))
            }
        };
        Ok(Self {
            bwrap,
            prlimit,
            env,
            switch,
            limits: config.limits,
            read_only: config.read_only,
            read_write: config.read_write,
            egress,
        })
    }

    /// The user (uid, gid) phases run as, when it is not the runner's: the owner their files
    /// must have.
    pub fn run_as(&self) -> Option<(u32, u32)> {
        self.switch.as_ref().map(|(_, uid, gid)| (*uid, *gid))
    }

    /// Whether commands wait for [`Sandbox::connect`] (their network is confined): they must be
    /// started with stdin a pipe, and get one byte on it once connected.
    pub fn gated(&self) -> bool {
        self.egress.is_some()
    }

    /// Give the sandbox that bwrap `bwrap_pid` is setting up its confined network; the returned
    /// network lives as long as the command should (dropping it ends slirp4netns).
    pub async fn connect(&self, bwrap_pid: u32) -> Result<Option<egress::Network>, egress::EgressError> {
        let Some((tools, e)) = &self.egress else { return Ok(None) };
        let inside = egress::namespace_pid(bwrap_pid).await?;
        egress::attach(tools, inside, &e.policy, false).await.map(Some)
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Let phases reach `addr` through the egress filter (tern's own API); nothing without one.
    /// An address inside the operator's `--deny-egress` ranges stays refused: the operator's
    /// explicit word wins over tern's own guess. Returns false only for such a denied address
    /// (without a filter, phases reach everything anyway).
    pub fn allow_egress(&mut self, addr: std::net::SocketAddr) -> bool {
        let Some((_, e)) = &mut self.egress else { return true };
        if e.policy.deny.iter().any(|net| net.contains(&addr.ip())) {
            return false;
        }
        if !e.policy.allow.contains(&addr) {
            e.policy.allow.push(addr);
        }
        true
    }

    /// One line for logs and `tern doctor`.
    pub fn describe(&self) -> String {
        let user = match self.run_as() {
            Some((uid, gid)) => format!("as uid {uid} gid {gid}"),
            None => "as the runner's user in a user namespace".into(),
        };
        let cpu = self.limits.cpu_seconds.map_or("no CPU limit".into(), |s| format!("{s} s of CPU"));
        format!(
            "bubblewrap ({}), {user}, {}; per process: {} MiB of address space, {} processes, files up to {} MiB, {cpu}; /tmp {} MiB",
            self.bwrap.display(),
            match &self.egress {
                Some((_, e)) => format!(
                    "network confined (internet only; no host, loopback or link-local addresses; allowed: {}; {} range(s) denied by the operator)",
                    if e.policy.allow.is_empty() {
                        "none".to_owned()
                    } else {
                        e.policy.allow.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    },
                    e.policy.deny.len()
                ),
                None => "the host's network (not confined)".to_owned(),
            },
            self.limits.memory_bytes >> 20,
            self.limits.processes,
            self.limits.file_bytes >> 20,
            self.limits.tmp_bytes >> 20,
        )
    }

    /// What runs `program args` with `env` in the sandbox: the program (bwrap), its arguments,
    /// and the environment to start it with (complete: nothing else is to be inherited).
    ///
    /// Variables that change how the dynamic loader or the C library behave (`LD_PRELOAD`,
    /// `LD_LIBRARY_PATH`, `GCONV_PATH`, … glibc's list of unsafe variables) never reach bwrap or
    /// the privileged steps inside (which run as the runner's user, or with the capability to
    /// change user): a tenant's `LD_PRELOAD` of a library in its own configuration would run
    /// its code there. They are set by `env` as the last step, as the phase's user.
    pub fn wrap(
        &self,
        phase: &Phase,
        program: &OsStr,
        args: &[OsString],
        env: &[(OsString, OsString)],
    ) -> Wrapped {
        let (loader, safe): (Vec<_>, Vec<_>) = env.iter().cloned().partition(|(k, _)| is_loader_variable(k));
        let mut a: Vec<OsString> = Vec::with_capacity(64);
        push(&mut a, &["--die-with-parent".as_ref(), "--unshare-ipc".as_ref(), "--unshare-pid".as_ref()]);
        push(&mut a, &["--unshare-uts".as_ref(), "--unshare-cgroup-try".as_ref()]);
        push(&mut a, &["--hostname".as_ref(), "tern-phase".as_ref()]);
        if self.switch.is_none() {
            // Unprivileged: bwrap needs a user namespace; forbid the phase another one.
            push(&mut a, &["--unshare-user".as_ref(), "--disable-userns".as_ref()]);
        }
        push(&mut a, &["--ro-bind".as_ref(), "/usr".as_ref(), "/usr".as_ref()]);
        for name in USR_LINKS {
            let top = Path::new("/").join(name);
            match std::fs::symlink_metadata(&top) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(&top) {
                        push(&mut a, &["--symlink".as_ref(), target.as_os_str(), top.as_os_str()]);
                    }
                }
                Ok(m) if m.is_dir() => {
                    push(&mut a, &["--ro-bind".as_ref(), top.as_os_str(), top.as_os_str()])
                }
                _ => {}
            }
        }
        // bwrap would make /etc 0700 for the binds below: the phase's user could read none of
        // them (no resolver, no hosts, no CA certificates).
        push(&mut a, &["--perms".as_ref(), "0755".as_ref(), "--dir".as_ref(), "/etc".as_ref()]);
        for name in ETC {
            let path = Path::new("/etc").join(name);
            push(&mut a, &["--ro-bind-try".as_ref(), path.as_os_str(), path.as_os_str()]);
        }
        push(&mut a, &["--proc".as_ref(), "/proc".as_ref(), "--dev".as_ref(), "/dev".as_ref()]);
        let tmp_size = OsString::from(self.limits.tmp_bytes.to_string());
        push(&mut a, &["--perms".as_ref(), "1777".as_ref(), "--size".as_ref(), &tmp_size]);
        push(&mut a, &["--tmpfs".as_ref(), "/tmp".as_ref()]);
        // bwrap creates the directories above a bind with the runner's umask (0700 under a
        // private one): create them traversable first, each once.
        let mut made: Vec<&Path> =
            vec![Path::new("/"), Path::new("/tmp"), Path::new("/usr"), Path::new("/etc")];
        let binds = self
            .read_only
            .iter()
            .map(|p| ("--ro-bind", p))
            .chain(phase.read_only.iter().map(|p| ("--ro-bind", p)));
        let writable = self.read_write.iter().chain(&phase.writable).map(|p| ("--bind", p));
        for (how, path) in binds.chain(writable) {
            let mut above: Vec<&Path> = path.ancestors().skip(1).take_while(|a| !made.contains(a)).collect();
            above.reverse();
            for dir in above {
                a.extend(["--perms".into(), "0755".into(), "--dir".into(), dir.as_os_str().to_owned()]);
                made.push(dir);
            }
            a.extend([how.into(), path.as_os_str().to_owned(), path.as_os_str().to_owned()]);
        }
        if let Some((_, e)) = &self.egress {
            // Its own network namespace, which `connect` fills before the command starts.
            push(&mut a, &["--unshare-net".as_ref(), "--ro-bind".as_ref(), e.resolv_conf.as_os_str()]);
            push(&mut a, &["/etc/resolv.conf".as_ref(), "--block-fd".as_ref(), "0".as_ref()]);
        }
        push(&mut a, &["--chdir".as_ref(), phase.cwd.as_os_str()]);
        if self.switch.is_some() {
            // setpriv needs these two to change user; it drops them and everything else.
            push(
                &mut a,
                &["--cap-add".as_ref(), "CAP_SETUID".as_ref(), "--cap-add".as_ref(), "CAP_SETGID".as_ref()],
            );
        }
        push(&mut a, &["--".as_ref()]);
        if let Some((setpriv, uid, gid)) = &self.switch {
            a.push(setpriv.clone().into_os_string());
            a.push(format!("--reuid={uid}").into());
            a.push(format!("--regid={gid}").into());
            for arg in ["--clear-groups", "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--"] {
                a.push(arg.into());
            }
        }
        a.push(self.prlimit.clone().into_os_string());
        a.push(format!("--as={}", self.limits.memory_bytes).into());
        a.push(format!("--nproc={}", self.limits.processes).into());
        a.push(format!("--fsize={}", self.limits.file_bytes).into());
        if let Some(cpu) = self.limits.cpu_seconds {
            a.push(format!("--cpu={cpu}").into());
        }
        a.push("--".into());
        if !loader.is_empty() {
            a.push(self.env.clone().into_os_string());
            for (k, v) in loader {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                a.push(kv);
            }
        }
        a.push(program.to_owned());
        a.extend(args.iter().cloned());
        Wrapped { program: self.bwrap.clone().into_os_string(), args: a, env: safe }
    }

    /// Start a sandbox and prove it holds: it runs as the expected user without capabilities,
    /// cannot see `secret` (e.g. the data directory), and sees its own processes only.
    pub fn check(&self, secret: &Path) -> Result<String, SandboxError> {
        let dir = std::env::temp_dir();
        let script = format!(
            "if [ -e '{}' ]; then echo SEES-SECRET; fi; id -u; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status; ls /proc | grep -c '^[0-9]'",
            secret.display().to_string().replace('\'', "")
        );
        let phase = Phase { writable: Vec::new(), read_only: Vec::new(), cwd: dir };
        let path = [(OsString::from("PATH"), OsString::from("/usr/bin:/bin"))];
        let w = self.wrap(&phase, "/bin/sh".as_ref(), &["-c".into(), script.into()], &path);
        let out = std::process::Command::new(&w.program)
            .args(&w.args)
            .env_clear()
            .envs(w.env)
            .output()
            .map_err(|source| SandboxError::Io { program: self.bwrap.display().to_string(), source })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(SandboxError::Broken(format!(
                "a test command failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        if stdout.contains("SEES-SECRET") {
            return Err(SandboxError::Broken(format!("a phase can see {}", secret.display())));
        }
        let lines: Vec<&str> = stdout.lines().collect();
        let expected_uid = self.run_as().map_or_else(|| nix::unistd::getuid().as_raw(), |(uid, _)| uid);
        let uid = lines.first().and_then(|l| l.trim().parse::<u32>().ok());
        if uid != Some(expected_uid) {
            return Err(SandboxError::Broken(format!("a phase runs as uid {uid:?}, not {expected_uid}")));
        }
        let cap_eff =
            lines.iter().find(|l| l.starts_with("CapEff:")).map(|l| l.trim_start_matches("CapEff:").trim());
        if cap_eff != Some("0000000000000000") {
            return Err(SandboxError::Broken(format!("a phase has capabilities ({cap_eff:?})")));
        }
        if !lines.iter().any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1')) {
            return Err(SandboxError::Broken("no_new_privs is not set".into()));
        }
        let processes = lines.last().and_then(|l| l.trim().parse::<u32>().ok()).unwrap_or(u32::MAX);
        if processes > 5 {
            return Err(SandboxError::Broken(format!(
                "a phase sees {processes} processes: no PID namespace"
            )));
        }
        Ok(format!(
            "uid {expected_uid}, no capabilities, no_new_privs, own PID namespace, cannot see {}",
            secret.display()
        ))
    }
}

fn push(a: &mut Vec<OsString>, items: &[&OsStr]) {
    a.extend(items.iter().map(|s| (*s).to_owned()));
}

/// What a signal that ended a sandboxed command means, when it is a limit's.
pub fn limit_signal(signal: i32, limits: &Limits) -> Option<String> {
    match signal {
        s if s == nix::sys::signal::Signal::SIGXCPU as i32 => Some(format!(
            "a process used up its CPU time limit ({} s; the operator's --phase-cpu-seconds)",
            limits.cpu_seconds.unwrap_or_default()
        )),
        s if s == nix::sys::signal::Signal::SIGXFSZ as i32 => Some(format!(
            "a process wrote a file larger than the limit ({} MiB; the operator's --phase-file-size-mib)",
            limits.file_bytes >> 20
        )),
        _ => None,
    }
}

/// Give `dir` and everything in it to `uid:gid`, never following a symbolic link (each is
/// changed itself). For a job directory the runner filled before the phase runs as another user.
pub fn chown_tree(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use std::os::unix::fs::lchown;
    lchown(dir, Some(uid), Some(gid))?;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let m = std::fs::symlink_metadata(&path)?;
        if m.is_dir() {
            chown_tree(&path, uid, gid)?;
        } else {
            lchown(&path, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox::new(Config::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_operators_deny_ranges_win_over_terns_own_api_addresses() {
        let tools = egress::Tools::find().unwrap_or_else(|e| panic!("{e}"));
        let policy =
            egress::EgressPolicy { allow: vec![], deny: vec![egress::parse_cidr("10.0.0.0/8").unwrap()] };
        let e = Egress { policy, resolv_conf: PathBuf::from("/etc/resolv.conf") };
        let mut sb = sandbox();
        sb.egress = Some((tools, e));
        assert!(sb.allow_egress("127.0.0.1:8080".parse().unwrap()));
        assert!(!sb.allow_egress("10.1.2.3:443".parse().unwrap()), "denied by the operator");
        assert!(sb.describe().contains("allowed: 127.0.0.1:8080;"), "{}", sb.describe());
        let mut open = sandbox();
        assert!(open.allow_egress("10.1.2.3:443".parse().unwrap()), "no filter: nothing to refuse");
    }

    #[test]
    fn a_sandbox_holds_and_cannot_see_a_private_directory() {
        let secret = tempfile::tempdir().unwrap();
        let said = sandbox().check(secret.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(said.contains("cannot see"), "{said}");
    }

    #[test]
    fn a_phase_sees_its_directories_and_writes_only_the_writable_one() {
        let sb = sandbox();
        let root = tempfile::tempdir().unwrap();
        let (rw, ro, hidden) = (root.path().join("rw"), root.path().join("ro"), root.path().join("hidden"));
        for d in [&rw, &ro, &hidden] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(ro.join("token"), "t").unwrap();
        std::fs::write(hidden.join("key"), "k").unwrap();
        if let Some((uid, gid)) = sb.run_as() {
            chown_tree(&rw, uid, gid).unwrap();
            chown_tree(&ro, uid, gid).unwrap();
        }
        let phase = Phase { writable: vec![rw.clone()], read_only: vec![ro.clone()], cwd: rw.clone() };
        let script = format!(
            "echo made > out; cat {ro}/token; echo x > {ro}/token 2>/dev/null && echo WROTE-RO; cat {hidden}/key 2>/dev/null && echo SAW-HIDDEN; echo tmp > /tmp/t && cat /tmp/t",
            ro = ro.display(),
            hidden = hidden.display()
        );
        let w = sb.wrap(&phase, "/bin/sh".as_ref(), &["-c".into(), script.into()], &[]);
        let out = std::process::Command::new(w.program).args(w.args).env_clear().output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout, "ttmp\n");
        assert_eq!(std::fs::read_to_string(rw.join("out")).unwrap(), "made\n");
        assert_eq!(std::fs::read_to_string(ro.join("token")).unwrap(), "t");
    }

    #[test]
    fn the_phases_user_reads_the_resolver_hosts_and_ca_certificates() {
        let sb = sandbox();
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = sb.run_as() {
            chown_tree(dir.path(), uid, gid).unwrap();
        }
        let phase =
            Phase { writable: vec![dir.path().to_path_buf()], read_only: vec![], cwd: dir.path().into() };
        // What the host has of these, the phase reads (as nobody when tern is root).
        let files: Vec<&str> = ["/etc/hosts", "/etc/resolv.conf", "/etc/ssl/certs/ca-certificates.crt"]
            .into_iter()
            .filter(|f| Path::new(f).exists())
            .collect();
        assert!(!files.is_empty());
        let script: String =
            files.iter().map(|f| format!("cat {f} >/dev/null || echo UNREADABLE {f}; ")).collect();
        let w = sb.wrap(&phase, "/bin/sh".as_ref(), &["-c".into(), script.into()], &[]);
        let out = std::process::Command::new(w.program).args(w.args).env_clear().output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.is_empty(), "{text}");
    }

    #[test]
    fn a_file_larger_than_the_limit_ends_the_process_with_a_clear_reason() {
        let limits = Limits { file_bytes: 1 << 20, ..Limits::default() };
        let sb = Sandbox::new(Config { limits, ..Config::default() }).unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = sb.run_as() {
            chown_tree(dir.path(), uid, gid).unwrap();
        }
        let phase =
            Phase { writable: vec![dir.path().to_owned()], read_only: vec![], cwd: dir.path().to_owned() };
        let w = sb.wrap(
            &phase,
            "/bin/sh".as_ref(),
            &["-c".into(), "exec head -c 3000000 /dev/zero > big".into()],
            &[],
        );
        let status = std::process::Command::new(w.program).args(w.args).env_clear().status().unwrap();
        // The shell inside reports the signal as 128 + SIGXFSZ (25), or bwrap passes the signal.
        use std::os::unix::process::ExitStatusExt as _;
        let sig = status.signal().or(status.code().map(|c| c - 128)).unwrap();
        let reason = limit_signal(sig, &limits).unwrap_or_else(|| panic!("{status:?}"));
        assert!(reason.contains("1 MiB"), "{reason}");
    }

    #[test]
    fn every_process_of_the_sandbox_ends_with_it() {
        let sb = sandbox();
        let dir = tempfile::tempdir().unwrap();
        let phase =
            Phase { writable: vec![], read_only: vec![dir.path().to_owned()], cwd: dir.path().to_owned() };
        // A daemon that leaves the process group and the session, then the command exits. Its
        // duration is unique to this test process, so that the scan below of every process on
        // the machine finds it and nothing another test (or anyone) runs.
        let marker = format!("sleep 3{:07}", std::process::id());
        let w = sb.wrap(
            &phase,
            "/bin/sh".as_ref(),
            &["-c".into(), format!("setsid {marker} </dev/null >/dev/null 2>&1 & sleep 0.2").into()],
            &[("PATH".into(), "/usr/bin".into())],
        );
        let status =
            std::process::Command::new(w.program).args(w.args).env_clear().envs(w.env).status().unwrap();
        assert!(status.success());
        // The kernel reaps the namespace's processes asynchronously: on a loaded machine that
        // takes longer than a moment, so wait (bounded) for them to go rather than look once.
        let survivors = || -> Vec<String> {
            std::fs::read_dir("/proc")
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .filter(|c| c.trim_end() == marker)
                .collect()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !survivors().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let left = survivors();
        assert!(left.is_empty(), "still running 10 s after the sandbox ended: {left:?}");
    }

    /// A tenant's loader variables reach its own command, never bwrap or the privileged steps
    /// inside: a library it names (here one that does not exist, which the loader reports for
    /// every program it is preloaded into) is loaded by the last program only.
    #[test]
    fn loader_variables_reach_only_the_phases_own_command() {
        let sb = sandbox();
        let dir = tempfile::tempdir().unwrap();
        let phase =
            Phase { writable: vec![], read_only: vec![dir.path().to_owned()], cwd: dir.path().to_owned() };
        let env = [
            (OsString::from("PATH"), OsString::from("/usr/bin")),
            ("LD_PRELOAD".into(), "/nonexistent/evil.so".into()),
            ("SECRET".into(), "s3cr3t".into()),
        ];
        let w =
            sb.wrap(&phase, "/bin/sh".as_ref(), &["-c".into(), "echo \"$LD_PRELOAD $SECRET\"".into()], &env);
        assert!(w.env.iter().all(|(k, _)| k != "LD_PRELOAD"), "{w:?}");
        assert!(!format!("{w:?}").contains("s3cr3t"), "Debug shows names only");
        assert!(w.args.iter().all(|a| !a.to_string_lossy().contains("s3cr3t")), "secrets never in argv");
        let out =
            std::process::Command::new(w.program).args(w.args).env_clear().envs(w.env).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout, "/nonexistent/evil.so s3cr3t\n", "{stderr}");
        // Only sh (after env) tried to preload it: one loader complaint, from sh.
        let complaints = stderr.lines().filter(|l| l.contains("evil.so")).count();
        assert_eq!(complaints, 1, "{stderr}");
    }
}
