//! A small in-memory group coordinator for client tests: the mock broker of `common` (data
//! path, metadata, OffsetFetch) with JoinGroup / SyncGroup / Heartbeat / LeaveGroup /
//! OffsetCommit of Kafka's classic protocol on top, simplified: dynamic members only
//! (MEMBER_ID_REQUIRED on the first join), a join phase that ends when every known member has
//! rejoined or the rebalance timeout passes, session expiry by a ticker, commits fenced by
//! generation and member id. Enough to drive the consumer's membership through real RPCs; the
//! real coordinator is tested end to end in the root `tests/consumer_groups.rs`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_proto::ErrorCode;
use brook_proto::v1::brook_server::{Brook, BrookServer};
use brook_proto::v1::*;
use bytes::Bytes;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use crate::common::{Mock, State};

#[derive(Debug)]
struct Member {
    protocols: Vec<JoinGroupProtocol>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_seen: Instant,
    joined: bool,
}

#[derive(Debug, Default)]
pub struct Group {
    pub generation: i32,
    pub state: &'static str,
    members: BTreeMap<String, Member>,
    pub leader: String,
    pub protocol: String,
    join_waiters: Vec<(String, oneshot::Sender<JoinGroupResponse>)>,
    sync_waiters: Vec<(String, oneshot::Sender<SyncGroupResponse>)>,
    pub assignments: BTreeMap<String, Bytes>,
    rebalance_deadline: Option<Instant>,
    next_id: u32,
    /// Every (generation, member) that completed a SyncGroup, in order.
    pub synced: Vec<(i32, String)>,
    /// Heartbeats answered without error.
    pub heartbeats: usize,
}

impl Group {
    pub fn members(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    fn start_rebalance(&mut self, now: Instant) {
        if self.state == "PreparingRebalance" {
            return;
        }
        self.state = "PreparingRebalance";
        for m in self.members.values_mut() {
            m.joined = false;
        }
        for (_, tx) in self.sync_waiters.drain(..) {
            let _ = tx.send(SyncGroupResponse {
                error_code: ErrorCode::RebalanceInProgress as i32,
                ..SyncGroupResponse::default()
            });
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + timeout);
    }

    fn maybe_complete_join(&mut self, now: Instant, force: bool) {
        if self.state != "PreparingRebalance" {
            return;
        }
        let all = self.members.values().all(|m| m.joined);
        if !all && !force {
            return;
        }
        self.members.retain(|_, m| m.joined);
        self.rebalance_deadline = None;
        if self.members.is_empty() {
            self.state = "Empty";
            self.generation += 1;
            return;
        }
        self.generation += 1;
        self.state = "CompletingRebalance";
        if !self.members.contains_key(&self.leader) {
            self.leader = self.members.keys().next().cloned().unwrap_or_default();
        }
        self.protocol = self.members[&self.leader].protocols[0].name.clone();
        let protocol = self.protocol.clone();
        let list: Vec<JoinGroupMember> = self
            .members
            .iter()
            .map(|(id, m)| JoinGroupMember {
                member_id: id.clone(),
                group_instance_id: String::new(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|p| p.name == protocol)
                    .map(|p| p.metadata.clone())
                    .unwrap_or_default(),
            })
            .collect();
        for (id, tx) in self.join_waiters.drain(..) {
            let leader = id == self.leader;
            let _ = tx.send(JoinGroupResponse {
                generation_id: self.generation,
                protocol_type: "consumer".into(),
                protocol_name: protocol.clone(),
                leader: self.leader.clone(),
                member_id: id.clone(),
                members: if leader { list.clone() } else { Vec::new() },
                ..JoinGroupResponse::default()
            });
        }
        for m in self.members.values_mut() {
            m.last_seen = now;
        }
    }

    fn remove(&mut self, id: &str, now: Instant) {
        if self.members.remove(id).is_some() {
            if self.members.is_empty() {
                self.state = "Empty";
            } else {
                self.start_rebalance(now);
                self.maybe_complete_join(now, false);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        match self.state {
            "PreparingRebalance" if self.rebalance_deadline.is_some_and(|d| now >= d) => {
                self.maybe_complete_join(now, true);
            }
            "Stable" | "CompletingRebalance" => {
                let expired: Vec<String> = self
                    .members
                    .iter()
                    .filter(|(_, m)| now.duration_since(m.last_seen) > m.session_timeout)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    self.remove(&id, now);
                }
            }
            _ => {}
        }
    }

    fn check(&self, member: &str, generation: i32) -> Option<ErrorCode> {
        if !self.members.contains_key(member) {
            return Some(ErrorCode::UnknownMemberId);
        }
        if generation != self.generation {
            return Some(ErrorCode::IllegalGeneration);
        }
        None
    }
}

#[derive(Clone)]
pub struct GroupMock {
    inner: Mock,
    pub groups: Arc<Mutex<BTreeMap<String, Group>>>,
}

pub struct GroupBroker {
    pub addr: String,
    pub state: Arc<Mutex<State>>,
    pub groups: Arc<Mutex<BTreeMap<String, Group>>>,
}

impl GroupBroker {
    /// A mock broker with topics `t` (2 partitions) and `six` (6 partitions), and a group
    /// coordinator.
    pub async fn start() -> GroupBroker {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let mut st = State::default();
        st.topics.insert("t".into(), 2);
        st.topics.insert("six".into(), 6);
        st.next_pid = 1000;
        let state = Arc::new(Mutex::new(st));
        let groups = Arc::new(Mutex::new(BTreeMap::new()));
        let mock = GroupMock {
            inner: Mock {
                state: state.clone(),
                node_id: 1,
                host: local.ip().to_string(),
                port: i32::from(local.port()),
            },
            groups: groups.clone(),
        };
        let ticker = groups.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let now = Instant::now();
                for g in ticker.lock().unwrap().values_mut() {
                    g.tick(now);
                }
            }
        });
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(BrookServer::new(mock))
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        GroupBroker {
            addr: local.to_string(),
            state,
            groups,
        }
    }

    pub fn group<T>(&self, id: &str, f: impl FnOnce(&mut Group) -> T) -> T {
        let mut groups = self.groups.lock().unwrap();
        f(groups.entry(id.to_string()).or_default())
    }

    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.state
            .lock()
            .unwrap()
            .committed
            .get(&(group.to_string(), topic.to_string(), partition))
            .copied()
    }
}

fn ok<T>(v: T) -> Result<Response<T>, Status> {
    Ok(Response::new(v))
}

#[tonic::async_trait]
impl Brook for GroupMock {
    async fn produce(
        &self,
        r: Request<ProduceRequest>,
    ) -> Result<Response<ProduceResponse>, Status> {
        self.inner.produce(r).await
    }
    async fn fetch(&self, r: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        self.inner.fetch(r).await
    }
    async fn list_offsets(
        &self,
        r: Request<ListOffsetsRequest>,
    ) -> Result<Response<ListOffsetsResponse>, Status> {
        self.inner.list_offsets(r).await
    }
    async fn metadata(
        &self,
        r: Request<MetadataRequest>,
    ) -> Result<Response<MetadataResponse>, Status> {
        self.inner.metadata(r).await
    }
    async fn init_producer_id(
        &self,
        r: Request<InitProducerIdRequest>,
    ) -> Result<Response<InitProducerIdResponse>, Status> {
        self.inner.init_producer_id(r).await
    }
    async fn find_coordinator(
        &self,
        r: Request<FindCoordinatorRequest>,
    ) -> Result<Response<FindCoordinatorResponse>, Status> {
        self.inner.find_coordinator(r).await
    }
    async fn offset_fetch(
        &self,
        r: Request<OffsetFetchRequest>,
    ) -> Result<Response<OffsetFetchResponse>, Status> {
        self.inner.offset_fetch(r).await
    }
    async fn describe_groups(
        &self,
        r: Request<DescribeGroupsRequest>,
    ) -> Result<Response<DescribeGroupsResponse>, Status> {
        self.inner.describe_groups(r).await
    }
    async fn list_groups(
        &self,
        r: Request<ListGroupsRequest>,
    ) -> Result<Response<ListGroupsResponse>, Status> {
        self.inner.list_groups(r).await
    }
    async fn delete_groups(
        &self,
        r: Request<DeleteGroupsRequest>,
    ) -> Result<Response<DeleteGroupsResponse>, Status> {
        self.inner.delete_groups(r).await
    }
    async fn group_lag(
        &self,
        r: Request<GroupLagRequest>,
    ) -> Result<Response<GroupLagResponse>, Status> {
        self.inner.group_lag(r).await
    }
    async fn offset_for_leader_epoch(
        &self,
        r: Request<OffsetForLeaderEpochRequest>,
    ) -> Result<Response<OffsetForLeaderEpochResponse>, Status> {
        self.inner.offset_for_leader_epoch(r).await
    }

    async fn offset_commit(
        &self,
        r: Request<OffsetCommitRequest>,
    ) -> Result<Response<OffsetCommitResponse>, Status> {
        let req = r.get_ref();
        let code = {
            let groups = self.groups.lock().unwrap();
            match groups.get(&req.group_id) {
                Some(g) if !g.members.is_empty() || req.generation_id >= 0 => {
                    match g.check(&req.member_id, req.generation_id) {
                        Some(code) => Some(code),
                        None if g.state == "CompletingRebalance" => {
                            Some(ErrorCode::RebalanceInProgress)
                        }
                        None => None,
                    }
                }
                None if req.generation_id >= 0 => Some(ErrorCode::IllegalGeneration),
                _ => None,
            }
        };
        match code {
            Some(code) => ok(OffsetCommitResponse {
                error_code: code as i32,
                topics: Vec::new(),
            }),
            None => self.inner.offset_commit(r).await,
        }
    }

    async fn join_group(
        &self,
        r: Request<JoinGroupRequest>,
    ) -> Result<Response<JoinGroupResponse>, Status> {
        let req = r.into_inner();
        let now = Instant::now();
        let rx = {
            let mut groups = self.groups.lock().unwrap();
            let g = groups.entry(req.group_id.clone()).or_default();
            if g.state.is_empty() {
                g.state = "Empty";
            }
            if req.member_id.is_empty() {
                g.next_id += 1;
                return ok(JoinGroupResponse {
                    error_code: ErrorCode::MemberIdRequired as i32,
                    member_id: format!("{}-{}", req.client_id, g.next_id),
                    generation_id: -1,
                    ..JoinGroupResponse::default()
                });
            }
            let member = Member {
                protocols: req.protocols.clone(),
                session_timeout: Duration::from_millis(req.session_timeout_ms as u64),
                rebalance_timeout: Duration::from_millis(req.rebalance_timeout_ms as u64),
                last_seen: now,
                joined: true,
            };
            let changed = g
                .members
                .get(&req.member_id)
                .is_none_or(|m| m.protocols != req.protocols);
            let is_leader_or_changed = changed || req.member_id == g.leader;
            let rejoining_stable = g.state == "Stable" || g.state == "CompletingRebalance";
            g.members.insert(req.member_id.clone(), member);
            if g.state != "PreparingRebalance" && (is_leader_or_changed || rejoining_stable) {
                g.start_rebalance(now);
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.joined = true;
                }
            }
            let (tx, rx) = oneshot::channel();
            g.join_waiters.retain(|(id, _)| *id != req.member_id);
            g.join_waiters.push((req.member_id.clone(), tx));
            g.maybe_complete_join(now, false);
            rx
        };
        match rx.await {
            Ok(resp) => ok(resp),
            Err(_) => ok(JoinGroupResponse {
                error_code: ErrorCode::UnknownMemberId as i32,
                ..JoinGroupResponse::default()
            }),
        }
    }

    async fn sync_group(
        &self,
        r: Request<SyncGroupRequest>,
    ) -> Result<Response<SyncGroupResponse>, Status> {
        let req = r.into_inner();
        let rx = {
            let mut groups = self.groups.lock().unwrap();
            let g = groups.entry(req.group_id.clone()).or_default();
            if let Some(code) = g.check(&req.member_id, req.generation_id) {
                return ok(SyncGroupResponse {
                    error_code: code as i32,
                    ..SyncGroupResponse::default()
                });
            }
            if g.state == "PreparingRebalance" {
                return ok(SyncGroupResponse {
                    error_code: ErrorCode::RebalanceInProgress as i32,
                    ..SyncGroupResponse::default()
                });
            }
            let (tx, rx) = oneshot::channel();
            g.sync_waiters.push((req.member_id.clone(), tx));
            if req.member_id == g.leader && g.state == "CompletingRebalance" {
                g.assignments = req
                    .assignments
                    .iter()
                    .map(|a| (a.member_id.clone(), a.assignment.clone()))
                    .collect();
                g.state = "Stable";
            }
            if g.state == "Stable" {
                let generation = g.generation;
                for (id, tx) in g.sync_waiters.drain(..) {
                    let assignment = g.assignments.get(&id).cloned().unwrap_or_default();
                    g.synced.push((generation, id.clone()));
                    let _ = tx.send(SyncGroupResponse {
                        protocol_type: "consumer".into(),
                        protocol_name: g.protocol.clone(),
                        assignment,
                        ..SyncGroupResponse::default()
                    });
                }
            }
            rx
        };
        match rx.await {
            Ok(resp) => ok(resp),
            Err(_) => ok(SyncGroupResponse {
                error_code: ErrorCode::RebalanceInProgress as i32,
                ..SyncGroupResponse::default()
            }),
        }
    }

    async fn heartbeat(
        &self,
        r: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let req = r.into_inner();
        let mut groups = self.groups.lock().unwrap();
        let g = groups.entry(req.group_id.clone()).or_default();
        let code = match g.check(&req.member_id, req.generation_id) {
            Some(code) => code,
            None if g.state == "PreparingRebalance" => ErrorCode::RebalanceInProgress,
            None => {
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    m.last_seen = Instant::now();
                }
                g.heartbeats += 1;
                ErrorCode::None
            }
        };
        ok(HeartbeatResponse {
            error_code: code as i32,
            error_message: String::new(),
        })
    }

    async fn leave_group(
        &self,
        r: Request<LeaveGroupRequest>,
    ) -> Result<Response<LeaveGroupResponse>, Status> {
        let req = r.into_inner();
        let mut groups = self.groups.lock().unwrap();
        let g = groups.entry(req.group_id.clone()).or_default();
        let mut members = Vec::new();
        for m in req.members {
            let known = g.members.contains_key(&m.member_id);
            g.remove(&m.member_id, Instant::now());
            members.push(LeaveGroupMemberResponse {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                error_code: if known {
                    0
                } else {
                    ErrorCode::UnknownMemberId as i32
                },
            });
        }
        ok(LeaveGroupResponse {
            error_code: 0,
            error_message: String::new(),
            members,
        })
    }
}
