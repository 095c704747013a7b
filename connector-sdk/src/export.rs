//! The WIT boundary, written once for every connector: the `identity:connector` bindings (private to the
//! SDK), `waki` over the host's `wasi:http` as the `HttpClient`, and the conversions between the model and
//! the WIT types. `export_connector!` instantiates it for one `Connector`.

use std::time::Duration;

use crate::connector::{Connector, ConnectorSession};
use crate::error::ConnectorError;
use crate::http::{HttpClient, Method, Request, Response, transport_error};
use crate::model as m;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "identity-connector",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "connector_sdk::export::bindings",
    });
}

pub use bindings::exports::identity::connector::connector::{Guest, GuestSession, Session};
pub use bindings::identity::connector::types as wit;

use wit as w;

/// Every component's allocator: talc rather than Rust's default for wasm, dlmalloc, which took a fifth of a
/// Pingboard component's time (BENCHMARKS.md, session 20). A component instance runs one call at a time.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// `waki` over `wasi:http`. It sets only a connect timeout; the host bounds everything else.
pub struct WakiHttp;

impl HttpClient for WakiHttp {
    fn send(&self, request: &Request) -> Result<Response, ConnectorError> {
        let client = waki::Client::new();
        let builder = match request.method {
            Method::Get => client.get(&request.url),
            Method::Post => client.post(&request.url),
            Method::Put => client.put(&request.url),
            Method::Patch => client.patch(&request.url),
            Method::Delete => client.delete(&request.url),
        };
        let mut builder = builder.header("accept", "application/json").connect_timeout(Duration::from_secs(10));
        if let Some(body) = &request.body {
            builder = builder.header("content-type", "application/json").body(body.clone());
        }
        let response = builder.send().map_err(|e| transport_error(&format!("{e:#}")))?;
        let status = response.status_code();
        let retry_after = response.header("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = read_body(&response).map_err(|e| transport_error(&format!("reading the body: {e}")))?;
        Ok(Response { status, retry_after, body })
    }
}

/// The body, read into a buffer of the size the server announced: a buffer grown as the body arrives holds up to
/// twice the body while it is copied, and a guest's memory never shrinks. The announcement is trusted only so
/// far (the host refuses bodies over its limit whatever they announce).
fn read_body(response: &waki::Response) -> Result<Vec<u8>, String> {
    const MOST_PREALLOCATED: usize = 64 << 20;
    let announced = response.header("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = Vec::with_capacity(announced.unwrap_or(0).min(MOST_PREALLOCATED));
    while let Some(chunk) = response.chunk(1 << 20).map_err(|e| format!("{e:#}"))? {
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Guest::metadata` for connector `C`.
pub fn metadata<C: Connector>() -> w::ConnectorMetadata {
    C::metadata().into()
}

/// `Guest::open` for connector `C`.
pub fn open<C: Connector>(config: Vec<(String, String)>, provisioning: bool) -> Result<Session, w::ConnectorError> {
    // Whatever the host checked, the component checks its own schema: no host has to get it right.
    crate::config::ConfigReader::check(&C::metadata().config_schema, &config)?;
    let session = C::open(WakiHttp, &config, provisioning)?;
    Ok(Session::new(SessionResource::<C>(session)))
}

/// The exported `session` resource of connector `C`.
pub struct SessionResource<C: Connector>(C::Session<WakiHttp>);

type Out<T> = Result<T, w::ConnectorError>;

impl<C: Connector> GuestSession for SessionResource<C> {
    fn validate(&self) -> Out<w::Validation> {
        Ok(w::Validation { summary: self.0.validate()? })
    }

    fn resource_types(&self) -> Out<Vec<w::ResourceType>> {
        Ok(self.0.resource_types()?.into_iter().map(Into::into).collect())
    }

    fn list_resources(&self, resource_type: String, parent: Option<w::ResourceId>, page_token: Option<String>) -> Out<w::ResourcePage> {
        let parent = parent.map(m::ResourceId::from);
        Ok(self.0.list_resources(&resource_type, parent.as_ref(), page_token.as_deref())?.into())
    }

    fn list_entitlements(&self, resource: w::ResourceId, page_token: Option<String>) -> Out<w::EntitlementPage> {
        Ok(self.0.list_entitlements(&resource.into(), page_token.as_deref())?.into())
    }

    fn list_grants(&self, resource: w::ResourceId, page_token: Option<String>) -> Out<w::GrantPage> {
        Ok(self.0.list_grants(&resource.into(), page_token.as_deref())?.into())
    }

    fn get_resource(&self, id: w::ResourceId) -> Out<w::Resource> {
        Ok(self.0.get_resource(&id.into())?.into())
    }

    fn grant(&self, principal: w::ResourceId, entitlement: String) -> Out<w::GrantOutcome> {
        Ok(self.0.grant(&principal.into(), &entitlement)?.into())
    }

    fn revoke(&self, grant: w::Grant) -> Out<w::RevokeOutcome> {
        Ok(self.0.revoke(&grant.into())?.into())
    }

    fn create_account(&self, fields: w::Fields) -> Out<w::CreateOutcome> {
        Ok(self.0.create_account(&fields)?.into())
    }

    fn update_resource(&self, id: w::ResourceId, fields: w::Fields) -> Out<w::Resource> {
        Ok(self.0.update_resource(&id.into(), &fields)?.into())
    }

    fn create_resource(&self, resource_type: String, fields: w::Fields) -> Out<w::CreateOutcome> {
        Ok(self.0.create_resource(&resource_type, &fields)?.into())
    }

    fn delete_resource(&self, id: w::ResourceId) -> Out<w::DeleteOutcome> {
        Ok(self.0.delete_resource(&id.into())?.into())
    }
}

// The model ↔ WIT conversions of the newest contract, from the list both sides share.
connector_model::wit_conversions!(guest, has: [0.2 0.3 0.4 0.5]);
