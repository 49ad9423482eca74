//! Rendering tests on hand-built snapshots, drawn into ratatui's `TestBackend`.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::render::{
    BAR_WIDTH, ViewState, lag_bar, render, under_min_isr_style, under_replicated_style,
};
use super::snapshot::{BrokerRow, GroupRow, PartitionRow, ReplicaRow, Snapshot};
use super::{buffer_text, text_frame};

fn broker(id: i32, alive: bool) -> BrokerRow {
    BrokerRow {
        id,
        addr: format!("127.0.0.1:{}", 9090 + id),
        alive,
        fenced: false,
        controller: id == 1,
    }
}

/// Partition `p` of `t` led by 1 with replicas 1..=3, the ISR `isr`, replica LEOs `leos`.
fn partition(p: i32, isr: &[i32], leos: [i64; 3], min_insync: usize) -> PartitionRow {
    let leader_leo = leos[0];
    PartitionRow {
        topic: "t".into(),
        partition: p,
        leader: Some(1),
        leader_epoch: 2,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        high_watermark: Some(*leos.iter().min().unwrap()),
        replica_rows: (1..=3)
            .zip(leos)
            .map(|(id, leo)| ReplicaRow {
                id,
                leo: Some(leo),
                lag: Some(leader_leo - leo),
                in_isr: isr.contains(&id),
                alive: true,
            })
            .collect(),
        min_insync,
    }
}

fn healthy() -> Snapshot {
    Snapshot {
        taken_at_ms: 43_200_000,
        brokers: vec![broker(1, true), broker(2, true), broker(3, true)],
        partitions: vec![
            partition(0, &[1, 2, 3], [100, 100, 100], 2),
            partition(1, &[1, 2, 3], [50, 50, 50], 2),
        ],
        groups: vec![GroupRow {
            group: "billing".into(),
            state: "Stable".into(),
            members: 2,
            total_lag: Some(7),
            committed_sum: Some(143),
            rate: Some(12.0),
            status: None,
        }],
        ..Snapshot::default()
    }
}

fn draw(s: &Snapshot) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(120, 20)).unwrap();
    terminal
        .draw(|f| render(f, s, &ViewState::default()))
        .unwrap();
    terminal.backend().buffer().clone()
}

/// The row of the buffer whose text starts with `prefix` (after trimming).
fn row_of(buf: &Buffer, prefix: &str) -> u16 {
    let text = buffer_text(buf);
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?}:\n{text}")) as u16
}

#[test]
fn a_healthy_cluster_shows_brokers_partitions_and_groups() {
    let text = buffer_text(&draw(&healthy()));
    assert!(text.contains("controller broker 1"), "{text}");
    assert!(
        text.contains("0 under-replicated, 0 under min ISR"),
        "{text}"
    );
    assert_eq!(text.matches("alive").count(), 3, "{text}");
    assert!(!text.contains("DEAD"), "{text}");
    let p0 = text
        .lines()
        .find(|l| l.starts_with("t  ") && l.contains("[1,2,3]"))
        .unwrap();
    assert!(
        p0.contains("1:100") && p0.contains("2:100") && p0.contains("3:100"),
        "{p0}"
    );
    assert!(!p0.contains('█'), "no lag, no bar: {p0}");
    let g = text.lines().find(|l| l.starts_with("billing")).unwrap();
    let cols: Vec<&str> = g.split_whitespace().collect();
    assert_eq!(
        cols,
        ["billing", "Stable", "2", "7", "12/s", "-"],
        "STATUS is - until known"
    );
}

#[test]
fn a_dead_broker_is_shown_dead() {
    let mut s = healthy();
    s.brokers[2].alive = false;
    for p in &mut s.partitions {
        p.replica_rows[2].alive = false;
    }
    let text = buffer_text(&draw(&s));
    let line = text.lines().find(|l| l.starts_with("3 ")).unwrap();
    assert!(line.contains("DEAD"), "{line}");
    assert!(text.contains("3:DEAD"), "{text}");
}

#[test]
fn under_replicated_and_under_min_isr_rows_are_highlighted() {
    let mut s = healthy();
    s.partitions[0] = partition(0, &[1, 2], [100, 100, 40], 2); // under-replicated only
    s.partitions[1] = partition(1, &[1], [50, 10, 10], 2); // under min ISR
    let buf = draw(&s);
    let under = row_of(&buf, "t                0");
    let min = row_of(&buf, "t                1");
    for x in 0..20 {
        assert_eq!(
            buf[(x, under)].fg,
            under_replicated_style().fg.unwrap(),
            "x={x}"
        );
        assert_eq!(buf[(x, min)].fg, under_min_isr_style().fg.unwrap(), "x={x}");
        assert!(
            buf[(x, min)]
                .modifier
                .contains(ratatui::style::Modifier::BOLD)
        );
    }
    let header = buffer_text(&buf);
    assert!(header.contains("1 under-replicated") || header.contains("2 under-replicated"));
    assert!(header.contains("1 under min ISR"), "{header}");
    // A healthy row keeps the default style.
    let mut ok = healthy();
    ok.partitions.truncate(1);
    let buf = draw(&ok);
    let row = row_of(&buf, "t                0");
    assert_eq!(buf[(0, row)].fg, ratatui::style::Color::Reset);
}

#[test]
fn the_lag_bar_is_proportional_to_the_lag() {
    assert_eq!(lag_bar(0, 100), "");
    assert_eq!(lag_bar(100, 100).chars().count(), BAR_WIDTH);
    assert_eq!(lag_bar(50, 100).chars().count(), BAR_WIDTH / 2);
    assert_eq!(lag_bar(1, 1000).chars().count(), 1, "any lag shows");
    // In the frame: replica 3 lags 60 (the largest: a full bar), replica 2 lags 30 (half).
    let mut s = healthy();
    s.partitions = vec![partition(0, &[1, 2], [100, 70, 40], 1)];
    let text = buffer_text(&draw(&s));
    let row = text.lines().find(|l| l.starts_with("t ")).unwrap();
    let bar = |id: &str| {
        let after = row.split(&format!(" {id}:")).nth(1).unwrap(); // "70 █████      -30  3*:…"
        let bar = after.chars().skip_while(|c| *c != ' ').skip(1);
        bar.take_while(|c| *c == '█').count()
    };
    assert_eq!(bar("3*"), BAR_WIDTH, "{row}");
    assert_eq!(bar("2"), BAR_WIDTH / 2, "{row}");
    assert!(row.contains("-60") && row.contains("-30"), "{row}");
}

#[test]
fn a_stale_snapshot_says_no_broker_answers() {
    let mut s = healthy();
    s.stale_since_ms = Some(43_200_000);
    for b in &mut s.brokers {
        b.alive = false;
    }
    let text = text_frame(&s, &ViewState::default(), 160);
    assert!(
        text.contains("no broker answers (last seen 12:00:00 UTC)"),
        "{text}"
    );
    assert!(
        text.contains("1:100"),
        "the last snapshot is still shown: {text}"
    );
}
