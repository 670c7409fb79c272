//! A byte budget shared by the workers of one download: memory for the pieces in flight.
//!
//! Some formats must hold a piece whole before it can be checked and written (a casync
//! chunk is checked by the hash of all its bytes, and the `.part` only ever receives
//! checked data), and the sizes come from a file off the network: an index may declare
//! sixteen chunks of 128 MiB, each a few KiB on the wire. Giving every worker its piece's
//! memory would make the download's memory the size of the pieces times the workers. A
//! worker first takes its piece's bytes from the budget instead, and waits while they are
//! not free: memory in flight stays within the budget, however many workers there are.
//!
//! Requests are served in the order they were made, so a large piece is not overtaken
//! for ever by small ones; a piece larger than the whole budget waits until it can take
//! all of it, and is then the only one in flight.

use std::sync::{Condvar, Mutex};

/// Bytes that workers take before holding a piece and give back when done with it.
pub(crate) struct ByteBudget {
    total: u64,
    state: Mutex<Queue>,
    changed: Condvar,
}

/// The budget's free bytes and its waiting line, numbered as tickets.
struct Queue {
    free: u64,
    /// The ticket the next request gets.
    next_ticket: u64,
    /// The ticket whose turn it is.
    serving: u64,
}

/// Bytes taken from a [`ByteBudget`]; given back when dropped.
pub(crate) struct Room<'a> {
    budget: &'a ByteBudget,
    bytes: u64,
}

impl ByteBudget {
    /// A budget of `total` bytes (at least 1).
    pub(crate) fn new(total: u64) -> Self {
        let total = total.max(1);
        ByteBudget {
            total,
            state: Mutex::new(Queue {
                free: total,
                next_ticket: 0,
                serving: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits for its turn and for `bytes` to be free, then takes them: all of the budget
    /// if `bytes` is more than that.
    pub(crate) fn take(&self, bytes: u64) -> Room<'_> {
        let bytes = bytes.min(self.total);
        let mut queue = self.state.lock().unwrap();
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        while queue.serving != ticket || queue.free < bytes {
            queue = self.changed.wait(queue).unwrap();
        }
        queue.free -= bytes;
        queue.serving += 1;
        // The next in line may fit in what is left.
        self.changed.notify_all();
        Room {
            budget: self,
            bytes,
        }
    }

    /// Requests made and not yet served.
    #[cfg(test)]
    fn waiting(&self) -> u64 {
        let queue = self.state.lock().unwrap();
        queue.next_ticket - queue.serving
    }
}

impl Drop for Room<'_> {
    fn drop(&mut self) {
        self.budget.state.lock().unwrap().free += self.bytes;
        self.budget.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Returns once `n` requests wait in `budget`'s line.
    fn until_waiting(budget: &ByteBudget, n: u64) {
        while budget.waiting() != n {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_request_waits_until_its_bytes_are_free() {
        let budget = ByteBudget::new(100);
        let held = budget.take(60);
        let (got, received) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _room = budget.take(50);
                got.send(()).unwrap();
            });
            until_waiting(&budget, 1);
            assert!(received.try_recv().is_err(), "served with 40 bytes free");
            drop(held);
            received.recv().unwrap();
        });
        assert_eq!(budget.state.lock().unwrap().free, 100);
    }

    #[test]
    fn a_request_larger_than_the_budget_takes_all_of_it() {
        let budget = ByteBudget::new(100);
        let huge = budget.take(500);
        assert_eq!(huge.bytes, 100);
        let (got, received) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _room = budget.take(1);
                got.send(()).unwrap();
            });
            until_waiting(&budget, 1);
            assert!(received.try_recv().is_err(), "served beside the huge one");
            drop(huge);
            received.recv().unwrap();
        });
    }

    #[test]
    fn requests_are_served_in_the_order_made() {
        let budget = ByteBudget::new(100);
        let held = budget.take(90);
        let (served, order) = mpsc::channel();
        let (release_big, big_may_go) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let big = served.clone();
            let budget = &budget;
            scope.spawn(move || {
                let _room = budget.take(100);
                big.send("big").unwrap();
                big_may_go.recv().unwrap();
            });
            until_waiting(budget, 1);
            scope.spawn(move || {
                // 10 bytes are free, but the big request came first.
                let _room = budget.take(5);
                served.send("small").unwrap();
            });
            until_waiting(budget, 2);
            assert!(order.try_recv().is_err(), "served out of turn");
            drop(held);
            assert_eq!(order.recv().unwrap(), "big");
            until_waiting(budget, 1);
            assert!(order.try_recv().is_err(), "served beside the big one");
            release_big.send(()).unwrap();
            assert_eq!(order.recv().unwrap(), "small");
        });
    }
}
