//! The group RPCs in wire terms, on [`Broker`]: each turns a request of `brook.proto` into a call
//! on the coordinator and its answer back into the response (empty strings of the wire are
//! Kafka's nulls). `server/service.rs` only forwards to these.

use brook_proto::ErrorCode;
use brook_proto::v1::*;

use super::groups::{GroupState, JoinRequest, LeavingMember, Protocol, SyncRequest};
use super::lag::{self, PartitionLagEvaluation, StoredCommit};
use crate::broker::Broker;

/// "" → `None` (Kafka's null string).
fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl Broker {
    /// JoinGroup; `client_host` is where the request came from (`/127.0.0.1`).
    pub async fn join_group(&self, r: JoinGroupRequest, client_host: String) -> JoinGroupResponse {
        if let Err(code) = self.group_status(&r.group_id) {
            return JoinGroupResponse {
                error_code: code as i32,
                generation_id: -1,
                member_id: r.member_id,
                ..Default::default()
            };
        }
        let req = JoinRequest {
            group_id: r.group_id,
            member_id: r.member_id,
            group_instance_id: opt(&r.group_instance_id),
            client_id: r.client_id,
            client_host,
            session_timeout_ms: r.session_timeout_ms,
            rebalance_timeout_ms: r.rebalance_timeout_ms,
            protocol_type: r.protocol_type,
            protocols: r
                .protocols
                .into_iter()
                .map(|p| Protocol {
                    name: p.name,
                    metadata: p.metadata,
                })
                .collect(),
        };
        let a = self.coordinator.join(req).await;
        JoinGroupResponse {
            error_code: a.error as i32,
            error_message: a.message,
            generation_id: a.generation_id,
            protocol_type: a.protocol_type.unwrap_or_default(),
            protocol_name: a.protocol_name.unwrap_or_default(),
            leader: a.leader,
            skip_assignment: false,
            member_id: a.member_id,
            members: a
                .members
                .into_iter()
                .map(|m| JoinGroupMember {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id.unwrap_or_default(),
                    metadata: m.metadata,
                })
                .collect(),
        }
    }

    /// SyncGroup.
    pub async fn sync_group(&self, r: SyncGroupRequest) -> SyncGroupResponse {
        if let Err(code) = self.group_status(&r.group_id) {
            return SyncGroupResponse {
                error_code: code as i32,
                ..Default::default()
            };
        }
        let req = SyncRequest {
            group_id: r.group_id,
            generation_id: r.generation_id,
            member_id: r.member_id,
            group_instance_id: opt(&r.group_instance_id),
            protocol_type: opt(&r.protocol_type),
            protocol_name: opt(&r.protocol_name),
            assignments: r
                .assignments
                .into_iter()
                .map(|a| (a.member_id, a.assignment))
                .collect(),
        };
        let a = self.coordinator.sync(req).await;
        SyncGroupResponse {
            error_code: a.error as i32,
            error_message: String::new(),
            protocol_type: a.protocol_type.unwrap_or_default(),
            protocol_name: a.protocol_name.unwrap_or_default(),
            assignment: a.assignment,
        }
    }

    /// Heartbeat.
    pub fn heartbeat_group(&self, r: &HeartbeatRequest) -> HeartbeatResponse {
        let code = match self.group_status(&r.group_id) {
            Err(code) => code,
            Ok(()) => self.coordinator.heartbeat(
                &r.group_id,
                r.generation_id,
                &r.member_id,
                opt(&r.group_instance_id).as_deref(),
            ),
        };
        HeartbeatResponse {
            error_code: code as i32,
            error_message: String::new(),
        }
    }

    /// LeaveGroup.
    pub fn leave_group(&self, r: LeaveGroupRequest) -> LeaveGroupResponse {
        let leaving: Vec<LeavingMember> = r
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.clone(),
                group_instance_id: opt(&m.group_instance_id),
            })
            .collect();
        let outcome = self
            .group_status(&r.group_id)
            .and_then(|()| self.coordinator.leave(&r.group_id, &leaving));
        match outcome {
            Err(code) => LeaveGroupResponse {
                error_code: code as i32,
                error_message: String::new(),
                members: Vec::new(),
            },
            Ok(codes) => LeaveGroupResponse {
                error_code: 0,
                error_message: String::new(),
                members: r
                    .members
                    .into_iter()
                    .zip(codes)
                    .map(|(m, code)| LeaveGroupMemberResponse {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        error_code: code as i32,
                    })
                    .collect(),
            },
        }
    }

    /// DescribeGroups: one entry per group asked for, each with its own error.
    pub fn describe_groups(&self, r: &DescribeGroupsRequest) -> DescribeGroupsResponse {
        let groups = r
            .groups
            .iter()
            .map(|id| {
                match self
                    .group_status(id)
                    .and_then(|()| self.coordinator.describe(id))
                {
                    Err(code) => DescribedGroup {
                        error_code: code as i32,
                        group_id: id.clone(),
                        group_state: GroupState::Dead.name().to_string(),
                        generation_id: -1,
                        ..Default::default()
                    },
                    Ok(d) => DescribedGroup {
                        error_code: 0,
                        error_message: String::new(),
                        group_id: d.group_id,
                        group_state: d.state.name().to_string(),
                        protocol_type: d.protocol_type,
                        protocol_data: d.protocol,
                        generation_id: d.generation,
                        leader: d.leader,
                        members: d
                            .members
                            .into_iter()
                            .map(|m| DescribedGroupMember {
                                member_id: m.member_id,
                                group_instance_id: m.group_instance_id.unwrap_or_default(),
                                client_id: m.client_id,
                                client_host: m.client_host,
                                member_metadata: m.metadata,
                                member_assignment: m.assignment,
                            })
                            .collect(),
                    },
                }
            })
            .collect();
        DescribeGroupsResponse { groups }
    }

    /// ListGroups: the groups this broker coordinates. Unknown state names match nothing;
    /// COORDINATOR_LOAD_IN_PROGRESS (with what is loaded) while a partition still loads.
    pub fn list_groups(&self, r: &ListGroupsRequest) -> ListGroupsResponse {
        let states: Vec<Option<GroupState>> = r
            .states_filter
            .iter()
            .map(|s| GroupState::parse(s))
            .collect();
        let known: Vec<GroupState> = states.iter().flatten().copied().collect();
        let (groups, loading) = if !states.is_empty() && known.is_empty() {
            (Vec::new(), false)
        } else {
            self.coordinator.list(&known)
        };
        ListGroupsResponse {
            error_code: if loading {
                ErrorCode::CoordinatorLoadInProgress as i32
            } else {
                0
            },
            groups: groups
                .into_iter()
                .map(|g| ListedGroup {
                    group_id: g.group_id,
                    protocol_type: g.protocol_type,
                    group_state: g.state.name().to_string(),
                })
                .collect(),
        }
    }

    /// DeleteGroups: each group deleted with its offsets (tombstones stored before the
    /// answer), or NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, NOT_COORDINATOR, …
    pub async fn delete_groups(&self, r: DeleteGroupsRequest) -> DeleteGroupsResponse {
        let mut results = Vec::with_capacity(r.groups.len());
        for id in r.groups {
            let outcome = match self.group_status(&id) {
                Err(code) => Err(code),
                Ok(()) => self.coordinator.delete(&id).await,
            };
            let code = outcome.err().unwrap_or(ErrorCode::None);
            results.push(DeletableGroupResult {
                group_id: id,
                error_code: code as i32,
                error_message: String::new(),
            });
        }
        DeleteGroupsResponse { results }
    }
}

impl Broker {
    /// GroupLag: the group's lag evaluated now with Burrow's rules (`lag/`), by its
    /// coordinator; NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or GROUP_ID_NOT_FOUND as
    /// the other group RPCs.
    pub fn group_lag(&self, r: &GroupLagRequest) -> GroupLagResponse {
        let view = self
            .group_status(&r.group_id)
            .and_then(|()| self.coordinator.group_lag(&r.group_id, self.env.now_ms()));
        let view = match view {
            Err(code) => {
                return GroupLagResponse {
                    error_code: code as i32,
                    error_message: format!("group lag of '{}'", r.group_id),
                    group_id: r.group_id.clone(),
                    ..Default::default()
                };
            }
            Ok(v) => v,
        };
        let e = &view.evaluation;
        let partition = |p: &PartitionLagEvaluation| PartitionLag {
            topic: p.topic.clone(),
            partition: p.partition,
            status: lag_status(p.status) as i32,
            current_lag: wire_u64(p.current_lag),
            start: p.start.map(entry),
            end: p.end.map(entry),
            committed_offset: view
                .committed
                .get(&(p.topic.clone(), p.partition))
                .copied()
                .unwrap_or(-1),
            end_offset: p.end_offset.unwrap_or(-1),
            complete: p.complete,
        };
        GroupLagResponse {
            error_code: 0,
            error_message: String::new(),
            group_id: e.group.clone(),
            status: lag_status(e.status) as i32,
            complete: e.complete,
            total_lag: wire_u64(e.total_lag),
            max_lag: e.max_lag.as_ref().map(partition),
            partitions: e.partitions.iter().map(partition).collect(),
        }
    }
}

fn wire_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn entry(c: StoredCommit) -> LagWindowEntry {
    LagWindowEntry {
        offset: c.offset,
        timestamp: c.timestamp_ms,
        lag: c.lag.map_or(-1, wire_u64),
    }
}

fn lag_status(s: lag::LagStatus) -> brook_proto::v1::LagStatus {
    use brook_proto::v1::LagStatus as W;
    match s {
        lag::LagStatus::Notfound => W::Notfound,
        lag::LagStatus::Ok => W::Ok,
        lag::LagStatus::Warn => W::Warn,
        lag::LagStatus::Err => W::Err,
        lag::LagStatus::Stop => W::Stop,
        lag::LagStatus::Stall => W::Stall,
        lag::LagStatus::Rewind => W::Rewind,
    }
}
