//! Process-wide settings made once at start-up that need `unsafe` libc calls; the rest
//! of the workspace forbids `unsafe`.
//!
//! glibc's malloc raises its mmap threshold each time a large mmapped block is freed,
//! up to 32 MiB, and from then on keeps freed chunk and pack buffers (1–16 MiB) in its
//! heaps instead of returning them to the system. Measured on a backup of the Rust
//! toolchain (52k files, 1.2 GiB): peak RSS 148 MiB with the default, 52 MiB with the
//! threshold pinned at 128 KiB (and `check --read-data` 147 → 82 MiB). mimalloc was tried
//! instead and kept more (246 MiB).

/// Pins glibc's mmap threshold so that large buffers go back to the system when freed.
/// Call once at start-up, before threads are spawned. A no-op on other C libraries.
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other
    // thread exists and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Restores the default action for SIGPIPE, so that `bunker ls latest | head` ends
/// quietly when `head` exits, as Unix tools do, instead of failing on every print.
/// Call once at start-up.
pub fn default_sigpipe() {
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: installs the default disposition for SIGPIPE; no handler code runs and no
    // memory is shared. Called before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
