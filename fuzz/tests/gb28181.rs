//! A bounded, seeded run of the GB/T 28181 fuzz targets (see src/gb28181.rs).

use vfed_fuzz::{Campaign, gb28181, run};

#[test]
fn sip() {
    run(
        "gb28181_sip",
        gb28181::sip,
        &gb28181::sip_seeds(),
        Campaign::default(),
    );
}

#[test]
fn manscdp() {
    run(
        "gb28181_manscdp",
        gb28181::manscdp,
        &gb28181::manscdp_seeds(),
        Campaign::default(),
    );
}

#[test]
fn ps() {
    run(
        "gb28181_ps",
        gb28181::ps,
        &gb28181::ps_seeds(),
        Campaign::default(),
    );
}

#[test]
fn upper() {
    run(
        "gb28181_upper",
        gb28181::upper,
        &gb28181::upper_seeds(),
        Campaign::default(),
    );
}
