//! What `brook groups` prints, as pure functions (data in, `String` or JSON out) so every
//! layout is unit-tested without a broker. The tables are kafka-consumer-groups' (Kafka 3.x
//! `ConsumerGroupCommand`): the same columns in the same order, each at least as wide as Kafka
//! makes it (15 for names, 10 for PARTITION, …), `-` for a missing value, one space between
//! columns; Brook drops Kafka's leading blank line and trailing blanks. The JSON objects use
//! the snake_case names the README lists, with `null` where the table prints `-`.

use std::collections::BTreeMap;

use brook_client::{GroupDescription, GroupListing, MemberDescription, TopicPartition};
use serde_json::{Value, json};

/// Kafka's `MISSING_COLUMN_VALUE`.
const MISSING: &str = "-";

/// One row of `describe` (offsets): a partition the group owns or committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetRow {
    /// The group id.
    pub group: String,
    /// The partition.
    pub tp: TopicPartition,
    /// The committed offset; `None` when nothing is committed.
    pub current_offset: Option<i64>,
    /// The partition's high watermark; `None` when it could not be read (no leader).
    pub log_end_offset: Option<i64>,
    /// `log_end_offset - current_offset` when both are known.
    pub lag: Option<i64>,
    /// The owning member (`None`: no member owns it).
    pub member: Option<Owner>,
    /// The partition's lag status from the coordinator's evaluation (Burrow's rules: OK, WARN,
    /// STOP, STALL, REWIND); `None` when it has none (no window, or GroupLag failed).
    pub status: Option<String>,
}

/// The member a row's partition is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Its member id.
    pub consumer_id: String,
    /// Its host (`/127.0.0.1`).
    pub host: String,
    /// Its `client.id`.
    pub client_id: String,
}

/// Kafka's `collectGroupOffsets`: first the partitions assigned to members (members with the
/// most partitions first, each one's partitions by topic and number), with their committed
/// offset if any; then the committed partitions no member owns. `log_end` has the high
/// watermark of each partition that has one.
pub fn offset_rows(
    desc: &GroupDescription,
    committed: &BTreeMap<TopicPartition, i64>,
    log_end: &BTreeMap<TopicPartition, i64>,
) -> Vec<OffsetRow> {
    let row = |tp: &TopicPartition, member: Option<Owner>| {
        let current_offset = committed.get(tp).copied();
        let log_end_offset = log_end.get(tp).copied();
        let lag = match (current_offset, log_end_offset) {
            (Some(c), Some(e)) => Some(e - c),
            _ => None,
        };
        OffsetRow {
            group: desc.group_id.clone(),
            tp: tp.clone(),
            current_offset,
            log_end_offset,
            lag,
            member,
            status: None,
        }
    };
    let mut members: Vec<&MemberDescription> = desc
        .members
        .iter()
        .filter(|m| !m.assignment.is_empty())
        .collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.len()));
    let mut rows = Vec::new();
    let mut assigned = std::collections::BTreeSet::new();
    for m in members {
        let mut tps = m.assignment.clone();
        tps.sort();
        for tp in &tps {
            assigned.insert(tp.clone());
            let owner = Owner {
                consumer_id: m.member_id.clone(),
                host: m.host.clone(),
                client_id: m.client_id.clone(),
            };
            rows.push(row(tp, Some(owner)));
        }
    }
    for tp in committed.keys().filter(|tp| !assigned.contains(*tp)) {
        rows.push(row(tp, None));
    }
    rows
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| MISSING.to_string(), |v| v.to_string())
}

/// Lays out rows of cells: each column as wide as its widest cell or its minimum (`None`: the
/// last column, not padded), one space between, trailing blanks trimmed.
fn layout(mins: &[Option<usize>], rows: &[Vec<String>]) -> String {
    let widths: Vec<Option<usize>> = mins
        .iter()
        .enumerate()
        .map(|(i, min)| {
            min.map(|min| {
                rows.iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .fold(min, usize::max)
            })
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            match widths.get(i).copied().flatten() {
                Some(w) => line.push_str(&format!("{cell:<w$}")),
                None => line.push_str(cell),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `describe` (offsets): `GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID
/// HOST CLIENT-ID`, then Brook's `STATUS` (last, so Kafka's columns keep their places).
/// Kafka's widths: group, topic, consumer id, host and client id at least 15, PARTITION 10,
/// the offsets and LAG 15.
pub fn offsets_table(rows: &[OffsetRow]) -> String {
    let mut cells = vec![
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
            "STATUS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in rows {
        let m = r.member.as_ref();
        cells.push(vec![
            r.group.clone(),
            r.tp.topic.clone(),
            r.tp.partition.to_string(),
            opt(r.current_offset),
            opt(r.log_end_offset),
            opt(r.lag),
            opt(m.map(|m| &m.consumer_id)),
            opt(m.map(|m| &m.host)),
            opt(m.map(|m| &m.client_id)),
            opt(r.status.as_ref()),
        ]);
    }
    let mins = [
        Some(15),
        Some(15),
        Some(10),
        Some(15),
        Some(15),
        Some(15),
        Some(15),
        Some(15),
        Some(15),
        None,
    ];
    layout(&mins, &cells)
}

/// `describe --json` (offsets): `{group, state, partitions: [{topic, partition,
/// current_offset, log_end_offset, lag, consumer_id, host, client_id, status}]}`.
pub fn offsets_json(group: &str, state: &str, rows: &[OffsetRow]) -> Value {
    json!({
        "group": group,
        "state": state,
        "partitions": rows.iter().map(|r| {
            let m = r.member.as_ref();
            json!({
                "topic": r.tp.topic,
                "partition": r.tp.partition,
                "current_offset": r.current_offset,
                "log_end_offset": r.log_end_offset,
                "lag": r.lag,
                "consumer_id": m.map(|m| &m.consumer_id),
                "host": m.map(|m| &m.host),
                "client_id": m.map(|m| &m.client_id),
                "status": r.status,
            })
        }).collect::<Vec<_>>(),
    })
}

/// Kafka 3.x's ASSIGNMENT cell: `topic(0,1), other(2)`, topics sorted; `-` when empty.
pub fn assignment_string(tps: &[TopicPartition]) -> String {
    if tps.is_empty() {
        return MISSING.to_string();
    }
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(topic, mut parts)| {
            parts.sort_unstable();
            let parts: Vec<String> = parts.iter().map(i32::to_string).collect();
            format!("{topic}({})", parts.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `describe --members`: `GROUP CONSUMER-ID [GROUP-INSTANCE-ID] HOST CLIENT-ID #PARTITIONS`
/// (GROUP-INSTANCE-ID only when a member is static, as Kafka does), `--verbose` adds
/// ASSIGNMENT.
pub fn members_table(desc: &GroupDescription, verbose: bool) -> String {
    let statics = desc.members.iter().any(|m| m.group_instance_id.is_some());
    let mut header = vec!["GROUP", "CONSUMER-ID"];
    let mut mins = vec![Some(15), Some(15)];
    if statics {
        header.push("GROUP-INSTANCE-ID");
        mins.push(Some(17));
    }
    header.extend(["HOST", "CLIENT-ID", "#PARTITIONS"]);
    mins.extend([Some(15), Some(15), Some(15)]);
    if verbose {
        header.push("ASSIGNMENT");
        mins.push(None);
    }
    let mut cells = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for m in &desc.members {
        let mut row = vec![desc.group_id.clone(), m.member_id.clone()];
        if statics {
            row.push(opt(m.group_instance_id.as_ref()));
        }
        row.extend([
            m.host.clone(),
            m.client_id.clone(),
            m.assignment.len().to_string(),
        ]);
        if verbose {
            row.push(assignment_string(&m.assignment));
        }
        cells.push(row);
    }
    layout(&mins, &cells)
}

/// `describe --members --json`: `{group, state, members: [{consumer_id, group_instance_id,
/// host, client_id, partitions, assignment: [{topic, partition}]}]}` (the assignment always).
pub fn members_json(desc: &GroupDescription) -> Value {
    json!({
        "group": desc.group_id,
        "state": desc.state,
        "members": desc.members.iter().map(|m| json!({
            "consumer_id": m.member_id,
            "group_instance_id": m.group_instance_id,
            "host": m.host,
            "client_id": m.client_id,
            "partitions": m.assignment.len(),
            "assignment": tps_json(&m.assignment),
        })).collect::<Vec<_>>(),
    })
}

fn tps_json(tps: &[TopicPartition]) -> Value {
    let mut tps = tps.to_vec();
    tps.sort();
    tps.iter()
        .map(|tp| json!({"topic": tp.topic, "partition": tp.partition}))
        .collect()
}

/// The coordinator as `--state` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorInfo {
    /// Its node id.
    pub id: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: i32,
}

/// `describe --state`: `GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS`, the
/// coordinator as Kafka writes it (`host:port  (id)`), the strategy `-` without members.
pub fn state_table(desc: &GroupDescription, coordinator: &CoordinatorInfo) -> String {
    let coord = format!(
        "{}:{}  ({})",
        coordinator.host, coordinator.port, coordinator.id
    );
    let strategy = if desc.protocol.is_empty() {
        MISSING.to_string()
    } else {
        desc.protocol.clone()
    };
    let cells = vec![
        [
            "GROUP",
            "COORDINATOR (ID)",
            "ASSIGNMENT-STRATEGY",
            "STATE",
            "#MEMBERS",
        ]
        .map(String::from)
        .to_vec(),
        vec![
            desc.group_id.clone(),
            coord,
            strategy,
            desc.state.clone(),
            desc.members.len().to_string(),
        ],
    ];
    layout(&[Some(15), Some(25), Some(20), Some(20), None], &cells)
}

/// `describe --state --json`: `{group, coordinator: {id, host, port}, assignment_strategy,
/// state, members, protocol_type, generation_id, leader}` (`assignment_strategy` and `leader`
/// `null` without members).
pub fn state_json(desc: &GroupDescription, coordinator: &CoordinatorInfo) -> Value {
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    json!({
        "group": desc.group_id,
        "coordinator": {"id": coordinator.id, "host": coordinator.host, "port": coordinator.port},
        "assignment_strategy": nonempty(&desc.protocol),
        "state": desc.state,
        "members": desc.members.len(),
        "protocol_type": desc.protocol_type,
        "generation_id": desc.generation_id,
        "leader": nonempty(&desc.leader),
    })
}

/// `list`: one group id per line, or with `state` Kafka's `--list --state` table (`GROUP`
/// at least 25 wide, `STATE`).
pub fn list_text(groups: &[GroupListing], state: bool) -> String {
    if !state {
        return groups.iter().map(|g| format!("{}\n", g.group_id)).collect();
    }
    let group_width = groups
        .iter()
        .map(|g| g.group_id.len().max(15))
        .max()
        .unwrap_or(15)
        + 10;
    let mut cells = vec![vec!["GROUP".to_string(), "STATE".to_string()]];
    cells.extend(
        groups
            .iter()
            .map(|g| vec![g.group_id.clone(), g.state.clone()]),
    );
    layout(&[Some(group_width), None], &cells)
}

/// `list --json`: `[{group, protocol_type, state}]`.
pub fn list_json(groups: &[GroupListing]) -> Value {
    groups
        .iter()
        .map(|g| json!({"group": g.group_id, "protocol_type": g.protocol_type, "state": g.state}))
        .collect()
}

/// `reset-offsets`: Kafka's `GROUP TOPIC PARTITION NEW-OFFSET`.
pub fn reset_table(group: &str, offsets: &BTreeMap<TopicPartition, i64>) -> String {
    let mut cells = vec![
        ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
            .map(String::from)
            .to_vec(),
    ];
    for (tp, o) in offsets {
        cells.push(vec![
            group.to_string(),
            tp.topic.clone(),
            tp.partition.to_string(),
            o.to_string(),
        ]);
    }
    layout(&[Some(15), Some(15), Some(10), None], &cells)
}

/// `reset-offsets --json`: `{group, executed, partitions: [{topic, partition, new_offset}]}`.
pub fn reset_json(group: &str, offsets: &BTreeMap<TopicPartition, i64>, executed: bool) -> Value {
    json!({
        "group": group,
        "executed": executed,
        "partitions": offsets.iter().map(|(tp, o)| json!({
            "topic": tp.topic,
            "partition": tp.partition,
            "new_offset": o,
        })).collect::<Vec<_>>(),
    })
}

/// Kafka's `deleteGroups` report: the success line, or the error block (one line per failed
/// group) and, if some were deleted, the list of those. `(stdout, stderr)`.
pub fn delete_report(results: &[(String, Result<(), String>)]) -> (String, String) {
    let quoted = |ok: bool| {
        results
            .iter()
            .filter(|(_, r)| r.is_ok() == ok)
            .map(|(g, _)| format!("'{g}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(g, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("* Group '{g}' could not be deleted due to: {e}\n"))
        })
        .collect();
    if failures.is_empty() {
        let out = format!(
            "Deletion of requested consumer groups ({}) was successful.\n",
            quoted(true)
        );
        return (out, String::new());
    }
    let err = format!(
        "Error: Deletion of some consumer groups failed:\n{}",
        failures.concat()
    );
    let deleted = quoted(true);
    let out = if deleted.is_empty() {
        String::new()
    } else {
        format!("These consumer groups were deleted successfully: {deleted}\n")
    };
    (out, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    fn member(id: &str, tps: Vec<TopicPartition>) -> MemberDescription {
        MemberDescription {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "console".into(),
            host: "/127.0.0.1".into(),
            assignment: tps,
        }
    }

    fn group(members: Vec<MemberDescription>) -> GroupDescription {
        GroupDescription {
            group_id: "billing".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            generation_id: 4,
            leader: "console-a".into(),
            coordinator: 2,
            members,
        }
    }

    fn sample() -> (
        GroupDescription,
        BTreeMap<TopicPartition, i64>,
        BTreeMap<TopicPartition, i64>,
    ) {
        let desc = group(vec![
            member("console-b", vec![tp("orders", 2)]),
            member("console-a", vec![tp("orders", 1), tp("orders", 0)]),
            member("console-idle", vec![]),
        ]);
        // orders-1 has no commit yet; old-4 is committed but owned by nobody.
        let committed = BTreeMap::from([
            (tp("orders", 0), 40),
            (tp("orders", 2), 7),
            (tp("old", 4), 3),
        ]);
        let log_end = BTreeMap::from([
            (tp("orders", 0), 50),
            (tp("orders", 1), 12),
            (tp("orders", 2), 7),
        ]);
        (desc, committed, log_end)
    }

    #[test]
    fn offset_rows_put_the_biggest_member_first_then_unowned_commits() {
        let (desc, committed, log_end) = sample();
        let rows = offset_rows(&desc, &committed, &log_end);
        let order: Vec<(String, i32, Option<String>)> = rows
            .iter()
            .map(|r| {
                (
                    r.tp.topic.clone(),
                    r.tp.partition,
                    r.member.as_ref().map(|m| m.consumer_id.clone()),
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                ("orders".into(), 0, Some("console-a".into())),
                ("orders".into(), 1, Some("console-a".into())),
                ("orders".into(), 2, Some("console-b".into())),
                ("old".into(), 4, None),
            ]
        );
        assert_eq!((rows[0].current_offset, rows[0].lag), (Some(40), Some(10)));
        // Assigned, subscribed, nothing committed: offset and lag unknown, LEO known.
        assert_eq!(
            (rows[1].current_offset, rows[1].log_end_offset, rows[1].lag),
            (None, Some(12), None)
        );
        // No leader answered for old-4: LEO and lag unknown.
        assert_eq!((rows[3].log_end_offset, rows[3].lag), (None, None));
    }

    #[test]
    fn offsets_table_is_kafkas_layout_with_dashes() {
        let (desc, committed, log_end) = sample();
        let mut rows = offset_rows(&desc, &committed, &log_end);
        rows[0].status = Some("WARN".into());
        rows[2].status = Some("OK".into());
        let text = offsets_table(&rows);
        let want = "\
GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID       STATUS
billing         orders          0          40              50              10              console-a       /127.0.0.1      console         WARN
billing         orders          1          -               12              -               console-a       /127.0.0.1      console         -
billing         orders          2          7               7               0               console-b       /127.0.0.1      console         OK
billing         old             4          3               -               -               -               -               -               -
";
        assert_eq!(text, want);
    }

    #[test]
    fn long_values_widen_their_column() {
        let desc = group(vec![member(
            "consumer-1-0123456789abcdef",
            vec![tp("a-rather-long-topic", 0)],
        )]);
        let text = offsets_table(&offset_rows(&desc, &BTreeMap::new(), &BTreeMap::new()));
        let lines: Vec<&str> = text.lines().collect();
        // Columns as wide as the widest value (topic 19, consumer id 27), one space apart.
        let head = format!("GROUP           {:<19} PARTITION ", "TOPIC");
        assert!(lines[0].starts_with(&head), "{text}");
        let consumer = format!(" {:<27} HOST ", "CONSUMER-ID");
        assert!(lines[0].contains(&consumer), "{text}");
        assert!(lines[1].contains("a-rather-long-topic 0 "), "{text}");
    }

    #[test]
    fn offsets_json_has_nulls_where_the_table_has_dashes() {
        let (desc, committed, log_end) = sample();
        let v = offsets_json(
            "billing",
            "Stable",
            &offset_rows(&desc, &committed, &log_end),
        );
        assert_eq!(v["group"], "billing");
        assert_eq!(v["state"], "Stable");
        let p = &v["partitions"];
        assert_eq!(p[0]["current_offset"], 40);
        assert_eq!(p[0]["lag"], 10);
        assert_eq!(p[0]["consumer_id"], "console-a");
        assert_eq!(p[1]["current_offset"], Value::Null);
        assert_eq!(p[1]["log_end_offset"], 12);
        assert_eq!(p[3]["consumer_id"], Value::Null);
        assert_eq!(p[3]["host"], Value::Null);
        assert_eq!(p[3]["status"], Value::Null);
    }

    #[test]
    fn members_table_with_and_without_verbose() {
        let (desc, _, _) = sample();
        let want = "\
GROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS
billing         console-b       /127.0.0.1      console         1
billing         console-a       /127.0.0.1      console         2
billing         console-idle    /127.0.0.1      console         0
";
        assert_eq!(members_table(&desc, false), want);
        let verbose = members_table(&desc, true);
        let lines: Vec<&str> = verbose.lines().collect();
        assert_eq!(
            lines[0],
            "GROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS     ASSIGNMENT"
        );
        assert!(
            lines[2].ends_with("2               orders(0,1)"),
            "{verbose}"
        );
        assert!(lines[3].ends_with("0               -"), "{verbose}");
    }

    #[test]
    fn static_members_add_the_group_instance_id_column() {
        let mut m = member("c-1", vec![tp("t", 0)]);
        m.group_instance_id = Some("instance-a".into());
        let desc = group(vec![m, member("c-2", vec![])]);
        let text = members_table(&desc, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("GROUP           CONSUMER-ID     GROUP-INSTANCE-ID HOST"),
            "{text}"
        );
        assert!(lines[1].contains("instance-a "), "{text}");
        assert!(lines[2].contains(" -                 /127.0.0.1"), "{text}");
    }

    #[test]
    fn assignment_string_groups_by_topic() {
        let s = assignment_string(&[tp("b", 3), tp("a", 1), tp("b", 0)]);
        assert_eq!(s, "a(1), b(0,3)");
        assert_eq!(assignment_string(&[]), "-");
    }

    #[test]
    fn members_json_always_carries_the_assignment() {
        let (desc, _, _) = sample();
        let v = members_json(&desc);
        assert_eq!(v["members"][1]["consumer_id"], "console-a");
        assert_eq!(v["members"][1]["partitions"], 2);
        assert_eq!(
            v["members"][1]["assignment"],
            json!([{"topic": "orders", "partition": 0}, {"topic": "orders", "partition": 1}])
        );
        assert_eq!(v["members"][1]["group_instance_id"], Value::Null);
    }

    #[test]
    fn state_table_and_json() {
        let (desc, _, _) = sample();
        let c = CoordinatorInfo {
            id: 2,
            host: "127.0.0.1".into(),
            port: 9093,
        };
        let want = "\
GROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS
billing         127.0.0.1:9093  (2)       range                Stable               3
";
        assert_eq!(state_table(&desc, &c), want);
        let v = state_json(&desc, &c);
        assert_eq!(
            v["coordinator"],
            json!({"id": 2, "host": "127.0.0.1", "port": 9093})
        );
        assert_eq!(v["assignment_strategy"], "range");
        assert_eq!(v["members"], 3);
        assert_eq!(v["generation_id"], 4);
        let mut empty = group(vec![]);
        empty.state = "Empty".into();
        empty.protocol = String::new();
        empty.leader = String::new();
        assert!(
            state_table(&empty, &c)
                .lines()
                .nth(1)
                .unwrap()
                .contains(" -  ")
        );
        assert_eq!(state_json(&empty, &c)["assignment_strategy"], Value::Null);
        assert_eq!(state_json(&empty, &c)["leader"], Value::Null);
    }

    #[test]
    fn list_plain_state_and_json() {
        let groups = vec![
            GroupListing {
                group_id: "a".into(),
                protocol_type: "consumer".into(),
                state: "Stable".into(),
            },
            GroupListing {
                group_id: "b".into(),
                protocol_type: String::new(),
                state: "Empty".into(),
            },
        ];
        assert_eq!(list_text(&groups, false), "a\nb\n");
        let want = "\
GROUP                     STATE
a                         Stable
b                         Empty
";
        assert_eq!(list_text(&groups, true), want);
        assert_eq!(
            list_json(&groups),
            json!([{"group": "a", "protocol_type": "consumer", "state": "Stable"},
                   {"group": "b", "protocol_type": "", "state": "Empty"}])
        );
    }

    #[test]
    fn reset_table_and_json() {
        let offsets = BTreeMap::from([(tp("orders", 0), 0), (tp("orders", 1), 17)]);
        let want = "\
GROUP           TOPIC           PARTITION  NEW-OFFSET
billing         orders          0          0
billing         orders          1          17
";
        assert_eq!(reset_table("billing", &offsets), want);
        let v = reset_json("billing", &offsets, false);
        assert_eq!(v["executed"], false);
        assert_eq!(
            v["partitions"][1],
            json!({"topic": "orders", "partition": 1, "new_offset": 17})
        );
    }

    #[test]
    fn delete_report_in_kafkas_words() {
        let ok = vec![("a".to_string(), Ok(())), ("b".to_string(), Ok(()))];
        let (out, err) = delete_report(&ok);
        assert_eq!(
            out,
            "Deletion of requested consumer groups ('a', 'b') was successful.\n"
        );
        assert!(err.is_empty());
        let mixed = vec![
            ("a".to_string(), Ok(())),
            (
                "busy".to_string(),
                Err("NON_EMPTY_GROUP: delete group busy".to_string()),
            ),
        ];
        let (out, err) = delete_report(&mixed);
        assert_eq!(
            err,
            "Error: Deletion of some consumer groups failed:\n* Group 'busy' could not be deleted due to: NON_EMPTY_GROUP: delete group busy\n"
        );
        assert_eq!(
            out,
            "These consumer groups were deleted successfully: 'a'\n"
        );
    }
}
