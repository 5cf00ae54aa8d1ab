//! Running scripts (vrrp_script checks, notify scripts, MISC_CHECK) without blocking.
//!
//! As keepalived (keepalived/core/notify.c, system_call): the command line is split into
//! words (shell quoting rules) and executed directly when its program is an executable file,
//! else handed to `/bin/sh -c`; the script runs in a process group of its own, so that a
//! timeout kills everything it started; IFS, LD_PRELOAD and LD_LIBRARY_PATH are removed from
//! its environment; it can run as another user.

use std::path::Path;
use std::time::Duration;

/// Who a script runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Credentials {
    /// Looks up `user` (and `group`, else the user's primary group).
    pub fn lookup(user: &str, group: Option<&str>) -> Result<Credentials, String> {
        let u = nix::unistd::User::from_name(user)
            .map_err(|e| format!("cannot look up user `{user}`: {e}"))?
            .ok_or_else(|| format!("no user `{user}`"))?;
        let gid = match group {
            None => u.gid.as_raw(),
            Some(g) => nix::unistd::Group::from_name(g)
                .map_err(|e| format!("cannot look up group `{g}`: {e}"))?
                .ok_or_else(|| format!("no group `{g}`"))?
                .gid
                .as_raw(),
        };
        Ok(Credentials { uid: u.uid.as_raw(), gid })
    }
}

/// Who a script without a user of its own runs as: `script_user`, set at start and at each
/// reload (keepalived's default_script_uid applies to every script, notify scripts and the
/// notify FIFO's reader included). None: tandem's own user.
static DEFAULT_USER: std::sync::RwLock<Option<Credentials>> = std::sync::RwLock::new(None);

/// Sets who scripts without a user of their own run as.
pub fn set_default_user(c: Option<Credentials>) {
    if let Ok(mut d) = DEFAULT_USER.write() {
        *d = c;
    }
}

fn default_user() -> Option<Credentials> {
    DEFAULT_USER.read().ok().and_then(|d| *d)
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    argv: Vec<String>,
    /// Who it runs as (default: tandem's own user).
    pub credentials: Option<Credentials>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signalled(i32),
    /// Ran past its timeout and was killed, with all its process group.
    TimedOut,
    /// Could not be started.
    CannotStart(String),
}

impl Outcome {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        *self == Outcome::Exited(0)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(c) => write!(f, "exited with status {c}"),
            Outcome::Signalled(s) => write!(f, "killed by signal {s}"),
            Outcome::TimedOut => write!(f, "timed out"),
            Outcome::CannotStart(e) => write!(f, "could not start: {e}"),
        }
    }
}

impl Script {
    /// Splits a command line with shell quoting rules.
    pub fn parse(command: &str) -> Result<Script, String> {
        let argv =
            shlex::split(command).ok_or_else(|| format!("cannot split `{command}` into words (unbalanced quotes?)"))?;
        if argv.is_empty() {
            return Err("empty command".to_string());
        }
        Ok(Script { argv, credentials: None })
    }

    /// The words of the command line.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The same command with more arguments (notify scripts get the state appended).
    pub fn with_args<I: IntoIterator<Item = S>, S: Into<String>>(&self, extra: I) -> Script {
        let mut s = self.clone();
        s.argv.extend(extra.into_iter().map(Into::into));
        s
    }

    fn command(&self) -> tokio::process::Command {
        let program = &self.argv[0];
        let direct = is_executable(Path::new(program));
        let mut c = if direct {
            let mut c = tokio::process::Command::new(program);
            c.args(&self.argv[1..]);
            c
        } else {
            // Not an executable path: let the shell find and run it, as keepalived's system().
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c")
                .arg(shlex::try_join(self.argv.iter().map(String::as_str)).unwrap_or_else(|_| self.argv.join(" ")));
            c
        };
        c.process_group(0)
            .env_remove("IFS")
            .env_remove("LD_PRELOAD")
            .env_remove("LD_LIBRARY_PATH")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(cred) = self.credentials.or_else(default_user) {
            c.uid(cred.uid).gid(cred.gid);
        }
        c
    }

    /// Runs the script to completion or until `timeout`, then kills its process group
    /// (SIGTERM, then SIGKILL after a grace of 100 ms).
    pub async fn run(&self, timeout: Duration) -> Outcome {
        match self.start(true) {
            Ok(running) => running.finish(timeout).await,
            Err(outcome) => outcome,
        }
    }

    /// Starts the script now: its process exists when this returns, whatever becomes of the
    /// task that waits for it. With `kill_on_drop`, dropping the [`Running`] kills it; without,
    /// it runs on even after tandem (as keepalived's notify scripts do).
    pub fn start(&self, kill_on_drop: bool) -> Result<Running, Outcome> {
        match self.command().kill_on_drop(kill_on_drop).spawn() {
            Ok(child) => Ok(Running { child, program: self.argv[0].clone() }),
            Err(e) => Err(Outcome::CannotStart(format!("{}: {e}", self.argv[0]))),
        }
    }
}

/// A started script.
#[derive(Debug)]
pub struct Running {
    child: tokio::process::Child,
    program: String,
}

impl Running {
    /// Waits for the script to end or until `timeout`, then kills its process group
    /// (SIGTERM, then SIGKILL after a grace of 100 ms).
    pub async fn finish(mut self, timeout: Duration) -> Outcome {
        let child = &mut self.child;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok()).map(nix::unistd::Pid::from_raw);
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => {
                use std::os::unix::process::ExitStatusExt;
                match (status.code(), status.signal()) {
                    (Some(c), _) => Outcome::Exited(c),
                    (None, Some(s)) => Outcome::Signalled(s),
                    (None, None) => Outcome::Exited(-1),
                }
            }
            Ok(Err(e)) => Outcome::CannotStart(format!("waiting for {}: {e}", self.program)),
            Err(_) => {
                if let Some(pg) = pgid {
                    let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGTERM);
                    if tokio::time::timeout(Duration::from_millis(100), child.wait()).await.is_err() {
                        let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
                    }
                    // Whatever the script left in its group goes too.
                    let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
                }
                let _ = child.wait().await;
                Outcome::TimedOut
            }
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.is_absolute() && std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn exit_statuses_and_signals() {
        rt().block_on(async {
            let t = Duration::from_secs(5);
            assert_eq!(Script::parse("/bin/true").unwrap().run(t).await, Outcome::Exited(0));
            assert_eq!(Script::parse("/bin/false").unwrap().run(t).await, Outcome::Exited(1));
            assert_eq!(Script::parse("/bin/sh -c 'exit 7'").unwrap().run(t).await, Outcome::Exited(7));
            assert_eq!(Script::parse("/bin/sh -c 'kill -9 $$'").unwrap().run(t).await, Outcome::Signalled(9));
            // Not an absolute executable path: run through the shell, as keepalived does.
            assert_eq!(Script::parse("test 1 = 1").unwrap().run(t).await, Outcome::Exited(0));
            let missing = Script::parse("/nonexistent/check").unwrap().run(t).await;
            assert_eq!(missing, Outcome::Exited(127));
        });
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        rt().block_on(async {
            let dir = std::env::temp_dir().join(format!("tandem-script-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let marker = dir.join("late");
            // A child of the script would touch the marker after 1 s if it survived.
            let cmd = format!("/bin/sh -c '(sleep 1; touch {}) & sleep 30'", marker.display());
            let started = std::time::Instant::now();
            assert_eq!(Script::parse(&cmd).unwrap().run(Duration::from_millis(200)).await, Outcome::TimedOut);
            assert!(started.elapsed() < Duration::from_secs(2));
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert!(!marker.exists(), "a process of the timed-out script survived");
            let _ = std::fs::remove_dir_all(&dir);
        });
    }

    #[test]
    fn runs_as_another_user_and_appends_arguments() {
        rt().block_on(async {
            let nobody = Credentials::lookup("nobody", None).unwrap();
            let mut s = Script::parse("/bin/sh -c 'test \"$(id -u)\" = \"$1\" && test \"$2\" = MASTER' sh").unwrap();
            s.credentials = Some(nobody);
            let s = s.with_args([nobody.uid.to_string(), "MASTER".to_string()]);
            assert_eq!(s.run(Duration::from_secs(5)).await, Outcome::Exited(0));
            assert!(Credentials::lookup("no-such-user-here", None).is_err());
        });
    }

    #[test]
    fn quoting_is_split_like_a_shell() {
        let s = Script::parse("/usr/bin/check --name 'two words' \"x y\"").unwrap();
        assert_eq!(s.argv(), ["/usr/bin/check", "--name", "two words", "x y"]);
        assert!(Script::parse("/bin/echo 'open").is_err());
        assert!(Script::parse("   ").is_err());
    }
}
