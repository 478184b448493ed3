//! Egress of a sandbox, with the real tools: bubblewrap holds a network namespace, `attach` gives
//! it slirp4netns and the filter, and a probe inside tries to connect to listeners this test
//! opens. As root (the case tern must support), bubblewrap runs as uid 65534, as tern will run
//! it. Nothing is skipped: a missing tool fails the test with how to install it.
//!
//! The link-local and `--deny-egress` cases use a throw-away network namespace standing for the
//! host, joined by one thread of the test, with a veth to a second one that holds the
//! listeners: nothing changes on the real host.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tern_sandbox::egress::{self, EgressError, EgressPolicy, Tools};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn tools() -> Tools {
    match Tools::find() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn bwrap() -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join("bwrap");
        if p.is_file() {
            return p;
        }
    }
    panic!("bwrap not found: on Debian or Ubuntu, apt-get install bubblewrap")
}

/// A resolv.conf naming slirp4netns's DNS forwarder, readable by uid 65534.
fn resolv_conf() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), egress::RESOLV_CONF).unwrap();
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    file
}

/// bubblewrap as tern runs it (as uid 65534 when root), waiting on stdin (`--block-fd 0`) before
/// it runs `bash -c script`, with `resolv_conf` as its `/etc/resolv.conf`.
fn bwrap_command(script: &str, resolv_conf: &Path) -> Command {
    let mut cmd = Command::new(bwrap());
    cmd.args(["--die-with-parent", "--unshare-all", "--unshare-net"])
        .args(["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"])
        .args(["--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
        .args(["--ro-bind", "/etc", "/etc", "--ro-bind"])
        .arg(resolv_conf)
        .args(["/etc/resolv.conf", "--block-fd", "0"]);
    if !is_root() {
        // Unprivileged, nft is given its capabilities in the sandbox's user namespace as uid 0.
        cmd.args(["--uid", "0", "--gid", "0"]);
    }
    cmd.args(["--", "bash", "-c", script]);
    if is_root() {
        cmd.uid(65534).gid(65534);
    }
    cmd.current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `script` (bash) in a bubblewrap sandbox whose egress `policy` limits; returns its stdout.
async fn run_sandboxed(script: &str, policy: &EgressPolicy) -> String {
    let tools = tools();
    let resolv = resolv_conf();
    let mut child = bwrap_command(script, resolv.path()).spawn().unwrap();
    let pid = egress::namespace_pid(child.id().unwrap()).await.unwrap();
    let network = match egress::attach(&tools, pid, policy, !is_root()).await {
        Ok(n) => n,
        Err(e) => {
            drop(child.stdin.take());
            let out = child.wait_with_output().await.unwrap();
            panic!("attach: {e}; bubblewrap ({}) said: {}", out.status, String::from_utf8_lossy(&out.stderr));
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"x").await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    network.stop().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sandbox failed ({}): {stderr}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

/// A bash probe: for each (label, host, port), prints `OPEN label` or `CLOSED label`.
fn probe(targets: &[(&str, String, u16)]) -> String {
    targets
        .iter()
        .map(|(label, host, port)| {
            format!(
                "if timeout 3 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null; then echo 'OPEN {label}'; else echo 'CLOSED {label}'; fi\n"
            )
        })
        .collect()
}

/// `OPEN`/`CLOSED` lines of a probe's output, by label.
fn results(out: &str) -> BTreeMap<String, bool> {
    out.lines()
        .filter_map(|l| {
            l.strip_prefix("OPEN ")
                .map(|x| (x.to_owned(), true))
                .or_else(|| l.strip_prefix("CLOSED ").map(|x| (x.to_owned(), false)))
        })
        .collect()
}

fn assert_reach(out: &str, expected: &[(&str, bool)]) {
    let got = results(out);
    for (label, open) in expected {
        let word = if *open { "reachable" } else { "unreachable" };
        assert_eq!(
            got.get(*label),
            Some(open),
            "{label} should be {word} from the sandbox; probe said:\n{out}"
        );
    }
}

fn listen(ip: IpAddr) -> (TcpListener, u16) {
    let l = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn host_ipv4() -> IpAddr {
    egress::host_addresses()
        .unwrap()
        .into_iter()
        .find(|ip| matches!(ip, IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_link_local()))
        .expect("this host has no non-loopback IPv4 address to test with")
}

#[test]
fn missing_tools_say_how_to_install_them() {
    let empty = tempfile::tempdir().unwrap();
    let err = Tools::find_in(&[empty.path().to_path_buf()]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EgressError::ToolsMissing { ref missing } if missing.len() == 3), "{text}");
    assert!(text.contains("slirp4netns, nsenter, nft were not found"), "{text}");
    assert!(text.contains("apt-get install slirp4netns nftables util-linux"), "{text}");
}

#[test]
fn deny_egress_values_parse() {
    assert_eq!(egress::parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
    assert_eq!(egress::parse_cidr(" 192.0.2.7 ").unwrap().to_string(), "192.0.2.7/32");
    assert_eq!(egress::parse_cidr("fd00::/8").unwrap().to_string(), "fd00::/8");
    let typo = egress::parse_cidr("10.1.2.3/8").unwrap_err().to_string();
    assert!(typo.contains("did you mean 10.0.0.0/8"), "{typo}");
    assert!(egress::parse_cidr("10.0.0.0/33").is_err());
    assert!(egress::parse_cidr("internal").unwrap_err().to_string().contains("e.g. 10.0.0.0/8"));
}

fn golden_policy() -> (EgressPolicy, Vec<IpAddr>) {
    let policy = EgressPolicy {
        allow: ["127.0.0.1:8080", "192.0.2.2:8443", "[2001:db8::5]:443", "[::1]:8080"]
            .map(|a| a.parse().unwrap())
            .to_vec(),
        deny: ["10.0.0.0/8", "198.51.100.0/24", "2001:db8:1::/48"]
            .map(|c| egress::parse_cidr(c).unwrap())
            .to_vec(),
    };
    let hosts = ["127.0.0.1", "192.0.2.2", "::1", "fd00::2", "fe80::fc:ff:fe00:1"]
        .map(|a| a.parse().unwrap())
        .to_vec();
    (policy, hosts)
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/egress-ruleset.nft")
}

#[test]
fn ruleset_matches_golden_file() {
    let (policy, hosts) = golden_policy();
    let actual = policy.ruleset(&hosts);
    let path = golden_path();
    if std::env::var_os("TERN_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "the ruleset differs from {}; if intended, rerun with TERN_UPDATE_GOLDEN=1 and review the diff\n--- actual\n{actual}",
        path.display()
    );
    // Without an allowed loopback address there is no nat, and slirp4netns keeps its loopback
    // refusal.
    let plain = EgressPolicy::default();
    assert!(!plain.needs_host_loopback() && policy.needs_host_loopback());
    assert!(!plain.ruleset(&hosts).contains("nat"));
}

#[test]
fn golden_ruleset_is_accepted_by_nft() {
    let tools = tools();
    let (policy, hosts) = golden_policy();
    // nft checks a ruleset against the kernel (`-c` changes nothing), in a throw-away namespace.
    let mut cmd = std::process::Command::new("unshare");
    if !is_root() {
        cmd.args(["--user", "--map-root-user"]);
    }
    let mut child = cmd
        .args(["--net", "--"])
        .arg(&tools.nft)
        .args(["-c", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(policy.ruleset(&hosts).as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "nft refused the ruleset: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn attach_refuses_the_callers_own_namespace() {
    let err =
        egress::attach(&tools(), std::process::id(), &EgressPolicy::default(), !is_root()).await.unwrap_err();
    assert!(matches!(err, EgressError::NotIsolated { .. }), "{err}");
    assert!(err.to_string().contains("--unshare-net"), "{err}");
}

#[tokio::test]
async fn host_loopback_is_unreachable_but_the_sandbox_keeps_its_own() {
    let (_l, port) = listen("127.0.0.1".parse().unwrap());
    let mut script = probe(&[
        ("loopback", "127.0.0.1".into(), port),
        ("gateway", "10.0.2.2".into(), port),
        ("localhost", "localhost".into(), port),
        ("slirp-alias", "10.0.2.9".into(), port),
    ]);
    // The namespace's own loopback is its own: a server and client inside it still talk.
    script.push_str(
        "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); \
         c=socket.create_connection(s.getsockname(), timeout=3); print(\"OPEN own-loopback\")' \
         || echo 'CLOSED own-loopback'\n",
    );
    let out = run_sandboxed(&script, &EgressPolicy::default()).await;
    assert_reach(
        &out,
        &[
            ("loopback", false),
            ("gateway", false),
            ("localhost", false),
            ("slirp-alias", false),
            ("own-loopback", true),
        ],
    );
}

#[tokio::test]
async fn host_addresses_are_unreachable_unless_allowed() {
    let host = host_ipv4();
    let (_api, api_port) = listen(host);
    let (_other, other_port) = listen(host);
    let (_loop_api, loop_api_port) = listen("127.0.0.1".parse().unwrap());
    let (_db, db_port) = listen("127.0.0.1".parse().unwrap());
    let script = probe(&[
        ("api", host.to_string(), api_port),
        ("other", host.to_string(), other_port),
        ("loopback-api", "127.0.0.1".into(), loop_api_port),
        ("loopback-api-via-gateway", "10.0.2.2".into(), loop_api_port),
        ("database", "127.0.0.1".into(), db_port),
        ("database-via-gateway", "10.0.2.2".into(), db_port),
    ]);

    let closed = run_sandboxed(&script, &EgressPolicy::default()).await;
    assert_reach(
        &closed,
        &[("api", false), ("other", false), ("loopback-api", false), ("database-via-gateway", false)],
    );

    let policy = EgressPolicy {
        allow: vec![
            SocketAddr::new(host, api_port),
            SocketAddr::new("127.0.0.1".parse().unwrap(), loop_api_port),
        ],
        deny: vec![],
    };
    // With an allowed loopback address slirp4netns lets the namespace reach the host's loopback,
    // and only the filter keeps the rest out: UDP too, even to the allowed port.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let script = format!(
        "{script}for p in {udp_port} {loop_api_port}; do echo leak > /dev/udp/10.0.2.2/$p; done 2>/dev/null; true\n"
    );
    let open = run_sandboxed(&script, &policy).await;
    udp.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 16];
    assert!(udp.recv(&mut buf).is_err(), "a datagram to 10.0.2.2 reached the host's loopback");
    assert_reach(
        &open,
        &[
            ("api", true),
            ("other", false),
            ("loopback-api", true),
            ("loopback-api-via-gateway", true),
            ("database", false),
            ("database-via-gateway", false),
        ],
    );
}

/// bubblewrap run as root, keeping two capabilities for a `setpriv` inside (the other way to run
/// a phase as an unprivileged user): no user namespace, and the child never drops every
/// capability, so `namespace_pid` knows it is ready by its loopback.
#[tokio::test]
async fn bubblewrap_run_as_root_with_capabilities_is_filtered_too() {
    assert!(is_root(), "this test runs bubblewrap as root: run it as root");
    let host = host_ipv4();
    let (_api, api_port) = listen(host);
    let (_db, db_port) = listen("127.0.0.1".parse().unwrap());
    let script = probe(&[
        ("api", host.to_string(), api_port),
        ("database", "127.0.0.1".into(), db_port),
        ("database-via-gateway", "10.0.2.2".into(), db_port),
    ]);
    let mut cmd = Command::new(bwrap());
    cmd.args(["--die-with-parent", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-net"])
        .args(["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"])
        .args(["--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--block-fd", "0"])
        .args(["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--", "setpriv", "--reuid=65534"])
        .args([
            "--regid=65534",
            "--clear-groups",
            "--no-new-privs",
            "--bounding-set=-all",
            "--",
            "bash",
            "-c",
        ])
        .arg(&script)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let pid = egress::namespace_pid(child.id().unwrap()).await.unwrap();
    let policy = EgressPolicy { allow: vec![SocketAddr::new(host, api_port)], deny: vec![] };
    let network = egress::attach(&tools(), pid, &policy, false).await.unwrap();
    child.stdin.take().unwrap().write_all(b"x").await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    network.stop().await.unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_reach(&stdout, &[("api", true), ("database", false), ("database-via-gateway", false)]);
}

#[tokio::test]
async fn the_internet_is_reachable_with_names_resolved_through_slirp4netns() {
    let script = "cat /etc/resolv.conf; getent hosts pypi.org || echo 'no DNS'\n".to_owned()
        + &probe(&[("pypi", "pypi.org".into(), 443)]);
    let out = run_sandboxed(&script, &EgressPolicy::default()).await;
    assert!(out.contains("nameserver 10.0.2.3"), "{out}");
    assert!(
        !out.contains("no DNS"),
        "pypi.org did not resolve through 10.0.2.3 (needs the internet):\n{out}"
    );
    assert_reach(&out, &[("pypi", true)]);
}

/// Runs `ip ARGS…` (in the calling thread's network namespace), panicking on failure.
fn ip(args: &str) {
    let out = std::process::Command::new("ip").args(args.split_whitespace()).output().unwrap();
    assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn link_local_metadata_and_denied_ranges_are_unreachable() {
    assert!(is_root(), "this test builds throw-away network namespaces: run it as root");
    // One thread joins a new network namespace, the test's "host"; a second namespace, reached
    // through a veth, holds the metadata endpoint and two other destinations.
    let thread = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let host_ns = File::open("/proc/thread-self/ns/net").unwrap();
            let mut remote =
                Command::new("unshare").args(["--net", "sleep", "60"]).kill_on_drop(true).spawn().unwrap();
            let remote_pid = remote.id().unwrap();
            let remote_ns_path = format!("/proc/{remote_pid}/ns/net");
            // Wait until the helper has its own namespace.
            let start = Instant::now();
            while std::fs::read_link(&remote_ns_path).ok()
                == std::fs::read_link("/proc/thread-self/ns/net").ok()
            {
                assert!(start.elapsed() < Duration::from_secs(5), "unshare --net did not start");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ip("link set lo up");
            ip(&format!("link add eg-host type veth peer name eg-remote netns {remote_pid}"));
            ip("addr add 100.64.0.1/30 dev eg-host");
            ip("link set eg-host up");
            for net in ["169.254.169.254/32", "198.51.100.0/24", "203.0.113.0/24"] {
                ip(&format!("route add {net} via 100.64.0.2"));
            }
            let remote_ns = File::open(&remote_ns_path).unwrap();
            nix::sched::setns(&remote_ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            ip("link set lo up");
            ip("addr add 100.64.0.2/30 dev eg-remote");
            ip("link set eg-remote up");
            for a in ["169.254.169.254/32", "198.51.100.7/32", "203.0.113.9/32"] {
                ip(&format!("addr add {a} dev lo"));
            }
            let (_m1, metadata) = listen("169.254.169.254".parse().unwrap());
            let (_m2, metadata_allowed) = listen("169.254.169.254".parse().unwrap());
            let (_d, denied) = listen("198.51.100.7".parse().unwrap());
            let (_o, ordinary) = listen("203.0.113.9".parse().unwrap());
            nix::sched::setns(&host_ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();

            let script = probe(&[
                ("metadata", "169.254.169.254".into(), metadata),
                ("metadata-allowed", "169.254.169.254".into(), metadata_allowed),
                ("denied", "198.51.100.7".into(), denied),
                ("ordinary", "203.0.113.9".into(), ordinary),
            ]);
            let policy = EgressPolicy {
                allow: vec![SocketAddr::new("169.254.169.254".parse().unwrap(), metadata_allowed)],
                deny: vec![egress::parse_cidr("198.51.100.0/24").unwrap()],
            };
            let out = run_sandboxed(&script, &policy).await;
            // The allowed port and the ordinary destination prove the path works: what is
            // refused is refused by the filter.
            assert_reach(
                &out,
                &[("metadata", false), ("metadata-allowed", true), ("denied", false), ("ordinary", true)],
            );
            remote.kill().await.unwrap();
        });
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Whether `pid` is gone (or a zombie waiting for its reaper).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn slirp4netns_ends_with_its_network() {
    let tools = tools();
    let resolv = resolv_conf();
    for stop in [true, false] {
        let mut child = bwrap_command("true", resolv.path()).spawn().unwrap();
        let pid = egress::namespace_pid(child.id().unwrap()).await.unwrap();
        let network = egress::attach(&tools, pid, &EgressPolicy::default(), !is_root()).await.unwrap();
        let slirp = network.pid().unwrap();
        assert!(!gone(slirp));
        if stop {
            network.stop().await.unwrap();
        } else {
            drop(network);
        }
        let start = Instant::now();
        while !gone(slirp) {
            assert!(start.elapsed() < Duration::from_secs(3), "slirp4netns {slirp} survived (stop: {stop})");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(child.stdin.take());
        let _ = child.wait().await;
    }
}

/// The cost of egress: time from a blocked sandbox to `attach` returning, median of 20 per
/// policy. Not a timed test; run with
/// `cargo test -p tern-sandbox --test egress -- --ignored --nocapture attach_time`.
#[tokio::test]
#[ignore = "a measurement, not a test"]
async fn attach_time() {
    let tools = tools();
    let resolv = resolv_conf();
    let policies = [
        ("default policy", EgressPolicy::default()),
        (
            "API allowed on 127.0.0.1 (nat, route_localnet)",
            EgressPolicy { allow: vec!["127.0.0.1:8080".parse().unwrap()], deny: vec![] },
        ),
    ];
    for (name, policy) in policies {
        let (mut setup, mut attach) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            let start = Instant::now();
            let mut child = bwrap_command("true", resolv.path()).spawn().unwrap();
            let pid = egress::namespace_pid(child.id().unwrap()).await.unwrap();
            let ready = Instant::now();
            let network = egress::attach(&tools, pid, &policy, !is_root()).await.unwrap();
            attach.push(ready.elapsed());
            setup.push(ready - start);
            drop(child.stdin.take());
            let _ = child.wait().await;
            network.stop().await.unwrap();
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let stats = |v: &mut Vec<Duration>| {
            v.sort();
            format!("median {:.1} ms (min {:.1}, max {:.1})", ms(v[10]), ms(v[0]), ms(v[19]))
        };
        println!(
            "{name}: attach {}; bubblewrap until namespace_pid returns {}",
            stats(&mut attach),
            stats(&mut setup)
        );
    }
}
