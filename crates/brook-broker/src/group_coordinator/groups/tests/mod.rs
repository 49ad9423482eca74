//! Unit tests of the group state machine with an injected clock: a [`Sim`] drives one
//! [`Groups`] table, keeps the answers it produced per ticket and the persists it asked for, and
//! moves time by hand.
//!
//! ```text
//! basic.rs           joins, MEMBER_ID_REQUIRED, protocol vote, initial delay, sync and persist
//! rebalance.rs       rebalances: new members, timeouts, sessions, leave, the sync phase
//! static_members.rs  KIP-345: instance ids, fencing, rejoin without a rebalance
//! bad_input.rs       every named error, each leaving the group as it was
//! views.rs           OffsetCommit verdicts, describe / list / delete, load / unload, deadlines
//! ```

mod bad_input;
mod basic;
mod rebalance;
mod static_members;
mod views;

use std::collections::BTreeMap;

use brook_proto::ErrorCode;
use bytes::Bytes;

use super::*;

/// The group every test uses, and the partition count (its partition is loaded).
const G: &str = "g";
const PARTITIONS: i32 = 4;
/// Session and rebalance timeouts of [`Sim::request`].
const SESSION: i32 = 1000;
const REBALANCE: i32 = 5000;

fn config(initial_delay_ms: i32) -> GroupConfig {
    GroupConfig {
        min_session_timeout_ms: 100,
        max_session_timeout_ms: 60_000,
        initial_rebalance_delay_ms: initial_delay_ms,
        max_size: 100,
        max_metadata_bytes: 1000,
        offsets_partitions: PARTITIONS,
    }
}

/// What "the group is unharmed" compares: state, generation, members with their protocols and
/// assignments, leader, protocol.
type View = (
    GroupState,
    i32,
    Vec<(String, Vec<Protocol>, Bytes)>,
    Option<String>,
    Option<String>,
);

struct Sim {
    g: Groups,
    now: i64,
    next_ticket: Ticket,
    joins: BTreeMap<Ticket, JoinResult>,
    syncs: BTreeMap<Ticket, SyncResult>,
    persists: Vec<PersistRequest>,
}

impl Sim {
    /// Every partition loaded, initial rebalance delay 0, the clock at a large value.
    fn new() -> Sim {
        Sim::with(config(0))
    }

    fn with(config: GroupConfig) -> Sim {
        let mut g = Groups::new(config, 42);
        for p in 0..PARTITIONS {
            assert!(g.begin_load(p, 1).is_empty());
            g.finish_load(p, 1, BTreeMap::new(), [], 0);
        }
        Sim {
            g,
            now: 1_000_000,
            next_ticket: 0,
            joins: BTreeMap::new(),
            syncs: BTreeMap::new(),
            persists: Vec::new(),
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Join(t, r) => {
                    assert!(
                        self.joins.insert(t, r).is_none(),
                        "ticket {t} answered twice"
                    );
                }
                Effect::Sync(t, r) => {
                    assert!(
                        self.syncs.insert(t, r).is_none(),
                        "ticket {t} answered twice"
                    );
                }
                Effect::Persist(p) => self.persists.push(p),
            }
        }
    }

    fn ticket(&mut self) -> Ticket {
        self.next_ticket += 1;
        self.next_ticket
    }

    /// A JoinGroup of `client` to [`G`] with protocols range then roundrobin.
    fn request(member_id: &str, client: &str) -> JoinRequest {
        JoinRequest {
            group_id: G.into(),
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: client.into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION,
            rebalance_timeout_ms: REBALANCE,
            protocol_type: "consumer".into(),
            protocols: vec![
                protocol("range", &format!("r-{client}")),
                protocol("roundrobin", &format!("rr-{client}")),
            ],
        }
    }

    fn join(&mut self, req: JoinRequest) -> Ticket {
        let t = self.ticket();
        let e = self.g.join(t, req, self.now);
        self.apply(e);
        t
    }

    /// The answer to a join, if it came (taken).
    fn joined(&mut self, t: Ticket) -> Option<JoinResult> {
        self.joins.remove(&t)
    }

    /// The first join of a dynamic member: MEMBER_ID_REQUIRED and the id to use.
    fn new_id(&mut self, client: &str) -> String {
        let t = self.join(Sim::request("", client));
        let r = self.joined(t).expect("MEMBER_ID_REQUIRED comes at once");
        assert_eq!(r.error, ErrorCode::MemberIdRequired, "{r:?}");
        r.member_id
    }

    fn sync(&mut self, member: &str, generation: i32, assignments: &[(&str, &str)]) -> Ticket {
        let t = self.ticket();
        let req = SyncRequest {
            group_id: G.into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: self.instance_of(member),
            protocol_type: Some("consumer".into()),
            protocol_name: None,
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                .collect(),
        };
        let e = self.g.sync(t, req, self.now);
        self.apply(e);
        t
    }

    fn synced(&mut self, t: Ticket) -> Option<SyncResult> {
        self.syncs.remove(&t)
    }

    fn instance_of(&self, member: &str) -> Option<String> {
        self.group()
            .and_then(|g| g.members.get(member))
            .and_then(|m| m.group_instance_id.clone())
    }

    /// Reports every persist asked for as stored.
    fn persist_ok(&mut self) -> usize {
        let ps = std::mem::take(&mut self.persists);
        for p in &ps {
            let e = self.g.persisted(p.id, Ok(()), self.now);
            self.apply(e);
        }
        ps.len()
    }

    fn advance(&mut self, ms: i64) {
        self.now += ms;
        let e = self.g.tick(self.now);
        self.apply(e);
    }

    fn heartbeat(&mut self, member: &str, generation: i32) -> ErrorCode {
        let instance = self.instance_of(member);
        let (code, e) = self
            .g
            .heartbeat(G, generation, member, instance.as_deref(), self.now);
        self.apply(e);
        code
    }

    fn leave(&mut self, member: &str) -> Result<Vec<ErrorCode>, ErrorCode> {
        let l = LeavingMember {
            member_id: member.into(),
            group_instance_id: self.instance_of(member),
        };
        let (r, e) = self.g.leave(G, &[l], self.now);
        self.apply(e);
        r
    }

    fn group(&self) -> Option<&Group> {
        self.g.group(G)
    }

    fn state(&self) -> GroupState {
        self.group().map_or(GroupState::Dead, |g| g.state)
    }

    fn generation(&self) -> i32 {
        self.group().map_or(-1, |g| g.generation)
    }

    fn view(&self) -> Option<View> {
        self.group().map(|g| {
            (
                g.state,
                g.generation,
                g.members
                    .values()
                    .map(|m| {
                        (
                            m.member_id.clone(),
                            m.protocols.clone(),
                            m.assignment.clone(),
                        )
                    })
                    .collect(),
                g.leader.clone(),
                g.protocol.clone(),
            )
        })
    }

    /// A Stable group of `clients` (dynamic), formed in one generation with the initial delay
    /// (the Sim's config must have one); assignment of member i is `a-<client>`. Returns the
    /// member ids in `clients`' order.
    fn form(&mut self, clients: &[&str]) -> Vec<String> {
        let ids: Vec<String> = clients.iter().map(|c| self.new_id(c)).collect();
        let tickets: Vec<Ticket> = ids
            .iter()
            .zip(clients)
            .map(|(id, c)| self.join(Sim::request(id, c)))
            .collect();
        let delay = i64::from(self.g.config().initial_rebalance_delay_ms);
        for _ in 0..10 {
            if tickets.iter().all(|t| self.joins.contains_key(t)) {
                break;
            }
            self.advance(delay.max(1));
        }
        let answers: Vec<JoinResult> = tickets.iter().map(|t| self.joined(*t).unwrap()).collect();
        let generation = answers[0].generation_id;
        for a in &answers {
            assert_eq!(a.error, ErrorCode::None, "{a:?}");
            assert_eq!(a.generation_id, generation);
        }
        self.settle_sync(&ids, clients, generation);
        ids
    }

    /// Everyone syncs (the leader with `a-<client>` for each), the record is stored.
    fn settle_sync(&mut self, ids: &[String], clients: &[&str], generation: i32) {
        let leader = self.group().unwrap().leader.clone().unwrap();
        let assignments: Vec<(String, String)> = ids
            .iter()
            .zip(clients)
            .map(|(id, c)| (id.clone(), format!("a-{c}")))
            .collect();
        let refs: Vec<(&str, &str)> = assignments
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let tickets: Vec<Ticket> = ids
            .iter()
            .map(|id| {
                let given = if *id == leader { refs.as_slice() } else { &[] };
                self.sync(id, generation, given)
            })
            .collect();
        assert_eq!(
            self.persist_ok(),
            1,
            "the leader's assignment is stored once"
        );
        for t in tickets {
            let r = self.synced(t).unwrap();
            assert_eq!(r.error, ErrorCode::None, "{r:?}");
        }
        assert_eq!(self.state(), GroupState::Stable);
    }
}

fn protocol(name: &str, metadata: &str) -> Protocol {
    Protocol {
        name: name.into(),
        metadata: Bytes::from(metadata.to_string()),
    }
}
