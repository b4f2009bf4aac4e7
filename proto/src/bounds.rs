//! Limits every vfed API shares: how long a display string may be, which
//! characters it may hold, how many bytes a message, a federation batch or a
//! listing page may take. Services name the field when they refuse; this
//! module only knows the rules.

use std::fmt;

/// The largest gRPC message a vfed node decodes (tonic's default limit).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Federation batches and listing pages are cut at this many encoded bytes,
/// a quarter of [`MAX_MESSAGE_BYTES`], so that no batch or page of valid
/// entries can reach the receiver's limit.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Names: device, unit, responsible and filing units (characters).
pub const NAME_CHARS: usize = 128;
/// Postal addresses (characters).
pub const ADDRESS_CHARS: usize = 256;
/// One operator of a filing (characters).
pub const OPERATOR_CHARS: usize = 64;
/// Operators listed in one filing.
pub const MAX_OPERATORS: usize = 32;
/// Free text: purposes, reasons, notes (characters).
pub const TEXT_CHARS: usize = 1024;
/// Search filters, page tokens and similar request fields (bytes).
pub const FILTER_BYTES: usize = 256;

/// Why a string is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextFault {
    /// Longer than allowed.
    TooLong {
        /// The limit, in characters.
        max: usize,
        /// The length sent.
        got: usize,
    },
    /// Holds a character no display field may hold.
    Forbidden {
        /// The character.
        ch: char,
        /// Its position (characters from the start).
        at: usize,
    },
}

impl fmt::Display for TextFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { max, got } => {
                write!(f, "must be at most {max} characters (got {got})")
            }
            Self::Forbidden { ch, at } => write!(
                f,
                "must not contain control or bidirectional-override characters (U+{:04X} at character {at})",
                u32::from(*ch)
            ),
        }
    }
}

/// Control characters (C0 including NUL and ESC, DEL, C1) and the Unicode
/// bidirectional formatting characters (embeddings, overrides, isolates and
/// marks): they let one node's text rewrite another's terminal or reorder
/// what an operator reads.
pub fn is_forbidden(ch: char) -> bool {
    ch.is_control()
        || matches!(
            ch,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// A one-line display string (name, address, unit): at most `max`
/// characters, none of them forbidden.
pub fn display_text(value: &str, max: usize) -> Result<(), TextFault> {
    text(value, max, |_| false)
}

/// Free text (purpose, reason): as [`display_text`], but newlines and tabs
/// are allowed.
pub fn free_text(value: &str, max: usize) -> Result<(), TextFault> {
    text(value, max, |c| c == '\n' || c == '\t')
}

fn text(value: &str, max: usize, allowed: impl Fn(char) -> bool) -> Result<(), TextFault> {
    let mut count = 0;
    for (at, ch) in value.chars().enumerate() {
        if is_forbidden(ch) && !allowed(ch) {
            return Err(TextFault::Forbidden { ch, at });
        }
        count = at + 1;
    }
    if count > max {
        return Err(TextFault::TooLong { max, got: count });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_refused() {
        for bad in [
            "a\0b",
            "\x1b[31mred",
            "del\x7f",
            "c1\u{85}",
            "rlo\u{202E}",
            "iso\u{2066}",
        ] {
            assert!(
                matches!(display_text(bad, 64), Err(TextFault::Forbidden { .. })),
                "{bad:?}"
            );
        }
        assert!(display_text("Naidong 乃东区 road 3", 64).is_ok());
        assert!(display_text("two\nlines", 64).is_err());
        assert!(free_text("two\nlines\tok", 64).is_ok());
    }

    #[test]
    fn length_counts_characters() {
        assert!(display_text(&"区".repeat(128), NAME_CHARS).is_ok());
        assert_eq!(
            display_text(&"a".repeat(129), NAME_CHARS),
            Err(TextFault::TooLong { max: 128, got: 129 })
        );
    }
}
