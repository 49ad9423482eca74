//! The `/metrics` endpoint on `metrics.listener`: HTTP/1 served by hyper, one task per
//! connection, all of them owned by the server's task so that stopping the broker (cleanly or by
//! `kill`) closes the listener and every open scrape connection at once.
//!
//! Answers: `GET /metrics` (or `HEAD`) → 200 with the OpenMetrics text; any other path → 404;
//! another method on `/metrics` → 405 with `Allow: GET, HEAD`. A request head over
//! [`MAX_HEAD_BYTES`] is answered 431 by hyper, a malformed one 400, and a client that sends
//! nothing complete within [`HEAD_TIMEOUT`] is disconnected. None of it affects the broker.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::BrokerMetrics;

/// The largest request head (request line and headers) accepted; larger is 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long a client may take to send a complete request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `/metrics` endpoint. Dropping it (or [`MetricsServer::stop`]) closes the listener
/// and cuts every open connection.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Serves `metrics` on `listener` (bound by the caller, so that a bind failure is reported
    /// before the broker starts).
    pub fn serve(listener: TcpListener, metrics: Arc<BrokerMetrics>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, metrics));
        Ok(MetricsServer { addr, task })
    }

    /// The bound address (the real port when the config said port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving: the listener and every connection close.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The URL a scraper uses for a server bound at `addr`.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/metrics")
}

async fn accept_loop(listener: TcpListener, metrics: Arc<BrokerMetrics>) {
    // Owned here: aborting this task drops the set, which aborts every connection task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let metrics = metrics.clone();
                    connections.spawn(serve_connection(stream, metrics));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!("metrics listener accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, metrics: Arc<BrokerMetrics>) {
    let service = hyper::service::service_fn(move |req| {
        let metrics = metrics.clone();
        async move { Ok::<_, Infallible>(answer(&req, &metrics)) }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!("metrics connection ended: {e}");
    }
}

/// The answer to one request (see the module docs).
fn answer(req: &Request<Incoming>, metrics: &BrokerMetrics) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET\n",
        );
        resp.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    match metrics.encode() {
        Ok(text) => {
            let mut resp = Response::new(Full::new(Bytes::from(text)));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(super::CONTENT_TYPE),
            );
            resp
        }
        Err(e) => {
            tracing::error!("encoding metrics failed: {e}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed\n",
            )
        }
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
