//! The broker on the network: the `Brook` (`service.rs`) and `Admin` (`admin.rs`, `forward.rs`)
//! gRPC services over a [`Broker`] — plus, on a controller voter, the `Controller` and `Quorum`
//! services — the listener, background housekeeping and tasks (lifecycle, controller ticker,
//! check-quorum), the `/metrics` endpoint when `metrics.listener` is set (`metrics/http.rs`), and
//! clean (`shutdown`) or abrupt (`kill`) stops; both stop the metrics endpoint too.
//!
//! Requests larger than `message.max.bytes` plus framing overhead are refused by the gRPC
//! decoder from the frame header, before the body is buffered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::admin_server::AdminServer;
use brook_proto::v1::brook_server::BrookServer;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

use crate::broker::{Broker, BrokerEnv};
use crate::config::BrokerConfig;
use crate::controller::service::ControllerService;
use crate::error::{BrokerError, Result};
use crate::kafka::KafkaServer;
use crate::lifecycle;
use crate::metrics::http::{MetricsServer, url as metrics_url};
use crate::quorum::network::QuorumService;
use crate::replication::Fetchers;
use brook_proto::v1::controller_server::ControllerServer;
use brook_proto::v1::quorum_server::QuorumServer;

/// Framing overhead allowed on top of `message.max.bytes` for one request.
const REQUEST_OVERHEAD: usize = 64 * 1024;

/// A started broker.
#[derive(Debug)]
pub struct BrokerHandle {
    /// The broker it serves (shared with its services and background tasks).
    pub broker: Arc<Broker>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// Set by `kill` (or dropping the handle): cuts every open connection at once.
    killed: watch::Sender<bool>,
    server: JoinHandle<std::result::Result<(), tonic::transport::Error>>,
    /// The `/metrics` endpoint, when `metrics.listener` is set.
    metrics: Option<MetricsServer>,
    /// The Kafka-protocol listener, when `kafka.listeners` is set.
    kafka: Option<KafkaServer>,
    housekeeping: JoinHandle<()>,
    /// Registration/heartbeats, metadata poller, ISR checks, controller ticker, check-quorum.
    background: Vec<JoinHandle<()>>,
    fetchers: Arc<Fetchers>,
}

impl BrokerHandle {
    /// Binds the listener, opens storage, and serves. Returns once the broker accepts requests.
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle> {
        BrokerHandle::start_with(config, BrokerEnv::default()).await
    }

    /// [`BrokerHandle::start`] with a given disk and network (see [`BrokerEnv`]).
    pub async fn start_with(config: BrokerConfig, env: BrokerEnv) -> Result<BrokerHandle> {
        let listener = TcpListener::bind(config.listener).await.map_err(|e| {
            BrokerError::new(
                ErrorCode::BrokerNotAvailable,
                format!("bind {}: {e}", config.listener),
            )
        })?;
        BrokerHandle::start_on(listener, config, env).await
    }

    /// [`BrokerHandle::start_with`] on a listener bound beforehand (`config.listener` is then
    /// ignored): a cluster whose voters must know each other's ports binds them all first.
    pub async fn start_on(
        listener: TcpListener,
        config: BrokerConfig,
        env: BrokerEnv,
    ) -> Result<BrokerHandle> {
        let addr = listener
            .local_addr()
            .map_err(|e| BrokerError::new(ErrorCode::BrokerNotAvailable, e.to_string()))?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let advertised = format!("{host}:{}", addr.port());
        // Bound before storage is opened, so that a taken port fails the start cleanly (and a
        // restart can retry, as for the main listener: the error starts with "bind").
        let metrics_listener = match config.metrics_listener {
            Some(at) => Some(TcpListener::bind(at).await.map_err(|e| {
                BrokerError::new(
                    ErrorCode::BrokerNotAvailable,
                    format!("bind metrics.listener {at}: {e}"),
                )
            })?),
            None => None,
        };
        let kafka_listener = match config.kafka_listener {
            Some(at) => Some(TcpListener::bind(at).await.map_err(|e| {
                BrokerError::new(
                    ErrorCode::BrokerNotAvailable,
                    format!("bind kafka.listeners {at}: {e}"),
                )
            })?),
            None => None,
        };
        let broker = tokio::task::spawn_blocking(move || Broker::open(config, advertised, env))
            .await
            .map_err(|e| BrokerError::Storage(format!("startup task failed: {e}")))??;
        let metrics = match metrics_listener {
            Some(l) => {
                let server = MetricsServer::serve(l, broker.metrics.clone())
                    .map_err(|e| BrokerError::new(ErrorCode::BrokerNotAvailable, e.to_string()))?;
                tracing::info!(node_id = broker.config.node_id, url = %metrics_url(server.addr()), "metrics listening");
                Some(server)
            }
            None => None,
        };
        let kafka = match kafka_listener {
            Some(l) => {
                let server = KafkaServer::serve(l, broker.config.socket_request_max_bytes)
                    .map_err(|e| BrokerError::new(ErrorCode::BrokerNotAvailable, e.to_string()))?;
                tracing::info!(node_id = broker.config.node_id, addr = %server.addr(), "kafka listener");
                Some(server)
            }
            None => None,
        };
        let controller = broker.start_controller().await?;
        let max = broker.config.message_max_bytes + REQUEST_OVERHEAD;
        let service = Service(broker.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let (killed, kill_rx) = watch::channel(false);
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener)
            .map(move |accepted| accepted.map(|s| KillableIo::new(s, kill_rx.clone())));
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(
                    BrookServer::new(service.clone())
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(usize::MAX),
                )
                .add_service(AdminServer::new(service).max_decoding_message_size(max))
                .add_optional_service(controller.clone().map(|host| {
                    ControllerServer::new(ControllerService(host))
                        .max_encoding_message_size(usize::MAX)
                }))
                .add_optional_service(controller.clone().map(|host| {
                    QuorumServer::new(QuorumService::new(
                        host.raft().clone(),
                        host.voters().fingerprint(),
                    ))
                    .max_decoding_message_size(usize::MAX)
                    .max_encoding_message_size(usize::MAX)
                }))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                }),
        );
        let hk = broker.clone();
        let housekeeping = tokio::spawn(async move {
            let tick = Duration::from_millis(
                hk.config
                    .hw_checkpoint_interval_ms
                    .min(hk.config.retention_check_interval_ms),
            );
            let retention_every =
                (hk.config.retention_check_interval_ms / tick.as_millis().max(1) as u64).max(1);
            let mut n: u64 = 0;
            loop {
                tokio::time::sleep(tick).await;
                n += 1;
                let b = hk.clone();
                let retention = n % retention_every == 0;
                let _ = tokio::task::spawn_blocking(move || b.housekeeping(retention)).await;
            }
        });
        let fetchers = Arc::new(Fetchers::default());
        // A controller-only node (`process.roles=controller`) never registers as a broker, so it
        // hosts no partitions and is not offered to clients.
        let mut background = if broker.config.roles.broker {
            lifecycle::spawn(broker.clone(), fetchers.clone())
        } else {
            Vec::new()
        };
        if let Some(host) = &controller {
            let every =
                Duration::from_millis((broker.config.broker_heartbeat_interval_ms / 2).max(10));
            background.push(host.spawn_ticker(every));
            background.push(host.spawn_check_quorum());
            // A lone voter is its own quorum: be ready when we return (registered, and every
            // partition we host loaded from the metadata we already have). With several voters
            // readiness needs the others, so the caller waits for it (`Cluster` does).
            if host.voters().0.len() == 1 && broker.config.roles.broker {
                let me = broker.config.node_id;
                let mut applied = broker.subscribe_metadata();
                let ready = tokio::time::timeout(Duration::from_secs(10), async {
                    let me_ready = |b: &Broker| {
                        b.image().brokers.get(&me).is_some_and(|m| {
                            !m.fenced && format!("{}:{}", m.host, m.port) == b.advertised
                        })
                    };
                    while !me_ready(&broker) {
                        if applied.changed().await.is_err() {
                            break;
                        }
                    }
                    let end = host.image().next_offset;
                    let _ = applied.wait_for(|o| *o >= end).await;
                });
                let _ = ready.await;
            }
        }
        tracing::info!(node_id = broker.config.node_id, %addr, "broker listening");
        Ok(BrokerHandle {
            broker,
            addr,
            stop: Some(stop),
            killed,
            server,
            metrics,
            kafka,
            housekeeping,
            background,
            fetchers,
        })
    }

    /// The bound address (with the real port when the config said port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `GET /metrics` is served (the real port when `metrics.listener` said port 0);
    /// `None` when `metrics.listener` is empty.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::addr)
    }

    /// Where Kafka clients connect (the real port when `kafka.listeners` said port 0); `None`
    /// when `kafka.listeners` is empty.
    pub fn kafka_addr(&self) -> Option<SocketAddr> {
        self.kafka.as_ref().map(KafkaServer::addr)
    }

    /// Clean stop: stop serving, then flush, checkpoint and mark the shutdown clean.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(m) = &self.metrics {
            m.stop();
        }
        if let Some(k) = &self.kafka {
            k.stop();
        }
        self.housekeeping.abort();
        for t in &self.background {
            t.abort();
        }
        self.fetchers.stop_all();
        let _ = (&mut self.server).await;
        if let Some(host) = self.broker.controller() {
            host.shutdown().await;
        }
        let broker = self.broker.clone();
        tokio::task::spawn_blocking(move || broker.close())
            .await
            .map_err(|e| BrokerError::Storage(format!("shutdown task failed: {e}")))?
    }

    /// Abrupt stop, as `kill -9`: no flush, no checkpoint, no clean-shutdown marker, and every
    /// open connection is cut (not just the listener closed), so no request is answered after it.
    pub fn kill(self) {
        self.abort();
    }

    fn abort(&self) {
        self.killed.send_replace(true);
        // A dead process's Raft node must not go on voting or leading through its outgoing
        // connections. (Outside a runtime, at process exit, there is nothing left to stop.)
        if let (Some(host), Ok(rt)) = (
            self.broker.controller().cloned(),
            tokio::runtime::Handle::try_current(),
        ) {
            rt.spawn(async move { host.shutdown().await });
        }
        self.server.abort();
        if let Some(m) = &self.metrics {
            m.stop();
        }
        if let Some(k) = &self.kafka {
            k.stop();
        }
        self.housekeeping.abort();
        for t in &self.background {
            t.abort();
        }
        self.fetchers.stop_all();
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

/// An accepted connection that `kill` cuts as a dying process would: once killed, every read and
/// write fails, and a connection idly waiting for bytes is woken to fail. (Aborting the server
/// task alone stops only the accept loop: tonic runs each connection in its own task, which
/// would go on serving requests on connections that were already open.)
struct KillableIo {
    inner: tokio::net::TcpStream,
    killed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    dead: bool,
}

impl KillableIo {
    fn new(inner: tokio::net::TcpStream, mut kill: watch::Receiver<bool>) -> KillableIo {
        // Set here: tonic applies `tcp_nodelay` only to listeners it binds itself.
        if let Err(e) = inner.set_nodelay(true) {
            tracing::debug!("set_nodelay on an accepted connection: {e}");
        }
        KillableIo {
            inner,
            // Also completes if the sender is gone (the handle was dropped).
            killed: Box::pin(async move {
                let _ = kill.wait_for(|k| *k).await;
            }),
            dead: false,
        }
    }

    fn is_dead(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        if !self.dead && self.killed.as_mut().poll(cx).is_ready() {
            self.dead = true;
        }
        self.dead
    }
}

fn killed_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the broker was killed",
    )
}

impl tokio::io::AsyncRead for KillableIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.is_dead(cx) {
            return std::task::Poll::Ready(Err(killed_error()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for KillableIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.is_dead(cx) {
            return std::task::Poll::Ready(Err(killed_error()));
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.is_dead(cx) {
            return std::task::Poll::Ready(Err(killed_error()));
        }
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.is_dead(cx) {
            return std::task::Poll::Ready(Err(killed_error()));
        }
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for KillableIo {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

mod admin;
mod forward;
mod service;

use service::Service;
