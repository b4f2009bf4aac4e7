//! Generated gRPC types and services of vfed.
//!
//! Prost types stay at the edge: services convert them to domain types in one
//! module each (`convert.rs`).
#![allow(missing_docs, clippy::all, clippy::pedantic)]

pub mod bounds;
pub mod codec;

/// Registry API (devices, catalog, filings, liveness).
pub mod registry {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.registry.v1");
    }
}

/// Node-to-node federation and node information.
pub mod federation {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.federation.v1");
    }
}

/// Relay control messages and the stream API.
pub mod relay {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.relay.v1");
    }
}

/// Accounts, roles and login.
pub mod auth {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.auth.v1");
    }
}

/// Sharing feeds with departments under grants (R13).
pub mod sharing {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.sharing.v1");
    }
}

/// The tamper-evident audit log.
pub mod audit {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.audit.v1");
    }
}

/// Release of recorded video under the two-officer rule.
pub mod retrieval {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.retrieval.v1");
    }
}

/// Continuous recording, spans and gaps, archive status (R14.6).
pub mod archive {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.archive.v1");
    }
}

/// GB/T 28181 device access: discovered channels and their adoption.
pub mod gb28181 {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.gb28181.v1");
    }
}

/// The encoded file descriptor set of every vfed proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("vfed_descriptor");

/// Violations per unit for the police (R24).
pub mod violations {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("vfed.violations.v1");
    }
}
