//! Human-readable (table) renderings shared by several commands.

use vfed_proto::registry::v1 as reg;

use crate::enums::kebab_number;
use crate::table::Table;
use crate::timefmt::{ago, instant, now_ms};

/// Devices as one row each.
pub fn device_rows(devices: &[reg::Device]) -> String {
    if devices.is_empty() {
        return "no devices\n".to_owned();
    }
    let now = now_ms();
    let mut t = Table::new(&[
        "ID", "NAME", "STATUS", "SINCE", "LOCATION", "UNIT", "SHARED", "ORIGIN", "REV",
    ]);
    for d in devices {
        let spec = d.spec.clone().unwrap_or_default();
        let origin = if d.remote {
            format!("remote {}", d.origin_node_id)
        } else {
            "local".to_owned()
        };
        let shared = match (spec.shared, d.uplinked) {
            (true, true) => "yes (uplinked)",
            (true, false) => "yes",
            (false, _) => "no",
        };
        t.row([
            spec.id,
            spec.name,
            kebab_number::<reg::DeviceStatus>(d.status),
            ago(d.status_since_unix_ms, now),
            kebab_number::<reg::LocationType>(spec.location_type),
            spec.unit,
            shared.to_owned(),
            origin,
            d.revision.to_string(),
        ]);
    }
    t.render()
}

/// One device as `key  value` lines.
pub fn device_detail(d: &reg::Device) -> String {
    let now = now_ms();
    let s = d.spec.clone().unwrap_or_default();
    let r = s.responsible.clone().unwrap_or_default();
    let sg = s.signage.unwrap_or_default();
    let a = s.acceptance.clone().unwrap_or_default();
    let f = s.filing.clone().unwrap_or_default();
    let st = s.streams.clone().unwrap_or_default();
    let coordinates = match (s.latitude, s.longitude) {
        (Some(lat), Some(lon)) => format!("{lat}, {lon}"),
        _ => "-".to_owned(),
    };
    let signage = format!(
        "{}{}",
        if sg.posted { "posted" } else { "not posted" },
        sg.distance_to_homes_m
            .map(|m| format!(", {m} m to homes"))
            .unwrap_or_default()
    );
    let acceptance = format!(
        "{}{}",
        kebab_number::<reg::AcceptanceState>(a.state),
        dated(" on ", &a.accepted_on)
    );
    let origin = format!(
        "{} ({})",
        dash(&d.origin_node_id),
        if d.remote { "remote" } else { "local" }
    );
    let rows: Vec<(&str, String)> = vec![
        ("ID", s.id.clone()),
        ("Name", s.name.clone()),
        (
            "Status",
            format!(
                "{} since {}",
                kebab_number::<reg::DeviceStatus>(d.status),
                instant(d.status_since_unix_ms, now)
            ),
        ),
        (
            "Location type",
            kebab_number::<reg::LocationType>(s.location_type),
        ),
        (
            "Category",
            kebab_number::<reg::ProtectedCategory>(s.protected_category),
        ),
        ("Address", s.address.clone()),
        ("Coordinates", coordinates),
        ("Division", d.division.clone()),
        ("Unit", s.unit.clone()),
        ("Builder", r.builder),
        ("Maintainer", r.maintainer),
        ("Manager", r.manager),
        ("Signage", signage),
        ("Acceptance", acceptance),
        ("Design unit", f.design_unit),
        ("Build unit", f.build_unit),
        ("Maintenance unit", f.maintenance_unit),
        ("Operators", f.operators.join(", ")),
        ("Filed on", dash(&f.filed_on)),
        ("Verified on", dash(&f.verified_on)),
        (
            "Shared",
            format!(
                "{}{}",
                if s.shared { "yes" } else { "no" },
                if d.uplinked { " (uplinked)" } else { "" }
            ),
        ),
        ("Main stream", dash(&st.main_url)),
        ("Sub stream", dash(&st.sub_url)),
        ("Origin node", origin),
        ("Registered", instant(d.registered_unix_ms, now)),
        ("Revision", d.revision.to_string()),
    ];
    key_values(&rows)
}

/// `key  value` lines, keys aligned.
pub fn key_values(rows: &[(&str, String)]) -> String {
    let mut t = Table::headless();
    for (k, v) in rows {
        t.row([format!("{k}:"), v.clone()]);
    }
    t.render()
}

fn dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

fn dated(prefix: &str, date: &str) -> String {
    if date.is_empty() {
        String::new()
    } else {
        format!("{prefix}{date}")
    }
}
