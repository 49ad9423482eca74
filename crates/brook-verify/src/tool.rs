//! What the verifiable producer and consumer share: the stop signal an orchestrator (or Ctrl-C)
//! uses to end a run cleanly, the error type, the writer that turns events into JSON lines, and
//! the reader for Kafka's `--producer.config` / `--consumer.config` properties files.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use brook_client::ClientError;
use tokio::sync::Notify;

use crate::events::Event;

/// Asks a running tool to finish: stop producing (or consuming), report what is outstanding,
/// print `tool_data` / `shutdown_complete` and return. Cheap to clone; all clones share state.
///
/// A flag plus a `Notify` rather than either alone: the flag can be polled from sync code and
/// never misses a stop raised before anyone waited, the `Notify` wakes a task that is sleeping
/// in a throttle or a long poll.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    inner: Arc<StopInner>,
}

#[derive(Debug, Default)]
struct StopInner {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    /// A signal not yet raised.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Raises the signal (idempotent).
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether the signal has been raised.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Resolves once the signal is raised (at once if it already was).
    pub async fn stopped(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag, so a `stop` between the check and the await
            // still wakes us.
            notified.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

/// Why a tool run ended early.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The client failed in a way the tool cannot ride out (bad config, unknown topic, …);
    /// the message starts with the Kafka error name.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Writing events (or reading a properties file) failed; the cause is the source, so
    /// `{:#}` chains print it once.
    #[error("IO_ERROR")]
    Io(#[from] std::io::Error),
    /// A properties file line that is not `key=value`.
    #[error("INVALID_CONFIG: {path}:{line}: expected key=value")]
    Properties {
        /// The properties file.
        path: String,
        /// The 1-based number of the bad line.
        line: usize,
    },
}

impl ToolError {
    /// The Kafka-style error name, for one-line reports.
    pub fn name(&self) -> &'static str {
        match self {
            ToolError::Client(e) => e.name(),
            ToolError::Io(_) => "IO_ERROR",
            ToolError::Properties { .. } => "INVALID_CONFIG",
        }
    }
}

/// Writes events as JSON lines. Flushing is left to `flush` so that a burst of acknowledgements
/// costs one write system call, not one per event, when `W` is buffered.
pub(crate) struct EventWriter<'a, W: Write> {
    out: &'a mut W,
}

impl<'a, W: Write> EventWriter<'a, W> {
    pub(crate) fn new(out: &'a mut W) -> Self {
        EventWriter { out }
    }

    pub(crate) fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        let line = event.to_line();
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }

    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Parses a Java-style properties file of `key=value` (or `key: value`) lines, as Kafka's
/// `--producer.config` / `--consumer.config` take; `#` and `!` start comment lines.
pub fn load_properties(path: &Path) -> Result<Vec<(String, String)>, ToolError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    parse_properties(&text).map_err(|line| ToolError::Properties {
        path: path.display().to_string(),
        line,
    })
}

/// Parses properties text; `Err(n)` names the first bad line (1-based).
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, usize> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).ok_or(i + 1)?;
        let (key, value) = (line[..split].trim(), line[split + 1..].trim());
        if key.is_empty() {
            return Err(i + 1);
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_like_java() {
        let text = "# comment\n! also\n\nretries = 5\nacks:all\nclient.id=a=b\n";
        let p = parse_properties(text).unwrap();
        assert_eq!(
            p,
            vec![
                ("retries".to_string(), "5".to_string()),
                ("acks".to_string(), "all".to_string()),
                ("client.id".to_string(), "a=b".to_string()),
            ]
        );
        assert_eq!(parse_properties("ok=1\nnonsense\n"), Err(2));
    }

    #[tokio::test]
    async fn stop_signal_wakes_waiters_and_remembers() {
        let s = StopSignal::new();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.stopped().await }
        });
        tokio::task::yield_now().await;
        s.stop();
        waiter.await.unwrap();
        // Raised before anyone waits: resolves at once.
        s.stopped().await;
        assert!(s.is_stopped());
    }
}
