//! `--plot FILE.svg`: throughput and p99 latency against calls in flight,
//! answerlog beside its baselines (plotters' pure-Rust SVG backend).

use std::path::Path;

use plotters::prelude::*;

/// One line of the plot: a measured figure at each number of calls in
/// flight.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(super) struct Curve {
    pub(super) name: String,
    /// (calls in flight, per second, p99 µs).
    pub(super) points: Vec<(usize, f64, f64)>,
    /// A baseline, drawn dashed.
    pub(super) baseline: bool,
}

pub(super) fn draw(path: &Path, curves: &[Curve]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1280, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let (left, right) = root.split_horizontally(640);
    let max_k = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let top = |f: fn(&(usize, f64, f64)) -> f64| {
        curves
            .iter()
            .flat_map(|c| c.points.iter().map(f))
            .fold(1.0f64, f64::max)
            * 1.15
    };
    panel(
        &left,
        "Throughput",
        "calls per second",
        max_k,
        top(|p| p.1),
        curves,
        |p| p.1,
    )?;
    panel(
        &right,
        "p99 latency",
        "milliseconds",
        max_k,
        top(|p| p.2 / 1000.0),
        curves,
        |p| p.2 / 1000.0,
    )?;
    root.present().map_err(plot_error)?;
    Ok(())
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    max_k: f64,
    max_y: f64,
    curves: &[Curve],
    y: fn(&(usize, f64, f64)) -> f64,
) -> anyhow::Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        // x is log2 of the calls in flight: 1, 2, 4, … evenly spaced.
        .build_cartesian_2d(0f64..max_k.log2(), 0f64..max_y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("calls in flight")
        .y_desc(y_label)
        .x_labels(max_k.log2() as usize + 1)
        .x_label_formatter(&|x| format!("{:.0}", x.exp2()))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE)
        .draw()
        .map_err(plot_error)?;
    for (i, curve) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = curve
            .points
            .iter()
            .map(|p| ((p.0 as f64).log2(), y(p)))
            .collect();
        let style = if curve.baseline {
            color.stroke_width(1)
        } else {
            color.stroke_width(3)
        };
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(plot_error)?
            .label(curve.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(plot_error)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

fn plot_error<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the plot: {e}")
}
