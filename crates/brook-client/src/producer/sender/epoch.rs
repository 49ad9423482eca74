//! The producer's identity: InitProducerId (a new producer id, or an epoch bump of the current
//! one) with its retry pacing, and the renumbering of unresolved batches after a bump.
//!
//! InitProducerId failures (e.g. COORDINATOR_NOT_AVAILABLE while the controller is away) are
//! retried by the sender loop once `Sender::pid_retry` is due: `retry.backoff.ms` growing to
//! `retry.backoff.max.ms` (`crate::backoff`), one log line per backoff step.

use std::collections::VecDeque;

use brook_proto::ErrorCode;
use brook_proto::v1::InitProducerIdRequest;
use rand::Rng;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Sender, increment_sequence};
use crate::backoff::{Retrier, Step};
use crate::error::ClientError;
use crate::rpc;

/// Records an InitProducerId failure at `now` (jitter drawn as `unit`): `retry` then holds the
/// time of the next attempt, and the step's line is logged unless an earlier one covers it.
fn pid_failed(retry: &mut Retrier, now: Instant, unit: f64, error: &ClientError) -> Step {
    let step = retry.failed_with(now, unit);
    if step.log {
        warn!(error = %error, "InitProducerId failed; retrying in {} ms (attempt {})",
            step.delay_ms(), step.attempt);
    }
    step
}

impl Sender {
    /// Obtains a producer id, or bumps the epoch of the current one (then renumbers). On
    /// failure the next attempt waits for `pid_retry`'s backoff step.
    pub(super) async fn init_producer_id(&mut self) {
        let cfg = &self.shared.config;
        let (pid, epoch) = self.producer.map_or((-1, -1), |(p, e)| (p, i32::from(e)));
        let req = InitProducerIdRequest {
            transaction_timeout_ms: 0,
            producer_id: pid,
            producer_epoch: epoch,
        };
        let mut last = None;
        for addr in self.shared.metadata.candidate_addrs() {
            let result = match rpc::brook(&self.shared.channels, &addr) {
                Ok(mut client) => {
                    rpc::call(cfg.request_timeout, client.init_producer_id(req)).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(resp) if resp.error_code == 0 => {
                    let new_epoch = i16::try_from(resp.producer_epoch).unwrap_or(i16::MAX);
                    info!(
                        producer_id = resp.producer_id,
                        epoch = new_epoch,
                        bump = self.producer.is_some(),
                        "producer id obtained"
                    );
                    self.producer = Some((resp.producer_id, new_epoch));
                    self.pid_retry.succeeded();
                    if self.bump_needed {
                        self.bump_needed = false;
                        self.renumber();
                    }
                    return;
                }
                Ok(resp) => {
                    last = Some(ClientError::kafka(
                        ErrorCode::from_wire(resp.error_code),
                        "InitProducerId",
                    ));
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| ClientError::Transport("no broker to ask".into()));
        pid_failed(
            &mut self.pid_retry,
            Instant::now(),
            rand::rng().random(),
            &e,
        );
    }

    /// After an epoch bump: every unresolved batch gets a new sequence from 0, in order.
    /// After an epoch bump every partition's sequences restart at 0. Batches that were never
    /// written are renumbered and resent; a batch that may already be in the log (an earlier
    /// attempt's outcome is unknown) is failed as unknown instead — resent under the new epoch
    /// the broker could not recognise it as a retry and would store it twice.
    fn renumber(&mut self) {
        let Some((pid, epoch)) = self.producer else {
            return;
        };
        let mut unknown = Vec::new();
        for p in self.parts.values_mut() {
            p.next_seq = 0;
            let mut kept = VecDeque::with_capacity(p.pending.len());
            for mut b in p.pending.drain(..) {
                if b.maybe_written {
                    unknown.push(b);
                    continue;
                }
                let seq = p.next_seq;
                p.next_seq = increment_sequence(seq, b.record_count());
                b.encode(Some((pid, epoch, seq)));
                kept.push_back(b);
            }
            p.pending = kept;
        }
        for b in unknown {
            let n = b.records.len();
            let error = ClientError::kafka(
                ErrorCode::RequestTimedOut,
                format!(
                    "{}: outcome unknown (an earlier attempt may have been written); not resent under a new producer epoch",
                    b.tp
                ),
            );
            warn!(tp = %b.tp, records = n, "failing a batch of unknown outcome instead of resending it under a new epoch");
            self.shared.records_done(n, true);
            b.fail(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::ProducerConfig;

    /// The sender's pacing with the default config, driven the way `Sender::run` drives it: the
    /// loop wakes every 10 ms (linger timers, new records, metadata updates) and calls
    /// InitProducerId only when `pid_retry` is due; every call fails.
    #[test]
    fn init_producer_id_retries_are_spaced_growing_to_the_cap() {
        let config = ProducerConfig::new("a:1");
        let mut retry = Retrier::new(config.backoff());
        let error = ClientError::kafka(ErrorCode::CoordinatorNotAvailable, "InitProducerId");
        let t0 = Instant::now();
        let (mut attempts, mut lines) = (Vec::new(), 0);
        for tick in 0..1000u64 {
            let now = t0 + Duration::from_millis(tick * 10);
            if retry.is_due(now) {
                attempts.push((now - t0).as_millis());
                lines += usize::from(pid_failed(&mut retry, now, 0.5, &error).log);
            }
        }
        // 10 s of an unavailable controller: 100, 200, 400, 800 ms, then one per second —
        // not one attempt (and line) every 100 ms.
        assert_eq!(
            attempts,
            [
                0, 100, 300, 700, 1500, 2500, 3500, 4500, 5500, 6500, 7500, 8500, 9500
            ]
        );
        assert_eq!(lines, attempts.len(), "one line per backoff step");
        retry.succeeded();
        let step = pid_failed(&mut retry, t0, 0.5, &error);
        assert_eq!((step.attempt, step.delay), (1, Duration::from_millis(100)));
    }

    #[test]
    fn init_producer_id_logs_at_most_once_per_cap_interval_at_the_cap() {
        let config = ProducerConfig::new("a:1").retry_backoff_max(Duration::from_millis(400));
        let mut retry = Retrier::new(config.backoff());
        let error = ClientError::Transport("connection refused".into());
        let mut now = Instant::now();
        let mut logged = Vec::new();
        // Lowest jitter: capped waits are 320 ms, shorter than the 400 ms cap interval. The
        // first two steps (80, 160 ms) grow; from the third on the delay is capped.
        for _ in 0..30 {
            let step = pid_failed(&mut retry, now, 0.0, &error);
            if step.log {
                logged.push(now);
            }
            now += step.delay;
        }
        assert!(logged.len() < 30, "some capped steps are not logged");
        let capped = logged.iter().skip(2).collect::<Vec<_>>();
        for pair in capped.windows(2) {
            assert!(*pair[1] - *pair[0] >= Duration::from_millis(400));
        }
    }
}
