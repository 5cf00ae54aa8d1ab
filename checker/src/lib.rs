//! Health checks for tandem: probes (TCP, HTTP, HTTPS, DNS, SMTP, UDP, ICMP, script, file) and
//! the sans-I/O retry / rise / fall / quorum logic.
//!
//! Nothing is implemented yet: this crate is built by the health-checking issue.
