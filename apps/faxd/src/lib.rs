//! Builds and runs a Faxbox node: bootstrap config, backends, root supervisor, admin endpoint.
//!
//! Plays the part of Kazoo's release and `kazoo_apps_sup`: [`node::start`] opens the store and the bus chosen in
//! `rel/faxd.toml`, pushes the design documents, loads the fax configuration (writing missing defaults back) and
//! starts the root supervisor with its ordered child list.

pub mod admin;
pub mod bootstrap;
pub mod cli;
pub mod maintenance;
pub mod node;
