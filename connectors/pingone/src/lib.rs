//! A PingOne connector on the connector SDK (`connector-sdk/`): one environment's users, groups, populations
//! and roles, with membership and role grants, and writes. Its API client, its config, one module per
//! resource type and its writes; the rest is the SDK's. What the PingOne API allows and costs is in
//! `connectors/pingone/README.md`.

pub mod api;
pub mod config;
pub mod connector;
pub mod provisioning;
pub mod resources;

connector_sdk::export_connector!(connector::PingOne);
