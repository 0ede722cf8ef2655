//! RFC 9457 problem details: the body of every error response of the API, edp's
//! [`Problem`].

pub use edp_core::problem::{CONTENT_TYPE, FieldError, Problem};
