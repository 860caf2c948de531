//! Time spent in `session.run`: per generator, summed over its runs, and for the whole process,
//! as wall time with at least one run in flight (runs on parallel jobs counted once). The two
//! tell a bake's inference from the pipeline around it: the sum is what inference cost, the
//! wall time what share of the bake the pipeline left inference running.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One generator's time in `session.run`, summed over its runs.
#[derive(Debug, Default)]
pub struct RunClock {
    nanos: AtomicU64,
}

impl RunClock {
    /// Runs `run` (a `session.run`), adding its duration to this clock and its wall time to
    /// the process's [`inference_wall_time`].
    pub fn time<T>(&self, run: impl FnOnce() -> T) -> T {
        let _in_flight = InFlight::enter();
        let started = Instant::now();
        let result = run();
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    /// The time its runs took, summed.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

/// Runs in flight in this process, and the wall time during which any was.
struct Busy {
    running: usize,
    since: Option<Instant>,
    total: Duration,
}

static BUSY: Mutex<Busy> = Mutex::new(Busy {
    running: 0,
    since: None,
    total: Duration::ZERO,
});

fn busy() -> std::sync::MutexGuard<'static, Busy> {
    BUSY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One run in flight, from `enter` until dropped.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        let mut busy = busy();
        if busy.running == 0 {
            busy.since = Some(Instant::now());
        }
        busy.running += 1;
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut busy = busy();
        busy.running -= 1;
        if busy.running == 0
            && let Some(since) = busy.since.take()
        {
            busy.total += since.elapsed();
        }
    }
}

/// Wall time so far during which at least one `session.run` timed by a [`RunClock`] was in
/// flight in this process. Take it before and after a piece of work for that work's share.
pub fn inference_wall_time() -> Duration {
    let busy = busy();
    busy.total + busy.since.map_or(Duration::ZERO, |since| since.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_runs_add_up_on_their_clocks_and_count_once_in_wall_time() {
        let nap = Duration::from_millis(60);
        let (first, second) = (RunClock::default(), RunClock::default());
        let both_running = std::sync::Barrier::new(2);
        let run = || {
            both_running.wait();
            std::thread::sleep(nap);
        };
        let started = Instant::now();
        let wall_before = inference_wall_time();
        std::thread::scope(|scope| {
            scope.spawn(|| first.time(run));
            scope.spawn(|| second.time(run));
        });
        let wall = inference_wall_time() - wall_before;
        let elapsed = started.elapsed();
        assert!(first.total() >= nap && second.total() >= nap);
        // Both were in flight together for about `nap` (nothing else in this test binary runs
        // a session), so the wall time is less than the sum by about that; counted twice, it
        // would be at least the sum.
        assert!(wall >= nap && wall <= elapsed, "{wall:?} of {elapsed:?}");
        assert!(first.total() + second.total() >= wall + nap / 2, "{wall:?}");
        assert_eq!(first.time(|| 7), 7);
    }
}
