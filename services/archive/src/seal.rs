//! Sealing closed recordings immutable (R18.7): `FS_IMMUTABLE_FL`, as
//! `chattr +i` sets it, through rustix's safe `ioctl_setflags` (no unsafe
//! here). Once set, the file cannot be written, truncated, renamed or
//! deleted, by root included, until someone holding `CAP_LINUX_IMMUTABLE`
//! clears the flag. Some file systems (tmpfs, overlay) do not support it:
//! the archive then says "sealing unavailable" rather than failing, and the
//! verifier still detects any change.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::{IFlags, ioctl_getflags, ioctl_setflags};

use crate::layout;

/// Whether closed files can be sealed here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sealing {
    /// Closed files are sealed.
    Available,
    /// They are not, and why.
    Unavailable(String),
}

impl Sealing {
    /// Whether sealing is on.
    pub fn is_available(&self) -> bool {
        matches!(self, Sealing::Available)
    }

    /// Why not, or empty.
    pub fn detail(&self) -> &str {
        match self {
            Sealing::Available => "",
            Sealing::Unavailable(why) => why,
        }
    }
}

/// Finds out whether files in `dir` can be sealed, by sealing and
/// unsealing a probe file.
pub fn probe(dir: &Path) -> Sealing {
    let path = dir.join(".seal-probe");
    let _ = std::fs::remove_file(&path);
    let outcome = (|| -> io::Result<()> {
        let file = layout::create_file(&path)?;
        let flags = ioctl_getflags(&file)?;
        ioctl_setflags(&file, flags | IFlags::IMMUTABLE)?;
        ioctl_setflags(&file, flags)?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&path);
    match outcome {
        Ok(()) => Sealing::Available,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {
            Sealing::Unavailable(
                "sealing unavailable: the process lacks CAP_LINUX_IMMUTABLE".to_owned(),
            )
        }
        Err(e) => Sealing::Unavailable(format!(
            "sealing unavailable: the file system of {} does not support FS_IMMUTABLE_FL ({e})",
            dir.display()
        )),
    }
}

/// Seals `path` (no-op if already sealed).
pub fn seal(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    let flags = ioctl_getflags(&file)?;
    if !flags.contains(IFlags::IMMUTABLE) {
        ioctl_setflags(&file, flags | IFlags::IMMUTABLE)?;
    }
    Ok(())
}

/// Whether `path` is sealed.
pub fn is_sealed(path: &Path) -> io::Result<bool> {
    let file = File::open(path)?;
    Ok(ioctl_getflags(&file)?.contains(IFlags::IMMUTABLE))
}

/// Clears the seal of `path` (no-op if not sealed). Only the retention
/// sweep calls it, on a file past retention and not held (and `vfed demo
/// --reset`, throwing the demo's data away, through [`unseal_tree`]); it
/// needs `CAP_LINUX_IMMUTABLE`.
pub fn unseal(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    let flags = ioctl_getflags(&file)?;
    if flags.contains(IFlags::IMMUTABLE) {
        ioctl_setflags(&file, flags - IFlags::IMMUTABLE)?;
    }
    Ok(())
}

/// Clears the seal of every regular file under `dir` that has one
/// (symbolic links are not followed), as `chattr -R -i` would: for
/// throwing a whole data directory away (`vfed demo --reset`, tests of the
/// demo), never for recordings inside retention. Best effort per file: a
/// file system without the flag (tmpfs) or a process without the
/// capability cannot have sealed it, and what stays sealed makes the
/// removal that follows fail, naming it.
pub fn unseal_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            unseal_tree(&entry.path())?;
        } else if kind.is_file() {
            let _ = unseal(&entry.path());
        }
    }
    Ok(())
}
