//! When a tenant syncs next: its interval with jitter after a good sync, a random first start, and backoff
//! after failures — exponential with equal jitter, gentler for failures a person must fix. Pure arithmetic
//! over a caller's random source, so tests can seed it.

use std::time::Duration;

use rand::Rng;

use crate::failure::FailureKind;

/// When tenants run: their interval and jitter, and how failures back off.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The interval of tenants that set none of their own.
    pub interval: Duration,
    /// Each interval is stretched or shrunk by up to this fraction, so tenants started together drift apart.
    pub jitter: f64,
    /// The first wait after a transient failure; it doubles with each failure in a row, up to the tenant's
    /// interval (and at most an hour).
    pub backoff: Duration,
    /// The first wait after a failure a person must fix (credentials, configuration); it doubles up to six hours.
    pub attention_backoff: Duration,
}

const TRANSIENT_CAP: Duration = Duration::from_secs(3600);
const ATTENTION_CAP: Duration = Duration::from_secs(6 * 3600);

impl Default for Policy {
    fn default() -> Self {
        Self { interval: Duration::from_secs(3600), jitter: 0.1, backoff: Duration::from_secs(60), attention_backoff: Duration::from_secs(15 * 60) }
    }
}

/// How far apart the first syncs of tenants that have never synced start.
pub const FIRST_RUN_SPREAD: Duration = Duration::from_secs(10);

impl Policy {
    /// A tenant's first sync, when it has never synced: at once, spread over `FIRST_RUN_SPREAD` (or its
    /// interval, if shorter) so a new deployment's tenants do not all start in the same second. `--parallel`
    /// bounds how many run at a time.
    pub fn first_run(&self, interval: Duration, rng: &mut impl Rng) -> Duration {
        interval.min(FIRST_RUN_SPREAD).mul_f64(rng.random_range(0.0..1.0))
    }

    /// After a good sync: the interval, give or take the jitter.
    pub fn after_success(&self, interval: Duration, rng: &mut impl Rng) -> Duration {
        let jitter = self.jitter.clamp(0.0, 0.9);
        if jitter == 0.0 {
            return interval;
        }
        interval.mul_f64(1.0 + rng.random_range(-jitter..=jitter))
    }

    /// After the `failures`-th failure in a row: base · 2^(failures − 1), capped, then equal jitter (between half
    /// and all of it). A transient failure never waits longer than the tenant's interval. (A source's Retry-After
    /// was already honoured by the sync's own retries, which gave up.)
    pub fn after_failure(&self, kind: FailureKind, failures: u32, interval: Duration, rng: &mut impl Rng) -> Duration {
        let (base, cap) = match kind {
            FailureKind::Transient => (self.backoff, TRANSIENT_CAP.min(interval).max(self.backoff)),
            FailureKind::NeedsAttention => (self.attention_backoff, ATTENTION_CAP.max(self.attention_backoff)),
        };
        let exponential = base.saturating_mul(1u32 << failures.saturating_sub(1).min(20)).min(cap);
        exponential.mul_f64(rng.random_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn intervals_are_jittered_within_their_bounds_and_spread() {
        let policy = Policy::default();
        let mut rng = StdRng::seed_from_u64(7);
        let waits: Vec<Duration> = (0..1000).map(|_| policy.after_success(HOUR, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w >= HOUR.mul_f64(0.9) && *w <= HOUR.mul_f64(1.1)), "within ±10 %");
        let spread = waits.iter().max().unwrap().saturating_sub(*waits.iter().min().unwrap());
        assert!(spread > HOUR.mul_f64(0.18), "spread over the whole band: {spread:?}");
        let firsts: Vec<Duration> = (0..1000).map(|_| policy.first_run(HOUR, &mut rng)).collect();
        assert!(firsts.iter().all(|w| *w < FIRST_RUN_SPREAD), "a tenant that never synced starts within seconds, not an interval");
        assert!(firsts.iter().filter(|w| **w < FIRST_RUN_SPREAD / 10).count() < 200, "first starts spread over those seconds");
        assert!(policy.first_run(Duration::from_secs(2), &mut rng) < Duration::from_secs(2), "nor later than a shorter interval");
        assert_eq!(Policy { jitter: 0.0, ..Policy::default() }.after_success(HOUR, &mut rng), HOUR);
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_the_interval() {
        let policy = Policy::default();
        let mut rng = StdRng::seed_from_u64(1);
        for (failures, full) in [(1, MINUTE), (2, 2 * MINUTE), (3, 4 * MINUTE), (6, 32 * MINUTE), (7, HOUR), (30, HOUR)] {
            for _ in 0..50 {
                let wait = policy.after_failure(FailureKind::Transient, failures, 2 * HOUR, &mut rng);
                assert!(wait >= full / 2 && wait <= full, "failure {failures}: {wait:?} not in [{:?}, {full:?}]", full / 2);
            }
        }
        // A tenant syncing every 5 minutes never waits longer than that.
        assert!(policy.after_failure(FailureKind::Transient, 10, 5 * MINUTE, &mut rng) <= 5 * MINUTE);
    }

    #[test]
    fn failures_a_person_must_fix_back_off_gently_up_to_six_hours() {
        let policy = Policy::default();
        let mut rng = StdRng::seed_from_u64(3);
        let first = policy.after_failure(FailureKind::NeedsAttention, 1, MINUTE, &mut rng);
        assert!(first >= 7 * MINUTE + MINUTE / 2 && first <= 15 * MINUTE, "{first:?}, even for a tenant synced every minute");
        let late = policy.after_failure(FailureKind::NeedsAttention, 12, MINUTE, &mut rng);
        assert!(late >= 3 * HOUR && late <= 6 * HOUR, "{late:?}");
    }
}
