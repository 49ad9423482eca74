//! The workload around the faults: the verbose verifiable consumers (the run's and the final
//! read's) and the availability figures computed from the producer's acknowledgements.

use std::collections::HashSet;
use std::time::Duration;

use brook_verify::{consumer, producer};
use tokio::time::Instant;

use super::{Capture, DRAIN_MAX, FINAL_READ_IDLE, Run, ScenarioOptions};

/// A verifiable consumer running in its own task; its summary, or the tool's error.
pub(crate) type ConsumerTask =
    tokio::task::JoinHandle<Result<consumer::ConsumerSummary, brook_verify::tool::ToolError>>;

/// Starts a verbose verifiable consumer of the run's topic in group `<topic>-<group>`, from the
/// beginning when the group has no offsets, capturing its events until stopped.
pub(crate) fn spawn_consumer(
    run: &Run,
    group: &str,
    capture: &Capture,
) -> (consumer::StopSignal, ConsumerTask) {
    let bootstrap = run.cluster.bootstrap_servers();
    let group = format!("{}-{group}", run.topic);
    let mut opts = consumer::ConsumerOptions::new(&run.topic, &bootstrap, group);
    opts.verbose = true;
    // Fault scenarios follow the partitions, not a group: one consumer reads them all.
    opts.assign = true;
    opts.idle_timeout = None;
    opts.poll_timeout = Duration::from_millis(100);
    opts.consumer_config = vec![("request.timeout.ms".into(), "2000".into())];
    let stop = opts.stop.clone();
    let task = tokio::spawn({
        let (channels, mut w) = (run.cluster.client_channels(), capture.writer());
        async move { consumer::run_with_channels(&opts, channels, &mut w).await }
    });
    (stop, task)
}

/// The verifiable producer running in its own task.
pub(crate) type ProducerTask =
    tokio::task::JoinHandle<Result<producer::ProducerSummary, brook_verify::tool::ToolError>>;

/// Starts the run's throttled verifiable producer (values prefixed with the seed and this
/// process's id, so that no other run's values can be mistaken for this one's).
pub(crate) fn spawn_producer(
    run: &Run,
    options: &ScenarioOptions,
) -> (brook_verify::tool::StopSignal, ProducerTask) {
    let bootstrap = run.cluster.bootstrap_servers();
    let mut p_opts = producer::ProducerOptions::new(&run.topic, &bootstrap);
    p_opts.throughput = options.throughput.max(1) as i64;
    p_opts.acks = options.acks;
    p_opts.value_prefix = Some(format!("s{}-{}", options.seed, std::process::id()));
    p_opts.producer_config = vec![
        ("enable.idempotence".into(), options.idempotence.to_string()),
        ("request.timeout.ms".into(), "2000".into()),
        ("delivery.timeout.ms".into(), "15000".into()),
        ("retry.backoff.ms".into(), "50".into()),
    ];
    let stop = p_opts.stop.clone();
    let task = tokio::spawn({
        let (channels, mut w) = (run.cluster.client_channels(), run.produced.writer());
        async move { producer::run_with_channels(&p_opts, channels, &mut w).await }
    });
    (stop, task)
}

/// Reads every partition from the beginning with a fresh group until every acked value was
/// seen or nothing new came for `FINAL_READ_IDLE` (values that are gone never arrive).
pub(crate) async fn final_read(run: &Run, acked: &HashSet<String>) -> Result<Capture, String> {
    let capture = Capture::new();
    let (stop, task) = spawn_consumer(run, "final-read", &capture);
    let started = Instant::now();
    loop {
        let done = {
            let state = capture.state();
            let idle = state.last_consumed.unwrap_or(started).elapsed() >= FINAL_READ_IDLE;
            state.unseen(acked) == 0 || idle || started.elapsed() >= DRAIN_MAX
        };
        if done || task.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.stop();
    match task.await {
        Ok(Ok(_)) => Ok(capture),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The longest gap between acknowledgements, and per fault the time until the first
/// acknowledgement of a value sent after it. The producer is throttled (value n is due at
/// start + n / rate and never sent earlier), so values numbered above (fault − start) × rate were
/// certainly sent after the fault: acks of records that were in flight do not count as recovery.
pub(crate) fn availability(run: &Run, throughput: u64) -> (Duration, Vec<Option<Duration>>) {
    let state = run.produced.state();
    let mut times: Vec<Instant> = state.acks.iter().map(|a| a.0).collect();
    times.sort();
    let gap = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let start = state.started.unwrap_or_else(Instant::now);
    let recovery = run
        .faults
        .iter()
        .map(|&f| {
            let first_after = (f.saturating_duration_since(start).as_secs_f64() * throughput as f64)
                .ceil() as u64;
            state
                .acks
                .iter()
                .filter(|(t, _, n)| *t >= f && *n >= first_after && *n != u64::MAX)
                .map(|(t, _, _)| *t - f)
                .min()
        })
        .collect();
    (gap, recovery)
}
