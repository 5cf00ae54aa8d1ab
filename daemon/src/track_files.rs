//! `track_file` blocks' `init_file [VALUE] [overwrite]`: the file is created holding VALUE at
//! start (and at each reload) when it does not exist, or written whatever it holds with
//! `overwrite` (keepalived trackers/track_file.c, TRACK_FILE_CREATE / TRACK_FILE_INIT), so
//! that a FILE_CHECK reading it starts from a known value.

use tandem_conf::Config;
use tracing::{info, warn};

/// Writes `text` to `path` as root without following a symbolic link at its end (O_NOFOLLOW):
/// a link planted there by another user cannot turn this into a write to another file.
/// keepalived follows it.
fn write_no_follow(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Creates or writes the files of `config`'s track_file blocks that ask for it.
pub fn init(config: &Config) {
    for t in &config.track_files {
        let Some(value) = t.init_file else { continue };
        let path = std::path::Path::new(&t.file);
        if path.exists() && !t.init_file_overwrite {
            continue;
        }
        match write_no_follow(path, &format!("{value}\n")) {
            Ok(()) => info!(track_file = %t.name, file = %t.file, value, "track_file initialised"),
            Err(e) => warn!(track_file = %t.name, file = %t.file, error = %e, "cannot initialise track_file"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn init_file_creates_a_missing_file_and_overwrites_only_when_asked() {
        let dir = std::env::temp_dir().join(format!("tandem-trackfile-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let (fresh, kept, forced) = (dir.join("fresh"), dir.join("kept"), dir.join("forced"));
        let _ = std::fs::remove_file(&fresh);
        let _ = std::fs::write(&kept, "7\n");
        let _ = std::fs::write(&forced, "7\n");
        let text = format!(
            "track_file a {{\n    file {}\n    init_file 5\n}}\ntrack_file b {{\n    file {}\n    init_file 5\n}}\ntrack_file c {{\n    file {}\n    init_file overwrite -3\n}}\n",
            fresh.display(),
            kept.display(),
            forced.display()
        );
        let c = tandem_conf::load_str(&text, "k.conf", &tandem_conf::Options::default()).config;
        super::init(&c);
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
        assert_eq!((read(&fresh), read(&kept), read(&forced)), ("5\n".into(), "7\n".into(), "-3\n".into()));
        // A symbolic link where the file should be is not followed: its target stays as it was.
        let (target, link) = (dir.join("target"), dir.join("link"));
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::write(&target, "untouched\n");
        let _ = std::os::unix::fs::symlink(&target, &link);
        let text = format!("track_file l {{\n    file {}\n    init_file overwrite 9\n}}\n", link.display());
        super::init(&tandem_conf::load_str(&text, "k.conf", &tandem_conf::Options::default()).config);
        assert_eq!(read(&target), "untouched\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
