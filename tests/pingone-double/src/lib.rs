//! A PingOne double: the management API (`/v1/environments/{env}/…`, `/v1/roles`) on one loopback origin and
//! the worker-app token endpoint (`/{env}/as/token`) on another, over a deterministic generated environment
//! of any size: users in populations, static, population-level, dynamic (`userFilter`) and nested groups,
//! built-in and custom roles, and role assignments to users and groups at environment, population and
//! organization scope. It pages with `_links.next.href` cursors (users at most 200 a page, some pages short),
//! answers PingOne error bodies, and has the fault switches a sync must survive. The facts it stands for are in
//! `connectors/pingone/README.md`; where one is not confirmed publicly, the choice is in `Behaviour`.

pub mod environment;
mod server;

pub use environment::{Assignment, Environment, EnvironmentSpec, Group, Membership, Population, Principal, Role, User, uuid};
pub use loopback_server::Limit;
pub use server::{Behaviour, CLIENT_ID, CLIENT_SECRET, Counts, Faults, PingOneDouble, TokenAuthMethod};
