//! Defines the call events the fax app follows (`CHANNEL_FAX_STATUS`, `CHANNEL_DESTROY`) and the call object.
//!
//! This ports the part of Kazoo's `kapi_call` the fax app uses: call events on the `callevt` topic exchange,
//! routed `call.<Event-Name>.<Call-ID>` with the call id encoded, `Event-Category=call_event` and `Call-ID`
//! required. [`FaxData`] is the `Fax-*` dictionary ecallmgr fills from FreeSWITCH's spandsp variables
//! (`ecallmgr_call_events:fax_specific/1`), carried as `Application-Data` of `CHANNEL_FAX_STATUS` and reused as
//! `Fax-Info` in fax status messages and notifications. [`CallInfo`] is `kapps_call:to_json/1`, the `Call`
//! object of a `fax_req`.

use serde::{Deserialize, Serialize};

use super::{
    Check, DefaultHeaders, Flex, JsonMap, KapiError, KapiMessage, Routed, encode_key_word, kapi_enum, known_value,
};

/// The call event exchange (topic).
pub const EXCHANGE: &str = "callevt";
/// `Event-Category` of every call event.
pub const EVENT_CATEGORY: &str = "call_event";

/// The routing key of a call event, `call.<event>.<encoded call id>`; also the binding for one call's event
/// (`*` for any).
pub fn event_routing_key(event_name: &str, call_id: &str) -> String {
    format!("call.{event_name}.{}", encode_key_word(call_id))
}

kapi_enum! {
    /// `Application-Event` of `CHANNEL_FAX_STATUS`: the spandsp event after its `rxfax`/`txfax` prefix.
    FaxEvent {
        /// Training done: the modem speed is known (`Fax-Transfer-Rate`).
        NegociateResult = "negociateresult",
        /// One page sent or received (`Fax-Transferred-Pages`).
        PageResult = "pageresult",
        /// The fax session ended (`Fax-Success`).
        Result = "result",
    }
}
known_value!(FaxEvent);

/// The `Fax-*` fields of a fax session (all optional). FreeSWITCH numbers and flags may arrive as strings;
/// [`Flex`] accepts both and keeps the form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaxData {
    #[serde(rename = "Fax-Success", default, skip_serializing_if = "Option::is_none")]
    pub success: Option<Flex<bool>>,
    #[serde(rename = "Fax-ECM-Used", default, skip_serializing_if = "Option::is_none")]
    pub ecm_used: Option<Flex<bool>>,
    #[serde(rename = "Fax-T38-Used", default, skip_serializing_if = "Option::is_none")]
    pub t38_used: Option<Flex<bool>>,
    #[serde(rename = "Fax-Result-Text", default, skip_serializing_if = "Option::is_none")]
    pub result_text: Option<String>,
    #[serde(rename = "Fax-Result-Code", default, skip_serializing_if = "Option::is_none")]
    pub result_code: Option<Flex<i64>>,
    #[serde(rename = "Fax-Transferred-Pages", default, skip_serializing_if = "Option::is_none")]
    pub transferred_pages: Option<Flex<u32>>,
    #[serde(rename = "Fax-Total-Pages", default, skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<Flex<u32>>,
    #[serde(rename = "Fax-Bad-Rows", default, skip_serializing_if = "Option::is_none")]
    pub bad_rows: Option<Flex<u32>>,
    /// Bits per second.
    #[serde(rename = "Fax-Transfer-Rate", default, skip_serializing_if = "Option::is_none")]
    pub transfer_rate: Option<Flex<u32>>,
    #[serde(rename = "Fax-Local-Station-ID", default, skip_serializing_if = "Option::is_none")]
    pub local_station_id: Option<String>,
    #[serde(rename = "Fax-Remote-Station-ID", default, skip_serializing_if = "Option::is_none")]
    pub remote_station_id: Option<String>,
    #[serde(rename = "Fax-Remote-Country", default, skip_serializing_if = "Option::is_none")]
    pub remote_country: Option<String>,
    #[serde(rename = "Fax-Remote-Vendor", default, skip_serializing_if = "Option::is_none")]
    pub remote_vendor: Option<String>,
    #[serde(rename = "Fax-Remote-Model", default, skip_serializing_if = "Option::is_none")]
    pub remote_model: Option<String>,
    /// `<x>x<y>` in dots per inch, as negotiated.
    #[serde(rename = "Fax-Image-Resolution", default, skip_serializing_if = "Option::is_none")]
    pub image_resolution: Option<String>,
    #[serde(rename = "Fax-File-Image-Resolution", default, skip_serializing_if = "Option::is_none")]
    pub file_image_resolution: Option<String>,
    /// Bytes.
    #[serde(rename = "Fax-Image-Size", default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<Flex<u64>>,
    #[serde(rename = "Fax-Image-Pixel-Size", default, skip_serializing_if = "Option::is_none")]
    pub image_pixel_size: Option<String>,
    #[serde(rename = "Fax-File-Image-Pixel-Size", default, skip_serializing_if = "Option::is_none")]
    pub file_image_pixel_size: Option<String>,
    #[serde(rename = "Fax-Longest-Bad-Row-Run", default, skip_serializing_if = "Option::is_none")]
    pub longest_bad_row_run: Option<Flex<u32>>,
    #[serde(rename = "Fax-Encoding", default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Flex<i64>>,
    #[serde(rename = "Fax-Encoding-Name", default, skip_serializing_if = "Option::is_none")]
    pub encoding_name: Option<String>,
    #[serde(rename = "Fax-Timezone", default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(rename = "Fax-Identity-Number", default, skip_serializing_if = "Option::is_none")]
    pub identity_number: Option<String>,
    #[serde(rename = "Fax-Identity-Name", default, skip_serializing_if = "Option::is_none")]
    pub identity_name: Option<String>,
    /// The received fax's document id (inbound, from the channel variables `fax_request` sets).
    #[serde(rename = "Fax-Doc-ID", default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    #[serde(rename = "Fax-Doc-DB", default, skip_serializing_if = "Option::is_none")]
    pub doc_db: Option<String>,
    /// SIP code of the hangup, added by `fax_worker` to `Fax-Info` of its notifications.
    #[serde(rename = "Fax-Hangup-Code", default, skip_serializing_if = "Option::is_none")]
    pub hangup_code: Option<Flex<i64>>,
    #[serde(rename = "Fax-Hangup-Cause", default, skip_serializing_if = "Option::is_none")]
    pub hangup_cause: Option<String>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl FaxData {
    /// `Fax-Success` read as a boolean (false when absent or unreadable), as `kz_json:is_true/3` reads it.
    pub fn is_success(&self) -> bool {
        self.success.as_ref().and_then(Flex::get).unwrap_or(false)
    }
}

/// Fields common to the call events the fax app handles.
macro_rules! call_event {
    (
        $(#[$m:meta])* $name:ident, $event:literal, $api:literal,
        { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? },
        |$s:ident, $c:ident| $check:block
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            #[serde(flatten)]
            pub headers: DefaultHeaders,
            #[serde(rename = "Call-ID", default)]
            pub call_id: String,
            #[serde(rename = "Custom-Channel-Vars", default, skip_serializing_if = "Option::is_none")]
            pub custom_channel_vars: Option<JsonMap>,
            $($(#[$fm])* pub $field: $ty,)*
            #[serde(flatten)]
            pub extra: JsonMap,
        }

        impl KapiMessage for $name {
            const API: &'static str = $api;
            const EVENT_CATEGORY: &'static str = EVENT_CATEGORY;
            const EVENT_NAME: &'static str = $event;
            const EXCHANGE: &'static str = EXCHANGE;

            fn headers(&self) -> &DefaultHeaders {
                &self.headers
            }

            fn validate_fields(&self) -> Result<(), KapiError> {
                let $c = Check::new(Self::API);
                $c.required("Call-ID", &self.call_id)?;
                let $s = self;
                $check
            }
        }

        impl Routed for $name {
            fn routing_key(&self) -> String {
                event_routing_key(Self::EVENT_NAME, &self.call_id)
            }
        }
    };
}

call_event! {
    /// `CHANNEL_FAX_STATUS`: progress of a fax session on a call (ecallmgr → `fax_worker` / `fax_request`).
    /// `Application-Event` is required and enumerated here: a fax consumer cannot act on an event without it.
    ChannelFaxStatus, "CHANNEL_FAX_STATUS", "call.CHANNEL_FAX_STATUS",
    {
        /// `send_fax` (outbound, `txfax`) or `receive_fax` (inbound, `rxfax`).
        #[serde(rename = "Application-Name", default, skip_serializing_if = "Option::is_none")]
        application_name: Option<String>,
        #[serde(rename = "Application-Event", default, skip_serializing_if = "Option::is_none")]
        application_event: Option<FaxEvent>,
        #[serde(rename = "Application-Data", default, skip_serializing_if = "Option::is_none")]
        application_data: Option<FaxData>,
    },
    |s, c| { c.required_known("Application-Event", &s.application_event) }
}

impl ChannelFaxStatus {
    /// An event for `call_id` from `node`.
    pub fn new(node: &str, call_id: &str, event: FaxEvent, data: FaxData) -> Self {
        ChannelFaxStatus {
            headers: DefaultHeaders::for_message::<Self>(node),
            call_id: call_id.to_string(),
            application_event: Some(event),
            application_data: Some(data),
            ..Default::default()
        }
    }

    /// The `Fax-*` data, empty when absent.
    pub fn data(&self) -> FaxData {
        self.application_data.clone().unwrap_or_default()
    }
}

call_event! {
    /// `CHANNEL_DESTROY`: the call is gone (`fax_request` stops if nothing was stored yet).
    ChannelDestroy, "CHANNEL_DESTROY", "call.CHANNEL_DESTROY",
    {
        /// `NORMAL_CLEARING`, `NO_ANSWER` ...
        #[serde(rename = "Hangup-Cause", default, skip_serializing_if = "Option::is_none")]
        hangup_cause: Option<String>,
        /// `sip:<code>`.
        #[serde(rename = "Hangup-Code", default, skip_serializing_if = "Option::is_none")]
        hangup_code: Option<String>,
        #[serde(rename = "Disposition", default, skip_serializing_if = "Option::is_none")]
        disposition: Option<String>,
        #[serde(rename = "Call-Direction", default, skip_serializing_if = "Option::is_none")]
        call_direction: Option<String>,
        #[serde(rename = "Other-Leg-Call-ID", default, skip_serializing_if = "Option::is_none")]
        other_leg_call_id: Option<String>,
    },
    |_s, _c| { Ok(()) }
}

impl ChannelDestroy {
    /// A destroy event for `call_id` from `node`.
    pub fn new(node: &str, call_id: &str, hangup_cause: &str) -> Self {
        ChannelDestroy {
            headers: DefaultHeaders::for_message::<Self>(node),
            call_id: call_id.to_string(),
            hangup_cause: Some(hangup_cause.to_string()),
            ..Default::default()
        }
    }
}

/// A call as `kapps_call:to_json/1` writes it (the `Call` of a `fax_req`). All fields are optional; the ones
/// the fax app reads are typed, the rest kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    #[serde(rename = "Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The queue dialplan commands for this call go to (on `callctl`).
    #[serde(rename = "Control-Queue", default, skip_serializing_if = "Option::is_none")]
    pub control_queue: Option<String>,
    /// The queue of the app controlling the call (`Server-ID` of its commands).
    #[serde(rename = "Controller-Queue", default, skip_serializing_if = "Option::is_none")]
    pub controller_queue: Option<String>,
    #[serde(rename = "Account-ID", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "Account-DB", default, skip_serializing_if = "Option::is_none")]
    pub account_db: Option<String>,
    #[serde(rename = "Owner-ID", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(rename = "Call-Direction", default, skip_serializing_if = "Option::is_none")]
    pub call_direction: Option<String>,
    #[serde(rename = "Caller-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    #[serde(rename = "Caller-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    #[serde(rename = "Callee-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_name: Option<String>,
    #[serde(rename = "Callee-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_number: Option<String>,
    #[serde(rename = "From", default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "From-User", default, skip_serializing_if = "Option::is_none")]
    pub from_user: Option<String>,
    #[serde(rename = "From-Realm", default, skip_serializing_if = "Option::is_none")]
    pub from_realm: Option<String>,
    #[serde(rename = "To", default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(rename = "To-User", default, skip_serializing_if = "Option::is_none")]
    pub to_user: Option<String>,
    #[serde(rename = "To-Realm", default, skip_serializing_if = "Option::is_none")]
    pub to_realm: Option<String>,
    #[serde(rename = "Request", default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Channel variables; `Resource-Fax-Option` is the carrier's T.38 flag.
    #[serde(rename = "Custom-Channel-Vars", default, skip_serializing_if = "Option::is_none")]
    pub custom_channel_vars: Option<JsonMap>,
    /// The call's key-value store (`Fax-Doc-ID`, `Fax-Doc-DB` for a received fax).
    #[serde(rename = "Key-Value-Store", default, skip_serializing_if = "Option::is_none")]
    pub key_value_store: Option<JsonMap>,
    #[serde(flatten)]
    pub extra: JsonMap,
}
