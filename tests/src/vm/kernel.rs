//! Finding the kernel to boot and the modules it needs.

use super::VmError;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Modules the VM's init loads before it can reach the host: virtio PCI and the 9p file system.
pub(crate) const BOOT_MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "9pnet",
    "9pnet_virtio",
    "netfs",
    "fscache",
    "9p",
];

/// Modules every VM loads: IPVS with every scheduler and the SIP persistence engine, and what
/// the lab inside needs (veth, bridges, tunnels). A module this kernel lacks is skipped, except
/// `ip_vs` and `veth`, whose absence is an error.
pub const DEFAULT_MODULES: &[&str] = &[
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_dh",
    "ip_vs_sh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_fo",
    "ip_vs_ovf",
    "ip_vs_mh",
    "ip_vs_twos",
    "ip_vs_pe_sip",
    "veth",
    "bridge",
    "ipip",
    "gre",
    "ip_gre",
    "fou",
];

/// Default modules whose absence makes the VM useless.
pub(crate) const REQUIRED_DEFAULT_MODULES: &[&str] = &["ip_vs", "veth"];

/// A kernel image and the version whose modules (`/lib/modules/VERSION`) go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// The image (`/boot/vmlinuz-VERSION`).
    pub image: PathBuf,
    /// Its version, as `uname -r` prints it inside the VM.
    pub version: String,
}

/// Compares version strings piecewise: runs of digits as numbers, everything else as text.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    fn pieces(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            let boundary =
                i == bytes.len() || bytes.get(i).map(u8::is_ascii_digit) != bytes.get(i - 1).map(u8::is_ascii_digit);
            if boundary {
                let piece = s.get(start..i).unwrap_or("");
                out.push((piece.bytes().all(|c| c.is_ascii_digit()), piece));
                start = i;
            }
        }
        out
    }
    let (pa, pb) = (pieces(a), pieces(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    pa.len().cmp(&pb.len())
}

/// The kernel at `image`; its version comes from the name (`vmlinuz-VERSION`) unless given.
pub(crate) fn kernel_at(image: &Path, version: Option<&str>) -> Result<Kernel, VmError> {
    let version = match version {
        Some(v) => v.to_string(),
        None => image
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("vmlinuz-"))
            .map(str::to_string)
            .ok_or_else(|| VmError::KernelMissing {
                detail: format!("cannot tell the version of {} (expected vmlinuz-VERSION)", image.display()),
            })?,
    };
    if let Err(e) = std::fs::File::open(image) {
        return Err(VmError::KernelMissing { detail: format!("{}: {e}", image.display()) });
    }
    let modules = Path::new("/lib/modules").join(&version);
    if !modules.join("modules.dep").is_file() {
        return Err(VmError::KernelMissing {
            detail: format!("{} has no modules ({} missing)", image.display(), modules.join("modules.dep").display()),
        });
    }
    Ok(Kernel { image: image.to_path_buf(), version })
}

/// The newest `/boot/vmlinuz-*` that has its modules installed.
pub fn newest_kernel() -> Result<Kernel, VmError> {
    let entries = std::fs::read_dir("/boot").map_err(|e| VmError::KernelMissing { detail: format!("/boot: {e}") })?;
    let mut versions: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("vmlinuz-")).map(str::to_string))
        .collect();
    versions.sort_by(|a, b| compare_versions(b, a));
    let mut reasons = Vec::new();
    for v in &versions {
        match kernel_at(&Path::new("/boot").join(format!("vmlinuz-{v}")), Some(v)) {
            Ok(k) => return Ok(k),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    Err(VmError::KernelMissing {
        detail: if reasons.is_empty() {
            "no /boot/vmlinuz-* (install linux-image-amd64)".to_string()
        } else {
            format!("no usable /boot/vmlinuz-*: {}", reasons.join("; "))
        },
    })
}

/// One module file to load, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleFile {
    /// The file under /lib/modules.
    pub path: PathBuf,
}

/// The result of resolving the requested modules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    /// Files to insmod, dependencies first, each once.
    pub files: Vec<ModuleFile>,
    /// Requested modules this kernel does not have (optional ones only).
    pub missing: Vec<String>,
}

/// Resolves `(module, required)` pairs with `modprobe -S VERSION --show-depends`.
pub(crate) fn resolve_modules(version: &str, modules: &[(String, bool)]) -> Result<Resolved, VmError> {
    let mut out = Resolved::default();
    for (module, required) in modules {
        let result = Command::new("modprobe")
            .args(["-S", version, "--show-depends", module])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| VmError::Tool { tool: "modprobe".into(), detail: e.to_string() })?;
        if !result.status.success() {
            if *required {
                return Err(VmError::Module {
                    module: module.clone(),
                    detail: String::from_utf8_lossy(&result.stderr).trim().to_string(),
                });
            }
            out.missing.push(module.clone());
            continue;
        }
        for line in String::from_utf8_lossy(&result.stdout).lines() {
            let mut words = line.split_whitespace();
            // "builtin NAME" lines: part of the kernel, nothing to load.
            if let (Some("insmod"), Some(path)) = (words.next(), words.next()) {
                let file = ModuleFile { path: PathBuf::from(path) };
                if !out.files.contains(&file) {
                    out.files.push(file);
                }
            }
        }
    }
    Ok(out)
}

/// The bytes of a module file, decompressed when it is `.ko.xz`, `.ko.zst` or `.ko.gz` (busybox
/// insmod wants plain ELF).
pub(crate) fn module_bytes(path: &Path) -> Result<Vec<u8>, VmError> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        Some("xz")
    } else if name.ends_with(".zst") {
        Some("zstd")
    } else if name.ends_with(".gz") {
        Some("gzip")
    } else {
        None
    };
    match tool {
        None => std::fs::read(path).map_err(|e| VmError::io(format!("reading {}", path.display()), e)),
        Some(tool) => {
            let out = Command::new(tool)
                .arg("-dc")
                .arg(path)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| VmError::Tool { tool: tool.into(), detail: e.to_string() })?;
            if out.status.success() {
                Ok(out.stdout)
            } else {
                Err(VmError::Tool {
                    tool: tool.into(),
                    detail: format!("{}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim()),
                })
            }
        }
    }
}

/// The name a module file gets in the initramfs (`ip_vs.ko` for `.../ip_vs.ko.xz`).
pub(crate) fn module_file_name(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for ext in [".xz", ".zst", ".gz"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("6.1.0-56-amd64", "6.1.0-9-amd64"), Ordering::Greater);
        assert_eq!(compare_versions("6.10.0-1-amd64", "6.9.0-1-amd64"), Ordering::Greater);
        assert_eq!(compare_versions("6.1.0-56-amd64", "6.1.0-56-amd64"), Ordering::Equal);
        assert_eq!(compare_versions("5.10.0-30-amd64", "6.1.0-1-amd64"), Ordering::Less);
    }

    #[test]
    fn module_names_lose_compression_suffixes() {
        assert_eq!(module_file_name(Path::new("/lib/modules/x/ip_vs.ko.xz")), "ip_vs.ko");
        assert_eq!(module_file_name(Path::new("/lib/modules/x/ip_vs.ko")), "ip_vs.ko");
    }
}
