//! A broker's life with the controller (SPEC §5): register, heartbeat every
//! `broker.heartbeat.interval.ms` (re-registering after STALE_BROKER_EPOCH), and pull metadata
//! records with a long poll, applying them as they come (become leader / follower, (re)start
//! fetchers; a fetcher stops by itself once its partition no longer follows that leader in that
//! epoch). It also runs the leader's ISR shrink checks (`replication.rs`) and the group
//! coordinator's timer and persister (`group_coordinator/coordinator.rs`). Every call goes to the
//! active controller through the broker's
//! [`ControllerLink`](crate::controller_link::ControllerLink), which follows it across
//! failovers, and through the connection layer, so a partitioned broker really loses it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::*;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::replication::{self, Fetchers};

const BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between registration attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(1000);

/// Starts the registration/heartbeat loop, the metadata poller, the ISR checks and the group
/// coordinator's timer and persister.
pub fn spawn(broker: Arc<Broker>, fetchers: Arc<Fetchers>) -> Vec<JoinHandle<()>> {
    // The heartbeat loop announces each registration's broker epoch to the metadata poller.
    let (registered, registration) = tokio::sync::watch::channel(-1i64);
    let mut tasks = vec![
        tokio::spawn(heartbeats(broker.clone(), registered)),
        tokio::spawn(metadata_poller(broker.clone(), fetchers, registration)),
        tokio::spawn(replication::run_isr_checks(broker.clone())),
    ];
    tasks.extend(crate::group_coordinator::coordinator::spawn(broker));
    tasks
}

async fn register(broker: &Broker) -> i64 {
    let (host, port) = broker
        .advertised
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse::<i32>().unwrap_or(0)))
        .unwrap_or_default();
    let incarnation = format!("{}-{:x}", broker.config.node_id, broker.env.now_ms());
    let req = RegisterBrokerRequest {
        node_id: broker.config.node_id,
        incarnation_id: incarnation,
        host,
        port,
        rack: broker.config.rack.clone().unwrap_or_default(),
    };
    let link = &broker.controller_link;
    let mut pause = BACKOFF;
    let mut last_complaint = String::new();
    loop {
        let r = link
            .call("RegisterBroker", link.request_timeout(), |mut c| {
                let req = req.clone();
                async move { c.register_broker(req).await }
            })
            .await;
        let complaint = match r {
            Ok(r) if r.error_code == 0 => {
                tracing::info!(
                    node_id = broker.config.node_id,
                    broker_epoch = r.broker_epoch,
                    controller = link.current_id(),
                    "registered with the controller"
                );
                return r.broker_epoch;
            }
            Ok(r) => format!("refused: {}", ErrorCode::from_wire(r.error_code)),
            Err(e) => e.to_string(),
        };
        // One line per kind of failure, not one per attempt.
        if complaint != last_complaint {
            tracing::warn!(retry_in = ?pause, "registration with the controller failed: {complaint}");
            last_complaint = complaint;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_BACKOFF);
    }
}

async fn heartbeats(broker: Arc<Broker>, registered: tokio::sync::watch::Sender<i64>) {
    let interval = Duration::from_millis(broker.config.broker_heartbeat_interval_ms);
    let mut applied = broker.subscribe_metadata();
    loop {
        let epoch = register(&broker).await;
        broker.broker_epoch.store(epoch, Ordering::Release);
        registered.send_replace(epoch);
        loop {
            let req = BrokerHeartbeatRequest {
                node_id: broker.config.node_id,
                broker_epoch: epoch,
                metadata_offset: broker.applied_offset() - 1,
                want_fence: false,
                want_shutdown: false,
            };
            let link = &broker.controller_link;
            let stale = match link
                .call(
                    "BrokerHeartbeat",
                    link.request_timeout(),
                    |mut c| async move { c.broker_heartbeat(req).await },
                )
                .await
            {
                Ok(r) => ErrorCode::from_wire(r.error_code) == ErrorCode::StaleBrokerEpoch,
                Err(e) => {
                    tracing::debug!("heartbeat failed: {e}");
                    false
                }
            };
            if stale {
                tracing::warn!("broker epoch {epoch} is stale; registering again");
                break;
            }
            // Heartbeat again after the interval, or as soon as new metadata was applied (so a
            // freshly registered broker is unfenced without waiting a whole interval).
            let _ = tokio::time::timeout(interval, applied.changed()).await;
        }
    }
}

async fn metadata_poller(
    broker: Arc<Broker>,
    fetchers: Arc<Fetchers>,
    mut registration: tokio::sync::watch::Receiver<i64>,
) {
    let link = &broker.controller_link;
    // The long poll must end well inside one request timeout, or a healthy but quiet
    // controller would look dead to the link.
    let wait = (link.request_timeout() / 2).min(Duration::from_millis(1000));
    // Partitions follow the metadata only from this incarnation's registration on (see
    // `Broker::apply_metadata`), so the first fetch waits for it: it then returns everything up
    // to the registration record at least, and the roles follow at once.
    if registration.wait_for(|epoch| *epoch >= 0).await.is_err() {
        return; // the heartbeat loop is gone: so is this broker
    }
    loop {
        let req = FetchMetadataRequest {
            node_id: broker.config.node_id,
            from_offset: broker.applied_offset(),
            max_records: 10_000,
            max_wait_ms: i32::try_from(wait.as_millis()).unwrap_or(1000),
        };
        let resp = match link
            .call(
                "FetchMetadata",
                link.request_timeout(),
                |mut c| async move { c.fetch_metadata(req).await },
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("metadata fetch failed: {e}");
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        if resp.records.is_empty() {
            continue;
        }
        let b = broker.clone();
        let applied = tokio::task::spawn_blocking(move || b.apply_metadata(&resp.records)).await;
        match applied {
            Ok(Ok(to_follow)) => {
                for (part, leader, epoch) in to_follow {
                    fetchers.start(&broker, part, leader, epoch);
                }
            }
            Ok(Err(e)) => {
                tracing::error!("applying metadata failed: {e}");
                tokio::time::sleep(BACKOFF).await;
            }
            Err(e) => tracing::error!("metadata task failed: {e}"),
        }
    }
}
