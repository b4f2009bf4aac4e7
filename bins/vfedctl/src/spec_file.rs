//! `--file device.json`: a JSON `DeviceSpec` with the proto's snake_case
//! field names and kebab-case enum names; every field is optional.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use crate::enums;
use crate::exit::usage;
use crate::spec::SpecPatch;
use crate::values;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    id: Option<String>,
    name: Option<String>,
    location_type: Option<String>,
    protected_category: Option<String>,
    address: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    unit: Option<String>,
    responsible: Option<ResponsibleFile>,
    signage: Option<SignageFile>,
    acceptance: Option<AcceptanceFile>,
    filing: Option<FilingFile>,
    shared: Option<bool>,
    streams: Option<StreamsFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponsibleFile {
    builder: Option<String>,
    maintainer: Option<String>,
    manager: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignageFile {
    posted: Option<bool>,
    distance_to_homes_m: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptanceFile {
    state: Option<String>,
    accepted_on: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilingFile {
    design_unit: Option<String>,
    build_unit: Option<String>,
    maintenance_unit: Option<String>,
    operators: Option<Vec<String>>,
    filed_on: Option<String>,
    verified_on: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamsFile {
    main_url: Option<String>,
    sub_url: Option<String>,
}

/// Reads and checks a device file. Errors are usage errors naming the file
/// and field.
pub fn load(path: &Path) -> anyhow::Result<SpecPatch> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read --file {}: {e}", path.display())))?;
    parse(&text).with_context(|| format!("--file {}", path.display()))
}

/// Parses the JSON text of a device file.
pub fn parse(text: &str) -> anyhow::Result<SpecPatch> {
    let file: SpecFile =
        serde_json::from_str(text).map_err(|e| usage(format!("invalid device JSON: {e}")))?;
    convert(file)
}

fn convert(file: SpecFile) -> anyhow::Result<SpecPatch> {
    let field = |name: &str, e: String| usage(format!("field {name}: {e}"));
    let date = |name: &str, v: Option<String>| -> anyhow::Result<Option<String>> {
        v.map(|v| values::date(&v).map_err(|e| field(name, e)))
            .transpose()
    };
    let range = |name: &str, v: Option<f64>, min: f64, max: f64| -> anyhow::Result<Option<f64>> {
        v.map(|v| values::in_range(v, min, max, name).map_err(|e| field(name, e)))
            .transpose()
    };
    let r = file.responsible.unwrap_or_default();
    let s = file.signage.unwrap_or_default();
    let a = file.acceptance.unwrap_or_default();
    let f = file.filing.unwrap_or_default();
    let st = file.streams.unwrap_or_default();
    Ok(SpecPatch {
        id: file.id,
        name: file.name,
        location_type: file
            .location_type
            .and_then(|v| {
                enum_value(&v).map(|v| enums::parse(v).map_err(|e| field("location_type", e)))
            })
            .transpose()?,
        protected_category: file
            .protected_category
            .and_then(|v| {
                enum_value(&v).map(|v| enums::parse(v).map_err(|e| field("protected_category", e)))
            })
            .transpose()?,
        address: file.address,
        latitude: range("latitude", file.latitude, -90.0, 90.0)?,
        longitude: range("longitude", file.longitude, -180.0, 180.0)?,
        unit: file.unit,
        builder: r.builder,
        maintainer: r.maintainer,
        manager: r.manager,
        signage_posted: s.posted,
        distance_to_homes_m: range(
            "signage.distance_to_homes_m",
            s.distance_to_homes_m,
            0.0,
            f64::MAX,
        )?,
        acceptance_state: a
            .state
            .and_then(|v| {
                enum_value(&v).map(|v| enums::parse(v).map_err(|e| field("acceptance.state", e)))
            })
            .transpose()?,
        accepted_on: date("acceptance.accepted_on", a.accepted_on)?,
        design_unit: f.design_unit,
        build_unit: f.build_unit,
        maintenance_unit: f.maintenance_unit,
        operators: f.operators,
        filed_on: date("filing.filed_on", f.filed_on)?,
        verified_on: date("filing.verified_on", f.verified_on)?,
        shared: file.shared,
        main_url: st.main_url,
        sub_url: st.sub_url,
    })
}

/// An enum name to parse; `None` for `unspecified` or an empty string
/// (as `-o json` prints unset enums), which leave the field unchanged.
fn enum_value(text: &str) -> Option<&str> {
    let t = text.trim();
    (!t.is_empty() && !t.eq_ignore_ascii_case("unspecified")).then_some(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vfed_proto::registry::v1::{AcceptanceState, LocationType};

    #[test]
    fn nested_fields_and_enums() {
        let p = parse(
            r#"{"id":"54050200001320000001","location_type":"junction",
                "acceptance":{"state":"accepted","accepted_on":"2024-05-01"},
                "signage":{"posted":true},"filing":{"operators":["a","b"]}}"#,
        )
        .unwrap();
        assert_eq!(p.location_type, Some(LocationType::Junction));
        assert_eq!(p.acceptance_state, Some(AcceptanceState::Accepted));
        assert_eq!(p.signage_posted, Some(true));
        assert_eq!(p.operators, Some(vec!["a".to_owned(), "b".to_owned()]));
    }

    #[test]
    fn unspecified_enums_leave_the_field_unset() {
        let p = parse(r#"{"location_type":"unspecified","acceptance":{"state":""}}"#).unwrap();
        assert_eq!(p.location_type, None);
        assert_eq!(p.acceptance_state, None);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(r#"{"acceptance":{"accepted_on":"May 1"}}"#).unwrap_err();
        assert!(format!("{e:#}").contains("acceptance.accepted_on"), "{e:#}");
        let e = parse(r#"{"location_type":"moon"}"#).unwrap_err();
        assert!(format!("{e:#}").contains("accepted: road"), "{e:#}");
        let e = parse(r#"{"nmae":"typo"}"#).unwrap_err();
        assert!(format!("{e:#}").contains("unknown field `nmae`"), "{e:#}");
    }
}
