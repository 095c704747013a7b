//! How one tenant's sync answers a source that says "slow down", decided here and nowhere else:
//!
//! - **one retry budget** for the whole sync: the egress's repeats of a throttled request (`egress.rs`) and the
//!   driver's repeats of a failed call (`driver.rs`) draw on the same count of retries and total wait;
//! - **a hold**: a source's Retry-After keeps every instance of the tenant back, not only the one told;
//! - **a window** of component calls in flight, halved when the source throttles and grown back by one after
//!   each window's worth of answered requests (additive increase, multiplicative decrease, as TCP does), so
//!   that a throttled sync converges instead of hammering. A request sent before the last cut says nothing
//!   new, so one burst of 429s halves the window once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::options::RetryPolicy;

/// One sync's answer to a source that says "slow down": a retry budget, a hold, and a window of calls at once.
pub struct Throttle {
    tenant: String,
    policy: RetryPolicy,
    /// The widest the window grows: the sync's instances.
    widest: usize,
    state: Mutex<State>,
}

struct State {
    retries: u64,
    waited: Duration,
    /// No request leaves before this: the source asked everyone to wait.
    held_until: Option<Instant>,
    window: usize,
    /// Requests answered without throttling since the window last changed.
    answered: usize,
    /// When the window was last cut.
    cut_at: Option<Instant>,
}

impl Throttle {
    /// The throttle of one sync of `tenant`, with at most `widest` calls at once.
    pub fn new(tenant: &str, policy: RetryPolicy, widest: usize) -> Self {
        let widest = widest.max(1);
        let state = State { retries: 0, waited: Duration::ZERO, held_until: None, window: widest, answered: 0, cut_at: None };
        Self { tenant: tenant.to_string(), policy, widest, state: Mutex::new(state) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How calls and requests are tried again.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Waits while a source's Retry-After holds the tenant back.
    pub async fn hold(&self) {
        let held = self.state().held_until;
        if let Some(until) = held {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// Takes `wait` (one more retry) from the sync's budget, or says why it cannot be spent.
    pub fn spend(&self, wait: Duration) -> Result<(), String> {
        let mut state = self.state();
        if state.waited + wait > self.policy.max_total_wait {
            return Err(format!("waiting {:.1} s more would pass the sync's retry budget of {} s", wait.as_secs_f64(), self.policy.max_total_wait.as_secs()));
        }
        state.waited += wait;
        state.retries += 1;
        Ok(())
    }

    /// The source asked the tenant to wait `wait`: no request of any instance leaves before it has passed.
    pub fn hold_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.state();
        state.held_until = Some(state.held_until.map_or(until, |held| held.max(until)));
    }

    /// The source throttled a request sent at `sent` (`why` names it): fewer calls at once, unless the window
    /// was cut after that request left.
    pub fn throttled(&self, sent: Instant, why: &str) {
        let mut state = self.state();
        if state.cut_at.is_some_and(|cut| sent < cut) || state.window == 1 {
            return;
        }
        let before = state.window;
        state.window = (before / 2).max(1);
        state.answered = 0;
        state.cut_at = Some(Instant::now());
        tracing::warn!(tenant = %self.tenant, "{why}: slowing down from {before} to {} calls at once", state.window);
    }

    /// A request was answered without throttling: after a window's worth of them, one more call at once.
    pub fn answered(&self) {
        let mut state = self.state();
        if state.window >= self.widest {
            return;
        }
        state.answered += 1;
        if state.answered >= state.window {
            state.window += 1;
            state.answered = 0;
            if state.window == self.widest {
                tracing::info!(tenant = %self.tenant, "the source has stopped throttling: back to {} calls at once", self.widest);
            }
        }
    }

    /// How many component calls may run at once now.
    pub fn window(&self) -> usize {
        self.state().window
    }

    /// Retries made and time spent waiting for them, over the sync.
    pub fn totals(&self) -> (u64, Duration) {
        let state = self.state();
        (state.retries, state.waited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_halves_once_per_burst_and_grows_back_one_at_a_time() {
        let throttle = Throttle::new("t", RetryPolicy::default(), 8);
        let before_cut = Instant::now();
        throttle.throttled(before_cut, "429");
        assert_eq!(throttle.window(), 4);
        // Other requests of the same burst, sent before the cut, cut nothing more.
        throttle.throttled(before_cut, "429");
        assert_eq!(throttle.window(), 4);
        throttle.throttled(Instant::now(), "429");
        assert_eq!(throttle.window(), 2);
        throttle.throttled(Instant::now(), "429");
        throttle.throttled(Instant::now(), "429");
        assert_eq!(throttle.window(), 1, "never below one");
        // One answered request widens a window of 1; a window of 2 needs 2, and so on, up to the instances.
        let widths: Vec<usize> = (0..30)
            .map(|_| {
                throttle.answered();
                throttle.window()
            })
            .collect();
        assert_eq!(&widths[..10], &[2, 2, 3, 3, 3, 4, 4, 4, 4, 5]);
        assert_eq!(*widths.last().unwrap(), 8);
    }

    #[test]
    fn the_budget_is_one_for_the_whole_sync() {
        let policy = RetryPolicy { max_total_wait: Duration::from_secs(3), ..RetryPolicy::default() };
        let throttle = Throttle::new("t", policy, 4);
        assert_eq!(throttle.spend(Duration::from_secs(2)), Ok(()));
        assert_eq!(throttle.spend(Duration::from_secs(2)), Err("waiting 2.0 s more would pass the sync's retry budget of 3 s".to_string()));
        assert_eq!(throttle.spend(Duration::from_secs(1)), Ok(()));
        assert_eq!(throttle.totals(), (2, Duration::from_secs(3)));
    }
}
