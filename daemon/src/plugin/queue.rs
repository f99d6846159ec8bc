//! Instance slots: how many plugin calls may hold a live instance at once,
//! and the bounded, daemon-wide wait for a free one.
//!
//! The pooling allocator has fixed totals, and instantiating past them fails.
//! So every call — tool, guardrail, and the `describe` calls made at load —
//! takes a slot *before* it creates its store, and the slot count is exactly
//! what the pool can hold (the arithmetic is in [`super::host`]). A slot is a
//! semaphore permit held by the call's future: it is given back when that
//! future ends or is dropped, after the store (and so the instance) is gone —
//! on success, trap, timeout, or a caller that stopped waiting alike.
//!
//! Invariants and limits:
//! - while no slot is free a call waits, first come first served (tokio's
//!   semaphore is fair); at most `limit` calls wait at once, daemon-wide, and
//!   one more is refused at once with [`CallError::QueueFull`], so a burst
//!   costs bounded memory and bounded latency instead of an unbounded pile;
//! - a waiting call that is dropped gives its place in the queue back;
//! - the wait is not part of a call's deadline: the deadline bounds the
//!   guest's run, which starts once the slot is held;
//! - a reused instance (`instance = "per-session"` or a pool, see
//!   [`super::instances`]) keeps its slot while it waits idle, because it
//!   still holds its part of the pool; slots are owned, not borrowed, for that.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::CallError;

/// The daemon's instance slots and the queue in front of them.
#[derive(Debug)]
pub(crate) struct CallQueue {
    slots: Arc<Semaphore>,
    capacity: usize,
    waiting: AtomicUsize,
    limit: usize,
}

/// A snapshot of the queue, for status pages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueStatus {
    /// Instance slots (calls that may run at once).
    pub slots: usize,
    /// Slots held now.
    pub running: usize,
    /// Calls waiting for a slot now.
    pub waiting: usize,
    /// The most calls that may wait (`[daemon] tool_queue`).
    pub limit: usize,
}

/// A held instance slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit) -> Slot {
        crate::metrics::metrics().plugin_instances.inc();
        Slot { _permit: permit }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        crate::metrics::metrics().plugin_instances.dec();
    }
}

/// A place in the queue; dropping it (a slot was found, or the caller gave
/// up) gives the place back.
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CallQueue {
    /// `slots` calls run at once; at most `limit` more wait.
    pub(crate) fn new(slots: usize, limit: usize) -> CallQueue {
        CallQueue {
            slots: Arc::new(Semaphore::new(slots)),
            capacity: slots,
            waiting: AtomicUsize::new(0),
            limit,
        }
    }

    /// Take a slot, waiting for one if the queue has room.
    pub(crate) async fn acquire(&self) -> Result<Slot, CallError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot::new(permit));
        }
        let limit = self.limit;
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w < limit).then_some(w + 1)
            })
            .map_err(|_| CallError::QueueFull { limit })?;
        let place = Place(&self.waiting);
        // The semaphore is never closed; the error arm cannot happen.
        let permit = self.slots.clone().acquire_owned().await.map_err(|_| {
            CallError::Instantiate("the plugin host's instance slots are closed".into())
        })?;
        drop(place);
        Ok(Slot::new(permit))
    }

    /// What the queue holds now.
    pub(crate) fn status(&self) -> QueueStatus {
        QueueStatus {
            slots: self.capacity,
            running: self.capacity - self.slots.available_permits(),
            waiting: self.waiting.load(Ordering::Acquire),
            limit: self.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// Poll once: a call either got its slot at once or is now waiting.
    fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn calls_past_the_slots_wait_and_past_the_limit_are_refused() {
        let q = CallQueue::new(1, 2);
        let first = match poll_once(pin!(q.acquire())) {
            Poll::Ready(Ok(slot)) => slot,
            other => panic!("a free slot must be taken at once: {other:?}"),
        };
        let mut second = pin!(q.acquire());
        let mut third = pin!(q.acquire());
        assert!(poll_once(second.as_mut()).is_pending());
        assert!(poll_once(third.as_mut()).is_pending());
        assert_eq!(
            q.status(),
            QueueStatus {
                slots: 1,
                running: 1,
                waiting: 2,
                limit: 2
            }
        );
        match poll_once(pin!(q.acquire())) {
            Poll::Ready(Err(CallError::QueueFull { limit: 2 })) => {}
            other => panic!("a call past the limit must be refused at once: {other:?}"),
        }
        // The slot goes to the first waiter, in order.
        drop(first);
        let got = match poll_once(second.as_mut()) {
            Poll::Ready(Ok(slot)) => slot,
            other => panic!("the first waiter must get the freed slot: {other:?}"),
        };
        assert!(poll_once(third.as_mut()).is_pending());
        assert_eq!(q.status().waiting, 1);
        drop(got);
        assert!(matches!(poll_once(third.as_mut()), Poll::Ready(Ok(_))));
        assert_eq!(q.status().waiting, 0);
    }

    #[test]
    fn a_dropped_waiter_gives_its_place_back() {
        let q = CallQueue::new(1, 1);
        let _held = match poll_once(pin!(q.acquire())) {
            Poll::Ready(Ok(slot)) => slot,
            other => panic!("{other:?}"),
        };
        {
            let mut waiter = pin!(q.acquire());
            assert!(poll_once(waiter.as_mut()).is_pending());
            assert_eq!(q.status().waiting, 1);
        }
        assert_eq!(q.status().waiting, 0);
        // The place is free again: the next call may wait.
        assert!(poll_once(pin!(q.acquire())).is_pending());
    }

    #[test]
    fn with_no_queue_a_busy_host_refuses_at_once() {
        let q = CallQueue::new(1, 0);
        let _held = match poll_once(pin!(q.acquire())) {
            Poll::Ready(Ok(slot)) => slot,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            poll_once(pin!(q.acquire())),
            Poll::Ready(Err(CallError::QueueFull { limit: 0 }))
        ));
    }
}
