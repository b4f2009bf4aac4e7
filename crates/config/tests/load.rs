#![allow(clippy::unwrap_used)]
//! Layering and validation of configuration.

use std::io::Write;

use vfed_config::load;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

const COUNTY: &str = r#"
[node]
id = "54050200002000000001"
name = "Naidong county platform"
level = "county"
[node.parent]
id = "54050000002000000001"
endpoint = "127.0.0.1:7100"
"#;

#[test]
fn file_then_flags() {
    let f = file(COUNTY);
    let config = load(
        Some(f.path()),
        &[
            "node.name=Renamed".into(),
            "liveness.missed_periods=5".into(),
        ],
    )
    .unwrap();
    assert_eq!(config.node.name, "Renamed");
    assert_eq!(config.liveness.missed_periods, 5);
    assert_eq!(config.node.area_code(), "540502");
}

#[test]
fn bad_values_name_their_field() {
    let cases = [
        (COUNTY.replace("54050200002000000001", "5405"), "node.id"),
        (
            COUNTY.replace("127.0.0.1:7100", "nowhere"),
            "node.parent.endpoint",
        ),
        (
            COUNTY.replace("54050000002000000001", "54060000002000000001"),
            "node.parent.id",
        ),
        (
            format!("{COUNTY}\n[liveness]\nkeepalive_period = \"banana\"\n"),
            "liveness.keepalive_period",
        ),
        (
            format!("{COUNTY}\n[store]\nbackend = \"sqlite\"\n"),
            "store.backend",
        ),
        (format!("{COUNTY}\n[store]\ncolour = 1\n"), "store"),
        (
            format!("{COUNTY}\n[retrieval]\ndefault_expiry = \"10s\"\n"),
            "retrieval.default_expiry",
        ),
        (
            format!("{COUNTY}\n[retrieval]\ndefault_expiry = \"3d\"\nmax_expiry = \"1d\"\n"),
            "retrieval.max_expiry",
        ),
    ];
    for (text, field) in cases {
        let f = file(&text);
        let err = load(Some(f.path()), &[]).unwrap_err();
        assert!(err.field.starts_with(field), "expected {field}, got {err}");
    }
}

#[test]
fn missing_file_is_an_error() {
    let err = load(Some(std::path::Path::new("/nonexistent/vfed.toml")), &[]).unwrap_err();
    assert_eq!(err.field, "--config");
}
