#![allow(clippy::unwrap_used)]
//! The `[audit]` section: defaults under the store's directory, validation naming the field.

use std::path::PathBuf;
use std::time::Duration;

use vfed_config::load;

const NODE: [&str; 2] = ["node.id=54050200002000000001", "node.name=Naidong"];

fn with(extra: &[&str]) -> Result<vfed_config::Config, vfed_config::ConfigError> {
    let flags: Vec<String> = NODE.iter().chain(extra).map(|s| (*s).to_owned()).collect();
    load(None, &flags)
}

#[test]
fn defaults_live_under_the_store_directory() {
    let config = with(&["store.data_dir=/var/lib/vfed"]).unwrap();
    assert_eq!(
        config.audit.dir_for(&config.store),
        PathBuf::from("/var/lib/vfed/audit")
    );
    assert_eq!(
        config.audit.key_for(&config.store),
        PathBuf::from("/var/lib/vfed/audit/signing.key")
    );
    assert_eq!(config.audit.checkpoint_interval, Duration::from_secs(10));

    let config = with(&[
        "audit.dir=/srv/audit",
        "audit.key=/etc/vfed/audit.key",
        "audit.checkpoint_interval=\"1m\"",
    ])
    .unwrap();
    assert_eq!(
        config.audit.dir_for(&config.store),
        PathBuf::from("/srv/audit")
    );
    assert_eq!(
        config.audit.key_for(&config.store),
        PathBuf::from("/etc/vfed/audit.key")
    );
    assert_eq!(config.audit.checkpoint_interval, Duration::from_secs(60));
}

#[test]
fn bad_values_name_their_field() {
    for (flags, field) in [
        (
            &["audit.checkpoint_interval=\"10ms\""][..],
            "audit.checkpoint_interval",
        ),
        (
            &["audit.checkpoint_interval=\"2h\""][..],
            "audit.checkpoint_interval",
        ),
        (
            &["audit.checkpoint_interval=\"soon\""][..],
            "audit.checkpoint_interval",
        ),
        (&["audit.key=\"/\""][..], "audit.key"),
        (
            &["store.backend=etcd", "store.data_dir=\"\""][..],
            "audit.dir",
        ),
        (&["audit.colour=1"][..], "audit"),
    ] {
        let err = with(flags).unwrap_err();
        assert!(
            err.field.starts_with(field),
            "{flags:?}: expected {field}, got {err}"
        );
    }
    let err = with(&["audit.checkpoint_interval=\"10ms\""]).unwrap_err();
    assert!(err.message.contains("R18.6"), "{err}");
}
