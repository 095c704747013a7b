//! A local Pingboard API double: a deterministic generated company served over Pingboard's token endpoint and
//! v2 API on 127.0.0.1, with request counting and fault switches. Tests, benchmarks and the demo use it.

pub mod company;
pub mod server;
mod writes;

pub use loopback_server::{LoopbackServer, TestCa};
pub use company::{Company, CompanySpec, Group, GroupKind, Manager, User};
pub use server::{CLIENT_ID, CLIENT_SECRET, DoubleOptions, Faults, PingboardDouble, RequestCounts};
