//! Codecs: see the crate documentation.
