//! Who may call what: API keys (tokens, hashed secrets, roles, sites) and the authentication that
//! checks them on every call.

pub mod auth;
pub mod keys;
