//! vfed-pki
