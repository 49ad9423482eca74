//! Network faults for the embedded cluster: one shared [`Network`] model (which links are cut,
//! which endpoints are slow) and a [`FaultyDialer`] per endpoint that applies it to every
//! connection that endpoint opens.
//!
//! Every Brook connection (client → broker, follower → leader, broker → controller) is dialed
//! through a [`Dialer`], so faults injected here hit exactly the paths Brook really uses. The
//! dialing side is the only one that needs wrapping: a cut or slow link is visible to the server
//! as the client's connection failing or answering late.
//!
//! Semantics:
//! - a dial across a cut link fails at once with `ConnectionRefused`;
//! - a connection that exists when its link is cut fails on its next read or write, and a read
//!   already waiting for bytes is woken to fail (the fault state is published on a `watch`
//!   channel, as `KillableIo` in brook-broker does for `kill`). Healing does not revive it: the
//!   owner reconnects, as it would after a real connection reset;
//! - a slow link delays every byte read on it by the delay (a latency, not a bandwidth cap:
//!   bytes keep being pulled from the socket while earlier ones wait), in order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::net::{BoxStream, DialFuture, Dialer, TcpDialer};

/// One end of a link: a broker (by node id) or a client (by an id the harness hands out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// A broker or controller, by its `node.id` (the same id [`Network::register`] takes).
    Broker(i32),
    /// A client, by an id from [`Network::new_client`].
    Client(u32),
}

impl From<i32> for Endpoint {
    fn from(node: i32) -> Endpoint {
        Endpoint::Broker(node)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Broker(id) => write!(f, "broker {id}"),
            Endpoint::Client(id) => write!(f, "client {id}"),
        }
    }
}

/// What the fault model says about one link right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Link {
    /// No connection can be made or kept across the link: it was cut with
    /// [`Network::partition`], or one of its ends is isolated.
    pub cut: bool,
    /// Added to every read on the link.
    pub delay: Duration,
}

#[derive(Debug, Default)]
struct Faults {
    isolated: HashSet<Endpoint>,
    /// Cut links, each stored once as (smaller, larger) so that a cut is symmetric.
    cut: HashSet<(Endpoint, Endpoint)>,
    slow: HashMap<Endpoint, Duration>,
}

fn pair(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Faults {
    /// `to` is `None` for an address no broker registered: only faults of `from` apply to it.
    fn link(&self, from: Endpoint, to: Option<Endpoint>) -> Link {
        let cut = self.isolated.contains(&from)
            || to.is_some_and(|to| {
                self.isolated.contains(&to) || self.cut.contains(&pair(from, to))
            });
        let slow = |e: &Endpoint| self.slow.get(e).copied().unwrap_or_default();
        let delay = slow(&from).max(to.as_ref().map(slow).unwrap_or_default());
        Link { cut, delay }
    }
}

/// The shared fault model of one embedded cluster.
#[derive(Debug)]
pub struct Network {
    faults: Mutex<Faults>,
    addrs: Mutex<HashMap<SocketAddr, i32>>,
    /// Bumped on every fault change; open connections watch it to re-check their link.
    generation: watch::Sender<u64>,
    next_client: AtomicU32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked (every update is one insert
    // or remove), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Network {
    /// A network with no faults and no registered brokers, shared (`Arc`) because every
    /// [`FaultyDialer`] it hands out keeps a reference to it.
    pub fn new() -> Arc<Network> {
        Arc::new(Network {
            faults: Mutex::default(),
            addrs: Mutex::default(),
            generation: watch::Sender::new(0),
            next_client: AtomicU32::new(1),
        })
    }

    /// Records that `addr` is where broker `node` listens, so that dials to it know their
    /// destination. Registering again (a restart on a new port) just adds the new address.
    pub fn register(&self, node: i32, addr: SocketAddr) {
        lock(&self.addrs).insert(addr, node);
    }

    /// The broker listening at `addr` (`host:port`), if one registered it.
    pub fn resolve(&self, addr: &str) -> Option<Endpoint> {
        let addr = parse_addr(addr)?;
        lock(&self.addrs).get(&addr).copied().map(Endpoint::Broker)
    }

    /// A fresh client endpoint id (1, 2, …), for giving each client its own links.
    pub fn new_client(&self) -> Endpoint {
        Endpoint::Client(self.next_client.fetch_add(1, Ordering::Relaxed))
    }

    /// The state of the link between `a` and `b` (symmetric).
    pub fn link(&self, a: Endpoint, b: Endpoint) -> Link {
        lock(&self.faults).link(a, Some(b))
    }

    fn link_to(&self, from: Endpoint, to: Option<Endpoint>) -> Link {
        lock(&self.faults).link(from, to)
    }

    /// Cuts every link to and from `node`: brokers, the controller and clients alike.
    pub fn isolate(&self, node: impl Into<Endpoint>) {
        let node = node.into();
        self.change(|f| {
            f.isolated.insert(node);
        });
    }

    /// Cuts the link between `a` and `b`, both directions.
    pub fn partition(&self, a: impl Into<Endpoint>, b: impl Into<Endpoint>) {
        let link = pair(a.into(), b.into());
        self.change(|f| {
            f.cut.insert(link);
        });
    }

    /// Restores the link between `a` and `b` (a cut made by `partition`; isolation stays).
    pub fn reconnect(&self, a: impl Into<Endpoint>, b: impl Into<Endpoint>) {
        let link = pair(a.into(), b.into());
        self.change(|f| {
            f.cut.remove(&link);
        });
    }

    /// Delays every read on every link to or from `node` by `delay` (zero removes it).
    pub fn slow(&self, node: impl Into<Endpoint>, delay: Duration) {
        let node = node.into();
        self.change(|f| {
            if delay.is_zero() {
                f.slow.remove(&node);
            } else {
                f.slow.insert(node, delay);
            }
        });
    }

    /// Removes every fault. Connections already cut stay failed; new dials succeed.
    pub fn heal(&self) {
        self.change(|f| *f = Faults::default());
    }

    fn change(&self, update: impl FnOnce(&mut Faults)) {
        update(&mut lock(&self.faults));
        // `send_modify` notifies even when nobody is subscribed (unlike `send`).
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// The dialer endpoint `from` uses: plain TCP subject to this network's faults.
    pub fn dialer(self: &Arc<Self>, from: Endpoint) -> Arc<dyn Dialer> {
        self.dialer_over(from, Arc::new(TcpDialer))
    }

    /// Like [`Network::dialer`], over another dialer instead of plain TCP.
    pub fn dialer_over(
        self: &Arc<Self>,
        from: Endpoint,
        inner: Arc<dyn Dialer>,
    ) -> Arc<dyn Dialer> {
        Arc::new(FaultyDialer {
            network: self.clone(),
            from,
            inner,
        })
    }
}

/// `host:port` to a socket address; `localhost` counts as 127.0.0.1 (what brokers bind in tests).
fn parse_addr(addr: &str) -> Option<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Some(a);
    }
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (host == "localhost").then_some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

/// Dials on behalf of one endpoint, refusing cut links and wrapping connections so that later
/// faults reach them.
#[derive(Debug)]
pub struct FaultyDialer {
    network: Arc<Network>,
    from: Endpoint,
    inner: Arc<dyn Dialer>,
}

fn refused(from: Endpoint, to: Option<Endpoint>, addr: &str) -> io::Error {
    let to = to.map_or_else(|| addr.to_string(), |t| format!("{t} ({addr})"));
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("link from {from} to {to} is cut (injected fault)"),
    )
}

impl Dialer for FaultyDialer {
    fn dial(&self, addr: &str) -> DialFuture {
        let network = self.network.clone();
        let inner = self.inner.clone();
        let from = self.from;
        let addr = addr.to_string();
        Box::pin(async move {
            let to = network.resolve(&addr);
            // Subscribe before checking: a fault injected after the check but before the
            // stream is wrapped is then still seen by the stream.
            let changes = network.generation.subscribe();
            if network.link_to(from, to).cut {
                return Err(refused(from, to, &addr));
            }
            let stream = inner.dial(&addr).await?;
            let link = network.link_to(from, to);
            if link.cut {
                // Cut while connecting.
                return Err(refused(from, to, &addr));
            }
            Ok(Box::new(FaultyStream::new(stream, network, from, to, link, changes)) as BoxStream)
        })
    }
}

type ChangeFuture = Pin<Box<dyn Future<Output = watch::Receiver<u64>> + Send>>;

/// Resolves when the fault generation changes; re-armed after each change.
struct ChangeWatch(ChangeFuture);

impl ChangeWatch {
    fn new(rx: watch::Receiver<u64>) -> ChangeWatch {
        ChangeWatch(Self::arm(rx))
    }

    fn arm(mut rx: watch::Receiver<u64>) -> ChangeFuture {
        Box::pin(async move {
            if rx.changed().await.is_err() {
                // The network is gone (cannot happen while a stream holds it); never fire.
                std::future::pending::<()>().await;
            }
            rx
        })
    }

    /// True if the faults changed since the last call; registers `cx` for the next change.
    fn poll_changed(&mut self, cx: &mut Context<'_>) -> bool {
        let mut changed = false;
        while let Poll::Ready(rx) = self.0.as_mut().poll(cx) {
            self.0 = Self::arm(rx);
            changed = true;
        }
        changed
    }
}

/// What was read from the socket, waiting out the link's delay.
enum Arrival {
    Data(Bytes),
    Eof,
    Error(io::Error),
}

/// Most bytes pulled ahead from the socket while they wait out a delay (bounds memory; the
/// socket's own buffers take the rest).
const MAX_QUEUED: usize = 4 << 20;
const READ_CHUNK: usize = 16 * 1024;

/// A connection subject to the network's faults (see the module docs).
pub struct FaultyStream {
    inner: BoxStream,
    network: Arc<Network>,
    from: Endpoint,
    to: Option<Endpoint>,
    link: Link,
    dead: bool,
    // Separate watches for the read and write sides: each remembers one waker, and the two
    // sides may be polled by different tasks.
    read_watch: ChangeWatch,
    write_watch: ChangeWatch,
    queue: VecDeque<(Instant, Arrival)>,
    queued_bytes: usize,
    /// EOF or an error was read: stop pulling from the socket until it is delivered.
    ended: bool,
    timer: Option<Pin<Box<Sleep>>>,
}

impl fmt::Debug for FaultyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStream")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("link", &self.link)
            .field("dead", &self.dead)
            .field("queued_bytes", &self.queued_bytes)
            .finish_non_exhaustive()
    }
}

impl FaultyStream {
    fn new(
        inner: BoxStream,
        network: Arc<Network>,
        from: Endpoint,
        to: Option<Endpoint>,
        link: Link,
        changes: watch::Receiver<u64>,
    ) -> FaultyStream {
        FaultyStream {
            inner,
            network,
            from,
            to,
            link,
            dead: false,
            read_watch: ChangeWatch::new(changes.clone()),
            write_watch: ChangeWatch::new(changes),
            queue: VecDeque::new(),
            queued_bytes: 0,
            ended: false,
            timer: None,
        }
    }

    fn refresh(&mut self) {
        self.link = self.network.link_to(self.from, self.to);
        if self.link.cut {
            // Permanent, like a reset TCP connection: healing lets the owner reconnect.
            self.dead = true;
        }
    }

    fn cut_error(&self) -> io::Error {
        let to = self
            .to
            .map_or_else(|| "an unregistered address".into(), |t| t.to_string());
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            format!("link from {} to {to} was cut (injected fault)", self.from),
        )
    }

    fn passthrough(&self) -> bool {
        self.link.delay.is_zero() && self.queue.is_empty() && !self.ended
    }

    /// Moves whatever the socket has ready into the queue, stamped with its arrival time, so
    /// that the delay is added to each byte's latency rather than serialising reads.
    fn pull(&mut self, cx: &mut Context<'_>) {
        let mut chunk = [0u8; READ_CHUNK];
        while !self.ended && self.queued_bytes < MAX_QUEUED {
            let mut rb = ReadBuf::new(&mut chunk);
            let arrival = match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return,
                Poll::Ready(Ok(())) if rb.filled().is_empty() => Arrival::Eof,
                Poll::Ready(Ok(())) => Arrival::Data(Bytes::copy_from_slice(rb.filled())),
                Poll::Ready(Err(e)) => Arrival::Error(e),
            };
            match &arrival {
                Arrival::Data(b) => self.queued_bytes += b.len(),
                Arrival::Eof | Arrival::Error(_) => self.ended = true,
            }
            self.queue.push_back((Instant::now(), arrival));
        }
    }

    fn poll_read_delayed(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            self.pull(cx);
            let Some((arrived, _)) = self.queue.front() else {
                // Nothing arrived; `pull` registered the waker with the socket.
                return Poll::Pending;
            };
            // The current delay, not the one at arrival: lifting a fault releases what waits.
            let due = *arrived + self.link.delay;
            if due > Instant::now() {
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if timer.deadline() != due {
                    timer.as_mut().reset(due);
                }
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            return match self.queue.front_mut() {
                Some((_, Arrival::Data(data))) => {
                    let n = data.len().min(buf.remaining());
                    buf.put_slice(&data[..n]);
                    data.advance(n);
                    self.queued_bytes -= n;
                    if data.is_empty() {
                        self.queue.pop_front();
                    }
                    Poll::Ready(Ok(()))
                }
                // Left queued: every later read sees EOF too.
                Some((_, Arrival::Eof)) => Poll::Ready(Ok(())),
                Some((_, Arrival::Error(_))) => {
                    self.ended = false;
                    match self.queue.pop_front() {
                        Some((_, Arrival::Error(e))) => Poll::Ready(Err(e)),
                        _ => continue,
                    }
                }
                None => continue,
            };
        }
    }
}

impl AsyncRead for FaultyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.read_watch.poll_changed(cx) {
            this.refresh();
        }
        if this.dead {
            return Poll::Ready(Err(this.cut_error()));
        }
        if this.passthrough() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        this.poll_read_delayed(cx, buf)
    }
}

impl FaultyStream {
    fn check_write(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.write_watch.poll_changed(cx) {
            self.refresh();
        }
        if self.dead {
            return Err(self.cut_error());
        }
        Ok(())
    }
}

impl AsyncWrite for FaultyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Err(e) = this.check_write(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Err(e) = this.check_write(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Err(e) = this.check_write(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing is always allowed: it is how the owner gives up on a cut connection.
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A TCP echo server on 127.0.0.1:0.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn dial(net: &Arc<Network>, from: Endpoint, addr: SocketAddr) -> io::Result<BoxStream> {
        net.dialer(from).dial(&addr.to_string()).await
    }

    async fn round_trip(s: &mut BoxStream, msg: &[u8]) -> io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).await?;
        Ok(back)
    }

    const C1: Endpoint = Endpoint::Client(1);
    const B1: Endpoint = Endpoint::Broker(1);
    const B2: Endpoint = Endpoint::Broker(2);
    const B3: Endpoint = Endpoint::Broker(3);

    async fn two_brokers() -> (Arc<Network>, SocketAddr, SocketAddr) {
        let net = Network::new();
        let (a1, a2) = (echo_server().await, echo_server().await);
        net.register(1, a1);
        net.register(2, a2);
        (net, a1, a2)
    }

    #[tokio::test]
    async fn dials_across_a_cut_link_are_refused() {
        let (net, a1, a2) = two_brokers().await;
        let mut s = dial(&net, C1, a1).await.unwrap();
        assert_eq!(round_trip(&mut s, b"ping").await.unwrap(), b"ping");
        net.partition(C1, B1);
        let Err(e) = dial(&net, C1, a1).await else {
            panic!("a dial across a cut link succeeded")
        };
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(e.to_string().contains("client 1"), "{e}");
        // Other links are untouched.
        assert!(dial(&net, C1, a2).await.is_ok());
        assert!(dial(&net, B2, a1).await.is_ok());
    }

    #[tokio::test]
    async fn cutting_a_link_fails_its_open_connections_and_wakes_idle_readers() {
        let (net, a1, _) = two_brokers().await;
        let mut s = dial(&net, C1, a1).await.unwrap();
        assert_eq!(round_trip(&mut s, b"hello").await.unwrap(), b"hello");
        // A reader waiting for bytes that will never come.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let r = s.read(&mut buf).await;
            (r, s)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!reader.is_finished());
        net.partition(B1, C1);
        let (r, mut s) = tokio::time::timeout(Duration::from_secs(1), reader)
            .await
            .expect("the idle reader is woken promptly")
            .unwrap();
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        // Writes fail too, and healing does not revive the connection.
        net.heal();
        assert!(s.write_all(b"x").await.is_err());
        assert!(s.read(&mut [0u8; 1]).await.is_err());
    }

    #[tokio::test]
    async fn heal_allows_new_dials() {
        let (net, a1, _) = two_brokers().await;
        net.isolate(1);
        assert!(dial(&net, C1, a1).await.is_err());
        net.heal();
        let mut s = dial(&net, C1, a1).await.unwrap();
        assert_eq!(round_trip(&mut s, b"again").await.unwrap(), b"again");
    }

    #[tokio::test]
    async fn partitions_are_symmetric_and_reconnect_restores_one_link() {
        let (net, a1, a2) = two_brokers().await;
        let a3 = echo_server().await;
        net.register(3, a3);
        net.partition(B1, B2);
        assert!(net.link(B2, B1).cut && net.link(B1, B2).cut);
        assert!(dial(&net, B1, a2).await.is_err());
        assert!(dial(&net, B2, a1).await.is_err());
        assert!(dial(&net, B3, a1).await.is_ok());
        assert!(dial(&net, B1, a3).await.is_ok());
        net.reconnect(B2, B1);
        assert!(dial(&net, B1, a2).await.is_ok());
    }

    #[tokio::test]
    async fn isolating_a_broker_cuts_clients_too() {
        let (net, a1, a2) = two_brokers().await;
        let mut s = dial(&net, C1, a1).await.unwrap();
        round_trip(&mut s, b"up").await.unwrap();
        net.isolate(B1);
        assert!(round_trip(&mut s, b"down").await.is_err());
        assert!(dial(&net, C1, a1).await.is_err());
        assert!(dial(&net, B2, a1).await.is_err());
        // An isolated broker cannot dial out either, but the others still talk.
        assert!(dial(&net, B1, a2).await.is_err());
        assert!(dial(&net, C1, a2).await.is_ok());
        // Clients can be isolated as well.
        net.isolate(Endpoint::Client(9));
        assert!(dial(&net, Endpoint::Client(9), a2).await.is_err());
    }

    #[tokio::test]
    async fn unregistered_addresses_only_see_the_dialers_faults() {
        let net = Network::new();
        let a = echo_server().await;
        assert!(dial(&net, C1, a).await.is_ok());
        net.isolate(C1);
        assert!(dial(&net, C1, a).await.is_err());
    }

    #[tokio::test]
    async fn slow_links_add_at_least_the_delay_and_keep_order() {
        let (net, a1, _) = two_brokers().await;
        let delay = Duration::from_millis(80);
        let mut s = dial(&net, C1, a1).await.unwrap();
        net.slow(B1, delay);
        let started = Instant::now();
        assert_eq!(round_trip(&mut s, b"slow").await.unwrap(), b"slow");
        assert!(started.elapsed() >= delay, "{:?}", started.elapsed());

        // Many writes in flight: each is delayed, none is reordered or lost, and the delay is a
        // latency (the whole burst takes about one delay, not one per read).
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let started = Instant::now();
        let (mut r, mut w) = tokio::io::split(s);
        let expected = payload.clone();
        let writer = tokio::spawn(async move {
            for chunk in expected.chunks(1000) {
                w.write_all(chunk).await.unwrap();
            }
            w
        });
        let mut back = vec![0u8; payload.len()];
        r.read_exact(&mut back).await.unwrap();
        assert_eq!(back, payload);
        let took = started.elapsed();
        assert!(took >= delay, "{took:?}");
        assert!(took < delay * 10, "delay serialised reads: {took:?}");
        let w = writer.await.unwrap();

        // A new connection from a slow broker is slow too; lifting the fault speeds it up.
        let mut s = r.unsplit(w);
        net.slow(B1, Duration::ZERO);
        let started = Instant::now();
        round_trip(&mut s, b"fast").await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        let mut from_b1 = dial(&net, B1, echo_server().await).await.unwrap();
        net.slow(B1, delay);
        let started = Instant::now();
        round_trip(&mut from_b1, b"out").await.unwrap();
        assert!(started.elapsed() >= delay);
    }
}
