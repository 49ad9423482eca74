//! `brook groups list | describe | reset-offsets | delete`: Kafka's kafka-consumer-groups for
//! Brook, with its column layouts and its messages. This module owns the arguments and the
//! calls (through `brook_client::Admin`); what is printed is `groups/table.rs` and the reset
//! plan `groups/reset.rs`, both pure so they are unit-tested on plain data.
//!
//! Failures Kafka words itself ("Error: Consumer group 'G' does not exist.", the reset refusal
//! while a group has members, the delete report) are printed here on stderr and end the
//! command with exit code 1 ([`exit_if_reported`]); other errors go to `main`'s one-line
//! report.

mod reset;
mod table;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use brook_client::admin::Admin;
use brook_client::{
    AdminConfig, ClientError, ErrorCode, GroupDescription, OffsetSpec, TopicPartition,
};

use reset::{Bounds, ResetSpec};
use table::CoordinatorInfo;

#[derive(clap::Args)]
pub struct GroupsArgs {
    #[arg(long, default_value = "127.0.0.1:9092", global = true)]
    bootstrap_server: String,
    #[command(subcommand)]
    command: GroupsCommand,
}

#[derive(clap::Subcommand)]
enum GroupsCommand {
    /// List consumer groups, one id per line (kafka-consumer-groups --list).
    List {
        /// Add a STATE column; with a value (`--state Stable,Empty`) list only those states.
        #[arg(long, value_name = "STATES", num_args = 0..=1, default_missing_value = "")]
        state: Option<String>,
        /// One JSON array of {group, protocol_type, state}.
        #[arg(long)]
        json: bool,
    },
    /// Describe a group: per partition its committed offset, log end offset, lag and lag
    /// STATUS (default), its members (--members) or its state (--state).
    Describe {
        #[arg(long)]
        group: String,
        /// One row per member: GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS.
        #[arg(long, conflicts_with = "state")]
        members: bool,
        /// With --members: add each member's ASSIGNMENT.
        #[arg(long, requires = "members")]
        verbose: bool,
        /// The group's coordinator, assignment strategy, state and member count.
        #[arg(long)]
        state: bool,
        /// One JSON object instead of the table (field names in the README).
        #[arg(long)]
        json: bool,
    },
    /// Move a group's committed offsets (only while it has no members). Without --execute
    /// it only prints the plan.
    ResetOffsets(ResetArgs),
    /// Delete groups and their committed offsets (only groups without members).
    Delete {
        /// A group to delete; repeat for more.
        #[arg(long = "group", required = true)]
        groups: Vec<String>,
    },
}

#[derive(clap::Args)]
struct ResetArgs {
    #[arg(long)]
    group: String,
    /// `TOPIC` (all its partitions) or `TOPIC:0,2`; repeatable.
    #[arg(
        long = "topic",
        value_name = "TOPIC[:P,P]",
        required_unless_present = "all_topics"
    )]
    topics: Vec<String>,
    /// Every partition the group has committed offsets for.
    #[arg(long, conflicts_with = "topics")]
    all_topics: bool,
    #[command(flatten)]
    to: ResetTo,
    /// Print the plan only (the default without --execute).
    #[arg(long, conflicts_with = "execute")]
    dry_run: bool,
    /// Commit the new offsets.
    #[arg(long)]
    execute: bool,
    /// One JSON object {group, executed, partitions: [{topic, partition, new_offset}]}.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct ResetTo {
    /// The log start offset.
    #[arg(long)]
    to_earliest: bool,
    /// The log end offset.
    #[arg(long)]
    to_latest: bool,
    /// This offset (clamped to the log's range).
    #[arg(long, value_name = "OFFSET")]
    to_offset: Option<i64>,
    /// The first offset at or after this time: yyyy-MM-ddTHH:mm:ss.SSS, UTC unless it ends in
    /// Z or an offset such as +01:00.
    #[arg(long, value_name = "DATETIME")]
    to_datetime: Option<String>,
    /// The committed offset moved by N (negative: back), clamped to the log's range.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,
}

/// A failure already printed in Kafka's words; the command exits 1 without another line.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the error above")
    }
}

impl std::error::Error for Reported {}

/// `main`'s hook: a [`Reported`] failure exits 1 at once; any other error is returned for
/// `main` to print.
pub fn exit_if_reported(e: anyhow::Error) -> anyhow::Result<()> {
    if e.is::<Reported>() {
        std::process::exit(1);
    }
    Err(e)
}

/// Prints `Error: {msg}` on stderr and returns the [`Reported`] failure.
fn report(msg: String) -> anyhow::Error {
    eprintln!("Error: {msg}");
    Reported.into()
}

pub async fn run(args: GroupsArgs) -> anyhow::Result<()> {
    let admin = Admin::new(AdminConfig::new(&args.bootstrap_server))?;
    match args.command {
        GroupsCommand::List { state, json } => list(&admin, state, json).await,
        GroupsCommand::Describe {
            group,
            members,
            verbose,
            state,
            json,
        } => {
            let desc = describe_existing(&admin, &group).await?;
            if members {
                describe_members(&desc, verbose, json)
            } else if state {
                describe_state(&admin, &desc, json).await
            } else {
                describe_offsets(&admin, &desc, json).await
            }
        }
        GroupsCommand::ResetOffsets(args) => reset_offsets(&admin, args).await,
        GroupsCommand::Delete { groups } => delete(&admin, &groups).await,
    }
}

async fn list(admin: &Admin, state: Option<String>, json: bool) -> anyhow::Result<()> {
    let mut groups = admin.list_consumer_groups().await?;
    if let Some(filter) = state.as_deref().filter(|s| !s.is_empty()) {
        let wanted: Vec<String> = filter.split(',').map(|s| s.trim().to_lowercase()).collect();
        groups.retain(|g| wanted.contains(&g.state.to_lowercase()));
    }
    if json {
        println!("{}", table::list_json(&groups));
    } else {
        print!("{}", table::list_text(&groups, state.is_some()));
    }
    Ok(())
}

/// The group's description, or Kafka's "does not exist" for a Dead or unknown group.
async fn describe_existing(admin: &Admin, group: &str) -> anyhow::Result<GroupDescription> {
    match describe_one(admin, group).await? {
        Some(d) if d.state != "Dead" => {
            match d.state.as_str() {
                "Empty" => eprintln!("Consumer group '{group}' has no active members."),
                "PreparingRebalance" | "CompletingRebalance" => {
                    eprintln!("Warning: Consumer group '{group}' is rebalancing.")
                }
                _ => {}
            }
            Ok(d)
        }
        _ => Err(report(format!("Consumer group '{group}' does not exist."))),
    }
}

/// `None` when the coordinator answers `GROUP_ID_NOT_FOUND`.
async fn describe_one(admin: &Admin, group: &str) -> anyhow::Result<Option<GroupDescription>> {
    match admin.describe_consumer_groups(&[group.to_string()]).await {
        Ok(mut v) => Ok(v.pop()),
        Err(e) if e.code() == Some(ErrorCode::GroupIdNotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn describe_offsets(
    admin: &Admin,
    desc: &GroupDescription,
    json: bool,
) -> anyhow::Result<()> {
    let committed = admin.list_consumer_group_offsets(&desc.group_id).await?;
    let partitions: BTreeSet<TopicPartition> = desc
        .members
        .iter()
        .flat_map(|m| m.assignment.iter().cloned())
        .chain(committed.keys().cloned())
        .collect();
    let specs = partitions
        .into_iter()
        .map(|tp| (tp, OffsetSpec::Latest))
        .collect();
    let log_end: BTreeMap<TopicPartition, i64> = admin
        .list_partition_offsets(&specs)
        .await?
        .into_iter()
        .filter_map(|(tp, r)| r.ok().map(|o| (tp, o)))
        .collect();
    let mut rows = table::offset_rows(desc, &committed, &log_end);
    // STATUS from the coordinator's lag evaluation; describe never fails for it (`-`).
    if let Ok(lag) = admin.group_lag(&desc.group_id).await {
        let statuses: BTreeMap<TopicPartition, String> = lag
            .partitions
            .iter()
            .map(|p| {
                (
                    TopicPartition::new(p.topic.clone(), p.partition),
                    p.status.to_string(),
                )
            })
            .collect();
        for r in &mut rows {
            r.status = statuses.get(&r.tp).cloned();
        }
    }
    if json {
        println!(
            "{}",
            table::offsets_json(&desc.group_id, &desc.state, &rows)
        );
    } else if !rows.is_empty() {
        print!("{}", table::offsets_table(&rows));
    }
    Ok(())
}

fn describe_members(desc: &GroupDescription, verbose: bool, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", table::members_json(desc));
    } else if !desc.members.is_empty() {
        print!("{}", table::members_table(desc, verbose));
    }
    Ok(())
}

async fn describe_state(admin: &Admin, desc: &GroupDescription, json: bool) -> anyhow::Result<()> {
    let cluster = admin.describe_cluster().await?;
    let coordinator = cluster
        .brokers
        .iter()
        .find(|b| b.node_id == desc.coordinator)
        .map_or_else(
            || CoordinatorInfo {
                id: desc.coordinator,
                host: "-".into(),
                port: -1,
            },
            |b| CoordinatorInfo {
                id: b.node_id,
                host: b.host.clone(),
                port: b.port,
            },
        );
    if json {
        println!("{}", table::state_json(desc, &coordinator));
    } else {
        print!("{}", table::state_table(desc, &coordinator));
    }
    Ok(())
}

fn reset_spec(to: &ResetTo) -> anyhow::Result<ResetSpec> {
    Ok(if to.to_earliest {
        ResetSpec::Earliest
    } else if to.to_latest {
        ResetSpec::Latest
    } else if let Some(o) = to.to_offset {
        ResetSpec::Offset(o)
    } else if let Some(d) = &to.to_datetime {
        ResetSpec::Datetime(reset::parse_datetime(d)?)
    } else if let Some(n) = to.shift_by {
        ResetSpec::ShiftBy(n)
    } else {
        bail!(
            "one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by is required"
        )
    })
}

/// The partitions `--topic` / `--all-topics` name, each checked to exist (Kafka's
/// `checkAllTopicPartitionsValid`).
async fn partitions_to_reset(
    admin: &Admin,
    args: &ResetArgs,
    committed: &BTreeMap<TopicPartition, i64>,
) -> anyhow::Result<Vec<TopicPartition>> {
    let wanted: Vec<(String, Option<Vec<i32>>)> = if args.all_topics {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for tp in committed.keys() {
            by_topic
                .entry(tp.topic.clone())
                .or_default()
                .push(tp.partition);
        }
        by_topic.into_iter().map(|(t, p)| (t, Some(p))).collect()
    } else {
        args.topics
            .iter()
            .map(|a| reset::parse_topic_arg(a))
            .collect::<anyhow::Result<_>>()?
    };
    let mut existing: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let topics: BTreeSet<&str> = wanted.iter().map(|(t, _)| t.as_str()).collect();
    for t in topics {
        match admin.describe_topics(&[t]).await {
            Ok(d) => {
                for td in d {
                    existing.insert(td.name, td.partitions.iter().map(|p| p.partition).collect());
                }
            }
            Err(e) if e.code() == Some(ErrorCode::UnknownTopicOrPartition) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = BTreeSet::new();
    let mut missing = Vec::new();
    for (topic, parts) in wanted {
        let have = existing.get(&topic).cloned().unwrap_or_default();
        match parts {
            None if have.is_empty() => missing.push(topic.clone()),
            None => out.extend(have.iter().map(|p| TopicPartition::new(topic.clone(), *p))),
            Some(parts) => {
                for p in parts {
                    let tp = TopicPartition::new(topic.clone(), p);
                    if have.contains(&p) {
                        out.insert(tp);
                    } else {
                        missing.push(tp.to_string());
                    }
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(ClientError::kafka(
            ErrorCode::UnknownTopicOrPartition,
            format!("The partitions \"{}\" do not exist", missing.join(",")),
        )
        .into());
    }
    Ok(out.into_iter().collect())
}

async fn reset_offsets(admin: &Admin, args: ResetArgs) -> anyhow::Result<()> {
    let spec = reset_spec(&args.to)?;
    let group = args.group.as_str();
    // Kafka resets only inactive groups: Empty, Dead, or unknown to the coordinator.
    if let Some(d) = describe_one(admin, group).await? {
        if d.state != "Empty" && d.state != "Dead" {
            return Err(report(format!(
                "Assignments can only be reset if the group '{group}' is inactive, but the \
                 current state is {}.",
                d.state
            )));
        }
    }
    let committed = admin.list_consumer_group_offsets(group).await?;
    let partitions = partitions_to_reset(admin, &args, &committed).await?;
    let offsets = |spec: OffsetSpec| {
        let specs = partitions.iter().map(|tp| (tp.clone(), spec)).collect();
        async move { admin.list_partition_offsets(&specs).await }
    };
    let starts = offsets(OffsetSpec::Earliest).await?;
    let ends = offsets(OffsetSpec::Latest).await?;
    let mut bounds = BTreeMap::new();
    for tp in &partitions {
        let (Some(Ok(start)), Some(Ok(end))) = (starts.get(tp), ends.get(tp)) else {
            let e = starts
                .get(tp)
                .and_then(|r| r.clone().err())
                .or_else(|| ends.get(tp).and_then(|r| r.clone().err()));
            match e {
                Some(e) => bail!("Error getting the offsets of topic partition {tp}: {e}"),
                None => bail!("Error getting the offsets of topic partition {tp}"),
            }
        };
        bounds.insert(
            tp.clone(),
            Bounds {
                start: *start,
                end: *end,
            },
        );
    }
    let by_time = match spec {
        ResetSpec::Datetime(ts) => {
            let mut found = BTreeMap::new();
            for (tp, r) in offsets(OffsetSpec::Timestamp(ts)).await? {
                match r {
                    Ok(o) => {
                        found.insert(tp, o);
                    }
                    Err(e) => {
                        bail!("Error getting offset by timestamp of topic partition {tp}: {e}")
                    }
                }
            }
            found
        }
        _ => BTreeMap::new(),
    };
    let (plan, warnings) = reset::plan(spec, &partitions, &bounds, &committed, &by_time)?;
    for w in warnings {
        eprintln!("Warn: {w}");
    }
    if args.execute {
        admin
            .alter_consumer_group_offsets(group, plan.clone())
            .await?;
    }
    if args.json {
        println!("{}", table::reset_json(group, &plan, args.execute));
    } else {
        print!("{}", table::reset_table(group, &plan));
    }
    if !args.execute {
        eprintln!("(dry run) Nothing was committed; run with --execute to commit these offsets.");
    }
    Ok(())
}

async fn delete(admin: &Admin, groups: &[String]) -> anyhow::Result<()> {
    let results: Vec<(String, Result<(), String>)> = admin
        .delete_consumer_groups(groups)
        .await?
        .into_iter()
        .map(|(g, r)| (g, r.map_err(|e| e.to_string())))
        .collect();
    let (out, err) = table::delete_report(&results);
    print!("{out}");
    if err.is_empty() {
        Ok(())
    } else {
        eprint!("{err}");
        Err(Reported.into())
    }
}
