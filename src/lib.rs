//! The Pingboard identity connector, on the connector SDK (`connector-sdk/`): Pingboard's API client, its
//! config, one module per resource type family, and its writes. Everything else a component needs (the
//! model, the HTTP seam, the WIT export) is the SDK's.

pub mod api;
pub mod config;
pub mod connector;
pub mod provisioning;
pub mod resources;

connector_sdk::export_connector!(connector::Pingboard);
