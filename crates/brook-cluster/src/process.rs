//! The process backend of [`Cluster`](crate::Cluster): each broker is a `brook serve` child
//! process given the same config keys an in-process broker gets (`--set key=value`), on a port
//! fixed when the cluster starts. The child's stdout is read until its
//! `brook broker N listening on ADDR` line (and drained afterwards; a
//! `brook broker N metrics on http://ADDR/metrics` line before it gives the metrics address); its stderr is appended to
//! `serve.log` in the broker's data dir (a plain file there is ignored by the log dir scan).
//!
//! Stops: SIGKILL (`Child::kill`) for crashes, SIGTERM (via `kill -TERM`, as the crate has no
//! libc binding) for clean shutdowns, which `brook serve` handles by flushing and writing its
//! clean-shutdown marker. A SIGKILLed process's unflushed writes stay in the OS page cache, so a
//! power loss is the `power-loss` fault command instead: the child cuts its files back to their
//! last fsync and exits.
//!
//! Every child runs with `--fault-injection`: it takes the fault commands of
//! [`fault_control`](crate::fault_control) on its stdin and answers each on stdout.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::{ClusterError, Result, io_error};
use crate::fault_control::{FaultCommand, POWER_LOSS_EXIT};
use crate::poll::{POLL_MIN, next_pause};

/// How long a clean shutdown (SIGTERM) may take before the process is SIGKILLed.
const TERM_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of `serve.log` quoted when a process fails to start.
const LOG_TAIL: usize = 20;
/// How long a child may take to answer a fault command (or to exit after `power-loss`).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The address in `brook serve`'s `brook broker N metrics on http://ADDR/metrics` line.
fn metrics_line(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("brook broker ")?;
    let (_, url) = rest.split_once(" metrics on ")?;
    url.strip_prefix("http://")?
        .strip_suffix("/metrics")?
        .parse()
        .ok()
}

/// One running `brook serve` child. Dropping it SIGKILLs and reaps the process.
#[derive(Debug)]
pub(crate) struct BrokerProcess {
    child: Child,
    /// Fault commands go here, one per line.
    stdin: Option<ChildStdin>,
    /// The child's answers (`fault-ok …` / `fault-err …`), forwarded by the stdout drain.
    answers: mpsc::UnboundedReceiver<String>,
    /// Where the child serves `/metrics`, from its `metrics on` line (printed before the
    /// `listening on` line when `metrics.listener` is set).
    pub(crate) metrics_addr: Option<SocketAddr>,
}

/// The log file a broker process writes its stderr to.
pub(crate) fn log_path(dir: &Path) -> PathBuf {
    dir.join("serve.log")
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(log_path(dir)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
}

impl BrokerProcess {
    /// Spawns `binary serve` for broker `id` listening on `addr` and returns once it printed its
    /// `listening on` line (bounded by `timeout`). A process that exits before listening because
    /// the port is still taken is started again for up to `rebind`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn spawn(
        binary: &Path,
        id: i32,
        pairs: &[(String, String)],
        addr: SocketAddr,
        peers: &[(i32, SocketAddr)],
        dir: &Path,
        timeout: Duration,
        rebind: Duration,
    ) -> Result<BrokerProcess> {
        std::fs::create_dir_all(dir).map_err(io_error(format!("create {}", dir.display())))?;
        let deadline = Instant::now() + rebind;
        let mut pause = POLL_MIN;
        loop {
            match Self::spawn_once(binary, id, pairs, addr, peers, dir, timeout).await {
                Ok(p) => return Ok(p),
                Err((e, bind_failed)) => {
                    if !bind_failed || Instant::now() + pause > deadline {
                        return Err(e);
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = next_pause(pause);
        }
    }

    /// One attempt; the error says whether the process failed to bind its port.
    async fn spawn_once(
        binary: &Path,
        id: i32,
        pairs: &[(String, String)],
        addr: SocketAddr,
        peers: &[(i32, SocketAddr)],
        dir: &Path,
        timeout: Duration,
    ) -> std::result::Result<BrokerProcess, (ClusterError, bool)> {
        let what = format!("start `{} serve` for broker {id}", binary.display());
        let fail = |reason: String, bind: bool| {
            (
                ClusterError::Io {
                    what: what.clone(),
                    source: std::io::Error::other(reason),
                },
                bind,
            )
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(dir))
            .map_err(|e| fail(format!("open {}: {e}", log_path(dir).display()), false))?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve");
        for (k, v) in pairs {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        cmd.arg("--set").arg(format!("listeners={addr}"));
        cmd.arg("--fault-injection");
        for (peer, peer_addr) in peers {
            cmd.arg("--fault-peer").arg(format!("{peer}={peer_addr}"));
        }
        let rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
        let mut child = cmd
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| fail(e.to_string(), false))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(fail("the child's stdout was not captured".into(), false));
        };
        let stdin = child.stdin.take();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (answer_tx, answers) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut metrics = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = metrics_line(&line) {
                    metrics = Some(addr);
                } else if line.contains(" listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send((line, metrics));
                } else if line.starts_with("fault-") {
                    let _ = answer_tx.send(line);
                }
                // Keep draining so that the child never blocks on a full pipe.
            }
        });
        // From here on, dropping `process` kills the child.
        let mut process = BrokerProcess {
            child,
            stdin,
            answers,
            metrics_addr: None,
        };
        let (line, metrics) = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(got)) => got,
            Ok(Err(_)) => {
                // Stdout closed without the line: the process exited (or is exiting).
                let status = process.child.wait().map(|s| s.to_string());
                let tail = log_tail(dir);
                let bind = tail.contains("bind") || tail.contains("in use");
                return Err(fail(
                    format!(
                        "exited ({}) before listening; last lines of {}:\n{tail}",
                        status.unwrap_or_else(|e| e.to_string()),
                        log_path(dir).display()
                    ),
                    bind,
                ));
            }
            Err(_) => {
                return Err(fail(
                    format!(
                        "no `listening on` line within {timeout:?}; last lines of {}:\n{}",
                        log_path(dir).display(),
                        log_tail(dir)
                    ),
                    false,
                ));
            }
        };
        let expected = format!("brook broker {id} listening on {addr}");
        if line.trim() != expected {
            return Err(fail(
                format!("printed {line:?}, expected {expected:?}"),
                false,
            ));
        }
        process.metrics_addr = metrics;
        Ok(process)
    }

    /// Sends one fault command and waits for the child's answer.
    pub(crate) async fn command(&mut self, id: i32, cmd: &FaultCommand) -> Result<()> {
        let what = format!("fault `{cmd}` on broker {id}");
        self.send(&what, cmd)?;
        match tokio::time::timeout(COMMAND_TIMEOUT, self.answers.recv()).await {
            Ok(Some(answer)) if answer.starts_with("fault-ok") => Ok(()),
            Ok(Some(answer)) => Err(ClusterError::Io {
                what,
                source: std::io::Error::other(answer),
            }),
            Ok(None) => Err(ClusterError::Io {
                what,
                source: std::io::Error::other("the process exited without answering"),
            }),
            Err(_) => Err(ClusterError::Timeout {
                what,
                timeout: COMMAND_TIMEOUT,
                last: "no answer".into(),
            }),
        }
    }

    fn send(&mut self, what: &str, cmd: &FaultCommand) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| ClusterError::Io {
            what: what.to_string(),
            source: std::io::Error::other("the child's stdin was not captured"),
        })?;
        writeln!(stdin, "{cmd}")
            .and_then(|()| stdin.flush())
            .map_err(io_error(what.to_string()))
    }

    /// A power loss: the child cuts every file back to its last fsync and exits at once. If it
    /// cannot (it does not answer, or answers with an error), it is SIGKILLed and the error
    /// returned: the data it kept in the page cache means this was no power loss.
    pub(crate) async fn power_loss(mut self, id: i32) -> Result<()> {
        let answered = self.command(id, &FaultCommand::PowerLoss).await;
        if let Err(e) = answered {
            self.kill_now();
            return Err(e);
        }
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let mut pause = POLL_MIN;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.code() == Some(POWER_LOSS_EXIT) => return Ok(()),
                Ok(Some(status)) => {
                    return Err(ClusterError::Io {
                        what: format!("power loss of broker {id}"),
                        source: std::io::Error::other(format!("exited with {status}")),
                    });
                }
                Ok(None) if Instant::now() < deadline => {}
                Ok(None) | Err(_) => {
                    // Its files were already cut back; only the exit is missing.
                    self.kill_now();
                    return Ok(());
                }
            }
            tokio::time::sleep(pause).await;
            pause = next_pause(pause);
        }
    }

    /// SIGKILL, then reap.
    pub(crate) fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit (SIGKILL after a bound). A non-zero exit or
    /// a process that had to be killed is an error.
    pub(crate) async fn terminate(mut self, id: i32) -> Result<()> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(io_error(format!("kill -TERM {pid} (broker {id})")))?;
        if !status.success() {
            // The process is already gone; collect how it ended.
            tracing::warn!(node_id = id, "kill -TERM {pid} failed: {status}");
        }
        let deadline = Instant::now() + TERM_TIMEOUT;
        let mut pause = POLL_MIN;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(ClusterError::Io {
                        what: format!("clean shutdown of broker {id} (pid {pid})"),
                        source: std::io::Error::other(format!("exited with {status}")),
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(ClusterError::Io {
                        what: format!("wait for broker {id} (pid {pid})"),
                        source: e,
                    });
                }
            }
            if Instant::now() >= deadline {
                self.kill_now();
                return Err(ClusterError::Timeout {
                    what: format!("clean shutdown of broker {id} (pid {pid}) after SIGTERM"),
                    timeout: TERM_TIMEOUT,
                    last: "still running; killed with SIGKILL".into(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = next_pause(pause);
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        // Once reaped (kill/terminate), `try_wait` reports the status and nothing is signalled.
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.kill_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::metrics_line;

    #[test]
    fn the_metrics_line_gives_the_address() {
        assert_eq!(
            metrics_line("brook broker 2 metrics on http://127.0.0.1:9404/metrics"),
            Some("127.0.0.1:9404".parse().unwrap())
        );
        assert_eq!(
            metrics_line("brook broker 2 listening on 127.0.0.1:9092"),
            None
        );
        assert_eq!(metrics_line("brook broker 2 metrics on nowhere"), None);
    }
}
