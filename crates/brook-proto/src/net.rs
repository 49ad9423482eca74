//! The connection layer every Brook connection goes through: clients to brokers, followers to
//! leaders, brokers to the controller. Connections are made by a [`Dialer`]; the default one is
//! plain TCP, and the embedded cluster swaps in one that can cut, slow or partition links, so that
//! network faults hit exactly the paths Brook really uses.
//!
//! [`Channels`] caches one lazily-connected tonic `Channel` per address; a channel reconnects on
//! its own after a failure (through the dialer again).

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint};

/// A byte stream a dialer hands back.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A dialed connection of any [`Stream`] type, boxed so that dialers can be swapped at run time.
pub type BoxStream = Box<dyn Stream>;
/// What [`Dialer::dial`] returns: a future of the connected stream, or the I/O error that
/// prevented the connection (refused, unreachable, an injected cut).
pub type DialFuture = Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send>>;

/// Opens connections to `host:port` addresses.
pub trait Dialer: Send + Sync + Debug + 'static {
    /// Connects to `addr` (`host:port`). Fails with the connection's I/O error; dialers that
    /// inject faults fail with `ConnectionRefused` across a cut link.
    fn dial(&self, addr: &str) -> DialFuture;
}

/// Plain TCP with Nagle off (small requests must not wait for 40 ms ACK delays).
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpDialer;

impl Dialer for TcpDialer {
    fn dial(&self, addr: &str) -> DialFuture {
        let addr = addr.to_string();
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

/// Largest gRPC message Brook sends or accepts by default (a fetch response of `fetch.max.bytes`
/// plus framing). Servers set their own decode limit from `message.max.bytes`.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 20;

/// One lazily connected channel per address, all dialed through the same [`Dialer`].
#[derive(Debug, Clone)]
pub struct Channels {
    dialer: Arc<dyn Dialer>,
    connect_timeout: Duration,
    cache: Arc<Mutex<HashMap<String, Channel>>>,
}

impl Default for Channels {
    fn default() -> Self {
        Channels::new(Arc::new(TcpDialer))
    }
}

impl Channels {
    /// An empty channel cache whose connections are all dialed through `dialer`, with a 5 s
    /// connect timeout.
    pub fn new(dialer: Arc<dyn Dialer>) -> Channels {
        Channels {
            dialer,
            connect_timeout: Duration::from_secs(5),
            cache: Arc::default(),
        }
    }

    /// The dialer every channel of this cache connects through.
    pub fn dialer(&self) -> Arc<dyn Dialer> {
        self.dialer.clone()
    }

    /// The channel for `addr` (`host:port`), created on first use. Creating one does not connect:
    /// the first request does, and errors surface there.
    pub fn get(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(addr) {
            return Ok(c.clone());
        }
        let dialer = self.dialer.clone();
        let target = addr.to_string();
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .connect_with_connector_lazy(tower::service_fn(move |_| {
                let dial = dialer.dial(&target);
                async move { dial.await.map(TokioIo::new) }
            }));
        cache.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    /// Forgets the channel for `addr` so that the next `get` dials anew.
    pub fn invalidate(&self, addr: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.remove(addr);
    }
}
