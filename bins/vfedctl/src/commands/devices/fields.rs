//! The device field flags shared by `register` and `update`.

use std::path::PathBuf;

use clap::Args;
use vfed_proto::registry::v1::{AcceptanceState, LocationType, ProtectedCategory};

use crate::enums::EnumParser;
use crate::spec::SpecPatch;
use crate::spec_file;
use crate::values;

/// Device fields; a flag left out leaves the field as it is (update) or
/// as `--file` / the default says (register).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Device fields")]
pub struct DeviceFields {
    /// JSON DeviceSpec to start from: proto snake_case field names, nested
    /// like the proto (responsible, signage, acceptance, filing, streams),
    /// enums as kebab-case names. Flags override its fields.
    #[arg(long, value_name = "DEVICE_JSON")]
    pub file: Option<PathBuf>,

    /// Device name.
    #[arg(long)]
    pub name: Option<String>,

    /// Kind of place; prohibited places (hotel-room, toilet...) are refused
    /// by the server (R7).
    #[arg(long, value_name = "TYPE", value_parser = EnumParser::<LocationType>::new())]
    pub location_type: Option<LocationType>,

    /// Protected category of Art. 6 (R6.2).
    #[arg(long, value_name = "CATEGORY", value_parser = EnumParser::<ProtectedCategory>::new())]
    pub category: Option<ProtectedCategory>,

    /// Street address.
    #[arg(long)]
    pub address: Option<String>,

    /// Unit running the site system (catalog level under the division).
    #[arg(long)]
    pub unit: Option<String>,

    /// Builder, maintainer and manager at once (R9); the specific flags win.
    #[arg(long, value_name = "UNIT")]
    pub responsible: Option<String>,

    /// Builder unit (R9).
    #[arg(long, value_name = "UNIT")]
    pub builder: Option<String>,

    /// Maintainer unit (R9).
    #[arg(long, value_name = "UNIT")]
    pub maintainer: Option<String>,

    /// Manager unit (R9).
    #[arg(long, value_name = "UNIT")]
    pub manager: Option<String>,

    /// A warning sign is posted (R8).
    #[arg(long, overrides_with = "no_signage")]
    pub signage: bool,

    /// No warning sign is posted.
    #[arg(long, overrides_with = "signage")]
    pub no_signage: bool,

    /// Metres to the nearest home (R8).
    #[arg(long, value_name = "METRES", value_parser = values::metres)]
    pub distance_to_homes: Option<f64>,

    /// Acceptance state of the system (R11).
    #[arg(long, value_name = "STATE", value_parser = EnumParser::<AcceptanceState>::new())]
    pub acceptance: Option<AcceptanceState>,

    /// Acceptance date, YYYY-MM-DD (required when accepted).
    #[arg(long, value_name = "DATE", value_parser = values::date)]
    pub accepted_on: Option<String>,

    /// Filing date, YYYY-MM-DD; due within 30 days of acceptance (R12).
    #[arg(long, value_name = "DATE", value_parser = values::date)]
    pub filed_on: Option<String>,

    /// Police verification date, YYYY-MM-DD; due within 30 days of filing.
    #[arg(long, value_name = "DATE", value_parser = values::date)]
    pub verified_on: Option<String>,

    /// Design unit of the filing.
    #[arg(long, value_name = "UNIT")]
    pub design_unit: Option<String>,

    /// Build unit of the filing.
    #[arg(long, value_name = "UNIT")]
    pub build_unit: Option<String>,

    /// Maintenance unit of the filing.
    #[arg(long, value_name = "UNIT")]
    pub maintenance_unit: Option<String>,

    /// Operator of the filing; repeat for several (replaces the list).
    #[arg(long = "operator", value_name = "NAME")]
    pub operators: Vec<String>,

    /// Share with the level above (R6.1; only accepted devices go up, R11).
    #[arg(long, overrides_with = "unshared")]
    pub shared: bool,

    /// Do not share with the level above.
    #[arg(long, overrides_with = "shared")]
    pub unshared: bool,

    /// Main stream URL (rtsp:// or rtsps://).
    #[arg(long, value_name = "URL")]
    pub main_url: Option<String>,

    /// Sub stream URL (rtsp:// or rtsps://).
    #[arg(long, value_name = "URL")]
    pub sub_url: Option<String>,

    /// Latitude in degrees.
    #[arg(long, value_name = "DEG", value_parser = values::latitude, allow_hyphen_values = true)]
    pub lat: Option<f64>,

    /// Longitude in degrees.
    #[arg(long, value_name = "DEG", value_parser = values::longitude, allow_hyphen_values = true)]
    pub lon: Option<f64>,
}

impl DeviceFields {
    /// `--file` (if any) overridden by the flags.
    pub fn patch(&self) -> anyhow::Result<SpecPatch> {
        let base = match &self.file {
            Some(path) => spec_file::load(path)?,
            None => SpecPatch::default(),
        };
        Ok(base.overridden_by(self.flags_patch()))
    }

    /// What the flags alone set.
    fn flags_patch(&self) -> SpecPatch {
        let both = |flag: bool, no_flag: bool| match (flag, no_flag) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let responsible = |specific: &Option<String>| specific.clone().or(self.responsible.clone());
        SpecPatch {
            id: None,
            name: self.name.clone(),
            location_type: self.location_type,
            protected_category: self.category,
            address: self.address.clone(),
            latitude: self.lat,
            longitude: self.lon,
            unit: self.unit.clone(),
            builder: responsible(&self.builder),
            maintainer: responsible(&self.maintainer),
            manager: responsible(&self.manager),
            signage_posted: both(self.signage, self.no_signage),
            distance_to_homes_m: self.distance_to_homes,
            acceptance_state: self.acceptance,
            accepted_on: self.accepted_on.clone(),
            design_unit: self.design_unit.clone(),
            build_unit: self.build_unit.clone(),
            maintenance_unit: self.maintenance_unit.clone(),
            operators: (!self.operators.is_empty()).then(|| self.operators.clone()),
            filed_on: self.filed_on.clone(),
            verified_on: self.verified_on.clone(),
            shared: both(self.shared, self.unshared),
            main_url: self.main_url.clone(),
            sub_url: self.sub_url.clone(),
        }
    }
}
