//! Holds the default headers every Kazoo API message carries.
//!
//! This ports `kz_api:default_headers/5` and `kz_api:validate/4`'s default-header check: `App-Name`,
//! `App-Version`, `Event-Category`, `Event-Name` and `Msg-ID` must be present (Kazoo adds `Msg-ID` and `Node`
//! when a publisher leaves them out); `Server-ID` is the queue replies go to and `Node` the sending node. The
//! struct is flattened into every message.

use serde::{Deserialize, Serialize};

use super::{Check, KapiError, KapiMessage};

/// Kazoo's default headers.
///
/// `Default` gives empty headers, which fail validation: build them with [`DefaultHeaders::new`] or
/// [`DefaultHeaders::for_message`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DefaultHeaders {
    /// The queue a reply goes to (through the `targeted` exchange).
    #[serde(rename = "Server-ID", default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(rename = "Event-Category", default)]
    pub event_category: String,
    #[serde(rename = "Event-Name", default)]
    pub event_name: String,
    #[serde(rename = "App-Name", default)]
    pub app_name: String,
    #[serde(rename = "App-Version", default)]
    pub app_version: String,
    /// The sending node (`fax@host` in Kazoo).
    #[serde(rename = "Node", default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The message id; a reply carries the request's.
    #[serde(rename = "Msg-ID", default)]
    pub msg_id: String,
}

impl DefaultHeaders {
    /// The fax app's `App-Name`.
    pub const APP_NAME: &'static str = "fax";
    /// The fax app's `App-Version`, as Kazoo 4.3's fax app reports it.
    pub const APP_VERSION: &'static str = "4.0.0";

    /// Headers for a message of the given event pair sent by the fax app on `node`, with a fresh 32-hex
    /// `Msg-ID` and no `Server-ID`.
    pub fn new(event_category: &str, event_name: &str, node: &str) -> Self {
        DefaultHeaders {
            server_id: None,
            event_category: event_category.to_string(),
            event_name: event_name.to_string(),
            app_name: Self::APP_NAME.to_string(),
            app_version: Self::APP_VERSION.to_string(),
            node: Some(node.to_string()),
            msg_id: kz_core::ids::new_id(),
        }
    }

    /// Headers for a message of type `M` sent from `node`.
    pub fn for_message<M: KapiMessage>(node: &str) -> Self {
        Self::new(M::EVENT_CATEGORY, M::EVENT_NAME, node)
    }

    /// Sets the queue replies go to.
    pub fn with_server_id(mut self, queue: impl Into<String>) -> Self {
        self.server_id = Some(queue.into());
        self
    }

    /// Sets the message id (a reply reuses the request's).
    pub fn with_msg_id(mut self, msg_id: impl Into<String>) -> Self {
        self.msg_id = msg_id.into();
        self
    }

    /// Checks the required default headers and the event pair of API `api`.
    pub(crate) fn check(&self, api: &'static str, category: &str, name: &str) -> Result<(), KapiError> {
        let c = Check::new(api);
        c.required("App-Name", &self.app_name)?;
        c.required("App-Version", &self.app_version)?;
        c.equals("Event-Category", &self.event_category, category)?;
        c.equals("Event-Name", &self.event_name, name)?;
        c.required("Msg-ID", &self.msg_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_headers_carry_the_fax_app_identity_and_a_fresh_msg_id() {
        let a = DefaultHeaders::new("start", "job", "fax@node1");
        let b = DefaultHeaders::new("start", "job", "fax@node1");
        assert_eq!(a.app_name, "fax");
        assert_eq!(a.app_version, "4.0.0");
        assert_eq!(a.node.as_deref(), Some("fax@node1"));
        assert_eq!((a.event_category.as_str(), a.event_name.as_str()), ("start", "job"));
        assert!(kz_core::ids::is_id(&a.msg_id), "{}", a.msg_id);
        assert_ne!(a.msg_id, b.msg_id);
        assert_eq!(a.server_id, None);
        assert!(a.check("x", "start", "job").is_ok());
    }

    #[test]
    fn check_names_the_missing_or_wrong_header() {
        let h = DefaultHeaders::new("start", "job", "n").with_msg_id("");
        assert_eq!(h.check("x", "start", "job").unwrap_err().field(), Some("Msg-ID"));
        let h = DefaultHeaders::new("start", "account", "n");
        let err = h.check("x", "start", "job").unwrap_err();
        assert_eq!(err.field(), Some("Event-Name"));
        assert!(err.to_string().contains("`account`"), "{err}");
        let h = DefaultHeaders { app_name: String::new(), ..DefaultHeaders::new("a", "b", "n") };
        assert_eq!(h.check("x", "a", "b").unwrap_err().field(), Some("App-Name"));
    }
}
