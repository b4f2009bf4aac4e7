//! Text from a server is printed escaped: a county can name a device, and a
//! city operator's terminal must not take that name for commands (ESC
//! sequences) or reorder what it shows (bidi overrides). Servers refuse such
//! characters (`vfed_proto::bounds`); this guards against older data and
//! nodes that do not.

use std::borrow::Cow;
use std::fmt::Write as _;

use vfed_proto::bounds::is_forbidden;

/// `text` with newlines, tabs and carriage returns as spaces and every other
/// control or bidi formatting character as `\u{XXXX}`.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_forbidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_forbidden(c) => {
                let _ = write!(out, "\\u{{{:04X}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::for_terminal;

    #[test]
    fn escapes_reach_the_terminal_as_text() {
        assert_eq!(for_terminal("cam 乃东 1"), "cam 乃东 1");
        assert_eq!(for_terminal("a\x1b[31mb"), "a\\u{001B}[31mb");
        assert_eq!(
            for_terminal("\0x\u{202E}y\u{9B}"),
            "\\u{0000}x\\u{202E}y\\u{009B}"
        );
        assert_eq!(for_terminal("two\nlines"), "two lines");
    }
}
