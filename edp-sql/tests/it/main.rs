//! edp-sql's integration tests: one binary, a module per area. Every test runs on
//! SQLite (a file in a scratch directory) and on a real PostgreSQL (the throwaway
//! cluster of `edp_sql::testkit`, or `DATABASE_URL`).

mod common;
mod contract;
mod crash;
mod event_store;
mod inbox;
mod late_commits;
mod relay;
mod saga;
