//! The SDK's example connector (`connector-sdk/examples/directory.rs`), built as a component and synced by the
//! harness from a toy directory API: the export is exactly the API's people, teams and memberships, and the
//! host, not the component, sent the bearer token.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pingboard_double::LoopbackServer;
use serde_json::{Value, json};

use crate::common::*;

const TOKEN: &str = "toy-directory-token-5d1e";

fn people_page(page: &str) -> Value {
    match page {
        "1" => json!({"people": [{"id": "1", "name": "Ada Lovelace", "email": "ada@toy.test"}, {"id": "2", "name": "Grace Hopper", "email": "grace@toy.test"}], "next_page": 2}),
        _ => json!({"people": [{"id": "3", "name": "Katherine Johnson", "email": "kj@toy.test"}], "next_page": null}),
    }
}

fn teams() -> Value {
    json!({"teams": [{"id": "core", "name": "Core", "members": ["1", "3"]}, {"id": "ops", "name": "Ops", "members": ["2"]}]})
}

/// The toy API, counting requests and refusing any without the token.
fn start_toy() -> (LoopbackServer, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let authorized = |headers: &HeaderMap| headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
    let app = Router::new()
        .route(
            "/people",
            get(move |State(seen): State<Arc<Mutex<Vec<String>>>>, Query(query): Query<Vec<(String, String)>>, headers: HeaderMap| async move {
                let page = query.iter().find(|(k, _)| k == "page").map(|(_, v)| v.clone()).unwrap_or_default();
                seen.lock().unwrap().push(format!("/people?page={page}"));
                if !authorized(&headers) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                axum::Json(people_page(&page)).into_response()
            }),
        )
        .route(
            "/teams",
            get(move |State(seen): State<Arc<Mutex<Vec<String>>>>, headers: HeaderMap| async move {
                seen.lock().unwrap().push("/teams".into());
                let answer: Response = if authorized(&headers) { axum::Json(teams()).into_response() } else { StatusCode::UNAUTHORIZED.into_response() };
                answer
            }),
        )
        .with_state(seen.clone());
    (LoopbackServer::start("toy-directory", app).unwrap(), seen)
}

#[test]
fn the_sdk_example_connector_syncs_a_toy_api_exactly() {
    let (toy, seen) = start_toy();
    let scratch = Scratch::new();
    let component = component_build::directory_component().display().to_string();
    let out = harness(&[
        "--cache-dir", &scratch.cache(), "sync", "--component", &component, "--store", &scratch.store(),
        "--config", &format!("base_url={}", toy.base_url()), "--secret", &format!("token={TOKEN}"),
    ])
    .ok();
    assert!(out.starts_with("synced tenant `default` (sync 1): 2 team, 3 user; 2 entitlements, 3 grants; 3 requests (0 token)"), "{out}");
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["/people?page=1", "/people?page=2", "/teams"], "one request per page");

    let lines = export(&scratch, "default");
    let people: Vec<Value> = people_page("1")["people"].as_array().unwrap().iter().chain(people_page("2")["people"].as_array().unwrap()).cloned().collect();
    let users: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "resource" && l["resource_type"] == "user").collect();
    assert_eq!(users.len(), 3);
    for (line, person) in users.iter().zip(&people) {
        assert_eq!((&line["id"], &line["display_name"], &line["status"]), (&person["id"], &person["name"], &json!("enabled")));
        assert_eq!(line["user"]["emails"], json!([{"address": person["email"], "primary": true}]));
        assert_eq!(line["user"]["login"], person["email"]);
        assert_eq!(line["profile"], *person, "the source's record, whole");
    }
    let ids = |kind: &str| of_kind(&lines, kind).iter().map(|l| l["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids("resource_type"), ["team", "user"]);
    assert_eq!(ids("entitlement"), ["team:core:member", "team:ops:member"]);
    assert_eq!(ids("grant"), ["team:core:member:user:1", "team:core:member:user:3", "team:ops:member:user:2"]);
}
