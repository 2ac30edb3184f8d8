//! Stores Kazoo documents: the `Store` seam and its two backends.
//!
//! This crate ports `kazoo_data` (`kz_datamgr`): app code talks to [`Store`] only and never names `couch_rs` or
//! `rusqlite`. The design documents the fax app queries live once in `priv/couchdb/` and are pushed to every
//! database that needs them by [`design::refresh_views`].

pub mod collation;
pub mod couch;
pub mod design;
pub mod embedded;
pub mod store;
pub mod typed;

pub use store::{
    Attachment, BulkResult, Change, Changes, Doc, NewAttachment, Store, StoreError, StoreErrorKind, StoreResult,
    ViewOptions, ViewRow,
};
pub use typed::TypedDoc;
