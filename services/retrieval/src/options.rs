//! How long requests live.

use std::time::Duration;

/// Settings of the retrieval workflow (`[retrieval]` in the node's config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrievalOptions {
    /// Lifetime of a request filed without `expires_unix`.
    pub default_expiry: Duration,
    /// The longest lifetime a filer may ask for.
    pub max_expiry: Duration,
}

impl Default for RetrievalOptions {
    fn default() -> Self {
        Self {
            default_expiry: Duration::from_secs(72 * 3600),
            max_expiry: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl RetrievalOptions {
    /// [`Self::default_expiry`] in whole seconds.
    pub fn default_expiry_secs(&self) -> i64 {
        i64::try_from(self.default_expiry.as_secs()).unwrap_or(i64::MAX)
    }

    /// [`Self::max_expiry`] in whole seconds.
    pub fn max_expiry_secs(&self) -> i64 {
        i64::try_from(self.max_expiry.as_secs()).unwrap_or(i64::MAX)
    }
}
