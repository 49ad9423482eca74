//! The seed's emergency procedure (§7.3.2: enable unclean leader election temporarily to
//! recover, then disable it again), walked through the `brook` binary (`configs`,
//! `leader-election`, `topics`, `produce`, `consume`) against a running `brook::Cluster`, and
//! the tools' answers to bad input.
//!
//! The cluster has 4 brokers (all controller voters) so that the RF 3 partition can live on
//! {2, 3, 4} while broker 1 stays out of it: crashing the leader and cutting the followers off it
//! then still leaves a majority of the voters (1, 3, 4) connected, so the controller keeps
//! working through the whole procedure.

#[path = "common/isr.rs"]
mod isr;
#[path = "common/serve.rs"]
mod serve;

use isr::*;

const UNCLEAN: &str = "unclean.leader.election.enable";

/// What one run of the binary said.
struct Run {
    ok: bool,
    out: String,
    err: String,
}

/// Runs `brook ARGS` with `stdin`, echoing the command line and its output (the transcript).
fn brook_sync<S: AsRef<str>>(args: &[S], stdin: &str) -> Run {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let (ok, out, err) = serve::run_brook(&args, stdin);
    let run = Run { ok, out, err };
    eprintln!(
        "$ brook {}\n{}{}[exit {}]",
        args.join(" "),
        run.out,
        run.err,
        if run.ok { "0" } else { "non-zero" }
    );
    run
}

/// `brook ARGS` from async code: on a blocking thread, so the in-process brokers keep running.
async fn brook<S: AsRef<str>>(args: &[S], stdin: &str) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || brook_sync(&args, &stdin))
        .await
        .unwrap()
}

/// `configs --bootstrap-server B --entity-type topics --entity-name T REST…`
fn topic_configs(b: &str, t: &str, rest: &[&str]) -> Vec<String> {
    let head = [
        "configs",
        "--bootstrap-server",
        b,
        "--entity-type",
        "topics",
    ];
    head.iter()
        .chain(&["--entity-name", t])
        .chain(rest)
        .map(|a| a.to_string())
        .collect()
}

/// `leader-election --bootstrap-server B --election-type TYPE --topic T --partition P`
fn election(b: &str, election_type: &str, t: &str, p: i32) -> Vec<String> {
    let p = p.to_string();
    [
        "leader-election",
        "--bootstrap-server",
        b,
        "--election-type",
        election_type,
        "--topic",
        t,
        "--partition",
        &p,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

fn lines(values: &[String]) -> String {
    values.iter().map(|v| format!("{v}\n")).collect()
}

/// An RF 3 partition `t`-0 on brokers {2, 3, 4} (leader 2, min.insync.replicas=1) that went
/// offline the way §7.3.2 describes.
struct Offline {
    cluster: Cluster,
    /// Acknowledged while all three replicas were in the ISR.
    base: Vec<String>,
    /// Acknowledged while the ISR was the leader alone.
    only_leader: Vec<String>,
    /// The followers' log end when the leader crashed.
    followers_end: i64,
    /// How many records the crashed leader had beyond every follower.
    only_on_leader: i64,
    /// The crashed leader's epoch.
    epoch: i32,
}

/// Builds [`Offline`]: 5 records on all replicas; both followers cut off from the leader (not
/// from the controller) so that the next records leave them behind and, after
/// replica.lag.time.max.ms, out of the ISR; 20 records acknowledged by the leader alone; then the
/// leader crashes, leaving no live ISR member.
async fn offline_partition(t: &str) -> Offline {
    let cluster = Cluster::builder()
        .brokers(4)
        .broker_config("replica.lag.time.max.ms", "500")
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    let (p, a) = (0, 2);
    cluster
        .admin()
        .unwrap()
        .create_topic_with_assignment(
            t,
            &[vec![2, 3, 4]],
            &[("min.insync.replicas".into(), "1".into())],
        )
        .await
        .unwrap();
    cluster
        .wait_until(
            |v| v.isr(t, p).len() == 3 && v.serving_leader(t, p) && v.leader(t, p) == Some(a),
            WAIT,
        )
        .await
        .unwrap();
    // Acknowledged by all three replicas.
    let base = values("base", 5);
    produce(&cluster, t, p, Acks::All, &base).await;
    cluster
        .wait_until(
            |v| {
                at_leader(v, t, p)
                    .is_some_and(|d| follower_leo(d, 3) == 5 && follower_leo(d, 4) == 5)
            },
            WAIT,
        )
        .await
        .unwrap();

    // The cut: the followers fall behind on the first of these records and leave the ISR;
    // acks=all with min.insync.replicas=1 then needs the leader alone.
    cluster.partition(a, 3).await.unwrap();
    cluster.partition(a, 4).await.unwrap();
    let only_leader = values("only-leader", 20);
    produce(&cluster, t, p, Acks::All, &only_leader).await;
    let v = cluster
        .wait_until(
            |v| v.isr(t, p) == [a] && v.high_watermark(t, p) == Some(25),
            WAIT,
        )
        .await
        .unwrap();
    let d = at_leader(&v, t, p).unwrap();
    let followers_end = follower_leo(d, 3).max(follower_leo(d, 4));
    assert_eq!(followers_end, 5, "{}", v.summary());
    let only_on_leader = d.log_end_offset - followers_end;
    let epoch = d.leader_epoch;
    eprintln!("before the crash: {}", v.summary());

    // The leader crashes (the process only) and the cut links are healed: the followers are
    // alive and in touch, but neither may lead cleanly.
    cluster.kill_keep_page_cache(a).await.unwrap();
    cluster.heal().await.unwrap();
    cluster
        .wait_until(
            |v| v.leader(t, p).is_none() && v.lists_unfenced(1, &[3, 4]),
            WAIT,
        )
        .await
        .unwrap();
    Offline {
        cluster,
        base,
        only_leader,
        followers_end,
        only_on_leader,
        epoch,
    }
}

/// Waits until an out-of-sync replica (3 or 4) serves `t`-0, and checks it leads alone in the
/// ISR, in a later epoch than the crashed leader's, with only what the followers had.
async fn out_of_sync_leader(o: &Offline, t: &str) -> i32 {
    let p = 0;
    let v = o
        .cluster
        .wait_until(
            |v| v.serving_leader(t, p) && v.leader(t, p).is_some_and(|l| l == 3 || l == 4),
            WAIT,
        )
        .await
        .unwrap();
    let new_leader = v.leader(t, p).unwrap();
    // The controller elects with ISR [new_leader]; the other out-of-sync follower has the same
    // log end and may rejoin the ISR at once, so only the dead leader's absence is certain.
    let isr = v.isr(t, p);
    assert!(
        isr.contains(&new_leader) && !isr.contains(&2),
        "{}",
        v.summary()
    );
    assert!(v.leader_epoch(t, p).unwrap() > o.epoch, "{}", v.summary());
    assert_eq!(v.log_end_offset(t, p, new_leader), Some(o.followers_end));
    eprintln!("after the unclean election: {}", v.summary());
    new_leader
}

/// §7.3.2 end to end: the offline partition refuses produce and a preferred election cannot
/// help; enabling unclean election on the topic and running an UNCLEAN election through the
/// CLI brings it back under an out-of-sync replica, which lacks exactly the records only the
/// dead leader had; the config is then deleted again and `--describe` shows it gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclean_election_procedure_recovers_the_partition_and_loses_what_only_the_leader_had() {
    let (t, p) = ("orders", 0);
    let o = offline_partition(t).await;
    let bootstrap = o.cluster.bootstrap_servers();
    let b = bootstrap.as_str();
    let r = brook(
        &["topics", "describe", "--bootstrap-server", b, "--topic", t],
        "",
    )
    .await;
    assert!(r.ok, "{}", r.err);
    assert!(
        r.out.contains("Leader: none") && r.out.contains("Isr: 2\t"),
        "{}",
        r.out
    );
    let r = brook(
        &[
            "produce",
            "--bootstrap-server",
            b,
            "--topic",
            t,
            "--producer-property",
            "request.timeout.ms=500",
            "--producer-property",
            "delivery.timeout.ms=1500",
        ],
        "while-offline\n",
    )
    .await;
    assert!(
        !r.ok,
        "produce to an offline partition succeeded: {}",
        r.out
    );
    assert!(
        [
            "LEADER_NOT_AVAILABLE",
            "NOT_LEADER_OR_FOLLOWER",
            "REQUEST_TIMED_OUT"
        ]
        .iter()
        .any(|c| r.err.contains(c)),
        "{}",
        r.err
    );
    let tp = format!("{t}-{p}");
    let r = brook(&election(b, "preferred", t, p), "").await;
    assert!(
        !r.ok,
        "a preferred election needs the dead preferred leader"
    );
    assert_eq!(
        r.out,
        format!(
            "Error completing leader election (PREFERRED) for partition: {tp}: \
             PREFERRED_LEADER_NOT_AVAILABLE\n"
        )
    );
    assert!(
        r.err.contains("1 replica(s) could not be elected"),
        "{}",
        r.err
    );

    // §7.3.2: enable unclean election for the topic, elect, …
    let enable = format!("{UNCLEAN}=true");
    let r = brook(
        &topic_configs(b, t, &["--alter", "--add-config", &enable]),
        "",
    )
    .await;
    assert!(r.ok, "{}", r.err);
    assert_eq!(r.out, format!("Completed updating config for topic {t}.\n"));
    let describe = topic_configs(b, t, &["--describe"]);
    let r = brook(&describe, "").await;
    assert!(r.ok, "{}", r.err);
    assert!(
        r.out
            .starts_with(&format!("Dynamic configs for topic {t} are:\n"))
            && r.out.contains(&format!(
                "  {enable} sensitive=false synonyms={{DYNAMIC_TOPIC_CONFIG:{enable}}}\n"
            )),
        "{}",
        r.out
    );
    let r = brook(&election(b, "UNCLEAN", t, p), "").await;
    assert!(r.ok, "{}", r.err);
    // The controller also elects on its own once the topic allows it (as Kafka's does), so the
    // tool finds either a partition to elect or one already led by an out-of-sync replica.
    assert!(
        r.out == format!("Successfully completed leader election (UNCLEAN) for partitions {tp}\n")
            || r.out == format!("Valid replica already elected for partitions {tp}\n"),
        "{}",
        r.out
    );

    out_of_sync_leader(&o, t).await;

    // Producing works again, and reading shows what the procedure cost.
    let after = values("after", 5);
    let r = brook(
        &["produce", "--bootstrap-server", b, "--topic", t],
        &lines(&after),
    )
    .await;
    assert!(r.ok, "{}", r.err);
    let r = brook(
        &[
            "consume",
            "--bootstrap-server",
            b,
            "--topic",
            t,
            "--from-beginning",
            "--max-messages",
            "10",
            "--timeout-ms",
            "10000",
        ],
        "",
    )
    .await;
    assert!(r.ok, "{}", r.err);
    let read: Vec<String> = r.out.lines().map(str::to_string).collect();
    let mut expected = o.base.clone();
    expected.extend(after.iter().cloned());
    assert_eq!(read, expected);
    let v = o.cluster.view().await;
    assert_eq!(
        v.high_watermark(t, p),
        Some(10),
        "nothing beyond: {}",
        v.summary()
    );
    let acked: Vec<&String> = o.base.iter().chain(&o.only_leader).collect();
    let lost: Vec<&&String> = acked.iter().filter(|v| !read.contains(v)).collect();
    eprintln!(
        "acknowledged {} records before the crash; {} of them are lost: {:?} … {:?}",
        acked.len(),
        lost.len(),
        lost.first(),
        lost.last()
    );
    assert!(!lost.is_empty());
    assert_eq!(lost.len() as i64, o.only_on_leader);
    assert!(lost.iter().all(|v| o.only_leader.contains(v)));

    // … then disable it again.
    let r = brook(
        &topic_configs(b, t, &["--alter", "--delete-config", UNCLEAN]),
        "",
    )
    .await;
    assert!(r.ok, "{}", r.err);
    assert_eq!(r.out, format!("Completed updating config for topic {t}.\n"));
    let r = brook(&describe, "").await;
    assert!(r.ok, "{}", r.err);
    assert_eq!(
        r.out,
        format!(
            "Dynamic configs for topic {t} are:\n  min.insync.replicas=1 sensitive=false \
             synonyms={{DYNAMIC_TOPIC_CONFIG:min.insync.replicas=1}}\n"
        )
    );
}

/// Kafka's other way out: an UNCLEAN election through `leader-election` alone is one-shot. With
/// the topic config left off the controller does not elect by itself, so the tool itself
/// elects the out-of-sync replica, and the topic's configs stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_unclean_election_recovers_without_touching_the_topic_config() {
    let (t, p) = ("payments", 0);
    let o = offline_partition(t).await;
    let bootstrap = o.cluster.bootstrap_servers();
    let b = bootstrap.as_str();
    let r = brook(&election(b, "unclean", t, p), "").await;
    assert!(r.ok, "{}", r.err);
    assert_eq!(
        r.out,
        format!("Successfully completed leader election (UNCLEAN) for partitions {t}-{p}\n")
    );
    let leader = out_of_sync_leader(&o, t).await;
    produce(&o.cluster, t, p, Acks::All, &values("after", 3)).await;
    let v = o
        .cluster
        .wait_until(|v| v.high_watermark(t, p) == Some(8), WAIT)
        .await
        .unwrap();
    assert_eq!(v.leader(t, p), Some(leader), "{}", v.summary());
    let r = brook(&topic_configs(b, t, &["--describe"]), "").await;
    assert!(r.ok, "{}", r.err);
    assert!(!r.out.contains(UNCLEAN), "{}", r.out);
}

/// Bad input to `configs` and `leader-election`: each names the Kafka-style error and exits
/// non-zero; a preferred election where the preferred leader leads already is not a failure.
#[test]
fn bad_input_names_the_kafka_error_and_exits_non_zero() {
    let s = serve::serve();
    let b = s.addr.as_str();
    let run = |args: &[&str]| brook_sync(args, "");
    let r = run(&[
        "topics",
        "create",
        "--bootstrap-server",
        b,
        "--topic",
        "t",
        "--replication-factor",
        "1",
    ]);
    assert!(r.ok, "{}", r.err);
    let configs = |rest: &[&str]| {
        let mut args = vec!["configs", "--bootstrap-server", b];
        args.extend_from_slice(rest);
        run(&args)
    };
    let topic = ["--entity-type", "topics", "--entity-name"];
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                &topic[..],
                &["nope", "--alter", "--add-config", "flush.messages=1"],
            ]
            .concat(),
            &["UNKNOWN_TOPIC_OR_PARTITION", "nope"],
        ),
        (
            &[&topic[..], &["nope", "--describe"]].concat(),
            &["UNKNOWN_TOPIC_OR_PARTITION", "nope"],
        ),
        (
            &[&topic[..], &["t", "--alter", "--add-config", UNCLEAN]].concat(),
            &["INVALID_CONFIG", "key=val"],
        ),
        (
            &[&topic[..], &["t", "--alter", "--add-config", "a=1,,b=2"]].concat(),
            &["INVALID_CONFIG", "empty entry"],
        ),
        (
            &[
                &topic[..],
                &[
                    "t",
                    "--alter",
                    "--add-config",
                    "unclean.leader.election.enable=maybe",
                ],
            ]
            .concat(),
            &["INVALID_CONFIG", UNCLEAN],
        ),
        (
            &[
                &topic[..],
                &["t", "--alter", "--delete-config", "flush.messages=1"],
            ]
            .concat(),
            &["INVALID_CONFIG", "keys only"],
        ),
        (
            &[&topic[..], &["t", "--alter"]].concat(),
            &["INVALID_REQUEST", "--add-config"],
        ),
        (
            &["--entity-type", "users", "--entity-name", "u", "--describe"],
            &["INVALID_REQUEST", "topics or brokers"],
        ),
        (
            &["--entity-type", "topics", "--describe"],
            &["INVALID_REQUEST", "--entity-name"],
        ),
        (
            &[
                "--entity-type",
                "brokers",
                "--entity-name",
                "1",
                "--describe",
            ],
            &["INVALID_REQUEST", "--entity-default"],
        ),
    ];
    for (args, want) in cases {
        let r = configs(args);
        assert!(!r.ok, "{args:?} succeeded: {}", r.out);
        for w in *want {
            assert!(r.err.contains(w), "{args:?}: {w} not in {}", r.err);
        }
        assert!(!r.err.contains("panicked"), "{}", r.err);
    }
    // Nothing above changed the topic.
    let r = configs(&[&topic[..], &["t", "--describe"]].concat());
    assert!(r.ok, "{}", r.err);
    assert_eq!(r.out, "Dynamic configs for topic t are:\n");

    // The cluster-wide dynamic broker default (kafka-configs --entity-type brokers
    // --entity-default): the unclean-election switch for every topic without its own.
    let brokers = ["--entity-type", "brokers", "--entity-default", "--alter"];
    let r = configs(&[&brokers[..], &["--add-config", &format!("{UNCLEAN}=true")]].concat());
    assert!(r.ok, "{}", r.err);
    assert_eq!(
        r.out,
        "Completed updating default config for brokers in the cluster.\n"
    );
    let r = configs(&[&brokers[..], &["--delete-config", UNCLEAN]].concat());
    assert!(r.ok, "{}", r.err);
    let r = configs(&[&brokers[..], &["--add-config", "log.retention.ms=1"]].concat());
    assert!(!r.ok, "{}", r.out);
    assert!(
        r.err.contains("INVALID_CONFIG") && r.err.contains("not a dynamic"),
        "{}",
        r.err
    );

    let elect = |ty: &str, topic: &str| {
        run(&[
            "leader-election",
            "--bootstrap-server",
            b,
            "--election-type",
            ty,
            "--topic",
            topic,
            "--partition",
            "0",
        ])
    };
    let r = elect("unclean", "nope");
    assert!(!r.ok);
    assert_eq!(
        r.out,
        "Error completing leader election (UNCLEAN) for partition: nope-0: \
         UNKNOWN_TOPIC_OR_PARTITION\n"
    );
    let r = elect("preferred", "t");
    assert!(r.ok, "{}", r.err);
    assert_eq!(r.out, "Valid replica already elected for partitions t-0\n");
    let r = run(&[
        "leader-election",
        "--bootstrap-server",
        b,
        "--election-type",
        "PREFERRED",
        "--all-topic-partitions",
    ]);
    assert!(r.ok, "{}", r.err);
    assert_eq!(r.out, "Valid replica already elected for partitions t-0\n");
    let r = elect("clean", "t");
    assert!(!r.ok);
    assert!(r.err.contains("expected PREFERRED or UNCLEAN"), "{}", r.err);
    let r = run(&[
        "leader-election",
        "--bootstrap-server",
        b,
        "--election-type",
        "preferred",
    ]);
    assert!(
        !r.ok,
        "neither --topic nor --all-topic-partitions: {}",
        r.out
    );
    let r = run(&[
        "leader-election",
        "--bootstrap-server",
        b,
        "--election-type",
        "preferred",
        "--partition",
        "0",
        "--all-topic-partitions",
    ]);
    assert!(!r.ok, "--partition with --all-topic-partitions: {}", r.out);
    assert!(r.err.contains("cannot be used with"), "{}", r.err);
    let r = configs(&[&topic[..], &["t", "--describe", "--add-config", "a=1"]].concat());
    assert!(!r.ok, "--describe with --add-config: {}", r.out);
    assert!(r.err.contains("cannot be used with"), "{}", r.err);
}
