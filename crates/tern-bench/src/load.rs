//! A small HTTP/1.1 load generator: C keep-alive connections on one thread (so that the client
//! takes one core, the same for every server it measures), a fixed number of requests, a time
//! limit, warm-up requests left out of the figures.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The URL (http, loopback only).
    #[arg(long)]
    url: String,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// A header, "Name: value" (repeatable). Not for secrets: a command line is visible to
    /// every user of the machine; use --header-file.
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// A file of headers, one "Name: value" per line (for tokens).
    #[arg(long)]
    header_file: Option<std::path::PathBuf>,
    /// Request body: text, or @FILE.
    #[arg(long)]
    body: Option<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured requests (after the warm-up).
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Requests sent first and left out of the figures.
    #[arg(long, default_value_t = 500)]
    warmup: u64,
    /// Stop after this many seconds even if not all requests were sent.
    #[arg(long, default_value_t = 30.0)]
    max_seconds: f64,
    /// The status every response must have.
    #[arg(long, default_value_t = 200)]
    expect: u16,
    /// A label for the report.
    #[arg(long, default_value = "")]
    label: String,
}

struct Template {
    method: hyper::Method,
    path: String,
    host: HeaderValue,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Template {
    fn request(&self) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut r = Request::builder().method(self.method.clone()).uri(&self.path);
        r = r.header(hyper::header::HOST, self.host.clone());
        for (k, v) in &self.headers {
            r = r.header(k, v);
        }
        Ok(r.body(Full::new(self.body.clone()))?)
    }
}

struct Shared {
    issued: AtomicU64,
    warmup: u64,
    total: u64,
    deadline: Instant,
    measure_start: std::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    /// Until the response's head arrived: time to first byte.
    first_byte_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    bytes: u64,
    last_done: Option<Instant>,
}

fn loopback_addr(url: &url::Url) -> anyhow::Result<SocketAddr> {
    if url.scheme() != "http" {
        bail!("only http:// URLs (the load goes to loopback servers, without TLS)");
    }
    let host = url.host_str().context("the URL has no host")?;
    let port = url.port_or_known_default().context("the URL has no port")?;
    let addr = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()?
        .next()
        .context("the host does not resolve")?;
    if !matches!(addr.ip(), IpAddr::V4(v4) if v4.is_loopback()) && !addr.ip().is_loopback() {
        bail!("{host} is not a loopback address: tern-bench only loads servers on this machine");
    }
    Ok(addr)
}

pub fn run(args: LoadArgs) -> anyhow::Result<(serde_json::Value, bool)> {
    let url = url::Url::parse(&args.url).context("--url")?;
    let addr = loopback_addr(&url)?;
    let body = match &args.body {
        Some(b) if b.starts_with('@') => {
            std::fs::read(&b[1..]).with_context(|| format!("reading {}", &b[1..]))?
        }
        Some(b) => b.clone().into_bytes(),
        None => Vec::new(),
    };
    let mut lines = args.headers.clone();
    if let Some(path) = &args.header_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
    }
    let mut headers = Vec::new();
    for h in &lines {
        // The line may hold a token: never echo it.
        let (k, v) = h.split_once(':').context("a header has no ':' (it must be \"Name: value\")")?;
        headers.push((HeaderName::from_bytes(k.trim().as_bytes())?, HeaderValue::from_str(v.trim())?));
    }
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let template = Arc::new(Template {
        method: hyper::Method::from_bytes(args.method.as_bytes())?,
        path,
        host: HeaderValue::from_str(&format!("{}:{}", url.host_str().unwrap_or("127.0.0.1"), addr.port()))?,
        headers,
        body: Bytes::from(body),
    });
    if args.connections == 0 || args.requests == 0 {
        bail!("--connections and --requests must be at least 1");
    }
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        warmup: args.warmup,
        total: args.warmup + args.requests,
        deadline: Instant::now() + Duration::from_secs_f64(args.max_seconds.max(0.1)),
        measure_start: std::sync::Mutex::new(None),
    });
    if args.warmup == 0 {
        *shared.measure_start.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(Instant::now());
    }
    let cpu_before = own_cpu_seconds();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let all: Vec<Stats> = runtime.block_on(async {
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| tokio::spawn(connection(addr, template.clone(), shared.clone())))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            if let Ok(s) = t.await {
                all.push(s);
            }
        }
        all
    });
    let client_cpu = own_cpu_seconds() - cpu_before;
    let start = shared.measure_start.lock().ok().and_then(|s| *s);
    let mut latencies: Vec<u64> = Vec::new();
    let mut first_bytes: Vec<u64> = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let (mut errors, mut bytes, mut last) = (0u64, 0u64, None::<Instant>);
    for s in all {
        latencies.extend(s.latencies_us);
        first_bytes.extend(s.first_byte_us);
        for (k, v) in s.statuses {
            *statuses.entry(k).or_default() += v;
        }
        errors += s.errors;
        bytes += s.bytes;
        last = last.max(s.last_done);
    }
    latencies.sort_unstable();
    first_bytes.sort_unstable();
    let seconds = match (start, last) {
        (Some(s), Some(l)) if l > s => (l - s).as_secs_f64(),
        _ => 0.0,
    };
    let ok = statuses.get(&args.expect).copied().unwrap_or(0);
    let measured: u64 = statuses.values().sum();
    let unexpected = measured - ok;
    let report = json!({
        "label": args.label,
        "url": args.url,
        "method": args.method,
        "connections": args.connections,
        "client_threads": 1,
        "requests": measured,
        "ok": ok,
        "unexpected_status": unexpected,
        "errors": errors,
        "statuses": statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "seconds": seconds,
        "rps": if seconds > 0.0 { ok as f64 / seconds } else { 0.0 },
        "bytes_per_response": bytes.checked_div(measured).unwrap_or(0),
        "latency_ms": crate::percentiles(&latencies),
        // Until the response's head: what a browser waits before it can start rendering.
        "first_byte_ms": crate::percentiles(&first_bytes),
        "complete": measured >= args.requests,
        // CPU the client used (warm-up included), for the share of the machine it took.
        "client_cpu_seconds": client_cpu,
    });
    let good = errors == 0 && unexpected == 0 && ok > 0;
    Ok((report, good))
}

async fn connection(addr: SocketAddr, template: Arc<Template>, shared: Arc<Shared>) -> Stats {
    let mut stats = Stats::default();
    let mut failures = 0u32;
    'connect: loop {
        if Instant::now() >= shared.deadline || shared.issued.load(Ordering::Relaxed) >= shared.total {
            return stats;
        }
        let stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(_) => {
                stats.errors += 1;
                failures += 1;
                if failures > 50 {
                    return stats;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
            stats.errors += 1;
            continue;
        };
        tokio::spawn(conn);
        loop {
            // A server may close a keep-alive connection after N requests (nginx's
            // keepalive_requests): reconnect before taking the next request, as clients do.
            if sender.ready().await.is_err() {
                continue 'connect;
            }
            let i = shared.issued.fetch_add(1, Ordering::Relaxed);
            if i >= shared.total || Instant::now() >= shared.deadline {
                return stats;
            }
            if i == shared.warmup
                && let Ok(mut s) = shared.measure_start.lock()
            {
                *s = Some(Instant::now());
            }
            let Ok(request) = template.request() else {
                stats.errors += 1;
                return stats;
            };
            let t0 = Instant::now();
            let response = match sender.send_request(request).await {
                Ok(r) => r,
                Err(_) => {
                    stats.errors += 1;
                    continue 'connect;
                }
            };
            let head = Instant::now();
            let status = response.status().as_u16();
            let body = match response.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    stats.errors += 1;
                    continue 'connect;
                }
            };
            let done = Instant::now();
            if i >= shared.warmup {
                stats.latencies_us.push((done - t0).as_micros() as u64);
                stats.first_byte_us.push((head - t0).as_micros() as u64);
                *stats.statuses.entry(status).or_default() += 1;
                stats.bytes += body.len() as u64;
                stats.last_done = Some(done);
            }
        }
    }
}

/// CPU time this process has used, seconds (user + system, all threads), from /proc.
pub(crate) fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / CLOCK_TICKS
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on.
const CLOCK_TICKS: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::loopback_addr;

    fn addr(url: &str) -> Result<std::net::SocketAddr, String> {
        loopback_addr(&url::Url::parse(url).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    }

    #[test]
    fn load_goes_only_to_loopback_over_http() {
        assert_eq!(addr("http://127.0.0.1:8080/x").unwrap().port(), 8080);
        assert!(addr("http://[::1]:9/").unwrap().ip().is_loopback());
        assert!(addr("http://10.1.2.3:80/").unwrap_err().contains("not a loopback address"));
        assert!(addr("https://127.0.0.1:8443/").unwrap_err().contains("only http://"));
    }

    #[test]
    fn own_cpu_time_is_read_from_proc() {
        // Spin until /proc shows 30 ms more CPU (0 forever would mean the parse is wrong).
        let before = super::own_cpu_seconds();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while super::own_cpu_seconds() - before < 0.03 && start.elapsed() < std::time::Duration::from_secs(10)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        assert!(
            super::own_cpu_seconds() - before >= 0.03,
            "no CPU time seen after {:?} ({x})",
            start.elapsed()
        );
    }
}
