//! Running the router on a bound listener, with or without TLS, until shutdown.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
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

/// Serve `router` on `listener` (already bound, so the caller knows the port) until `shutdown`
/// resolves; then stop accepting and give open connections up to 10 s to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    listener.set_nonblocking(true).map_err(ServeError::Listener)?;
    let handle = Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let service = router.into_make_service();
    match tls {
        None => axum_server::from_tcp(listener)
            .map_err(ServeError::Listener)?
            .handle(handle)
            .serve(service)
            .await
            .map_err(ServeError::Io),
        Some(config) => axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(config))
            .map_err(ServeError::Listener)?
            .handle(handle)
            .serve(service)
            .await
            .map_err(ServeError::Io),
    }
}
