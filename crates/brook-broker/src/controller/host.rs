//! The controller's I/O shell: the [`Controller`] state machine plus the metadata log it
//! replays, behind one lock (every decision must see the replay of the whole log), the gRPC
//! `Controller` service brokers talk to, and the admin operations brokers forward.
//!
//! Every method follows the protocol in `controller/mod.rs`: decide → append + fsync → replay →
//! answer. A long-poll watch on the log end lets brokers learn new records at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brook_log::SharedLog;
use brook_proto::ErrorCode;
use brook_proto::v1::controller_server::Controller as ControllerRpc;
use brook_proto::v1::metadata_record::Record;
use brook_proto::v1::*;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::{AdminError, Controller, ControllerConfig};
use crate::broker::NewTopic;
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::group_coordinator::OFFSETS_TOPIC;
use crate::metadata_log::{self, now_ms};

#[derive(Debug)]
pub struct ControllerHost {
    inner: Mutex<Inner>,
    /// The metadata log end, for long-polling FetchMetadata.
    end: watch::Sender<i64>,
    config: BrokerConfig,
}

#[derive(Debug)]
struct Inner {
    controller: Controller,
    log: SharedLog,
}

impl ControllerHost {
    /// Replays the metadata log and gives every known broker one session timeout of grace.
    pub fn open(log: SharedLog, config: &BrokerConfig) -> Result<Arc<ControllerHost>, BrokerError> {
        let records = metadata_log::read_records(&log, 0, usize::MAX)?;
        let mut controller =
            Controller::from_records(ControllerConfig::from_broker_config(config), records.iter());
        controller.start(now_ms());
        let end = controller.image().next_offset;
        tracing::info!(
            records = records.len(),
            "controller replayed its metadata log"
        );
        Ok(Arc::new(ControllerHost {
            inner: Mutex::new(Inner { controller, log }),
            end: watch::Sender::new(end),
            config: config.clone(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `records` (decided by the caller under this lock), then replays them.
    fn commit(&self, inner: &mut Inner, records: Vec<Record>) -> Result<(), BrokerError> {
        if records.is_empty() {
            return Ok(());
        }
        let stamped = inner.controller.stamp(records);
        metadata_log::append(&inner.log, &stamped)?;
        for r in &stamped {
            inner.controller.replay(r);
        }
        self.end.send_replace(inner.controller.image().next_offset);
        Ok(())
    }

    /// Periodic: fence brokers whose session expired and move their leaderships.
    pub fn tick(&self) {
        let mut inner = self.lock();
        let records = inner.controller.tick(now_ms());
        if let Err(e) = self.commit(&mut inner, records) {
            tracing::error!("controller tick failed to commit: {e}");
        }
    }

    pub fn image(&self) -> crate::metadata::MetadataImage {
        self.lock().controller.image().clone()
    }

    fn admin<T>(
        &self,
        f: impl FnOnce(&Controller) -> Result<(Vec<Record>, T), AdminError>,
    ) -> Result<T, BrokerError> {
        let mut inner = self.lock();
        let (records, out) =
            f(&inner.controller).map_err(|(code, msg)| BrokerError::new(code, msg))?;
        self.commit(&mut inner, records)?;
        Ok(out)
    }

    /// CreateTopics on the controller; configs are validated against the broker defaults.
    pub fn create_topic(&self, t: NewTopic, validate_only: bool) -> Result<(), BrokerError> {
        self.config.topic_config(&t.configs)?;
        let internal = t.name == OFFSETS_TOPIC;
        self.admin(|c| {
            let records = c.create_topic(&t, internal)?;
            Ok((if validate_only { Vec::new() } else { records }, ()))
        })
    }

    pub fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        self.admin(|c| Ok((c.delete_topic(name)?, ())))
    }

    pub fn alter_topic_config(
        &self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        {
            let inner = self.lock();
            let topic = inner
                .controller
                .image()
                .topics
                .get(name)
                .cloned()
                .ok_or_else(|| {
                    BrokerError::new(
                        ErrorCode::UnknownTopicOrPartition,
                        format!("topic '{name}' does not exist"),
                    )
                })?;
            let mut merged = topic.configs.clone();
            for k in delete {
                merged.remove(k);
            }
            merged.extend(set.clone());
            self.config.topic_config(&merged)?;
        }
        self.admin(|c| {
            let records =
                c.alter_configs(ConfigResourceType::ConfigResourceTopic, name, set, delete)?;
            Ok((if validate_only { Vec::new() } else { records }, ()))
        })
    }

    pub fn elect_leaders(
        &self,
        req: &ElectLeadersRequest,
    ) -> Result<ElectLeadersResponse, BrokerError> {
        let t =
            ElectionType::try_from(req.election_type).unwrap_or(ElectionType::ElectionPreferred);
        self.admin(|c| Ok(c.elect_leaders(t, &req.topics)))
    }

    /// Records after `from` (at most `max`), waiting up to `wait` for the first one.
    pub async fn fetch_metadata(
        &self,
        from: i64,
        max: usize,
        wait: Duration,
    ) -> Result<(Vec<MetadataRecord>, i64), BrokerError> {
        let mut rx = self.end.subscribe();
        if *rx.borrow() <= from {
            let _ = tokio::time::timeout(wait, rx.wait_for(|end| *end > from)).await;
        }
        let log = self.lock().log.clone();
        let records = metadata_log::read_records(&log, from.max(0), max)?;
        let end = *self.end.borrow();
        Ok((records, end))
    }

    /// Runs the periodic tick until the host is dropped.
    pub fn spawn_ticker(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(host) = weak.upgrade() else { return };
                let _ = tokio::task::spawn_blocking(move || host.tick()).await;
            }
        })
    }
}

/// The gRPC face of the controller.
#[derive(Debug, Clone)]
pub struct ControllerService(pub Arc<ControllerHost>);

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

#[tonic::async_trait]
impl ControllerRpc for ControllerService {
    async fn register_broker(
        &self,
        req: Request<RegisterBrokerRequest>,
    ) -> Result<Response<RegisterBrokerResponse>, Status> {
        let req = req.into_inner();
        let host = self.0.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut inner = host.lock();
            match inner.controller.register_broker(&req, now_ms()) {
                Ok((records, epoch)) => host.commit(&mut inner, records).map(|()| (0, epoch)),
                Err(code) => Ok((code as i32, -1)),
            }
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        Ok(Response::new(RegisterBrokerResponse {
            error_code: r.0,
            broker_epoch: r.1,
        }))
    }

    async fn broker_heartbeat(
        &self,
        req: Request<BrokerHeartbeatRequest>,
    ) -> Result<Response<BrokerHeartbeatResponse>, Status> {
        let req = req.into_inner();
        let host = self.0.clone();
        let resp = tokio::task::spawn_blocking(move || {
            let mut inner = host.lock();
            let (records, mut resp) = inner.controller.heartbeat(&req, now_ms());
            host.commit(&mut inner, records)?;
            resp.metadata_end_offset = inner.controller.image().next_offset;
            Ok::<_, BrokerError>(resp)
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        Ok(Response::new(resp))
    }

    async fn fetch_metadata(
        &self,
        req: Request<FetchMetadataRequest>,
    ) -> Result<Response<FetchMetadataResponse>, Status> {
        let req = req.into_inner();
        let max = if req.max_records <= 0 {
            10_000
        } else {
            req.max_records as usize
        };
        let wait = Duration::from_millis(req.max_wait_ms.clamp(0, 30_000) as u64);
        let (records, end_offset) = self
            .0
            .fetch_metadata(req.from_offset, max, wait)
            .await
            .map_err(internal)?;
        Ok(Response::new(FetchMetadataResponse {
            error_code: 0,
            records,
            end_offset,
        }))
    }

    async fn alter_partition(
        &self,
        req: Request<AlterPartitionRequest>,
    ) -> Result<Response<AlterPartitionResponse>, Status> {
        let req = req.into_inner();
        let host = self.0.clone();
        let resp = tokio::task::spawn_blocking(move || {
            let mut inner = host.lock();
            let (records, resp) = inner.controller.alter_partition(&req);
            host.commit(&mut inner, records)?;
            Ok::<_, BrokerError>(resp)
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        Ok(Response::new(resp))
    }

    async fn allocate_producer_ids(
        &self,
        req: Request<AllocateProducerIdsRequest>,
    ) -> Result<Response<AllocateProducerIdsResponse>, Status> {
        let req = req.into_inner();
        let host = self.0.clone();
        let resp = tokio::task::spawn_blocking(move || {
            let mut inner = host.lock();
            match inner
                .controller
                .allocate_producer_ids(req.node_id, req.broker_epoch)
            {
                Ok((records, start, len)) => {
                    host.commit(&mut inner, records)
                        .map(|()| AllocateProducerIdsResponse {
                            error_code: 0,
                            producer_id_start: start,
                            producer_id_len: len,
                        })
                }
                Err(code) => Ok(AllocateProducerIdsResponse {
                    error_code: code as i32,
                    producer_id_start: -1,
                    producer_id_len: 0,
                }),
            }
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        Ok(Response::new(resp))
    }
}
