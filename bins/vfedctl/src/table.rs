//! A small column-aligning table printer (CJK-aware widths).

/// Columns are separated by this many spaces.
const GAP: usize = 2;

/// A table of text cells; render with [`Table::render`].
#[derive(Debug, Default)]
pub struct Table {
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
    indent: usize,
}

impl Table {
    /// A table with a header line.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: Some(header.iter().map(|h| (*h).to_owned()).collect()),
            ..Table::default()
        }
    }

    /// A table without a header line (e.g. key/value listings).
    pub fn headless() -> Self {
        Table::default()
    }

    /// Indents every line by `spaces`.
    pub fn indent(mut self, spaces: usize) -> Self {
        self.indent = spaces;
        self
    }

    /// Appends a row; missing cells are empty, newlines become spaces and
    /// other control characters are escaped (`escape::for_terminal`).
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| crate::escape::for_terminal(&c.into()).into_owned())
                .collect(),
        );
    }

    /// The table as text: one line per row, each ending with `\n`; no
    /// trailing spaces.
    pub fn render(&self) -> String {
        let lines: Vec<&Vec<String>> = self.header.iter().chain(self.rows.iter()).collect();
        let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for line in &lines {
            for (i, cell) in line.iter().enumerate() {
                widths[i] = widths[i].max(display_width(cell));
            }
        }
        let mut out = String::new();
        for line in lines {
            let mut text = " ".repeat(self.indent);
            for (i, cell) in line.iter().enumerate() {
                text.push_str(cell);
                if i + 1 < line.len() {
                    let pad = widths[i] - display_width(cell) + GAP;
                    text.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Terminal columns taken by `text`: 2 for East Asian wide characters, 0
/// for combining marks, 1 otherwise.
pub fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let c = u32::from(c);
    let zero = matches!(c, 0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F);
    let wide = matches!(
        c,
        0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x20000..=0x3FFFD
    );
    if zero {
        0
    } else if wide {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(&["ID", "NAME", "STATUS"]);
        t.row(["1", "camera one", "online"]);
        t.row(["12345", "b", ""]);
        assert_eq!(
            t.render(),
            "ID     NAME        STATUS\n\
             1      camera one  online\n\
             12345  b\n"
        );
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(display_width("乃东区"), 6);
        assert_eq!(display_width("ab"), 2);
        let mut t = Table::headless();
        t.row(["乃东", "x"]);
        t.row(["abcde", "y"]);
        assert_eq!(t.render(), "乃东   x\nabcde  y\n");
    }

    #[test]
    fn indent_short_rows_and_newlines() {
        let mut t = Table::headless().indent(4);
        t.row(vec![
            "a".to_owned(),
            "line\nbreak".to_owned(),
            "z".to_owned(),
        ]);
        t.row(vec!["bb".to_owned()]);
        assert_eq!(t.render(), "    a   line break  z\n    bb\n");
        assert_eq!(Table::new(&["A"]).render(), "A\n");
    }
}
