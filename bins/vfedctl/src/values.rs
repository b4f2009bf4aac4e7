//! Syntax checks of flag and `--file` values (the server checks the rules).

use time::Date;
use time::macros::format_description;

/// Checks a `YYYY-MM-DD` date and returns it trimmed; an empty string is
/// accepted (it clears the date).
pub fn date(input: &str) -> Result<String, String> {
    if input.trim().is_empty() {
        return Ok(String::new());
    }
    let format = format_description!("[year]-[month]-[day]");
    Date::parse(input.trim(), format)
        .map(|_| input.trim().to_owned())
        .map_err(|e| format!("expected a date YYYY-MM-DD ({e})"))
}

/// A finite number.
fn number(input: &str) -> Result<f64, String> {
    match input.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("expected a number, got {input:?}")),
    }
}

/// A latitude in degrees, -90..=90.
pub fn latitude(input: &str) -> Result<f64, String> {
    in_range(number(input)?, -90.0, 90.0, "latitude")
}

/// A longitude in degrees, -180..=180.
pub fn longitude(input: &str) -> Result<f64, String> {
    in_range(number(input)?, -180.0, 180.0, "longitude")
}

/// A distance in metres, >= 0.
pub fn metres(input: &str) -> Result<f64, String> {
    in_range(number(input)?, 0.0, f64::MAX, "distance in metres")
}

/// Checks `value` against an inclusive range.
pub fn in_range(value: f64, min: f64, max: f64, what: &str) -> Result<f64, String> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else if max == f64::MAX {
        Err(format!("{what} must be at least {min}, got {value}"))
    } else {
        Err(format!("{what} must be within {min}..={max}, got {value}"))
    }
}

/// A node ID usable as a server identity (`--server-id`).
pub fn node_id(input: &str) -> Result<String, String> {
    vfed_pki::Identity::node(input.trim())
        .map(|_| input.trim().to_owned())
        .map_err(|e| e.to_string())
}

/// A device ID, checked as the registry checks it (R4): a 20-digit GB/T
/// 28181 code whose type digits (11-13) name a front-end device (111-199).
/// Every verb that takes a device ID parses it with this, so `devices show
/// 123` and `watch 123` fail the same way, before any request is sent.
pub fn device_id(input: &str) -> Result<String, String> {
    let id = input.trim();
    vfed_gbcode::GbCode::parse_device(id)
        .map(|code| code.as_str().to_owned())
        .map_err(|e| format!("{e} (R4)"))
}

/// The stream profiles a device offers.
pub const PROFILES: [&str; 2] = ["main", "sub"];

/// A stream key `<device id>[/<profile>]`, returned as
/// `<device id>/<profile>`; the profile defaults to `main`.
pub fn stream_key(input: &str) -> Result<String, String> {
    let (device, profile) = match input.trim().split_once('/') {
        Some((device, profile)) => (device, profile),
        None => (input.trim(), "main"),
    };
    let device = device_id(device)?;
    if PROFILES.contains(&profile) {
        Ok(format!("{device}/{profile}"))
    } else {
        Err(format!(
            "unknown profile {profile:?} in {input:?}: expected <device id>[/main|/sub]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date("2024-02-29").as_deref(), Ok("2024-02-29"));
        assert!(date("2023-02-29").is_err());
        assert!(date("2024-2-1").is_err());
        assert!(date("yesterday").is_err());
        assert_eq!(date(" ").as_deref(), Ok(""));
    }

    #[test]
    fn device_ids_and_keys() {
        assert!(device_id("54050200001320000001").is_ok());
        assert!(device_id("5405020000132000000").is_err());
        assert!(device_id("5405020000132000000x").is_err());
        let e = device_id("123").expect_err("too short");
        assert!(e.contains("20 digits (GB/T 28181)"), "{e}");
        let e = device_id("54050200002000000001").expect_err("a platform code");
        assert!(e.contains("type code 200 is not a device type"), "{e}");
        assert_eq!(
            stream_key("54050200001320000001").as_deref(),
            Ok("54050200001320000001/main")
        );
        assert_eq!(
            stream_key("54050200001320000001/sub").as_deref(),
            Ok("54050200001320000001/sub")
        );
        assert!(stream_key("54050200001320000001/hd").is_err());
        assert!(stream_key("x/main").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(latitude("29.2"), Ok(29.2));
        assert!(latitude("91").is_err());
        assert!(longitude("abc").is_err());
        assert!(metres("-1").is_err());
        assert!(metres("NaN").is_err());
        assert_eq!(metres("0"), Ok(0.0));
    }
}
