//! The human-readable form of the replication events (`brook_broker::events`, target
//! `brook::events`): one line per event, `HH:MM:SS.mmm [events] <the event's line>` (UTC), as
//! `brook dev --events` prints them on stdout. A `tracing_subscriber` layer, so tests can capture
//! the same lines into a buffer.

use std::fmt::{self, Write as _};

use brook_cluster::broker::events::TARGET;
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// A layer printing every `brook::events` event at INFO (and only those) to `writer`, one
/// line each, whatever `RUST_LOG` says for other targets.
pub fn layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .event_format(EventLine)
        .with_writer(writer)
        .with_filter(Targets::new().with_target(TARGET, Level::INFO))
}

/// Formats an event as `HH:MM:SS.mmm [events] message`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventLine;

impl<S, N> FormatEvent<S, N> for EventLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let mut message = Message(String::new());
        event.record(&mut message);
        let ms = brook_cluster::log::clock::unix_now_ms().rem_euclid(86_400_000);
        let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
        writeln!(
            w,
            "{h:02}:{m:02}:{s:02}.{:03} [events] {}",
            ms % 1000,
            message.0
        )
    }
}

/// Keeps the `message` field only (the line says everything; `kind` is for structured logs).
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
}
