//! MISC_CHECK's verdict from a script's exit status (keepalived/check/check_misc.c). The
//! daemon runs the script; this only reads its status.

use super::{Failure, ProbeResult, Success, WeightChange};

/// The result of a MISC_CHECK script that exited with `status`.
///
/// Exit 0 passes. Without `misc_dynamic` anything else fails. With it, 1 fails and 2..=255
/// pass and set the real server's weight to `status - 2` (0..=253); 0 passes and gives the
/// configured weight back (keepalived's "legacy case of status being 0"). A script killed
/// or timed out is a failure the daemon reports itself.
pub fn result(status: i32, dynamic: bool) -> ProbeResult {
    match status {
        0 if dynamic => Ok(Success { weight: Some(WeightChange::Offset(0)) }),
        0 => Ok(Success::default()),
        2..=255 if dynamic => Ok(Success { weight: Some(WeightChange::Set((status - 2) as u32)) }),
        _ => Err(Failure::new(format!("script exited with status {status}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_map_like_misc_dynamic() {
        assert_eq!(result(0, false), Ok(Success::default()));
        assert_eq!(result(1, false).unwrap_err().reason(), "script exited with status 1");
        assert!(result(2, false).is_err());
        assert_eq!(result(0, true), Ok(Success { weight: Some(WeightChange::Offset(0)) }));
        assert!(result(1, true).is_err());
        assert_eq!(result(2, true), Ok(Success { weight: Some(WeightChange::Set(0)) }));
        assert_eq!(result(12, true), Ok(Success { weight: Some(WeightChange::Set(10)) }));
        assert_eq!(result(255, true), Ok(Success { weight: Some(WeightChange::Set(253)) }));
        assert!(result(256, true).is_err());
        assert!(result(-1, true).is_err());
    }
}
