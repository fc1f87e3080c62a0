//! Integration tests, one binary so linking stays fast. Every fixture is written by the test itself;
//! nothing here needs `../shared`.

mod cli;
mod shipped_model;
mod support;
mod tokenize_props;
