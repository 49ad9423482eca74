//! The Kafka wire protocol front end (issue 14, in progress): a listener on `kafka.listeners`
//! where Kafka's own clients connect, over the same broker the gRPC API serves (one
//! implementation, two front ends). This module owns the connections: it reads length-prefixed
//! frames (refusing one longer than `socket.request.max.bytes` before reading it, `frame.rs`),
//! hands each parsed request to its API's handler, and writes the answers back in request
//! order — one request at a time per connection, as Kafka serves a connection.
//!
//! Implemented so far: ApiVersions (`api_versions.rs`). A request for an API that is not
//! implemented (and so not listed in ApiVersions), an unknown API key or a frame that does not
//! parse closes the connection with one log line, as Kafka does for a request it cannot parse;
//! other connections are unaffected.

pub mod api_versions;
pub mod frame;

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use frame::{FrameError, Request};

/// A running Kafka listener. Dropping it (or [`KafkaServer::stop`]) closes the listener and cuts
/// every open connection.
#[derive(Debug)]
pub struct KafkaServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl KafkaServer {
    /// Serves Kafka clients on `listener` (bound by the caller, so that a bind failure is
    /// reported before the broker starts); frames over `max_request` bytes are refused.
    pub fn serve(listener: TcpListener, max_request: usize) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, max_request));
        Ok(KafkaServer { addr, task })
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

impl Drop for KafkaServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: TcpListener, max_request: usize) {
    // Owned here: aborting this task drops the set, which aborts every connection task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, peer, max_request));
                }
                Err(e) => {
                    tracing::warn!("kafka listener: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Why a connection ends.
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("{api:?} v{version} is not implemented (not listed in ApiVersions)")]
    NotImplemented { api: ApiKey, version: i16 },
}

async fn serve_connection(mut stream: TcpStream, peer: SocketAddr, max_request: usize) {
    match connection_loop(&mut stream, max_request).await {
        Ok(()) => {}
        Err(Closed::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => tracing::info!(%peer, "kafka connection closed: {e}"),
    }
}

async fn connection_loop(stream: &mut TcpStream, max_request: usize) -> Result<(), Closed> {
    loop {
        let mut prefix = [0u8; 4];
        match stream.read_exact(&mut prefix).await {
            Ok(_) => {}
            // The client closed between requests: a normal end.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let len = frame::request_len(prefix, max_request)?;
        let mut body = BytesMut::zeroed(len);
        stream.read_exact(&mut body).await?;
        let request = frame::parse_request(body.freeze())?;
        if let Some(answer) = dispatch(request)? {
            stream.write_all(&answer).await?;
        }
    }
}

/// The response frame for one request (`None`: the API answers nothing, as acks=0 produce).
fn dispatch(request: Request) -> Result<Option<Bytes>, Closed> {
    let Request {
        header,
        api_key,
        body,
    } = request;
    let version = header.request_api_version;
    let correlation = header.correlation_id;
    match api_key {
        ApiKey::ApiVersions => {
            let (v, resp) = api_versions::handle(version, body);
            Ok(Some(frame::encode_response(
                api_key,
                v,
                correlation,
                &resp,
            )?))
        }
        api => Err(Closed::NotImplemented { api, version }),
    }
}
