//! `brook top --bootstrap-server …`: a live terminal view of the cluster (ratatui + crossterm),
//! refreshed once a second — per partition leader, epoch, ISR, HW and each replica's LEO with
//! its lag as a bar, under-replicated and under-min-ISR rows highlighted, brokers alive or DEAD,
//! consumer groups with their lag, produce and consume rates. It keeps going while brokers die.
//! `--once` prints one plain-text frame and exits (scripts, tests).
//!
//! ```text
//! mod.rs       the command: arguments, the terminal loop (keys, redraws), --once
//! snapshot.rs  Snapshot (plain data) and the Poller gathering it from every broker
//! render.rs    render(frame, snapshot, state): pure drawing, tested with TestBackend
//! ```

pub mod render;
pub mod snapshot;

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};

pub use render::{ViewState, render};
pub use snapshot::{Poller, Snapshot};

/// How often the view refreshes.
const REFRESH: Duration = Duration::from_secs(1);

/// `brook top`'s arguments.
#[derive(clap::Args, Debug)]
pub struct TopArgs {
    /// Brokers to ask first (comma-separated `host:port`); every broker they list is asked too.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_server: String,
    /// Print one plain-text frame to stdout and exit, instead of the live view.
    #[arg(long, alias = "no-tui")]
    pub once: bool,
    /// Width of the `--once` frame, in columns.
    #[arg(long, default_value_t = 120)]
    pub width: u16,
    /// Show only this topic's partitions (the `t` key cycles topics in the live view).
    #[arg(long)]
    pub topic: Option<String>,
}

/// Runs `brook top`.
pub async fn run(args: TopArgs) -> anyhow::Result<()> {
    let bootstrap: Vec<String> = args
        .bootstrap_server
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    anyhow::ensure!(!bootstrap.is_empty(), "--bootstrap-server names no broker");
    let mut poller = Poller::new(bootstrap);
    let state = ViewState {
        scroll: 0,
        topic: args.topic.clone(),
    };
    if args.once {
        let snap = poller.poll().await;
        print!("{}", text_frame(&snap, &state, args.width));
        return Ok(());
    }
    live(poller, state).await
}

/// One frame as plain text: `snapshot` rendered into a buffer tall enough for every row, each
/// line with its trailing blanks trimmed.
pub fn text_frame(snapshot: &Snapshot, state: &ViewState, width: u16) -> String {
    let rows = render::visible(snapshot, state).len();
    let groups = snapshot.groups.len().clamp(1, 9);
    let height = 1 + (snapshot.brokers.len() + 2) + (rows + 2).max(5) + (groups + 2) + 1;
    let height = u16::try_from(height).unwrap_or(u16::MAX);
    let Ok(mut terminal) = Terminal::new(TestBackend::new(width.max(40), height)) else {
        return String::new();
    };
    if terminal.draw(|f| render(f, snapshot, state)).is_err() {
        return String::new();
    }
    buffer_text(terminal.backend().buffer())
}

/// A buffer's symbols, line by line, trailing blanks trimmed.
pub fn buffer_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let line: String = (area.left()..area.right())
            .map(|x| buffer[(x, y)].symbol())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The live view: a poller task sending snapshots, a thread reading keys, redraws on either.
async fn live(mut poller: Poller, mut state: ViewState) -> anyhow::Result<()> {
    let (snap_tx, mut snap_rx) = tokio::sync::watch::channel(Snapshot::default());
    let poll_task = tokio::spawn(async move {
        let mut every = tokio::time::interval(REFRESH);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let snap = poller.poll().await;
            if snap_tx.send(snap).is_err() {
                return;
            }
        }
    });
    let (key_tx, mut key_rx) = tokio::sync::mpsc::unbounded_channel();
    // crossterm's reads block: a thread of their own, ending when the receiver is gone.
    std::thread::spawn(move || {
        loop {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                        if key_tx.send(k.code).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
                Ok(false) => {
                    if key_tx.is_closed() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    let mut terminal = ratatui::init();
    let result = async {
        loop {
            let snap = snap_rx.borrow().clone();
            terminal.draw(|f| render(f, &snap, &state))?;
            tokio::select! {
                changed = snap_rx.changed() => if changed.is_err() { break },
                key = key_rx.recv() => match key {
                    None => break,
                    Some(code) => if !on_key(code, &snap, &mut state) { break },
                },
            }
        }
        anyhow::Ok(())
    }
    .await;
    ratatui::restore();
    poll_task.abort();
    result
}

/// Applies one key; `false` to quit.
fn on_key(code: KeyCode, snap: &Snapshot, state: &mut ViewState) -> bool {
    let rows = render::visible(snap, state).len();
    let last = rows.saturating_sub(1);
    match code {
        KeyCode::Char('q') | KeyCode::Esc => return false,
        KeyCode::Down | KeyCode::Char('j') => state.scroll = (state.scroll + 1).min(last),
        KeyCode::Up | KeyCode::Char('k') => state.scroll = state.scroll.saturating_sub(1),
        KeyCode::PageDown => state.scroll = (state.scroll + 10).min(last),
        KeyCode::PageUp => state.scroll = state.scroll.saturating_sub(10),
        KeyCode::Home => state.scroll = 0,
        KeyCode::Char('t') => {
            let mut topics: Vec<&String> = snap.partitions.iter().map(|p| &p.topic).collect();
            topics.dedup();
            state.topic = match &state.topic {
                None => topics.first().map(|t| t.to_string()),
                Some(cur) => topics
                    .iter()
                    .position(|t| *t == cur)
                    .and_then(|i| topics.get(i + 1))
                    .map(|t| t.to_string()),
            };
            state.scroll = 0;
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests;
