//! The quorum's Raft RPCs on Brook's gRPC listener: the client side (openraft's
//! [`RaftNetworkFactory`] over the broker's connection layer, so the fault model cuts, slows and
//! partitions these links like every other) and the server side (the `Quorum` gRPC service).
//!
//! Every request names the sender's voter set; a voter whose `controller.quorum.voters` differs
//! refuses it with `INVALID_CONFIG` and says why, so a misconfigured voter never joins.
//! The leader's network also remembers when it last heard from each voter (`last contact`, shown
//! by `brook quorum describe`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use brook_proto::v1::quorum_client::QuorumClient;
use brook_proto::v1::quorum_server::Quorum;
use brook_proto::v1::{RaftRequest, RaftResponse};
use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use super::{NodeId, Raft, TypeConfig};

/// When the leader last heard from each voter (ms since the epoch).
pub type Contacts = Arc<Mutex<BTreeMap<NodeId, i64>>>;

/// Creates one [`Peer`] per voter for openraft.
#[derive(Clone)]
pub struct Network {
    me: NodeId,
    /// The configured voter set's fingerprint, sent with every request.
    voters: String,
    /// Where each voter listens, from the config (membership entries in the log may carry an
    /// older address; the config wins).
    addrs: Arc<BTreeMap<NodeId, String>>,
    channels: Channels,
    contacts: Contacts,
    /// Stamps `contacts` (the broker's clock, as the lease check reads it).
    clock: Arc<dyn brook_log::Clock>,
    /// Peers that refused us for a different voter set (logged once each).
    refused_by: Arc<Mutex<BTreeSet<NodeId>>>,
    /// Peers whose last RPC failed: logged once when they go, once when they come back.
    unreachable: Arc<Mutex<BTreeSet<NodeId>>>,
}

impl Network {
    /// The Raft network of voter `me`: RPCs to the other `voters` over `channels` (so the fault
    /// model applies), stamping `contacts` with `clock` whenever a voter answers.
    pub fn new(
        me: NodeId,
        voters: &super::Voters,
        channels: Channels,
        contacts: Contacts,
        clock: Arc<dyn brook_log::Clock>,
    ) -> Network {
        Network {
            me,
            voters: voters.fingerprint(),
            addrs: Arc::new(voters.0.clone()),
            channels,
            contacts,
            clock,
            refused_by: Arc::default(),
            unreachable: Arc::default(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        let addr = self
            .addrs
            .get(&target)
            .cloned()
            .unwrap_or_else(|| node.addr.clone());
        Peer {
            net: self.clone(),
            target,
            addr,
        }
    }
}

/// The link to one other voter.
pub struct Peer {
    net: Network,
    target: NodeId,
    addr: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LinkError(String);

/// Which RPC to call.
#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

impl Peer {
    /// Logs a change of this peer's reachability (only the change).
    fn reachable(&self, yes: bool, why: &str) {
        let mut down = self
            .net
            .unreachable
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if yes && down.remove(&self.target) {
            tracing::info!(voter = self.target, "controller voter reachable again");
        } else if !yes && down.insert(self.target) {
            tracing::warn!(voter = self.target, "controller voter unreachable: {why}");
        }
    }

    /// One RPC: encodes `req`, sends it on the link (through the fault model), decodes the
    /// answer, and logs the link going away or coming back (once each).
    async fn call<Req, Resp, E>(
        &self,
        rpc: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let r = async {
            let unreachable =
                |why: String| RPCError::Unreachable(Unreachable::new(&LinkError(why)));
            let body =
                serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
            let channel = self
                .net
                .channels
                .get(&self.addr)
                .map_err(|e| unreachable(e.to_string()))?;
            let mut client = QuorumClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let request = RaftRequest {
                from_node: i32::try_from(self.net.me).unwrap_or(-1),
                voters: self.net.voters.clone(),
                body: body.into(),
            };
            let call = async {
                match rpc {
                    Rpc::Append => client.append_entries(request).await,
                    Rpc::Vote => client.vote(request).await,
                    Rpc::Snapshot => client.install_snapshot(request).await,
                }
            };
            let resp = match tokio::time::timeout(option.hard_ttl(), call).await {
                Ok(Ok(r)) => r.into_inner(),
                Ok(Err(status)) => return Err(unreachable(status.message().to_string())),
                Err(_) => {
                    return Err(unreachable(format!(
                        "no answer within {:?}",
                        option.hard_ttl()
                    )));
                }
            };
            if resp.error_code != 0 {
                if self
                    .net
                    .refused_by
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(self.target)
                {
                    tracing::error!(
                        peer = self.target,
                        "controller voter refused us: {}",
                        resp.error_message
                    );
                }
                return Err(unreachable(resp.error_message));
            }
            self.net
                .contacts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(self.target, self.net.clock.now_ms());
            let answer: Result<Resp, RaftError<NodeId, E>> = serde_json::from_slice(&resp.body)
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
            answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
        }
        .await;
        match &r {
            Err(RPCError::Unreachable(e)) => self.reachable(false, &e.to_string()),
            _ => self.reachable(true, ""),
        }
        r
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote, &rpc, &option).await
    }

    /// A cut link is retried soon: a healed partition must not wait long for its controller.
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(Duration::from_millis(100)))
    }
}

/// The `Quorum` gRPC service of a voter.
#[derive(Clone)]
pub struct QuorumService {
    raft: Raft,
    voters: String,
}

impl QuorumService {
    /// The service over this voter's Raft node; `voters` is the configured voter set's
    /// [`Voters::fingerprint`](super::Voters::fingerprint), which every request must match.
    pub fn new(raft: Raft, voters: String) -> QuorumService {
        QuorumService { raft, voters }
    }

    /// Checks the sender's voter set and decodes openraft's request.
    fn open<T: DeserializeOwned>(&self, req: &RaftRequest) -> Result<T, RaftResponse> {
        if req.voters != self.voters {
            return Err(RaftResponse {
                error_code: ErrorCode::InvalidConfig as i32,
                error_message: format!(
                    "INVALID_CONFIG: node {} has controller.quorum.voters={} but this voter has {}; \
                     every voter must list the same voter set",
                    req.from_node, req.voters, self.voters
                ),
                body: Default::default(),
            });
        }
        serde_json::from_slice(&req.body).map_err(|e| RaftResponse {
            error_code: ErrorCode::InvalidRequest as i32,
            error_message: format!("INVALID_REQUEST: undecodable raft message: {e}"),
            body: Default::default(),
        })
    }
}

/// openraft's answer as the response body.
fn answer<T: Serialize>(r: &T) -> Result<Response<RaftResponse>, Status> {
    let body = serde_json::to_vec(r).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftResponse {
        error_code: 0,
        error_message: String::new(),
        body: body.into(),
    }))
}

#[tonic::async_trait]
impl Quorum for QuorumService {
    async fn append_entries(
        &self,
        req: Request<RaftRequest>,
    ) -> Result<Response<RaftResponse>, Status> {
        match self.open::<AppendEntriesRequest<TypeConfig>>(req.get_ref()) {
            Ok(rpc) => answer(&self.raft.append_entries(rpc).await),
            Err(refused) => Ok(Response::new(refused)),
        }
    }

    async fn vote(&self, req: Request<RaftRequest>) -> Result<Response<RaftResponse>, Status> {
        match self.open::<VoteRequest<NodeId>>(req.get_ref()) {
            Ok(rpc) => answer(&self.raft.vote(rpc).await),
            Err(refused) => Ok(Response::new(refused)),
        }
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftRequest>,
    ) -> Result<Response<RaftResponse>, Status> {
        match self.open::<InstallSnapshotRequest<TypeConfig>>(req.get_ref()) {
            Ok(rpc) => answer(&self.raft.install_snapshot(rpc).await),
            Err(refused) => Ok(Response::new(refused)),
        }
    }
}
