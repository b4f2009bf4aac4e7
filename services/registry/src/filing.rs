//! R12: filing due within 30 days of acceptance, police verification within
//! 30 days of filing; the overdue list.

use time::{Date, Duration};

use crate::domain::{AcceptanceState, CatalogEntry};
use crate::rules::parse_date;

/// Days allowed for each step (Art. 12).
pub const DEADLINE_DAYS: i64 = 30;

/// Which step is late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingStep {
    /// Not filed within 30 days of acceptance.
    Filing,
    /// Not verified by the police within 30 days of filing.
    Verification,
}

impl MissingStep {
    /// The name used in the API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Filing => "filing",
            Self::Verification => "verification",
        }
    }
}

/// A late filing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overdue {
    /// The step that is late.
    pub missing: MissingStep,
    /// The deadline.
    pub due_on: Date,
    /// Days past it.
    pub days_overdue: i64,
}

/// Whether `entry`'s filing is overdue on `as_of`.
pub fn overdue(entry: &CatalogEntry, as_of: Date) -> Option<Overdue> {
    let spec = &entry.spec;
    if spec.acceptance.state != AcceptanceState::Accepted {
        return None;
    }
    let accepted = parse_date("accepted_on", spec.acceptance.accepted_on.as_deref()?).ok()?;
    let (missing, due_on) = match (&spec.filing.filed_on, &spec.filing.verified_on) {
        (None, _) => (
            MissingStep::Filing,
            accepted + Duration::days(DEADLINE_DAYS),
        ),
        (Some(filed), None) => (
            MissingStep::Verification,
            parse_date("filed_on", filed).ok()? + Duration::days(DEADLINE_DAYS),
        ),
        (Some(_), Some(_)) => return None,
    };
    let days_overdue = (as_of - due_on).whole_days();
    (days_overdue > 0).then_some(Overdue {
        missing,
        due_on,
        days_overdue,
    })
}
