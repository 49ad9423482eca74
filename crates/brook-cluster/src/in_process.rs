//! Starting one broker in this process: its config pairs plus `listeners`, the cluster's
//! fault-injecting disk and dialer, and (for restarts) retries while the old port is still taken.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brook_broker::{BrokerConfig, BrokerEnv, BrokerHandle};
use brook_log::io::FaultyFileSystem;
use brook_proto::ErrorCode;
use brook_proto::faults::{Endpoint, Network};
use brook_proto::net::Channels;
use tokio::time::Instant;

use crate::error::{ClusterError, Result};
use crate::poll::{POLL_MIN, next_pause};

/// `BrokerHandle::start_with` reports a failed bind as BROKER_NOT_AVAILABLE "bind …".
fn is_bind_error(e: &ClusterError) -> bool {
    matches!(e, ClusterError::Broker(b)
        if b.code() == ErrorCode::BrokerNotAvailable && b.message().starts_with("bind"))
}

/// Starts broker `id` on a listener bound by the caller (its address is `addr`).
pub(crate) async fn start_broker_on(
    id: i32,
    pairs: &[(String, String)],
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    fs: &FaultyFileSystem,
    network: &Arc<Network>,
) -> Result<BrokerHandle> {
    let mut pairs = pairs.to_vec();
    pairs.push(("listeners".into(), addr.to_string()));
    let config = BrokerConfig::from_pairs(pairs)?;
    let env = BrokerEnv {
        fs: Arc::new(fs.clone()),
        channels: Channels::new(network.dialer(Endpoint::Broker(id))),
        ..BrokerEnv::default()
    };
    Ok(BrokerHandle::start_on(listener, config, env).await?)
}

/// Starts broker `id` on `listener`, retrying a failed bind for up to `rebind` (a restarted
/// broker's old listener may not be closed yet).
pub(crate) async fn start_broker(
    id: i32,
    pairs: &[(String, String)],
    listener: SocketAddr,
    fs: &FaultyFileSystem,
    network: &Arc<Network>,
    rebind: Duration,
) -> Result<BrokerHandle> {
    let mut pairs = pairs.to_vec();
    pairs.push(("listeners".into(), listener.to_string()));
    let config = BrokerConfig::from_pairs(pairs)?;
    let deadline = Instant::now() + rebind;
    let mut pause = POLL_MIN;
    loop {
        let env = BrokerEnv {
            fs: Arc::new(fs.clone()),
            channels: Channels::new(network.dialer(Endpoint::Broker(id))),
            ..BrokerEnv::default()
        };
        match BrokerHandle::start_with(config.clone(), env).await {
            Ok(handle) => return Ok(handle),
            Err(e) => {
                let e = ClusterError::Broker(e);
                if !is_bind_error(&e) || Instant::now() + pause > deadline {
                    return Err(e);
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause = next_pause(pause);
    }
}
