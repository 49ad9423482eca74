//! The brokers' `/metrics` endpoint on an embedded 3-broker cluster (issue 13, item 8): the
//! replica-manager gauges and ISR counters move as followers are cut off and come back, the
//! min-ISR gauge when acks=all is refused, the traffic and fsync figures with produce, and a
//! scrape endpoint that shrugs off malformed requests and follows its broker's life.
//!
//! Scrapes are plain HTTP/1 over a `TcpStream` (the harness looks at the cluster outside the
//! fault model), parsed into `name{labels}` → value. Every "eventually" polls with a bound.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use brook::log::clock::unix_now_ms;
use brook::log::record::BatchBuilder;
use brook::proto::ErrorCode;
use brook::proto::net::Channels;
use brook::proto::v1::brook_client::BrookClient;
use brook::proto::v1::{
    PartitionProduceData, PartitionProduceResponse, ProduceRequest, TopicProduceData,
};
use brook::{Acks, Cluster, ClusterView, ProducerRecord};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Bound on every "eventually": generous, for a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(20);
/// Bound on one HTTP exchange.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

const URP: &str = "kafka_server_replicamanager_underreplicatedpartitions";
const UNDER_MIN: &str = "kafka_server_replicamanager_underminisrpartitioncount";
const SHRINKS: &str = "kafka_server_replicamanager_isrshrinks_total";
const EXPANDS: &str = "kafka_server_replicamanager_isrexpands_total";

async fn start_cluster(extra: &[(&str, &str)]) -> Cluster {
    // One controller voter (broker 1, never cut off or killed here) keeps metadata moving
    // whatever happens to brokers 2 and 3.
    let mut b = Cluster::builder()
        .brokers(3)
        .controller_voters(1)
        .metrics(true)
        .startup_timeout(WAIT);
    for (k, v) in extra {
        b = b.broker_config(*k, *v);
    }
    b.start().await.unwrap()
}

async fn create_topic(cluster: &Cluster, topic: &str, partitions: i32, cfg: &[(&str, &str)]) {
    let mut create = cluster.create_topic(topic, partitions, 3);
    for (k, v) in cfg {
        create = create.config(*k, *v);
    }
    create.await.unwrap();
    cluster
        .wait_until(
            |v| (0..partitions).all(|p| v.isr(topic, p).len() == 3),
            WAIT,
        )
        .await
        .unwrap();
}

// ---- HTTP and the text format --------------------------------------------------------------

/// An HTTP answer: status code and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// Sends `raw` and reads until the server closes. `Err` when the connection fails or is cut
/// before anything came back.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> std::io::Result<Option<Answer>> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(raw).await?;
        let mut buf = Vec::new();
        // A server that answers and closes while we still write is fine: keep what came.
        let _ = s.read_to_end(&mut buf).await;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(HTTP_TIMEOUT, io)
        .await
        .map_err(|_| std::io::Error::other("HTTP exchange timed out"))??;
    if buf.is_empty() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    Ok(Some(Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }))
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: brook\r\nConnection: close\r\n\r\n").into_bytes()
}

/// One scrape: `name{labels}` → value.
#[derive(Debug, Default)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (key, value) = l.rsplit_once(' ')?;
                Some((key.to_string(), value.parse().ok()?))
            })
            .collect();
        Scrape(samples)
    }

    /// The sample's value; 0 when absent (a counter that never moved, a family with no series).
    fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }
}

async fn scrape(url: &str) -> std::io::Result<Scrape> {
    match exchange(addr_of(url), &get("/metrics")).await? {
        Some(a) if a.status == 200 => Ok(Scrape::parse(&a.body)),
        other => Err(std::io::Error::other(format!("scrape answered {other:?}"))),
    }
}

fn url(cluster: &Cluster, id: i32) -> String {
    cluster
        .metrics_url(id)
        .unwrap_or_else(|| panic!("broker {id} has no metrics URL"))
}

/// Scrapes broker `id` until `cond` holds (bounded); returns the scrape that satisfied it.
async fn wait_scrape(
    cluster: &Cluster,
    id: i32,
    what: &str,
    cond: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let url = url(cluster, id);
    let deadline = Instant::now() + WAIT;
    let mut pause = Duration::from_millis(2);
    loop {
        let last = scrape(&url).await;
        if let Ok(s) = &last
            && cond(s)
        {
            return last.unwrap_or_default();
        }
        if Instant::now() >= deadline {
            panic!("broker {id}: {what}: not within {WAIT:?}; last scrape: {last:?}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

// ---- raw produce ---------------------------------------------------------------------------

/// One produce of a batch of `values` to partition 0 of `topic` on broker `id`, outside the
/// fault model; returns the partition's answer and the batch's size.
async fn produce_raw(
    cluster: &Cluster,
    id: i32,
    topic: &str,
    acks: i32,
    values: &[&str],
) -> (PartitionProduceResponse, usize) {
    let channel = Channels::default()
        .get(&cluster.addr(id).unwrap().to_string())
        .unwrap();
    let mut client = BrookClient::new(channel);
    let mut b = BatchBuilder::new();
    for v in values {
        b.append(unix_now_ms(), None, Some(v.as_bytes()), &[]);
    }
    let records = b.build();
    let size = records.len();
    let req = ProduceRequest {
        acks,
        timeout_ms: 5000,
        topics: vec![TopicProduceData {
            name: topic.to_string(),
            partitions: vec![PartitionProduceData {
                partition: 0,
                records,
            }],
        }],
    };
    let resp = tokio::time::timeout(WAIT, client.produce(req))
        .await
        .expect("the broker answers")
        .expect("produce RPC")
        .into_inner();
    (resp.topics[0].partitions[0].clone(), size)
}

/// Partitions (of every topic, as broker 1 describes them) led by `leader` whose replicas
/// include `follower`.
fn led_with(view: &ClusterView, leader: i32, follower: i32) -> usize {
    view.topics
        .get(&1)
        .into_iter()
        .flatten()
        .flat_map(|t| t.partitions.iter())
        .filter(|p| p.leader == leader && p.replicas.contains(&follower))
        .count()
}

/// Each of `brokers`' (shrinks, expands) once it reports no under-replicated partition.
async fn isr_baseline(cluster: &Cluster, brokers: &[i32]) -> BTreeMap<i32, (f64, f64)> {
    let mut before = BTreeMap::new();
    for &b in brokers {
        let s = wait_scrape(cluster, b, "no under-replicated partition", |s| {
            s.get(URP) == 0.0
        })
        .await;
        before.insert(b, (s.get(SHRINKS), s.get(EXPANDS)));
    }
    before
}

/// Produces one record to each of `partitions` of `topic` (acks=1, no linger): a follower at
/// the leader's end counts as caught up however long it is silent (Kafka's rule too), so the
/// cut-off or dead follower needs a record it cannot fetch to fall out of sync.
async fn produce_to_each(
    cluster: &Cluster,
    topic: &str,
    partitions: impl IntoIterator<Item = i32>,
) {
    let producer = cluster
        .producer()
        .acks(Acks::Leader)
        .linger(Duration::ZERO)
        .build()
        .await
        .unwrap();
    for p in partitions {
        producer
            .send_and_wait(ProducerRecord::new(topic, "after the fault").partition(p))
            .await
            .unwrap_or_else(|e| panic!("produce to {topic}-{p}: {e}"));
    }
    producer.close().await;
}

/// Waits until broker `b` reports `lost` under-replicated partitions and its shrinks grew by as
/// many since `before`.
async fn wait_shrunk(cluster: &Cluster, b: i32, lost: usize, before: (f64, f64)) -> Scrape {
    let want = lost as f64;
    wait_scrape(
        cluster,
        b,
        &format!("{want} under-replicated, as many shrinks"),
        |s| s.get(URP) == want && s.get(SHRINKS) >= before.0 + want,
    )
    .await
}

/// Waits until broker `b` reports no under-replicated partition and its expansions grew by
/// `regained` since `before`.
async fn wait_expanded(cluster: &Cluster, b: i32, regained: usize, before: (f64, f64)) {
    let want = before.1 + regained as f64;
    wait_scrape(cluster, b, "back to fully replicated", |s| {
        s.get(URP) == 0.0 && s.get(EXPANDS) >= want
    })
    .await;
}

// ---- (a) under-replicated partitions and ISR changes -----------------------------------------

/// Cutting the link between brokers 2 and 3 (and producing, so that the cut-off followers fall
/// behind) makes each of them drop the other from the ISR of every partition it leads (its own
/// lag check, then an AlterPartition the controller accepts):
/// each one's under-replicated gauge equals those partitions and its shrink counter grows by as
/// many; broker 1 loses nobody. Healing brings the gauges back to 0 and the expansions are
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_replicated_gauge_and_isr_counters_follow_a_cut_follower() {
    let cluster = start_cluster(&[]).await;
    create_topic(&cluster, "urp", 6, &[]).await;
    let view = cluster.view().await;
    let expected = |b: i32| match b {
        2 => led_with(&view, 2, 3),
        3 => led_with(&view, 3, 2),
        _ => 0,
    };
    assert!(
        expected(2) + expected(3) > 0,
        "brokers 2 and 3 lead nothing; the scenario needs them to: {}",
        view.summary()
    );
    let before = isr_baseline(&cluster, &[1, 2, 3]).await;
    cluster.partition(2, 3).await.unwrap();
    produce_to_each(&cluster, "urp", 0..6).await;
    for b in 1..=3 {
        let s = wait_shrunk(&cluster, b, expected(b), before[&b]).await;
        assert_eq!(s.get(UNDER_MIN), 0.0, "min.insync is 1 here");
    }
    cluster.heal().await.unwrap();
    for b in 1..=3 {
        wait_expanded(&cluster, b, expected(b), before[&b]).await;
    }
    cluster.shutdown().await.unwrap();
}

/// The same with a follower killed outright: with a broker session longer than the test, the
/// controller does not fence broker 3, so each leader's own lag check drops it from the ISR of
/// every partition it leads (after `replica.lag.time.max.ms`, once a record arrived that 3 cannot
/// fetch): the under-replicated gauge equals those partitions and the shrinks grow by as many.
/// Restarted, broker 3 catches up and the leaders count the expansions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_replicated_gauge_and_isr_counters_follow_a_killed_follower() {
    let cluster = start_cluster(&[("broker.session.timeout.ms", "60000")]).await;
    create_topic(&cluster, "killed", 6, &[]).await;
    let view = cluster.view().await;
    let victim = 3;
    let led: BTreeMap<i32, Vec<i32>> = (1..=2)
        .map(|b| {
            (
                b,
                (0..6)
                    .filter(|p| view.leader("killed", *p) == Some(b))
                    .collect(),
            )
        })
        .collect();
    assert!(
        led.values().any(|ps| !ps.is_empty()),
        "brokers 1 and 2 lead nothing: {}",
        view.summary()
    );
    let before = isr_baseline(&cluster, &[1, 2]).await;
    cluster.kill(victim).await.unwrap();
    produce_to_each(&cluster, "killed", led.values().flatten().copied()).await;
    for b in 1..=2 {
        wait_shrunk(&cluster, b, led[&b].len(), before[&b]).await;
    }
    cluster.restart(victim).await.unwrap();
    for b in 1..=2 {
        wait_expanded(&cluster, b, led[&b].len(), before[&b]).await;
    }
    cluster.shutdown().await.unwrap();
}

// ---- (b) under min ISR -----------------------------------------------------------------------

/// With min.insync.replicas=2 and both followers dead, the remaining replica (broker 1) leads
/// with ISR {1}: an acks=all produce is refused with NOT_ENOUGH_REPLICAS, and broker 1 counts
/// the partition under min ISR (Kafka: ISR size < min.insync) — and under-replicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_min_isr_gauge_when_acks_all_is_refused() {
    let cluster = start_cluster(&[]).await;
    create_topic(&cluster, "minisr", 1, &[("min.insync.replicas", "2")]).await;
    wait_scrape(&cluster, 1, "nothing under min ISR", |s| {
        s.get(UNDER_MIN) == 0.0
    })
    .await;

    cluster.kill(2).await.unwrap();
    cluster.kill(3).await.unwrap();
    cluster
        .wait_until(
            |v| v.isr("minisr", 0) == [1] && v.leader("minisr", 0) == Some(1),
            WAIT,
        )
        .await
        .unwrap();
    let (r, _) = produce_raw(&cluster, 1, "minisr", -1, &["refused"]).await;
    assert_eq!(
        ErrorCode::from_wire(r.error_code),
        ErrorCode::NotEnoughReplicas,
        "{r:?}"
    );
    let s = wait_scrape(&cluster, 1, "minisr under min ISR", |s| {
        s.get(UNDER_MIN) == 1.0
    })
    .await;
    assert!(
        s.get(URP) >= 1.0,
        "ISR {{1}} of 3 replicas is under-replicated"
    );
    // acks=1 still works, and counts as an acknowledgement written on the leader only.
    let (r, _) = produce_raw(&cluster, 1, "minisr", 1, &["accepted"]).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let s = scrape(&url(&cluster, 1)).await.unwrap();
    let acks: f64 =
        s.0.iter()
            .filter(|(k, _)| k.starts_with("brook_produce_acks_total{"))
            .map(|(_, v)| v)
            .sum();
    assert_eq!(acks, 1.0, "one acknowledged produce: {s:?}");
    cluster.shutdown().await.unwrap();
}

// ---- (c) traffic, logs, fsyncs ---------------------------------------------------------------

/// Produces to a topic with flush.messages=1 count their records and bytes on the leader, each
/// replica's log end offset and size gauges show the data, followers' fetches count as bytes
/// out, and the fsync figures move; the controller figures are those of a healthy cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_log_and_fsync_figures_move_with_produce() {
    let cluster = start_cluster(&[]).await;
    create_topic(&cluster, "traffic", 1, &[("flush.messages", "1")]).await;
    let leader = cluster.leader_of("traffic", 0).await.unwrap();
    let before = scrape(&url(&cluster, leader)).await.unwrap();

    let mut bytes = 0;
    for batch in [&["a"][..], &["b", "c", "d"], &["e"], &["f", "g"]] {
        let (r, size) = produce_raw(&cluster, leader, "traffic", -1, batch).await;
        assert_eq!(r.error_code, 0, "{r:?}");
        bytes += size;
    }
    let topic = "{topic=\"traffic\"}";
    let s = scrape(&url(&cluster, leader)).await.unwrap();
    assert_eq!(
        s.get(&format!(
            "kafka_server_brokertopicmetrics_messagesin_total{topic}"
        )),
        7.0
    );
    assert_eq!(
        s.get(&format!(
            "kafka_server_brokertopicmetrics_bytesin_total{topic}"
        )),
        bytes as f64
    );
    assert!(
        s.get("brook_log_fsyncs_total") >= before.get("brook_log_fsyncs_total") + 4.0,
        "flush.messages=1: at least one fsync per append"
    );
    assert!(
        s.get("brook_log_appends_per_fsync_count")
            >= before.get("brook_log_appends_per_fsync_count") + 4.0
    );
    assert!(s.get("brook_log_fsync_seconds_count") > 0.0);
    let produces = "kafka_network_requestmetrics_totaltimems_count{request=\"Produce\"}";
    assert!(s.get(produces) >= before.get(produces) + 4.0);
    // Every acknowledgement counted by durability: acks=all with the flushes done.
    let acks: f64 =
        s.0.iter()
            .filter(|(k, _)| k.starts_with("brook_produce_acks_total{"))
            .map(|(_, v)| v)
            .sum();
    assert!(acks >= 4.0, "{s:?}");

    // Both followers replicate the 7 records: their log end offsets, and the leader's bytes out.
    let leo = "kafka_log_log_logendoffset{topic=\"traffic\",partition=\"0\"}";
    for b in 1..=3 {
        wait_scrape(&cluster, b, "LEO 7", |s| {
            s.get(leo) == 7.0
                && s.get("kafka_log_log_size{topic=\"traffic\",partition=\"0\"}") >= bytes as f64
        })
        .await;
    }
    let out = format!("kafka_server_brokertopicmetrics_bytesout_total{topic}");
    let s = wait_scrape(&cluster, leader, "followers' fetches counted", |s| {
        s.get(&out) >= 2.0 * bytes as f64
    })
    .await;
    assert!(
        s.get("kafka_network_requestmetrics_totaltimems_count{request=\"FetchFollower\"}") > 0.0
    );
    let follower = (1..=3).find(|b| *b != leader).unwrap_or(1);
    let lag = "kafka_server_fetcherlagmetrics_consumerlag{topic=\"traffic\",partition=\"0\"}";
    wait_scrape(&cluster, follower, "a caught-up follower's lag is 0", |s| {
        s.0.contains_key(lag) && s.get(lag) == 0.0
    })
    .await;

    // A healthy cluster: one active controller (broker 1, the only voter), nothing offline.
    let mut active = 0.0;
    for b in 1..=3 {
        let s = scrape(&url(&cluster, b)).await.unwrap();
        active += s.get("kafka_controller_kafkacontroller_activecontrollercount");
        assert_eq!(
            s.get("kafka_controller_kafkacontroller_offlinepartitionscount"),
            0.0
        );
        assert_eq!(
            s.get("kafka_controller_controllerstats_uncleanleaderelections_total"),
            0.0
        );
        assert!(s.get("kafka_server_replicamanager_partitioncount") >= 1.0);
    }
    assert_eq!(active, 1.0);
    cluster.shutdown().await.unwrap();
}

// ---- (d) malformed scrapes and the endpoint's life ---------------------------------------------

/// Wrong path → 404, wrong method → 405, a huge header → 431, garbage → 400 or a closed
/// connection; the broker then still serves `/metrics` and produces. A killed broker's
/// endpoint goes away with it, and a restarted one serves at the same URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_scrapes_are_refused_and_the_endpoint_follows_its_broker() {
    let cluster = start_cluster(&[]).await;
    create_topic(&cluster, "alive", 1, &[]).await;
    let leader = cluster.leader_of("alive", 0).await.unwrap();
    let addr = addr_of(&url(&cluster, leader));
    let answer = |raw: Vec<u8>| async move { exchange(addr, &raw).await };

    let a = answer(get("/nope")).await.unwrap().expect("an answer");
    assert_eq!(a.status, 404, "{a:?}");
    let a = answer(
        b"POST /metrics HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_vec(),
    )
    .await
    .unwrap()
    .expect("an answer");
    assert_eq!(a.status, 405, "{a:?}");
    assert!(a.head.to_ascii_lowercase().contains("allow: get"), "{a:?}");
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: b\r\nX-Huge: {}\r\n\r\n",
        "x".repeat(64 * 1024)
    );
    let a = answer(huge.into_bytes()).await.unwrap().expect("an answer");
    assert_eq!(a.status, 431, "{a:?}");
    // Closed without an answer is fine too; an answer must be 400.
    if let Ok(Some(a)) = answer(b"\x00\x01\x02 garbage \xff\r\n\r\n".to_vec()).await {
        assert_eq!(a.status, 400, "{a:?}");
    }
    let a = answer(get("/metrics")).await.unwrap().expect("an answer");
    assert_eq!(a.status, 200, "{a:?}");
    assert!(
        a.head.contains("application/openmetrics-text"),
        "{}",
        a.head
    );
    assert!(
        a.body
            .contains("# HELP kafka_server_replicamanager_underreplicatedpartitions ")
    );
    assert!(a.body.trim_end().ends_with("# EOF"));
    let (r, _) = produce_raw(&cluster, leader, "alive", 1, &["still serving"]).await;
    assert_eq!(r.error_code, 0, "{r:?}");

    // A killed broker's endpoint is gone; restarted, it serves at the same URL.
    let victim = if leader == 2 { 3 } else { 2 };
    let victim_url = url(&cluster, victim);
    scrape(&victim_url).await.unwrap();
    cluster.kill(victim).await.unwrap();
    // The endpoint's task is aborted with the broker; it lets go of the port a moment later.
    let deadline = Instant::now() + WAIT;
    while scrape(&victim_url).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "a killed broker's metrics endpoint still answers after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.restart(victim).await.unwrap();
    assert_eq!(
        cluster.metrics_url(victim).as_deref(),
        Some(victim_url.as_str())
    );
    wait_scrape(&cluster, victim, "serving again", |s| {
        s.get("kafka_server_replicamanager_partitioncount") >= 1.0
    })
    .await;
    cluster.shutdown().await.unwrap();
}

// ---- process brokers --------------------------------------------------------------------------

/// With `brook serve` children, each prints its metrics URL before its `listening on` line; the
/// harness learns it from there, and a restarted child binds the same port again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_brokers_serve_metrics_at_a_url_that_survives_restarts() {
    let cluster = Cluster::builder()
        .brokers(1)
        .processes(env!("CARGO_BIN_EXE_brook"))
        .metrics(true)
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    let first = url(&cluster, 1);
    wait_scrape(&cluster, 1, "a controller, active", |s| {
        s.get("kafka_controller_kafkacontroller_activecontrollercount") == 1.0
    })
    .await;
    cluster.shutdown_broker(1).await.unwrap();
    assert!(
        scrape(&first).await.is_err(),
        "a stopped child still answers"
    );
    cluster.restart(1).await.unwrap();
    assert_eq!(url(&cluster, 1), first);
    wait_scrape(&cluster, 1, "serving again after the restart", |s| {
        s.get("kafka_controller_kafkacontroller_activecontrollercount") == 1.0
    })
    .await;
    cluster.shutdown().await.unwrap();
}

// ---- group lag (Burrow's rules) on the coordinator -------------------------------------------

/// A group caught up on a partition shows `brook_consumergroup_status` 1 (OK) on its
/// coordinator's `/metrics`; once the log grows and the group stops committing, the partition
/// turns STOP (4) and the group ERR (3), with the lag gauges at the records it did not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_status_gauge_on_the_coordinator_follows_burrows_rules() {
    let cluster = start_cluster(&[]).await;
    create_topic(&cluster, "lagged", 1, &[]).await;
    let producer = cluster.producer().build().await.unwrap();
    for i in 0..5 {
        producer
            .send_and_wait(ProducerRecord::new("lagged", format!("r{i}")).partition(0))
            .await
            .unwrap();
    }
    let admin = cluster.admin().unwrap();
    let caught_up: BTreeMap<brook::TopicPartition, i64> =
        [(brook::TopicPartition::new("lagged", 0), 5)].into();
    // Two commits at offset 5 (a commit that arrives before the coordinator knows the end offset
    // is not stored, as in Burrow: commit until the window holds them).
    let deadline = Instant::now() + WAIT;
    loop {
        admin
            .alter_consumer_group_offsets("billing", caught_up.clone())
            .await
            .unwrap();
        let lag = admin.group_lag("billing").await.unwrap();
        if lag
            .partitions
            .first()
            .and_then(|p| p.start.as_ref())
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "no window: {lag:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admin
        .alter_consumer_group_offsets("billing", caught_up)
        .await
        .unwrap();
    let coordinator = admin
        .describe_consumer_groups(&["billing".to_string()])
        .await
        .unwrap()[0]
        .coordinator;
    let group = r#"brook_consumergroup_status{group="billing"}"#;
    let partition =
        r#"brook_consumergroup_partition_status{group="billing",topic="lagged",partition="0"}"#;
    let lag = r#"brook_consumergroup_lag{group="billing",topic="lagged",partition="0"}"#;
    wait_scrape(&cluster, coordinator, "the group OK", |s| {
        s.get(group) == 1.0 && s.get(partition) == 1.0 && s.0.contains_key(lag) && s.get(lag) == 0.0
    })
    .await;
    // Only the coordinator reports the group.
    for id in cluster
        .broker_ids()
        .into_iter()
        .filter(|id| *id != coordinator)
    {
        let s = scrape(&url(&cluster, id)).await.unwrap();
        assert!(
            !s.0.contains_key(group),
            "broker {id} reports a group it does not coordinate"
        );
    }
    for i in 5..8 {
        producer
            .send_and_wait(ProducerRecord::new("lagged", format!("r{i}")).partition(0))
            .await
            .unwrap();
    }
    producer.close().await;
    let s = wait_scrape(
        &cluster,
        coordinator,
        "the group ERR, its partition STOP",
        |s| s.get(group) == 3.0 && s.get(partition) == 4.0,
    )
    .await;
    assert_eq!(s.get(lag), 3.0);
    assert_eq!(
        s.get(r#"brook_consumergroup_totallag{group="billing"}"#),
        3.0
    );
    assert_eq!(s.get(r#"brook_consumergroup_maxlag{group="billing"}"#), 3.0);
    cluster.shutdown().await.unwrap();
}
