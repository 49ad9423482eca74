//! The baseline: the same `Brook` gRPC service with no broker behind it.

use super::*;

// ---- the null broker ------------------------------------------------------------------------

/// The same `Brook` service with no broker behind it.
#[derive(Debug, Clone)]
pub(crate) struct NullBroker {
    /// Whole batches back to back, longer than any fetch response; fetches answer a prefix.
    fetch_data: Bytes,
    batch_len: usize,
}

impl From<NullBroker> for ServerKind {
    fn from(null: NullBroker) -> ServerKind {
        ServerKind::Null(null)
    }
}

impl NullBroker {
    pub(crate) fn new(batch: &Batch) -> NullBroker {
        let batch_len = batch.bytes.len();
        let count = (2 * FETCH_MAX as usize).div_ceil(batch_len);
        let mut data = Vec::with_capacity(count * batch_len);
        for _ in 0..count {
            data.extend_from_slice(&batch.bytes);
        }
        NullBroker {
            fetch_data: Bytes::from(data),
            batch_len,
        }
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("null broker"))
}

#[tonic::async_trait]
impl Brook for NullBroker {
    async fn produce(
        &self,
        req: Request<ProduceRequest>,
    ) -> Result<Response<ProduceResponse>, Status> {
        let req = req.into_inner();
        let durability = if req.acks == -1 {
            Durability::IsrReplicated
        } else {
            Durability::LeaderWritten
        };
        let topics = req
            .topics
            .into_iter()
            .map(|t| TopicProduceResponse {
                name: t.name,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionProduceResponse {
                        partition: p.partition,
                        base_offset: 0,
                        log_start_offset: 0,
                        log_append_time_ms: -1,
                        durability: durability as i32,
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(ProduceResponse { topics }))
    }

    async fn fetch(&self, req: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        let req = req.get_ref();
        let topics = req
            .topics
            .iter()
            .map(|t| FetchTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let limit = p.partition_max_bytes.min(req.max_bytes).max(0) as usize;
                        let n = (limit / self.batch_len).max(1);
                        FetchPartitionResponse {
                            partition: p.partition,
                            high_watermark: 1 << 40,
                            last_stable_offset: 1 << 40,
                            log_start_offset: 0,
                            log_end_offset: 1 << 40,
                            records: self.fetch_data.slice(..n * self.batch_len),
                            ..Default::default()
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(FetchResponse {
            error_code: 0,
            topics,
        }))
    }

    async fn list_offsets(
        &self,
        _: Request<ListOffsetsRequest>,
    ) -> Result<Response<ListOffsetsResponse>, Status> {
        unimplemented()
    }

    async fn metadata(
        &self,
        _: Request<MetadataRequest>,
    ) -> Result<Response<MetadataResponse>, Status> {
        unimplemented()
    }

    async fn init_producer_id(
        &self,
        _: Request<InitProducerIdRequest>,
    ) -> Result<Response<InitProducerIdResponse>, Status> {
        unimplemented()
    }

    async fn find_coordinator(
        &self,
        _: Request<FindCoordinatorRequest>,
    ) -> Result<Response<FindCoordinatorResponse>, Status> {
        unimplemented()
    }

    async fn offset_commit(
        &self,
        _: Request<OffsetCommitRequest>,
    ) -> Result<Response<OffsetCommitResponse>, Status> {
        unimplemented()
    }

    async fn offset_fetch(
        &self,
        _: Request<OffsetFetchRequest>,
    ) -> Result<Response<OffsetFetchResponse>, Status> {
        unimplemented()
    }

    async fn offset_for_leader_epoch(
        &self,
        _: Request<OffsetForLeaderEpochRequest>,
    ) -> Result<Response<OffsetForLeaderEpochResponse>, Status> {
        unimplemented()
    }
}
