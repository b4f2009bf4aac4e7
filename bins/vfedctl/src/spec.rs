//! A partial device spec: what `--file` and the field flags say, applied on
//! top of an empty spec (register) or the current one (update).

use vfed_proto::registry::v1::{AcceptanceState, DeviceSpec, LocationType, ProtectedCategory};

/// Device fields to set; `None` leaves a field as it is.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SpecPatch {
    /// Sets `DeviceSpec.id`.
    pub id: Option<String>,
    /// Sets `DeviceSpec.name`.
    pub name: Option<String>,
    /// Sets `DeviceSpec.location_type`.
    pub location_type: Option<LocationType>,
    /// Sets `DeviceSpec.protected_category`.
    pub protected_category: Option<ProtectedCategory>,
    /// Sets `DeviceSpec.address`.
    pub address: Option<String>,
    /// Sets `DeviceSpec.latitude`.
    pub latitude: Option<f64>,
    /// Sets `DeviceSpec.longitude`.
    pub longitude: Option<f64>,
    /// Sets `DeviceSpec.unit`.
    pub unit: Option<String>,
    /// Sets `DeviceSpec.responsible.builder`.
    pub builder: Option<String>,
    /// Sets `DeviceSpec.responsible.maintainer`.
    pub maintainer: Option<String>,
    /// Sets `DeviceSpec.responsible.manager`.
    pub manager: Option<String>,
    /// Sets `DeviceSpec.signage.posted`.
    pub signage_posted: Option<bool>,
    /// Sets `DeviceSpec.signage.distance_to_homes_m`.
    pub distance_to_homes_m: Option<f64>,
    /// Sets `DeviceSpec.acceptance.state`.
    pub acceptance_state: Option<AcceptanceState>,
    /// Sets `DeviceSpec.acceptance.accepted_on`.
    pub accepted_on: Option<String>,
    /// Sets `DeviceSpec.filing.design_unit`.
    pub design_unit: Option<String>,
    /// Sets `DeviceSpec.filing.build_unit`.
    pub build_unit: Option<String>,
    /// Sets `DeviceSpec.filing.maintenance_unit`.
    pub maintenance_unit: Option<String>,
    /// Sets `DeviceSpec.filing.operators`.
    pub operators: Option<Vec<String>>,
    /// Sets `DeviceSpec.filing.filed_on`.
    pub filed_on: Option<String>,
    /// Sets `DeviceSpec.filing.verified_on`.
    pub verified_on: Option<String>,
    /// Sets `DeviceSpec.shared`.
    pub shared: Option<bool>,
    /// Sets `DeviceSpec.streams.main_url`.
    pub main_url: Option<String>,
    /// Sets `DeviceSpec.streams.sub_url`.
    pub sub_url: Option<String>,
}

macro_rules! each_field {
    ($m:ident) => {
        $m!(
            id,
            name,
            location_type,
            protected_category,
            address,
            latitude,
            longitude,
            unit,
            builder,
            maintainer,
            manager,
            signage_posted,
            distance_to_homes_m,
            acceptance_state,
            accepted_on,
            design_unit,
            build_unit,
            maintenance_unit,
            operators,
            filed_on,
            verified_on,
            shared,
            main_url,
            sub_url
        )
    };
}

impl SpecPatch {
    /// `self` overridden by every field `over` sets.
    pub fn overridden_by(self, over: SpecPatch) -> SpecPatch {
        macro_rules! merge {
            ($($f:ident),*) => {
                SpecPatch { $($f: over.$f.or(self.$f)),* }
            };
        }
        each_field!(merge)
    }

    /// Whether no field other than `id` is set.
    pub fn sets_nothing_but_id(&self) -> bool {
        let without_id = SpecPatch {
            id: None,
            ..self.clone()
        };
        without_id == SpecPatch::default()
    }

    /// Writes every set field into `spec`.
    pub fn apply(&self, spec: &mut DeviceSpec) {
        set(&mut spec.id, &self.id);
        set(&mut spec.name, &self.name);
        if let Some(v) = self.location_type {
            spec.location_type = v.into();
        }
        if let Some(v) = self.protected_category {
            spec.protected_category = v.into();
        }
        set(&mut spec.address, &self.address);
        spec.latitude = self.latitude.or(spec.latitude);
        spec.longitude = self.longitude.or(spec.longitude);
        set(&mut spec.unit, &self.unit);

        let r = spec.responsible.get_or_insert_with(Default::default);
        set(&mut r.builder, &self.builder);
        set(&mut r.maintainer, &self.maintainer);
        set(&mut r.manager, &self.manager);

        let s = spec.signage.get_or_insert_with(Default::default);
        s.posted = self.signage_posted.unwrap_or(s.posted);
        s.distance_to_homes_m = self.distance_to_homes_m.or(s.distance_to_homes_m);

        let a = spec.acceptance.get_or_insert_with(Default::default);
        if let Some(v) = self.acceptance_state {
            a.state = v.into();
        }
        set(&mut a.accepted_on, &self.accepted_on);

        let f = spec.filing.get_or_insert_with(Default::default);
        set(&mut f.design_unit, &self.design_unit);
        set(&mut f.build_unit, &self.build_unit);
        set(&mut f.maintenance_unit, &self.maintenance_unit);
        if let Some(ops) = &self.operators {
            f.operators.clone_from(ops);
        }
        set(&mut f.filed_on, &self.filed_on);
        set(&mut f.verified_on, &self.verified_on);

        spec.shared = self.shared.unwrap_or(spec.shared);
        let st = spec.streams.get_or_insert_with(Default::default);
        set(&mut st.main_url, &self.main_url);
        set(&mut st.sub_url, &self.sub_url);
    }
}

fn set(target: &mut String, value: &Option<String>) {
    if let Some(v) = value {
        target.clone_from(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_patch_wins_and_apply_keeps_unset_fields() {
        let file = SpecPatch {
            id: Some("a".into()),
            name: Some("from file".into()),
            unit: Some("unit".into()),
            ..SpecPatch::default()
        };
        let flags = SpecPatch {
            name: Some("from flag".into()),
            shared: Some(true),
            ..SpecPatch::default()
        };
        let merged = file.overridden_by(flags);
        assert_eq!(merged.name.as_deref(), Some("from flag"));
        assert_eq!(merged.unit.as_deref(), Some("unit"));

        let mut spec = DeviceSpec {
            address: "kept".into(),
            ..DeviceSpec::default()
        };
        merged.apply(&mut spec);
        assert_eq!(spec.id, "a");
        assert_eq!(spec.address, "kept");
        assert!(spec.shared);
        assert!(!merged.sets_nothing_but_id());
        assert!(
            SpecPatch {
                id: Some("x".into()),
                ..SpecPatch::default()
            }
            .sets_nothing_but_id()
        );
    }
}
