//! Console transcripts in Markdown (the README's tour): `$ command` lines and
//! the output they print, compared with what the commands really print.
//!
//! In a ```` ```console ```` block a line starting with `$ ` is a command (a
//! line ending in `\` continues on the next); the lines up to the next
//! command are its expected output. In expected output:
//!
//! - a line that is only `...` stands for any number of lines (none too);
//! - `...` inside a line stands for any text on that line;
//! - a run of spaces matches any run of spaces (tables pad their columns to
//!   the widest value);
//! - values that differ at every run match any value of their kind
//!   ([`VARIABLE`]): timestamps, dates, durations (`10s ago`), loopback
//!   ports, tokens, Merkle roots, bitrates, sizes and segment counts;
//! - the cells of [`VARIABLE_COLUMNS`] (revisions, lags, log sizes) match
//!   any value;
//! - grant IDs, retrieval request IDs and the demo's HLS URLs are *bound*: the first time one is
//!   seen, its real value is remembered, and later commands and outputs that
//!   show the README's value get the real one ([`Bindings`]).

use regex::Regex;

/// One command of a transcript and the output shown after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of the `$ ` in the Markdown file.
    pub line: usize,
    /// The command as a shell reads it (continuation lines joined by `\n`).
    pub command: String,
    /// The expected output lines.
    pub expected: Vec<String>,
}

/// The steps of every `console` block between the heading line `heading`
/// (e.g. `## A 5-minute tour`) and the next heading of the same level.
pub fn console_steps(markdown: &str, heading: &str) -> Vec<Step> {
    let level = heading.split(' ').next().unwrap_or("##").to_owned() + " ";
    let mut steps: Vec<Step> = Vec::new();
    let mut in_section = false;
    let mut in_console = false;
    let mut continuing = false;
    for (i, line) in markdown.lines().enumerate() {
        if !in_console && line.starts_with(&level) {
            in_section = line.trim_end() == heading;
            continue;
        }
        if !in_section {
            continue;
        }
        let fence = line.trim_start();
        if !in_console {
            in_console = fence.starts_with("```console");
            continue;
        }
        if fence.starts_with("```") {
            in_console = false;
            continuing = false;
            continue;
        }
        if continuing {
            if let Some(step) = steps.last_mut() {
                step.command.push('\n');
                step.command.push_str(line);
                continuing = line.ends_with('\\');
            }
        } else if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                line: i + 1,
                command: command.to_owned(),
                expected: Vec::new(),
            });
            continuing = command.ends_with('\\');
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.to_owned());
        }
    }
    for step in &mut steps {
        while step.expected.last().is_some_and(|l| l.trim().is_empty()) {
            step.expected.pop();
        }
    }
    steps
}

/// A kind of value that differs from run to run.
struct Variable {
    /// What it looks like in the README.
    shown: &'static str,
    /// What it matches in real output (`$1` and so on refer to groups of
    /// `shown`); no capturing groups of its own.
    real: &'static str,
    /// For bound values: the README text that later commands use for it
    /// (`$1` and so on refer to groups of `shown`).
    bound_as: Option<&'static str>,
}

/// Values that differ at every run, tried in this order at each place of an
/// expected line.
const VARIABLE: &[Variable] = &[
    // The demo's HLS URLs; commands write them with `token=...`.
    Variable {
        shown: r"(http://127\.0\.0\.1:\d+/live/(\d{20})/([a-z]+)/index\.m3u8\?token=)[^'< ]+",
        real: r"http://127\.0\.0\.1:\d+/live/${2}/${3}/index\.m3u8\?token=[^'< ]+",
        bound_as: Some("${1}..."),
    },
    Variable {
        shown: r"g-[0-9a-f]{12}",
        real: r"g-[0-9a-f]{12}",
        bound_as: Some("$0"),
    },
    // Retrieval request IDs (creation time in ms, random suffix).
    Variable {
        shown: r"\d{13}-[0-9a-f]{8}",
        real: r"\d{13}-[0-9a-f]{8}",
        bound_as: Some("$0"),
    },
    Variable {
        shown: r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z",
        real: r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z",
        bound_as: None,
    },
    Variable {
        shown: r"\d{4}-\d{2}-\d{2}",
        real: r"\d{4}-\d{2}-\d{2}",
        bound_as: None,
    },
    Variable {
        shown: r"127\.0\.0\.1:\d+",
        real: r"127\.0\.0\.1:\d+",
        bound_as: None,
    },
    Variable {
        shown: r"vfed1\.[A-Za-z0-9_.-]+",
        real: r"vfed1\.[A-Za-z0-9_.-]+",
        bound_as: None,
    },
    Variable {
        shown: r"[A-Za-z0-9+/]{43}=",
        real: r"[A-Za-z0-9+/]{43}=",
        bound_as: None,
    },
    Variable {
        shown: r"\d+(\.\d+)? [kM]?bit/s",
        real: r"\d+(?:\.\d+)? [kM]?bit/s",
        bound_as: None,
    },
    Variable {
        shown: r"\d+(\.\d+)? [kMG]B\b",
        real: r"\d+(?:\.\d+)? [kMG]B",
        bound_as: None,
    },
    Variable {
        shown: r"\d+(\.\d+)? [KMGT]iB",
        real: r"\d+(?:\.\d+)? [KMGT]iB",
        bound_as: None,
    },
    // What an archive or an evidence package holds right now.
    Variable {
        shown: r"\d+ (bytes|files?|fragments?|frames|media files?|inclusion proofs?|log entries)\b",
        real: r"\d+ (?:bytes|files?|fragments?|frames|media files?|inclusion proofs?|log entries)",
        bound_as: None,
    },
    Variable {
        shown: r"\d+ segment\(s\)",
        real: r"\d+ segment\(s\)",
        bound_as: None,
    },
    Variable {
        shown: r"\(revision \d+\)",
        real: r"\(revision \d+\)",
        bound_as: None,
    },
    Variable {
        shown: r"\d+(ms|s|m|h|d)\b",
        real: r"\d+(?:ms|s|m|h|d)",
        bound_as: None,
    },
];

/// Table columns whose values differ from run to run: (the table's first
/// column header, the column's header). Revisions depend on how the demo's
/// writes interleave, lags and log sizes on when a command runs.
pub const VARIABLE_COLUMNS: &[(&str, &str)] = &[
    ("PEER ID", "LAG"),
    ("PEER ID", "APPLIED REV"),
    ("ID", "REV"),
    ("CHILD", "SIZE"),
    ("INDEX", "INDEX"),
    ("KIND", "DURATION"),
];

/// The header cells of a table line (separated by two or more spaces), with
/// their byte offsets.
fn header_cells(line: &str) -> Vec<(usize, &str)> {
    let mut cells = Vec::new();
    let mut start = None;
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let gap = *b == b' ' && bytes.get(i + 1) == Some(&b' ');
        match (start, gap) {
            (None, false) if *b != b' ' => start = Some(i),
            (Some(s), true) => {
                cells.push((s, line[s..i].trim_end()));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        cells.push((s, line[s..].trim_end()));
    }
    cells
}

/// `expected` with the cells of variable columns replaced by `...`; tables
/// in the README are aligned, so a cell is found by its header's offsets.
fn mask_variable_columns(expected: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(expected.len());
    let mut columns: Vec<(usize, Option<usize>)> = Vec::new();
    for line in expected {
        if line.trim().is_empty() {
            columns.clear();
            out.push(line.clone());
            continue;
        }
        let cells = header_cells(line);
        if let Some((_, first)) = cells.first() {
            let variable: Vec<(usize, Option<usize>)> = cells
                .iter()
                .enumerate()
                .filter(|(_, (_, name))| VARIABLE_COLUMNS.contains(&(*first, *name)))
                .map(|(i, (at, _))| (*at, cells.get(i + 1).map(|(next, _)| *next)))
                .collect();
            if !variable.is_empty() {
                columns = variable;
                out.push(line.clone());
                continue;
            }
        }
        let mut row = line.clone();
        // Right to left, so that earlier offsets stay valid.
        for (start, end) in columns.iter().rev() {
            let end = end.unwrap_or(row.len()).min(row.len());
            if *start >= end || !row.is_char_boundary(*start) || !row.is_char_boundary(end) {
                continue;
            }
            let cell = row[*start..end].trim_end();
            // One cell: it starts where the header's does, after a space (an
            // unaligned row is left as it is), and its words are apart by
            // single spaces (`1m 2s`).
            let at_boundary = *start == 0 || row.as_bytes()[*start - 1] == b' ';
            if at_boundary && !cell.is_empty() && !cell.starts_with(' ') && !cell.contains("  ") {
                let cell_end = *start + cell.len();
                row.replace_range(*start..cell_end, "...");
            }
        }
        out.push(row);
    }
    out
}

/// What the README showed for a bound value, and what it really was.
#[derive(Debug, Default)]
pub struct Bindings {
    /// README text -> real text, in the order they were bound.
    values: Vec<(String, String)>,
}

impl Bindings {
    /// `command` with every bound README value replaced by its real value.
    pub fn apply(&self, command: &str) -> String {
        let mut out = command.to_owned();
        for (shown, real) in &self.values {
            out = out.replace(shown.as_str(), real);
        }
        out
    }

    fn get(&self, shown: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(s, _)| s == shown)
            .map(|(_, r)| r.as_str())
    }
}

/// One expected line as a regex, and the README keys of its capture groups.
struct LinePattern {
    regex: Regex,
    keys: Vec<String>,
}

struct Compiled {
    shown: Vec<Regex>,
}

fn compiled() -> &'static Compiled {
    static C: std::sync::OnceLock<Compiled> = std::sync::OnceLock::new();
    C.get_or_init(|| Compiled {
        shown: VARIABLE
            .iter()
            .map(|v| Regex::new(&format!("^(?:{})", v.shown)).expect("a valid pattern"))
            .collect(),
    })
}

fn pattern(expected: &str, bindings: &Bindings) -> LinePattern {
    let c = compiled();
    let mut regex = String::from("^");
    let mut keys = Vec::new();
    let mut literal = String::new();
    let flush = |literal: &mut String, regex: &mut String| {
        regex.push_str(&regex::escape(literal));
        literal.clear();
    };
    let bytes = expected.as_bytes();
    let mut at = 0;
    'outer: while at < expected.len() {
        let rest = &expected[at..];
        let boundary = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        if boundary {
            for (v, shown) in VARIABLE.iter().zip(&c.shown) {
                let Some(m) = shown.captures(rest) else {
                    continue;
                };
                let whole = m.get(0).map_or("", |w| w.as_str());
                let mut real = String::new();
                m.expand(v.real, &mut real);
                flush(&mut literal, &mut regex);
                match v.bound_as {
                    Some(template) => {
                        let mut key = String::new();
                        m.expand(template, &mut key);
                        match bindings.get(&key) {
                            Some(real) => regex.push_str(&regex::escape(real)),
                            None => {
                                regex.push_str(&format!("({real})"));
                                keys.push(key);
                            }
                        }
                    }
                    None => regex.push_str(&format!("(?:{real})")),
                }
                at += whole.len();
                continue 'outer;
            }
        }
        if rest.starts_with("...") {
            flush(&mut literal, &mut regex);
            regex.push_str(".*");
            at += 3;
            continue;
        }
        let ch = rest.chars().next().unwrap_or(' ');
        if ch == ' ' {
            flush(&mut literal, &mut regex);
            let spaces = rest.len() - rest.trim_start_matches(' ').len();
            regex.push_str(" +");
            at += spaces;
            continue;
        }
        literal.push(ch);
        at += ch.len_utf8();
    }
    flush(&mut literal, &mut regex);
    regex.push('$');
    LinePattern {
        regex: Regex::new(&regex).expect("an escaped pattern is valid"),
        keys,
    }
}

/// Output as compared: no trailing spaces, no trailing blank lines.
pub fn normalize(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output.lines().map(|l| l.trim_end().to_owned()).collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// Whether `actual` is what `expected` shows; on success the bound values
/// seen are added to `bindings`.
pub fn matches(expected: &[String], actual: &[String], bindings: &mut Bindings) -> bool {
    let expected = mask_variable_columns(expected);
    let patterns: Vec<Option<LinePattern>> = expected
        .iter()
        .map(|e| (e.trim() != "...").then(|| pattern(e.trim_end(), bindings)))
        .collect();
    let mut pairs = Vec::new();
    if !align(&patterns, actual, 0, 0, &mut pairs) {
        return false;
    }
    for (p, a) in pairs {
        let Some(p) = &patterns[p] else { continue };
        if let Some(caps) = p.regex.captures(&actual[a]) {
            for (key, cap) in p.keys.iter().zip(caps.iter().skip(1)) {
                if let Some(cap) = cap
                    && bindings.get(key).is_none()
                {
                    bindings.values.push((key.clone(), cap.as_str().to_owned()));
                }
            }
        }
    }
    true
}

/// Matches patterns from `p` against lines from `a`; `pairs` gets which
/// line each pattern matched.
fn align(
    patterns: &[Option<LinePattern>],
    actual: &[String],
    p: usize,
    a: usize,
    pairs: &mut Vec<(usize, usize)>,
) -> bool {
    if p == patterns.len() {
        return a == actual.len();
    }
    match &patterns[p] {
        None => (a..=actual.len()).any(|next| align(patterns, actual, p + 1, next, pairs)),
        Some(line) => {
            if a < actual.len() && line.regex.is_match(&actual[a]) {
                pairs.push((p, a));
                if align(patterns, actual, p + 1, a + 1, pairs) {
                    return true;
                }
                pairs.pop();
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn steps_of_the_section_only() {
        let md = "## Other\n```console\n$ no\n```\n## Tour\ntext\n```console\n$ a \\\n    --b\nout 1\n\nout 2\n\n$ c\n```\n```sh\n$ not console\n```\n## Next\n```console\n$ no\n```\n";
        let steps = console_steps(md, "## Tour");
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].line, 8);
        assert_eq!(steps[0].command, "a \\\n    --b");
        assert_eq!(steps[0].expected, lines("out 1\n\nout 2"));
        assert_eq!(steps[1].command, "c");
        assert!(steps[1].expected.is_empty());
    }

    #[test]
    fn variable_values_padding_and_ellipses() {
        let mut b = Bindings::default();
        let expected = lines(
            "ID  STATUS  SINCE    REV\n54050200001320000009  online  10s ago  13\n...\nlast at 2026-11-27T22:28:01.355Z (error: no camera may cover ...) [R7]",
        );
        let actual = lines(
            "ID  STATUS  SINCE   REV\n54050200001320000009  online  9s ago  13\nx\ny\nlast at 2027-01-02T03:04:05Z (error: no camera may cover hotel rooms, toilets) [R7]",
        );
        assert!(matches(&expected, &actual, &mut b));
        // Anything else that differs does not match.
        let mut drifted = actual.clone();
        drifted[1] = "54050200001320000009  offline  9s ago  13".into();
        assert!(!matches(&expected, &drifted, &mut b));
        let mut drifted = actual.clone();
        drifted[1] = "54050200001320000009  online  9s ago  14".into();
        assert!(!matches(&expected, &drifted, &mut b));
        assert!(!matches(&expected, &actual[..2], &mut b));
    }

    #[test]
    fn variable_columns_match_any_value() {
        let mut b = Bindings::default();
        let expected = lines(
            "PEER ID  NAME  LAG  APPLIED REV  LAST ERROR
5405  Naidong  0    18           -",
        );
        assert!(matches(
            &expected,
            &lines(
                "PEER ID  NAME  LAG  APPLIED REV  LAST ERROR
5405  Naidong  2    7            -"
            ),
            &mut b
        ));
        assert!(!matches(
            &expected,
            &lines(
                "PEER ID  NAME  LAG  APPLIED REV  LAST ERROR
5405  Zhanang  2    7            -"
            ),
            &mut b
        ));
    }

    #[test]
    fn bound_values_are_used_by_later_commands() {
        let mut b = Bindings::default();
        let expected = lines(
            "granted g-9ed728d37b77 to department traffic\n  ffplay 'http://127.0.0.1:43777/live/54050200001320000001/main/index.m3u8?token=vfed1.eyJzdWIi...'",
        );
        let actual = lines(
            "granted g-0123456789ab to department traffic\n  ffplay 'http://127.0.0.1:5555/live/54050200001320000001/main/index.m3u8?token=vfed1.abc.def'",
        );
        assert!(matches(&expected, &actual, &mut b));
        assert_eq!(
            b.apply("grants revoke g-9ed728d37b77; ffprobe 'http://127.0.0.1:43777/live/54050200001320000001/main/index.m3u8?token=...'"),
            "grants revoke g-0123456789ab; ffprobe 'http://127.0.0.1:5555/live/54050200001320000001/main/index.m3u8?token=vfed1.abc.def'"
        );
        // Once bound, the README's value stands for that one real value.
        assert!(matches(
            &lines("changed g-9ed728d37b77"),
            &lines("changed g-0123456789ab"),
            &mut b
        ));
        assert!(!matches(
            &lines("changed g-9ed728d37b77"),
            &lines("changed g-ffffffffffff"),
            &mut b
        ));
    }
}
