//! The regulation's rules on a device spec, checked before anything is stored.

use time::Date;
use time::macros::format_description;
use vfed_gbcode::{AreaCode, GbCode};
use vfed_proto::bounds;

use crate::RegistryError;
use crate::domain::{AcceptanceState, DeviceSpec};

const PROHIBITED: &str = "no camera may cover hotel rooms, dormitory or apartment rooms, nursing rooms, \
baths, changing or dressing rooms, toilets, financial customer-data areas, ballot or report boxes, \
polling places or other private places";

/// Years a filing or acceptance date may fall in: the regulation dates from
/// 2019 and no system in service was accepted before video surveillance was
/// digital; a year outside is a typo or an attack on date arithmetic.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Parses a civil date `YYYY-MM-DD` with a four-digit year in 1970..=9999.
pub fn parse_date(field: &str, value: &str) -> Result<Date, RegistryError> {
    let refuse = || {
        RegistryError::bad(
            field,
            format!(
                "{:?} is not a date YYYY-MM-DD with a year in {}..={}",
                value.chars().take(32).collect::<String>(),
                YEARS.start(),
                YEARS.end()
            ),
        )
    };
    // `time` also reads signed and six-digit years (`-0001-01-01`).
    if value.len() != 10 || !value.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(refuse());
    }
    let date =
        Date::parse(value, format_description!("[year]-[month]-[day]")).map_err(|_| refuse())?;
    if !YEARS.contains(&date.year()) {
        return Err(refuse());
    }
    Ok(date)
}

fn optional_date(field: &str, value: Option<&str>) -> Result<Option<Date>, RegistryError> {
    value.map(|v| parse_date(field, v)).transpose()
}

/// A display string of at most `max` characters without control or bidi
/// characters (shown on other nodes' terminals, R4: one catalog model).
pub fn display(field: &str, value: &str, max: usize) -> Result<(), RegistryError> {
    bounds::display_text(value, max).map_err(|fault| RegistryError::bad(field, fault.to_string()))
}

fn required(
    field: &str,
    value: &str,
    what: &str,
    requirement: &'static str,
) -> Result<(), RegistryError> {
    if value.is_empty() {
        return Err(RegistryError::invalid(
            field,
            format!("is required: {what}"),
            requirement,
        ));
    }
    bounds::display_text(value, bounds::NAME_CHARS)
        .map_err(|fault| RegistryError::invalid(field, fault.to_string(), requirement))
}

/// The size and character rules of every text field: checked for local
/// registrations and for entries from children alike, so that no entry a
/// node holds can jam a link or a listing (see `vfed_proto::bounds`).
pub fn check_bounds(spec: &DeviceSpec) -> Result<(), RegistryError> {
    if spec.id.len() > 20 {
        return Err(RegistryError::invalid(
            "spec.id",
            "must be a 20-digit code",
            "R4",
        ));
    }
    display("spec.name", &spec.name, bounds::NAME_CHARS)?;
    display("spec.address", &spec.address, bounds::ADDRESS_CHARS)?;
    display("spec.unit", &spec.unit, bounds::NAME_CHARS)?;
    for (field, value) in [
        ("spec.responsible.builder", &spec.responsible.builder),
        ("spec.responsible.maintainer", &spec.responsible.maintainer),
        ("spec.responsible.manager", &spec.responsible.manager),
        ("spec.filing.design_unit", &spec.filing.design_unit),
        ("spec.filing.build_unit", &spec.filing.build_unit),
        (
            "spec.filing.maintenance_unit",
            &spec.filing.maintenance_unit,
        ),
    ] {
        display(field, value, bounds::NAME_CHARS)?;
    }
    if spec.filing.operators.len() > bounds::MAX_OPERATORS {
        return Err(RegistryError::invalid(
            "spec.filing.operators",
            format!(
                "must list at most {} operators (got {})",
                bounds::MAX_OPERATORS,
                spec.filing.operators.len()
            ),
            "R12",
        ));
    }
    for (i, operator) in spec.filing.operators.iter().enumerate() {
        display(
            &format!("spec.filing.operators[{i}]"),
            operator,
            bounds::OPERATOR_CHARS,
        )?;
    }
    for (field, value) in [
        ("spec.acceptance.accepted_on", &spec.acceptance.accepted_on),
        ("spec.filing.filed_on", &spec.filing.filed_on),
        ("spec.filing.verified_on", &spec.filing.verified_on),
    ] {
        if let Some(date) = value {
            parse_date(field, date)?;
        }
    }
    for (field, url) in [
        ("spec.streams.main_url", &spec.streams.main_url),
        ("spec.streams.sub_url", &spec.streams.sub_url),
    ] {
        if let Some(url) = url {
            let ok = (url.starts_with("rtsp://") || url.starts_with("rtsps://"))
                && url.len() <= MAX_URL_BYTES
                && url.len() > 8
                && !url
                    .chars()
                    .any(|c| c.is_whitespace() || bounds::is_forbidden(c));
            if !ok {
                return Err(RegistryError::bad(
                    field,
                    format!(
                        "must be an rtsp:// or rtsps:// URL of at most {MAX_URL_BYTES} bytes, without spaces or control characters"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The longest stream URL (bytes).
pub const MAX_URL_BYTES: usize = 1024;

/// R7 alone: checked for local registrations and for entries from children.
pub fn check_location(spec: &DeviceSpec) -> Result<(), RegistryError> {
    if spec.location_type.is_prohibited() {
        return Err(RegistryError::invalid(
            "spec.location_type",
            format!(
                "{} is a prohibited location ({PROHIBITED})",
                spec.location_type.name()
            ),
            "R7",
        ));
    }
    Ok(())
}

/// The device ID: a GB/T 28181 device code inside `area`.
pub fn check_id(id: &str, area: &AreaCode, field: &str) -> Result<GbCode, RegistryError> {
    let code =
        GbCode::parse_device(id).map_err(|e| RegistryError::invalid(field, e.to_string(), "R4"))?;
    if !area.contains(&code.area()) {
        return Err(RegistryError::invalid(
            field,
            format!(
                "area code {} is outside this node's area {area}",
                code.area()
            ),
            "R6.1",
        ));
    }
    Ok(code)
}

/// Every rule for a device registered or updated at this node (area `area`).
pub fn check_spec(spec: &DeviceSpec, area: &AreaCode, today: Date) -> Result<(), RegistryError> {
    check_id(&spec.id, area, "spec.id")?;
    check_location(spec)?;
    check_bounds(spec)?;
    if spec.name.is_empty() {
        return Err(RegistryError::bad("spec.name", "is required"));
    }
    required(
        "spec.unit",
        &spec.unit,
        "the unit running the site system",
        "R9",
    )?;
    required(
        "spec.responsible.builder",
        &spec.responsible.builder,
        "the unit that built it",
        "R9",
    )?;
    required(
        "spec.responsible.maintainer",
        &spec.responsible.maintainer,
        "the unit that maintains it",
        "R9",
    )?;
    required(
        "spec.responsible.manager",
        &spec.responsible.manager,
        "the unit that manages it",
        "R9",
    )?;
    if let Some(lat) = spec.latitude.filter(|v| !(-90.0..=90.0).contains(v)) {
        return Err(RegistryError::bad(
            "spec.latitude",
            format!("{lat} is not in -90..=90"),
        ));
    }
    if let Some(lon) = spec.longitude.filter(|v| !(-180.0..=180.0).contains(v)) {
        return Err(RegistryError::bad(
            "spec.longitude",
            format!("{lon} is not in -180..=180"),
        ));
    }
    if let Some(d) = spec
        .signage
        .distance_to_homes_m
        .filter(|d| !(d.is_finite() && (0.0..=100_000.0).contains(d)))
    {
        return Err(RegistryError::invalid(
            "spec.signage.distance_to_homes_m",
            format!("{d} is not a distance in metres (0 to 100000)"),
            "R8",
        ));
    }
    check_acceptance_and_filing(spec, today)?;
    Ok(())
}

fn check_acceptance_and_filing(spec: &DeviceSpec, today: Date) -> Result<(), RegistryError> {
    let accepted_on = optional_date(
        "spec.acceptance.accepted_on",
        spec.acceptance.accepted_on.as_deref(),
    )?;
    let filed_on = optional_date("spec.filing.filed_on", spec.filing.filed_on.as_deref())?;
    let verified_on = optional_date(
        "spec.filing.verified_on",
        spec.filing.verified_on.as_deref(),
    )?;
    for (field, date) in [
        ("spec.acceptance.accepted_on", accepted_on),
        ("spec.filing.filed_on", filed_on),
        ("spec.filing.verified_on", verified_on),
    ] {
        if date.is_some_and(|d| d > today) {
            return Err(RegistryError::bad(field, "cannot be in the future"));
        }
    }
    match (spec.acceptance.state, accepted_on) {
        (AcceptanceState::Accepted, None) => {
            return Err(RegistryError::invalid(
                "spec.acceptance.accepted_on",
                "is required when the system is accepted",
                "R11",
            ));
        }
        (AcceptanceState::NotAccepted | AcceptanceState::Rectifying, Some(_)) => {
            return Err(RegistryError::invalid(
                "spec.acceptance.accepted_on",
                "is only set once the system is accepted",
                "R11",
            ));
        }
        _ => {}
    }
    if let Some(filed) = filed_on {
        match accepted_on {
            Some(accepted) if filed >= accepted => {}
            _ => {
                return Err(RegistryError::invalid(
                    "spec.filing.filed_on",
                    "a filing follows acceptance: it needs an accepted_on date on or before it",
                    "R12",
                ));
            }
        }
    }
    if let Some(verified) = verified_on
        && filed_on.is_none_or(|filed| verified < filed)
    {
        return Err(RegistryError::invalid(
            "spec.filing.verified_on",
            "police verification follows filing: it needs a filed_on date on or before it",
            "R12",
        ));
    }
    Ok(())
}
