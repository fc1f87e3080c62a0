//! Integration tests, one binary so linking stays fast. Every fixture is written by the test itself;
//! nothing here needs data from outside the repository.

mod auth;
mod bench;
mod browser;
mod check_comment;
mod cli;
mod cluster;
mod durability;
mod faults;
mod hostile;
mod http;
mod layers;
mod logs;
mod models;
mod overlay;
mod queue;
mod replicas;
mod round_trips;
mod server;
mod shipped_model;
mod sites;
mod store;
mod support;
mod tokenize_props;
mod web;
mod webdriver;
mod webhook;
mod wire;

pub(crate) use queue::config as queue_config;
