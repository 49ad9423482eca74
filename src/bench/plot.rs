//! SVG plots of a `BenchReport` (plotters, SVG backend only: no font or bitmap system
//! libraries): throughput against the durability level each cell's acknowledgements reported,
//! and the produce-latency percentiles of every cell.

use std::path::{Path, PathBuf};

use brook_proto::Durability;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::matrix::{AckMode, FlushPolicy};
use super::{BenchError, BenchReport};

const LEVELS: [&str; 5] = [
    "NONE (acks=0)",
    "LEADER_WRITTEN",
    "LEADER_FLUSHED",
    "ISR_REPLICATED",
    "ISR_FLUSHED",
];

fn plot_error(e: impl std::fmt::Display) -> BenchError {
    BenchError::Other(format!("plot: {e}"))
}

/// Writes `throughput-vs-durability.svg` and `latency.svg` into `dir` (which must exist);
/// returns their paths.
///
/// # Errors
///
/// [`BenchError::Other`] (`plot: …`) when either file cannot be drawn or written.
pub fn write_all(report: &BenchReport, dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let a = dir.join("throughput-vs-durability.svg");
    throughput_vs_durability(report, &a)?;
    let b = dir.join("latency.svg");
    latency(report, &b)?;
    Ok(vec![a, b])
}

fn level(d: Option<Durability>) -> usize {
    d.map_or(0, |d| (d as i32).clamp(0, 4) as usize)
}

fn is_whole(x: f64) -> Option<usize> {
    ((x - x.round()).abs() < 1e-6 && x >= -1e-6).then_some(x.round() as usize)
}

/// Log-axis bounds around `values` (positive), with a little room.
fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.01..1.0;
    }
    (lo / 2.0)..(hi * 2.0)
}

/// msg/s of every cell at the durability level it reported, one series per RF and record size,
/// nudged sideways by flush policy, as a 1000×600 SVG at `path`. Cells that did not run are
/// left out.
///
/// # Errors
///
/// [`BenchError::Other`] (`plot: …`) when the chart cannot be drawn or the file written.
pub fn throughput_vs_durability(report: &BenchReport, path: &Path) -> Result<(), BenchError> {
    let points: Vec<(f64, f64, i32, usize)> = report
        .cells
        .iter()
        .filter_map(|c| {
            let f = c.figures()?;
            let nudge = match c.cell.flush {
                FlushPolicy::Never => -0.2,
                FlushPolicy::Ms10 => 0.0,
                FlushPolicy::EveryMessage => 0.2,
            };
            let lvl = if c.cell.acks == AckMode::Zero {
                0
            } else {
                level(f.durability)
            };
            Some((lvl as f64 + nudge, f.msgs_per_sec, c.cell.rf, c.cell.size))
        })
        .collect();
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "brook bench: throughput vs durability acknowledged (left/middle/right of a level = flush never / ms=10 / messages=1)",
            ("sans-serif", 15),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(
            -0.5f64..4.5f64,
            log_range(points.iter().map(|p| p.1)).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_labels(11)
        .x_label_formatter(&|x| {
            is_whole(*x)
                .and_then(|i| LEVELS.get(i))
                .map_or(String::new(), |s| s.to_string())
        })
        .y_label_formatter(&|v| super::numbers::count(*v))
        .y_desc("msg/s")
        .x_desc("weakest durability level acknowledged")
        .disable_x_mesh()
        .draw()
        .map_err(plot_error)?;
    let series = [
        (1, 100, RED),
        (1, 1024, MAGENTA),
        (3, 100, BLUE),
        (3, 1024, CYAN),
    ];
    for (rf, size, color) in series {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.2 == rf && p.3 == size)
            .map(|p| (p.0, p.1))
            .collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 5, color.filled())))
            .map_err(plot_error)?
            .label(format!("RF {rf}, {}", super::matrix::size_label(size)))
            .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
    }
    finish(&mut chart, &root, SeriesLabelPosition::UpperRight)
}

/// Both plots: a linear x axis (levels or cells) and a log y axis.
type Chart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

/// Draws the legend and writes the file.
fn finish(
    chart: &mut Chart<'_>,
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    legend: SeriesLabelPosition,
) -> Result<(), BenchError> {
    chart
        .configure_series_labels()
        .position(legend)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)
}

/// Picks one percentile.
type Pick = fn(&super::Percentiles) -> f64;

/// p50 / p99 / p99.9 / max produce latency (ms, log axis) of every cell that has
/// acknowledgements, one x position per cell id, as an SVG at `path`.
///
/// # Errors
///
/// [`BenchError::Other`] (`plot: …`) when the chart cannot be drawn or the file written.
pub fn latency(report: &BenchReport, path: &Path) -> Result<(), BenchError> {
    let cells: Vec<(String, super::Percentiles)> = report
        .cells
        .iter()
        .filter_map(|c| Some((c.cell.id(), c.figures()?.produce?)))
        .collect();
    let n = cells.len().max(1);
    let width = (200 + 30 * n as u32).max(700);
    let root = SVGBackend::new(path, (width, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let all = cells
        .iter()
        .flat_map(|(_, p)| [p.p50, p.p99, p.p999, p.max]);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "brook bench: produce latency per cell (ms, from intended send time)",
            ("sans-serif", 16),
        )
        .margin(15)
        .x_label_area_size(130)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), log_range(all).log_scale())
        .map_err(plot_error)?;
    let names: Vec<String> = cells.iter().map(|c| c.0.clone()).collect();
    chart
        .configure_mesh()
        .x_labels(2 * n + 1)
        .x_label_formatter(&|x| {
            is_whole(*x)
                .and_then(|i| names.get(i))
                .cloned()
                .unwrap_or_default()
        })
        .x_label_style(
            ("sans-serif", 11)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_label_formatter(&|v| format!("{v}"))
        .y_desc("ms")
        .disable_x_mesh()
        .draw()
        .map_err(plot_error)?;
    let pick: [(&str, Pick, RGBColor); 4] = [
        ("p50", |p| p.p50, GREEN),
        ("p99", |p| p.p99, BLUE),
        ("p99.9", |p| p.p999, MAGENTA),
        ("max", |p| p.max, RED),
    ];
    for (name, get, color) in pick {
        let pts: Vec<(f64, f64)> = cells
            .iter()
            .enumerate()
            .map(|(i, (_, p))| (i as f64, get(p).max(0.001)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(1)))
            .map_err(plot_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(plot_error)?;
    }
    finish(&mut chart, &root, SeriesLabelPosition::UpperLeft)
}
