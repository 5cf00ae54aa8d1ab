//! The sans-I/O instance and sync-group state machines: see the crate documentation.
