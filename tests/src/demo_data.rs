//! A `vfed demo` data directory for the tests that run the demo: removed at
//! the end even where the demo sealed its recordings (as root, with
//! `CAP_LINUX_IMMUTABLE`), by unsealing them first as `vfed demo --reset`
//! does. Drop it after the demo has stopped.

use std::path::Path;

/// A temporary directory whose sealed recordings are unsealed on drop.
pub struct DemoData(tempfile::TempDir);

impl DemoData {
    /// A new empty directory.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self(tempfile::tempdir()?))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for DemoData {
    fn drop(&mut self) {
        // The TempDir removes the tree once this returns.
        let _ = vfed_archive::seal::unseal_tree(self.0.path());
    }
}
