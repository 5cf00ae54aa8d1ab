//! FILE_CHECK: the number in a tracked file decides (keepalived/check/check_file.c,
//! keepalived/trackers/track_file.c).
//!
//! keepalived reads up to 127 bytes of the file as `strtol(buf, NULL, 0)` (decimal, `0x`
//! hex, `0` octal, leading blanks and sign; no digits reads 0); a missing or empty file reads
//! 0; a number outside i32::MIN..=i32::MAX + 1 is logged and ignored, keeping the previous
//! state. With weight 0 the file is a switch: a non-zero value fails (0 fails with
//! `reverse`). With a weight, value × weight (× -1 with `reverse`) is this check's share of
//! the real server's weight, and the check fails only when that product reaches i32::MIN.
//!
//! keepalived watches the file with inotify and reacts at once; tandem polls it: the daemon
//! schedules this probe like any other (retry 0, a short `delay_loop`).

use super::{Failure, ProbeResult, Success, WeightChange};
use std::path::PathBuf;

/// Bytes keepalived reads from the file.
const READ_LIMIT: usize = 127;

/// FILE_CHECK settings, with the `track_file` block resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// The tracked file.
    pub path: PathBuf,
    /// `weight`: multiplier (the track_file's, else 1; 0 makes the file a switch).
    pub weight: i32,
    /// `reverse`.
    pub reverse: bool,
}

/// Reads the file and judges it; `None` when its number is out of range (keep the last
/// result, as keepalived does).
pub async fn read(settings: &FileSettings) -> Option<ProbeResult> {
    // A missing or unreadable file reads 0, as in keepalived.
    let contents = tokio::fs::read(&settings.path).await.unwrap_or_default();
    let head = contents.get(..READ_LIMIT.min(contents.len())).unwrap_or_default();
    result(&String::from_utf8_lossy(head), settings.weight, settings.reverse)
}

/// [`read`] as a probe: an out-of-range number is reported as a failure to read.
pub async fn probe(settings: &FileSettings) -> ProbeResult {
    match read(settings).await {
        Some(r) => r,
        None => Err(Failure::new(format!("{}: number out of range", settings.path.display()))),
    }
}

/// The number in a tracked file's contents as keepalived reads it (its first 127 bytes,
/// `strtol`); `None` when it is out of keepalived's range (i32::MIN..=i32::MAX + 1), which
/// keepalived logs and ignores, keeping the previous value.
pub fn value(contents: &[u8]) -> Option<i64> {
    let head = contents.get(..READ_LIMIT.min(contents.len())).unwrap_or_default();
    let value = strtol(&String::from_utf8_lossy(head))?;
    (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1).contains(&value).then_some(value)
}

/// The verdict on file contents; `None` when the number is out of range.
pub fn result(contents: &str, weight: i32, reverse: bool) -> Option<ProbeResult> {
    let value = value(contents.as_bytes())?;
    let sign = if reverse { -1 } else { 1 };
    if weight == 0 {
        let fault = (value != 0) != reverse;
        return Some(if fault {
            Err(Failure::new(format!("tracked file reads {value}")))
        } else {
            Ok(Success { weight: Some(WeightChange::Offset(0)) })
        });
    }
    let share = (value * i64::from(weight) * sign).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    Some(if share <= i64::from(i32::MIN) {
        Err(Failure::new(format!("tracked file reads {value}: weight {share}")))
    } else {
        Ok(Success { weight: Some(WeightChange::Offset(share)) })
    })
}

/// C's `strtol(s, NULL, 0)` for 64-bit long: `None` on overflow (ERANGE).
fn strtol(s: &str) -> Option<i64> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or_default()),
        Some(b'+') => (false, s.get(1..).unwrap_or_default()),
        _ => (false, s),
    };
    let (radix, digits) =
        if (s.starts_with("0x") || s.starts_with("0X")) && s.as_bytes().get(2).is_some_and(u8::is_ascii_hexdigit) {
            (16, s.get(2..).unwrap_or_default())
        } else if s.starts_with('0') {
            (8, s)
        } else {
            (10, s)
        };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    let digits = digits.get(..end).unwrap_or_default();
    if digits.is_empty() {
        return Some(0);
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_strtol() {
        assert_eq!(strtol("42\n"), Some(42));
        assert_eq!(strtol("  -7 apples"), Some(-7));
        assert_eq!(strtol("0x1f"), Some(31));
        assert_eq!(strtol("010"), Some(8));
        assert_eq!(strtol("0x"), Some(0));
        assert_eq!(strtol("banana"), Some(0));
        assert_eq!(strtol(""), Some(0));
        assert_eq!(strtol("99999999999999999999"), None);
    }

    #[test]
    fn weight_zero_makes_a_switch() {
        assert_eq!(result("0", 0, false), Some(Ok(Success { weight: Some(WeightChange::Offset(0)) })));
        assert_eq!(result("1", 0, false).unwrap().unwrap_err().reason(), "tracked file reads 1");
        assert!(result("0", 0, true).unwrap().is_err());
        assert!(result("5", 0, true).unwrap().is_ok());
    }

    #[test]
    fn a_weight_scales_the_value_into_a_share() {
        assert_eq!(result("3", 10, false), Some(Ok(Success { weight: Some(WeightChange::Offset(30)) })));
        assert_eq!(result("3", 10, true), Some(Ok(Success { weight: Some(WeightChange::Offset(-30)) })));
        assert_eq!(
            result("-2147483648", 1, false).unwrap().unwrap_err().reason(),
            "tracked file reads -2147483648: weight -2147483648"
        );
        assert!(result("-5", 1, false).unwrap().is_ok(), "a negative share lowers the weight, it does not fail");
        assert_eq!(result("2147483649", 1, false), None, "out of range is ignored");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_file_reads_zero() {
        let s = FileSettings { path: "/nonexistent/tandem/track".into(), weight: 0, reverse: false };
        assert!(read(&s).await.unwrap().is_ok());
        let s = FileSettings { reverse: true, ..s };
        assert!(probe(&s).await.is_err());
    }
}
