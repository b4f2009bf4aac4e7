//! The reference docs cover what the product has: every configuration field
//! `vfed --dump-config` prints is in `docs/configuration.md`, every metric a
//! running node serves on `/metrics` is in `docs/operations.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::http_get;
use vfed_tests::binaries::built_binary;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually};

const CONFIGURATION: &str = include_str!("../../docs/configuration.md");
const OPERATIONS: &str = include_str!("../../docs/operations.md");

/// The text from the line starting with `heading` to the next heading of
/// that level or above.
fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let level = heading.split(' ').next()?.len();
    let start = doc.lines().position(|l| l.starts_with(heading))?;
    let lines: Vec<&str> = doc.lines().collect();
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let hashes = l.len() - l.trim_start_matches('#').len();
            hashes > 0 && hashes <= level && l[hashes..].starts_with(' ')
        })
        .map_or(lines.len(), |i| start + 1 + i);
    // Byte offsets of those lines in `doc`.
    let from = lines[..start].iter().map(|l| l.len() + 1).sum::<usize>();
    let to = lines[..end].iter().map(|l| l.len() + 1).sum::<usize>();
    doc.get(from..to.min(doc.len()))
}

/// Dotted paths of every value in `table` (arrays of tables: their first).
fn fields(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        out.push(path.clone());
        match value {
            toml::Value::Table(t) => fields(&format!("{path}."), t, out),
            toml::Value::Array(items) => {
                if let Some(toml::Value::Table(t)) = items.first() {
                    fields(&format!("{path}."), t, out);
                }
            }
            _ => {}
        }
    }
}

/// A configuration that sets the optional parts too, so that the dump shows
/// every field.
const FULL: &str = r#"
[node]
id = "54050000002000000001"
name = "Shannan city sharing platform"
level = "city"

[node.parent]
id = "54000000002000000001"
endpoint = "https://127.0.0.1:7100"
relay_endpoint = "127.0.0.1:7190"

[[node.children]]
id = "54050200002000000001"
name = "Naidong county platform"

[auth]
bootstrap_admin = "vfedctl"
bootstrap_password_file = "admin-password"
"#;

/// The fields `docs/configuration.md` does not document: each section of the
/// dump needs a "### `[section]`" heading whose text names each of its keys
/// in backticks (nested keys under the row of their table).
fn undocumented_fields(doc: &str, dump: &toml::Table) -> Vec<String> {
    let mut missing = Vec::new();
    for (name, value) in dump {
        let toml::Value::Table(table) = value else {
            missing.push(format!("{name} (not a section)"));
            continue;
        };
        let Some(text) = section(doc, &format!("### `[{name}]`")) else {
            missing.push(format!("[{name}] (no \"### `[{name}]`\" section)"));
            continue;
        };
        let mut paths = Vec::new();
        fields("", table, &mut paths);
        for path in paths {
            if path
                .split('.')
                .any(|key| !text.contains(&format!("`{key}`")))
            {
                missing.push(format!("{name}.{path}"));
            }
        }
    }
    missing
}

#[test]
fn every_field_of_dump_config_is_in_configuration_md() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("full.toml");
    std::fs::write(&file, FULL).unwrap();
    let out = Command::new(built_binary("vfed"))
        .arg("--config")
        .arg(&file)
        .arg("--dump-config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let mut all = Vec::new();
    fields("", &dump, &mut all);
    assert!(all.len() > 40, "the dump has every field: {all:?}");
    let missing = undocumented_fields(CONFIGURATION, &dump);
    assert!(
        missing.is_empty(),
        "fields `vfed --dump-config` prints that docs/configuration.md does not document: {missing:?}"
    );
    // The check itself finds a field that is not there.
    let mut drifted = dump.clone();
    if let Some(toml::Value::Table(store)) = drifted.get_mut("store") {
        store.insert("not_a_documented_field".into(), toml::Value::Integer(1));
    }
    assert_eq!(
        undocumented_fields(CONFIGURATION, &drifted),
        vec!["store.not_a_documented_field".to_owned()]
    );
}

/// Metric names as exposed (`# TYPE NAME KIND`; counters' samples add `_total`).
fn served_metrics(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?;
            let kind = parts.next()?;
            Some(if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            })
        })
        .collect()
}

#[tokio::test]
async fn every_metric_a_node_serves_is_in_operations_md() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let city = TestNode::start(
        &pki,
        NodeOptions::new("54050000002000000001", "city").children(&["54050200002000000001"]),
    )
    .await?;
    let county = TestNode::start(
        &pki,
        NodeOptions::new("54050200002000000001", "county").under(&city),
    )
    .await?;
    // A family shows on /metrics once it has a series: link up, checkpoints
    // countersigned, a stream carried.
    let _track = county
        .relay()?
        .publish(&vfed_relay::StreamKey::parse("54050200001320000001/main")?);
    let served = eventually(
        "every kind of metric served",
        Duration::from_secs(20),
        || async {
            let mut served = BTreeSet::new();
            for node in [&city, &county] {
                served.extend(served_metrics(
                    &http_get(node.http_addr(), "/metrics").await?,
                ));
            }
            let has = |prefix: &str| served.iter().any(|m| m.starts_with(prefix));
            Ok((has("vfed_link_")
                && has("vfed_audit_child_")
                && has("vfed_audit_countersigned")
                && has("vfed_stream_")
                && has("vfed_registrations"))
            .then_some(served))
        },
    )
    .await?;
    let table = section(OPERATIONS, "## Metrics").expect("operations.md has a Metrics section");
    let missing: Vec<&String> = served
        .iter()
        .filter(|m| m.starts_with("vfed_") && !table.contains(&format!("`{m}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics served on /metrics that docs/operations.md does not list: {missing:?}"
    );
    Ok(())
}
