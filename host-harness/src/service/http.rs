//! The service's one port: `/healthz` (alias `/livez`: the scheduler loop is alive; never a dependency, so a
//! database outage cannot restart every pod), `/readyz` (components loaded, the store answering within a second,
//! not draining), `/metrics` (OpenMetrics text) and `/` (the status page). All read-only.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;

use super::{Observed, page};
use crate::display::one_line;
use crate::store::Store;

/// The paths the probes use; the Kubernetes manifests name the same (a test holds them together).
pub const HEALTH_PATH: &str = "/healthz";
pub const READY_PATH: &str = "/readyz";

/// How long the store may take to answer a readiness check.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) async fn serve(listener: tokio::net::TcpListener, observed: Arc<Observed>, mut stop: watch::Receiver<bool>) {
    let app = Router::new()
        .route(HEALTH_PATH, get(health))
        .route("/livez", get(health))
        .route(READY_PATH, get(ready))
        .route("/metrics", get(metrics))
        .route("/", get(status_page))
        .with_state(observed);
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        tracing::error!("the HTTP server stopped: {e}");
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn health(State(observed): State<Arc<Observed>>) -> Response {
    // The loop ticks at least every poll (±20 %); a claim or a store wait can hold it a little longer.
    let stalled_after = observed.poll * 3 + Duration::from_secs(10);
    let since = observed.since_tick();
    if since > stalled_after {
        return text(StatusCode::SERVICE_UNAVAILABLE, format!("scheduler stalled: no tick for {:.0} s\n", since.as_secs_f64()));
    }
    text(StatusCode::OK, "ok\n".into())
}

async fn ready(State(observed): State<Arc<Observed>>) -> Response {
    let why_not = if observed.draining.load(Ordering::SeqCst) {
        Some("draining".to_string())
    } else if !observed.loaded.load(Ordering::SeqCst) {
        Some("loading components".to_string())
    } else {
        let path = observed.store.clone();
        let check = tokio::task::spawn_blocking(move || Store::open_existing(&path).and_then(|store| store.ping()));
        match tokio::time::timeout(STORE_CHECK_TIMEOUT, check).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(format!("store unavailable: {}", one_line(&format!("{e:#}")))),
            Ok(Err(e)) => Some(format!("store check failed: {e}")),
            Err(_) => Some(format!("store did not answer within {} s", STORE_CHECK_TIMEOUT.as_secs())),
        }
    };
    match why_not {
        None => text(StatusCode::OK, "ready\n".into()),
        Some(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")),
    }
}

async fn metrics(State(observed): State<Arc<Observed>>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], observed.metrics.render()).into_response()
}

async fn status_page(State(observed): State<Arc<Observed>>) -> Response {
    let path = observed.store.clone();
    // Times are the store's clock: this replica's may disagree.
    let read = tokio::task::spawn_blocking(move || Store::open_existing(&path).and_then(|store| Ok((store.schedule()?, store.clock_ms()?)))).await;
    let (rows, now) = match read {
        Ok(Ok((rows, now))) => (Ok(rows), now),
        Ok(Err(e)) => (Err(one_line(&format!("{e:#}"))), crate::store::now_ms()),
        Err(e) => (Err(e.to_string()), crate::store::now_ms()),
    };
    let html = page::render(&observed.replica, observed.draining.load(Ordering::SeqCst), rows, now);
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}
