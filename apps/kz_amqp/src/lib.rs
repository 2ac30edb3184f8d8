//! Carries Kazoo's AMQP messages: the `Bus` seam, its two backends and the typed `kapi` modules.
//!
//! This crate ports `kazoo_amqp`: apps talk to [`Bus`] only and never name `lapin` types. [`kapi`] holds one
//! typed module per Kazoo API the fax app sends or receives, with Kazoo's header names, validation and routing
//! keys.

pub mod amqp;
pub mod bus;
pub mod kapi;
pub mod local;
pub mod rpc;

pub use bus::{Acker, Bus, BusError, BusResult, Delivery, DeliveryStream, ExchangeKind, Message, QueueOptions};
