//! The connector SDK. A connector is an API client plus a mapping to this crate's plain-Rust model:
//!
//! - implement [`Connector`] (metadata and `open`) and [`ConnectorSession`] (the calls; every one but
//!   `resource_types` and `list_resources` defaults to `unsupported`);
//! - talk to the source through [`http::HttpClient`], which is the host's `wasi:http` inside the component and
//!   anything you like in native tests ([`fake::FakeHttp`]);
//! - end the crate with `connector_sdk::export_connector!(MyConnector);`.
//!
//! The crate builds natively too, so a connector's whole core is tested with `cargo test`. The WIT bindings
//! and their conversions live in `export` (wasm32 only) and are not part of the API: connectors never see
//! them, so the contract can grow without touching connector code. The host does the rest: secrets and
//! authentication, retries (return `rate-limited` or `unavailable`; never sleep), limits and storage.

pub mod config;
pub mod fake;
pub mod fields;
pub mod http;
pub mod json;
pub mod page;

// The model and errors live in a leaf crate the hosts share; connectors reach them here.
pub use connector_model::{error, model};

mod connector;

pub use connector::{Connector, ConnectorSession};
pub use error::{ConnectorError, Result};

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod export;

/// Makes `$connector` (a type implementing [`Connector`]) the component's export of the
/// `identity:connector` world. Use it once, at the root of the connector's crate. Natively it expands to
/// nothing, so the same crate builds and tests as a plain library.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __ConnectorComponent;
            impl $crate::export::Guest for __ConnectorComponent {
                type Session = $crate::export::SessionResource<$connector>;
                fn metadata() -> $crate::export::wit::ConnectorMetadata {
                    $crate::export::metadata::<$connector>()
                }
                fn open(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                    provisioning: bool,
                ) -> ::std::result::Result<$crate::export::Session, $crate::export::wit::ConnectorError> {
                    $crate::export::open::<$connector>(config, provisioning)
                }
            }
            $crate::export::bindings::export!(__ConnectorComponent with_types_in $crate::export::bindings);
        };
    };
}
