//! Giving the heap pages a configuration load freed back to the kernel.
//!
//! Reading a configuration allocates far more than the model it produces (with 10,000 real
//! servers: ~35 MB of tokens, statement tree and source map for ~5 MB of model), and frees it
//! interleaved with the model's allocations. glibc's malloc returns freed memory to the kernel
//! only from the top of its heap, so most of those pages would stay resident for the daemon's
//! life (measured: 29 MB resident instead of 21 MB at 10,000 real servers). `malloc_trim`
//! releases the free pages inside the heap as well (glibc's malloc/malloc.c, mtrim: madvise
//! MADV_DONTNEED on every free page-sized run).

/// Releases the allocator's free pages; called after the load at start, and after the IPVS
/// keeper's dumps.
pub(crate) fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks and returns free
    // pages with madvise; it takes no pointer and touches no memory the program owns.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// How long after a reload its garbage goes back ([`give_back_later`]).
const GIVE_BACK_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// As [`give_back_freed`], a second from now, on the runtime of the caller: a reload frees
/// the old configuration and what its read allocated, and `malloc_trim` walks the whole heap
/// (40 ms at 10,000 real servers in the emulated VM; every page it gives back faults in
/// again when next used). Done at once, that was on the reload's path, before the new table
/// reached the kernel. Calls while one is pending share it.
pub(crate) fn give_back_later() {
    static PENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if PENDING.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async {
        tokio::time::sleep(GIVE_BACK_AFTER).await;
        PENDING.store(false, std::sync::atomic::Ordering::Release);
        give_back_freed();
    });
}

/// Sets tandem's memory up, first thing, before the configuration is read:
/// - transparent huge pages off (PR_SET_THP_DISABLE, kernel/sys.c; inherited by the scripts
///   tandem runs). With THP "always" (Debian's default), every 2 MB of heap tandem touched
///   became resident whole: at 10,000 real servers 26 MB of its 33 MB were huge pages, mostly
///   free memory that [`give_back_freed`] could not return. tandem's memory is small,
///   long-lived and sparse after a load, which huge pages do not suit (Redis turns them off
///   for the same reason).
/// - one malloc arena for every thread (M_ARENA_MAX 1). glibc gives a thread of its own an
///   arena of its own: the IPVS keeper's thread read each dump into one (4.6 MB resident at
///   10,000 destinations, after trimming). tandem's threads are one busy loop and a few that
///   wake now and then, so they do not contend for one.
pub fn prepare_memory() {
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(error = %e, "cannot turn transparent huge pages off");
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets one of glibc's malloc parameters; it takes no pointer. It runs
    // before tandem starts a thread, as glibc's manual asks of M_ARENA_MAX.
    #[allow(unsafe_code)]
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1);
    }
}
