//! Small helpers shared by every client for making one RPC: a gRPC client for an address built
//! from the shared `Channels` (never another way, so injected network faults apply), and a
//! client-side deadline that turns a missing answer into Kafka's `REQUEST_TIMED_OUT`.

use std::future::Future;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::net::{Channels, DEFAULT_MAX_MESSAGE_BYTES};
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::brook_client::BrookClient;
use tonic::transport::Channel;

use crate::error::{ClientError, Result};

fn channel(channels: &Channels, addr: &str) -> Result<Channel> {
    channels
        .get(addr)
        .map_err(|e| ClientError::Transport(format!("bad broker address {addr}: {e}")))
}

pub(crate) fn brook(channels: &Channels, addr: &str) -> Result<BrookClient<Channel>> {
    Ok(BrookClient::new(channel(channels, addr)?)
        .max_decoding_message_size(DEFAULT_MAX_MESSAGE_BYTES)
        .max_encoding_message_size(DEFAULT_MAX_MESSAGE_BYTES))
}

pub(crate) fn admin(channels: &Channels, addr: &str) -> Result<AdminClient<Channel>> {
    Ok(AdminClient::new(channel(channels, addr)?)
        .max_decoding_message_size(DEFAULT_MAX_MESSAGE_BYTES)
        .max_encoding_message_size(DEFAULT_MAX_MESSAGE_BYTES))
}

/// Awaits one RPC for at most `timeout`. The deadline is enforced here rather than only by a
/// `grpc-timeout` header because a broker that never answers (isolated, stalled) must still
/// fail the call on time.
pub(crate) async fn call<T>(
    timeout: Duration,
    fut: impl Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(resp)) => Ok(resp.into_inner()),
        Ok(Err(status)) => Err(ClientError::from_status(&status)),
        Err(_) => Err(ClientError::kafka(
            ErrorCode::RequestTimedOut,
            format!("no response within {} ms", timeout.as_millis()),
        )),
    }
}
