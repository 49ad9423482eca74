//! Check-quorum, as KRaft does it: a leader that has not heard from a majority of the voters for
//! one lease (`controller.quorum.election.timeout.ms`) resigns.
//!
//! Why it is needed: openraft's followers reset their election timers on every heartbeat that
//! *arrives*. A leader whose links are slow (a gray failure: every heartbeat arrives, every answer
//! comes back too late) keeps them from ever electing anyone else, although it cannot commit
//! anything and, lacking a majority within its lease, is not the active controller. The cluster
//! would have no controller for as long as the slowness lasts. openraft 0.9 has no "step down"
//! call, so the leader resigns by stopping its heartbeats: the followers then elect a new leader
//! among themselves, and the old one steps down when it hears of the higher term (its heartbeats
//! are switched back on as soon as it is no longer leader).
//!
//! Plain code with time passed in; `controller/host.rs` feeds it the Raft state and the leader's
//! contacts and carries out what it says.

/// What the caller must do after a [`CheckQuorum::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep going as before.
    Nothing,
    /// Resign: stop sending heartbeats.
    StopHeartbeats,
    /// No longer leader after resigning: heartbeats back on (for when it leads again).
    ResumeHeartbeats,
}

/// The resignation state of one voter.
#[derive(Debug, Clone)]
pub struct CheckQuorum {
    lease_ms: i64,
    /// The term this voter currently leads in, and since when it knows it.
    leading: Option<(u64, i64)>,
    resigned: bool,
}

impl CheckQuorum {
    /// A voter that is not leading, with a lease of `lease_ms` (ms;
    /// `controller.quorum.election.timeout.ms`).
    pub fn new(lease_ms: i64) -> CheckQuorum {
        CheckQuorum {
            lease_ms,
            leading: None,
            resigned: false,
        }
    }

    /// One check at `now`: `leader_term` is the term this voter leads in (`None` when it is not
    /// the leader); `majority_heard_at` when a majority of the voters (itself included) was last
    /// heard from together, i.e. the oldest of the freshest contacts that make a majority.
    pub fn step(
        &mut self,
        now: i64,
        leader_term: Option<u64>,
        majority_heard_at: Option<i64>,
    ) -> Action {
        let Some(term) = leader_term else {
            self.leading = None;
            if self.resigned {
                self.resigned = false;
                return Action::ResumeHeartbeats;
            }
            return Action::Nothing;
        };
        let since = match self.leading {
            Some((t, since)) if t == term => since,
            _ => {
                self.leading = Some((term, now));
                now
            }
        };
        // A new leader gets one lease from its election before contacts count against it.
        let heard = majority_heard_at.map_or(since, |h| h.max(since));
        if !self.resigned && now - heard > self.lease_ms {
            self.resigned = true;
            return Action::StopHeartbeats;
        }
        Action::Nothing
    }

    /// Whether this voter resigned its current leadership.
    pub fn resigned(&self) -> bool {
        self.resigned
    }
}

/// When a majority was last heard from together: with the other voters' last-contact times
/// (`None`: never), the `(majority - 1)`-th most recent one (this voter counts itself at `now`).
pub fn majority_heard_at(now: i64, peers: &[Option<i64>], majority: usize) -> Option<i64> {
    let needed = majority.saturating_sub(1);
    if needed == 0 {
        return Some(now);
    }
    let mut heard: Vec<i64> = peers.iter().flatten().copied().collect();
    heard.sort_unstable_by(|a, b| b.cmp(a));
    heard.get(needed - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_resigns_one_lease_after_it_last_heard_a_majority() {
        let mut c = CheckQuorum::new(300);
        // Elected at 1000, heard a majority at 1100.
        assert_eq!(c.step(1000, Some(2), None), Action::Nothing);
        assert_eq!(c.step(1100, Some(2), Some(1100)), Action::Nothing);
        assert_eq!(c.step(1400, Some(2), Some(1100)), Action::Nothing);
        assert_eq!(c.step(1401, Some(2), Some(1100)), Action::StopHeartbeats);
        assert!(c.resigned());
        // Once: it stays resigned while still leader in that term.
        assert_eq!(c.step(1500, Some(2), Some(1100)), Action::Nothing);
        // It stepped down: heartbeats back on, once.
        assert_eq!(c.step(1600, None, None), Action::ResumeHeartbeats);
        assert_eq!(c.step(1700, None, None), Action::Nothing);
    }

    #[test]
    fn a_new_leader_gets_one_lease_before_old_contacts_count() {
        let mut c = CheckQuorum::new(300);
        // Contacts from long ago (an earlier term): not held against a leader elected at 5000.
        assert_eq!(c.step(5000, Some(7), Some(100)), Action::Nothing);
        assert_eq!(c.step(5300, Some(7), Some(100)), Action::Nothing);
        assert_eq!(c.step(5301, Some(7), Some(100)), Action::StopHeartbeats);
        // Re-elected in a later term: a fresh start.
        assert_eq!(c.step(5400, None, None), Action::ResumeHeartbeats);
        assert_eq!(c.step(6000, Some(9), Some(5200)), Action::Nothing);
        assert!(!c.resigned());
    }

    #[test]
    fn a_majority_is_the_oldest_of_the_freshest_contacts_needed() {
        // 3 voters: itself plus the freshest other one.
        assert_eq!(majority_heard_at(50, &[Some(10), Some(40)], 2), Some(40));
        assert_eq!(majority_heard_at(50, &[None, Some(40)], 2), Some(40));
        assert_eq!(majority_heard_at(50, &[None, None], 2), None);
        // 5 voters: itself plus two others.
        assert_eq!(
            majority_heard_at(50, &[Some(10), Some(40), Some(30), None], 3),
            Some(30)
        );
        // A lone voter is its own majority.
        assert_eq!(majority_heard_at(50, &[], 1), Some(50));
    }
}
