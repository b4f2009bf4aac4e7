//! vfed-telemetry
