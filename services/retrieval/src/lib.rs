//! vfed-retrieval (being built).
