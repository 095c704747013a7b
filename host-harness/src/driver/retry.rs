//! Calls into the component with retries: what the connector says a retry may cure is tried again, with
//! exponential backoff and jitter that honours the source's Retry-After, bounded in attempts per call and by the
//! sync's retry budget. The guest never sleeps.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use connector_model::wire::LOOPING;

use super::Progress;
use crate::contract::{ConnectorError, describe};
use crate::failure::{Failure, FailureKind};
use crate::runtime::{CallError, Instance};
use crate::throttle::Throttle;

/// Calls into the component, from any of a session's instances: retries of what the connector says a retry may
/// cure, with exponential backoff and jitter that honours the source's Retry-After, bounded in attempts per
/// call and by the sync's retry budget (`Throttle`, shared with the egress's repeats of single requests).
pub(super) struct Calls<'a> {
    pub(super) throttle: &'a Throttle,
    pub(super) progress: &'a dyn Progress,
    /// Time spent inside component calls.
    pub(super) in_calls: Mutex<Duration>,
}

impl Calls<'_> {
    /// Retries made and time spent inside component calls, over the sync.
    pub(super) fn totals(&self) -> (u64, Duration) {
        (self.throttle.totals().0, *self.in_calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Makes `call` on `instance`, each attempt on a task of its own (`attempt` builds it), so that the
    /// instances of a session run on every core; the instance comes back with the outcome.
    pub(super) async fn call<T, A>(&self, mut instance: Instance, call: &str, attempt: impl Fn(Instance) -> A) -> (Instance, Result<T>)
    where
        T: Send + 'static,
        A: Future<Output = (Result<T, CallError>, Instance)> + Send + 'static,
    {
        let policy = self.throttle.policy();
        let mut attempts = 1;
        loop {
            // A source's Retry-After holds back every request in the egress (`Throttle::hold`), not here.
            let calling = Instant::now();
            let (outcome, back) = on_own_task(attempt(instance)).await;
            instance = back;
            *self.in_calls.lock().unwrap_or_else(|e| e.into_inner()) += calling.elapsed();
            let error = match outcome {
                Ok(value) => return (instance, Ok(value)),
                Err(CallError::Connector(e)) => e,
                Err(other) => return (instance, Err(other.into())),
            };
            let (limit, retry_after) = match (error.retryable(), &error) {
                (Some(retry_after), _) => (policy.max_attempts, retry_after),
                (None, ConnectorError::BadResponse(_)) if !is_loop(&error) => (policy.bad_response_attempts, None),
                (None, _) => return (instance, Err(Failure::error(FailureKind::of_connector(&error), describe(&error)))),
            };
            let kind = FailureKind::of_connector(&error);
            if attempts >= limit {
                return (instance, Err(Failure::error(kind, format!("{} (gave up after {attempts} attempts)", describe(&error)))));
            }
            let wait = policy.delay(attempts, retry_after);
            if let Err(why) = self.throttle.spend(wait) {
                return (instance, Err(Failure::error(kind, format!("{} ({why})", describe(&error)))));
            }
            if matches!(error, ConnectorError::RateLimited { .. }) {
                self.throttle.hold_for(wait);
            }
            tracing::info!("{call}: {}; attempt {} in {:.1} s", describe(&error), attempts + 1, wait.as_secs_f64());
            self.progress.waiting(call, wait, &describe(&error));
            tokio::time::sleep(wait).await;
            attempts += 1;
        }
    }
}

/// A source that sends the caller round in circles answers the same on every attempt: not worth repeating.
fn is_loop(error: &ConnectorError) -> bool {
    matches!(error, ConnectorError::BadResponse(message) if message.contains(LOOPING))
}

/// Runs `work` on a task of its own, on whichever of the runtime's threads is free. Dropped before it ends (a
/// sync cut short), it stops the task.
async fn on_own_task<R: Send + 'static>(work: impl Future<Output = R> + Send + 'static) -> R {
    // The task keeps the caller's span (the sync's tenant) for what it logs.
    match tokio_util::task::AbortOnDropHandle::new(tokio::spawn(tracing::Instrument::in_current_span(work))).await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the runtime stopped a component call it was running"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_that_sends_the_connector_round_in_circles_is_not_asked_again() {
        // As the SDK's walk of next links says it (`connector_sdk::page::Links`).
        let looping = ConnectorError::BadResponse(format!("GET /roles: the next link repeats a page already read; {LOOPING}"));
        assert!(is_loop(&looping), "{looping:?}");
        assert!(!is_loop(&ConnectorError::BadResponse("GET /roles: body is not valid JSON".into())), "a cut body may be asked for again");
    }
}
