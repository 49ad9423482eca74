//! The gRPC `Controller` service brokers talk to (register, heartbeat, AlterPartition,
//! producer-id blocks, metadata long-poll), over a voter's [`ControllerHost`]. Every answer names
//! the active controller (`active_controller_id`); a voter that is not active answers
//! NOT_CONTROLLER, so brokers redirect without guessing.

use std::sync::Arc;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::controller_server::Controller as ControllerRpc;
use brook_proto::v1::*;
use tonic::{Request, Response, Status};

use super::host::ControllerHost;
use crate::error::BrokerError;

/// The gRPC face of the controller.
#[derive(Debug, Clone)]
pub struct ControllerService(pub Arc<ControllerHost>);

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

/// An error code for a response whose other fields are left at their defaults, or a gRPC error
/// for failures no response field can carry.
fn code_of(e: &BrokerError) -> Result<i32, Status> {
    match e.code() {
        ErrorCode::NotController | ErrorCode::RequestTimedOut => Ok(e.code() as i32),
        _ => Err(internal(e)),
    }
}

#[tonic::async_trait]
impl ControllerRpc for ControllerService {
    async fn register_broker(
        &self,
        req: Request<RegisterBrokerRequest>,
    ) -> Result<Response<RegisterBrokerResponse>, Status> {
        let req = req.into_inner();
        let r = self
            .0
            .decide(|c, now| match c.register_broker(&req, now) {
                Ok((records, epoch)) => Ok((records, (0, epoch))),
                Err(code) => Ok((Vec::new(), (code as i32, -1))),
            })
            .await;
        let (error_code, broker_epoch) = match r {
            Ok(x) => x,
            Err(e) => (code_of(&e)?, -1),
        };
        Ok(Response::new(RegisterBrokerResponse {
            error_code,
            broker_epoch,
            active_controller_id: self.0.active_controller_id(),
        }))
    }

    async fn broker_heartbeat(
        &self,
        req: Request<BrokerHeartbeatRequest>,
    ) -> Result<Response<BrokerHeartbeatResponse>, Status> {
        let req = req.into_inner();
        let r = self.0.decide(|c, now| Ok(c.heartbeat(&req, now))).await;
        let mut resp = match r {
            Ok(resp) => resp,
            Err(e) => BrokerHeartbeatResponse {
                error_code: code_of(&e)?,
                is_fenced: true,
                ..Default::default()
            },
        };
        resp.metadata_end_offset = self.0.image().next_offset;
        resp.active_controller_id = self.0.active_controller_id();
        Ok(Response::new(resp))
    }

    async fn fetch_metadata(
        &self,
        req: Request<FetchMetadataRequest>,
    ) -> Result<Response<FetchMetadataResponse>, Status> {
        let req = req.into_inner();
        if !self.0.is_active() {
            return Ok(Response::new(FetchMetadataResponse {
                error_code: ErrorCode::NotController as i32,
                active_controller_id: self.0.active_controller_id(),
                ..Default::default()
            }));
        }
        let max = if req.max_records <= 0 {
            10_000
        } else {
            req.max_records as usize
        };
        let wait = Duration::from_millis(req.max_wait_ms.clamp(0, 30_000) as u64);
        let (records, end_offset) = self.0.fetch_metadata(req.from_offset, max, wait).await;
        Ok(Response::new(FetchMetadataResponse {
            error_code: 0,
            records,
            end_offset,
            active_controller_id: self.0.active_controller_id(),
        }))
    }

    async fn alter_partition(
        &self,
        req: Request<AlterPartitionRequest>,
    ) -> Result<Response<AlterPartitionResponse>, Status> {
        let req = req.into_inner();
        let r = self.0.decide(|c, _| Ok(c.alter_partition(&req))).await;
        let mut resp = match r {
            Ok(resp) => resp,
            Err(e) => AlterPartitionResponse {
                error_code: code_of(&e)?,
                ..Default::default()
            },
        };
        resp.active_controller_id = self.0.active_controller_id();
        Ok(Response::new(resp))
    }

    async fn allocate_producer_ids(
        &self,
        req: Request<AllocateProducerIdsRequest>,
    ) -> Result<Response<AllocateProducerIdsResponse>, Status> {
        let req = req.into_inner();
        let r = self
            .0
            .decide(
                |c, _| match c.allocate_producer_ids(req.node_id, req.broker_epoch) {
                    Ok((records, start, len)) => Ok((records, (0, start, len))),
                    Err(code) => Ok((Vec::new(), (code as i32, -1, 0))),
                },
            )
            .await;
        let (error_code, producer_id_start, producer_id_len) = match r {
            Ok(x) => x,
            Err(e) => (code_of(&e)?, -1, 0),
        };
        Ok(Response::new(AllocateProducerIdsResponse {
            error_code,
            producer_id_start,
            producer_id_len,
            active_controller_id: self.0.active_controller_id(),
        }))
    }
}
