//! The audit log over real nodes (R14.5, R18.6): a change and its record in one commit,
//! logged exactly once across a kill; tail and proofs over gRPC; a child's checkpoints
//! countersigned by its parent; equivocation and a rewritten (forked) child log flagged at
//! the parent.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tonic::transport::Channel;
use vfed_audit::merkle::{verify_consistency, verify_inclusion};
use vfed_audit::{AuditLog, AuditRecord, Checkpoint, Hash, MerkleTree, PublicKey, SigningKey};
use vfed_pki::{Identity, ServerExpectation};
use vfed_proto::audit::v1 as pb;
use vfed_proto::audit::v1::audit_client::AuditClient;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually, register_request};

const WAIT: Duration = Duration::from_secs(30);

fn audit(channel: Channel) -> AuditClient<Channel> {
    AuditClient::new(channel)
}

/// Every entry of the log behind `channel` (Tail from 0), parsed.
async fn all_records(channel: &Channel) -> anyhow::Result<Vec<AuditRecord>> {
    let mut stream = audit(channel.clone())
        .tail(pb::TailRequest {
            limit: 0,
            from_index: Some(0),
            follow: false,
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(entry) = stream.message().await? {
        let record = AuditRecord::from_bytes(&entry.record)?;
        anyhow::ensure!(
            record.index == entry.index,
            "entry {} holds {}",
            entry.index,
            record.index
        );
        out.push(record);
    }
    Ok(out)
}

/// The parent's view of `child`.
async fn child_view(parent: &Channel, child: &str) -> anyhow::Result<pb::ChildCheckpoint> {
    audit(parent.clone())
        .list_child_checkpoints(pb::ListChildCheckpointsRequest {})
        .await?
        .into_inner()
        .children
        .into_iter()
        .find(|c| c.child_id == child)
        .ok_or_else(|| anyhow::anyhow!("{child} not listed"))
}

/// A city with Naidong under it; Naidong ships checkpoints every 200 ms.
async fn city_and_county(pki: &TestPki) -> anyhow::Result<(TestNode, TestNode)> {
    let city = TestNode::start(pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let mut county = TestNode::start(pki, NodeOptions::new(NAIDONG, "county").under(&city)).await?;
    county.config.audit.checkpoint_interval = Duration::from_millis(200);
    county.restart().await?;
    Ok((city, county))
}

fn trail(node: &TestNode) -> vfed_auditing::AuditTrail {
    node.running.as_ref().unwrap().audit().clone()
}

/// Appends `n` records at `node` directly and waits until its parent countersigned a
/// checkpoint covering them; returns the parent's view.
async fn grow_and_wait(
    pki: &TestPki,
    parent: &TestNode,
    child: &TestNode,
    n: u64,
) -> anyhow::Result<pb::ChildCheckpoint> {
    let trail = trail(child);
    for i in 0..n {
        trail
            .record(AuditRecord::new(
                "user/zhuoma",
                "live.view.start",
                format!("cam-{i}"),
            ))
            .await?;
    }
    let size = trail.size();
    let channel = parent.channel(pki)?;
    eventually(
        "the parent countersigned the child's checkpoint",
        WAIT,
        || async {
            let view = child_view(&channel, child.id()).await?;
            Ok((view.size >= size).then_some(view))
        },
    )
    .await
}

/// A gRPC channel to `parent` holding `child`'s own node certificate.
fn as_child(pki: &TestPki, child: &str, parent: &TestNode) -> anyhow::Result<Channel> {
    let material = pki.material(&Identity::node(child)?)?;
    let config = vfed_pki::client_config(
        &material,
        ServerExpectation::Exactly(Identity::node(parent.id())?),
        vfed_pki::GRPC_ALPN,
    )?;
    Ok(vfed_pki::channel(
        &format!("https://{}", parent.grpc_addr),
        config,
    )?)
}

fn is_registration_of(record: &AuditRecord, device: &str) -> bool {
    record.action == "device.register"
        && (record.target.contains(device) || record.details.to_string().contains(device))
}

fn child_key(child: &TestNode) -> anyhow::Result<SigningKey> {
    let config = &child.config;
    Ok(SigningKey::load(&config.audit.key_for(&config.store))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_and_its_record_commit_together_and_survive_a_kill() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let mut county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let device = naidong_camera(1);
    let registered = RegistryClient::new(county.channel(&pki)?)
        .register_device(register_request(&device, true))
        .await?
        .into_inner();
    // Crash right after the answer: the record is in the store with the change, whether or
    // not the pump got to it.
    county.kill().await;
    county.restart().await?;
    let channel = county.channel(&pki)?;
    let records = eventually("the registration in the log", WAIT, || async {
        let records = all_records(&channel).await?;
        let found: Vec<AuditRecord> = records
            .into_iter()
            .filter(|r| is_registration_of(r, &device))
            .collect();
        Ok((!found.is_empty()).then_some(found))
    })
    .await?;
    assert_eq!(records.len(), 1, "logged exactly once: {records:?}");
    let record = &records[0];
    assert_eq!(
        record.details["store_commit"]["revision"], registered.revision,
        "the record was committed in the change's own revision: {record:?}"
    );
    assert!(record.actor.ends_with("vfed-test"), "{record:?}");
    // Nothing is left pending, and a second restart adds nothing.
    let store = county.store()?;
    eventually("no pending records", WAIT, || async {
        let page = store.list(b"audit/pending/", None, 0).await?;
        Ok(page.kvs.is_empty().then_some(()))
    })
    .await?;
    county.restart().await?;
    let channel = county.channel(&pki)?;
    let again = all_records(&channel).await?;
    let count = again
        .iter()
        .filter(|r| is_registration_of(r, &device))
        .count();
    assert_eq!(count, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_checkpoint_and_proofs_verify_over_grpc() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let trail = trail(&county);
    let key = trail.public_key();
    let mut client = audit(county.channel(&pki)?);

    // A follower started before the records sees each of them.
    let mut follow = client
        .tail(pb::TailRequest {
            limit: 1,
            from_index: None,
            follow: true,
        })
        .await?
        .into_inner();
    for i in 0..30 {
        trail
            .record(
                AuditRecord::new("user/a", "live.view.start", format!("cam-{i}"))
                    .with_purpose("duty"),
            )
            .await?;
    }
    let mut seen = Vec::new();
    while !seen.iter().any(|t: &String| t == "cam-29") {
        let entry = tokio::time::timeout(WAIT, follow.message())
            .await??
            .unwrap();
        let record = AuditRecord::from_bytes(&entry.record)?;
        assert_eq!(
            entry.leaf_hash,
            vfed_audit::merkle::hash_leaf(&entry.record).to_vec()
        );
        seen.push(record.target);
    }
    let cams: Vec<&String> = seen.iter().filter(|t| t.starts_with("cam-")).collect();
    assert_eq!(cams.len(), 30, "every new entry once: {seen:?}");

    // The last 5, in order (the Tail call itself is audited too, so the size moves).
    let before = trail.size();
    let mut last = client
        .tail(pb::TailRequest {
            limit: 5,
            from_index: None,
            follow: false,
        })
        .await?
        .into_inner();
    let mut indices = Vec::new();
    while let Some(entry) = last.message().await? {
        indices.push(entry.index);
    }
    assert_eq!(indices.len(), 5, "{indices:?}");
    assert!(indices.windows(2).all(|w| w[1] == w[0] + 1), "{indices:?}");
    assert!(
        indices[4] + 1 >= before && indices[4] < trail.size(),
        "{indices:?}"
    );

    // The checkpoint is signed by the node's key; proofs verify against it.
    let cp = client
        .get_checkpoint(pb::GetCheckpointRequest {})
        .await?
        .into_inner();
    let note = Checkpoint::parse(&cp.note)?;
    note.verify(&key)?;
    assert_eq!(note.origin, format!("vfed/{NAIDONG}"));
    let proof = client
        .get_inclusion_proof(pb::InclusionProofRequest {
            index: 3,
            tree_size: note.size,
        })
        .await?
        .into_inner();
    let hashes = to_hashes(&proof.hashes);
    verify_inclusion(
        &to_hash(&proof.leaf_hash),
        3,
        note.size,
        &hashes,
        &note.root,
    )?;
    let old = client
        .get_inclusion_proof(pb::InclusionProofRequest {
            index: 0,
            tree_size: 7,
        })
        .await?
        .into_inner();
    let consistency = client
        .get_consistency_proof(pb::ConsistencyProofRequest {
            old_size: 7,
            new_size: note.size,
        })
        .await?
        .into_inner();
    verify_consistency(
        7,
        note.size,
        &to_hash(&old.root),
        &note.root,
        &to_hashes(&consistency.hashes),
    )?;

    // Bad requests name their field.
    let err = client
        .get_inclusion_proof(pb::InclusionProofRequest {
            index: note.size,
            tree_size: note.size,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().starts_with("index:"), "{}", err.message());
    let err = client
        .get_consistency_proof(pb::ConsistencyProofRequest {
            old_size: 1,
            new_size: note.size + 1000,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::OutOfRange);
    assert!(err.message().starts_with("new_size:"), "{}", err.message());
    let err = client
        .tail(pb::TailRequest {
            limit: 100_000,
            from_index: None,
            follow: false,
        })
        .await
        .unwrap_err();
    assert!(err.message().starts_with("limit:"), "{}", err.message());

    // Only configured children may submit checkpoints.
    let err = client
        .submit_checkpoint(pb::SubmitCheckpointRequest {
            note: cp.note.clone(),
            previous_size: 0,
            consistency_proof: Vec::new(),
            verifier_key: key.to_string(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), tonic::Code::PermissionDenied),
        "{err:?}"
    );
    Ok(())
}

fn to_hash(bytes: &[u8]) -> Hash {
    Hash::try_from(bytes).unwrap()
}

fn to_hashes(list: &[Vec<u8>]) -> Vec<Hash> {
    list.iter().map(|h| to_hash(h)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parent_countersigns_and_flags_equivocation() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let (city, county) = city_and_county(&pki).await?;
    let view = grow_and_wait(&pki, &city, &county, 5).await?;
    assert!(view.flag.is_empty(), "{view:?}");
    assert!(view.configured);

    // The countersigned note verifies with both keys, at the parent and at the child.
    let city_key = trail(&city).public_key();
    let county_key: PublicKey = view.verifier_key.parse()?;
    assert_eq!(county_key, trail(&county).public_key());
    let signed = Checkpoint::parse(&view.note)?;
    signed.verify(&county_key)?;
    signed.verify(&city_key)?;
    let stored = eventually("countersigned note at the child", WAIT, || async {
        Ok(vfed_auditing::read_countersigned(trail(&county).dir())?
            .filter(|cp| cp.size >= view.size))
    })
    .await?;
    stored.verify(&city_key)?;

    // Another checkpoint of the same size, signed with the child's own key, sent with the
    // child's own certificate: equivocation.
    let key = child_key(&county)?;
    let mut forked = MerkleTree::new();
    for i in 0..view.size {
        forked.push(format!("rewritten {i}").as_bytes());
    }
    let forged = Checkpoint::sign(key.name(), view.size, forked.root(), &key)?;
    let err = audit(as_child(&pki, NAIDONG, &city)?)
        .submit_checkpoint(pb::SubmitCheckpointRequest {
            note: forged.to_note(),
            previous_size: view.size,
            consistency_proof: Vec::new(),
            verifier_key: key.public_key().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("R18.6"), "{}", err.message());
    assert!(err.message().contains("equivocation"), "{}", err.message());

    let channel = city.channel(&pki)?;
    let flagged = child_view(&channel, NAIDONG).await?;
    assert!(flagged.flag.starts_with("equivocation"), "{flagged:?}");
    assert!(flagged.flagged_unix_ms > 0);
    // The parent's own log says so.
    let record = eventually("the flag in the parent's log", WAIT, || async {
        let records = all_records(&channel).await?;
        Ok(records
            .into_iter()
            .find(|r| r.action == "audit.child.flagged"))
    })
    .await?;
    assert_eq!(record.target, format!("node/{NAIDONG}"));
    assert!(
        matches!(&record.outcome, vfed_audit::Outcome::Refused { requirement, .. } if requirement == "R18.6"),
        "{record:?}"
    );
    // And so does its metrics page.
    let metrics = http_get(city.http_addr(), "/metrics").await?;
    assert!(
        metrics.contains(&format!(
            "vfed_audit_child_flagged{{node=\"{CITY}\",child=\"{NAIDONG}\"}} 1"
        )) || metrics.contains(&format!(
            "vfed_audit_child_flagged{{child=\"{NAIDONG}\",node=\"{CITY}\"}} 1"
        )),
        "flag metric missing:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("vfed_audit"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The honest child keeps being witnessed; the flag stays.
    let later = grow_and_wait(&pki, &city, &county, 3).await?;
    assert!(later.size > view.size);
    assert!(later.flag.starts_with("equivocation"), "{later:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_child_log_is_flagged_at_the_parent() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let (city, mut county) = city_and_county(&pki).await?;
    let view = grow_and_wait(&pki, &city, &county, 5).await?;
    assert!(view.flag.is_empty(), "{view:?}");

    // The county's administrator, who holds the key, rewrites the log from scratch with more
    // entries than before and restarts the node.
    county.stop().await;
    let dir = county.config.audit.dir_for(&county.config.store);
    std::fs::remove_file(dir.join(vfed_audit::LOG_FILE))?;
    std::fs::remove_file(dir.join(vfed_audit::CHECKPOINTS_FILE))?;
    let key = child_key(&county)?;
    {
        let log = AuditLog::open(&dir, key)?;
        for i in 0..view.size + 3 {
            log.append(AuditRecord::new(
                "user/nobody",
                "nothing.happened",
                format!("{i}"),
            ))
            .await?;
        }
        log.close().await?;
    }
    county.restart().await?;

    let channel = city.channel(&pki)?;
    let flagged = eventually("the rewrite flagged at the parent", WAIT, || async {
        let view = child_view(&channel, NAIDONG).await?;
        Ok((!view.flag.is_empty()).then_some(view))
    })
    .await?;
    assert!(flagged.flag.starts_with("inconsistent"), "{flagged:?}");
    // The parent still holds the last honest checkpoint.
    assert_eq!(flagged.size, view.size);
    assert_eq!(flagged.root, view.root);
    Ok(())
}
