//! The saring subcommands.
