//! Defines the dialplan commands the fax app sends to a call: answer, receive_fax, hangup, set and store_fax.
//!
//! This ports those commands of Kazoo 4.3's `kapi_dialplan`: `Event-Category=call`, `Event-Name=command`, a
//! fixed `Application-Name` per command, `Call-ID` required and an optional `Insert-At` (head, tail, flush,
//! now). Commands go to the call's control queue on the `callctl` direct exchange ([`publish_command`]); the
//! `Server-ID` is the queue of the app controlling the call.

use serde::{Deserialize, Serialize};

use super::{Check, DefaultHeaders, Flex, JsonMap, KapiError, KapiMessage, kapi_enum, known_value, publish_to};
use crate::bus::Bus;

/// The call control exchange (direct): the routing key is the call's control queue.
pub const EXCHANGE: &str = "callctl";
/// `Event-Category` of every command.
pub const EVENT_CATEGORY: &str = "call";
/// `Event-Name` of every command.
pub const EVENT_NAME: &str = "command";

/// Publishes a command to a call's control queue (`kapi_dialplan:publish_command/2`).
pub async fn publish_command<M: KapiMessage>(bus: &dyn Bus, control_queue: &str, command: &M) -> Result<(), KapiError> {
    publish_to(bus, EXCHANGE, control_queue, command).await
}

kapi_enum! {
    /// `Insert-At`: where the command joins the call's command queue.
    InsertAt {
        Head = "head",
        Tail = "tail",
        /// Drop queued commands, then run this one.
        Flush = "flush",
        /// Run at once, out of queue order.
        Now = "now",
    }
}
known_value!(InsertAt);

/// Declares one command: the common fields, its own, its checks.
macro_rules! command {
    (
        $(#[$m:meta])* $name:ident, $app:literal, $api:literal,
        { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? },
        |$s:ident, $c:ident| $check:block
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            #[serde(flatten)]
            pub headers: DefaultHeaders,
            /// Always the command's name.
            #[serde(rename = "Application-Name", default)]
            pub application_name: String,
            #[serde(rename = "Call-ID", default)]
            pub call_id: String,
            #[serde(rename = "Insert-At", default, skip_serializing_if = "Option::is_none")]
            pub insert_at: Option<InsertAt>,
            $($(#[$fm])* pub $field: $ty,)*
            #[serde(flatten)]
            pub extra: JsonMap,
        }

        impl $name {
            /// The command's `Application-Name`.
            pub const APPLICATION_NAME: &'static str = $app;

            /// The command for `call_id`, from `node`; replies (execute-complete events) concern
            /// `controller_queue`, the queue of the app driving the call.
            pub fn for_call(node: &str, call_id: &str, controller_queue: &str) -> Self {
                $name {
                    headers: DefaultHeaders::for_message::<Self>(node).with_server_id(controller_queue),
                    application_name: $app.to_string(),
                    call_id: call_id.to_string(),
                    ..Default::default()
                }
            }
        }

        impl KapiMessage for $name {
            const API: &'static str = $api;
            const EVENT_CATEGORY: &'static str = EVENT_CATEGORY;
            const EVENT_NAME: &'static str = EVENT_NAME;
            const EXCHANGE: &'static str = EXCHANGE;

            fn headers(&self) -> &DefaultHeaders {
                &self.headers
            }

            fn validate_fields(&self) -> Result<(), KapiError> {
                let $c = Check::new(Self::API);
                $c.equals("Application-Name", &self.application_name, $app)?;
                $c.required("Call-ID", &self.call_id)?;
                $c.known("Insert-At", &self.insert_at)?;
                let $s = self;
                $check
            }
        }
    };
}

command! {
    /// Answers the call.
    Answer, "answer", "dialplan.answer",
    {},
    |_s, _c| { Ok(()) }
}

command! {
    /// Receives a fax on the call into a local file; progress comes back as `CHANNEL_FAX_STATUS`.
    /// The T.38 flags are booleans on Kazoo's wire (`kapps_call_command`), `Enable-T38-Gateway` is `peer` or
    /// `self`.
    ReceiveFax, "receive_fax", "dialplan.receive_fax",
    {
        #[serde(rename = "Enable-T38-Fax", default, skip_serializing_if = "Option::is_none")]
        enable_t38_fax: Option<Flex<bool>>,
        #[serde(rename = "Enable-T38-Fax-Request", default, skip_serializing_if = "Option::is_none")]
        enable_t38_fax_request: Option<Flex<bool>>,
        #[serde(rename = "Enable-T38-Passthrough", default, skip_serializing_if = "Option::is_none")]
        enable_t38_passthrough: Option<Flex<bool>>,
        #[serde(rename = "Enable-T38-Gateway", default, skip_serializing_if = "Option::is_none")]
        enable_t38_gateway: Option<String>,
        /// Where the switch writes the received TIFF.
        #[serde(rename = "Fax-Local-Filename", default, skip_serializing_if = "Option::is_none")]
        fax_local_filename: Option<String>,
    },
    |_s, _c| { Ok(()) }
}

command! {
    /// Hangs the call up (with `Insert-At=now` in `kapps_call_command:hangup/1`).
    Hangup, "hangup", "dialplan.hangup",
    {
        /// Hang up only the bridged leg.
        #[serde(rename = "Other-Leg-Only", default, skip_serializing_if = "Option::is_none")]
        other_leg_only: Option<Flex<bool>>,
        #[serde(rename = "Hangup-Cause", default, skip_serializing_if = "Option::is_none")]
        hangup_cause: Option<String>,
    },
    |s, c| { c.boolean("Other-Leg-Only", &s.other_leg_only) }
}

command! {
    /// Sets channel and call variables (`fax_request` sets `Fax-Identity-*`, `Fax-Doc-ID` ... this way).
    /// `Custom-Channel-Vars` and `Custom-Call-Vars` are required, possibly empty, objects.
    Set, "set", "dialplan.set",
    {
        #[serde(rename = "Custom-Channel-Vars", default, skip_serializing_if = "Option::is_none")]
        custom_channel_vars: Option<JsonMap>,
        #[serde(rename = "Custom-Call-Vars", default, skip_serializing_if = "Option::is_none")]
        custom_call_vars: Option<JsonMap>,
        #[serde(rename = "Custom-Application-Vars", default, skip_serializing_if = "Option::is_none")]
        custom_application_vars: Option<JsonMap>,
    },
    |s, c| {
        c.present("Custom-Call-Vars", &s.custom_call_vars)?;
        c.present("Custom-Channel-Vars", &s.custom_channel_vars)
    }
}

impl Set {
    /// Sets `channel_vars` and `call_vars` at once (`Insert-At=now`, as `kapps_call_command:set/3` does).
    pub fn vars(node: &str, call_id: &str, controller_queue: &str, channel_vars: JsonMap, call_vars: JsonMap) -> Self {
        Set {
            insert_at: Some(InsertAt::Now),
            custom_channel_vars: Some(channel_vars),
            custom_call_vars: Some(call_vars),
            ..Set::for_call(node, call_id, controller_queue)
        }
    }
}

command! {
    /// Uploads the received fax file with an HTTP PUT to `Media-Transfer-Destination`.
    StoreFax, "store_fax", "dialplan.store_fax",
    {
        /// Always `put`.
        #[serde(rename = "Media-Transfer-Method", default)]
        media_transfer_method: String,
        #[serde(rename = "Media-Transfer-Destination", default)]
        media_transfer_destination: String,
        #[serde(rename = "Additional-Headers", default, skip_serializing_if = "Option::is_none")]
        additional_headers: Option<Vec<String>>,
        #[serde(rename = "Fax-Local-Filename", default, skip_serializing_if = "Option::is_none")]
        fax_local_filename: Option<String>,
    },
    |s, c| {
        c.equals("Media-Transfer-Method", &s.media_transfer_method, "put")?;
        c.required("Media-Transfer-Destination", &s.media_transfer_destination)
    }
}
