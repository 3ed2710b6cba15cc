//! The accept loop: TLS (rustls) or plain HTTP, HTTP/1.1 and HTTP/2, graceful shutdown.
//!
//! A failed TLS handshake (a plain-HTTP client on the TLS port, a scanner) closes that
//! connection quietly; nothing else is affected. Each request carries the peer address as a
//! [`ClientAddr`] extension for login back-off.
//!
//! Slow or greedy clients cannot starve others: request headers must arrive within
//! [`Limits::header_read_timeout`], a connection silent for [`Limits::idle_timeout`] is closed,
//! and one address holds at most [`Limits::max_per_client`] connections (more are closed at
//! accept).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::idle::Idle;

/// The address of the client that sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long open connections get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What one connection and one client may take (the config's `http:` section).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's headers (HTTP/1; also bounds an idle keep-alive wait).
    pub header_read_timeout: Duration,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Connections one address may hold at once; 0 means no cap.
    pub max_per_client: u32,
}

impl Limits {
    /// The `http:` section's limits.
    #[must_use]
    pub fn from_config(http: &crate::config::Http) -> Limits {
        Limits {
            header_read_timeout: http.header_read_timeout.0,
            idle_timeout: http.idle_timeout.0,
            max_per_client: http.max_connections_per_client,
        }
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerClient(Mutex<HashMap<IpAddr, u32>>);

/// One counted connection; uncounted when dropped (the connection ended).
struct Slot(Arc<PerClient>, IpAddr);

impl PerClient {
    fn take(self: &Arc<Self>, addr: IpAddr, max: u32) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(addr).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), addr))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.0.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let per_client = Arc::new(PerClient::default());
    let mut refused_logged: Option<std::time::Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_client.take(peer.ip(), limits.max_per_client) else {
            // Closed at once; logged at most once a minute, as a flood would repeat it.
            if refused_logged.is_none_or(|t| t.elapsed() > Duration::from_mins(1)) {
                refused_logged = Some(std::time::Instant::now());
                tracing::warn!(client = %peer.ip(), max = limits.max_per_client, "connection refused: too many from one address");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = Idle::new(stream, limits.idle_timeout);
        let service = service_for(&router, peer);
        if let Some(acceptor) = &acceptor {
            let acceptor = acceptor.clone();
            let builder = builder.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let _slot = slot;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                        if let Err(e) = watcher.watch(conn.into_owned()).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        } else {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let conn = graceful.watch(conn.into_owned());
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("some connections did not finish within {DRAIN_TIMEOUT:?}");
    }
}

fn service_for(
    router: &Router,
    peer: SocketAddr,
) -> TowerToHyperService<
    impl tower::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static,
> {
    let addr = ClientAddr(peer.ip());
    TowerToHyperService::new(router.clone().map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(addr);
        req
    }))
}
