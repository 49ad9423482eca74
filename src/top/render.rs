//! Drawing one [`Snapshot`] (pure: no I/O, so tests render into ratatui's `TestBackend`).
//!
//! ```text
//! header      brook top · controller · time · "no broker answers (last seen …)" when stale
//! brokers     id, address, alive / DEAD / FENCED, the controller marked
//! partitions  topic, partition, leader, epoch, ISR, HW, each replica's LEO and a lag bar;
//!             under-replicated rows yellow, under-min-ISR rows red on bold
//! groups      state, members, total lag, commit rate, STATUS (Burrow's, `-` until known)
//! footer      the keys
//! ```

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

use super::snapshot::{PartitionRow, Snapshot};

/// Width of a replica's lag bar, in cells.
pub const BAR_WIDTH: usize = 10;

/// What the user changed: scroll position and topic filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewState {
    /// First partition row shown.
    pub scroll: usize,
    /// Only this topic's partitions, when set.
    pub topic: Option<String>,
}

/// The style of an under-replicated partition row.
pub fn under_replicated_style() -> Style {
    Style::default().fg(Color::Yellow)
}

/// The style of an under-min-ISR partition row (acks=all refused).
pub fn under_min_isr_style() -> Style {
    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
}

/// `lag` as a bar of block characters, `lag / scale` of [`BAR_WIDTH`] (at least one cell when
/// `lag > 0`, so any lag shows).
pub fn lag_bar(lag: i64, scale: i64) -> String {
    if lag <= 0 || scale <= 0 {
        return String::new();
    }
    let cells = ((lag as f64 / scale as f64) * BAR_WIDTH as f64).round() as usize;
    "█".repeat(cells.clamp(1, BAR_WIDTH))
}

/// The partition rows `state` selects (topic filter).
pub fn visible<'a>(snapshot: &'a Snapshot, state: &ViewState) -> Vec<&'a PartitionRow> {
    snapshot
        .partitions
        .iter()
        .filter(|p| state.topic.as_ref().is_none_or(|t| &p.topic == t))
        .collect()
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, snapshot: &Snapshot, state: &ViewState) {
    let brokers_h = snapshot.brokers.len() as u16 + 2;
    let groups_h = (snapshot.groups.len().max(1) as u16 + 2).min(11);
    let [header, brokers, partitions, groups, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(brokers_h),
        Constraint::Min(5),
        Constraint::Length(groups_h),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(snapshot)), header);
    render_brokers(frame, brokers, snapshot);
    render_partitions(frame, partitions, snapshot, state);
    render_groups(frame, groups, snapshot);
    frame.render_widget(
        Paragraph::new(
            "q/Esc quit · ↑/↓ PgUp/PgDn scroll · t next topic filter (all → each topic → all)",
        )
        .style(Style::default().add_modifier(Modifier::DIM)),
        footer,
    );
}

fn clock(ms: i64) -> String {
    let ms = ms.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02} UTC",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60
    )
}

fn header_line(s: &Snapshot) -> Line<'static> {
    let controller = s
        .brokers
        .iter()
        .find(|b| b.controller)
        .map_or("none".to_string(), |b| format!("broker {}", b.id));
    let mut spans = vec![
        Span::styled("brook top", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            " · controller {controller} · {} · {} partitions, {} under-replicated, {} under min ISR",
            clock(s.taken_at_ms),
            s.partitions.len(),
            s.partitions.iter().filter(|p| p.under_replicated()).count(),
            s.partitions.iter().filter(|p| p.under_min_isr()).count(),
        )),
    ];
    if let Some(since) = s.stale_since_ms {
        spans.push(Span::styled(
            format!(
                " · no broker answers (last seen {}); retrying",
                clock(since)
            ),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    Line::from(spans)
}

fn render_brokers(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let rows = s.brokers.iter().map(|b| {
        let (status, style) = if !b.alive {
            (
                "DEAD",
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        } else if b.fenced {
            ("FENCED", Style::default().fg(Color::Yellow))
        } else {
            ("alive", Style::default())
        };
        let id = if b.id >= 0 {
            b.id.to_string()
        } else {
            "?".into()
        };
        Row::new(vec![
            id,
            b.addr.clone(),
            status.to_string(),
            if b.controller { "controller" } else { "" }.to_string(),
        ])
        .style(style)
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Length(24),
            Constraint::Length(7),
            Constraint::Length(11),
        ],
    )
    .header(Row::new(["ID", "ADDRESS", "STATUS", "ROLE"]).style(bold()))
    .block(Block::default().borders(Borders::TOP).title(" brokers "));
    frame.render_widget(table, area);
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

fn ids(v: &[i32]) -> String {
    let parts: Vec<String> = v.iter().map(i32::to_string).collect();
    format!("[{}]", parts.join(","))
}

fn opt(v: Option<i64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn rate(r: f64) -> String {
    if r >= 10_000.0 {
        format!("{:.1}k/s", r / 1000.0)
    } else {
        format!("{r:.0}/s")
    }
}

/// One replica: `id:LEO` then its lag bar and `-lag`, or `id:DEAD`.
fn replica_cell(p: &PartitionRow, scale: i64) -> String {
    let mut out = Vec::new();
    for r in &p.replica_rows {
        let mark = if r.in_isr { "" } else { "*" };
        if !r.alive {
            out.push(format!("{}{mark}:DEAD", r.id));
            continue;
        }
        let lag = r.lag.unwrap_or(0);
        let bar = lag_bar(lag, scale);
        let lag_text = if lag > 0 {
            format!(" -{lag}")
        } else {
            String::new()
        };
        out.push(format!(
            "{}{mark}:{} {bar:<w$}{lag_text}",
            r.id,
            opt(r.leo),
            w = BAR_WIDTH
        ));
    }
    out.join("  ")
}

fn render_partitions(frame: &mut Frame, area: Rect, s: &Snapshot, state: &ViewState) {
    let rows = visible(s, state);
    let scale = rows
        .iter()
        .flat_map(|p| p.replica_rows.iter().filter_map(|r| r.lag))
        .max()
        .unwrap_or(0)
        .max(1);
    let total = rows.len();
    let shown = rows.into_iter().skip(state.scroll).map(|p| {
        let style = if p.under_min_isr() {
            under_min_isr_style()
        } else if p.under_replicated() {
            under_replicated_style()
        } else {
            Style::default()
        };
        Row::new(vec![
            p.topic.clone(),
            p.partition.to_string(),
            p.leader.map_or("none".to_string(), |l| l.to_string()),
            p.leader_epoch.to_string(),
            ids(&p.isr),
            opt(p.high_watermark),
            replica_cell(p, scale),
        ])
        .style(style)
    });
    let mut title = format!(" partitions ({total}");
    if let Some(t) = &state.topic {
        title.push_str(&format!(", topic {t}"));
    }
    title.push_str(") · produced:");
    if s.topic_rates.is_empty() {
        title.push_str(" -");
    }
    for (topic, r) in &s.topic_rates {
        title.push_str(&format!(" {topic} {}", rate(*r)));
    }
    title.push_str(" · * = out of sync ");
    let table = Table::new(
        shown,
        [
            Constraint::Length(16),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new([
            "TOPIC",
            "P",
            "LEADER",
            "EPOCH",
            "ISR",
            "HW",
            "REPLICAS (LEO, lag)",
        ])
        .style(bold()),
    )
    .block(Block::default().borders(Borders::TOP).title(title));
    frame.render_widget(table, area);
}

fn render_groups(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let rows = s.groups.iter().map(|g| {
        Row::new(vec![
            g.group.clone(),
            g.state.clone(),
            g.members.to_string(),
            opt(g.total_lag),
            g.rate.map_or("-".to_string(), rate),
            g.status.clone().unwrap_or_else(|| "-".to_string()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(24),
            Constraint::Length(20),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(8),
        ],
    )
    .header(Row::new(["GROUP", "STATE", "MEMBERS", "LAG", "CONSUMED", "STATUS"]).style(bold()))
    .block(
        Block::default()
            .borders(Borders::TOP)
            .title(" consumer groups "),
    );
    frame.render_widget(table, area);
}
