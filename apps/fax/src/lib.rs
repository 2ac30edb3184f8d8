//! Runs Kazoo's fax application: email-to-fax, the faxbox registry and the fax maintenance functions.
//!
//! Ports `applications/fax`: [`registry`] answers which faxbox an email address reaches and whether a sender may
//! use it (`fax_smtp`'s `check_faxbox` and permission rules, with a cache), [`smtp`] is the email-to-fax SMTP
//! server, [`converter`] turns its jobs' documents into faxes, [`maintenance`] holds the `sup fax_maintenance` functions, and [`faxbox`] types the faxbox document.

pub mod convert_plan;
pub mod converter;
pub mod faxbox;
pub mod maintenance;
pub mod registry;
pub mod smtp;
