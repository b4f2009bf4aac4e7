//! An account as stored (`auth/users/<name>`, JSON) and its validation.

use serde::{Deserialize, Serialize};
use vfed_proto::auth::v1 as pb;

use crate::error::AuthError;
use vfed_authz::Role;

/// A training record (R14.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Training {
    /// The course.
    pub course: String,
    /// When it was completed, Unix seconds.
    pub completed_unix: i64,
    /// Certificate number or reference.
    pub certificate: String,
}

/// One person's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Login name (and certificate identity name, for certificate logins).
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Unit (organisation).
    pub unit: String,
    /// Department (department viewers).
    pub department: String,
    /// Disabled accounts cannot act.
    pub disabled: bool,
    /// Training records (R14.1).
    pub trainings: Vec<Training>,
    /// Argon2 PHC string; `None` for certificate-only accounts.
    pub password_hash: Option<String>,
    /// Tokens issued before this (Unix seconds) are no longer accepted.
    pub tokens_valid_after: i64,
    /// Created when, Unix seconds.
    pub created_unix: i64,
    /// Created by whom (`user/<name>` or `bootstrap`).
    pub created_by: String,
}

/// Checks a login name: 1-64 of `[a-z0-9._-]`, starting with a letter or digit.
pub fn validate_name(field: &'static str, name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AuthError::invalid(
            field,
            "must be 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
            "R15.1",
        ))
    }
}

/// Checks a free-text field: at most `max` characters, no control characters.
pub fn validate_text(field: &'static str, value: &str, max: usize) -> Result<(), AuthError> {
    if value.chars().count() > max || value.chars().any(vfed_proto::bounds::is_forbidden) {
        return Err(AuthError::invalid(
            field,
            format!(
                "must be at most {max} characters without control or bidirectional-override characters"
            ),
            "R15.1",
        ));
    }
    Ok(())
}

/// Checks a new password: 12 to 256 characters.
pub fn validate_password(field: &'static str, password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if !(12..=256).contains(&n) {
        return Err(AuthError::invalid(
            field,
            "must be 12 to 256 characters",
            "R15.1",
        ));
    }
    Ok(())
}

impl Account {
    /// Checks the fields an administrator sets.
    pub fn validate(&self) -> Result<(), AuthError> {
        validate_name("user.name", &self.name)?;
        validate_text("user.display_name", &self.display_name, 128)?;
        validate_text("user.unit", &self.unit, 128)?;
        if self.role == Role::DepartmentViewer {
            validate_name("user.department", &self.department).map_err(|_| {
                AuthError::invalid(
                    "user.department",
                    "a department viewer needs a department name (1-64 of a-z, 0-9, '.', '_', '-')",
                    "R13",
                )
            })?;
        } else {
            validate_text("user.department", &self.department, 64)?;
        }
        for (i, t) in self.trainings.iter().enumerate() {
            validate_training(i, t)?;
        }
        Ok(())
    }

    /// The account as the API shows it (never the password hash).
    pub fn to_proto(&self) -> pb::User {
        pb::User {
            name: self.name.clone(),
            display_name: self.display_name.clone(),
            role: self.role.to_proto() as i32,
            unit: self.unit.clone(),
            department: self.department.clone(),
            disabled: self.disabled,
            trainings: self
                .trainings
                .iter()
                .map(|t| pb::Training {
                    course: t.course.clone(),
                    completed_unix: t.completed_unix,
                    certificate: t.certificate.clone(),
                })
                .collect(),
            created_unix: self.created_unix,
            created_by: self.created_by.clone(),
            has_password: self.password_hash.is_some(),
        }
    }
}

/// Checks one training record.
pub fn validate_training(index: usize, t: &Training) -> Result<(), AuthError> {
    if t.course.trim().is_empty() || t.course.chars().count() > 128 {
        return Err(AuthError::invalid_owned(
            format!("training[{index}].course"),
            "must be 1 to 128 characters",
            "R14.1",
        ));
    }
    if t.completed_unix <= 0 || t.completed_unix > crate::clock::now_unix() + 86_400 {
        return Err(AuthError::invalid_owned(
            format!("training[{index}].completed_unix"),
            "must be a past date (Unix seconds)",
            "R14.1",
        ));
    }
    if t.certificate.chars().count() > 128 {
        return Err(AuthError::invalid_owned(
            format!("training[{index}].certificate"),
            "must be at most 128 characters",
            "R14.1",
        ));
    }
    Ok(())
}
