//! The service's one port: `/healthz` (alias `/livez`: the scheduler loop is alive, or draining; never a
//! dependency, so a database outage cannot restart every pod), `/readyz` (components loaded, the store answering
//! within a second, not draining), `/metrics` (OpenMetrics, or the classic text format: `metrics.rs`), and `/` and
//! `/tenants/{name}` (the status page: `page/`). All read-only.
//!
//! Whoever can reach the port cannot take it: it holds at most `MAX_CONNECTIONS`, a client has 3 s to send its
//! request, and every connection closes after its one answer (or 30 s: `Connections::ONE_REQUEST`), so idle or
//! half-sent connections cannot starve the probes. The SCIM gateway's port (`gateway/`) is served the same way,
//! its connections kept alive.

use std::sync::{Arc, Mutex};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;

use super::{Observed, page};
use crate::display::one_line;
use crate::store::{Store, StoreLocation};

/// The paths the probes use; the Kubernetes manifests name the same (a test holds them together).
pub const HEALTH_PATH: &str = "/healthz";
/// The readiness probe's path.
pub const READY_PATH: &str = "/readyz";

/// How long the store may take to answer a readiness check.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a readiness check's answer serves the probes that follow it.
const STORE_CHECK_KEPT: Duration = Duration::from_secs(1);

/// The store's part of readiness: checked on one connection kept for it, and the answer kept for
/// `STORE_CHECK_KEPT`, so that however many probes come at once the store sees at most one query a second
/// from them (a connection per probe turned a crowd of probes into failed ones).
pub(super) struct StoreProbe {
    location: StoreLocation,
    connection: Arc<Mutex<Option<Store>>>,
    /// When the store was last checked, and why it was not ready (none: it was).
    last: tokio::sync::Mutex<Option<(Instant, Option<String>)>>,
}

impl StoreProbe {
    pub(super) fn new(location: StoreLocation) -> Self {
        Self { location, connection: Arc::default(), last: tokio::sync::Mutex::new(None) }
    }

    /// Why the store is not ready, if it is not.
    async fn why_not(&self) -> Option<String> {
        // Probes arriving together wait here for the one check among them.
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last
            && at.elapsed() < STORE_CHECK_KEPT
        {
            return answer.clone();
        }
        let (location, connection) = (self.location.clone(), self.connection.clone());
        let check = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut kept = connection.lock().unwrap_or_else(|e| e.into_inner());
            let store = match &mut *kept {
                Some(store) => store,
                None => kept.insert(Store::open_existing(&location)?),
            };
            let answer = store.ping();
            if answer.is_err() {
                *kept = None;
            }
            answer
        });
        let answer = match tokio::time::timeout(STORE_CHECK_TIMEOUT, check).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(format!("store unavailable: {}", one_line(&format!("{e:#}")))),
            Ok(Err(e)) => Some(format!("store check failed: {e}")),
            Err(_) => Some(format!("store did not answer within {} s", STORE_CHECK_TIMEOUT.as_secs())),
        };
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// The most connections the port holds at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 512;

/// How a port treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct Connections {
    /// Whether a connection serves more than one request.
    pub keep_alive: bool,
    /// How long a client may take to send a request's head.
    pub header_timeout: Duration,
    /// The longest a connection lasts.
    pub lifetime: Duration,
}

impl Connections {
    /// The probes' port: one request per connection, answered within 30 s.
    pub const ONE_REQUEST: Self = Self { keep_alive: false, header_timeout: Duration::from_secs(3), lifetime: Duration::from_secs(30) };
    /// The SCIM gateway's port: a client's connection is kept between its requests (a provisioning run makes
    /// thousands), idle for at most 60 s, and for an hour at most.
    pub const KEPT_ALIVE: Self = Self { keep_alive: true, header_timeout: Duration::from_secs(60), lifetime: Duration::from_secs(3600) };
}

pub(super) async fn serve(listener: tokio::net::TcpListener, observed: Arc<Observed>, stop: watch::Receiver<bool>) {
    let app = Router::new()
        .route(HEALTH_PATH, get(health))
        .route("/livez", get(health))
        .route(READY_PATH, get(ready))
        .route("/metrics", get(metrics))
        .route("/", get(status_page))
        .route("/tenants/{*name}", get(tenant_page))
        .with_state(observed);
    accept(listener, app, stop, Connections::ONE_REQUEST).await;
}

/// Serves `app` on `listener` until `stop`: at most `MAX_CONNECTIONS` at once, each under `rules`.
pub async fn accept(listener: tokio::net::TcpListener, app: Router, mut stop: watch::Receiver<bool>, rules: Connections) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file handles, say: wait a little rather than spin.
                tracing::warn!("the HTTP port cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(rules.header_timeout).keep_alive(rules.keep_alive);
            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(rules.lifetime, connection).await;
            drop(slot);
        });
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn health(State(observed): State<Arc<Observed>>) -> Response {
    match stalled(observed.since_tick(), observed.poll, observed.draining.load(Ordering::SeqCst)) {
        Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        None => text(StatusCode::OK, "ok\n".into()),
    }
}

/// Why the process is not live, if it is not: its scheduler loop has not ticked for much longer than a poll.
/// A draining process is live: its loop waits for the running syncs, which the drain timeout bounds.
fn stalled(since_tick: Duration, poll: Duration, draining: bool) -> Option<String> {
    // The loop ticks at least every poll (±20 %); a claim or a store wait can hold it a little longer.
    let stalled_after = poll * 3 + Duration::from_secs(10);
    (!draining && since_tick > stalled_after).then(|| format!("scheduler stalled: no tick for {:.0} s", since_tick.as_secs_f64()))
}

async fn ready(State(observed): State<Arc<Observed>>) -> Response {
    let why_not = if observed.draining.load(Ordering::SeqCst) {
        Some("draining".to_string())
    } else if !observed.loaded.load(Ordering::SeqCst) {
        Some("loading components".to_string())
    } else {
        observed.store_probe.why_not().await
    };
    match why_not {
        None => text(StatusCode::OK, "ready\n".into()),
        Some(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")),
    }
}

/// OpenMetrics to a client that accepts it (Prometheus asks for it first), else the classic text format.
async fn metrics(State(observed): State<Arc<Observed>>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("application/openmetrics-text"));
    let text = observed.metrics.render();
    if openmetrics {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], super::metrics::classic_text(&text)).into_response()
    }
}

async fn status_page(State(observed): State<Arc<Observed>>) -> Response {
    let (fleet, now) = read_store(&observed, |store, now| {
        Ok(page::Fleet { schedule: store.schedule()?, runs: store.recent_runs(page::MARKS)?, gateway: store.writes_since(crate::gateway::LOG_PREFIX, now - DAY_MS)? })
    })
    .await;
    html(StatusCode::OK, page::overview(&observed.replica, observed.draining.load(Ordering::SeqCst), fleet, now))
}

async fn tenant_page(State(observed): State<Arc<Observed>>, Path(name): Path<String>) -> Response {
    let tenant = name.clone();
    let (read, now) = read_store(&observed, move |store, _| Ok((store.schedule()?.into_iter().find(|row| row.tenant == tenant), store.runs(&tenant, page::HISTORY)?))).await;
    let (found, body) = page::tenant(&observed.replica, observed.draining.load(Ordering::SeqCst), &name, read, now);
    html(if found { StatusCode::OK } else { StatusCode::NOT_FOUND }, body)
}

const DAY_MS: i64 = 86_400_000;

/// Reads what a page shows, off the async threads, with the store's clock (this replica's may disagree); or why
/// the store cannot be read, with this replica's clock.
async fn read_store<T: Send + 'static>(observed: &Observed, read: impl FnOnce(&Store, i64) -> anyhow::Result<T> + Send + 'static) -> (Result<T, String>, i64) {
    let location = observed.store.clone();
    let ran = tokio::task::spawn_blocking(move || {
        let store = Store::open_existing(&location)?;
        let now = store.clock_ms()?;
        Ok::<_, anyhow::Error>((read(&store, now)?, now))
    })
    .await;
    match ran {
        Ok(Ok((value, now))) => (Ok(value), now),
        Ok(Err(e)) => (Err(one_line(&format!("{e:#}"))), crate::store::now_ms()),
        Err(e) => (Err(e.to_string()), crate::store::now_ms()),
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draining_process_stays_live_while_its_loop_waits_for_the_running_syncs() {
        let poll = Duration::from_secs(1);
        assert_eq!(stalled(Duration::from_secs(5), poll, false), None);
        assert_eq!(stalled(Duration::from_secs(16), poll, false).as_deref(), Some("scheduler stalled: no tick for 16 s"));
        assert_eq!(stalled(Duration::from_secs(16), poll, true), None, "draining");
    }
}
