//! Kebab-case names of the proto enums (`LOCATION_TYPE_HOTEL_ROOM` <->
//! `hotel-room`), used by flags, `--file` and JSON output alike.

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::ops::RangeInclusive;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use vfed_proto::federation::v1::LinkState;
use vfed_proto::registry::v1::{
    AcceptanceState, DeviceStatus, LocationType, ProtectedCategory, RemovalKind, RemovalStage,
    Scope,
};

/// A prost enum with a common name prefix.
pub trait ProtoEnum: Copy + Send + Sync + 'static {
    /// The prefix of every value name, e.g. `LOCATION_TYPE_`.
    const PREFIX: &'static str;
    /// What the enum is, for messages, e.g. `location type`.
    const WHAT: &'static str;
    /// The value with this number, if any.
    fn from_number(value: i32) -> Option<Self>;
    /// The proto value name, e.g. `LOCATION_TYPE_ROAD`.
    fn proto_name(self) -> &'static str;
}

macro_rules! proto_enum {
    ($ty:ty, $prefix:literal, $what:literal) => {
        impl ProtoEnum for $ty {
            const PREFIX: &'static str = $prefix;
            const WHAT: &'static str = $what;
            fn from_number(value: i32) -> Option<Self> {
                <$ty>::try_from(value).ok()
            }
            fn proto_name(self) -> &'static str {
                self.as_str_name()
            }
        }
    };
}

proto_enum!(LocationType, "LOCATION_TYPE_", "location type");
proto_enum!(
    ProtectedCategory,
    "PROTECTED_CATEGORY_",
    "protected category"
);
proto_enum!(AcceptanceState, "ACCEPTANCE_STATE_", "acceptance state");
proto_enum!(DeviceStatus, "DEVICE_STATUS_", "device status");
proto_enum!(Scope, "SCOPE_", "scope");
proto_enum!(LinkState, "LINK_STATE_", "link state");
proto_enum!(RemovalKind, "REMOVAL_KIND_", "removal kind");
proto_enum!(RemovalStage, "REMOVAL_STAGE_", "removal stage");

/// Enum numbers scanned to enumerate values (new proto values are picked up
/// without changes here).
const SCAN: RangeInclusive<i32> = 0..=1023;

/// The kebab-case name of `value`, e.g. `hotel-room`.
pub fn kebab<E: ProtoEnum>(value: E) -> String {
    let name = value.proto_name();
    name.strip_prefix(E::PREFIX)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// The kebab-case name of enum number `value`; `unknown-<n>` for numbers
/// this build of vfedctl does not know.
pub fn kebab_number<E: ProtoEnum>(value: i32) -> String {
    E::from_number(value).map_or_else(|| format!("unknown-{value}"), kebab)
}

/// Every value a user may name (all but `unspecified`), in number order.
pub fn accepted<E: ProtoEnum>() -> Vec<E> {
    SCAN.filter_map(E::from_number)
        .filter(|v| kebab(*v) != "unspecified")
        .collect()
}

/// The kebab-case names of [`accepted`].
pub fn accepted_names<E: ProtoEnum>() -> Vec<String> {
    accepted::<E>().into_iter().map(kebab).collect()
}

/// Parses a kebab-case name (case-insensitive; `_` or the full proto name
/// are tolerated). The error lists the accepted names.
pub fn parse<E: ProtoEnum>(input: &str) -> Result<E, String> {
    let wanted = input.trim().to_ascii_lowercase().replace('_', "-");
    let prefix = E::PREFIX.to_ascii_lowercase().replace('_', "-");
    let wanted = wanted.strip_prefix(&prefix).unwrap_or(&wanted);
    accepted::<E>()
        .into_iter()
        .find(|v| kebab(*v) == wanted)
        .ok_or_else(|| {
            format!(
                "unknown {} {input:?}; accepted: {}",
                E::WHAT,
                accepted_names::<E>().join(", ")
            )
        })
}

/// A clap value parser for a proto enum: lists the accepted names in
/// `--help` and in its error.
#[derive(Debug)]
pub struct EnumParser<E>(PhantomData<E>);

impl<E> EnumParser<E> {
    /// A parser for `E`.
    pub fn new() -> Self {
        EnumParser(PhantomData)
    }
}

impl<E> Clone for EnumParser<E> {
    fn clone(&self) -> Self {
        EnumParser(PhantomData)
    }
}

impl<E: ProtoEnum> TypedValueParser for EnumParser<E> {
    type Value = E;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<E, clap::Error> {
        let text = value.to_string_lossy();
        parse::<E>(&text).map_err(|message| {
            let arg = arg.map_or_else(|| "value".to_owned(), |a| format!("'{a}'"));
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!("invalid value '{text}' for {arg}: {message}\n"),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            accepted_names::<E>().into_iter().map(PossibleValue::new),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(kebab(LocationType::HotelRoom), "hotel-room");
        assert_eq!(kebab(LocationType::Road), "road");
        assert_eq!(kebab(ProtectedCategory::PublicAreaRoad), "public-area-road");
        assert_eq!(kebab(AcceptanceState::NotAccepted), "not-accepted");
        assert_eq!(kebab(LinkState::Resyncing), "resyncing");
        assert_eq!(kebab(Scope::All), "all");
        for v in accepted::<LocationType>() {
            assert_eq!(parse::<LocationType>(&kebab(v)), Ok(v));
        }
        for v in accepted::<ProtectedCategory>() {
            assert_eq!(parse::<ProtectedCategory>(&kebab(v)), Ok(v));
        }
    }

    #[test]
    fn every_proto_value_is_listed() {
        // 14 public and 12 prohibited places.
        assert_eq!(accepted::<LocationType>().len(), 26);
        assert_eq!(accepted::<ProtectedCategory>().len(), 7);
        assert_eq!(
            accepted_names::<AcceptanceState>(),
            ["not-accepted", "rectifying", "accepted"]
        );
        assert_eq!(accepted_names::<Scope>(), ["all", "local", "remote"]);
        assert_eq!(
            accepted_names::<DeviceStatus>(),
            ["unknown", "online", "offline"]
        );
    }

    #[test]
    fn lenient_spellings() {
        assert_eq!(
            parse::<LocationType>("HOTEL_ROOM"),
            Ok(LocationType::HotelRoom)
        );
        assert_eq!(
            parse::<LocationType>("LOCATION_TYPE_TOILET"),
            Ok(LocationType::Toilet)
        );
        assert_eq!(
            parse::<LocationType>(" Junction "),
            Ok(LocationType::Junction)
        );
    }

    #[test]
    fn unknown_lists_choices() {
        let err = parse::<LocationType>("spaceport").err().unwrap_or_default();
        assert!(err.contains("unknown location type \"spaceport\""), "{err}");
        assert!(err.contains("road, junction, square"), "{err}");
        assert!(err.contains("hotel-room"), "{err}");
        assert!(parse::<LocationType>("unspecified").is_err());
    }

    #[test]
    fn unknown_numbers() {
        assert_eq!(kebab_number::<DeviceStatus>(2), "online");
        assert_eq!(kebab_number::<DeviceStatus>(0), "unspecified");
        assert_eq!(kebab_number::<DeviceStatus>(77), "unknown-77");
    }
}
