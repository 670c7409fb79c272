//! Buffers the threads of a parallel loop keep from one item to the next.
//!
//! rayon runs a loop's items on a few threads, but `map_init` makes its state anew for
//! most items (once per split of the work, not once per thread). A buffer of a quarter
//! MiB or more made anew costs glibc's allocator a mapping and its page faults each
//! time (`deltadrop` fixes the mmap threshold so that freed buffers go back to the
//! system), or stays in the heap of the thread that made it.

use std::sync::{Mutex, PoisonError};

/// Spare `T`s: an item takes one (a new one when none is spare) and gives it back.
pub(crate) struct Spares<T>(Mutex<Vec<T>>);

impl<T: Default> Spares<T> {
    pub fn new() -> Self {
        Spares(Mutex::new(Vec::new()))
    }

    pub fn take(&self) -> T {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    pub fn give_back(&self, spare: T) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(spare);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_given_back_is_taken_again() {
        let spares: Spares<Vec<u8>> = Spares::new();
        let mut buffer = spares.take();
        assert!(buffer.capacity() == 0, "a new one when none is spare");
        buffer.reserve(1000);
        spares.give_back(buffer);
        assert!(spares.take().capacity() >= 1000);
        assert_eq!(spares.take().capacity(), 0);
    }
}
