//! A few realistic devices per county, registered through the real API.
//! They show the rules at work: an unshared device stays in its county, a
//! device still rectifying (R11) does not go up, one filing is overdue (R12)
//! and one junction camera lacks its warning sign (R8).

use time::{Duration, OffsetDateTime};
use tonic::Code;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;

use super::layout::ToolChannels;

struct Seed {
    node: &'static str,
    id: &'static str,
    name: &'static str,
    location: pb::LocationType,
    category: pb::ProtectedCategory,
    unit: &'static str,
    address: &'static str,
    shared: bool,
    signage: bool,
    acceptance: pb::AcceptanceState,
    /// Days ago: accepted, filed, verified (None: not yet).
    dates: (Option<i64>, Option<i64>, Option<i64>),
}

const NAIDONG: &str = "54050200002000000001";
const ZHANANG: &str = "54052100002000000001";

const SEEDS: &[Seed] = &[
    Seed {
        node: NAIDONG,
        id: "54050200001320000001",
        name: "Zedang Square north",
        location: pb::LocationType::Square,
        category: pb::ProtectedCategory::CrowdedPlace,
        unit: "Naidong Public Security Bureau",
        address: "Zedang Square, Naidong",
        shared: true,
        signage: true,
        acceptance: pb::AcceptanceState::Accepted,
        dates: (Some(90), Some(70), Some(50)),
    },
    Seed {
        node: NAIDONG,
        id: "54050200001320000002",
        name: "Naidong Middle School gate",
        location: pb::LocationType::School,
        category: pb::ProtectedCategory::CrowdedPlace,
        unit: "Naidong Education Bureau",
        address: "Naidong Middle School, Gesang Road",
        shared: true,
        signage: true,
        acceptance: pb::AcceptanceState::Accepted,
        dates: (Some(80), Some(60), None),
    },
    Seed {
        node: NAIDONG,
        id: "54050200001310000003",
        name: "G349 / Naidong Road junction",
        location: pb::LocationType::Junction,
        category: pb::ProtectedCategory::PublicAreaRoad,
        unit: "Naidong Traffic Police Brigade",
        address: "G349 x Naidong Road",
        shared: true,
        signage: false,
        acceptance: pb::AcceptanceState::Accepted,
        dates: (Some(45), None, None),
    },
    Seed {
        node: NAIDONG,
        id: "54050200001320000004",
        name: "County hall lobby",
        location: pb::LocationType::GovernmentBuilding,
        category: pb::ProtectedCategory::CounterTerrorTarget,
        unit: "Naidong County Government",
        address: "County hall, Naidong",
        shared: false,
        signage: true,
        acceptance: pb::AcceptanceState::Accepted,
        dates: (Some(120), Some(100), Some(80)),
    },
    Seed {
        node: ZHANANG,
        id: "54052100001320000001",
        name: "Zhanang bus station hall",
        location: pb::LocationType::Station,
        category: pb::ProtectedCategory::PublicTransport,
        unit: "Zhanang Transport Bureau",
        address: "Zhanang bus station",
        shared: true,
        signage: true,
        acceptance: pb::AcceptanceState::Accepted,
        dates: (Some(200), Some(180), Some(160)),
    },
    Seed {
        node: ZHANANG,
        id: "54052100001320000002",
        name: "Yarlung bridge east",
        location: pb::LocationType::Road,
        category: pb::ProtectedCategory::PublicAreaRoad,
        unit: "Zhanang Public Security Bureau",
        address: "Yarlung Tsangpo bridge, east bank",
        shared: true,
        signage: true,
        acceptance: pb::AcceptanceState::Accepted,
        dates: (Some(60), Some(40), Some(20)),
    },
    Seed {
        node: ZHANANG,
        id: "54052100001180000003",
        name: "Zhanang market NVR",
        location: pb::LocationType::Market,
        category: pb::ProtectedCategory::CrowdedPlace,
        unit: "Zhanang Market Administration",
        address: "Zhanang farmers' market",
        shared: true,
        signage: true,
        acceptance: pb::AcceptanceState::Rectifying,
        dates: (None, None, None),
    },
];

fn days_ago(days: Option<i64>) -> String {
    days.map(|d| (OffsetDateTime::now_utc().date() - Duration::days(d)).to_string())
        .unwrap_or_default()
}

fn spec(seed: &Seed) -> pb::DeviceSpec {
    pb::DeviceSpec {
        id: seed.id.into(),
        name: seed.name.into(),
        location_type: seed.location.into(),
        protected_category: seed.category.into(),
        address: seed.address.into(),
        unit: seed.unit.into(),
        responsible: Some(pb::ResponsibleUnits {
            builder: "Shannan Security Engineering Co.".into(),
            maintainer: "Shannan Security Engineering Co.".into(),
            manager: seed.unit.into(),
        }),
        signage: Some(pb::Signage {
            posted: seed.signage,
            distance_to_homes_m: Some(40.0),
        }),
        acceptance: Some(pb::Acceptance {
            state: seed.acceptance.into(),
            accepted_on: days_ago(seed.dates.0),
        }),
        filing: Some(pb::Filing {
            design_unit: "Shannan Design Institute".into(),
            build_unit: "Shannan Security Engineering Co.".into(),
            maintenance_unit: "Shannan Security Engineering Co.".into(),
            operators: vec![seed.unit.into()],
            filed_on: days_ago(seed.dates.1),
            verified_on: days_ago(seed.dates.2),
        }),
        shared: seed.shared,
        ..Default::default()
    }
}

/// The seeded devices of `node`.
pub fn devices_of(node: &str) -> Vec<String> {
    SEEDS
        .iter()
        .filter(|s| s.node == node)
        .map(|s| s.id.to_owned())
        .collect()
}

/// Registers every seed device (already registered ones are left alone).
pub async fn register_all(channels: &ToolChannels) -> anyhow::Result<()> {
    let mut added = 0;
    for seed in SEEDS {
        let mut client = RegistryClient::new(channels.get(seed.node)?);
        match client
            .register_device(pb::RegisterDeviceRequest {
                spec: Some(spec(seed)),
            })
            .await
        {
            Ok(_) => added += 1,
            Err(status) if status.code() == Code::AlreadyExists => {}
            Err(status) => {
                anyhow::bail!("seeding {} ({}): {}", seed.name, seed.id, status.message())
            }
        }
    }
    println!(
        "  seeded {added} devices ({} already there)",
        SEEDS.len() - added
    );
    Ok(())
}
