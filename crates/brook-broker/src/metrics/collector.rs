//! The gauges computed at scrape time from the broker's state (a `prometheus_client`
//! [`Collector`] holding the broker weakly): Kafka's `ReplicaManager` partition counts, the
//! controller's figures, each hosted log's size and end offset, each follower fetcher's lag —
//! and the spot where the group-lag gauges go ([`encode_group_lag`]).
//!
//! The counting rules are plain code over [`PartitionFacts`] ([`ReplicaSummary::of`]), tested
//! below; the collector only gathers the facts and writes them out.

use std::fmt::Error;
use std::sync::Weak;

use brook_log::lock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::broker::Broker;
use crate::group_coordinator::lag::{GroupLagSummary, PartitionLagSummary};
use crate::partition::Role;

/// What the replica-manager gauges need to know of one hosted partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFacts {
    /// This broker leads it.
    pub is_leader: bool,
    /// Assigned replicas.
    pub replicas: usize,
    /// The committed ISR's size.
    pub isr: usize,
    /// min.insync.replicas capped at the replication factor (Kafka's `effectiveMinIsr`).
    pub effective_min_isr: usize,
}

/// The `kafka_server_replicamanager_*` gauges of one broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicaSummary {
    /// Partitions hosted here, as leader or follower (`PartitionCount`).
    pub partitions: i64,
    /// Partitions led here (`LeaderCount`).
    pub leaders: i64,
    /// Led here with an ISR smaller than the replica set (`UnderReplicatedPartitions`).
    pub under_replicated: i64,
    /// Led here with an ISR below the effective min.insync (`UnderMinIsrPartitionCount`).
    pub under_min_isr: i64,
    /// Led here with an ISR exactly at the effective min.insync (`AtMinIsrPartitionCount`).
    pub at_min_isr: i64,
}

impl ReplicaSummary {
    /// Kafka's rules (`Partition.isUnderReplicated`, `isUnderMinIsr`, `isAtMinIsr`): only
    /// leaders count towards the ISR gauges, against the committed ISR.
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a PartitionFacts>) -> ReplicaSummary {
        let mut s = ReplicaSummary::default();
        for p in parts {
            s.partitions += 1;
            if !p.is_leader {
                continue;
            }
            s.leaders += 1;
            s.under_replicated += i64::from(p.isr < p.replicas);
            s.under_min_isr += i64::from(p.isr < p.effective_min_isr);
            s.at_min_isr += i64::from(p.isr == p.effective_min_isr);
        }
        s
    }
}

/// Writes the broker's state as gauges on each scrape.
#[derive(Debug)]
pub(crate) struct StateCollector {
    broker: Weak<Broker>,
}

impl StateCollector {
    pub(crate) fn new(broker: Weak<Broker>) -> StateCollector {
        StateCollector { broker }
    }
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        // A broker being dropped has no state left to report.
        let Some(broker) = self.broker.upgrade() else {
            return Ok(());
        };
        encode_replica_manager(&broker, &mut encoder)?;
        encode_controller(&broker, &mut encoder)?;
        encode_logs(&broker, &mut encoder)?;
        encode_group_lag(&broker, &mut encoder)
    }
}

fn encode_replica_manager(broker: &Broker, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
    let facts: Vec<PartitionFacts> = broker
        .replicas
        .all()
        .iter()
        .map(|p| {
            let state = p.state();
            PartitionFacts {
                is_leader: state.is_leader(),
                replicas: state.replicas().len(),
                isr: state.isr().len(),
                effective_min_isr: state.leader().map_or(1, |l| l.effective_min_isr()),
            }
        })
        .collect();
    let s = ReplicaSummary::of(&facts);
    let rm = "kafka_server_replicamanager_";
    gauge(
        encoder,
        &format!("{rm}underreplicatedpartitions"),
        "Partitions this broker leads whose ISR is smaller than their replica set \
         (ReplicaManager UnderReplicatedPartitions)",
        s.under_replicated,
    )?;
    gauge(
        encoder,
        &format!("{rm}underminisrpartitioncount"),
        "Partitions this broker leads whose ISR is below min.insync.replicas (capped at the \
         replication factor): acks=all produces fail with NOT_ENOUGH_REPLICAS and the high \
         watermark stops (ReplicaManager UnderMinIsrPartitionCount)",
        s.under_min_isr,
    )?;
    gauge(
        encoder,
        &format!("{rm}atminisrpartitioncount"),
        "Partitions this broker leads whose ISR is exactly min.insync.replicas: one more \
         failure stops acks=all writes (ReplicaManager AtMinIsrPartitionCount)",
        s.at_min_isr,
    )?;
    gauge(
        encoder,
        &format!("{rm}partitioncount"),
        "Partitions hosted by this broker, as leader or follower, internal topics included \
         (ReplicaManager PartitionCount)",
        s.partitions,
    )?;
    gauge(
        encoder,
        &format!("{rm}leadercount"),
        "Partitions this broker leads (ReplicaManager LeaderCount)",
        s.leaders,
    )
}

fn encode_controller(broker: &Broker, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
    let host = broker.controller();
    let active = host.is_some_and(|h| h.is_active());
    // Like Kafka, only the active controller reports offline partitions; the others say 0,
    // so that a sum over the cluster is right.
    let offline = match host.filter(|_| active) {
        Some(h) => h
            .image()
            .topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.leader < 0)
            .count() as i64,
        None => 0,
    };
    gauge(
        encoder,
        "kafka_controller_kafkacontroller_activecontrollercount",
        "1 on the controller voter that is the active controller now, else 0; the sum over \
         the cluster should be 1 (KafkaController ActiveControllerCount)",
        i64::from(active),
    )?;
    gauge(
        encoder,
        "kafka_controller_kafkacontroller_offlinepartitionscount",
        "Partitions without a leader, as the active controller sees them (0 on every other \
         broker) (KafkaController OfflinePartitionsCount)",
        offline,
    )?;
    let unclean = host.map_or(0, |h| h.unclean_elections());
    let counter = ConstCounter::new(unclean);
    let m = encoder.encode_descriptor(
        "kafka_controller_controllerstats_uncleanleaderelections",
        "Unclean leader elections (a leader chosen from outside the ISR: committed records \
         it lacks are lost) this voter decided as the active controller (ControllerStats \
         UncleanLeaderElectionsPerSec)",
        None,
        counter.metric_type(),
    )?;
    counter.encode(m)
}

fn encode_logs(broker: &Broker, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
    let mut parts = broker.replicas.all();
    parts.sort_by(|a, b| (&a.topic, a.index).cmp(&(&b.topic, b.index)));
    let label = |topic: &str, partition: i32| {
        [
            ("topic", topic.to_string()),
            ("partition", partition.to_string()),
        ]
    };
    gauge_family(
        encoder,
        "kafka_log_log_size",
        "Bytes in the partition's log segments on this broker (Log Size)",
        parts.iter().map(|p| {
            let size = lock(p.log()).size_bytes();
            (
                label(&p.topic, p.index),
                i64::try_from(size).unwrap_or(i64::MAX),
            )
        }),
    )?;
    gauge_family(
        encoder,
        "kafka_log_log_logendoffset",
        "The offset the next record appended to the partition's log on this broker gets (Log \
         LogEndOffset)",
        parts
            .iter()
            .map(|p| (label(&p.topic, p.index), p.log_end_offset())),
    )?;
    let lags = &broker.metrics.replication;
    gauge_family(
        encoder,
        "kafka_server_fetcherlagmetrics_consumerlag",
        "On a follower, per partition it replicates: the leader's high watermark in the last \
         fetch answer minus the offset the follower fetches next (FetcherLagMetrics \
         ConsumerLag)",
        parts.iter().filter_map(|p| {
            let following = matches!(p.state().role(), Role::Follower { .. });
            let lag = lags.follower_lag(&p.topic, p.index).filter(|_| following)?;
            Some((label(&p.topic, p.index), lag))
        }),
    )
}

/// The group-lag gauges of the groups this broker coordinates, from the group coordinator's
/// evaluation after Burrow's rules (`group_coordinator/lag/`) at scrape time. Status values are
/// Burrow's numbers: 0 NOTFOUND, 1 OK, 2 WARN, 3 ERR (group); 1 OK, 2 WARN, 4 STOP, 5 STALL,
/// 6 REWIND (partition). A group appears once the coordinator has stored a commit of it.
pub fn encode_group_lag(broker: &Broker, encoder: &mut DescriptorEncoder) -> Result<(), Error> {
    let groups = broker.coordinator.lag_summaries(broker.env.now_ms());
    let per_group = |f: fn(&GroupLagSummary) -> i64| {
        groups
            .iter()
            .map(move |g| ([("group", g.group.clone())], f(g)))
    };
    gauge_family(
        encoder,
        "brook_consumergroup_status",
        "Burrow's evaluation of the consumer group: 0 NOTFOUND, 1 OK, 2 WARN (lag grew at every \
         commit of a window), 3 ERR (a partition is STOP, STALL or REWIND)",
        per_group(|g| g.status),
    )?;
    gauge_family(
        encoder,
        "brook_consumergroup_totallag",
        "Sum over the group's partitions of the latest log end offset minus the last commit",
        per_group(|g| g.total_lag),
    )?;
    gauge_family(
        encoder,
        "brook_consumergroup_maxlag",
        "The highest partition lag of the group",
        per_group(|g| g.max_lag),
    )?;
    let per_partition = |f: fn(&PartitionLagSummary) -> i64| {
        groups.iter().flat_map(move |g| {
            g.partitions.iter().map(move |p| {
                (
                    [
                        ("group", g.group.clone()),
                        ("topic", p.topic.clone()),
                        ("partition", p.partition.to_string()),
                    ],
                    f(p),
                )
            })
        })
    };
    gauge_family(
        encoder,
        "brook_consumergroup_partition_status",
        "Burrow's evaluation of one partition of a group: 1 OK, 2 WARN, 4 STOP (no commit for \
         longer than the window spans), 5 STALL (same offset, lag > 0), 6 REWIND (offset went back)",
        per_partition(|p| p.status),
    )?;
    gauge_family(
        encoder,
        "brook_consumergroup_lag",
        "The group's lag on one partition: latest log end offset minus the last commit",
        per_partition(|p| p.lag),
    )
}

/// Writes one unlabelled gauge.
pub fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), Error> {
    let g = ConstGauge::new(value);
    let m = encoder.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

/// Writes a gauge family: one sample per label set (the descriptor even with no sample, so that
/// the metric's HELP is always there).
pub fn gauge_family<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, i64)>,
) -> Result<(), Error> {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(is_leader: bool, replicas: usize, isr: usize, min: usize) -> PartitionFacts {
        PartitionFacts {
            is_leader,
            replicas,
            isr,
            effective_min_isr: min,
        }
    }

    #[test]
    fn only_leaders_count_towards_isr_gauges() {
        let s = ReplicaSummary::of(&[
            part(true, 3, 3, 2),  // healthy
            part(true, 3, 2, 2),  // under-replicated, at min
            part(true, 3, 1, 2),  // under-replicated, under min
            part(false, 3, 1, 1), // a follower's view: not counted
            part(true, 1, 1, 1),  // RF 1: at min, not under-replicated
        ]);
        assert_eq!(
            s,
            ReplicaSummary {
                partitions: 5,
                leaders: 4,
                under_replicated: 2,
                under_min_isr: 1,
                at_min_isr: 2,
            }
        );
    }

    #[test]
    fn no_partitions_no_counts() {
        assert_eq!(ReplicaSummary::of(&[]), ReplicaSummary::default());
    }

    #[derive(Debug)]
    struct Fixed;

    impl Collector for Fixed {
        fn encode(&self, mut e: DescriptorEncoder) -> Result<(), Error> {
            gauge(&mut e, "g", "a gauge", 3)?;
            gauge_family(
                &mut e,
                "f",
                "a family",
                [
                    ([("topic", "a".to_string())], 1),
                    ([("topic", "b".into())], 2),
                ],
            )?;
            gauge_family(
                &mut e,
                "empty",
                "no samples",
                std::iter::empty::<(Vec<(String, String)>, i64)>(),
            )
        }
    }

    #[test]
    fn helpers_write_help_type_and_samples() {
        let mut r = prometheus_client::registry::Registry::default();
        r.register_collector(Box::new(Fixed));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        for line in [
            "# HELP g a gauge",
            "# TYPE g gauge",
            "g 3",
            "f{topic=\"a\"} 1",
            "f{topic=\"b\"} 2",
            "# HELP empty no samples",
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "{line:?} missing from\n{out}"
            );
        }
    }
}
