//! Findings from the registry's records and the audit log's refusals: pure.

use std::collections::HashMap;

use vfed_proto::registry::v1 as reg;

use crate::sources::RefusedCall;

/// What kind of violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// R7 attempt (audit log).
    ProhibitedLocationAttempt,
    /// R8.
    MissingSignage,
    /// R12, the filing.
    OverdueFiling,
    /// R12, the police verification.
    OverdueVerification,
    /// R11.
    UnacceptedInUse,
    /// R9.
    NoResponsibleUnit,
    /// R16/R17 refusal (audit log).
    AccessRefused,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 7] = [
        Kind::ProhibitedLocationAttempt,
        Kind::MissingSignage,
        Kind::OverdueFiling,
        Kind::OverdueVerification,
        Kind::UnacceptedInUse,
        Kind::NoResponsibleUnit,
        Kind::AccessRefused,
    ];

    /// The prefix of its IDs.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::ProhibitedLocationAttempt => "prohibited-location-attempt",
            Kind::MissingSignage => "missing-signage",
            Kind::OverdueFiling => "overdue-filing",
            Kind::OverdueVerification => "overdue-verification",
            Kind::UnacceptedInUse => "unaccepted-in-use",
            Kind::NoResponsibleUnit => "no-responsible-unit",
            Kind::AccessRefused => "access-refused",
        }
    }

    /// The requirement it breaks.
    pub fn requirement(self) -> &'static str {
        match self {
            Kind::ProhibitedLocationAttempt => "R7",
            Kind::MissingSignage => "R8",
            Kind::OverdueFiling | Kind::OverdueVerification => "R12",
            Kind::UnacceptedInUse => "R11",
            Kind::NoResponsibleUnit => "R9",
            Kind::AccessRefused => "R17",
        }
    }

    /// Whether the finding comes from the audit log (and so never goes away).
    pub fn from_log(self) -> bool {
        matches!(self, Kind::ProhibitedLocationAttempt | Kind::AccessRefused)
    }

    /// The kind of an ID's prefix.
    pub fn of_id(id: &str) -> Option<Kind> {
        let (slug, subject) = id.split_once(':')?;
        let kind = Kind::ALL.into_iter().find(|k| k.slug() == slug)?;
        let valid = if kind.from_log() {
            !subject.is_empty()
                && subject.len() <= 20
                && subject.bytes().all(|b| b.is_ascii_digit())
        } else {
            subject.len() == 20 && subject.bytes().all(|b| b.is_ascii_digit())
        };
        valid.then_some(kind)
    }
}

/// One violation found now.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// `<kind slug>:<device id or audit index>`.
    pub id: String,
    /// Kind.
    pub kind: Kind,
    /// Unit responsible.
    pub unit: String,
    /// Device, if any.
    pub device_id: String,
    /// In words.
    pub description: String,
    /// When seen (audit findings), else 0.
    pub observed_unix_ms: i64,
}

fn of_device(kind: Kind, device: &reg::Device, description: String) -> Option<Finding> {
    let spec = device.spec.as_ref()?;
    Some(Finding {
        id: format!("{}:{}", kind.slug(), spec.id),
        kind,
        unit: spec.unit.clone(),
        device_id: spec.id.clone(),
        description,
        observed_unix_ms: 0,
    })
}

fn missing_responsible(spec: &reg::DeviceSpec) -> Vec<&'static str> {
    let r = spec.responsible.clone().unwrap_or_default();
    [
        ("unit", spec.unit.as_str()),
        ("builder", r.builder.as_str()),
        ("maintainer", r.maintainer.as_str()),
        ("manager", r.manager.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| v.trim().is_empty())
    .map(|(k, _)| k)
    .collect()
}

/// Every violation in the records: devices, the registry's overdue filings
/// and missing signs, and the log's refusals (R7; R16/R17).
pub fn detect(
    devices: &[reg::Device],
    overdue: &[reg::OverdueFiling],
    missing_signage: &[reg::Device],
    refusals: &[RefusedCall],
) -> Vec<Finding> {
    let units: HashMap<&str, &str> = devices
        .iter()
        .filter_map(|d| d.spec.as_ref())
        .map(|s| (s.id.as_str(), s.unit.as_str()))
        .collect();
    let mut found = Vec::new();
    for refusal in refusals {
        let kind = if refusal.requirement == "R7" {
            Kind::ProhibitedLocationAttempt
        } else {
            Kind::AccessRefused
        };
        let unit = if refusal.unit.is_empty() {
            units
                .get(refusal.target.as_str())
                .copied()
                .unwrap_or_default()
        } else {
            refusal.unit.as_str()
        };
        found.push(Finding {
            id: format!("{}:{}", kind.slug(), refusal.index),
            kind,
            unit: unit.to_owned(),
            device_id: if units.contains_key(refusal.target.as_str())
                || refusal.action.starts_with("device.")
            {
                refusal.target.clone()
            } else {
                String::new()
            },
            description: format!(
                "{} by {}: {}",
                refusal.action, refusal.actor, refusal.reason
            ),
            observed_unix_ms: refusal.time_unix_ms,
        });
    }
    found.extend(missing_signage.iter().filter_map(|d| {
        of_device(
            Kind::MissingSignage,
            d,
            "public-area device without a warning sign".into(),
        )
    }));
    for o in overdue {
        let kind = if o.missing == "verification" {
            Kind::OverdueVerification
        } else {
            Kind::OverdueFiling
        };
        found.push(Finding {
            id: format!("{}:{}", kind.slug(), o.device_id),
            kind,
            unit: o.unit.clone(),
            device_id: o.device_id.clone(),
            description: format!(
                "{} due on {}, {} days overdue",
                o.missing, o.due_on, o.days_overdue
            ),
            observed_unix_ms: 0,
        });
    }
    for device in devices {
        let Some(spec) = device.spec.as_ref() else {
            continue;
        };
        let accepted = spec
            .acceptance
            .as_ref()
            .is_some_and(|a| a.state() == reg::AcceptanceState::Accepted);
        if !accepted && device.status() == reg::DeviceStatus::Online {
            let state = spec
                .acceptance
                .as_ref()
                .map_or(reg::AcceptanceState::Unspecified, |a| a.state());
            found.extend(of_device(
                Kind::UnacceptedInUse,
                device,
                format!(
                    "online while its system is {}",
                    state
                        .as_str_name()
                        .trim_start_matches("ACCEPTANCE_STATE_")
                        .to_lowercase()
                        .replace('_', " ")
                ),
            ));
        }
        let missing = missing_responsible(spec);
        if !missing.is_empty() {
            found.extend(of_device(
                Kind::NoResponsibleUnit,
                device,
                format!("no {} on record", missing.join(", ")),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ids_name_their_kind_and_junk_is_refused() {
        for kind in Kind::ALL {
            let subject = if kind.from_log() {
                "42"
            } else {
                "54050200001320000001"
            };
            assert_eq!(
                Kind::of_id(&format!("{}:{subject}", kind.slug())),
                Some(kind)
            );
        }
        for junk in [
            "",
            ":",
            "missing-signage:1",
            "nope:54050200001320000001",
            "access-refused:x",
        ] {
            assert_eq!(Kind::of_id(junk), None, "{junk}");
        }
    }
}
