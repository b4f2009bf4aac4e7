//! Enumerations of the device model, with the rules attached to them.

use serde::{Deserialize, Serialize};

/// Where a device is. Prohibited places (R7) are listed so that a refusal can
/// name them; a device is never stored with one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum LocationType {
    Road,
    Junction,
    Square,
    Station,
    School,
    Hospital,
    Park,
    Market,
    GovernmentBuilding,
    ResidentialCommonArea,
    Border,
    TransportVehicle,
    BankPublicArea,
    OtherPublic,
    HotelRoom,
    DormitoryRoom,
    ApartmentRoom,
    NursingRoom,
    Bath,
    ChangingRoom,
    DressingRoom,
    Toilet,
    FinancialCustomerDataArea,
    BallotOrReportBox,
    PollingPlace,
    OtherPrivate,
}

impl LocationType {
    /// R7: places where no camera may be installed.
    pub fn is_prohibited(self) -> bool {
        matches!(
            self,
            Self::HotelRoom
                | Self::DormitoryRoom
                | Self::ApartmentRoom
                | Self::NursingRoom
                | Self::Bath
                | Self::ChangingRoom
                | Self::DressingRoom
                | Self::Toilet
                | Self::FinancialCustomerDataArea
                | Self::BallotOrReportBox
                | Self::PollingPlace
                | Self::OtherPrivate
        )
    }

    /// R8: public areas, where a warning sign must be posted.
    pub fn needs_signage(self) -> bool {
        !self.is_prohibited() && self != Self::TransportVehicle
    }

    /// The kebab-case name used by the CLI and in errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Road => "road",
            Self::Junction => "junction",
            Self::Square => "square",
            Self::Station => "station",
            Self::School => "school",
            Self::Hospital => "hospital",
            Self::Park => "park",
            Self::Market => "market",
            Self::GovernmentBuilding => "government-building",
            Self::ResidentialCommonArea => "residential-common-area",
            Self::Border => "border",
            Self::TransportVehicle => "transport-vehicle",
            Self::BankPublicArea => "bank-public-area",
            Self::OtherPublic => "other-public",
            Self::HotelRoom => "hotel-room",
            Self::DormitoryRoom => "dormitory-room",
            Self::ApartmentRoom => "apartment-room",
            Self::NursingRoom => "nursing-room",
            Self::Bath => "bath",
            Self::ChangingRoom => "changing-room",
            Self::DressingRoom => "dressing-room",
            Self::Toilet => "toilet",
            Self::FinancialCustomerDataArea => "financial-customer-data-area",
            Self::BallotOrReportBox => "ballot-or-report-box",
            Self::PollingPlace => "polling-place",
            Self::OtherPrivate => "other-private",
        }
    }
}

/// The seven protected categories of Art. 6 (R6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum ProtectedCategory {
    CounterTerrorTarget,
    BorderArea,
    PublicAreaRoad,
    CrowdedPlace,
    PublicTransport,
    HighCrimeArea,
    Other,
}

/// Acceptance (验收) state of the system (R11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum AcceptanceState {
    NotAccepted,
    Rectifying,
    Accepted,
}

/// Liveness of a device (R14.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceStatus {
    /// Registered, never heard from.
    Unknown,
    /// Keepalives arrive.
    Online,
    /// Missed its keepalives; an outage is open.
    Offline,
}
