//! Where things are in a package, and which relative paths a package may
//! hold at all (a package comes from the network or from someone else's
//! disk: a path that climbs out of it, is absolute, or is odd is refused).

use std::path::{Component, Path, PathBuf};

/// The manifest (its SHA-256 is the package's).
pub const MANIFEST_FILE: &str = "manifest.json";
/// The node's checkpoint verifier key.
pub const NODE_KEY_FILE: &str = "keys/node.vkey";
/// The parent's checkpoint verifier key.
pub const PARENT_KEY_FILE: &str = "keys/parent.vkey";
/// Longest path accepted inside a package.
pub const MAX_PATH_LEN: usize = 256;
/// Largest manifest read.
pub const MAX_MANIFEST_LEN: u64 = 64 << 20;

/// `media/<device>/<profile>/<start>.mp4` for the archive file `source`
/// (`<device>/<profile>/<start>.mp4`).
pub fn media_path(source: &str) -> String {
    format!("media/{source}")
}

/// The log entry of `source`'s manifest.
pub fn entry_path(source: &str) -> String {
    format!("proofs/{}.entry.json", source.trim_end_matches(".mp4"))
}

/// The inclusion proof of `source`'s log entry.
pub fn proof_path(source: &str) -> String {
    format!("proofs/{}.proof", source.trim_end_matches(".mp4"))
}

/// Checks that `path` is a plain relative path inside a package: ASCII
/// letters, digits, `.`, `-`, `_` in `/`-separated parts, none empty, `.`
/// or `..`, at most [`MAX_PATH_LEN`] bytes. Returns it as a path.
pub fn check_relative(path: &str) -> Result<PathBuf, String> {
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err(format!(
            "{:?}: a package path has 1 to {MAX_PATH_LEN} bytes",
            path.chars().take(64).collect::<String>()
        ));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
    {
        return Err(format!(
            "{path:?}: a package path holds only ASCII letters, digits, '.', '-', '_' and '/'"
        ));
    }
    let parsed = Path::new(path);
    let plain = path
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != "..")
        && parsed
            .components()
            .all(|c| matches!(c, Component::Normal(n) if n != "." && n != ".."));
    if !plain {
        return Err(format!(
            "{path:?}: a package path is relative, without empty, '.' or '..' parts"
        ));
    }
    Ok(parsed.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths() {
        for good in [
            "manifest.json",
            "media/54050200001320000001/main/1700000000000.mp4",
            NODE_KEY_FILE,
        ] {
            assert!(check_relative(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a/",
            "a b",
            "a\\b",
            "é",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
        assert!(check_relative(&"a".repeat(MAX_PATH_LEN + 1)).is_err());
        assert_eq!(
            entry_path("1/main/5.mp4"),
            "proofs/1/main/5.entry.json".to_owned()
        );
        assert_eq!(proof_path("1/main/5.mp4"), "proofs/1/main/5.proof");
        assert_eq!(media_path("1/main/5.mp4"), "media/1/main/5.mp4");
    }
}
