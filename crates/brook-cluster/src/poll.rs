//! How often the harness re-checks what it waits for (a condition on the cluster, a port
//! coming free, a child exiting): pauses that start short and double up to a bound, so that
//! waiting costs little beyond the event.

use std::time::Duration;

/// The first pause.
pub(crate) const POLL_MIN: Duration = Duration::from_millis(1);
/// The longest pause.
pub(crate) const POLL_MAX: Duration = Duration::from_millis(20);

/// The pause after `pause`: twice as long, at most [`POLL_MAX`].
pub(crate) fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(POLL_MAX)
}
