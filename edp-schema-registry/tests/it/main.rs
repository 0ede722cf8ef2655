//! Integration tests of edp-schema-registry.

mod compat;
