//! Integration tests, one binary so linking stays fast. Every fixture is written by the test itself;
//! nothing here needs `../shared`.

mod check_comment;
mod cli;
mod server;
mod shipped_model;
mod support;
mod tokenize_props;
