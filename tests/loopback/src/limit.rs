//! Request limits of the kinds SaaS APIs impose, for the doubles to switch on: a 429 with `Retry-After` to every
//! Nth request, or to every request past N in a fixed window of time (PingOne and Okta limit this way).

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Every `n`th request (counting from 1) is refused with `Retry-After: retry_after_secs`.
    EveryNth { n: u64, retry_after_secs: u64 },
    /// At most `requests` in each `window`, counted from the first request; past them, refused with the whole
    /// seconds to the window's end as `Retry-After`.
    FixedWindow { requests: u64, window: Duration },
}

/// A `Limit` applied to the requests a double receives.
#[derive(Debug, Default)]
pub struct Limiter {
    limit: Option<Limit>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    seen: u64,
    refused: u64,
    window_start: Option<Instant>,
    in_window: u64,
}

impl Limiter {
    pub fn new(limit: Option<Limit>) -> Self {
        Self { limit, state: Mutex::default() }
    }

    /// Counts a request: `Some(retry_after_secs)` when it is to be refused with 429.
    pub fn refuse(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap();
        state.seen += 1;
        let refusal = match self.limit? {
            Limit::EveryNth { n, retry_after_secs } => state.seen.is_multiple_of(n).then_some(retry_after_secs),
            Limit::FixedWindow { requests, window } => {
                let now = Instant::now();
                let start = *state.window_start.get_or_insert(now);
                let elapsed = now - start;
                if elapsed >= window {
                    let windows = (elapsed.as_nanos() / window.as_nanos()) as u32;
                    state.window_start = Some(start + window * windows);
                    state.in_window = 0;
                }
                if state.in_window < requests {
                    state.in_window += 1;
                    None
                } else {
                    let left = window.saturating_sub(now - state.window_start.expect("set above"));
                    Some(left.as_secs_f64().ceil().max(1.0) as u64)
                }
            }
        };
        state.refused += u64::from(refusal.is_some());
        refusal
    }

    /// Requests refused so far.
    pub fn refused(&self) -> u64 {
        self.state.lock().unwrap().refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_and_a_fixed_window() {
        let nth = Limiter::new(Some(Limit::EveryNth { n: 3, retry_after_secs: 1 }));
        let refused: Vec<bool> = (0..7).map(|_| nth.refuse().is_some()).collect();
        assert_eq!(refused, [false, false, true, false, false, true, false]);
        assert_eq!(nth.refused(), 2);
        let window = Limiter::new(Some(Limit::FixedWindow { requests: 2, window: Duration::from_millis(300) }));
        assert_eq!((window.refuse(), window.refuse(), window.refuse()), (None, None, Some(1)));
        std::thread::sleep(Duration::from_millis(320));
        assert_eq!((window.refuse(), window.refuse(), window.refuse()), (None, None, Some(1)));
        assert_eq!(Limiter::default().refuse(), None);
    }
}
