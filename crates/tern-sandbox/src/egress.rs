//! Egress of a sandbox: a network namespace per phase with user-mode networking and a filter.
//!
//! A phase needs the internet (providers, registries, clouds) but must not reach what trusts the
//! host: its loopback services (PostgreSQL on these machines accepts any local connection), the
//! cloud metadata endpoint (the instance's credentials), the host's own addresses, and whatever
//! the operator marks internal (`--deny-egress CIDR`). tern's API stays reachable when the
//! operator lists its addresses ([`EgressPolicy::allow`]).
//!
//! The mechanism, proven pieces only:
//!
//! 1. bubblewrap runs the phase with `--unshare-net --block-fd 0` (stdin a pipe): the phase gets
//!    a network namespace with only a loopback, and waits before running its command.
//! 2. [`namespace_pid`] finds bubblewrap's child, the process that holds the namespace, once
//!    bubblewrap has set up the namespace's loopback (it fails if anything else does first).
//! 3. [`attach`] loads an nftables ruleset ([`EgressPolicy::ruleset`]) into that namespace and
//!    starts `slirp4netns`, which gives it an interface `tap0` (10.0.2.100/24, default route
//!    through 10.0.2.2, DNS forwarder 10.0.2.3) and carries its connections as ordinary sockets
//!    of the host; it returns once the namespace has its default route.
//! 4. The caller writes a byte to bubblewrap's stdin: the command starts, filtered.
//!
//! slirp4netns's gateway 10.0.2.2 *is* the host: a connection to it becomes a connection to the
//! host's 127.0.0.1. slirp4netns refuses that (`--disable-host-loopback`) unless an allowed
//! address is on the host's loopback (tern's API on `127.0.0.1:8080`, the default); then the
//! filter alone keeps the other loopback ports out, and the allowed ones are reached at their
//! usual address (`127.0.0.1:port` inside is rewritten to `10.0.2.2:port`).
//!
//! What the filter does not stop, and the cost, are in `docs/egress.md`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

/// slirp4netns's gateway, which is the host (its loopback, unless refused).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// slirp4netns's DNS forwarder: queries to it go to the host's resolvers.
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
/// The sandbox's address on its interface.
pub const SANDBOX_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
/// The `/etc/resolv.conf` a sandbox must see: the host's may name a resolver the phase cannot
/// reach (one on the host's loopback, e.g. systemd-resolved's 127.0.0.53).
pub const RESOLV_CONF: &str = "nameserver 10.0.2.3\n";
/// The interface slirp4netns creates in the namespace.
pub const INTERFACE: &str = "tap0";
/// slirp4netns's MTU: its largest, the fastest.
const MTU: &str = "65520";
/// The longest any one step of [`attach`] (or [`namespace_pid`]) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Network::stop`] waits for slirp4netns to exit before killing it.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines of slirp4netns's stderr kept for an error message, and their longest length.
const KEPT_LINES: usize = 20;
const KEPT_LINE_CHARS: usize = 300;
/// The nftables table tern loads into a phase's namespace.
pub const TABLE: &str = "tern_egress";

/// How to install the tools, said whenever one is missing.
pub const INSTALL_HINT: &str = "On Debian or Ubuntu: apt-get install slirp4netns nftables util-linux";

/// Destinations no phase reaches, whatever the operator says, with why.
const ALWAYS_DENIED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\": 0.0.0.0 is the host itself"),
    ("10.0.2.0/24", "slirp4netns's network: 10.0.2.2 is the host's loopback"),
    ("100.100.100.200/32", "Alibaba Cloud's metadata endpoint"),
    ("127.0.0.0/8", "loopback (the namespace's own is accepted before)"),
    ("168.63.129.16/32", "Azure's WireServer, which serves VM extension settings"),
    ("169.254.0.0/16", "link-local, with the metadata endpoint 169.254.169.254"),
    ("224.0.0.0/3", "multicast and broadcast: slirp4netns maps 255.255.255.255 to the host's loopback"),
    ("::/128", "the unspecified address"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped addresses never belong on the wire"),
    ("fd00::/64", "slirp4netns's IPv6 network, all of it the host's ::1 to slirp4netns"),
    ("fd00:ec2::/32", "AWS's IPv6 metadata, DNS and time endpoints (fd00:ec2::254)"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast: slirp4netns maps all-nodes to the host's loopback"),
];

/// Why egress could not be set up (or torn down).
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// A tool is not installed.
    #[error(
        "tern limits a phase's network with slirp4netns, nft and nsenter, but {} not found in PATH, /usr/sbin or /sbin. {INSTALL_HINT}",
        missing_list(.missing)
    )]
    ToolsMissing {
        /// The tools not found.
        missing: Vec<&'static str>,
    },
    /// A `--deny-egress` value is not a CIDR.
    #[error("{input:?} is not an address range: {reason} (write e.g. 10.0.0.0/8, 192.0.2.7 or fd00::/8)")]
    InvalidCidr {
        /// What was given.
        input: String,
        /// Why it is refused.
        reason: String,
    },
    /// The host's interface addresses could not be listed.
    #[error("cannot list the host's interface addresses: {0}")]
    Interfaces(#[source] nix::Error),
    /// A namespace of the target process could not be opened or read.
    #[error("cannot read {path} (has the sandbox exited?): {source}")]
    Namespace {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The target shares tern's network namespace: the filter would be loaded into the host's.
    #[error(
        "process {pid} shares tern's network namespace, so its egress cannot be limited (was bubblewrap given --unshare-net?); refusing to touch the host's network"
    )]
    NotIsolated {
        /// The target.
        pid: u32,
    },
    /// The target's network namespace changed while it was being set up (the process was
    /// replaced).
    #[error("process {pid} changed network namespace while its egress was being set up (did it exit?)")]
    NamespaceChanged {
        /// The target.
        pid: u32,
    },
    /// Unprivileged, bubblewrap did not finish setting up its sandbox (it still holds
    /// capabilities).
    #[error(
        "bubblewrap's child (pid {pid}) did not finish setting up the sandbox in time (it still holds capabilities: was bubblewrap given --cap-add?)"
    )]
    SetupUnfinished {
        /// The target.
        pid: u32,
    },
    /// Unprivileged, the filter is loaded by joining the sandbox's user namespace, which needs
    /// the sandbox to map tern to uid 0.
    #[error(
        "the user namespace of process {pid} does not map uid 0, so nft cannot be given CAP_NET_ADMIN in it: start bubblewrap with --uid 0 --gid 0 (the sandbox still has no capabilities), or run tern as root"
    )]
    UserNamespaceWithoutRoot {
        /// The target.
        pid: u32,
    },
    /// bubblewrap has no child, or it did not set up the sandbox's loopback.
    #[error(
        "bubblewrap (pid {bwrap_pid}) did not set up its sandbox's network in time (no child, or its loopback never came up: was bubblewrap given --unshare-net?)"
    )]
    NoChild {
        /// bubblewrap's pid.
        bwrap_pid: u32,
    },
    /// A tool could not be started.
    #[error("cannot start {tool} ({path}): {source}")]
    Spawn {
        /// Which.
        tool: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Talking to a tool failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// nft refused the ruleset.
    #[error("loading the egress filter into the sandbox's network namespace failed ({status}): {stderr}")]
    Filter {
        /// nsenter's (or nft's) exit status.
        status: ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// slirp4netns exited before the network was up.
    #[error("slirp4netns exited before the sandbox's network was up ({status}): {stderr}")]
    SlirpFailed {
        /// Its exit status.
        status: ExitStatus,
        /// The end of what it said.
        stderr: String,
    },
    /// slirp4netns exited while the phase ran: the phase lost its network.
    #[error("slirp4netns exited while the phase was running ({status}): {stderr}")]
    SlirpDied {
        /// Its exit status.
        status: ExitStatus,
        /// The end of what it said.
        stderr: String,
    },
    /// A step took longer than [`STEP_TIMEOUT`].
    #[error("{step} took longer than {}s{}", .after.as_secs(), detail_suffix(.detail))]
    Timeout {
        /// The step.
        step: &'static str,
        /// The bound.
        after: Duration,
        /// What the tool said, if anything.
        detail: String,
    },
}

fn missing_list(missing: &[&'static str]) -> String {
    match missing {
        [one] => format!("{one} was"),
        _ => format!("{} were", missing.join(", ")),
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() { String::new() } else { format!(": {detail}") }
}

/// What a phase may reach besides the internet, and what else it may not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Destinations reachable even if they are the host's (tern's API, over TCP). Checked before
    /// anything is refused. One on the host's loopback must be `127.0.0.1` (slirp4netns reaches
    /// no other); IPv6 ones are written into the filter but unreachable, as the namespace has no
    /// IPv6 route.
    pub allow: Vec<SocketAddr>,
    /// Ranges refused on top of the fixed ones (`--deny-egress`).
    pub deny: Vec<IpNet>,
}

/// How an allowed address is reached from the namespace.
enum Allowed {
    /// As it is.
    Direct(SocketAddr),
    /// `127.0.0.1:port` on the host, which is `10.0.2.2:port` through slirp4netns.
    HostLoopback(u16),
    /// Not at all, with why.
    Unreachable(SocketAddr, &'static str),
}

fn classify(addr: SocketAddr) -> Allowed {
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if addr.port() == 0 {
        return Allowed::Unreachable(addr, "port 0 is no destination");
    }
    if ip.is_unspecified() {
        return Allowed::Unreachable(
            addr,
            "an unspecified address is no destination: list the addresses to reach",
        );
    }
    match ip {
        IpAddr::V4(v4) if v4 == Ipv4Addr::LOCALHOST => Allowed::HostLoopback(addr.port()),
        IpAddr::V4(v4) if v4.is_loopback() => {
            Allowed::Unreachable(addr, "slirp4netns reaches the host's loopback at 127.0.0.1 only")
        }
        IpAddr::V6(v6) if v6.is_loopback() => {
            Allowed::Unreachable(addr, "slirp4netns runs without IPv6, so the host's ::1 is out of reach")
        }
        _ => Allowed::Direct(SocketAddr::new(ip, addr.port())),
    }
}

/// A range as nft writes it: a single address without its prefix length.
fn net_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() { net.addr().to_string() } else { net.to_string() }
}

impl EgressPolicy {
    /// Whether slirp4netns must let the namespace reach the host's loopback (an allowed
    /// address is `127.0.0.1:port`). The filter then refuses every other port there.
    pub fn needs_host_loopback(&self) -> bool {
        self.allow.iter().any(|a| matches!(classify(*a), Allowed::HostLoopback(_)))
    }

    /// The nftables ruleset for a phase's namespace, for `nft -f -` inside it.
    ///
    /// One `inet` table. Its `output` chain (policy accept: the internet is the point) accepts,
    /// in order: the namespace's own addresses (its loopback is not the host's), slirp4netns's
    /// DNS forwarder (10.0.2.3 port 53), and the allowed addresses; then it refuses, with a TCP
    /// reset or an ICMP "administratively prohibited" so that a client fails at once rather than
    /// after a timeout: the fixed ranges (loopback, slirp4netns's network with the host behind
    /// 10.0.2.2, link-local and metadata addresses, multicast and broadcast), `host_addresses`
    /// (see [`host_addresses`]), and [`EgressPolicy::deny`]. No connection tracking is needed:
    /// every packet's destination is checked. If an allowed address is `127.0.0.1:port`, a `nat`
    /// pair rewrites it to `10.0.2.2:port` (and the source to the namespace's address).
    pub fn ruleset(&self, host_addresses: &[IpAddr]) -> String {
        let mut v4: Vec<Ipv4Net> = Vec::new();
        let mut v6: Vec<Ipv6Net> = Vec::new();
        let mut add = |net: IpNet| match net.trunc() {
            IpNet::V4(n) => v4.push(n),
            IpNet::V6(n) => v6.push(n),
        };
        for (text, _) in ALWAYS_DENIED {
            if let Ok(net) = IpNet::from_str(text) {
                add(net);
            }
        }
        for ip in host_addresses {
            add(IpNet::from(*ip));
        }
        for net in &self.deny {
            add(*net);
        }
        let v4: Vec<IpNet> = Ipv4Net::aggregate(&v4).into_iter().map(IpNet::V4).collect();
        let v6: Vec<IpNet> = Ipv6Net::aggregate(&v6).into_iter().map(IpNet::V6).collect();

        let mut accept = String::new();
        let mut dnat = String::new();
        let mut notes = String::new();
        for a in &self.allow {
            match classify(*a) {
                Allowed::Direct(SocketAddr::V4(s)) => {
                    let _ = writeln!(accept, "\t\tip daddr {} tcp dport {} accept", s.ip(), s.port());
                }
                Allowed::Direct(SocketAddr::V6(s)) => {
                    let _ = writeln!(accept, "\t\tip6 daddr {} tcp dport {} accept", s.ip(), s.port());
                }
                Allowed::HostLoopback(port) => {
                    let _ = writeln!(accept, "\t\tip daddr {GATEWAY} tcp dport {port} accept");
                    let _ =
                        writeln!(dnat, "\t\tip daddr 127.0.0.1 tcp dport {port} dnat ip to {GATEWAY}:{port}");
                }
                Allowed::Unreachable(addr, why) => {
                    let _ = writeln!(notes, "# Allowed but unreachable from the namespace: {addr}: {why}.");
                }
            }
        }

        let join = |nets: &[IpNet]| nets.iter().map(net_text).collect::<Vec<_>>().join(", ");
        let mut out = String::new();
        out.push_str("# tern: egress filter of one phase's network namespace (docs/egress.md).\n");
        out.push_str(&notes);
        let _ = writeln!(out, "table inet {TABLE} {{");
        out.push_str(
            "\t# Never reachable: the host (its loopback behind slirp4netns, its own addresses),\n\
             \t# link-local and cloud metadata addresses, and the operator's --deny-egress ranges.\n\
             \t# Always in, merged with the rest:\n",
        );
        for (text, why) in ALWAYS_DENIED {
            let _ = writeln!(out, "\t#   {text}: {why}");
        }
        let _ = writeln!(
            out,
            "\tset deny_v4 {{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = {{ {} }}\n\t}}",
            join(&v4)
        );
        let _ = writeln!(
            out,
            "\tset deny_v6 {{\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = {{ {} }}\n\t}}",
            join(&v6)
        );
        if !dnat.is_empty() {
            out.push_str("\t# tern's API on the host's loopback, at its usual address.\n");
            let _ = writeln!(
                out,
                "\tchain nat_output {{\n\t\ttype nat hook output priority -100; policy accept;\n{dnat}\t}}"
            );
            let _ = writeln!(
                out,
                "\tchain nat_postrouting {{\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\toifname \"{INTERFACE}\" ip saddr 127.0.0.0/8 masquerade\n\t}}"
            );
        }
        out.push_str("\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n");
        out.push_str("\t\tfib daddr type local accept\n");
        let _ =
            writeln!(out, "\t\tip daddr {DNS} udp dport 53 accept\n\t\tip daddr {DNS} tcp dport 53 accept");
        out.push_str(&accept);
        out.push_str(
            "\t\tip daddr @deny_v4 meta l4proto tcp reject with tcp reset\n\
             \t\tip daddr @deny_v4 reject with icmpx admin-prohibited\n\
             \t\tip6 daddr @deny_v6 meta l4proto tcp reject with tcp reset\n\
             \t\tip6 daddr @deny_v6 reject with icmpx admin-prohibited\n\
             \t}\n}\n",
        );
        out
    }
}

/// Parses a `--deny-egress` value: a range (`10.0.0.0/8`, `fd00::/8`) or a single address.
/// A range with bits set after its prefix (`10.1.2.3/8`) is refused as a likely typo.
pub fn parse_cidr(input: &str) -> Result<IpNet, EgressError> {
    let text = input.trim();
    let invalid = |reason: String| EgressError::InvalidCidr { input: input.to_owned(), reason };
    if text.contains('/') {
        let net = IpNet::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if net.trunc() != net {
            return Err(invalid(format!("it has bits set after the prefix; did you mean {}?", net.trunc())));
        }
        Ok(net)
    } else {
        let ip = IpAddr::from_str(text).map_err(|e| invalid(e.to_string()))?;
        Ok(IpNet::from(ip))
    }
}

/// The addresses of the host's interfaces, sorted: slirp4netns carries a connection to any of
/// them to the host itself, so the filter refuses them all. They are read when a phase starts,
/// so an address added later (a new bridge) is covered from the next phase on.
pub fn host_addresses() -> Result<Vec<IpAddr>, EgressError> {
    let mut out = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().map_err(EgressError::Interfaces)? {
        let Some(addr) = ifa.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            out.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            out.push(IpAddr::V6(v6.ip()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The programs egress needs, found once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// User-mode networking for the namespace (Debian package `slirp4netns`).
    pub slirp4netns: PathBuf,
    /// Enters the namespace to load the filter (`util-linux`).
    pub nsenter: PathBuf,
    /// Loads the filter (`nftables`).
    pub nft: PathBuf,
}

impl Tools {
    /// Finds the tools in `PATH`, then `/usr/sbin` and `/sbin` (where `nft` lives, often not in
    /// a user's `PATH`). A missing one is an error that says how to install it.
    pub fn find() -> Result<Tools, EgressError> {
        let mut dirs: Vec<PathBuf> =
            std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
        dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
        Tools::find_in(&dirs)
    }

    /// Finds the tools in these directories, in order.
    pub fn find_in(dirs: &[PathBuf]) -> Result<Tools, EgressError> {
        let find = |name: &str| {
            dirs.iter().map(|d| d.join(name)).find(|p| {
                std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
        };
        let (slirp4netns, nsenter, nft) = (find("slirp4netns"), find("nsenter"), find("nft"));
        match (slirp4netns, nsenter, nft) {
            (Some(slirp4netns), Some(nsenter), Some(nft)) => Ok(Tools { slirp4netns, nsenter, nft }),
            (s, e, n) => {
                let missing = [("slirp4netns", s.is_none()), ("nsenter", e.is_none()), ("nft", n.is_none())]
                    .into_iter()
                    .filter_map(|(name, gone)| gone.then_some(name))
                    .collect();
                Err(EgressError::ToolsMissing { missing })
            }
        }
    }
}

/// Polls `probe` until it gives a value, at most [`STEP_TIMEOUT`], sleeping 0.5 ms, then up to
/// 4 ms, between tries (a read of /proc costs microseconds).
async fn poll<T>(
    step: &'static str,
    mut probe: impl FnMut() -> Result<Option<T>, EgressError>,
) -> Result<T, EgressError> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    let mut pause = Duration::from_micros(500);
    loop {
        if let Some(v) = probe()? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(EgressError::Timeout { step, after: STEP_TIMEOUT, detail: String::new() });
        }
        sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(4));
    }
}

/// The pid of bubblewrap's child, the process holding the sandbox's namespaces (pid 1 of its PID
/// namespace), read from `/proc/<bwrap_pid>/task/<bwrap_pid>/children`, once bubblewrap is done
/// with the namespace's network. Waits at most [`STEP_TIMEOUT`].
///
/// The wait matters: bubblewrap configures the namespace's loopback itself, and fails
/// ("loopback: Failed RTM_NEWADDR") if slirp4netns has brought `lo` up first. The child is
/// taken as ready when its `lo` is up (the local route 127.0.0.0/8 exists: bubblewrap's last
/// network step), or when it has dropped every capability (bubblewrap's last step of all before
/// it waits on `--block-fd`, when it runs unprivileged).
pub async fn namespace_pid(bwrap_pid: u32) -> Result<u32, EgressError> {
    let path = format!("/proc/{bwrap_pid}/task/{bwrap_pid}/children");
    let found = poll("waiting for bubblewrap's child", || {
        let text = std::fs::read_to_string(&path)
            .map_err(|source| EgressError::Namespace { path: path.clone(), source })?;
        let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()) else {
            return Ok(None);
        };
        Ok((loopback_up(pid)? || capabilities_dropped(pid)?).then_some(pid))
    })
    .await;
    match found {
        Err(EgressError::Timeout { .. }) => Err(EgressError::NoChild { bwrap_pid }),
        other => other,
    }
}

/// Whether the network namespace of `pid` has its loopback up: `/proc/<pid>/net/fib_trie` has
/// the local route `127.0.0.0/8` (with `lo` down, only `127.0.0.1/32` is there).
fn loopback_up(pid: u32) -> Result<bool, EgressError> {
    let path = format!("/proc/{pid}/net/fib_trie");
    let text = std::fs::read_to_string(&path).map_err(|source| EgressError::Namespace { path, source })?;
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == "|-- 127.0.0.0" && lines.next().is_some_and(|l| l.starts_with("/8 host LOCAL")) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `/proc/<pid>/status` shows no effective and no permitted capability.
fn capabilities_dropped(pid: u32) -> Result<bool, EgressError> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|source| EgressError::Namespace { path, source })?;
    let empty = |field: &str| {
        text.lines().find_map(|l| l.strip_prefix(field)).is_some_and(|v| v.trim().chars().all(|c| c == '0'))
    };
    Ok(empty("CapEff:") && empty("CapPrm:"))
}

/// A namespace file, held open so that its identity (device and inode) cannot be reused.
struct Pinned {
    path: String,
    _file: File,
    id: (u64, u64),
}

fn ns_id(path: &str) -> Result<(u64, u64), EgressError> {
    std::fs::metadata(path)
        .map(|m| (m.dev(), m.ino()))
        .map_err(|source| EgressError::Namespace { path: path.to_owned(), source })
}

fn pin(path: String) -> Result<Pinned, EgressError> {
    let file = File::open(&path).map_err(|source| EgressError::Namespace { path: path.clone(), source })?;
    let id = file
        .metadata()
        .map(|m| (m.dev(), m.ino()))
        .map_err(|source| EgressError::Namespace { path: path.clone(), source })?;
    Ok(Pinned { path, _file: file, id })
}

/// Whether `/proc/<pid>/uid_map` maps uid 0.
fn maps_root(pid: u32) -> Result<bool, EgressError> {
    let path = format!("/proc/{pid}/uid_map");
    let text = std::fs::read_to_string(&path).map_err(|source| EgressError::Namespace { path, source })?;
    Ok(text.lines().any(|l| l.split_whitespace().next() == Some("0")))
}

/// Whether `/proc/<pid>/net/route` has a default route through [`INTERFACE`].
fn has_default_route(pid: u32) -> Result<bool, EgressError> {
    let path = format!("/proc/{pid}/net/route");
    let text = std::fs::read_to_string(&path).map_err(|source| EgressError::Namespace { path, source })?;
    Ok(text.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 7 && f[0] == INTERFACE && f[1] == "00000000" && f[7] == "00000000"
    }))
}

/// The user-mode network of one sandbox: owns its slirp4netns.
///
/// slirp4netns does not exit when the namespace goes away (it keeps its end of the tap device),
/// so its end is tied to tern three ways: [`Network::stop`] after the phase; dropping the
/// `Network` kills it; and it watches a pipe from tern (`--exit-fd`), so it exits by itself if
/// tern dies, even by `kill -9`.
#[derive(Debug)]
pub struct Network {
    slirp: Child,
    /// slirp4netns's `--exit-fd`: closing it makes slirp4netns exit.
    exit: Option<ChildStdin>,
    /// slirp4netns's `--ready-fd`, kept open so that its last words have somewhere to go.
    _ready: ChildStdout,
    stderr: Option<JoinHandle<Vec<String>>>,
}

impl Network {
    /// slirp4netns's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.slirp.id()
    }

    /// Stops slirp4netns (after the phase's sandbox has exited). An error if slirp4netns had
    /// already exited, which cut the phase's network.
    pub async fn stop(mut self) -> Result<(), EgressError> {
        let io = |what| move |source| EgressError::Io { what, source };
        if let Some(status) = self.slirp.try_wait().map_err(io("checking on slirp4netns"))? {
            return Err(EgressError::SlirpDied { status, stderr: collect(self.stderr.take()).await });
        }
        drop(self.exit.take());
        if timeout(STOP_TIMEOUT, self.slirp.wait()).await.is_err() {
            tracing::warn!(
                timeout_secs = STOP_TIMEOUT.as_secs(),
                "slirp4netns ignored its exit pipe; killing it"
            );
            self.slirp.kill().await.map_err(io("killing slirp4netns"))?;
        }
        Ok(())
    }
}

/// The last lines slirp4netns wrote to stderr (waits up to a second for it to close).
async fn collect(task: Option<JoinHandle<Vec<String>>>) -> String {
    let Some(task) = task else { return String::new() };
    match timeout(Duration::from_secs(1), task).await {
        Ok(Ok(lines)) => lines.join("; "),
        _ => String::new(),
    }
}

fn drain_stderr(stderr: tokio::process::ChildStderr) -> JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut kept = VecDeque::with_capacity(KEPT_LINES);
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::debug!(target: "tern_sandbox::egress::slirp4netns", "{line}");
            if kept.len() == KEPT_LINES {
                kept.pop_front();
            }
            kept.push_back(line.chars().take(KEPT_LINE_CHARS).collect::<String>());
        }
        kept.into()
    })
}

/// Gives the sandbox whose namespaces `target_pid` holds (from [`namespace_pid`], which also
/// waits for bubblewrap to finish its own setup of the namespace) its network:
/// loads the filter for `policy`, starts slirp4netns, and returns once the namespace has its
/// default route. The sandbox's command must not have started yet (bubblewrap's `--block-fd`).
///
/// `own_user_namespace`: tern is not root, so the network namespace belongs to a user namespace
/// bubblewrap created, and the tools must join it. That needs `/dev/net/tun` usable by tern's
/// user (mode 0666, as on stock Debian) and the sandbox mapping tern to uid 0 (bubblewrap's
/// `--uid 0 --gid 0`): a program nsenter starts keeps its capabilities in a user namespace only
/// as uid 0 there. When tern is root (and bubblewrap runs as an unprivileged uid), pass `false`:
/// the tools act from the host's user namespace.
///
/// Refuses a target in tern's own network namespace: the filter is never loaded into the host's.
pub async fn attach(
    tools: &Tools,
    target_pid: u32,
    policy: &EgressPolicy,
    own_user_namespace: bool,
) -> Result<Network, EgressError> {
    let net = pin(format!("/proc/{target_pid}/ns/net"))?;
    if net.id == ns_id("/proc/thread-self/ns/net")? {
        return Err(EgressError::NotIsolated { pid: target_pid });
    }
    let user = if own_user_namespace {
        // The user namespace is final (its uid map written, a nested one created if any) once
        // bubblewrap has dropped its capabilities.
        poll("waiting for bubblewrap to finish its setup", || {
            capabilities_dropped(target_pid).map(|done| done.then_some(()))
        })
        .await
        .map_err(|e| match e {
            EgressError::Timeout { .. } => EgressError::SetupUnfinished { pid: target_pid },
            other => other,
        })?;
        if !maps_root(target_pid)? {
            return Err(EgressError::UserNamespaceWithoutRoot { pid: target_pid });
        }
        Some(pin(format!("/proc/{target_pid}/ns/user"))?)
    } else {
        None
    };
    for a in &policy.allow {
        if let Allowed::Unreachable(addr, why) = classify(*a) {
            tracing::warn!(%addr, "an allowed address is unreachable from a sandbox: {why}");
        }
    }
    let ruleset = policy.ruleset(&host_addresses()?);

    // Both before the sandbox's command runs, so the order does not matter; at once, to save
    // time. If one fails the other is dropped, which kills its process.
    let ((), network) = tokio::try_join!(
        load_filter(tools, &net, user.as_ref(), &ruleset, policy.needs_host_loopback()),
        start_slirp(tools, target_pid, &net, user.is_some(), !policy.needs_host_loopback()),
    )?;
    poll("waiting for the sandbox's default route", || {
        has_default_route(target_pid).map(|up| up.then_some(()))
    })
    .await?;
    if ns_id(&net.path)? != net.id {
        return Err(EgressError::NamespaceChanged { pid: target_pid });
    }
    Ok(network)
}

/// Loads `ruleset` into the namespace with `nsenter … nft -f -` (and, for an allowed address
/// on the host's loopback, lets 127.0.0.0/8 be routed out so that it can be rewritten).
async fn load_filter(
    tools: &Tools,
    net: &Pinned,
    user: Option<&Pinned>,
    ruleset: &str,
    route_localnet: bool,
) -> Result<(), EgressError> {
    let mut cmd = Command::new(&tools.nsenter);
    if let Some(user) = user {
        // Keep tern's uid, which is uid 0 in there: joining gives every capability, and a
        // program started as uid 0 keeps them.
        cmd.arg("--preserve-credentials").arg(format!("--user={}", user.path));
    }
    cmd.arg(format!("--net={}", net.path)).arg("--");
    if route_localnet {
        cmd.args([
            "/bin/sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && exec \"$0\" -f -",
        ]);
    }
    cmd.arg(&tools.nft);
    if !route_localnet {
        cmd.args(["-f", "-"]);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| EgressError::Spawn {
        tool: "nsenter",
        path: tools.nsenter.clone(),
        source,
    })?;
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(ruleset.as_bytes())
                .await
                .map_err(|source| EgressError::Io { what: "writing the ruleset to nft", source })?;
        }
        child.wait_with_output().await.map_err(|source| EgressError::Io { what: "waiting for nft", source })
    };
    let output = timeout(STEP_TIMEOUT, run).await.map_err(|_| EgressError::Timeout {
        step: "loading the egress filter",
        after: STEP_TIMEOUT,
        detail: String::new(),
    })??;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().chars().take(2000).collect();
        return Err(EgressError::Filter { status: output.status, stderr });
    }
    Ok(())
}

/// Starts slirp4netns and waits for its ready byte.
async fn start_slirp(
    tools: &Tools,
    target_pid: u32,
    net: &Pinned,
    join_user_namespace: bool,
    disable_host_loopback: bool,
) -> Result<Network, EgressError> {
    let mut cmd = Command::new(&tools.slirp4netns);
    // --enable-sandbox: slirp4netns parses the tenant's packets; it runs in its own mount
    // namespace with no capabilities but CAP_NET_BIND_SERVICE. (Not --enable-seccomp: it is
    // experimental and its warning on stdout would mix with the ready byte.)
    cmd.args(["--configure", "--mtu", MTU, "--enable-sandbox", "--exit-fd", "0", "--ready-fd", "1"]);
    if disable_host_loopback {
        cmd.arg("--disable-host-loopback");
    }
    if join_user_namespace {
        // By pid: slirp4netns then joins /proc/<pid>/ns/user and ns/net, and --enable-sandbox
        // needs the pid when unprivileged.
        cmd.arg(target_pid.to_string());
    } else {
        cmd.arg("--netns-type=path").arg(&net.path);
    }
    cmd.arg(INTERFACE);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut slirp = cmd.spawn().map_err(|source| EgressError::Spawn {
        tool: "slirp4netns",
        path: tools.slirp4netns.clone(),
        source,
    })?;
    let stderr = slirp.stderr.take().map(drain_stderr);
    let (Some(exit), Some(mut ready)) = (slirp.stdin.take(), slirp.stdout.take()) else {
        return Err(EgressError::Io {
            what: "talking to slirp4netns",
            source: io::Error::other("its pipes were not set up"),
        });
    };

    match timeout(STEP_TIMEOUT, wait_ready(&mut ready)).await {
        Ok(Ok(true)) => Ok(Network { slirp, exit: Some(exit), _ready: ready, stderr }),
        Ok(Ok(false)) => {
            let status = timeout(Duration::from_secs(1), slirp.wait()).await;
            let stderr = collect(stderr).await;
            match status {
                Ok(Ok(status)) => Err(EgressError::SlirpFailed { status, stderr }),
                _ => Err(EgressError::Timeout {
                    step: "starting slirp4netns",
                    after: STEP_TIMEOUT,
                    detail: stderr,
                }),
            }
        }
        Ok(Err(source)) => Err(EgressError::Io { what: "reading slirp4netns's ready signal", source }),
        Err(_) => {
            let _ = slirp.start_kill();
            drop(exit);
            let stderr = collect(stderr).await;
            Err(EgressError::Timeout { step: "starting slirp4netns", after: STEP_TIMEOUT, detail: stderr })
        }
    }
}

/// Reads slirp4netns's stdout until its ready byte (`1`, unterminated) arrives: `true`; or it
/// closes first: `false`. Whole lines before it (slirp4netns's messages) are skipped.
async fn wait_ready(ready: &mut ChildStdout) -> io::Result<bool> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            tracing::debug!(target: "tern_sandbox::egress::slirp4netns", "{}", String::from_utf8_lossy(&line).trim_end());
        }
        if buf.first() == Some(&b'1') {
            return Ok(true);
        }
        let n = ready.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_addresses_are_classified() {
        assert!(matches!(classify("127.0.0.1:8080".parse().unwrap()), Allowed::HostLoopback(8080)));
        assert!(matches!(classify("[::ffff:127.0.0.1]:8080".parse().unwrap()), Allowed::HostLoopback(8080)));
        assert!(matches!(classify("127.0.0.2:8080".parse().unwrap()), Allowed::Unreachable(..)));
        assert!(matches!(classify("[::1]:8080".parse().unwrap()), Allowed::Unreachable(..)));
        assert!(matches!(classify("0.0.0.0:8080".parse().unwrap()), Allowed::Unreachable(..)));
        assert!(matches!(classify("192.0.2.2:0".parse().unwrap()), Allowed::Unreachable(..)));
        assert!(matches!(classify("192.0.2.2:8080".parse().unwrap()), Allowed::Direct(_)));
    }

    #[test]
    fn route_table_is_read() {
        // The format of /proc/<pid>/net/route, checked against this process's own namespace.
        assert!(has_default_route(std::process::id()).is_ok());
    }

    #[test]
    fn every_fixed_range_parses() {
        for (text, _) in ALWAYS_DENIED {
            assert!(parse_cidr(text).is_ok(), "{text}");
        }
    }
}
