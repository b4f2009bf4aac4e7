//! The grant book: every grant of the node in memory, kept current by a
//! store watch, answering "may this person watch this device now?" with a
//! lock and a lookup (it is asked on every HLS request and every second for
//! every QUIC subscription of a person).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use vfed_authz::{Principal, Refusal, ViewBasis, ViewPolicy};
use vfed_gbcode::AreaCode;
use vfed_store::{SharedStore, WatchEvent, WatchItem, watch_with_resync};

use crate::clock::{now_ms, rfc3339, rfc3339_ms};
use crate::codec::decode;
use crate::error::R13;
use crate::keys;
use crate::model::{Grant, GrantState, device_area};

/// What a viewer wants to see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Live video.
    Live,
    /// Recorded video.
    Recorded,
}

impl Use {
    fn name(self) -> &'static str {
        match self {
            Use::Live => "live",
            Use::Recorded => "recorded",
        }
    }
}

/// A grant with its device set and subtree ready for lookups.
struct Indexed {
    grant: Grant,
    devices: HashSet<String>,
    subtree: Option<AreaCode>,
}

impl Indexed {
    fn new(grant: Grant) -> Self {
        Self {
            devices: grant.device_ids.iter().cloned().collect(),
            subtree: grant.subtree_area(),
            grant,
        }
    }

    fn covers(&self, device_id: &str, area: Option<&AreaCode>) -> bool {
        self.devices.contains(device_id)
            || matches!((&self.subtree, area), (Some(tree), Some(area)) if tree.contains(area))
    }

    fn allows(&self, usage: Use) -> bool {
        match usage {
            Use::Live => self.grant.live,
            Use::Recorded => self.grant.recorded,
        }
    }
}

#[derive(Default)]
struct Index {
    loaded: bool,
    grants: HashMap<String, Arc<Indexed>>,
    by_department: HashMap<String, Vec<Arc<Indexed>>>,
}

impl Index {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        match decode::<Grant>(key, value) {
            Ok(grant) => {
                self.grants
                    .insert(grant.id.clone(), Arc::new(Indexed::new(grant)));
            }
            Err(error) => {
                // A grant that cannot be read grants nothing.
                tracing::error!(%error, "grant book: unreadable grant ignored");
                self.remove(key);
            }
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(id) = std::str::from_utf8(key)
            .ok()
            .and_then(|k| k.strip_prefix(keys::GRANTS))
        {
            self.grants.remove(id);
        }
    }

    fn reindex(&mut self) {
        let mut by_department: HashMap<String, Vec<Arc<Indexed>>> = HashMap::new();
        for indexed in self.grants.values() {
            by_department
                .entry(indexed.grant.department.clone())
                .or_default()
                .push(indexed.clone());
        }
        self.by_department = by_department;
    }
}

/// Every grant of the node, in memory (cheap to clone).
#[derive(Clone, Default)]
pub struct GrantBook {
    index: Arc<RwLock<Index>>,
}

impl GrantBook {
    /// A book kept current from `store` until `shutdown`. Until the first
    /// listing arrives (milliseconds), department viewers are refused.
    pub fn start(store: SharedStore, shutdown: CancellationToken) -> GrantBook {
        let book = GrantBook::default();
        tokio::spawn(book.clone().follow(store, shutdown));
        book
    }

    async fn follow(self, store: SharedStore, shutdown: CancellationToken) {
        let changes = watch_with_resync(store, keys::GRANTS.as_bytes().to_vec(), 0);
        futures::pin_mut!(changes);
        loop {
            let item = tokio::select! {
                () = shutdown.cancelled() => return,
                item = changes.next() => item,
            };
            let Some(item) = item else { return };
            self.apply(&item);
        }
    }

    fn apply(&self, item: &WatchItem) {
        let mut index = self
            .index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match item {
            WatchItem::Resync(snapshot) => {
                index.grants.clear();
                for kv in &snapshot.kvs {
                    index.put(&kv.key, &kv.value);
                }
                index.loaded = true;
            }
            WatchItem::Events(batch) => {
                for event in &batch.events {
                    match event {
                        WatchEvent::Put(kv) => index.put(&kv.key, &kv.value),
                        WatchEvent::Delete { key, .. } => index.remove(key),
                    }
                }
            }
        }
        index.reindex();
    }

    /// Whether the first listing of the grants has arrived.
    pub fn is_loaded(&self) -> bool {
        self.read().loaded
    }

    /// A grant by ID, as the book knows it.
    pub fn grant(&self, id: &str) -> Option<Grant> {
        self.read().grants.get(id).map(|i| i.grant.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `principal` may see `device_id` (`usage`) at `now_ms`: by
    /// role, or for department viewers under an active grant (R13).
    pub fn check_at(
        &self,
        principal: &Principal,
        device_id: &str,
        usage: Use,
        now_ms: i64,
    ) -> Result<ViewBasis, Refusal> {
        self.decide(principal, device_id, usage, now_ms, None)
    }

    /// Whether `principal` may play back `device_id`'s recording of
    /// `[start_ms, end_ms)` at `now_ms`: by role, or for department viewers
    /// under an active recorded grant whose validity `[valid_from,
    /// valid_to)` holds the whole range (R13).
    pub fn check_recorded_at(
        &self,
        principal: &Principal,
        device_id: &str,
        (start_ms, end_ms): (i64, i64),
        now_ms: i64,
    ) -> Result<ViewBasis, Refusal> {
        self.decide(
            principal,
            device_id,
            Use::Recorded,
            now_ms,
            Some((start_ms, end_ms)),
        )
    }

    fn decide(
        &self,
        principal: &Principal,
        device_id: &str,
        usage: Use,
        now_ms: i64,
        range: Option<(i64, i64)>,
    ) -> Result<ViewBasis, Refusal> {
        let refusal = |reason: String| Refusal {
            reason,
            requirement: R13,
        };
        match principal.role {
            None => {
                return Err(refusal(format!(
                    "{} is not a person: video is watched under a person's account",
                    principal.actor()
                )));
            }
            Some(role) if !role.needs_grant_to_view() => return Ok(ViewBasis::by_role()),
            Some(_) => {}
        }
        let department = &principal.department;
        if department.is_empty() {
            return Err(refusal(format!(
                "{} is a department viewer without a department; no grant can cover them",
                principal.actor()
            )));
        }
        let index = self.read();
        if !index.loaded {
            return Err(refusal(
                "the grants of this node are not loaded yet; retry in a moment".into(),
            ));
        }
        let area = device_area(device_id);
        let mut misses = Vec::new();
        for indexed in index.by_department.get(department).into_iter().flatten() {
            if !indexed.covers(device_id, area.as_ref()) {
                continue;
            }
            let g = &indexed.grant;
            let outside = range.filter(|&(start, end)| {
                start < g.valid_from_unix.saturating_mul(1000)
                    || end > g.valid_to_unix.saturating_mul(1000)
            });
            match g.state_at(now_ms) {
                GrantState::Active if indexed.allows(usage) && outside.is_some() => {
                    if let Some((start, end)) = outside {
                        misses.push(format!(
                            "grant {} covers recorded video from {} to {}, not the requested {} to {}",
                            g.id,
                            rfc3339(g.valid_from_unix),
                            rfc3339(g.valid_to_unix),
                            rfc3339_ms(start),
                            rfc3339_ms(end)
                        ));
                    }
                }
                GrantState::Active if indexed.allows(usage) => {
                    return Ok(ViewBasis {
                        grant_id: Some(g.id.clone()),
                        purpose: g.purpose.clone(),
                        valid_to_unix: Some(g.valid_to_unix),
                    });
                }
                GrantState::Active => {
                    misses.push(format!("grant {} is not for {} video", g.id, usage.name()))
                }
                GrantState::NotYet => misses.push(format!(
                    "grant {} starts at {}",
                    g.id,
                    rfc3339(g.valid_from_unix)
                )),
                GrantState::Expired => misses.push(format!(
                    "grant {} expired at {}",
                    g.id,
                    rfc3339(g.valid_to_unix)
                )),
                GrantState::Revoked => {
                    if let Some(r) = &g.revoked {
                        misses.push(format!(
                            "grant {} was revoked by {} at {}: {}",
                            g.id,
                            r.by,
                            rfc3339(r.at_unix),
                            r.reason
                        ));
                    }
                }
            }
        }
        misses.sort();
        let detail = if misses.is_empty() {
            String::new()
        } else {
            format!(" ({})", misses.join("; "))
        };
        Err(refusal(format!(
            "no active {} grant to department {department} covers device {device_id}{detail}",
            usage.name()
        )))
    }
}

impl ViewPolicy for GrantBook {
    fn check_live(&self, principal: &Principal, device_id: &str) -> Result<ViewBasis, Refusal> {
        self.check_at(principal, device_id, Use::Live, now_ms())
    }

    fn check_recorded(
        &self,
        principal: &Principal,
        device_id: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<ViewBasis, Refusal> {
        self.check_recorded_at(principal, device_id, (start_ms, end_ms), now_ms())
    }
}

#[cfg(test)]
mod tests {
    use vfed_authz::{AuthenticatedBy, Role};
    use vfed_store::{KeyValue, Snapshot, WatchBatch};

    use super::*;
    use crate::codec::encode;
    use crate::model::Revocation;

    const CAMERA: &str = "54050200001320000001";

    fn viewer(department: &str) -> Principal {
        Principal {
            name: "dawa".into(),
            role: Some(Role::DepartmentViewer),
            unit: "Shannan Traffic Police".into(),
            department: department.into(),
            authenticated_by: AuthenticatedBy::Token,
            token_expires_unix: None,
        }
    }

    fn grant(id: &str, live: bool) -> Grant {
        Grant {
            id: id.into(),
            department: "traffic".into(),
            device_ids: vec![CAMERA.into()],
            subtree: None,
            purpose: "junction monitoring".into(),
            live,
            recorded: !live,
            valid_from_unix: 100,
            valid_to_unix: 200,
            created_by: "user/admin".into(),
            created_unix: 90,
            revoked: None,
        }
    }

    fn kv(g: &Grant, revision: i64) -> KeyValue {
        KeyValue {
            key: keys::grant(&g.id).into_bytes(),
            value: encode(g),
            create_revision: revision,
            mod_revision: revision,
        }
    }

    fn loaded(grants: &[Grant]) -> GrantBook {
        let book = GrantBook::default();
        book.apply(&WatchItem::Resync(Snapshot {
            kvs: grants.iter().map(|g| kv(g, 1)).collect(),
            revision: 1,
        }));
        book
    }

    fn reason(r: Result<ViewBasis, Refusal>) -> String {
        match r {
            Err(refusal) => {
                assert_eq!(refusal.requirement, "R13");
                refusal.reason
            }
            Ok(basis) => panic!("allowed: {basis:?}"),
        }
    }

    #[test]
    fn roles_without_grants_and_nodes() {
        let book = GrantBook::default();
        let mut duty = viewer("");
        duty.role = Some(Role::DutyMonitor);
        assert_eq!(
            book.check_at(&duty, CAMERA, Use::Live, 0),
            Ok(ViewBasis::by_role())
        );
        assert!(
            reason(book.check_at(
                &Principal::node("54050000002000000001"),
                CAMERA,
                Use::Live,
                0
            ))
            .contains("not a person")
        );
        assert!(
            reason(book.check_at(&viewer("traffic"), CAMERA, Use::Live, 0)).contains("not loaded")
        );
        assert!(
            reason(loaded(&[]).check_at(&viewer(""), CAMERA, Use::Live, 0))
                .contains("without a department")
        );
    }

    #[test]
    fn a_department_viewer_needs_an_active_covering_grant_of_their_department() {
        let book = loaded(&[grant("g-000000000001", true)]);
        let basis = book
            .check_at(&viewer("traffic"), CAMERA, Use::Live, 150_000)
            .expect("granted");
        assert_eq!(basis.grant_id.as_deref(), Some("g-000000000001"));
        assert_eq!(basis.purpose, "junction monitoring");
        assert_eq!(basis.valid_to_unix, Some(200));
        let other = reason(book.check_at(&viewer("urban"), CAMERA, Use::Live, 150_000));
        assert!(other.contains("department urban"), "{other}");
        let ungranted = reason(book.check_at(
            &viewer("traffic"),
            "54050200001320000002",
            Use::Live,
            150_000,
        ));
        assert!(
            ungranted.contains("covers device 54050200001320000002"),
            "{ungranted}"
        );
        assert!(
            reason(book.check_at(&viewer("traffic"), CAMERA, Use::Live, 200_000))
                .contains("expired at")
        );
        assert!(
            reason(book.check_at(&viewer("traffic"), CAMERA, Use::Live, 99_000))
                .contains("starts at")
        );
        assert!(
            reason(book.check_at(&viewer("traffic"), CAMERA, Use::Recorded, 150_000))
                .contains("not for recorded")
        );
    }

    #[test]
    fn recorded_playback_stays_inside_the_grant_s_validity() {
        let book = loaded(&[grant("g-000000000001", false)]);
        let viewer = viewer("traffic");
        let basis = book
            .check_recorded_at(&viewer, CAMERA, (100_000, 150_000), 160_000)
            .expect("inside the grant");
        assert_eq!(basis.grant_id.as_deref(), Some("g-000000000001"));
        for range in [(99_000, 150_000), (150_000, 200_001)] {
            let why = reason(book.check_recorded_at(&viewer, CAMERA, range, 160_000));
            assert!(why.contains("not the requested"), "{why}");
        }
        let live_only = loaded(&[grant("g-000000000002", true)]);
        let why = reason(live_only.check_recorded_at(&viewer, CAMERA, (100_000, 150_000), 160_000));
        assert!(why.contains("not for recorded"), "{why}");
    }

    #[test]
    fn events_revoke_and_delete() {
        let mut g = grant("g-000000000001", true);
        let book = loaded(&[g.clone()]);
        g.revoked = Some(Revocation {
            by: "user/admin".into(),
            at_unix: 120,
            reason: "operation over".into(),
        });
        book.apply(&WatchItem::Events(WatchBatch {
            revision: 2,
            events: vec![WatchEvent::Put(kv(&g, 2))],
        }));
        let why = reason(book.check_at(&viewer("traffic"), CAMERA, Use::Live, 150_000));
        assert!(
            why.contains("revoked by user/admin") && why.contains("operation over"),
            "{why}"
        );
        book.apply(&WatchItem::Events(WatchBatch {
            revision: 3,
            events: vec![WatchEvent::Delete {
                key: keys::grant(&g.id).into_bytes(),
                mod_revision: 3,
            }],
        }));
        assert!(book.grant(&g.id).is_none());
        book.apply(&WatchItem::Events(WatchBatch {
            revision: 4,
            events: vec![WatchEvent::Put(KeyValue {
                key: keys::grant("g-000000000009").into_bytes(),
                value: b"{not json".to_vec(),
                create_revision: 4,
                mod_revision: 4,
            })],
        }));
        assert!(book.grant("g-000000000009").is_none());
    }

    #[test]
    fn subtree_grants_cover_their_area() {
        let mut g = grant("g-000000000002", true);
        g.device_ids.clear();
        g.subtree = Some("540502".into());
        let book = loaded(&[g]);
        assert!(
            book.check_at(
                &viewer("traffic"),
                "54050200001310000003",
                Use::Live,
                150_000
            )
            .is_ok()
        );
        assert!(
            book.check_at(
                &viewer("traffic"),
                "54052100001320000001",
                Use::Live,
                150_000
            )
            .is_err()
        );
    }
}
