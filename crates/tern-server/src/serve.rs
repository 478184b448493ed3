//! Running the router on a bound listener, with or without TLS, until shutdown.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;
use rustls::ServerConfig;

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener could not be handed to the runtime.
    #[error("cannot use the listening socket")]
    Listener(#[source] std::io::Error),
    /// Accepting or serving failed.
    #[error("the server stopped")]
    Io(#[source] std::io::Error),
}

/// Connection limits that protect a public endpoint from slow or idle clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// A client must send its request headers within this time (slowloris).
    pub header_read_timeout: Duration,
    /// Open connections get this long to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self { header_read_timeout: Duration::from_secs(10), shutdown_grace: Duration::from_secs(10) }
    }
}

/// Serve `router` on `listener` (already bound, so the caller knows the port) until `shutdown`
/// resolves; then stop accepting and give open connections `options.shutdown_grace` to finish.
/// TLS handshakes time out after 10 s (axum-server's default).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    listener.set_nonblocking(true).map_err(ServeError::Listener)?;
    let handle = Handle::new();
    let stopper = handle.clone();
    let grace = options.shutdown_grace;
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(grace));
    });
    let service = router.into_make_service();
    let mut server = axum_server::from_tcp(listener).map_err(ServeError::Listener)?.handle(handle);
    server.http_builder().http1().timer(TokioTimer::new()).header_read_timeout(options.header_read_timeout);
    match tls {
        None => server.serve(service).await.map_err(ServeError::Io),
        Some(config) => server
            .acceptor(RustlsAcceptor::new(RustlsConfig::from_config(config)))
            .serve(service)
            .await
            .map_err(ServeError::Io),
    }
}
