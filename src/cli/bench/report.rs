//! The benchmark's table: every figure, its baseline from the same run, the
//! ratio between them and the target for that ratio, met or not.

use super::load::Sample;

/// What a ratio must be.
#[derive(Clone, Copy, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtLeast(t) => ratio >= t,
            Target::AtMost(t) => ratio <= t,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtLeast(t) => format!("≥ {t}"),
            Target::AtMost(t) => format!("≤ {t}"),
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, serde::Serialize)]
pub(super) struct Row {
    pub(super) figure: String,
    /// The figure's value, in `unit`.
    pub(super) value: f64,
    pub(super) unit: &'static str,
    pub(super) p50_us: Option<f64>,
    pub(super) p99_us: Option<f64>,
    /// What the ratio is taken against.
    pub(super) baseline: String,
    pub(super) ratio: Option<f64>,
    pub(super) target: Option<Target>,
    pub(super) met: Option<bool>,
}

impl Row {
    /// A rate, with its latencies if it has them.
    pub(super) fn rate(figure: impl Into<String>, sample: &Sample) -> Self {
        Self {
            figure: figure.into(),
            value: sample.per_second(),
            unit: "/s",
            p50_us: sample.micros(0.5),
            p99_us: sample.micros(0.99),
            baseline: String::new(),
            ratio: None,
            target: None,
            met: None,
        }
    }

    /// A quantity that is not a rate (a time, a size).
    pub(super) fn value(figure: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self {
            figure: figure.into(),
            value,
            unit,
            p50_us: None,
            p99_us: None,
            baseline: String::new(),
            ratio: None,
            target: None,
            met: None,
        }
    }

    /// The ratio to a baseline, described.
    pub(super) fn against(mut self, baseline: impl Into<String>, ratio: f64) -> Self {
        self.baseline = baseline.into();
        self.ratio = Some(ratio);
        if let Some(target) = self.target {
            self.met = Some(target.met(ratio));
        }
        self
    }

    /// What to read beside the figure, with no ratio.
    pub(super) fn note(mut self, text: impl Into<String>) -> Self {
        self.baseline = text.into();
        self
    }

    /// The target the ratio must meet.
    pub(super) fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self.met = self.ratio.map(|r| target.met(r));
        self
    }
}

pub(super) fn print_table(rows: &[Row]) -> anyhow::Result<()> {
    outln!(
        "{:<66} {:>12} {:>9} {:>9}  {:>6}  {:<7} {:<6}  baseline",
        "figure",
        "value",
        "p50 µs",
        "p99 µs",
        "ratio",
        "target",
        ""
    )?;
    let micros = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
    for r in rows {
        outln!(
            "{:<66} {:>12} {:>9} {:>9}  {:>6}  {:<7} {:<6}  {}",
            r.figure,
            format_value(r.value, r.unit),
            micros(r.p50_us),
            micros(r.p99_us),
            r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default(),
            r.target.map(Target::text).unwrap_or_default(),
            match r.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            },
            r.baseline
        )?;
    }
    Ok(())
}

fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "/s" => format!("{value:.0}/s"),
        "×" => format!("{value:.2}×"),
        _ => format!("{value:.1} {unit}"),
    }
}
