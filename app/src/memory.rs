//! How the process's allocator holds on to memory.
//!
//! glibc serves a buffer above its mmap threshold (128 KiB at first) with a mapping of
//! its own, given back to the system when freed; but each such free raises the
//! threshold to that buffer's size (up to 32 MiB), and from then on buffers of that
//! size are carved from the heaps of the threads that allocate them, whose freed
//! memory mostly stays resident. A download frees many such buffers on several
//! threads (seed chunks, a gzip target's compressed reads, the HTTP client's read
//! buffers), so it held a few MiB it no longer used.

/// Fixes glibc's mmap threshold at its starting 128 KiB, so that large buffers go
/// back to the system when freed. Other allocators (macOS's, Windows', musl's) have no
/// such threshold. Called from `main`, before any other thread starts.
pub fn return_large_buffers_when_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, before any thread allocates.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}
