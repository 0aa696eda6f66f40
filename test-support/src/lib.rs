//! What the workspace's tests share (dev-dependency only, never published):
//!
//! - [`services`]: the Redis and PostgreSQL a test talks to
//!   (`EVENTS_TEST_REDIS_URL`, `EVENTS_TEST_POSTGRES_URL`), with the
//!   "skipped: set ..." line a developer without one sees;
//! - [`PrivateRedis`] / [`PrivatePostgres`]: a server of the test's own on
//!   a spare loopback port, for fault tests that stop and restart it by PID;
//! - [`Schema`]: a PostgreSQL schema of one test's own, dropped after;
//! - [`TestCa`]: a throwaway certificate authority and the server
//!   certificates it signs, for the TLS tests.

mod postgres_server;
mod redis_server;
mod schema;
pub mod services;
mod tls;

pub use postgres_server::PrivatePostgres;
pub use redis_server::PrivateRedis;
pub use schema::Schema;
pub use services::{postgres_url, redis_url, spare_port, unique, with_query};
pub use tls::{Issued, TestCa};
