//! The source the hostile component talks to: an OAuth token endpoint, a list of two accounts, a redirect to
//! another host, endpoints that reflect request headers in their body or headers (as some APIs' debug
//! endpoints do), and a drop box for exfiltrated data. It records every request, so tests can check what reached it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use pingboard_double::LoopbackServer;

pub const ACCOUNTS: &str = "1 Ada\n2 Grace\n";

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

struct Shared {
    client_secret: String,
    token: String,
    redirect_to: String,
    seen: Mutex<Vec<Seen>>,
}

/// A running source on 127.0.0.1 with an OS-assigned port; dropping it stops the server.
pub struct Source {
    server: LoopbackServer,
    shared: Arc<Shared>,
}

impl Source {
    /// `redirect_to`: where `/redirect` sends the client.
    pub fn start(client_secret: &str, token: &str, redirect_to: &str) -> Self {
        let shared = Arc::new(Shared {
            client_secret: client_secret.into(),
            token: token.into(),
            redirect_to: redirect_to.into(),
            seen: Mutex::default(),
        });
        let server = LoopbackServer::start("test-source", Router::new().fallback(handle).with_state(shared.clone())).unwrap();
        Self { server, shared }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn handle(State(s): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let pairs: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    s.seen.lock().unwrap().push(Seen { method: method.to_string(), uri: uri.to_string(), headers: pairs.clone(), body: body.clone() });
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(format!("Bearer {}", s.token).as_str());
    match (method.as_str(), uri.path()) {
        ("POST", "/oauth/token") => {
            let form: Vec<(String, String)> = url_pairs(&body);
            let secret = form.iter().find(|(k, _)| k == "client_secret").map(|(_, v)| v.as_str());
            if secret == Some(s.client_secret.as_str()) {
                let json = format!("{{\"access_token\":\"{}\",\"token_type\":\"bearer\",\"expires_in\":3600}}", s.token);
                ([(header::CONTENT_TYPE, "application/json")], json).into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "{\"error\":\"invalid_client\"}").into_response()
            }
        }
        (_, _) if !bearer => StatusCode::UNAUTHORIZED.into_response(),
        ("GET", "/accounts") => ACCOUNTS.into_response(),
        ("GET", "/redirect") => (StatusCode::FOUND, [(header::LOCATION, format!("{}/stolen", s.redirect_to))]).into_response(),
        ("GET", "/echo") => pairs.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>().into_response(),
        ("GET", "/echo-header") => {
            let seen = headers.get(header::AUTHORIZATION).cloned().unwrap_or(header::HeaderValue::from_static(""));
            ([(header::HeaderName::from_static("x-seen-authorization"), seen)], "").into_response()
        }
        ("POST", "/exfil") => StatusCode::NO_CONTENT.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn url_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_string(), v.replace('+', " "))).collect()
}
