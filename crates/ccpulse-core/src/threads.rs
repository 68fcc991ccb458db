//! One piece of work run on a few scoped threads at once (the replay's readings, the
//! snapshot's windows), each thread taking its items from a counter the work shares.

/// `work` on `threads` threads (this one and `threads - 1` more), each thread's
/// outcome, this thread's first: its result, or the panic that ended it. A panic on
/// this thread is not caught: it reaches the caller once the others have ended.
pub(crate) fn on_threads<T: Send>(threads: usize, work: impl Fn() -> T + Sync) -> Vec<std::thread::Result<T>> {
    std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(&work)).collect();
        let mut all = vec![Ok(work())];
        all.extend(others.into_iter().map(|h| h.join()));
        all
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::on_threads;

    #[test]
    fn every_thread_works_and_a_panic_is_its_outcome() {
        for threads in [0, 1, 2, 3] {
            let ran = AtomicUsize::new(0);
            let all = on_threads(threads, || ran.fetch_add(1, Ordering::Relaxed));
            assert_eq!(all.len(), threads.max(1), "{threads} threads");
            assert_eq!(ran.load(Ordering::Relaxed), threads.max(1));
        }
        // The spawned threads panic: their outcomes say so, after this thread's result.
        let caller = std::thread::current().id();
        let all = on_threads(3, || {
            assert!(std::thread::current().id() == caller, "a spawned thread");
            7
        });
        assert_eq!(all.len(), 3);
        assert_eq!(*all[0].as_ref().unwrap(), 7);
        assert!(all[1..].iter().all(|outcome| outcome.is_err()));
    }
}
