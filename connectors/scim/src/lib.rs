//! A SCIM 2.0 client connector (RFC 7643/7644) on the connector SDK (`connector-sdk/`): any SCIM service
//! provider's users and groups, group membership, and writes. Its API client, its config, one module per
//! resource type and its writes; the rest is the SDK's.

pub mod api;
pub mod config;
pub mod connector;
pub mod paging;
pub mod provisioning;
pub mod resources;

connector_sdk::export_connector!(connector::Scim);
