//! The fetch phase: read back what the produce runs left, against the null broker.

use super::*;

// ---- fetch ----------------------------------------------------------------------------------

pub(crate) struct FetchFigures {
    pub(crate) brook_mb: f64,
    pub(crate) null_mb: f64,
    /// Median of the per-pair ratios.
    pub(crate) ratio: f64,
    /// Bytes fetched from Brook per repetition (all partitions).
    pub(crate) bytes: u64,
    pub(crate) avg_response: u64,
}

pub(crate) struct FetchRun {
    pub(crate) bytes: u64,
    pub(crate) requests: u64,
    pub(crate) secs: f64,
}

/// Reads back what `produced` left in each partition (up to `plan.fetch_cap`), alternating
/// with null-broker fetches of the same sizes.
pub(crate) fn fetch_phase(
    layout: &Layout,
    broker: &Server,
    null: &Server,
    produced: &ProduceRun,
    plan: &Plan,
) -> BenchResult<FetchFigures> {
    let batch_len = produced.batch_len as u64;
    let cap_batches = (plan.fetch_cap / batch_len).max(1);
    let targets: Vec<u64> = produced
        .acked
        .iter()
        .map(|&n| n.min(cap_batches) * batch_len)
        .collect();
    let mut pairs = Vec::new();
    let mut brook_runs = Vec::new();
    for _ in 0..plan.fetch_reps {
        let b = fetch_once(layout, broker, &targets)?;
        if b.bytes != targets.iter().sum::<u64>() {
            return Err(format!(
                "fetched {} bytes, expected {}",
                b.bytes,
                targets.iter().sum::<u64>()
            )
            .into());
        }
        let n = fetch_once(layout, null, &targets)?;
        pairs.push((mb(&b), mb(&n)));
        brook_runs.push(b);
    }
    let last = brook_runs.last().ok_or("no fetch repetitions")?;
    Ok(FetchFigures {
        brook_mb: median(pairs.iter().map(|p| p.0).collect()),
        null_mb: median(pairs.iter().map(|p| p.1).collect()),
        ratio: median(pairs.iter().map(|p| p.0 / p.1).collect()),
        bytes: last.bytes,
        avg_response: last.bytes / last.requests.max(1),
    })
}

pub(crate) fn mb(run: &FetchRun) -> f64 {
    run.bytes as f64 / run.secs / 1e6
}

pub(crate) fn fetch_once(
    layout: &Layout,
    server: &Server,
    targets: &[u64],
) -> BenchResult<FetchRun> {
    let addr = server.addr;
    let targets = targets.to_vec();
    on_client(layout, server, async move {
        let client = BrookClient::new(channel(addr)?);
        // Connect before the clock starts.
        let _ = client.clone().fetch(fetch_request(0, 0)).await?;
        let start = Instant::now();
        let mut tasks = JoinSet::new();
        for (partition, target) in targets.into_iter().enumerate() {
            let mut client = client.clone();
            tasks.spawn(async move {
                let (mut offset, mut got, mut requests) = (0i64, 0u64, 0u64);
                while got < target {
                    let resp = client
                        .fetch(fetch_request(partition as i32, offset))
                        .await?
                        .into_inner();
                    let p = resp
                        .topics
                        .first()
                        .and_then(|t| t.partitions.first())
                        .ok_or("empty fetch response")?;
                    if resp.error_code != 0 || p.error_code != 0 {
                        return Err(format!(
                            "fetch of partition {partition} at {offset} failed: {}",
                            ErrorCode::from_wire(p.error_code)
                        )
                        .into());
                    }
                    if p.records.is_empty() {
                        return Err(format!(
                            "fetch of partition {partition} at {offset} returned nothing \
                             ({got} of {target} bytes read)"
                        )
                        .into());
                    }
                    for item in batch::batches(&p.records) {
                        offset = item?.1.next_offset();
                    }
                    got += p.records.len() as u64;
                    requests += 1;
                }
                Ok::<_, BenchError>((got.min(target), requests))
            });
        }
        let (mut bytes, mut requests) = (0, 0);
        while let Some(joined) = tasks.join_next().await {
            let (b, r) = joined??;
            bytes += b;
            requests += r;
        }
        Ok::<_, BenchError>(FetchRun {
            bytes,
            requests,
            secs: start.elapsed().as_secs_f64(),
        })
    })?
}

pub(crate) fn fetch_request(partition: i32, offset: i64) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: FETCH_MAX,
        replica_epoch: -1,
        topics: vec![FetchTopic {
            name: TOPIC.into(),
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: offset,
                partition_max_bytes: FETCH_MAX,
                last_fetched_epoch: -1,
                ..Default::default()
            }],
        }],
    }
}

// ---- helpers --------------------------------------------------------------------------------

/// One batch encoded once and sent over and over (the broker stamps offsets into its own copy).
pub(crate) struct Batch {
    pub(crate) bytes: Bytes,
    pub(crate) records: usize,
}

impl Batch {
    /// As many `value_len`-byte records (no key, no headers) as fit in 16 KiB.
    pub(crate) fn build(value_len: usize) -> Batch {
        let value = vec![b'v'; value_len];
        let now = now_ms();
        let mut builder = BatchBuilder::new();
        loop {
            let mut next = builder.clone();
            next.append(now, None, Some(&value), &[]);
            if next.size_in_bytes() > BATCH_TARGET && !builder.is_empty() {
                break;
            }
            builder = next;
        }
        Batch {
            bytes: builder.build(),
            records: builder.len(),
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
