//! vfed-auditing (being built).
