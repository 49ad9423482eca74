//! A broker's life with the controller (SPEC §5): register, heartbeat every
//! `broker.heartbeat.interval.ms` (re-registering after STALE_BROKER_EPOCH), and pull metadata
//! records with a long poll, applying them as they come (become leader / follower, start or
//! stop fetchers). All of it goes through the broker's connection layer, so a partitioned broker
//! really loses its controller.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::controller_client::ControllerClient;
use brook_proto::v1::*;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::replication::{self, Fetchers};

const BACKOFF: Duration = Duration::from_millis(50);

fn controller(broker: &Broker) -> Option<ControllerClient<tonic::transport::Channel>> {
    let channel = broker.env.channels.get(&broker.controller_addr).ok()?;
    Some(ControllerClient::new(channel).max_decoding_message_size(usize::MAX))
}

/// Starts the registration/heartbeat loop, the metadata poller and the ISR checks.
pub fn spawn(broker: Arc<Broker>, fetchers: Arc<Fetchers>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(heartbeats(broker.clone())),
        tokio::spawn(metadata_poller(broker.clone(), fetchers)),
        tokio::spawn(replication::run_isr_checks(broker)),
    ]
}

async fn register(broker: &Broker) -> i64 {
    let (host, port) = broker
        .advertised
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.parse::<i32>().unwrap_or(0)))
        .unwrap_or_default();
    let incarnation = format!(
        "{}-{:x}",
        broker.config.node_id,
        crate::metadata_log::now_ms()
    );
    loop {
        if let Some(mut c) = controller(broker) {
            let req = RegisterBrokerRequest {
                node_id: broker.config.node_id,
                incarnation_id: incarnation.clone(),
                host: host.clone(),
                port,
                rack: broker.config.rack.clone().unwrap_or_default(),
            };
            match c.register_broker(req).await {
                Ok(r) if r.get_ref().error_code == 0 => {
                    let epoch = r.into_inner().broker_epoch;
                    tracing::info!(
                        node_id = broker.config.node_id,
                        broker_epoch = epoch,
                        "registered with the controller"
                    );
                    return epoch;
                }
                Ok(r) => tracing::warn!(
                    "registration refused: {}",
                    ErrorCode::from_wire(r.get_ref().error_code)
                ),
                Err(e) => tracing::debug!("registration failed: {}", e.message()),
            }
        }
        tokio::time::sleep(BACKOFF).await;
    }
}

async fn heartbeats(broker: Arc<Broker>) {
    let interval = Duration::from_millis(broker.config.broker_heartbeat_interval_ms);
    let mut applied = broker.subscribe_metadata();
    loop {
        let epoch = register(&broker).await;
        broker.broker_epoch.store(epoch, Ordering::Release);
        loop {
            let req = BrokerHeartbeatRequest {
                node_id: broker.config.node_id,
                broker_epoch: epoch,
                metadata_offset: broker.applied_offset() - 1,
                want_fence: false,
                want_shutdown: false,
            };
            let stale = match controller(&broker) {
                Some(mut c) => match tokio::time::timeout(
                    interval.max(Duration::from_millis(500)),
                    c.broker_heartbeat(req),
                )
                .await
                {
                    Ok(Ok(r)) => {
                        ErrorCode::from_wire(r.get_ref().error_code) == ErrorCode::StaleBrokerEpoch
                    }
                    _ => false,
                },
                None => false,
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

async fn metadata_poller(broker: Arc<Broker>, fetchers: Arc<Fetchers>) {
    loop {
        let Some(mut c) = controller(&broker) else {
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        let req = FetchMetadataRequest {
            node_id: broker.config.node_id,
            from_offset: broker.applied_offset(),
            max_records: 10_000,
            max_wait_ms: 1000,
        };
        let resp = match tokio::time::timeout(Duration::from_secs(5), c.fetch_metadata(req)).await {
            Ok(Ok(r)) => r.into_inner(),
            _ => {
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
