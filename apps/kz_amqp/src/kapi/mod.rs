//! Defines typed Kazoo AMQP messages the fax app sends and receives, with Kazoo's names, checks and routing keys.
//!
//! This module ports the `kapi_*` modules of `kazoo_amqp` that the fax app uses (`kapi_fax`,
//! `kapi_notifications`, `kapi_offnet_resource`, `kapi_call`, `kapi_dialplan`, `kapi_conf`), with `kz_api` for
//! the default headers and validation rules and `kz_amqp_util:encode/1` for routing-key words. Every message is
//! a serde struct with Kazoo's header names; fields it does not know are kept in `extra`, so a Kazoo payload
//! decodes and encodes back unchanged. [`KapiMessage::validate`] checks what Kazoo's `*_v` functions check: the
//! default headers, the required headers, the `Event-Category`/`Event-Name` pair, enumerated values and the
//! declared types. Messages with a routing key of their own implement [`Routed`]; replies, queries and dialplan
//! commands go to one queue named by the sender ([`publish_to`]).

pub mod call;
pub mod conf;
pub mod dialplan;
pub mod fax;
pub mod headers;
pub mod notifications;
pub mod offnet_resource;

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::bus::{Bus, BusError, ExchangeKind, Message};

pub use headers::DefaultHeaders;

/// A JSON object as Kazoo carries free-form dictionaries (`Custom-Channel-Vars`, `Custom-SIP-Headers` ...).
pub type JsonMap = serde_json::Map<String, Value>;

/// The `targeted` exchange (direct): replies and queries addressed to one queue by name.
pub const TARGETED_EXCHANGE: &str = "targeted";

/// The `xmpp` exchange (fanout) of Kazoo's cloud-printer push events (`kapi_xmpp`).
pub const XMPP_EXCHANGE: &str = "xmpp";

/// Every exchange these APIs publish on, with its type, as Kazoo declares them (`fax_init` declares the
/// exchanges of each `kapi_*` module the fax app uses).
pub const EXCHANGES: &[(&str, ExchangeKind)] = &[
    (fax::EXCHANGE, ExchangeKind::Topic),
    (TARGETED_EXCHANGE, ExchangeKind::Direct),
    (fax::CALLMGR_EXCHANGE, ExchangeKind::Topic),
    (offnet_resource::EXCHANGE, ExchangeKind::Topic),
    (call::EXCHANGE, ExchangeKind::Topic),
    (dialplan::EXCHANGE, ExchangeKind::Direct),
    (notifications::EXCHANGE, ExchangeKind::Topic),
    (conf::EXCHANGE, ExchangeKind::Topic),
    (XMPP_EXCHANGE, ExchangeKind::Fanout),
];

/// Why a message failed to decode, validate or publish. Validation errors name the Kazoo field at fault.
#[derive(Debug, thiserror::Error)]
pub enum KapiError {
    /// A required header is absent (or empty, which Kazoo strips before publishing).
    #[error("{api}: missing required field `{field}`")]
    Missing { api: &'static str, field: &'static str },
    /// A header has a value Kazoo does not accept.
    #[error("{api}: field `{field}` is {value}, expected {expected}")]
    Invalid { api: &'static str, field: &'static str, value: String, expected: String },
    /// The payload is not JSON of the message's shape.
    #[error("malformed payload: {0}")]
    Json(#[from] serde_json::Error),
    /// Publishing failed.
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl KapiError {
    /// The Kazoo field a validation error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            KapiError::Missing { field, .. } | KapiError::Invalid { field, .. } => Some(field),
            KapiError::Json(_) | KapiError::Bus(_) => None,
        }
    }
}

/// A typed Kazoo API message.
pub trait KapiMessage: Serialize + DeserializeOwned + Sized {
    /// The API's name, `<module>.<message>` (`fax.start_job`); Kazoo's schema for it is `kapi.<API>.json`.
    const API: &'static str;
    /// The `Event-Category` every message of this API carries.
    const EVENT_CATEGORY: &'static str;
    /// The `Event-Name` every message of this API carries.
    const EVENT_NAME: &'static str;
    /// The exchange Kazoo publishes this message on.
    const EXCHANGE: &'static str;

    /// The default headers (`Server-ID`, `Msg-ID` ...).
    fn headers(&self) -> &DefaultHeaders;

    /// Checks the message's own headers: required, enumerated and typed values.
    fn validate_fields(&self) -> Result<(), KapiError>;

    /// Checks the whole message as Kazoo's `*_v` function does: default headers, event pair, then the fields.
    fn validate(&self) -> Result<(), KapiError> {
        self.headers().check(Self::API, Self::EVENT_CATEGORY, Self::EVENT_NAME)?;
        self.validate_fields()
    }

    /// The exchange this message goes to.
    fn exchange(&self) -> &'static str {
        Self::EXCHANGE
    }

    /// Validates, then serializes to Kazoo's JSON payload.
    fn encode(&self) -> Result<Vec<u8>, KapiError> {
        self.validate()?;
        Ok(serde_json::to_vec(self)?)
    }

    /// Parses a Kazoo JSON payload, then validates it.
    fn decode(bytes: &[u8]) -> Result<Self, KapiError> {
        let msg: Self = serde_json::from_slice(bytes)?;
        msg.validate()?;
        Ok(msg)
    }

    /// The encoded message as a bus message (persistent JSON).
    fn to_message(&self) -> Result<Message, KapiError> {
        Ok(Message::json(self.encode()?))
    }
}

/// A message with a routing key of its own, published on its exchange for whoever bound a matching pattern.
///
/// Messages Kazoo addresses to one queue (query_status, offnet resp, dialplan commands, targeted status
/// replies) have no key of their own: the sender names the queue ([`publish_to`], [`publish_targeted`]).
pub trait Routed: KapiMessage {
    /// The routing key, in Kazoo's encoding (ids through [`encode_key_word`], `*` for a missing id).
    fn routing_key(&self) -> String;
}

/// Publishes a routed message on its exchange with its routing key.
pub async fn publish<M: Routed>(bus: &dyn Bus, msg: &M) -> Result<(), KapiError> {
    let body = msg.to_message()?;
    bus.publish(msg.exchange(), &msg.routing_key(), body).await?;
    Ok(())
}

/// Publishes a message to one queue through a direct exchange (`callctl` for dialplan commands).
pub async fn publish_to<M: KapiMessage>(bus: &dyn Bus, exchange: &str, queue: &str, msg: &M) -> Result<(), KapiError> {
    let body = msg.to_message()?;
    bus.publish(exchange, queue, body).await?;
    Ok(())
}

/// Publishes a message to one queue through the `targeted` exchange (replies, queries), as
/// `kz_amqp_util:targeted_publish/2` does.
pub async fn publish_targeted<M: KapiMessage>(bus: &dyn Bus, queue: &str, msg: &M) -> Result<(), KapiError> {
    publish_to(bus, TARGETED_EXCHANGE, queue, msg).await
}

/// Declares every exchange of [`EXCHANGES`] (idempotent).
pub async fn declare_exchanges(bus: &dyn Bus) -> Result<(), KapiError> {
    for (name, kind) in EXCHANGES {
        bus.declare_exchange(name, *kind).await?;
    }
    Ok(())
}

/// Reads a payload's `Event-Category` and `Event-Name` without decoding the rest, so a consumer of a shared
/// queue can pick the message type.
pub fn peek_event(bytes: &[u8]) -> Result<(String, String), KapiError> {
    #[derive(Deserialize)]
    struct EventType {
        #[serde(rename = "Event-Category", default)]
        category: String,
        #[serde(rename = "Event-Name", default)]
        name: String,
    }
    let ev: EventType = serde_json::from_slice(bytes)?;
    Ok((ev.category, ev.name))
}

/// Encodes one word of a routing key as `kz_amqp_util:encode/1` does, so a dot or a wildcard inside an id
/// cannot change the key's shape: `A-Z a-z 0-9 - ~ _` stay, a space becomes `+`, any other byte becomes
/// `%XX` (uppercase hex); an empty word, `*` and `#` are left as they are.
pub fn encode_key_word(word: &str) -> String {
    if word.is_empty() || word == "*" || word == "#" {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len());
    for b in word.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'~' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
    }
    out
}

/// A word for a routing key: the value encoded, or `*` when it is absent or empty (Kazoo's default).
pub(crate) fn key_word(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => encode_key_word(v),
        _ => "*".to_string(),
    }
}

/// A number or boolean that Kazoo sends either natively or as a string (FreeSWITCH variables arrive as text:
/// `"Fax-Transfer-Rate": "14400"`; `fax_worker` sends `"Page": 3`). It keeps the form it arrived in, so a
/// payload re-encodes unchanged; [`Flex::get`] reads the value from either form.
#[derive(Debug, Clone, PartialEq)]
pub enum Flex<T> {
    /// Sent as a JSON number or boolean.
    Value(T),
    /// Sent as a JSON string.
    Text(String),
}

/// How a [`Flex`] reads its value from text.
pub trait FlexText: Sized {
    /// What the type is called in error messages.
    const EXPECTED: &'static str;
    fn from_text(text: &str) -> Option<Self>;
}

macro_rules! flex_number {
    ($($t:ty),*) => {$(
        impl FlexText for $t {
            const EXPECTED: &'static str = "a number";
            fn from_text(text: &str) -> Option<Self> {
                <$t as FromStr>::from_str(text.trim()).ok()
            }
        }
    )*};
}
flex_number!(u32, u64, i64);

impl FlexText for bool {
    const EXPECTED: &'static str = "a boolean";
    /// `kz_term:is_true`/`is_false` accept `"true"`/`"false"`; FreeSWITCH flags also use `"1"`/`"0"`.
    fn from_text(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        }
    }
}

impl<T: FlexText + Clone> Flex<T> {
    /// The value, from either form; `None` for text that does not parse.
    pub fn get(&self) -> Option<T> {
        match self {
            Flex::Value(v) => Some(v.clone()),
            Flex::Text(s) => T::from_text(s),
        }
    }
}

impl<T> From<T> for Flex<T> {
    fn from(v: T) -> Self {
        Flex::Value(v)
    }
}

impl<T: Serialize> Serialize for Flex<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Flex::Value(v) => v.serialize(s),
            Flex::Text(t) => s.serialize_str(t),
        }
    }
}

impl<'de, T: DeserializeOwned + FlexText> Deserialize<'de> for Flex<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Flex::Text(s)),
            other => {
                let shown = other.to_string();
                T::deserialize(other)
                    .map(Flex::Value)
                    .map_err(|_| serde::de::Error::custom(format!("expected {} or a string, got {shown}", T::EXPECTED)))
            }
        }
    }
}

/// A string or a list of strings (`send_to` in fax notification settings, `To`/`Cc`/`Bcc` of notifications),
/// kept in the form it arrived in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The addresses as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Declares a Kazoo enumerated header: known values as variants, anything else kept in `Other` so that
/// validation (not parsing) rejects it and names the field.
macro_rules! kapi_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant,)+
            /// A value outside Kazoo's list.
            Other(String),
        }

        impl $name {
            /// Kazoo's accepted values.
            pub const VALUES: &'static [&'static str] = &[$($text),+];

            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s,
                }
            }

            /// Reads the wire text; unknown text becomes `Other`.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_string()),
                }
            }

            /// True for one of Kazoo's accepted values.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Ok($name::parse(&text))
            }
        }
    };
}
pub(crate) use kapi_enum;

/// Validation helpers for one API, producing errors that name the field.
#[derive(Clone, Copy)]
pub(crate) struct Check {
    pub api: &'static str,
}

impl Check {
    pub fn new(api: &'static str) -> Self {
        Check { api }
    }

    pub fn missing(&self, field: &'static str) -> KapiError {
        KapiError::Missing { api: self.api, field }
    }

    pub fn invalid(&self, field: &'static str, value: impl fmt::Display, expected: impl Into<String>) -> KapiError {
        KapiError::Invalid { api: self.api, field, value: format!("`{value}`"), expected: expected.into() }
    }

    /// A required string header: present and not empty.
    pub fn required(&self, field: &'static str, value: &str) -> Result<(), KapiError> {
        if value.is_empty() { Err(self.missing(field)) } else { Ok(()) }
    }

    /// A required header of another type.
    pub fn present<T>(&self, field: &'static str, value: &Option<T>) -> Result<(), KapiError> {
        if value.is_none() { Err(self.missing(field)) } else { Ok(()) }
    }

    /// A required string header with one fixed value.
    pub fn equals(&self, field: &'static str, value: &str, expected: &str) -> Result<(), KapiError> {
        self.required(field, value)?;
        if value == expected { Ok(()) } else { Err(self.invalid(field, value, format!("`{expected}`"))) }
    }

    /// A string header that, when present, must be one of `allowed`.
    pub fn one_of(&self, field: &'static str, value: &str, allowed: &[&str]) -> Result<(), KapiError> {
        if allowed.contains(&value) {
            Ok(())
        } else {
            Err(self.invalid(field, value, format!("one of {}", allowed.join(", "))))
        }
    }

    /// An enumerated header: when present, a known value.
    pub fn known<E: KnownValue>(&self, field: &'static str, value: &Option<E>) -> Result<(), KapiError> {
        match value {
            Some(v) if !v.known() => Err(self.invalid(field, v.text(), format!("one of {}", E::values().join(", ")))),
            _ => Ok(()),
        }
    }

    /// A required enumerated header.
    pub fn required_known<E: KnownValue>(&self, field: &'static str, value: &Option<E>) -> Result<(), KapiError> {
        self.present(field, value)?;
        self.known(field, value)
    }

    /// A header Kazoo type-checks as a boolean (`kz_term:is_boolean/1`): when present, a boolean or its text.
    pub fn boolean(&self, field: &'static str, value: &Option<Flex<bool>>) -> Result<(), KapiError> {
        match value {
            Some(Flex::Text(t)) if bool::from_text(t).is_none() => Err(self.invalid(field, t, "a boolean")),
            _ => Ok(()),
        }
    }
}

/// What [`Check::known`] needs from an enumerated header type.
pub(crate) trait KnownValue {
    fn known(&self) -> bool;
    fn text(&self) -> &str;
    fn values() -> &'static [&'static str];
}

macro_rules! known_value {
    ($($t:ty),*) => {$(
        impl $crate::kapi::KnownValue for $t {
            fn known(&self) -> bool { self.is_known() }
            fn text(&self) -> &str { self.as_str() }
            fn values() -> &'static [&'static str] { <$t>::VALUES }
        }
    )*};
}
pub(crate) use known_value;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_words_are_encoded_like_kz_amqp_util() {
        assert_eq!(encode_key_word("0123abcdefABCDEF"), "0123abcdefABCDEF");
        assert_eq!(encode_key_word("a.b"), "a%2Eb");
        assert_eq!(encode_key_word("a b"), "a+b");
        assert_eq!(encode_key_word("-~_"), "-~_");
        assert_eq!(encode_key_word("x*y#z"), "x%2Ay%23z");
        assert_eq!(encode_key_word("account%2Fab"), "account%252Fab");
        assert_eq!(encode_key_word("call@10.0.0.1"), "call%4010%2E0%2E0%2E1");
        assert_eq!(encode_key_word("é"), "%C3%A9");
        assert_eq!(encode_key_word("*"), "*");
        assert_eq!(encode_key_word("#"), "#");
        assert_eq!(encode_key_word(""), "");
        assert_eq!(key_word(None), "*");
        assert_eq!(key_word(Some("")), "*");
        assert_eq!(key_word(Some("a.b")), "a%2Eb");
    }

    #[test]
    fn flex_keeps_its_wire_form_and_reads_both() {
        let n: Flex<u32> = serde_json::from_str("\"14400\"").unwrap();
        assert_eq!(n, Flex::Text("14400".into()));
        assert_eq!(n.get(), Some(14400));
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"14400\"");

        let n: Flex<u32> = serde_json::from_str("3").unwrap();
        assert_eq!(n, Flex::Value(3));
        assert_eq!(serde_json::to_string(&n).unwrap(), "3");

        let b: Flex<bool> = serde_json::from_str("\"true\"").unwrap();
        assert_eq!(b.get(), Some(true));
        let b: Flex<bool> = serde_json::from_str("false").unwrap();
        assert_eq!(b.get(), Some(false));
        let b: Flex<bool> = serde_json::from_str("\"maybe\"").unwrap();
        assert_eq!(b.get(), None);

        let err = serde_json::from_str::<Flex<u32>>("[1]").unwrap_err().to_string();
        assert!(err.contains("expected a number or a string"), "{err}");
    }

    #[test]
    fn peek_reads_the_event_pair() {
        let (c, n) = peek_event(br#"{"Event-Category":"start","Event-Name":"job","Job-ID":"x"}"#).unwrap();
        assert_eq!((c.as_str(), n.as_str()), ("start", "job"));
        assert!(peek_event(b"not json").is_err());
    }
}
