//! (a) `Cluster::start()` with three brokers: every one a controller voter (the default) vs
//! `.controller_voters(1)`, alternated in the same run.

use std::time::Instant;

use brook::bench::baseline::median;

use crate::{BenchResult, Dirs, Plan, builder, min_max, ms};

/// Median `startup_time()` in ms of each voter count.
pub struct Summary {
    pub three_voters: f64,
    pub one_voter: f64,
}

/// `startup_time()` and wall time of `start()` (ms) of each start of one voter count.
#[derive(Default)]
struct Starts {
    ready: Vec<f64>,
    wall: Vec<f64>,
}

async fn start_once(plan: &Plan, dirs: &Dirs, voters: usize) -> BenchResult<(f64, f64)> {
    let dir = dirs.fresh();
    let t = Instant::now();
    let cluster = builder(plan, &dir)
        .controller_voters(voters)
        .start()
        .await?;
    let wall = ms(t.elapsed());
    let ready = ms(cluster.startup_time());
    Dirs::done(cluster, &dir);
    Ok((ready, wall))
}

pub async fn bench(plan: &Plan, dirs: &Dirs) -> BenchResult<Summary> {
    // One untimed start of each: the first one pays for page faults, thread spawns and lazy
    // statics.
    for voters in [3, 1] {
        start_once(plan, dirs, voters).await?;
    }
    let (mut three, mut one) = (Starts::default(), Starts::default());
    for i in 0..plan.starts {
        // 3 1 1 3 3 1 …: neither goes first every time.
        let order = if i % 2 == 0 { [3, 1] } else { [1, 3] };
        for voters in order {
            let (ready, wall) = start_once(plan, dirs, voters).await?;
            let s = if voters == 3 { &mut three } else { &mut one };
            s.ready.push(ready);
            s.wall.push(wall);
        }
    }
    println!();
    println!(
        "(a) Cluster::start() with 3 brokers, {} fresh starts of each voter count, alternated",
        plan.starts
    );
    println!("  {:<42} {:>9} {:>9} {:>9}", "", "median", "min", "max");
    for (name, v) in [
        ("3 voters: startup_time() (ready)", &three.ready),
        ("3 voters: wall time of start()", &three.wall),
        ("1 voter:  startup_time() (ready)", &one.ready),
        ("1 voter:  wall time of start()", &one.wall),
    ] {
        let (lo, hi) = min_max(v);
        println!(
            "  {name:<42} {:>6.1} ms {:>6.1} ms {:>6.1} ms",
            median(v.clone()),
            lo,
            hi
        );
    }
    let summary = Summary {
        three_voters: median(three.ready),
        one_voter: median(one.ready),
    };
    println!(
        "  ratio of medians (ready) 3 voters / 1 voter = {:.1} / {:.1} ms = {:.2}",
        summary.three_voters,
        summary.one_voter,
        summary.three_voters / summary.one_voter
    );
    Ok(summary)
}
