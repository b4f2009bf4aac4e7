//! Departments and grants in the store: reads, and writes that are each one
//! compare-and-swap transaction (a refused request writes nothing).

use vfed_store::{Compare, KeyValue, Op, Revision, SharedStore, Txn};

use crate::codec::{decode, encode};
use crate::model::{Department, Grant};
use crate::rules::new_grant_id;
use crate::{SharingError, keys};

/// How many times a write retries a lost compare-and-swap race.
const CAS_ATTEMPTS: usize = 16;

/// The sharing records of one node.
#[derive(Clone)]
pub struct Records {
    store: SharedStore,
}

impl Records {
    /// Records in `store`.
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// Stores a new department; refuses an existing name.
    pub async fn create_department(&self, d: Department) -> Result<Department, SharingError> {
        let key = keys::department(&d.name);
        let txn = Txn::new()
            .when(Compare::absent(key.clone()))
            .then(Op::put(key, encode(&d)));
        if !self.store.txn(txn).await?.succeeded {
            return Err(SharingError::AlreadyExists(format!(
                "department {}",
                d.name
            )));
        }
        Ok(d)
    }

    /// Every department, by name.
    pub async fn departments(&self) -> Result<Vec<Department>, SharingError> {
        let snapshot = self.store.snapshot(keys::DEPARTMENTS.as_bytes()).await?;
        snapshot
            .kvs
            .iter()
            .map(|kv| decode(&kv.key, &kv.value))
            .collect()
    }

    /// Stores a new grant under a fresh ID, in one transaction that also
    /// checks that its department exists (and did not change meanwhile).
    pub async fn create_grant(&self, mut grant: Grant) -> Result<Grant, SharingError> {
        let department_key = keys::department(&grant.department);
        for _ in 0..CAS_ATTEMPTS {
            let Some(department) = self.store.get(department_key.as_bytes()).await? else {
                return Err(SharingError::invalid(
                    "grant.department",
                    format!(
                        "no department {:?} exists; create it first (vfedctl departments create)",
                        grant.department
                    ),
                ));
            };
            grant.id = new_grant_id();
            let key = keys::grant(&grant.id);
            let txn = Txn::new()
                .when(Compare::mod_revision(
                    department_key.clone(),
                    department.mod_revision,
                ))
                .when(Compare::absent(key.clone()))
                .then(Op::put(key, encode(&grant)));
            if self.store.txn(txn).await?.succeeded {
                return Ok(grant);
            }
        }
        Err(SharingError::FailedPrecondition(
            "the grant could not be stored (concurrent changes); retry".into(),
        ))
    }

    /// Every grant, oldest first.
    pub async fn grants(&self) -> Result<Vec<Grant>, SharingError> {
        let snapshot = self.store.snapshot(keys::GRANTS.as_bytes()).await?;
        let mut grants = snapshot
            .kvs
            .iter()
            .map(|kv| decode::<Grant>(&kv.key, &kv.value))
            .collect::<Result<Vec<_>, _>>()?;
        grants.sort_by(|a, b| (a.created_unix, &a.id).cmp(&(b.created_unix, &b.id)));
        Ok(grants)
    }

    async fn get_grant(&self, id: &str) -> Result<Option<(Grant, Revision)>, SharingError> {
        let kv: Option<KeyValue> = self.store.get(keys::grant(id).as_bytes()).await?;
        kv.map(|kv| Ok((decode(&kv.key, &kv.value)?, kv.mod_revision)))
            .transpose()
    }

    /// Read-modify-write of grant `id`: `change` edits it or refuses;
    /// written only if nobody changed the grant in between (else retried).
    pub async fn modify_grant(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Grant) -> Result<(), SharingError>,
    ) -> Result<Grant, SharingError> {
        let key = keys::grant(id);
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut grant, revision)) = self.get_grant(id).await? else {
                return Err(SharingError::NotFound(format!("grant {id}")));
            };
            change(&mut grant)?;
            let txn = Txn::new()
                .when(Compare::mod_revision(key.clone(), revision))
                .then(Op::put(key.clone(), encode(&grant)));
            if self.store.txn(txn).await?.succeeded {
                return Ok(grant);
            }
        }
        Err(SharingError::FailedPrecondition(format!(
            "grant {id} is changing too fast; retry"
        )))
    }
}
