//! Provides Kazoo's core primitives shared by every app.
//!
//! Ports the pieces of `kazoo_stdlib` and `kazoo` the fax app leans on: 32-hex ids ([`ids`]), Gregorian
//! seconds ([`time`]), account and monthly database names ([`db`]), E.164 normalisation and reconcile rules
//! ([`e164`]), and the restart policy Erlang's supervisors give and ractor lacks ([`supervisor`]).

pub mod db;
pub mod e164;
pub mod ids;
pub mod supervisor;
pub mod time;
