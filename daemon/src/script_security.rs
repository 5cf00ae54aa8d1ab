//! `enable_script_security`: a script that runs as root must not be replaceable by anyone
//! else, as keepalived checks it (lib/notify.c, check_script_secure and check_security).
//!
//! A script needs that protection when it runs as uid 0 or gid 0, or is set-uid / set-gid
//! root. Then every part of its path, as written and as resolved, must be owned by root, and
//! no directory without the sticky bit, nor the file, may be writable by a group other than
//! root's or by everyone. A script that fails this, or cannot be found, or is not executable
//! by who runs it, is disabled when `enable_script_security` is set: a tracked vrrp_script is
//! no longer tracked, a MISC_CHECK is removed, a notify script is not run (keepalived frees
//! them the same way). Without the keyword, the same findings are warnings.
//!
//! [`apply`] does this to the configuration once it is read, at start and at each reload, so
//! that the rest of the daemon only ever sees scripts it may run.

use crate::script::{Credentials, Script};
use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tandem_conf::{Check, Config};

/// Why a script cannot be trusted or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A part of its path others than root could change.
    Unsafe(String),
    /// It cannot be found (or its path cannot be followed).
    NotFound(String),
    /// Who runs it may not execute it.
    NotExecutable(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unsafe(why) => write!(f, "unsafe permissions: {why}"),
            Problem::NotFound(why) => write!(f, "not found: {why}"),
            Problem::NotExecutable(why) => write!(f, "not executable: {why}"),
        }
    }
}

/// One script judged, with where the configuration names it.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Where it is configured (`vrrp_script chk`, `notify_master of vrrp_instance VI_1`...).
    pub what: String,
    /// The command line.
    pub command: String,
    /// What is wrong.
    pub problem: Problem,
    /// Whether it was disabled (with `enable_script_security`) or only said.
    pub disabled: bool,
}

/// The default search path when the daemon has none (glibc's _PATH_DEFPATH).
const DEFAULT_PATH: &str = "/usr/bin:/bin";

/// Judges one command line run as `cred` (None: the daemon's own user).
pub fn inspect(command: &str, cred: Option<Credentials>) -> Option<Problem> {
    let script = Script::parse(command).ok()?;
    let program = script.argv().first()?.clone();
    // `</path` asks the shell whether a file opens; nothing of the file is run.
    if program.starts_with('<') {
        return None;
    }
    let path = if program.contains('/') {
        PathBuf::from(&program)
    } else {
        let search = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
        match search.split(':').map(|d| Path::new(d).join(&program)).find(|p| p.is_file()) {
            Some(p) => p,
            None => return Some(Problem::NotFound(format!("`{program}` is in no directory of PATH"))),
        }
    };
    let resolved = match std::fs::canonicalize(&path) {
        Ok(p) => p,
        Err(e) => return Some(Problem::NotFound(format!("{}: {e}", path.display()))),
    };
    let meta = match std::fs::metadata(&resolved) {
        Ok(m) => m,
        Err(e) => return Some(Problem::NotFound(format!("{}: {e}", resolved.display()))),
    };
    let (uid, gid) =
        cred.map_or_else(|| (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw()), |c| (c.uid, c.gid));
    if !executable_by(&meta, uid, gid) {
        return Some(Problem::NotExecutable(format!("{} for uid {uid} gid {gid}", resolved.display())));
    }
    let mode = meta.permissions().mode();
    let setid_root = (meta.uid() == 0 && mode & 0o4100 == 0o4100) || (meta.gid() == 0 && mode & 0o2010 == 0o2010);
    if uid != 0 && gid != 0 && !setid_root {
        return None;
    }
    // As keepalived: the path with its folders resolved (/bin may be a link to /usr/bin), and,
    // when the file itself is a link to another name, the file it names too.
    let named = path
        .parent()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .zip(path.file_name())
        .map(|(d, f)| d.join(f))
        .unwrap_or_else(|| resolved.clone());
    unsafe_part(&named).or_else(|| if resolved == named { None } else { unsafe_part(&resolved) }).map(Problem::Unsafe)
}

/// Whether `uid`/`gid` may execute a file of this mode and owner (root: any x bit).
fn executable_by(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    let mode = meta.permissions().mode();
    if !meta.is_file() {
        return false;
    }
    if uid == 0 {
        return mode & 0o111 != 0;
    }
    if meta.uid() == uid {
        mode & 0o100 != 0
    } else if meta.gid() == gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// The first part of `path` (from `/` down, symbolic links not followed: only the last part
/// may be one) that someone other than root could change, and why.
fn unsafe_part(path: &Path) -> Option<String> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let parts: Vec<&Path> = absolute.ancestors().collect();
    for (i, part) in parts.iter().rev().enumerate() {
        let last = i + 1 == parts.len();
        let meta = match std::fs::symlink_metadata(part) {
            Ok(m) => m,
            Err(e) => return Some(format!("{}: {e}", part.display())),
        };
        let mode = meta.permissions().mode();
        let kind_ok = if last { meta.is_file() || meta.file_type().is_symlink() } else { meta.is_dir() };
        if !kind_ok {
            return Some(format!("{} is not a {}", part.display(), if last { "file" } else { "directory" }));
        }
        if meta.uid() != 0 {
            return Some(format!("{} is owned by uid {}, not root", part.display(), meta.uid()));
        }
        let checked = (meta.is_dir() && mode & 0o1000 == 0) || meta.is_file();
        if checked && meta.gid() != 0 && mode & 0o020 != 0 {
            return Some(format!("{} is writable by group {}", part.display(), meta.gid()));
        }
        if checked && mode & 0o002 != 0 {
            return Some(format!("{} is writable by everyone", part.display()));
        }
    }
    None
}

/// Judges every script of `config` and, when `enable_script_security` is set, takes out the
/// ones that fail. Returns what was found, for the log (and for `tandem check`).
pub fn apply(config: &mut Config) -> Vec<Finding> {
    let disable = config.global_defs.enable_script_security;
    let default_user =
        config.global_defs.script_user.as_ref().and_then(|u| Credentials::lookup(&u.user, u.group.as_deref()).ok());
    let mut found = Vec::new();
    // One judgement per (command line, user): 10,000 real servers sharing one MISC_CHECK
    // script walk its path once, not 10,000 times.
    let mut judged: HashMap<(String, Option<Credentials>), Option<Problem>> = HashMap::new();
    let mut judge = |what: String, command: &str, cred: Option<Credentials>| -> bool {
        let key = (command.to_string(), cred);
        let verdict = judged.entry(key).or_insert_with(|| inspect(command, cred)).clone();
        match verdict {
            None => false,
            Some(problem) => {
                found.push(Finding { what, command: command.to_string(), problem, disabled: disable });
                disable
            }
        }
    };
    // vrrp_script: a refused one is no longer tracked by anyone.
    let mut refused_scripts = Vec::new();
    for s in &config.vrrp_scripts {
        let cred = s.user.as_ref().and_then(|u| Credentials::lookup(&u.user, u.group.as_deref()).ok()).or(default_user);
        if judge(format!("vrrp_script {}", s.name), &s.script, cred) {
            refused_scripts.push(s.name.clone());
        }
    }
    config.vrrp_scripts.retain(|s| !refused_scripts.contains(&s.name));
    for i in &mut config.vrrp_instances {
        i.track_script.retain(|t| !refused_scripts.contains(&t.name));
        notify(&mut i.notify, &format!("vrrp_instance {}", i.name), &mut judge);
        if let Some(cmd) = i.notify_master_rx_lower_pri.clone() {
            if judge(format!("notify_master_rx_lower_pri of vrrp_instance {}", i.name), &cmd, None) {
                i.notify_master_rx_lower_pri = None;
            }
        }
    }
    for g in &mut config.vrrp_sync_groups {
        g.track_script.retain(|t| !refused_scripts.contains(&t.name));
        notify(&mut g.notify, &format!("vrrp_sync_group {}", g.name), &mut judge);
    }
    let g = &mut config.global_defs;
    for (slot, key) in [
        (&mut g.notify_fifo_script, "notify_fifo_script"),
        (&mut g.vrrp_notify_fifo_script, "vrrp_notify_fifo_script"),
        (&mut g.lvs_notify_fifo_script, "lvs_notify_fifo_script"),
    ] {
        if let Some(cmd) = slot.clone() {
            if judge(key.to_string(), &cmd, None) {
                *slot = None;
            }
        }
    }
    // A user looked up once, however many checks name it.
    let mut users: HashMap<(String, Option<String>), Option<Credentials>> = HashMap::new();
    for vs in &mut config.virtual_servers {
        let name = crate::health::name(vs);
        for (slot, key) in [(&mut vs.quorum_up, "quorum_up"), (&mut vs.quorum_down, "quorum_down")] {
            if let Some(cmd) = slot.clone() {
                if judge(format!("{key} of virtual_server {name}"), &cmd, default_user) {
                    *slot = None;
                }
            }
        }
        for rs in &mut vs.real_servers {
            let here = format!("real_server {} of virtual_server {name}", rs.ip);
            for (slot, key) in [(&mut rs.notify_up, "notify_up"), (&mut rs.notify_down, "notify_down")] {
                if let Some(cmd) = slot.clone() {
                    if judge(format!("{key} of {here}"), &cmd, default_user) {
                        *slot = None;
                    }
                }
            }
            rs.checks.retain(|c| match c {
                Check::Misc(m) => {
                    let cred = m
                        .user
                        .as_ref()
                        .and_then(|u| {
                            let key = (u.user.clone(), u.group.clone());
                            *users.entry(key).or_insert_with(|| Credentials::lookup(&u.user, u.group.as_deref()).ok())
                        })
                        .or(default_user);
                    !judge(format!("MISC_CHECK of {here}"), &m.misc_path, cred)
                }
                _ => true,
            });
        }
    }
    found
}

/// The notify scripts of an instance or a sync group.
fn notify(n: &mut tandem_conf::Notify, owner: &str, judge: &mut impl FnMut(String, &str, Option<Credentials>) -> bool) {
    for (slot, key) in [
        (&mut n.master, "notify_master"),
        (&mut n.backup, "notify_backup"),
        (&mut n.fault, "notify_fault"),
        (&mut n.stop, "notify_stop"),
        (&mut n.any, "notify"),
    ] {
        if let Some(cmd) = slot.clone() {
            if judge(format!("{key} of {owner}"), &cmd, None) {
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A root-owned folder under /run (the tests run as root; /tmp is world-writable with the
    /// sticky bit, which is allowed) with a script in it.
    fn folder(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tandem-scriptsec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap_or_default();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap_or_default();
        d
    }

    fn script(dir: &Path, mode: u32) -> PathBuf {
        let p = dir.join("check.sh");
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap_or_default();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap_or_default();
        p
    }

    #[test]
    fn a_root_script_others_can_write_is_unsafe_and_a_tidy_one_is_not() {
        if !nix::unistd::geteuid().is_root() {
            return; // ownership checks need root's files
        }
        let d = folder("perm");
        let p = script(&d, 0o755);
        assert_eq!(inspect(p.to_str().unwrap_or_default(), None), None);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o757)).unwrap_or_default();
        assert!(
            matches!(inspect(p.to_str().unwrap_or_default(), None), Some(Problem::Unsafe(w)) if w.contains("writable by everyone")),
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap_or_default();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap_or_default();
        assert!(matches!(inspect(p.to_str().unwrap_or_default(), None), Some(Problem::Unsafe(_))));
        // Not root's to run as: nothing to protect.
        let nobody = Credentials { uid: 65534, gid: 65534 };
        assert_eq!(inspect(p.to_str().unwrap_or_default(), Some(nobody)), None);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_and_unexecutable_scripts_are_found() {
        assert!(matches!(inspect("/nonexistent/check.sh", None), Some(Problem::NotFound(_))));
        assert!(matches!(inspect("no-such-program-anywhere", None), Some(Problem::NotFound(_))));
        let d = folder("exec");
        let p = script(&d, 0o644);
        assert!(matches!(inspect(p.to_str().unwrap_or_default(), None), Some(Problem::NotExecutable(_))));
        // A file test for the shell runs nothing.
        assert_eq!(inspect("</etc/hostname", None), None);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn with_security_on_an_unsafe_tracked_script_is_untracked_and_a_notify_script_dropped() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = folder("apply");
        let bad = script(&d, 0o777);
        let text = format!(
            "global_defs {{\n    enable_script_security\n}}\nvrrp_script chk {{\n    script {b}\n}}\n\
             vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    track_script {{\n        chk\n    }}\n    notify_master {b}\n    notify_backup /bin/true\n    virtual_ipaddress {{\n        10.0.0.1/24\n    }}\n}}\n",
            b = bad.display()
        );
        let mut c = tandem_conf::load_str(&text, "k.conf", &tandem_conf::Options::default()).config;
        let found = apply(&mut c);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|f| f.disabled && matches!(f.problem, Problem::Unsafe(_))));
        assert!(c.vrrp_scripts.is_empty() && c.vrrp_instances[0].track_script.is_empty());
        assert_eq!(c.vrrp_instances[0].notify.master, None);
        assert_eq!(c.vrrp_instances[0].notify.backup.as_deref(), Some("/bin/true"));
        // Without the keyword: said, kept.
        let mut c =
            tandem_conf::load_str(&text.replace("    enable_script_security\n", ""), "k.conf", &Default::default())
                .config;
        let found = apply(&mut c);
        assert!(found.len() == 2 && found.iter().all(|f| !f.disabled));
        assert_eq!(c.vrrp_scripts.len(), 1);
        let _ = std::fs::remove_dir_all(&d);
    }
}
