//! A round-robin HTTP/1.1 proxy on loopback for the `scale-out` bench: each request (not each
//! connection) goes to the next replica, so that every request of a push may land on either,
//! bodies streamed both ways and redirects passed through. The proxy of the scale-out tests
//! (`tests/common/replicas.rs`), without the failover those tests need and without axum.
//!
//! It runs on the bench's own runtime, so its CPU time is counted with the clients'.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reqwest::{Body, Client, Url};

/// Replicas behind the proxy, and the counter that picks the next one.
struct Backends {
    urls: Vec<Url>,
    next: AtomicUsize,
}

/// A bound proxy not yet serving: the replicas need its address (`http.public_host`) in their
/// config before it can know theirs.
pub struct Proxy {
    listener: tokio::net::TcpListener,
    /// `127.0.0.1:PORT`.
    pub host: String,
}

impl Proxy {
    /// Binds a free loopback port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn bind() -> anyhow::Result<Proxy> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the proxy")?;
        let host = listener.local_addr()?.to_string();
        Ok(Proxy { listener, host })
    }

    /// Forwards to `backends` in turn until the runtime stops; returns the proxy's URL.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn serve(self, backends: Vec<Url>) -> anyhow::Result<Url> {
        let base = Url::parse(&format!("http://{}/", self.host))?;
        // Redirects are the client's business; one pool of connections to the replicas.
        let client = Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the proxy's client")?;
        let backends = Arc::new(Backends { urls: backends, next: AtomicUsize::new(0) });
        let listener = self.listener;
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (client, backends) = (client.clone(), backends.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| forward(client.clone(), backends.clone(), request));
                    // A client that goes away mid-request is not the proxy's failure to report.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(base)
    }
}

/// Sends `request` to the next backend and streams its answer back; 502 if the backend fails.
async fn forward(
    client: Client,
    backends: Arc<Backends>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, hyper::http::Error> {
    let (parts, body) = request.into_parts();
    let turn = backends.next.fetch_add(1, Ordering::Relaxed) % backends.urls.len().max(1);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Some(url) = backends.urls.get(turn).and_then(|base| base.join(path).ok()) else {
        return hyper::Response::builder().status(502).body(Body::from(Vec::new()));
    };
    let mut outgoing = client.request(parts.method, url);
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            outgoing = outgoing.header(name, value);
        }
    }
    let has_body = parts.headers.contains_key(hyper::header::CONTENT_LENGTH)
        || parts.headers.contains_key(hyper::header::TRANSFER_ENCODING);
    if has_body {
        outgoing = outgoing.body(Body::wrap_stream(http_body_util::BodyDataStream::new(body)));
    }
    let Ok(reply) = outgoing.send().await else {
        return hyper::Response::builder().status(502).body(Body::from(Vec::new()));
    };
    let mut response = hyper::Response::builder().status(reply.status());
    for (name, value) in reply.headers() {
        response = response.header(name, value);
    }
    response.body(Body::wrap_stream(reply.bytes_stream()))
}
