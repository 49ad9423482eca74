//! The admin client's consumer-group calls (Kafka's `Admin.listConsumerGroups`,
//! `describeConsumerGroups`, `deleteConsumerGroups`, `listConsumerGroupOffsets`,
//! `alterConsumerGroupOffsets`), which `brook groups` is built on.
//!
//! ListGroups goes to every broker (each lists the groups it coordinates) and the answers are
//! merged. Every other call goes to the group's coordinator, found with `FindCoordinator`:
//! `NOT_COORDINATOR`, `COORDINATOR_NOT_AVAILABLE` and transport errors look the coordinator up
//! again, `COORDINATOR_LOAD_IN_PROGRESS` asks the same one again, each after a backoff step
//! (`crate::backoff`), until `request.timeout.ms`. Other errors come back at once as
//! `ClientError::Kafka` with the broker's code.
//!
//! Member assignments are the consumer protocol's bytes (`consumer::protocol::Assignment`); bytes
//! that do not decode are shown as an empty assignment with one warning, so one odd member does
//! not hide the rest of the group.

use std::collections::BTreeMap;
use std::future::Future;

use brook_proto::ErrorCode;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::{
    DeleteGroupsRequest, DescribeGroupsRequest, DescribedGroup, DescribedGroupMember,
    FindCoordinatorRequest, ListGroupsRequest, OffsetFetchRequest,
};
use tokio::time::Instant;
use tonic::transport::Channel;
use tracing::{debug, info, warn};

use super::Admin;
use crate::backoff::Retrier;
use crate::consumer::protocol::{Assignment, CONSUMER_PROTOCOL_TYPE};
use crate::consumer::{CommitIdentity, check_offset_commit, offset_commit_request};
use crate::error::{ClientError, Result, check};
use crate::rpc;
use crate::topic_partition::TopicPartition;

/// One group as ListGroups reports it (Kafka's `ConsumerGroupListing`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The group's protocol type: `consumer`, or empty for a group that only has committed
    /// offsets (assign-mode consumers, admin tools).
    pub protocol_type: String,
    /// `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable` or `Dead`.
    pub state: String,
}

/// One group as its coordinator describes it (Kafka's `ConsumerGroupDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`, or `Dead` for a group
    /// the coordinator does not know.
    pub state: String,
    /// The group's protocol type (`consumer`; empty when the group has no members).
    pub protocol_type: String,
    /// The chosen protocol, for consumers the assignor (`range`, `cooperative-sticky`, …);
    /// empty unless the group has members.
    pub protocol: String,
    /// The current generation.
    pub generation_id: i32,
    /// The member id of the group's leader (empty without members).
    pub leader: String,
    /// The node id of the group's coordinator (the broker that answered).
    pub coordinator: i32,
    /// The members, in the coordinator's order.
    pub members: Vec<MemberDescription>,
}

/// One member of a group (Kafka's `MemberDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it (`{client_id}-{uuid}`).
    pub member_id: String,
    /// Its `group.instance.id` when it is a static member.
    pub group_instance_id: Option<String>,
    /// Its `client.id`.
    pub client_id: String,
    /// The host it connected from, as Kafka prints it (`/127.0.0.1`).
    pub host: String,
    /// The partitions the leader assigned it (empty if the assignment bytes are not the
    /// consumer protocol's).
    pub assignment: Vec<TopicPartition>,
}

/// Where a group's coordinator is.
#[derive(Debug, Clone)]
struct CoordinatorNode {
    node_id: i32,
    addr: String,
}

/// Errors after which a group call is tried again (until the deadline).
fn retry_at_coordinator(e: &ClientError) -> bool {
    matches!(e, ClientError::Transport(_))
        || matches!(
            e.code(),
            Some(
                ErrorCode::NotCoordinator
                    | ErrorCode::CoordinatorNotAvailable
                    | ErrorCode::CoordinatorLoadInProgress
                    | ErrorCode::RequestTimedOut
            )
        )
}

/// Errors after which the coordinator is looked up again before the retry (a coordinator that
/// is still loading the group stays the one to ask).
fn forget_coordinator(e: &ClientError) -> bool {
    e.code() != Some(ErrorCode::CoordinatorLoadInProgress)
}

impl Admin {
    /// Every consumer group of the cluster (Kafka's `listConsumerGroups`): ListGroups to each
    /// broker, answers merged and sorted by group id. Groups of other protocol types are left
    /// out; groups with an empty protocol type (only committed offsets) are listed, as Kafka
    /// does. A broker that keeps failing until `request.timeout.ms` fails the whole call.
    pub async fn list_consumer_groups(&self) -> Result<Vec<GroupListing>> {
        self.metadata.refresh().await?;
        let snap = self.metadata.snapshot();
        let mut brokers: Vec<_> = snap.brokers.values().cloned().collect();
        brokers.sort_by_key(|b| b.node_id);
        let mut merged: BTreeMap<String, GroupListing> = BTreeMap::new();
        for broker in brokers {
            let addr = broker.addr();
            let timeout = self.config.request_timeout;
            let resp = self
                .retrying(&format!("ListGroups to broker {}", broker.node_id), || {
                    let addr = addr.clone();
                    async move {
                        let mut c = rpc::brook(self.metadata.channels(), &addr)?;
                        let req = ListGroupsRequest {
                            states_filter: Vec::new(),
                        };
                        let r = rpc::call(timeout, c.list_groups(req)).await?;
                        check(
                            r.error_code,
                            "",
                            &format!("ListGroups at broker {}", broker.node_id),
                        )?;
                        Ok(r)
                    }
                })
                .await?;
            for g in resp.groups {
                if g.protocol_type != CONSUMER_PROTOCOL_TYPE && !g.protocol_type.is_empty() {
                    continue;
                }
                // A group moving between coordinators may be listed twice; one entry is kept.
                merged.entry(g.group_id.clone()).or_insert(GroupListing {
                    group_id: g.group_id,
                    protocol_type: g.protocol_type,
                    state: g.group_state,
                });
            }
        }
        Ok(merged.into_values().collect())
    }

    /// Describes each group at its coordinator (Kafka's `describeConsumerGroups`), in the order
    /// asked. A group the coordinator does not know comes back in state `Dead` (or, if the
    /// broker says so, as a `GROUP_ID_NOT_FOUND` error); any group's error fails the call.
    pub async fn describe_consumer_groups(
        &self,
        groups: &[String],
    ) -> Result<Vec<GroupDescription>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let timeout = self.config.request_timeout;
            let described = self
                .at_coordinator(group, "DescribeGroups", |mut c, node_id| async move {
                    let req = DescribeGroupsRequest {
                        groups: vec![group.clone()],
                    };
                    let resp = rpc::call(timeout, c.describe_groups(req)).await?;
                    let g = resp
                        .groups
                        .into_iter()
                        .find(|g| &g.group_id == group)
                        .ok_or_else(|| missing("DescribeGroups", group))?;
                    check(
                        g.error_code,
                        &g.error_message,
                        &format!("describe group {group}"),
                    )?;
                    Ok((g, node_id))
                })
                .await?;
            out.push(description(described.0, described.1));
        }
        Ok(out)
    }

    /// Deletes groups (Kafka's `deleteConsumerGroups`), each at its coordinator, with their
    /// committed offsets. One result per group, in the order asked: `NON_EMPTY_GROUP` while it
    /// has members, `GROUP_ID_NOT_FOUND` when it does not exist. The outer result is always
    /// `Ok`: a group whose coordinator cannot be reached gets that error as its result.
    pub async fn delete_consumer_groups(
        &self,
        groups: &[String],
    ) -> Result<Vec<(String, Result<()>)>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let timeout = self.config.request_timeout;
            let r = self
                .at_coordinator(group, "DeleteGroups", |mut c, _| async move {
                    let req = DeleteGroupsRequest {
                        groups: vec![group.clone()],
                    };
                    let resp = rpc::call(timeout, c.delete_groups(req)).await?;
                    let r = resp
                        .results
                        .into_iter()
                        .find(|r| &r.group_id == group)
                        .ok_or_else(|| missing("DeleteGroups", group))?;
                    check(
                        r.error_code,
                        &r.error_message,
                        &format!("delete group {group}"),
                    )
                })
                .await;
            out.push((group.clone(), r));
        }
        Ok(out)
    }

    /// The group's committed offsets (Kafka's `listConsumerGroupOffsets`): every partition it
    /// committed, with the committed offset (the next one to read). Partitions without a
    /// commit are absent; a group without any commit gives an empty map.
    pub async fn list_consumer_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let timeout = self.config.request_timeout;
        self.at_coordinator(group, "OffsetFetch", |mut c, _| async move {
            let req = OffsetFetchRequest {
                group_id: group.to_string(),
                topics: Vec::new(),
            };
            let resp = rpc::call(timeout, c.offset_fetch(req)).await?;
            check(
                resp.error_code,
                "",
                &format!("OffsetFetch for group {group}"),
            )?;
            let mut out = BTreeMap::new();
            for t in resp.topics {
                for p in t.partitions {
                    let ctx = format!("OffsetFetch {}-{} for group {group}", t.name, p.partition);
                    check(p.error_code, &p.metadata, &ctx)?;
                    if p.committed_offset >= 0 {
                        out.insert(
                            TopicPartition::new(t.name.clone(), p.partition),
                            p.committed_offset,
                        );
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Commits `offsets` for the group from outside it (Kafka's `alterConsumerGroupOffsets`):
    /// generation -1 and no member id, which the coordinator accepts only while the group has
    /// no members (it refuses with a Kafka code otherwise). The first partition's error, if
    /// any, is returned.
    pub async fn alter_consumer_group_offsets(
        &self,
        group: &str,
        offsets: BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let req = offset_commit_request(group, &CommitIdentity::outside_group(), &offsets);
        let timeout = self.config.request_timeout;
        self.at_coordinator(group, "OffsetCommit", |mut c, _| {
            let req = req.clone();
            async move {
                let resp = rpc::call(timeout, c.offset_commit(req)).await?;
                check_offset_commit(resp, &format!(" for group {group}"))
            }
        })
        .await
    }

    /// One FindCoordinator round: any broker that answers decides (brokers in turn on
    /// transport errors).
    async fn find_coordinator(&self, group: &str) -> Result<CoordinatorNode> {
        let mut last = None;
        for addr in self.metadata.candidate_addrs() {
            let mut client = rpc::brook(self.metadata.channels(), &addr)?;
            let req = FindCoordinatorRequest {
                key: group.to_string(),
            };
            match rpc::call(self.config.request_timeout, client.find_coordinator(req)).await {
                Ok(r) => {
                    check(
                        r.error_code,
                        &r.error_message,
                        &format!("FindCoordinator for group {group}"),
                    )?;
                    let found = CoordinatorNode {
                        node_id: r.node_id,
                        addr: format!("{}:{}", r.host, r.port),
                    };
                    debug!(group, coordinator = %found.addr, node = found.node_id, "coordinator found");
                    return Ok(found);
                }
                Err(e @ ClientError::Transport(_)) => {
                    debug!(addr, error = %e, "FindCoordinator: broker unreachable; trying the next");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Transport("no broker to ask".into())))
    }

    /// Runs `op` at the group's coordinator (a client to it and its node id), retrying per the
    /// module docs until `request.timeout.ms`: a retry whose wait would end past the deadline
    /// is not made, the last error is returned instead.
    pub(super) async fn at_coordinator<T, F, Fut>(
        &self,
        group: &str,
        what: &str,
        op: F,
    ) -> Result<T>
    where
        F: Fn(BrookClient<Channel>, i32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.config.request_timeout;
        let mut retry = Retrier::new(self.config.backoff());
        let mut known: Option<CoordinatorNode> = None;
        loop {
            let result = match known.clone() {
                Some(c) => Ok(c),
                None => self.find_coordinator(group).await,
            };
            let result = match result {
                Ok(c) => {
                    known = Some(c.clone());
                    match rpc::brook(self.metadata.channels(), &c.addr) {
                        Ok(client) => op(client, c.node_id).await,
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) if retry_at_coordinator(&e) => e,
                Err(e) => return Err(e),
            };
            if forget_coordinator(&e) {
                known = None;
            }
            let now = Instant::now();
            let step = retry.failed(now);
            if now + step.delay >= deadline {
                return Err(e);
            }
            if step.log {
                info!(group, error = %e, "{what} failed; retrying in {} ms (attempt {})",
                    step.delay_ms(), step.attempt);
            }
            tokio::time::sleep(step.delay).await;
        }
    }

    /// Runs `op` (one RPC to a fixed broker), retrying retriable errors with backoff until
    /// `request.timeout.ms`.
    async fn retrying<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.config.request_timeout;
        let mut retry = Retrier::new(self.config.backoff());
        loop {
            let e = match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retriable() => e,
                Err(e) => return Err(e),
            };
            let now = Instant::now();
            let step = retry.failed(now);
            if now + step.delay >= deadline {
                return Err(e);
            }
            if step.log {
                info!(error = %e, "{what} failed; retrying in {} ms (attempt {})",
                    step.delay_ms(), step.attempt);
            }
            tokio::time::sleep(step.delay).await;
        }
    }
}

/// A DescribeGroups entry as a [`GroupDescription`], assignments decoded.
fn description(g: DescribedGroup, coordinator: i32) -> GroupDescription {
    let members = g
        .members
        .into_iter()
        .map(|m| member(&g.group_id, &g.protocol_type, m))
        .collect();
    GroupDescription {
        group_id: g.group_id,
        state: g.group_state,
        protocol_type: g.protocol_type,
        protocol: g.protocol_data,
        generation_id: g.generation_id,
        leader: g.leader,
        coordinator,
        members,
    }
}

/// One member; its assignment decoded when the group speaks the consumer protocol (other
/// protocol types' bytes mean something else: no partitions are shown for them).
fn member(group: &str, protocol_type: &str, m: DescribedGroupMember) -> MemberDescription {
    let assignment = if protocol_type == CONSUMER_PROTOCOL_TYPE || protocol_type.is_empty() {
        match Assignment::decode(&m.member_assignment) {
            Ok(a) => a.partitions,
            Err(e) => {
                warn!(group, member = %m.member_id, error = %e,
                    "member assignment is not the consumer protocol's; shown as empty");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    MemberDescription {
        member_id: m.member_id,
        group_instance_id: Some(m.group_instance_id).filter(|s| !s.is_empty()),
        client_id: m.client_id,
        host: m.client_host,
        assignment,
    }
}

fn missing(what: &str, group: &str) -> ClientError {
    ClientError::kafka(
        ErrorCode::UnknownServerError,
        format!("{what}: the response has no result for group {group}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn described(protocol_type: &str, assignment: Bytes) -> DescribedGroup {
        DescribedGroup {
            error_code: 0,
            error_message: String::new(),
            group_id: "g".into(),
            group_state: "Stable".into(),
            protocol_type: protocol_type.into(),
            protocol_data: "range".into(),
            members: vec![DescribedGroupMember {
                member_id: "c-1".into(),
                group_instance_id: String::new(),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                member_metadata: Bytes::new(),
                member_assignment: assignment,
            }],
            generation_id: 3,
            leader: "c-1".into(),
        }
    }

    #[test]
    fn member_assignments_are_decoded_with_the_consumer_protocol() {
        let bytes = Assignment {
            partitions: vec![TopicPartition::new("t", 1), TopicPartition::new("t", 0)],
            user_data: None,
        }
        .encode();
        let d = description(described("consumer", bytes), 2);
        assert_eq!(d.coordinator, 2);
        assert_eq!(d.protocol, "range");
        assert_eq!(d.generation_id, 3);
        let m = &d.members[0];
        assert_eq!(m.group_instance_id, None);
        assert_eq!(
            m.assignment,
            vec![TopicPartition::new("t", 0), TopicPartition::new("t", 1)]
        );
    }

    #[test]
    fn undecodable_assignment_bytes_are_an_empty_assignment_not_an_error() {
        let d = description(described("consumer", Bytes::from_static(&[0xff])), 1);
        assert_eq!(d.members.len(), 1);
        assert!(d.members[0].assignment.is_empty());
        assert_eq!(d.members[0].member_id, "c-1");
    }

    #[test]
    fn other_protocol_types_show_no_partitions() {
        let bytes = Assignment {
            partitions: vec![TopicPartition::new("t", 0)],
            user_data: None,
        }
        .encode();
        let d = description(described("connect", bytes), 1);
        assert!(d.members[0].assignment.is_empty());
    }

    #[test]
    fn which_errors_are_retried_and_which_look_the_coordinator_up_again() {
        let code = |c| ClientError::kafka(c, "x");
        assert!(retry_at_coordinator(&code(ErrorCode::NotCoordinator)));
        assert!(retry_at_coordinator(&code(
            ErrorCode::CoordinatorNotAvailable
        )));
        assert!(retry_at_coordinator(&code(
            ErrorCode::CoordinatorLoadInProgress
        )));
        assert!(retry_at_coordinator(&ClientError::Transport("down".into())));
        assert!(!retry_at_coordinator(&code(ErrorCode::NonEmptyGroup)));
        assert!(!retry_at_coordinator(&code(ErrorCode::GroupIdNotFound)));
        // A commit refused because the group has members is final, not retried.
        assert!(!retry_at_coordinator(&code(ErrorCode::UnknownMemberId)));
        assert!(!retry_at_coordinator(&code(ErrorCode::RebalanceInProgress)));
        assert!(forget_coordinator(&code(ErrorCode::NotCoordinator)));
        assert!(!forget_coordinator(&code(
            ErrorCode::CoordinatorLoadInProgress
        )));
    }
}
