//! The Redis peer (`brook bench --peer redis`): the comparable workload against a local
//! `redis-server` in the same run, at equal durability — XADD to a stream, pipelined per
//! connection like Brook's in-flight window, `appendfsync no|everysec|always` standing for the
//! flush policy, and a replica with `WAIT 1` after each XADD standing for acks=all.
//!
//! The RESP client is a few dozen lines over a tokio `TcpStream` rather than the `redis` crate:
//! the peer needs two commands and in-order pipelined replies, and the crate would add a large
//! dependency tree (and its own connection management) for that.
//! When no `redis-server` is on PATH the peer is skipped with a note, never an error.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::matrix::{AckMode, Cell, FlushPolicy};
use super::target::Target;
use super::workload::{histogram, record};
use super::{BenchError, BenchOptions, CellResult, Figures, Percentiles};

/// Commands one connection keeps unanswered.
const PIPELINE: usize = 256;
const INSTALL_HINT: &str = "install with `apt-get install redis-server`";

/// What the peer did.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerReport {
    /// Whether it ran, and its rows.
    pub status: PeerStatus,
}

/// Whether the Redis peer ran.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerStatus {
    /// Not run, and why: no `redis-server` on PATH (with an install hint), or no Brook cell
    /// with a Redis equivalent was measured.
    Skipped(String),
    /// One row per Redis setup whose Brook cell was measured, by record size then setup.
    Ran(Vec<PeerRow>),
}

/// One Redis configuration next to the Brook cell of equal durability, the two measured back
/// to back (this machine's speed drifts within a run; the matrix cell may be a minute old).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRow {
    /// The Redis setup, as the report prints it: `appendfsync no|everysec|always`, or
    /// `appendfsync no + replica, WAIT 1`.
    pub redis_config: String,
    /// The Brook cell of equal durability (acks=1 RF 1 with the matching flush policy, or
    /// acks=all RF 3 flush never for the replica setup).
    pub brook_cell: Cell,
    /// Brook's cell, run again (producers only, like Redis) right before Redis; `None` when
    /// that run failed.
    pub brook: Option<Figures>,
    /// `None` when the Redis run failed (see `error`).
    pub figures: Option<Figures>,
    /// Why the Redis run failed (with the last line of each server's log); `None` when it ran.
    pub error: Option<String>,
}

/// A Redis setup that matches a Brook durability level.
#[derive(Debug, Clone, Copy)]
struct Setup {
    appendfsync: &'static str,
    replica: bool,
    flush: FlushPolicy,
}

const SETUPS: [Setup; 4] = [
    Setup {
        appendfsync: "no",
        replica: false,
        flush: FlushPolicy::Never,
    },
    Setup {
        appendfsync: "everysec",
        replica: false,
        flush: FlushPolicy::Ms10,
    },
    Setup {
        appendfsync: "always",
        replica: false,
        flush: FlushPolicy::EveryMessage,
    },
    Setup {
        appendfsync: "no",
        replica: true,
        flush: FlushPolicy::Never,
    },
];

impl Setup {
    fn name(&self) -> String {
        if self.replica {
            format!("appendfsync {} + replica, WAIT 1", self.appendfsync)
        } else {
            format!("appendfsync {}", self.appendfsync)
        }
    }

    /// The Brook cell of equal durability at `size`.
    fn brook_cell(&self, size: usize) -> Cell {
        if self.replica {
            Cell {
                acks: AckMode::All,
                flush: self.flush,
                rf: 3,
                size,
            }
        } else {
            Cell {
                acks: AckMode::One,
                flush: self.flush,
                rf: 1,
                size,
            }
        }
    }
}

/// The first `redis-server` file found in the directories of `PATH`, if any.
pub fn find_redis_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

/// Runs every Redis setup whose Brook counterpart was measured in `cells`, each right after
/// that Brook cell is run again on `target`.
///
/// Never fails: a missing `redis-server` is [`PeerStatus::Skipped`], and a Redis run that fails
/// is a row with its [`PeerRow::error`].
pub async fn run_peer(opts: &BenchOptions, target: &Target, cells: &[CellResult]) -> PeerReport {
    let Some(binary) = find_redis_server() else {
        return PeerReport {
            status: PeerStatus::Skipped(format!(
                "redis-server not found: {INSTALL_HINT}; skipping the peer"
            )),
        };
    };
    let mut rows = Vec::new();
    for size in Cell::SIZES {
        for setup in SETUPS {
            let brook_cell = setup.brook_cell(size);
            let measured = cells
                .iter()
                .any(|c| c.cell == brook_cell && c.figures().is_some());
            if !measured {
                continue;
            }
            let brook = super::runs::run_cell_without_consumer(opts, target, &brook_cell)
                .await
                .ok();
            let (figures, error) = match run_setup(&binary, opts, setup, size).await {
                Ok(f) => (Some(f), None),
                Err(e) => (None, Some(e.to_string())),
            };
            rows.push(PeerRow {
                redis_config: setup.name(),
                brook_cell,
                brook,
                figures,
                error,
            });
        }
    }
    if rows.is_empty() {
        return PeerReport {
            status: PeerStatus::Skipped(
                "no Brook cell with a Redis equivalent was measured (acks=1 RF1, or acks=all never RF3)"
                    .into(),
            ),
        };
    }
    PeerReport {
        status: PeerStatus::Ran(rows),
    }
}

/// A `redis-server` child on a loopback port, killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| BenchError::Io {
        what: "pick a free port".into(),
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|source| BenchError::Io {
            what: "pick a free port".into(),
            source,
        })?
        .port();
    Ok(port)
}

impl Server {
    /// The last line of the server's log (for error messages).
    fn log_tail(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log"))
            .ok()
            .and_then(|log| log.lines().last().map(str::to_string))
            .unwrap_or_else(|| "no log".into())
    }

    async fn start(
        binary: &Path,
        root: &Path,
        appendfsync: &str,
        primary: Option<u16>,
    ) -> Result<Server, BenchError> {
        let dir = tempfile::Builder::new()
            .prefix("redis-")
            .tempdir_in(root)
            .map_err(|source| BenchError::Io {
                what: format!("create a redis directory in {}", root.display()),
                source,
            })?;
        let port = free_port()?;
        let mut cmd = Command::new(binary);
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", appendfsync, "--protected-mode", "no"])
            // Redis 7 waits 5 s before a diskless full sync by default; the replica is empty.
            .args(["--repl-diskless-sync-delay", "0"])
            // No AOF rewrites: a forked rewrite in a seconds-long run is noise (Brook has no
            // compaction either), and its child could outlive the server into a deleted dir.
            .args(["--auto-aof-rewrite-percentage", "0"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = primary {
            cmd.args(["--replicaof", "127.0.0.1"]).arg(p.to_string());
        }
        let child = cmd.spawn().map_err(|source| BenchError::Io {
            what: format!("start {}", binary.display()),
            source,
        })?;
        let server = Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(mut conn) = Conn::connect(port).await
                && matches!(conn.call(&[b"PING"]).await, Ok(Reply::Simple(_)))
            {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Other(format!(
                    "redis-server on port {port} did not answer PING within 5 s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn run_setup(
    binary: &Path,
    opts: &BenchOptions,
    setup: Setup,
    size: usize,
) -> Result<Figures, BenchError> {
    let primary = Server::start(binary, &opts.data_dir, setup.appendfsync, None).await?;
    let replica = if setup.replica {
        let replica = Server::start(
            binary,
            &opts.data_dir,
            setup.appendfsync,
            Some(primary.port),
        )
        .await?;
        // The replica is in sync once a WAIT for it answers 1.
        let mut conn = Conn::connect(primary.port).await?;
        conn.call(&[b"XADD", b"bench", b"*", b"v", b"warm"]).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !matches!(conn.call(&[b"WAIT", b"1", b"500"]).await?, Reply::Int(n) if n >= 1) {
            if Instant::now() >= deadline {
                return Err(BenchError::Other(
                    "the redis replica did not sync within 10 s".into(),
                ));
            }
        }
        Some(replica)
    } else {
        None
    };
    let figures = load(primary.port, opts, size, setup.replica).await;
    figures.map_err(|e| {
        // Say what the servers said last: a crash or a refused command is in their logs.
        let mut msg = e.to_string();
        for server in std::iter::once(&primary).chain(replica.as_ref()) {
            msg.push_str(&format!("; port {}: {}", server.port, server.log_tail()));
        }
        BenchError::Other(msg)
    })
}

/// P connections, each pipelining XADDs (and WAITs), for warm-up + duration.
async fn load(
    port: u16,
    opts: &BenchOptions,
    size: usize,
    wait: bool,
) -> Result<Figures, BenchError> {
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + opts.warmup;
    let stop_at = measure_from + opts.duration;
    let producers = opts.producers.max(1);
    let interval = opts
        .rate
        .map(|r| Duration::from_secs_f64(producers as f64 / r.max(1e-3)));
    // Aborted when dropped: an interrupted run leaves no connection behind.
    let mut tasks = JoinSet::new();
    for i in 0..producers {
        let conn = Conn::connect(port).await?;
        let offset = interval.map_or(Duration::ZERO, |iv| iv.mul_f64(i as f64 / producers as f64));
        let plan = Plan {
            size,
            wait,
            interval,
            start: start + offset,
            measure_from,
            stop_at,
        };
        tasks.spawn(connection_load(conn, plan));
    }
    let mut hist = histogram();
    let (mut acked, mut errors, mut first_error) = (0u64, 0u64, None);
    while let Some(joined) = tasks.join_next().await {
        let s = joined.map_err(|e| BenchError::Other(format!("redis load task: {e}")))??;
        acked += s.acked;
        errors += s.errors;
        first_error = first_error.or(s.first_error);
        hist.add(&s.hist)
            .map_err(|e| BenchError::Other(e.to_string()))?;
    }
    let secs = opts.duration.as_secs_f64().max(1e-9);
    let rate = acked as f64 / secs;
    Ok(Figures {
        msgs_per_sec: rate,
        mb_per_sec: rate * size as f64 / 1e6,
        produce: Percentiles::of(&hist),
        e2e: None,
        durability: None,
        acked,
        consumed: 0,
        errors,
        first_error,
    })
}

struct Plan {
    size: usize,
    wait: bool,
    interval: Option<Duration>,
    start: Instant,
    measure_from: Instant,
    stop_at: Instant,
}

struct LoadStats {
    acked: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Histogram<u64>,
}

/// One connection: a writer sending commands (at most `PIPELINE` unanswered) and a reader
/// timing the replies in order. With `wait`, each record is XADD + WAIT 1 and counts at the
/// WAIT reply.
async fn connection_load(conn: Conn, plan: Plan) -> Result<LoadStats, BenchError> {
    let (read, write) = conn.stream.into_split();
    // (intended send time, counts as the record's acknowledgement)
    let (tx, mut rx) = mpsc::channel::<(Instant, bool)>(PIPELINE);
    let payload = vec![b'x'; plan.size];
    let (interval, start, stop_at, wait) = (plan.interval, plan.start, plan.stop_at, plan.wait);
    let writer = tokio::spawn(async move {
        let mut w = BufWriter::with_capacity(64 * 1024, write);
        let mut k = 0u64;
        let mut unflushed = 0usize;
        tokio::time::sleep_until(start).await;
        loop {
            let intended = match interval {
                Some(iv) => start + iv.mul_f64(k as f64),
                None => Instant::now(),
            };
            if intended >= stop_at {
                break;
            }
            if intended > Instant::now() {
                w.flush().await?;
                unflushed = 0;
                tokio::time::sleep_until(intended).await;
            }
            let commands: &[(&[&[u8]], bool)] = if wait {
                &[
                    (&[b"XADD", b"bench", b"*", b"v", &payload], false),
                    (&[b"WAIT", b"1", b"1000"], true),
                ]
            } else {
                &[(&[b"XADD", b"bench", b"*", b"v", &payload], true)]
            };
            for (args, counts) in commands {
                let permit = match tx.try_reserve() {
                    Ok(p) => p,
                    Err(_) => {
                        // The window is full: send what is buffered, then wait for room.
                        w.flush().await?;
                        unflushed = 0;
                        match tx.reserve().await {
                            Ok(p) => p,
                            Err(_) => return Ok::<_, std::io::Error>(w.into_inner()),
                        }
                    }
                };
                w.write_all(&encode(args)).await?;
                permit.send((intended, *counts));
                unflushed += 1;
            }
            if unflushed >= 32 {
                w.flush().await?;
                unflushed = 0;
            }
            k += 1;
        }
        w.flush().await?;
        // Handed back, not dropped: dropping the write half sends FIN, and Redis then drops
        // the connection with WAIT replies still owed.
        Ok(w.into_inner())
    });
    let mut stats = LoadStats {
        acked: 0,
        errors: 0,
        first_error: None,
        hist: histogram(),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    while let Some((intended, counts)) = rx.recv().await {
        let reply = read_reply(&mut reader).await?;
        let ok = match &reply {
            Reply::Error(e) => {
                stats.first_error.get_or_insert_with(|| e.clone());
                false
            }
            // WAIT answers how many replicas acknowledged: 0 means not replicated in time.
            Reply::Int(0) if counts && plan.wait => {
                stats
                    .first_error
                    .get_or_insert_with(|| "WAIT 1 1000 answered 0 replicas".into());
                false
            }
            _ => true,
        };
        if !counts {
            if !ok {
                stats.errors += 1;
            }
            continue;
        }
        if !ok {
            stats.errors += 1;
        } else if intended >= plan.measure_from {
            stats.acked += 1;
            record(
                &mut stats.hist,
                Instant::now().saturating_duration_since(intended),
            );
        }
    }
    let write_half = writer
        .await
        .map_err(|e| BenchError::Other(format!("redis writer task: {e}")))?
        .map_err(|source| BenchError::Io {
            what: "write to redis".into(),
            source,
        })?;
    drop(write_half);
    Ok(stats)
}

/// A RESP reply (arrays are read and dropped: the peer sends no command that returns one).
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(usize),
}

/// A RESP command: `*N\r\n` then `$len\r\narg\r\n` per argument.
fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn protocol(what: impl Into<String>) -> BenchError {
    BenchError::Other(format!("redis protocol: {}", what.into()))
}

async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Result<String, BenchError> {
    let mut line = Vec::new();
    let n = r
        .read_until(b'\n', &mut line)
        .await
        .map_err(|source| BenchError::Io {
            what: "read from redis".into(),
            source,
        })?;
    if n == 0 {
        return Err(protocol("connection closed"));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| protocol("reply line is not UTF-8"))
}

async fn read_reply<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Result<Reply, BenchError> {
    let line = read_line(r).await?;
    let (kind, rest) = line
        .split_at_checked(1)
        .ok_or_else(|| protocol("empty reply"))?;
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| protocol(format!("bad number in {line:?}")))
    };
    match kind {
        "+" => Ok(Reply::Simple(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => Ok(Reply::Int(number()?)),
        "$" => {
            let len = number()?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            let len = usize::try_from(len).map_err(|_| protocol("bulk length"))?;
            if len > 512 << 20 {
                return Err(protocol(format!("bulk of {len} bytes")));
            }
            let mut data = vec![0u8; len + 2];
            r.read_exact(&mut data)
                .await
                .map_err(|source| BenchError::Io {
                    what: "read from redis".into(),
                    source,
                })?;
            data.truncate(len);
            Ok(Reply::Bulk(Some(data)))
        }
        "*" => {
            let n = number()?.max(0) as usize;
            for _ in 0..n {
                Box::pin(read_reply(r)).await?;
            }
            Ok(Reply::Array(n))
        }
        _ => Err(protocol(format!("unexpected reply {line:?}"))),
    }
}

/// One connection for set-up calls (one command, one reply).
struct Conn {
    stream: TcpStream,
}

impl Conn {
    async fn connect(port: u16) -> Result<Conn, BenchError> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|source| BenchError::Io {
                what: format!("connect to redis on port {port}"),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        Ok(Conn { stream })
    }

    async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, BenchError> {
        let io = |source| BenchError::Io {
            what: "talk to redis".into(),
            source,
        };
        self.stream.write_all(&encode(args)).await.map_err(io)?;
        let mut reader = BufReader::new(&mut self.stream);
        read_reply(&mut reader).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_encoded_as_resp_arrays() {
        assert_eq!(
            encode(&[b"XADD", b"s", b"*", b"v", b"hi"]),
            b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nv\r\n$2\r\nhi\r\n".to_vec()
        );
    }

    #[tokio::test]
    async fn replies_are_parsed_in_order() -> Result<(), BenchError> {
        let wire: &[u8] =
            b"+PONG\r\n$15\r\n1700000000000-0\r\n:1\r\n-ERR nope\r\n$-1\r\n*2\r\n:1\r\n$1\r\nx\r\n";
        let mut r = BufReader::new(wire);
        assert_eq!(read_reply(&mut r).await?, Reply::Simple("PONG".into()));
        assert_eq!(
            read_reply(&mut r).await?,
            Reply::Bulk(Some(b"1700000000000-0".to_vec()))
        );
        assert_eq!(read_reply(&mut r).await?, Reply::Int(1));
        assert_eq!(read_reply(&mut r).await?, Reply::Error("ERR nope".into()));
        assert_eq!(read_reply(&mut r).await?, Reply::Bulk(None));
        assert_eq!(read_reply(&mut r).await?, Reply::Array(2));
        assert!(
            read_reply(&mut r).await.is_err(),
            "end of stream is an error"
        );
        Ok(())
    }

    #[test]
    fn equal_durability_pairs() {
        let cells: Vec<String> = SETUPS
            .iter()
            .map(|s| format!("{} <-> {}", s.name(), s.brook_cell(100)))
            .collect();
        assert_eq!(
            cells,
            [
                "appendfsync no <-> acks=1 never RF1 100B",
                "appendfsync everysec <-> acks=1 flush.ms=10 RF1 100B",
                "appendfsync always <-> acks=1 flush.messages=1 RF1 100B",
                "appendfsync no + replica, WAIT 1 <-> acks=all never RF3 100B",
            ]
        );
    }
}
