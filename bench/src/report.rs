//! Results: repeated samples reduced to median/min/max, a table for the
//! terminal, and the markdown and JSON files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::machine::Machine;

/// Repeated measurements of one quantity.
#[derive(Clone, Debug, Serialize)]
pub struct Stat {
    /// Median of the runs.
    pub median: f64,
    /// Smallest run.
    pub min: f64,
    /// Largest run.
    pub max: f64,
    /// Every run, in order.
    pub runs: Vec<f64>,
}

impl Stat {
    /// The statistics of `runs` (at least one).
    pub fn of(runs: Vec<f64>) -> anyhow::Result<Self> {
        anyhow::ensure!(!runs.is_empty(), "no runs to summarise");
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Ok(Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            runs,
        })
    }
}

/// The `q` quantile (0..=1) of `samples` by nearest rank.
pub fn quantile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Which way is better, for the goal check.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum Goal {
    /// At least this much.
    AtLeast(f64),
    /// At most this much.
    AtMost(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtLeast(g) => value >= g,
            Goal::AtMost(g) => value <= g,
        }
    }

    fn text(self, unit: &str) -> String {
        match self {
            Goal::AtLeast(g) => format!(">= {} {unit}", number(g)),
            Goal::AtMost(g) => format!("<= {} {unit}", number(g)),
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Benchmark name.
    pub benchmark: String,
    /// The case: backend, sizes, concurrency.
    pub case: String,
    /// What is measured, with its unit.
    pub metric: String,
    /// Unit of the values.
    pub unit: String,
    /// The runs.
    pub stat: Stat,
    /// The goal it is compared against.
    pub goal: Option<Goal>,
    /// Whether the median meets the goal.
    pub met: Option<bool>,
}

impl Row {
    /// A row without a goal.
    pub fn new(
        benchmark: &str,
        case: impl Into<String>,
        metric: &str,
        unit: &str,
        stat: Stat,
    ) -> Self {
        Self {
            benchmark: benchmark.into(),
            case: case.into(),
            metric: metric.into(),
            unit: unit.into(),
            stat,
            goal: None,
            met: None,
        }
    }

    /// With a goal for the median.
    pub fn goal(mut self, goal: Goal) -> Self {
        self.met = Some(goal.met(self.stat.median));
        self.goal = Some(goal);
        self
    }
}

/// What one benchmark produced.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Section {
    /// Benchmark name.
    pub name: String,
    /// How it was measured.
    pub method: String,
    /// Rows.
    pub rows: Vec<Row>,
    /// Observations: CPU use, ratios, what limits the number.
    pub notes: Vec<String>,
    /// Markdown blocks (detail tables, profiles) printed after the notes.
    pub tables: Vec<String>,
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Machine and checkout.
    pub machine: Machine,
    /// Start, UTC RFC 3339.
    pub started_utc: String,
    /// Wall time of the whole run, seconds.
    pub wall_seconds: f64,
    /// Whether `--quick` was given.
    pub quick: bool,
    /// Runs per measurement.
    pub runs: usize,
    /// The command line.
    pub command: String,
    /// Results.
    pub sections: Vec<Section>,
}

/// A value with sensible precision.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "-".into()
    } else if a >= 1000.0 {
        // Thousands separators make rates readable.
        let n = v.round() as i64;
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 { format!("-{out}") } else { out }
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

impl Report {
    /// The results table (markdown, also printed to the terminal).
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| benchmark | case | metric | median | min | max | runs | goal | met |\n");
        out.push_str("|---|---|---|---:|---:|---:|---:|---|---|\n");
        for row in self.sections.iter().flat_map(|s| &s.rows) {
            let goal = row.goal.map_or_else(String::new, |g| g.text(&row.unit));
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} {} | {} | {} | {} | {} | {} |",
                row.benchmark,
                row.case,
                row.metric,
                number(row.stat.median),
                row.unit,
                number(row.stat.min),
                number(row.stat.max),
                row.stat.runs.len(),
                goal,
                met
            );
        }
        out
    }

    /// The whole markdown file.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# vfed benchmarks: {} on {}\n",
            self.started_utc, m.hostname
        );
        let _ = writeln!(out, "Command: `{}`  ", self.command);
        let _ = writeln!(
            out,
            "Mode: {}, {} run(s) per measurement, median reported (min/max beside it). Whole run: {:.0} s.\n",
            if self.quick { "quick" } else { "full" },
            self.runs,
            self.wall_seconds
        );
        out.push_str("## Machine\n\n| | |\n|---|---|\n");
        let _ = writeln!(out, "| hostname | {} |", m.hostname);
        let _ = writeln!(out, "| nproc | {} |", m.nproc);
        let _ = writeln!(out, "| CPU | {} |", m.cpu_model);
        let _ = writeln!(out, "| memory | {} GiB |", m.memory_gib);
        let _ = writeln!(out, "| kernel | {} |", m.kernel);
        let _ = writeln!(out, "| rustc | {} |", m.rustc);
        let _ = writeln!(out, "| etcd | {} |", m.etcd);
        let _ = writeln!(out, "| load average at start | {} |", m.loadavg_at_start);
        let _ = writeln!(
            out,
            "| git commit | {}{} |\n",
            m.git_commit,
            if m.git_dirty {
                " (tree dirty: uncommitted changes were measured)"
            } else {
                " (clean)"
            }
        );
        out.push_str("## Results\n\n");
        out.push_str(&self.table());
        for section in &self.sections {
            let _ = writeln!(out, "\n## {}\n\n{}\n", section.name, section.method);
            for note in &section.notes {
                let _ = writeln!(out, "- {note}");
            }
            for table in &section.tables {
                let _ = writeln!(out, "\n{table}");
            }
            if !section.rows.is_empty() {
                out.push_str("\nEvery run:\n\n");
                for row in &section.rows {
                    let runs: Vec<String> = row.stat.runs.iter().map(|v| number(*v)).collect();
                    let _ = writeln!(
                        out,
                        "- {} / {}: {} {}",
                        row.case,
                        row.metric,
                        runs.join(", "),
                        row.unit
                    );
                }
            }
        }
        out
    }

    /// Writes `<dir>/<date>-<hostname>.md` and `.json`; returns the markdown path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let date = self.started_utc.get(..10).unwrap_or("unknown-date");
        let host: String = self
            .machine
            .hostname
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stem = format!(
            "{date}-{}",
            if host.is_empty() {
                "unknown-host"
            } else {
                &host
            }
        );
        let md = dir.join(format!("{stem}.md"));
        let json = dir.join(format!("{stem}.json"));
        write_atomic(&md, self.markdown().as_bytes())?;
        write_atomic(&json, serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(md)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
