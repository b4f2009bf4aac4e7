//! The rules on departments and grants (R13), checked before anything is
//! stored. Each refusal names the field and the rule.

use std::collections::HashSet;

use vfed_gbcode::{AreaCode, GbCode};
use vfed_proto::bounds;
use vfed_proto::sharing::v1 as pb;

use crate::SharingError;
use crate::clock::rfc3339;
use crate::model::{Department, Grant, subtree_area};

/// Most devices one grant may list (larger sets: grant a subtree).
pub const MAX_DEVICES: usize = 1000;
/// Longest validity of one grant: a grant is reviewed at least yearly.
pub const MAX_VALIDITY_SECS: i64 = 366 * 86_400;
const MAX_PURPOSE: usize = 256;
const MAX_DISPLAY_NAME: usize = 128;
const MAX_NAME: usize = 64;

/// Who asks and where: what the rules need besides the request.
#[derive(Clone, Debug)]
pub struct Context {
    /// The caller, `user/<name>`.
    pub actor: String,
    /// Now, Unix seconds.
    pub now_unix: i64,
    /// This node's area: grants name devices it can serve.
    pub area: AreaCode,
}

/// A department name: 1-64 of `a-z 0-9 . _ -`.
pub fn check_department_name(field: &str, name: &str) -> Result<(), SharingError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(SharingError::invalid(
            field,
            format!("{name:?} is not a department name: 1 to {MAX_NAME} of a-z 0-9 . _ -"),
        ))
    }
}

fn check_text(field: &str, value: &str, max: usize, what: &str) -> Result<(), SharingError> {
    if value.trim().is_empty() {
        return Err(SharingError::invalid(field, format!("is required: {what}")));
    }
    // Control and bidi characters would be printed on other operators'
    // terminals (see `vfed_proto::bounds`).
    bounds::display_text(value, max)
        .map_err(|fault| SharingError::invalid(field, fault.to_string()))
}

/// A new department.
pub fn check_department(
    department: Option<pb::Department>,
    ctx: &Context,
) -> Result<Department, SharingError> {
    let d = department.ok_or_else(|| SharingError::invalid("department", "is required"))?;
    check_department_name("department.name", &d.name)?;
    check_text(
        "department.display_name",
        &d.display_name,
        MAX_DISPLAY_NAME,
        "the department's full name",
    )?;
    if d.created_unix != 0 || !d.created_by.is_empty() {
        return Err(SharingError::invalid(
            "department.created_by",
            "is set by the server; leave created_by and created_unix empty",
        ));
    }
    Ok(Department {
        name: d.name,
        display_name: d.display_name.trim().to_owned(),
        created_unix: ctx.now_unix,
        created_by: ctx.actor.clone(),
    })
}

/// A validity period `[from, to)`: `to` in the future, after `from`, at
/// most [`MAX_VALIDITY_SECS`] later.
pub fn check_validity(
    (from_field, from): (&str, i64),
    (to_field, to): (&str, i64),
    now_unix: i64,
) -> Result<(), SharingError> {
    if from <= 0 {
        return Err(SharingError::invalid(
            from_field,
            format!("{from} is not a time (Unix seconds)"),
        ));
    }
    if to <= from {
        return Err(SharingError::invalid(
            to_field,
            format!(
                "{to} ({}) must be after {from_field} {from} ({})",
                rfc3339(to),
                rfc3339(from)
            ),
        ));
    }
    if to <= now_unix {
        return Err(SharingError::invalid(
            to_field,
            format!(
                "{to} ({}) is not in the future (now {})",
                rfc3339(to),
                rfc3339(now_unix)
            ),
        ));
    }
    if to - from > MAX_VALIDITY_SECS {
        return Err(SharingError::invalid(
            to_field,
            format!(
                "a grant lasts at most 366 days ({} to {} is longer); renew it instead",
                rfc3339(from),
                rfc3339(to)
            ),
        ));
    }
    Ok(())
}

fn check_devices(ids: &[String], area: &AreaCode) -> Result<(), SharingError> {
    if ids.len() > MAX_DEVICES {
        return Err(SharingError::invalid(
            "grant.device_ids",
            format!(
                "at most {MAX_DEVICES} devices per grant ({} given); grant a subtree instead",
                ids.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        let field = format!("grant.device_ids[{i}]");
        let code = GbCode::parse_device(id)
            .map_err(|e| SharingError::invalid(&field, format!("{id:?}: {e}")))?;
        if !area.contains(&code.area()) {
            return Err(SharingError::invalid(
                &field,
                format!(
                    "device {id} (area {}) is outside this node's area {area}",
                    code.area()
                ),
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(SharingError::invalid(
                &field,
                format!("device {id} is listed twice"),
            ));
        }
    }
    Ok(())
}

fn check_subtree(subtree: &str, area: &AreaCode) -> Result<Option<String>, SharingError> {
    if subtree.is_empty() {
        return Ok(None);
    }
    let Some(tree) = subtree_area(subtree) else {
        return Err(SharingError::invalid(
            "grant.subtree",
            format!("{subtree:?} is not an area prefix: 2, 4 or 6 digits (e.g. 5405, 540502)"),
        ));
    };
    if !area.contains(&tree) {
        return Err(SharingError::invalid(
            "grant.subtree",
            format!("{subtree:?} (area {tree}) is not inside this node's area {area}"),
        ));
    }
    Ok(Some(subtree.to_owned()))
}

/// A new grant, without its ID yet (assigned when stored, in the same
/// transaction that checks that its department exists).
pub fn check_grant(grant: Option<pb::Grant>, ctx: &Context) -> Result<Grant, SharingError> {
    let g = grant.ok_or_else(|| SharingError::invalid("grant", "is required"))?;
    if !g.id.is_empty() {
        return Err(SharingError::invalid(
            "grant.id",
            "is assigned by the server; leave it empty",
        ));
    }
    if g.revoked
        || !g.created_by.is_empty()
        || g.created_unix != 0
        || !g.revoked_by.is_empty()
        || g.revoked_unix != 0
        || !g.revoked_reason.is_empty()
    {
        return Err(SharingError::invalid(
            "grant.revoked",
            "created_*, revoked and revoked_* are set by the server; leave them empty",
        ));
    }
    check_department_name("grant.department", &g.department)?;
    check_devices(&g.device_ids, &ctx.area)?;
    let subtree = check_subtree(&g.subtree, &ctx.area)?;
    if g.device_ids.is_empty() && subtree.is_none() {
        return Err(SharingError::invalid(
            "grant.device_ids",
            "a grant names devices (device_ids) or a catalog subtree (subtree), or both",
        ));
    }
    check_text(
        "grant.purpose",
        &g.purpose,
        MAX_PURPOSE,
        "why the department may watch",
    )?;
    if !g.live && !g.recorded {
        return Err(SharingError::invalid(
            "grant.live",
            "a grant is for live video, recorded video or both: set live and/or recorded",
        ));
    }
    let from = if g.valid_from_unix == 0 {
        ctx.now_unix
    } else {
        g.valid_from_unix
    };
    check_validity(
        ("grant.valid_from_unix", from),
        ("grant.valid_to_unix", g.valid_to_unix),
        ctx.now_unix,
    )?;
    Ok(Grant {
        id: String::new(),
        department: g.department,
        device_ids: g.device_ids,
        subtree,
        purpose: g.purpose.trim().to_owned(),
        live: g.live,
        recorded: g.recorded,
        valid_from_unix: from,
        valid_to_unix: g.valid_to_unix,
        created_by: ctx.actor.clone(),
        created_unix: ctx.now_unix,
        revoked: None,
    })
}

/// A grant ID as the server assigns them: `g-` and 12 lowercase hex digits.
pub fn check_grant_id(field: &str, id: &str) -> Result<(), SharingError> {
    let ok = id.len() == 14
        && id.starts_with("g-")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(SharingError::invalid(
            field,
            format!("{id:?} is not a grant ID (g- and 12 hex digits, as CreateGrant returns)"),
        ))
    }
}

/// A new grant ID.
pub fn new_grant_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("g-{}", &hex[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            actor: "user/admin".into(),
            now_unix: 1_800_000_000,
            area: AreaCode::parse("540500").unwrap_or_else(|| unreachable!()),
        }
    }

    fn good() -> pb::Grant {
        pb::Grant {
            department: "traffic".into(),
            device_ids: vec!["54050200001320000001".into()],
            purpose: "junction monitoring".into(),
            live: true,
            valid_to_unix: 1_800_003_600,
            ..pb::Grant::default()
        }
    }

    fn field_of(result: Result<Grant, SharingError>) -> String {
        match result {
            Err(SharingError::Invalid {
                field, requirement, ..
            }) => {
                assert_eq!(requirement, "R13");
                field
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_good_grant_starts_now_by_default() {
        let g = check_grant(Some(good()), &ctx()).expect("valid");
        assert_eq!(g.valid_from_unix, 1_800_000_000);
        assert_eq!(g.created_by, "user/admin");
        assert!(check_grant_id("id", &new_grant_id()).is_ok());
        assert!(check_grant_id("id", "g-12345").is_err());
    }

    #[test]
    fn each_bad_field_is_named() {
        type Change = Box<dyn Fn(&mut pb::Grant)>;
        let cases: Vec<(&str, Change)> = vec![
            ("grant.id", Box::new(|g| g.id = "x".into())),
            ("grant.revoked", Box::new(|g| g.revoked = true)),
            (
                "grant.department",
                Box::new(|g| g.department = "Traffic!".into()),
            ),
            (
                "grant.device_ids[0]",
                Box::new(|g| g.device_ids = vec!["123".into()]),
            ),
            (
                "grant.device_ids[1]",
                Box::new(|g| g.device_ids.push("54050200001320000001".into())),
            ),
            (
                "grant.device_ids[0]",
                Box::new(|g| g.device_ids = vec!["54060200001320000001".into()]),
            ),
            (
                "grant.device_ids[0]",
                Box::new(|g| g.device_ids = vec!["54050200002000000001".into()]),
            ),
            ("grant.subtree", Box::new(|g| g.subtree = "54050".into())),
            ("grant.subtree", Box::new(|g| g.subtree = "54".into())),
            ("grant.device_ids", Box::new(|g| g.device_ids.clear())),
            ("grant.purpose", Box::new(|g| g.purpose = "  ".into())),
            ("grant.live", Box::new(|g| g.live = false)),
            (
                "grant.valid_from_unix",
                Box::new(|g| g.valid_from_unix = -5),
            ),
            (
                "grant.valid_to_unix",
                Box::new(|g| g.valid_to_unix = 1_799_999_000),
            ),
            (
                "grant.valid_to_unix",
                Box::new(|g| {
                    g.valid_from_unix = 1_800_007_200;
                }),
            ),
            (
                "grant.valid_to_unix",
                Box::new(|g| g.valid_to_unix = 1_800_000_000 + 400 * 86_400),
            ),
        ];
        for (field, change) in cases {
            let mut g = good();
            change(&mut g);
            assert_eq!(
                field_of(check_grant(Some(g.clone()), &ctx())),
                field,
                "{g:?}"
            );
        }
    }

    #[test]
    fn a_subtree_alone_is_enough() {
        let mut g = good();
        g.device_ids.clear();
        g.subtree = "540502".into();
        assert!(check_grant(Some(g), &ctx()).is_ok());
    }

    #[test]
    fn department_names() {
        assert!(check_department_name("n", "urban-mgmt.2").is_ok());
        for bad in ["", "Traffic", "a b", &"a".repeat(65)] {
            assert!(check_department_name("n", bad).is_err(), "{bad:?}");
        }
    }
}
