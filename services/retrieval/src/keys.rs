//! The retrieval workflow's key layout in the node's store.
//!
//! One key per request, `retrieval/<id>`, holding the whole record as JSON;
//! IDs start with the filing time in milliseconds, so key order is filing
//! order. Every state change rewrites that one key in one transaction,
//! compared on its mod revision.

/// Prefix of every retrieval request.
pub const REQUESTS: &str = "retrieval/";

/// Key of a request.
pub fn request(id: &str) -> String {
    format!("{REQUESTS}{id}")
}

/// A new request ID: `<filed unix ms, 13 digits>-<8 random hex digits>`.
pub fn new_id(filed_ms: i64, random: u32) -> String {
    format!("{filed_ms:013}-{random:08x}")
}

/// Whether `id` has the shape [`new_id`] gives.
pub fn is_id(id: &str) -> bool {
    let Some((ms, random)) = id.split_once('-') else {
        return false;
    };
    ms.len() == 13
        && ms.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 8
        && random
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let id = new_id(1_764_280_000_123, 0x3fa2_b1c9);
        assert_eq!(id, "1764280000123-3fa2b1c9");
        assert!(is_id(&id));
        assert_eq!(request(&id), "retrieval/1764280000123-3fa2b1c9");
        for bad in [
            "",
            "1764280000123",
            "1764280000123-3FA2B1C9",
            "1764280000123-3fa2b1c",
            "176428000012-3fa2b1c9",
            "1764280000123-3fa2b1c9/x",
            "../../cat/local/1",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
        assert!(new_id(1, 2) < new_id(2, 1), "key order is filing order");
    }
}
