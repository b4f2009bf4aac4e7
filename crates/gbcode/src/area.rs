//! Administrative area codes and the "is inside" relation between them.

use std::fmt;

/// A 6-digit administrative area code: `54` province, `5405` city, `540502` county.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AreaCode(String);

impl AreaCode {
    /// Parses 6 ASCII digits.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit())).then(|| Self(s.to_owned()))
    }

    pub(crate) fn from_digits(s: &str) -> Self {
        Self(s.to_owned())
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The significant prefix: trailing `00` pairs name the whole level above,
    /// so `540500` (a city) covers every `5405xx` and `540000` every `54xxxx`.
    pub fn prefix(&self) -> &str {
        let mut p = self.0.as_str();
        for _ in 0..2 {
            match p.strip_suffix("00") {
                Some(rest) if !rest.is_empty() => p = rest,
                _ => break,
            }
        }
        p
    }

    /// Whether `other` lies inside this area (or is it).
    pub fn contains(&self, other: &AreaCode) -> bool {
        other.0.starts_with(self.prefix())
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a known division of Shannan (the regulation's city), if known.
pub fn division_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "540000" => "Tibet Autonomous Region",
        "540500" => "Shannan",
        "540502" => "Naidong",
        "540521" => "Zhanang",
        "540522" => "Gonggar",
        "540523" => "Sangri",
        "540524" => "Qonggyai",
        "540525" => "Qusum",
        "540526" => "Comai",
        "540527" => "Lhozhag",
        "540528" => "Gyaca",
        "540529" => "Lhunze",
        "540530" => "Cona",
        "540531" => "Nagarze",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(s: &str) -> AreaCode {
        AreaCode::parse(s).unwrap_or_else(|| panic!("bad test area {s}"))
    }

    #[test]
    fn containment_follows_levels() {
        assert!(area("540500").contains(&area("540502")));
        assert!(area("540500").contains(&area("540500")));
        assert!(area("540000").contains(&area("540521")));
        assert!(!area("540502").contains(&area("540521")));
        assert!(!area("540500").contains(&area("540602")));
        assert!(area("540502").contains(&area("540502")));
    }
}
