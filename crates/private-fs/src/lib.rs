//! Files and directories that only their owner can use: every file vfed
//! creates is mode 0600 and every directory 0700, set exactly at creation
//! (the umask can only narrow a mode, so the mode is set again on the open
//! handle) and never left wider when vfed rewrites a file that exists.
//!
//! A node's store holds account records and its directory holds signing
//! keys: a local user who can read them can forge what they protect.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};

/// Mode of every file vfed creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory vfed creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `path` and its missing parents, each new one mode 0700.
/// Directories that exist already are left as they are (a parent such as
/// `/tmp` is not vfed's to change; a node checks its own at start).
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut cursor = Some(path);
    while let Some(dir) = cursor {
        if dir.as_os_str().is_empty() || dir.is_dir() {
            break;
        }
        if matches!(dir.components().next_back(), Some(Component::ParentDir)) {
            break;
        }
        missing.push(dir.to_path_buf());
        cursor = dir.parent();
    }
    for dir in missing.iter().rev() {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(DIR_MODE);
        }
        match builder.create(dir) {
            Ok(()) => set_mode(dir, DIR_MODE)?,
            // Someone else made it meanwhile: theirs, not ours to change.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    if path.is_dir() {
        Ok(())
    } else {
        std::fs::create_dir_all(path)
    }
}

fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(FILE_MODE);
    }
    options
}

/// Sets an open file's mode to exactly 0600.
pub fn restrict(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Creates a new file (fails if it exists), mode 0600, open for writing.
pub fn create_new(path: &Path) -> io::Result<File> {
    let file = options().write(true).create_new(true).open(path)?;
    restrict(&file)?;
    Ok(file)
}

/// Opens `path` for reading and writing, creating it if missing, without
/// truncating; its mode is set to 0600 whether it was just created or not.
pub fn open_or_create(path: &Path) -> io::Result<File> {
    let file = options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    restrict(&file)?;
    Ok(file)
}

/// Replaces `path` with `contents` through a temporary file (mode 0600,
/// fsynced) and a rename, so a crash leaves the old file or the new one,
/// never half of one, and the new file is never readable by others.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut file = options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        restrict(&file)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The permission bits of `path` that group or others hold (0 when private);
/// `None` if it does not exist.
pub fn exposed_bits(path: &Path) -> io::Result<Option<u32>> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                Ok(Some(meta.permissions().mode() & 0o077))
            }
            #[cfg(not(unix))]
            {
                let _ = meta;
                Ok(Some(0))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The full permission bits of `path` (for messages).
pub fn mode_of(path: &Path) -> io::Result<u32> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        Ok(meta.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(FILE_MODE)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn new_things_are_private_and_old_parents_untouched() {
        let root = tempfile::tempdir().unwrap();
        set_mode(root.path(), 0o755).unwrap();
        let deep = root.path().join("a/b/c");
        create_dir_all(&deep).unwrap();
        for dir in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode_of(&root.path().join(dir)).unwrap(), DIR_MODE, "{dir}");
        }
        assert_eq!(mode_of(root.path()).unwrap(), 0o755);
        create_dir_all(&deep).unwrap();

        let file = deep.join("f");
        drop(create_new(&file).unwrap());
        assert_eq!(mode_of(&file).unwrap(), FILE_MODE);
        assert!(create_new(&file).is_err());

        set_mode(&file, 0o644).unwrap();
        drop(open_or_create(&file).unwrap());
        assert_eq!(mode_of(&file).unwrap(), FILE_MODE);

        let other = deep.join("g");
        std::fs::write(&other, b"old").unwrap();
        set_mode(&other, 0o644).unwrap();
        write_atomic(&other, b"new").unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"new");
        assert_eq!(mode_of(&other).unwrap(), FILE_MODE);
        assert_eq!(exposed_bits(&other).unwrap(), Some(0));
        assert_eq!(exposed_bits(root.path()).unwrap(), Some(0o055));
        assert_eq!(exposed_bits(&deep.join("none")).unwrap(), None);
    }
}
