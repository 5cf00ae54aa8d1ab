//! The lab for tandem: network-namespace and VM harnesses and the end-to-end tests.
//!
//! [`netns`] builds throwaway network namespaces on the host kernel: hosts joined by bridged
//! segments, processes started inside them, everything removed when the [`netns::Lab`] is
//! dropped (also when a test panics). Nothing here touches the machine's own namespace.

pub mod keepalived;
pub mod netns;
pub mod pair;
pub mod vm;
