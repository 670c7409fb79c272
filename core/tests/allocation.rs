//! A control file from the network may claim any size: what it makes us allocate must
//! follow the bytes it holds, not its claims. Measured here with a global allocator that
//! remembers the largest single request (its own test binary, so nothing else is counted).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use deltadrop_core::ControlFile;

struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

#[test]
fn hostile_claims_allocate_little() {
    let sha1 = "0".repeat(40);
    let files = [
        // 2^26 blocks of 16 MiB (the most taken) with 36-byte records: 2.4 GB of table,
        // which the parser reserved up front before the fix, for a 150-byte file.
        format!(
            "zsync: 0.8\nBlocksize: 16777216\nLength: {}\nHash-Lengths: 2,4,32\nStrong-Hash-Algorithm: SHA-256\nURL: f\nSHA-1: {sha1}\n\n",
            1u64 << 50
        ),
        // A 1 GiB Z-Map2, zeroed up front before the fix.
        "zsync: 0.6.2\nZ-Map2: 268435456\n".to_string(),
        // 2^62 bytes, a billion blocks: refused from the header alone.
        format!(
            "zsync: 0.6.2\nBlocksize: 2048\nLength: {}\nURL: f\nSHA-1: {sha1}\n\n",
            1u64 << 62
        ),
        format!("zsync: 0.6.2\nBlocksize: 2048\nLength: 2048000000000\nURL: f\nSHA-1: {sha1}\n\n"),
    ];
    for file in files {
        LARGEST.store(0, Ordering::Relaxed);
        assert!(ControlFile::from_bytes(file.as_bytes(), "hostile").is_err());
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= 4 << 20,
            "{largest} bytes allocated at once for {file:?}"
        );
    }
}
