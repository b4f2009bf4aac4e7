//! The violations service's sources in this process: the registry's API
//! (called on its service value, the same handlers a gRPC client reaches)
//! and the audit trail's reader.

use tonic::{Request, Status};
use vfed_proto::registry::v1 as reg;
use vfed_proto::registry::v1::registry_server::Registry as _;
use vfed_violations::sources::{DeviceRecords, Refusals, RefusedCall};

/// Most pages of devices read for one list (1000 each).
const MAX_PAGES: usize = 1000;

/// [`DeviceRecords`] over the registry's API.
pub struct RegistryRecords(pub vfed_registry::RegistryService);

#[async_trait::async_trait]
impl DeviceRecords for RegistryRecords {
    async fn devices(&self) -> Result<Vec<reg::Device>, Status> {
        let mut devices = Vec::new();
        let mut page_token = String::new();
        for _ in 0..MAX_PAGES {
            let page = self
                .0
                .list_devices(Request::new(reg::ListDevicesRequest {
                    page_size: 1000,
                    page_token,
                    ..Default::default()
                }))
                .await?
                .into_inner();
            devices.extend(page.devices);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        Ok(devices)
    }

    async fn overdue_filings(&self) -> Result<Vec<reg::OverdueFiling>, Status> {
        Ok(self
            .0
            .list_overdue_filings(Request::new(reg::ListOverdueFilingsRequest::default()))
            .await?
            .into_inner()
            .overdue)
    }

    async fn missing_signage(&self) -> Result<Vec<reg::Device>, Status> {
        Ok(self
            .0
            .list_missing_signage(Request::new(reg::ListMissingSignageRequest {}))
            .await?
            .into_inner()
            .devices)
    }
}

/// [`Refusals`] over the node's audit trail.
pub struct AuditRefusals(pub vfed_auditing::AuditTrail);

#[async_trait::async_trait]
impl Refusals for AuditRefusals {
    async fn refused(
        &self,
        requirements: &[&str],
        window: u64,
    ) -> Result<(Vec<RefusedCall>, u64), Status> {
        let end = self.0.size();
        let mut next = end.saturating_sub(window);
        let scanned = end - next;
        let mut found = Vec::new();
        while next < end {
            let entries = self
                .0
                .read(next, vfed_auditing::MAX_READ)
                .await
                .map_err(|e| Status::internal(format!("reading the audit log: {e}")))?;
            let Some(last) = entries.last() else { break };
            next = last.index + 1;
            for entry in entries {
                let record = vfed_audit::AuditRecord::from_bytes(&entry.record)
                    .map_err(|e| Status::internal(format!("audit entry {}: {e}", entry.index)))?;
                let vfed_audit::Outcome::Refused {
                    reason,
                    requirement,
                } = record.outcome
                else {
                    continue;
                };
                if !requirements.contains(&requirement.as_str()) {
                    continue;
                }
                let unit = record.details["spec"]["unit"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                found.push(RefusedCall {
                    index: record.index,
                    time_unix_ms: record.time_unix_ms,
                    actor: record.actor,
                    action: record.action,
                    target: record.target,
                    requirement,
                    reason,
                    unit,
                });
            }
        }
        Ok((found, scanned))
    }
}
