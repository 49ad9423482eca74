//! Controller state-machine tests: pure, no sockets, no clock. A small harness plays the I/O
//! shell: it stamps the records a method returns, keeps them as "the log" and replays them, so
//! every test also exercises the append-then-replay protocol.

use std::collections::{BTreeMap, BTreeSet};

use brook_proto::ErrorCode;
use brook_proto::v1::metadata_record::Record;
use brook_proto::v1::{
    AlterPartitionData, AlterPartitionRequest, AlterPartitionResult, AlterPartitionTopic,
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, ConfigResourceType, ElectionType,
    MetadataRecord, PartitionChangeRecord, PartitionRecord, RegisterBrokerRequest, TopicPartitions,
    TopicRecord,
};
use proptest::prelude::*;

use super::{Controller, ControllerConfig, UNCLEAN_KEY};
use crate::metadata::{NO_LEADER, PartitionMeta};
use crate::topic::NewTopic;

const TIMEOUT: i64 = 9000;

pub(super) struct Harness {
    c: Controller,
    log: Vec<MetadataRecord>,
    /// Current epoch of each registered broker.
    epochs: BTreeMap<i32, i64>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_config(ControllerConfig {
            session_timeout_ms: TIMEOUT,
            ..ControllerConfig::default()
        })
    }

    fn with_config(config: ControllerConfig) -> Harness {
        Harness {
            c: Controller::new(config),
            log: Vec::new(),
            epochs: BTreeMap::new(),
        }
    }

    /// Appends and replays, as the I/O shell will.
    fn commit(&mut self, records: Vec<Record>) -> Vec<MetadataRecord> {
        let stamped = self.c.stamp(records);
        for r in &stamped {
            self.c.replay(r);
            self.log.push(r.clone());
        }
        stamped
    }

    fn register(&mut self, id: i32, rack: &str, now: i64) -> i64 {
        let req = RegisterBrokerRequest {
            node_id: id,
            incarnation_id: format!("inc-{id}-{now}"),
            host: "127.0.0.1".into(),
            port: 9000 + id,
            rack: rack.into(),
        };
        let (records, epoch) = self.c.register_broker(&req, now).unwrap();
        let stamped = self.commit(records);
        assert_eq!(
            stamped[0].offset, epoch,
            "epoch = offset of the registration"
        );
        self.epochs.insert(id, epoch);
        epoch
    }

    /// A heartbeat from a broker that has applied the whole log.
    fn heartbeat(&mut self, id: i32, now: i64) -> BrokerHeartbeatResponse {
        self.heartbeat_with(id, now, |_| {})
    }

    fn heartbeat_with(
        &mut self,
        id: i32,
        now: i64,
        f: impl FnOnce(&mut BrokerHeartbeatRequest),
    ) -> BrokerHeartbeatResponse {
        let mut req = BrokerHeartbeatRequest {
            node_id: id,
            broker_epoch: self.epochs[&id],
            metadata_offset: self.c.image().next_offset - 1,
            want_fence: false,
            want_shutdown: false,
        };
        f(&mut req);
        let (records, resp) = self.c.heartbeat(&req, now);
        let n = records.len() as i64;
        let before = self.c.image().next_offset;
        self.commit(records);
        assert_eq!(resp.metadata_end_offset, before + n);
        resp
    }

    /// Registers and unfences brokers `(id, rack)` at time `now`.
    fn brokers(&mut self, spec: &[(i32, &str)], now: i64) {
        for &(id, rack) in spec {
            self.register(id, rack, now);
        }
        for &(id, _) in spec {
            assert!(!self.heartbeat(id, now).is_fenced);
        }
    }

    fn tick(&mut self, now: i64) -> Vec<MetadataRecord> {
        let records = self.c.tick(now);
        self.commit(records)
    }

    /// A topic with explicit replica lists (leader = first, ISR = all).
    fn topic(&mut self, name: &str, assignment: &[&[i32]], configs: &[(&str, &str)]) {
        let mut records = vec![Record::Topic(TopicRecord {
            name: name.into(),
            topic_id: name.into(),
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            is_internal: false,
        })];
        for (i, replicas) in assignment.iter().enumerate() {
            records.push(Record::Partition(PartitionRecord {
                topic: name.into(),
                partition: i as i32,
                replicas: replicas.to_vec(),
                isr: replicas.to_vec(),
                leader: replicas[0],
                leader_epoch: 0,
                partition_epoch: 0,
            }));
        }
        self.commit(records);
    }

    fn create(&mut self, name: &str, partitions: i32, rf: i32) -> Result<(), (ErrorCode, String)> {
        let t = NewTopic {
            name: name.into(),
            partitions,
            replication_factor: rf,
            configs: BTreeMap::new(),
            assignments: Vec::new(),
        };
        let records = self.c.create_topic(&t, false)?;
        self.commit(records);
        Ok(())
    }

    fn part(&self, topic: &str, p: i32) -> PartitionMeta {
        self.c.image().partition(topic, p).unwrap().clone()
    }

    fn alter(
        &mut self,
        node: i32,
        topic: &str,
        p: i32,
        f: impl FnOnce(&mut AlterPartitionData),
    ) -> AlterPartitionResult {
        let cur = self.part(topic, p);
        let mut d = AlterPartitionData {
            partition: p,
            leader_epoch: cur.leader_epoch,
            partition_epoch: cur.partition_epoch,
            new_isr: cur.isr.clone(),
        };
        f(&mut d);
        let req = AlterPartitionRequest {
            node_id: node,
            broker_epoch: self.epochs[&node],
            topics: vec![AlterPartitionTopic {
                name: topic.into(),
                partitions: vec![d],
            }],
        };
        let (records, resp) = self.c.alter_partition(&req);
        self.commit(records);
        assert_eq!(resp.error_code, 0);
        resp.topics[0].partitions[0].clone()
    }

    fn elect(&mut self, ty: ElectionType, topic: &str, p: i32) -> ErrorCode {
        let (records, resp) = self.c.elect_leaders(
            ty,
            &[TopicPartitions {
                name: topic.into(),
                partitions: vec![p],
            }],
        );
        self.commit(records);
        ErrorCode::from_wire(resp.topics[0].partitions[0].error_code)
    }

    fn set_topic_config(&mut self, topic: &str, key: &str, value: &str) {
        let set = BTreeMap::from([(key.to_string(), value.to_string())]);
        let records = self
            .c
            .alter_configs(ConfigResourceType::ConfigResourceTopic, topic, &set, &[])
            .unwrap();
        self.commit(records);
    }

    /// A controller restarted from this log at `now`.
    fn restart(&mut self, now: i64) {
        let mut c = Controller::from_records(self.c.config().clone(), &self.log);
        c.start(now);
        assert_eq!(c.image(), self.c.image());
        self.c = c;
    }

    fn changes(records: &[MetadataRecord]) -> Vec<PartitionChangeRecord> {
        records
            .iter()
            .filter_map(|r| match &r.record {
                Some(Record::PartitionChange(c)) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    fn fenced(&self, id: i32) -> bool {
        self.c.image().brokers[&id].fenced
    }

    /// Invariants that must hold after every committed step.
    fn check_invariants(&self) {
        let live = self.c.live_brokers();
        for t in self.c.image().topics.values() {
            for p in &t.partitions {
                assert!(!p.isr.is_empty(), "{}: ISR empty: {p:?}", t.name);
                assert!(p.isr.iter().all(|r| p.replicas.contains(r)), "{p:?}");
                if p.leader != NO_LEADER {
                    assert!(p.isr.contains(&p.leader), "leader outside ISR: {p:?}");
                    assert!(live.contains(&p.leader), "leader not live: {p:?}");
                }
            }
        }
    }
}

#[test]
fn replay_is_deterministic() {
    let mut h = Harness::new();
    h.brokers(&[(1, "a"), (2, "b"), (3, "c")], 0);
    h.create("orders", 6, 3).unwrap();
    h.heartbeat(2, 5000);
    h.heartbeat(3, 5000);
    h.tick(9500); // fences 1
    // Accepted or not (depends on who leads partition 0), the same either way.
    h.alter(2, "orders", 0, |d| d.new_isr.retain(|&r| r != 3));
    let a = Controller::from_records(h.c.config().clone(), &h.log);
    let b = Controller::from_records(h.c.config().clone(), &h.log);
    assert_eq!(a, b, "same records, same controller");
    assert_eq!(
        a.image(),
        h.c.image(),
        "the writer's state is the replay of its log"
    );
    // The same operations on a fresh harness write the same records.
    let mut h2 = Harness::new();
    h2.brokers(&[(1, "a"), (2, "b"), (3, "c")], 0);
    h2.create("orders", 6, 3).unwrap();
    h2.heartbeat(2, 5000);
    h2.heartbeat(3, 5000);
    h2.tick(9500);
    h2.alter(2, "orders", 0, |d| d.new_isr.retain(|&r| r != 3));
    assert_eq!(h2.log, h.log);
}

#[test]
fn registration_epochs_are_offsets_and_fencing_until_caught_up() {
    let mut h = Harness::new();
    let e1 = h.register(1, "", 0);
    let e2 = h.register(2, "", 0);
    assert!(e2 > e1);
    assert!(
        h.fenced(1) && h.fenced(2),
        "registered brokers start fenced"
    );
    // Behind the log (has not applied its own registration): stays fenced.
    let r = h.heartbeat_with(2, 10, |q| q.metadata_offset = e2 - 1);
    assert!(r.is_fenced && h.fenced(2));
    let r = h.heartbeat_with(2, 10, |q| q.metadata_offset = e2);
    assert!(!r.is_fenced && !h.fenced(2));
    // Re-registration (new incarnation): new, larger epoch; fenced until its first heartbeat;
    // the old epoch is stale.
    let old = h.epochs[&2];
    let e2b = h.register(2, "", 20);
    assert!(e2b > old);
    assert!(h.fenced(2));
    let (recs, r) = h.c.heartbeat(
        &BrokerHeartbeatRequest {
            node_id: 2,
            broker_epoch: old,
            metadata_offset: 1000,
            ..Default::default()
        },
        30,
    );
    assert!(recs.is_empty());
    assert_eq!(r.error_code, ErrorCode::StaleBrokerEpoch as i32);
    assert!(!h.heartbeat(2, 30).is_fenced);
    // Unknown broker → STALE_BROKER_EPOCH too (register first).
    let (_, r) = h.c.heartbeat(
        &BrokerHeartbeatRequest {
            node_id: 9,
            broker_epoch: 0,
            ..Default::default()
        },
        30,
    );
    assert_eq!(r.error_code, ErrorCode::StaleBrokerEpoch as i32);
    // Bad requests.
    let bad = RegisterBrokerRequest {
        node_id: -1,
        host: "h".into(),
        port: 1,
        ..Default::default()
    };
    assert_eq!(h.c.register_broker(&bad, 0), Err(ErrorCode::InvalidRequest));
}

#[test]
fn session_expiry_fences_after_timeout_and_moves_leadership_in_assignment_order() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, ""), (4, "")], 0);
    h.topic("t", &[&[1, 3, 2], &[2, 1, 3], &[4, 2, 3]], &[]);
    h.heartbeat(2, 1000);
    h.heartbeat(3, 1000);
    h.heartbeat(4, 1000);
    // Broker 1 last heard at 0: at exactly the timeout it is still in time.
    assert!(h.tick(TIMEOUT).is_empty());
    assert!(!h.fenced(1));
    let recs = h.tick(TIMEOUT + 1);
    assert!(h.fenced(1));
    let changes = Harness::changes(&recs);
    assert_eq!(
        changes.len(),
        2,
        "partitions 0 and 1 had broker 1; 2 did not"
    );
    // Partition 0: leader 1 → next ISR member in assignment order = 3 (not 2).
    let p0 = h.part("t", 0);
    assert_eq!((p0.leader, p0.isr.clone()), (3, vec![3, 2]));
    assert_eq!((p0.leader_epoch, p0.partition_epoch), (1, 1));
    // Partition 1: follower 1 leaves the ISR, leader unchanged, no leader-epoch bump.
    let p1 = h.part("t", 1);
    assert_eq!((p1.leader, p1.isr.clone()), (2, vec![2, 3]));
    assert_eq!((p1.leader_epoch, p1.partition_epoch), (0, 1));
    assert_eq!(h.part("t", 2).partition_epoch, 0);
    // The fence comes after the partition changes (KRaft's order).
    assert!(matches!(
        recs.last().unwrap().record,
        Some(Record::FenceBroker(_))
    ));
    // Nothing more to do while nothing changes.
    assert!(h.tick(TIMEOUT + 2).is_empty());
    h.check_invariants();
}

#[test]
fn no_live_isr_member_goes_offline_then_unclean_when_enabled() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, "")], 0);
    h.topic("t", &[&[1, 2, 3]], &[]);
    // The leader shrinks the ISR to itself.
    let r = h.alter(1, "t", 0, |d| d.new_isr = vec![1]);
    assert_eq!(r.error_code, 0);
    h.heartbeat(2, 5000);
    h.heartbeat(3, 5000);
    let recs = h.tick(TIMEOUT + 1);
    let c = &Harness::changes(&recs)[0];
    // Offline, the ISR keeps its last member, the leader epoch is bumped.
    assert_eq!(
        (c.leader, c.isr.clone(), c.unclean),
        (NO_LEADER, vec![1], false)
    );
    assert_eq!((c.leader_epoch, c.partition_epoch), (1, 2));
    // Unclean disabled: stays offline, tick after tick.
    h.heartbeat(2, 10_000);
    h.heartbeat(3, 10_000);
    assert!(h.tick(10_000).is_empty());
    // Enabled on the topic: the next tick elects the first live replica in assignment order.
    h.set_topic_config("t", UNCLEAN_KEY, "true");
    let recs = h.tick(10_001);
    let c = &Harness::changes(&recs)[0];
    assert_eq!((c.leader, c.isr.clone(), c.unclean), (2, vec![2], true));
    assert_eq!((c.leader_epoch, c.partition_epoch), (2, 3));
    h.check_invariants();
}

#[test]
fn unclean_topic_elects_in_the_same_tick_and_controller_default_applies() {
    for (topic_cfg, default, expect_leader) in [
        (Some("true"), false, 3),
        (None, true, 3),
        (Some("false"), true, NO_LEADER),
        (None, false, NO_LEADER),
    ] {
        let mut h = Harness::with_config(ControllerConfig {
            session_timeout_ms: TIMEOUT,
            unclean_leader_election: default,
            ..ControllerConfig::default()
        });
        h.brokers(&[(1, ""), (2, ""), (3, "")], 0);
        let cfg: Vec<(&str, &str)> = topic_cfg.iter().map(|v| (UNCLEAN_KEY, *v)).collect();
        h.topic("t", &[&[1, 2, 3]], &cfg);
        h.alter(1, "t", 0, |d| d.new_isr = vec![1, 2]);
        h.heartbeat(3, 5000);
        h.tick(TIMEOUT + 1); // fences 1 and 2 at once
        let p = h.part("t", 0);
        assert_eq!(p.leader, expect_leader, "{topic_cfg:?} {default}");
        assert!(!p.isr.is_empty());
        if expect_leader == NO_LEADER {
            // Both ISR members went at once: the old leader is the one kept.
            assert_eq!(p.isr, vec![1]);
        } else {
            assert_eq!(p.isr, vec![3]);
        }
        h.check_invariants();
    }
}

#[test]
fn returning_isr_member_is_elected_on_unfence() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, "")], 0);
    h.topic("t", &[&[2, 1]], &[]);
    h.alter(2, "t", 0, |d| d.new_isr = vec![2]);
    h.heartbeat(1, 5000);
    h.tick(TIMEOUT + 1);
    assert_eq!(h.part("t", 0).leader, NO_LEADER);
    // Broker 2 restarts: new epoch, fenced, the ISR still {2}; broker 1 is not eligible.
    h.register(2, "", 10_000);
    h.heartbeat(1, 10_000);
    assert!(h.tick(10_000).is_empty());
    assert_eq!(h.part("t", 0).leader, NO_LEADER);
    // Caught up → unfenced → leads again (clean: it is the ISR).
    assert!(!h.heartbeat(2, 10_001).is_fenced);
    let p = h.part("t", 0);
    assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (2, vec![2], 2));
    h.check_invariants();
}

#[test]
fn re_registration_moves_leadership_away_at_once() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, "")], 0);
    h.topic("t", &[&[1, 2, 3]], &[]);
    h.register(1, "", 100); // restarted process, old session still "alive"
    let p = h.part("t", 0);
    assert_eq!(
        (p.leader, p.isr.clone(), p.leader_epoch),
        (2, vec![2, 3], 1)
    );
    h.check_invariants();
}

#[test]
fn restart_gives_one_session_timeout_of_grace() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, "")], 0);
    h.topic("t", &[&[1, 2, 3]], &[]);
    // The controller is down from t=1000 to t=60_000: nobody's heartbeats arrive.
    h.restart(60_000);
    assert!(h.tick(60_000).is_empty());
    h.heartbeat(2, 65_000);
    h.heartbeat(3, 65_000);
    assert!(
        h.tick(60_000 + TIMEOUT).is_empty(),
        "a full timeout from the restart"
    );
    assert!(!h.fenced(1));
    h.tick(60_000 + TIMEOUT + 1);
    assert!(h.fenced(1) && !h.fenced(2) && !h.fenced(3));
    assert_eq!(h.part("t", 0).leader, 2);
    // A controller that replays but forgets start() still does not fence on its first tick.
    let mut c = Controller::from_records(h.c.config().clone(), &h.log);
    assert!(c.tick(1_000_000).is_empty());
}

#[test]
fn rack_aware_assignment_spans_racks_and_balances_leaders() {
    let mut h = Harness::new();
    h.brokers(
        &[
            (1, "r1"),
            (2, "r1"),
            (3, "r2"),
            (4, "r2"),
            (5, "r3"),
            (6, "r3"),
        ],
        0,
    );
    h.create("orders", 12, 3).unwrap();
    let rack = |id: i32| h.c.image().brokers[&id].rack.clone().unwrap();
    let mut leaders: BTreeMap<i32, usize> = BTreeMap::new();
    let mut replicas: BTreeMap<i32, usize> = BTreeMap::new();
    for i in 0..12 {
        let p = h.part("orders", i);
        let racks: BTreeSet<String> = p.replicas.iter().map(|&r| rack(r)).collect();
        assert_eq!(
            racks.len(),
            3,
            "partition {i} spans every rack: {:?}",
            p.replicas
        );
        assert_eq!(p.isr, p.replicas);
        assert_eq!(
            (p.leader, p.leader_epoch, p.partition_epoch),
            (p.replicas[0], 0, 0)
        );
        *leaders.entry(p.leader).or_default() += 1;
        for r in &p.replicas {
            *replicas.entry(*r).or_default() += 1;
        }
    }
    assert_eq!(leaders.len(), 6, "{leaders:?}");
    assert!(
        leaders.values().all(|&n| n == 2),
        "leaders balanced: {leaders:?}"
    );
    assert!(
        replicas.values().all(|&n| n == 6),
        "replicas balanced: {replicas:?}"
    );
    // Deterministic: a second controller with the same image assigns identically.
    let t = NewTopic {
        name: "other".into(),
        partitions: 5,
        replication_factor: 2,
        configs: BTreeMap::new(),
        assignments: Vec::new(),
    };
    let again = Controller::from_records(h.c.config().clone(), &h.log);
    assert_eq!(h.c.create_topic(&t, false), again.create_topic(&t, false));
}

#[test]
fn create_topic_validation() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, "")], 0);
    h.register(3, "", 0); // registered but fenced: does not count
    let err = |r: Result<(), (ErrorCode, String)>| r.unwrap_err().0;
    assert_eq!(
        err(h.create("t", 1, 3)),
        ErrorCode::InvalidReplicationFactor
    );
    assert_eq!(
        err(h.create("t", 1, 0)),
        ErrorCode::InvalidReplicationFactor
    );
    assert_eq!(err(h.create("t", 0, 1)), ErrorCode::InvalidPartitions);
    assert_eq!(
        err(h.create("t", i32::MAX, 1)),
        ErrorCode::InvalidPartitions
    );
    assert_eq!(
        err(h.create("bad/name", 1, 1)),
        ErrorCode::InvalidTopicException
    );
    assert_eq!(err(h.create("__x", 1, 1)), ErrorCode::InvalidTopicException);
    h.create("t", -1, -1).unwrap(); // defaults: 1 partition, RF 1
    assert_eq!(h.c.image().topics["t"].partitions.len(), 1);
    assert_eq!(err(h.create("t", 1, 1)), ErrorCode::TopicAlreadyExists);
    // Delete, then re-create with a different topic id.
    let id = h.c.image().topics["t"].topic_id.clone();
    let recs = h.c.delete_topic("t").unwrap();
    h.commit(recs);
    assert_eq!(
        h.c.delete_topic("t").unwrap_err().0,
        ErrorCode::UnknownTopicOrPartition
    );
    h.create("t", 2, 2).unwrap();
    assert_ne!(h.c.image().topics["t"].topic_id, id);
    assert!(
        h.c.image().topics["t"]
            .partitions
            .iter()
            .all(|p| p.replicas.len() == 2)
    );
}

#[test]
fn controlled_shutdown_moves_leadership_then_fences() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, "")], 0);
    h.topic("t", &[&[1, 2, 3], &[2, 1, 3], &[1, 3]], &[]);
    h.alter(1, "t", 2, |d| d.new_isr = vec![1]); // 1 is alone in partition 2's ISR
    let behind = h.c.image().next_offset - 1;
    let r = h.heartbeat_with(1, 100, |q| q.want_shutdown = true);
    assert!(r.is_fenced && !r.should_shutdown);
    assert!(h.fenced(1));
    let p0 = h.part("t", 0);
    assert_eq!((p0.leader, p0.isr.clone()), (2, vec![2, 3]));
    let p1 = h.part("t", 1);
    assert_eq!((p1.leader, p1.isr.clone()), (2, vec![2, 3]));
    // Last ISR member: the ISR keeps it, the partition goes offline.
    let p2 = h.part("t", 2);
    assert_eq!((p2.leader, p2.isr.clone()), (NO_LEADER, vec![1]));
    // Not told to exit until it has applied those records.
    let r = h.heartbeat_with(1, 200, |q| {
        q.want_shutdown = true;
        q.metadata_offset = behind;
    });
    assert!(!r.should_shutdown);
    let r = h.heartbeat_with(1, 300, |q| q.want_shutdown = true);
    assert!(r.should_shutdown && r.is_fenced);
    // A broker in controlled shutdown is never unfenced or elected, even by unclean election.
    let r = h.heartbeat(1, 400);
    assert!(r.is_fenced);
    assert_eq!(
        h.elect(ElectionType::ElectionUnclean, "t", 2),
        ErrorCode::None
    );
    assert_eq!(h.part("t", 2).leader, 3);
    h.check_invariants();
}

#[test]
fn producer_id_blocks_never_overlap_across_restarts() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, "")], 0);
    let mut blocks = Vec::new();
    for round in 0..3 {
        for id in [1, 2] {
            let (recs, start, len) = h.c.allocate_producer_ids(id, h.epochs[&id]).unwrap();
            h.commit(recs);
            blocks.push((start, start + i64::from(len)));
        }
        h.restart(round * 100);
    }
    blocks.sort_unstable();
    assert!(blocks.windows(2).all(|w| w[0].1 <= w[1].0), "{blocks:?}");
    assert_eq!(blocks[0].0, 0);
    assert_eq!(
        h.c.allocate_producer_ids(1, h.epochs[&1] + 1).unwrap_err(),
        ErrorCode::StaleBrokerEpoch
    );
    assert_eq!(
        h.c.allocate_producer_ids(9, 0).unwrap_err(),
        ErrorCode::StaleBrokerEpoch
    );
}

#[test]
fn alter_configs_records_and_cluster_wide_unclean_override() {
    let mut h = Harness::new();
    h.brokers(&[(1, "")], 0);
    h.topic("t", &[&[1]], &[]);
    let topic = |h: &Harness| h.c.image().topics["t"].clone();
    assert!(!h.c.unclean_enabled(&topic(&h)));
    let set = BTreeMap::from([(UNCLEAN_KEY.to_string(), "true".to_string())]);
    let recs =
        h.c.alter_configs(ConfigResourceType::ConfigResourceBroker, "", &set, &[])
            .unwrap();
    h.commit(recs);
    assert!(h.c.unclean_enabled(&topic(&h)), "dynamic cluster default");
    h.set_topic_config("t", UNCLEAN_KEY, "false");
    assert!(!h.c.unclean_enabled(&topic(&h)), "topic override wins");
    let recs =
        h.c.alter_configs(
            ConfigResourceType::ConfigResourceTopic,
            "t",
            &BTreeMap::new(),
            &[UNCLEAN_KEY.to_string()],
        )
        .unwrap();
    h.commit(recs);
    assert!(h.c.unclean_enabled(&topic(&h)));
    let e =
        h.c.alter_configs(ConfigResourceType::ConfigResourceTopic, "nope", &set, &[])
            .unwrap_err();
    assert_eq!(e.0, ErrorCode::UnknownTopicOrPartition);
    let e =
        h.c.alter_configs(
            ConfigResourceType::ConfigResourceTopic,
            "t",
            &set,
            &[UNCLEAN_KEY.into()],
        )
        .unwrap_err();
    assert_eq!(e.0, ErrorCode::InvalidRequest);
}

mod elections;
mod random;

#[test]
fn manual_assignment_is_used_as_given_and_validated() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, "")], 0);
    let t = NewTopic {
        name: "m".into(),
        partitions: -1,
        replication_factor: -1,
        configs: BTreeMap::new(),
        assignments: vec![vec![3, 2], vec![2, 3]],
    };
    let records = h.c.create_topic(&t, false).unwrap();
    h.commit(records);
    let p0 = h.c.image().partition("m", 0).unwrap();
    assert_eq!((p0.replicas.clone(), p0.leader), (vec![3, 2], 3));
    assert_eq!(h.c.image().partition("m", 1).unwrap().leader, 2);
    let bad = |assignments: Vec<Vec<i32>>, partitions: i32| NewTopic {
        name: "x".into(),
        partitions,
        replication_factor: -1,
        configs: BTreeMap::new(),
        assignments,
    };
    for (a, n, code) in [
        (vec![vec![1, 1]], -1, ErrorCode::InvalidReplicaAssignment),
        (vec![vec![1, 9]], -1, ErrorCode::InvalidReplicaAssignment),
        (
            vec![vec![1, 2], vec![3]],
            -1,
            ErrorCode::InvalidReplicaAssignment,
        ),
        (vec![vec![1, 2]], 2, ErrorCode::InvalidRequest),
    ] {
        let err = h.c.create_topic(&bad(a.clone(), n), false).unwrap_err();
        assert_eq!(err.0, code, "{a:?}: {err:?}");
    }
}
