//! A share of something (a volume), written as a fraction (`0.9`) or a
//! percent (`"90%"`), stored as a fraction and printed as a percent.

use serde::{Deserializer, Serializer, de};

/// Parses `0.9`, `"0.9"` or `"90%"` into 0.9 (not range-checked here).
pub fn parse(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, scale) = match text.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (text, 1.0),
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v / scale)
        .ok_or_else(|| format!("{text:?} is not a fraction (0.9) or a percent (\"90%\")"))
}

/// Writes `0.9` as `"90%"`.
pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    let percent = format!("{}", (value * 1000.0).round() / 10.0);
    serializer.serialize_str(&format!("{percent}%"))
}

struct Visitor;

impl de::Visitor<'_> for Visitor {
    type Value = f64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a fraction like 0.9 or a percent like \"90%\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        parse(v).map_err(E::custom)
    }
}

/// Reads a fraction or a percent.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(Visitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_and_percents() {
        assert_eq!(parse("0.9"), Ok(0.9));
        assert_eq!(parse("90%"), Ok(0.9));
        assert_eq!(parse(" 97.5 % "), Ok(0.975));
        assert!(parse("ninety").is_err());
        assert!(parse("NaN").is_err());
    }
}
