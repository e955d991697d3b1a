//! A precise timer for the arrival schedule.
//!
//! Tokio's timer wheel has one-millisecond ticks and rounds every wake-up
//! *up* to the next tick, so a step scheduled with `tokio::time::sleep_until`
//! starts on average about a millisecond late. Latency is measured from the
//! step's due time, so that lateness would be charged to the server: a
//! 100 µs server would read as 1.1 ms. This timer keeps the deadlines in a
//! heap on one OS thread that sleeps on a condition variable with the exact
//! remaining time (Linux's default timer slack is 50 µs), then wakes the
//! waiting task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

struct Deadline {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Deadline>>,
    seq: u64,
    stopped: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// Cheap to clone; the thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct PreciseTimer {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        lock(&self.0.queue).stopped = true;
        self.0.changed.notify_one();
    }
}

fn lock(m: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PreciseTimer {
    pub fn start() -> PreciseTimer {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("emlab-timer".into())
            .spawn(move || run(&worker))
            .expect("spawn the timer thread");
        PreciseTimer {
            _stop: Arc::new(StopOnDrop(shared.clone())),
            shared,
        }
    }

    /// Waits until `at`; returns at once if it has passed.
    pub async fn sleep_until(&self, at: tokio::time::Instant) {
        let at = at.into_std();
        if at <= Instant::now() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        let earliest = {
            let mut q = lock(&self.shared.queue);
            q.seq += 1;
            let seq = q.seq;
            let earliest = q.heap.peek().is_none_or(|Reverse(d)| at < d.at);
            q.heap.push(Reverse(Deadline { at, seq, wake: tx }));
            earliest
        };
        if earliest {
            self.shared.changed.notify_one();
        }
        let _ = rx.await;
    }
}

fn run(shared: &Shared) {
    let mut q = lock(&shared.queue);
    let mut due = Vec::new();
    loop {
        if q.stopped {
            return;
        }
        let now = Instant::now();
        while q.heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
            if let Some(Reverse(d)) = q.heap.pop() {
                due.push(d.wake);
            }
        }
        if !due.is_empty() {
            drop(q);
            for wake in due.drain(..) {
                let _ = wake.send(());
            }
            q = lock(&shared.queue);
            continue;
        }
        q = match q.heap.peek() {
            Some(Reverse(d)) => {
                let wait = d.at.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(q, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
            None => shared.changed.wait(q).unwrap_or_else(|p| p.into_inner()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_in_deadline_order_and_never_early() {
        let timer = PreciseTimer::start();
        let start = tokio::time::Instant::now();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for ms in [30u64, 10, 20] {
            let (timer, order) = (timer.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let at = start + Duration::from_millis(ms);
                timer.sleep_until(at).await;
                assert!(tokio::time::Instant::now() >= at);
                order.lock().unwrap().push(ms);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![10, 20, 30]);
    }
}
