//! The double speaks Pingboard as the reference describes: token endpoint variants and reuse, the listing
//! envelope and `meta`, single-record gets, `include=`, and the fault switches.

use std::time::Duration;

use base64::Engine as _;
use pingboard_double::{CLIENT_ID, CLIENT_SECRET, Company, CompanySpec, DoubleOptions, Faults, PingboardDouble};
use serde_json::Value;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn token(double: &PingboardDouble) -> String {
    let url = format!("{}/oauth/token?grant_type=client_credentials", double.base_url());
    let body = format!("client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}");
    let (status, json) = read(agent().post(&url).header("content-type", "application/x-www-form-urlencoded").send(&body).unwrap());
    assert_eq!(status, 200, "{json}");
    json["access_token"].as_str().unwrap().to_string()
}

fn get(double: &PingboardDouble, path: &str, token: &str) -> (u16, Value) {
    read(agent().get(&format!("{}{path}", double.base_url())).header("authorization", &format!("Bearer {token}")).call().unwrap())
}

#[test]
fn every_credential_placement_gets_the_same_reused_token() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3))).unwrap();
    let base = double.base_url();
    let form = format!("client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    let responses = [
        agent().post(&format!("{base}/oauth/token?grant_type=client_credentials")).header("content-type", "application/x-www-form-urlencoded").send(&form).unwrap(),
        agent().post(&format!("{base}/oauth/token")).header("content-type", "application/x-www-form-urlencoded").send(&format!("grant_type=client_credentials&{form}")).unwrap(),
        agent().post(&format!("{base}/oauth/token?grant_type=client_credentials")).header("content-type", "application/json")
            .send(&format!(r#"{{"client_id":"{CLIENT_ID}","client_secret":"{CLIENT_SECRET}"}}"#)).unwrap(),
        agent().post(&format!("{base}/oauth/token?grant_type=client_credentials&{form}")).send_empty().unwrap(),
        agent().post(&format!("{base}/oauth/token?grant_type=client_credentials")).header("authorization", &basic).send_empty().unwrap(),
    ];
    let tokens: Vec<Value> = responses.into_iter().map(read).map(|(status, json)| {
        assert_eq!(status, 200, "{json}");
        assert_eq!((&json["token_type"], &json["scope"]), (&Value::from("bearer"), &Value::from("public")));
        assert!(json["expires_in"].as_u64().unwrap() <= 7200 && json["created_at"].is_u64());
        json["access_token"].clone()
    }).collect();
    assert!(tokens.iter().all(|t| t == &tokens[0]), "a live token is reused: {tokens:?}");
    assert_eq!(double.counts().token, 5);
}

#[test]
fn bad_credentials_and_grants_are_refused_like_doorkeeper() {
    let double = PingboardDouble::start(Company::generate(CompanySpec::sized(3))).unwrap();
    let base = double.base_url();
    let (status, json) = read(agent().post(&format!("{base}/oauth/token?grant_type=client_credentials")).send_form([("client_id", CLIENT_ID), ("client_secret", "nope")]).unwrap());
    assert_eq!((status, json["error"].as_str()), (401, Some("invalid_client")));
    let (status, json) = read(agent().post(&format!("{base}/oauth/token?grant_type=password")).send_form([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]).unwrap());
    assert_eq!((status, json["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, _) = get(&double, "/api/v2/users", "made-up-token");
    assert_eq!(status, 401);
    assert_eq!(double.counts().unauthorized, 1);
}

#[test]
fn listings_carry_the_pingboard_envelope_and_meta() {
    let company = Company::generate(CompanySpec::sized(5));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let token = token(&double);
    let (status, page) = get(&double, "/api/v2/users?page=2&page_size=2", &token);
    assert_eq!(status, 200);
    assert_eq!(page["users"].as_array().unwrap().len(), 2);
    assert_eq!(page["users"][0]["id"], company.users[2].id.as_str());
    let meta = &page["meta"]["users"];
    assert_eq!((meta["page"].as_u64(), meta["page_size"].as_u64(), meta["count"].as_u64(), meta["page_count"].as_u64()), (Some(2), Some(2), Some(5), Some(3)));
    assert_eq!(meta["previous_href"], "/api/v2/users?page=1&page_size=2");
    assert_eq!(meta["next_href"], "/api/v2/users?page=3&page_size=2");
    assert_eq!(meta["first_href"], "/api/v2/users?page_size=2");
    assert!(page["users"][0]["reports_to_id"].is_u64(), "managers are integers");
    // The access_token query parameter works too.
    let (status, _) = read(agent().get(&format!("{}/api/v2/groups?access_token={token}", double.base_url())).call().unwrap());
    assert_eq!(status, 200);
    let (_, one) = get(&double, &format!("/api/v2/groups/{}?include=users", company.groups[0].id), &token);
    assert_eq!(one["groups"].as_array().unwrap().len(), 1, "single gets are one-element arrays");
    assert_eq!(one["linked"]["users"].as_array().unwrap().len(), company.groups[0].member_ids.len());
    let (status, missing) = get(&double, "/api/v2/users/nobody", &token);
    assert_eq!((status, missing["errors"][0].as_str()), (404, Some("User nobody not found")));
}

#[test]
fn an_empty_company_has_page_count_zero() {
    let double = PingboardDouble::start(Company::default()).unwrap();
    let (_, page) = get(&double, "/api/v2/groups?page=1&page_size=10", &token(&double));
    assert_eq!(page["groups"], Value::Array(vec![]));
    assert_eq!((page["meta"]["groups"]["count"].as_u64(), page["meta"]["groups"]["page_count"].as_u64()), (Some(0), Some(0)));
    assert_eq!(page["meta"]["groups"]["last_href"], "/api/v2/groups?page=0&page_size=10");
}

#[test]
fn fault_switches_misbehave_on_schedule() {
    let options = DoubleOptions { faults: Faults { rate_limit_every: Some(2), retry_after: Some("7".into()), ..Faults::default() }, ..DoubleOptions::default() };
    let double = PingboardDouble::start_with(Company::generate(CompanySpec::sized(3)), options).unwrap();
    let token = token(&double);
    let url = format!("{}/api/v2/users", double.base_url());
    let call = || agent().get(&url).header("authorization", &format!("Bearer {token}")).call().unwrap();
    assert_eq!(call().status(), 200);
    let limited = call();
    assert_eq!((limited.status().as_u16(), limited.headers().get("retry-after").unwrap().to_str().unwrap()), (429, "7"));

    double.set_faults(Faults { unavailable_burst: Some((4, 2)), ..Faults::default() });
    let statuses: Vec<u16> = (0..4).map(|_| call().status().as_u16()).collect();
    assert_eq!(statuses, [200, 503, 503, 200], "API calls 3 to 6: the burst starts at call 4 and lasts 2 calls");

    double.set_faults(Faults { truncate_every: Some(1), ..Faults::default() });
    let (status, body) = read(call());
    assert_eq!(status, 200);
    assert!(body.is_string(), "a truncated body is not JSON");

    double.set_faults(Faults { delay: Some(Duration::from_millis(300)), ..Faults::default() });
    let started = std::time::Instant::now();
    assert_eq!(call().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    double.set_faults(Faults { token_expires_after_calls: Some(1), ..Faults::default() });
    assert_eq!(call().status(), 401, "the token has already served more calls than allowed");
}

#[test]
fn pages_rendered_ahead_are_the_pages_rendered_on_request_until_a_write() {
    let mut company = Company::generate(CompanySpec::sized(25));
    let double = PingboardDouble::start(company.clone()).unwrap();
    let token = token(&double);
    let pages = ["/api/v2/users?page=1&page_size=10", "/api/v2/users?page=3&page_size=10", "/api/v2/groups?page=1&page_size=10"];
    let on_request: Vec<_> = pages.iter().map(|p| get(&double, p, &token)).collect();
    double.render_pages_ahead(10);
    let ahead: Vec<_> = pages.iter().map(|p| get(&double, p, &token)).collect();
    assert_eq!(ahead, on_request);
    // A filtered listing is rendered on request, and a write makes every page current again.
    assert_eq!(get(&double, &format!("/api/v2/users?email={}&page=1&page_size=10", company.users[0].email), &token).1["users"].as_array().unwrap().len(), 1);
    company.users[0].first_name = "Renamed".into();
    double.replace_company(company);
    assert_eq!(get(&double, pages[0], &token).1["users"][0]["first_name"], "Renamed");
}
