//! Parsing and classifying 20-digit codes.

use std::fmt;
use std::str::FromStr;

use crate::AreaCode;

/// Why a string is not an acceptable GB/T 28181 code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not exactly 20 ASCII digits.
    #[error("must be exactly 20 digits (GB/T 28181), got {got:?}")]
    Malformed {
        /// What was given (truncated).
        got: String,
    },
    /// The type digits (11-13) name the wrong class of thing.
    #[error("type code {type_code} is not a {expected} type (GB/T 28181: {allowed})")]
    WrongType {
        /// The 3-digit type code found.
        type_code: u16,
        /// The class expected.
        expected: &'static str,
        /// The accepted range, for the message.
        allowed: &'static str,
    },
}

/// What a type code designates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeClass {
    /// 111-199: front-end devices (DVR 111, NVR 118, cameras 131/132...).
    Device,
    /// 200-299: platforms and their logical groupings (200 platform, 215, 216).
    Platform,
    /// Anything else (users, reserved ranges).
    Other,
}

/// A syntactically valid 20-digit code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GbCode(String);

impl GbCode {
    /// Parses any 20-digit code.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodeError::Malformed {
                got: s.chars().take(40).collect(),
            })
        }
    }

    /// Parses a code that must designate a front-end device (types 111-199).
    pub fn parse_device(s: &str) -> Result<Self, CodeError> {
        let code = Self::parse(s)?;
        match code.type_class() {
            TypeClass::Device => Ok(code),
            _ => Err(CodeError::WrongType {
                type_code: code.type_code(),
                expected: "device",
                allowed: "111-199, e.g. 131 camera, 118 NVR",
            }),
        }
    }

    /// Parses a code that must designate a platform node (type 200).
    pub fn parse_node(s: &str) -> Result<Self, CodeError> {
        let code = Self::parse(s)?;
        if code.type_code() == 200 {
            Ok(code)
        } else {
            Err(CodeError::WrongType {
                type_code: code.type_code(),
                expected: "platform node",
                allowed: "200",
            })
        }
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 6-digit area code.
    pub fn area(&self) -> AreaCode {
        AreaCode::from_digits(&self.0[..6])
    }

    /// The 3-digit type code.
    pub fn type_code(&self) -> u16 {
        self.0[10..13]
            .bytes()
            .fold(0, |acc, b| acc * 10 + u16::from(b - b'0'))
    }

    /// The class of the type code.
    pub fn type_class(&self) -> TypeClass {
        match self.type_code() {
            111..=199 => TypeClass::Device,
            200..=299 => TypeClass::Platform,
            _ => TypeClass::Other,
        }
    }
}

impl fmt::Display for GbCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GbCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_classifies() {
        let cam = GbCode::parse_device("54050200001310000001");
        assert!(cam.is_ok(), "{cam:?}");
        let node = GbCode::parse_node("54050000002000000001");
        assert!(node.is_ok(), "{node:?}");
        assert_eq!(
            GbCode::parse("54050200001310000001").map(|c| c.type_code()),
            Ok(131)
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "5405",
            "5405020000131000000a",
            "540502000013100000011",
            " 4050200001310000001",
        ] {
            assert!(
                matches!(GbCode::parse(bad), Err(CodeError::Malformed { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_wrong_type() {
        assert!(matches!(
            GbCode::parse_device("54050000002000000001"),
            Err(CodeError::WrongType { type_code: 200, .. })
        ));
        assert!(matches!(
            GbCode::parse_node("54050200001310000001"),
            Err(CodeError::WrongType { type_code: 131, .. })
        ));
    }
}
