use super::*;

#[test]
fn defaults_parse_and_unknown_keys_are_named() {
    let c = BrokerConfig::from_pairs([("node.id", "3"), ("listeners", "127.0.0.1:0")]).unwrap();
    assert_eq!(c.node_id, 3);
    assert_eq!(c.listener.port(), 0);
    let e = BrokerConfig::from_pairs([("log.dir", "x")]).unwrap_err();
    assert_eq!(e.key, "log.dir");
    let e = BrokerConfig::from_pairs([("min.insync.replicas", "zero")]).unwrap_err();
    assert_eq!(e.key, "min.insync.replicas");
    let e = BrokerConfig::from_pairs([("listeners", "nowhere")]).unwrap_err();
    assert_eq!(e.key, "listeners");
}

#[test]
fn kafka_listener_is_off_by_default_and_plaintext_only() {
    let c = BrokerConfig::from_pairs([("node.id", "1")]).unwrap();
    assert_eq!(c.kafka_listener, None);
    assert_eq!(c.socket_request_max_bytes, 100 * 1024 * 1024);
    let c = BrokerConfig::from_pairs([("kafka.listeners", "PLAINTEXT://127.0.0.1:0")]).unwrap();
    assert_eq!(c.kafka_listener.map(|a| a.port()), Some(0));
    for bad in [
        "SSL://127.0.0.1:9093",
        "nowhere",
        "PLAINTEXT://a:1,PLAINTEXT://b:2",
    ] {
        let e = BrokerConfig::from_pairs([("kafka.listeners", bad)]).unwrap_err();
        assert_eq!(e.key, "kafka.listeners", "{bad}");
    }
}

#[test]
fn metrics_listener_is_off_by_default_and_checked() {
    assert_eq!(
        BrokerConfig::from_pairs::<[(&str, &str); 0], _, _>([])
            .unwrap()
            .metrics_listener,
        None
    );
    let c = BrokerConfig::from_pairs([("metrics.listener", "127.0.0.1:0")]).unwrap();
    assert_eq!(c.metrics_listener.map(|a| a.port()), Some(0));
    let e = BrokerConfig::from_pairs([("metrics.listener", "localhost")]).unwrap_err();
    assert_eq!(e.key, "metrics.listener");
}

#[test]
fn topic_config_layers_overrides_on_broker_defaults() {
    let c = BrokerConfig::from_pairs([
        ("log.flush.interval.messages", "10"),
        ("min.insync.replicas", "2"),
    ])
    .unwrap();
    let t = c.topic_config(&BTreeMap::new()).unwrap();
    assert_eq!(t.log.flush_messages, Some(10));
    assert_eq!(t.min_insync_replicas, 2);
    let o = BTreeMap::from([("flush.messages".to_string(), "1".to_string())]);
    assert_eq!(c.topic_config(&o).unwrap().log.flush_messages, Some(1));
    let bad = BTreeMap::from([("flush.message".to_string(), "1".to_string())]);
    assert_eq!(c.topic_config(&bad).unwrap_err().key, "flush.message");
}

#[test]
fn group_lag_keys_have_burrows_defaults_and_bounds() {
    let c = BrokerConfig::from_pairs::<_, &str, &str>([]).unwrap();
    assert_eq!(
        c.group_lag,
        crate::group_coordinator::lag::LagConfig::default()
    );
    let c = BrokerConfig::from_pairs([
        ("group.lag.window.intervals", "5"),
        ("group.lag.minimum.complete", "0.5"),
    ])
    .unwrap();
    assert_eq!(
        (c.group_lag.intervals, c.group_lag.minimum_complete),
        (5, 0.5)
    );
    for (k, v) in [
        ("group.lag.window.intervals", "0"),
        ("group.lag.minimum.complete", "1.5"),
        ("group.lag.minimum.complete", "x"),
        ("group.lag.offset.refresh.ms", "0"),
    ] {
        assert_eq!(BrokerConfig::from_pairs([(k, v)]).unwrap_err().key, k);
    }
}

#[test]
fn group_keys_have_kafka_defaults_and_bounds() {
    let c = BrokerConfig::from_pairs::<_, &str, &str>([]).unwrap();
    let g = c.group_config();
    assert_eq!(g.min_session_timeout_ms, 6000);
    assert_eq!(g.max_session_timeout_ms, 1_800_000);
    assert_eq!(g.initial_rebalance_delay_ms, 3000);
    assert_eq!(g.max_size, i32::MAX as usize);
    assert_eq!(g.max_metadata_bytes, c.message_max_bytes);
    let e = BrokerConfig::from_pairs([
        ("group.min.session.timeout.ms", "10"),
        ("group.max.session.timeout.ms", "5"),
    ])
    .unwrap_err();
    assert_eq!(e.key, "group.min.session.timeout.ms");
    let e = BrokerConfig::from_pairs([("group.max.size", "0")]).unwrap_err();
    assert_eq!(e.key, "group.max.size");
    let e = BrokerConfig::from_pairs([("group.initial.rebalance.delay.ms", "-1")]).unwrap_err();
    assert_eq!(e.key, "group.initial.rebalance.delay.ms");
}

#[test]
fn properties_files_parse() {
    let p = BrokerConfig::parse_properties("# c\nnode.id=2\n\nlog.dirs = /tmp/x\n").unwrap();
    assert_eq!(
        p,
        vec![
            ("node.id".into(), "2".into()),
            ("log.dirs".into(), "/tmp/x".into())
        ]
    );
    assert!(BrokerConfig::parse_properties("garbage").is_err());
}

/// `controller.quorum.voters` problems stop startup with INVALID_CONFIG naming the key.
#[test]
fn bad_voter_sets_are_refused_with_the_key_and_the_problem() {
    let err = |pairs: &[(&str, &str)]| {
        let e = BrokerConfig::from_pairs(pairs.iter().copied()).unwrap_err();
        assert_eq!(e.key, "controller.quorum.voters", "{e:?}");
        e.reason
    };
    let empty = err(&[("controller.quorum.voters", "")]);
    assert!(empty.contains("is empty"), "{empty}");
    let twice = err(&[(
        "controller.quorum.voters",
        "1@127.0.0.1:9092,1@127.0.0.1:9093",
    )]);
    assert!(twice.contains("node 1 twice"), "{twice}");
    let same_addr = err(&[(
        "controller.quorum.voters",
        "1@127.0.0.1:9092,2@127.0.0.1:9092",
    )]);
    assert!(
        same_addr.contains("address 127.0.0.1:9092 twice"),
        "{same_addr}"
    );
    for bad in ["1@nohost", "1@:9092", "1@h:0", "1@h:port", "x@h:1", "1h:1"] {
        let why = err(&[("controller.quorum.voters", bad)]);
        assert!(
            why.contains("HOST:PORT") || why.contains("node id"),
            "{bad}: {why}"
        );
    }
    let missing = err(&[
        ("node.id", "4"),
        ("controller.quorum.voters", "1@h:1,2@h:2,3@h:3"),
    ]);
    assert!(
        missing.contains("does not contain this node (node.id=4)"),
        "{missing}"
    );
    let broker_only = err(&[("process.roles", "broker")]);
    assert!(broker_only.contains("required"), "{broker_only}");
}

#[test]
fn good_voter_sets_parse() {
    let c = BrokerConfig::from_pairs([
        ("node.id", "2"),
        (
            "controller.quorum.voters",
            "1@localhost:9092, 2@127.0.0.1:9093,3@h:9094",
        ),
    ])
    .unwrap();
    assert_eq!(c.controller_voters.len(), 3);
    assert_eq!(c.controller_voters[1], (2, "127.0.0.1:9093".to_string()));
    // A broker-only node may be outside the voter set; an absent key means "me alone".
    BrokerConfig::from_pairs([
        ("node.id", "9"),
        ("process.roles", "broker"),
        ("controller.quorum.voters", "1@h:1"),
    ])
    .unwrap();
    let alone = BrokerConfig::from_pairs([("node.id", "5")]).unwrap();
    assert_eq!(
        alone.voters("127.0.0.1:4000"),
        vec![(5, "127.0.0.1:4000".to_string())]
    );
}
