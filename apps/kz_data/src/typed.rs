//! Converts between stored JSON documents and the typed structs apps work with.
//!
//! Kazoo documents are typed at the edge (a faxbox, a user, an account) by serde structs that keep unknown fields
//! in a flattened map, so a document read and written back loses nothing. This trait gives each of them the same
//! two conversions.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Doc;

/// A serde struct stored as a document; implement it with an empty `impl TypedDoc for T {}`.
pub trait TypedDoc: Serialize + DeserializeOwned {
    /// Parses a stored document.
    fn from_doc(doc: Doc) -> Result<Self, serde_json::Error> {
        serde_json::from_value(Value::Object(doc))
    }

    /// The document to store (empty if the struct does not serialise to an object, which a derived struct always
    /// does).
    fn to_doc(&self) -> Doc {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Doc::new(),
        }
    }
}
