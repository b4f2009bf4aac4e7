//! How audit entries, checkpoints and children are shown: JSON views and tables.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::Value;
use vfed_audit::{AuditRecord, Checkpoint, Outcome};
use vfed_proto::audit::v1 as pb;

use crate::render::key_values;
use crate::table::Table;
use crate::timefmt;

/// Column headers of an entry listing.
pub const ENTRY_HEADER: [&str; 8] = [
    "INDEX",
    "TIME",
    "ACTOR",
    "ACTION",
    "TARGET",
    "OUTCOME",
    "PURPOSE",
    "DESTINATION",
];

/// One log entry as printed.
#[derive(Debug, Serialize)]
pub struct EntryView {
    /// The entry's index.
    #[serde(skip)]
    pub index: u64,
    /// RFC 3339.
    pub time: String,
    /// The record as logged (index, time_unix_ms, actor, action, ...); a record that does
    /// not parse is `{"index": .., "raw": ..}`.
    #[serde(flatten)]
    pub record: serde_json::Map<String, Value>,
    /// SHA-256(0x00 || record), base64.
    pub leaf_hash: String,
    #[serde(skip)]
    parsed: Option<AuditRecord>,
}

impl EntryView {
    /// From the wire; a record that does not parse is shown raw.
    pub fn from_wire(entry: &pb::Entry) -> Self {
        let parsed = AuditRecord::from_bytes(&entry.record).ok();
        let record = match serde_json::from_slice(&entry.record) {
            Ok(Value::Object(map)) => map,
            _ => {
                let mut map = serde_json::Map::new();
                map.insert("index".into(), entry.index.into());
                map.insert(
                    "raw".into(),
                    String::from_utf8_lossy(&entry.record).into_owned().into(),
                );
                map
            }
        };
        EntryView {
            index: entry.index,
            time: parsed
                .as_ref()
                .and_then(|r| timefmt::rfc3339(r.time_unix_ms))
                .unwrap_or_default(),
            record,
            leaf_hash: B64.encode(&entry.leaf_hash),
            parsed,
        }
    }

    /// The table cells.
    pub fn cells(&self) -> [String; 8] {
        let Some(r) = &self.parsed else {
            let raw = Value::Object(self.record.clone()).to_string();
            return [
                self.index.to_string(),
                "-".into(),
                "-".into(),
                "(unparseable record)".into(),
                raw,
                "-".into(),
                "-".into(),
                "-".into(),
            ];
        };
        let outcome = match &r.outcome {
            Outcome::Allowed => "allowed".to_owned(),
            Outcome::Refused {
                reason,
                requirement,
            } => format!("refused ({requirement}): {reason}"),
        };
        [
            self.index.to_string(),
            dash(&self.time),
            dash(&r.actor),
            dash(&r.action),
            dash(&r.target),
            outcome,
            dash(&r.purpose),
            dash(&r.destination),
        ]
    }
}

/// Entries as an aligned table.
pub fn entries_table(entries: &[EntryView]) -> String {
    if entries.is_empty() {
        return "no entries\n".to_owned();
    }
    let mut t = Table::new(&ENTRY_HEADER);
    for e in entries {
        t.row(e.cells());
    }
    t.render()
}

/// A checkpoint as printed.
#[derive(Debug, Serialize)]
pub struct CheckpointView {
    /// The log's origin (`vfed/<node id>`).
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash, base64.
    pub root: String,
    /// Who signed it (the node, then any countersigners).
    pub signers: Vec<String>,
    /// The signed note, verbatim.
    pub note: String,
}

impl CheckpointView {
    /// From the wire.
    pub fn from_wire(cp: &pb::Checkpoint) -> Self {
        let parsed = Checkpoint::parse(&cp.note).ok();
        CheckpointView {
            origin: parsed
                .as_ref()
                .map(|c| c.origin.clone())
                .unwrap_or_default(),
            size: cp.size,
            root: B64.encode(&cp.root),
            signers: parsed
                .map(|c| c.signatures.into_iter().map(|s| s.name).collect())
                .unwrap_or_default(),
            note: cp.note.clone(),
        }
    }

    /// Key/value lines, then the note.
    pub fn table(&self) -> String {
        let mut out = key_values(&[
            ("Origin", dash(&self.origin)),
            ("Size", self.size.to_string()),
            ("Root", self.root.clone()),
            ("Signed by", dash(&self.signers.join(", "))),
        ]);
        out.push('\n');
        out.push_str(&self.note);
        out
    }
}

/// The children's checkpoints as printed.
#[derive(Debug, Serialize)]
pub struct ChildrenView {
    /// One per child.
    pub children: Vec<ChildView>,
}

/// One child's checkpoint as printed.
#[derive(Debug, Serialize)]
pub struct ChildView {
    /// The child's node code.
    pub child_id: String,
    /// Last countersigned size.
    pub size: u64,
    /// Its root, base64.
    pub root: String,
    /// When it was countersigned.
    pub received: Option<String>,
    /// Raw.
    pub received_unix_ms: i64,
    /// What was detected, if anything (R18.6).
    pub flag: String,
    /// When it was flagged.
    pub flagged: Option<String>,
    /// Raw.
    pub flagged_unix_ms: i64,
    /// The countersigned note (save it for `vfedctl audit verify --checkpoint`).
    pub note: String,
    /// The child's pinned checkpoint key (for `vfedctl audit verify --key`).
    pub verifier_key: String,
    /// Whether the child is configured at this node.
    pub configured: bool,
}

impl ChildrenView {
    /// From the wire.
    pub fn from_wire(children: &[pb::ChildCheckpoint]) -> Self {
        ChildrenView {
            children: children
                .iter()
                .map(|c| ChildView {
                    child_id: c.child_id.clone(),
                    size: c.size,
                    root: B64.encode(&c.root),
                    received: timefmt::rfc3339(c.received_unix_ms),
                    received_unix_ms: c.received_unix_ms,
                    flag: c.flag.clone(),
                    flagged: timefmt::rfc3339(c.flagged_unix_ms),
                    flagged_unix_ms: c.flagged_unix_ms,
                    note: c.note.clone(),
                    verifier_key: c.verifier_key.clone(),
                    configured: c.configured,
                })
                .collect(),
        }
    }

    /// One row per child.
    pub fn table(&self) -> String {
        if self.children.is_empty() {
            return "no children\n".to_owned();
        }
        let now = timefmt::now_ms();
        let mut t = Table::new(&["CHILD", "SIZE", "ROOT", "COUNTERSIGNED", "FLAG"]);
        for c in &self.children {
            let flag = if c.flag.is_empty() {
                "-".to_owned()
            } else {
                format!(
                    "FLAGGED {}: {} (R18.6)",
                    timefmt::ago(c.flagged_unix_ms, now),
                    c.flag
                )
            };
            let id = if c.configured {
                c.child_id.clone()
            } else {
                format!("{} (not configured)", c.child_id)
            };
            t.row([
                id,
                c.size.to_string(),
                if c.root.is_empty() {
                    "-".to_owned()
                } else {
                    c.root.clone()
                },
                timefmt::ago(c.received_unix_ms, now),
                flag,
            ]);
        }
        t.render()
    }
}

fn dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(record: &AuditRecord) -> pb::Entry {
        let bytes = record.to_canonical_bytes().unwrap();
        pb::Entry {
            index: record.index,
            leaf_hash: vfed_audit::merkle::hash_leaf(&bytes).to_vec(),
            record: bytes,
        }
    }

    #[test]
    fn entries_print_as_rows_and_as_one_json_object_each() {
        let mut r = AuditRecord::new("user/zhuoma", "live.view.start", "54050200001320000001")
            .with_purpose("incident 42")
            .refused("no grant for department traffic", "R13");
        r.index = 7;
        r.time_unix_ms = 1_764_280_000_000;
        let view = EntryView::from_wire(&entry(&r));
        let cells = view.cells();
        assert_eq!(cells[0], "7");
        assert_eq!(cells[1], "2025-11-27T21:46:40Z");
        assert_eq!(cells[5], "refused (R13): no grant for department traffic");
        assert_eq!(cells[7], "-");
        let json = serde_json::to_string(&view).unwrap();
        assert_eq!(json.matches("\"index\"").count(), 1, "{json}");
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["actor"], "user/zhuoma");
        assert_eq!(back["outcome"]["requirement"], "R13");
        assert_eq!(back["time"], "2025-11-27T21:46:40Z");

        // An unparseable record is shown raw, still one JSON object.
        let raw = pb::Entry {
            index: 3,
            record: b"not json".to_vec(),
            leaf_hash: Vec::new(),
        };
        let view = EntryView::from_wire(&raw);
        assert_eq!(view.cells()[3], "(unparseable record)");
        let back: Value = serde_json::to_value(&view).unwrap();
        assert_eq!(back["raw"], "not json");
        assert_eq!(back["index"], 3);
    }
}
