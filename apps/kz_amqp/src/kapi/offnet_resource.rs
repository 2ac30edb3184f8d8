//! Defines the offnet resource request the fax worker sends to originate a fax call, and its response.
//!
//! This ports Kazoo 4.3's `kapi_offnet_resource`. The request goes on the `resources` topic exchange with the
//! key `offnet.resource.req.<Resource-Type>` (`offnet.resource.req.originate` for a fax); stepswitch answers on
//! `targeted` to the request's `Server-ID` with `resource`/`offnet_resp`. Required: `Application-Name`,
//! `Resource-Type`, `To-DID`; enumerated: `Resource-Type`, `Application-Name`, `Media`, `Mode`; typed:
//! booleans, lists and objects as `kapi_offnet_resource` declares them.

use serde::{Deserialize, Serialize};

use super::{
    Check, DefaultHeaders, Flex, JsonMap, KapiError, KapiMessage, Routed, TARGETED_EXCHANGE, encode_key_word,
    kapi_enum, known_value,
};

/// The resources exchange (topic).
pub const EXCHANGE: &str = "resources";
/// Prefix of the request's routing key; the resource type follows.
pub const REQ_KEY_PREFIX: &str = "offnet.resource.req";
/// `Event-Category` of the request and the response.
pub const EVENT_CATEGORY: &str = "resource";

/// The binding for requests of one resource type (`*` for any), as `kapi_offnet_resource:bind_q/2` forms it.
pub fn req_binding(resource_type: &str) -> String {
    format!("{REQ_KEY_PREFIX}.{}", encode_key_word(resource_type))
}

kapi_enum! {
    /// `Resource-Type` of a request.
    ResourceType {
        Audio = "audio",
        Video = "video",
        /// Start a new call (a fax transmission).
        Originate = "originate",
        Sms = "sms",
        Cid = "cid",
    }
}
known_value!(ResourceType);

kapi_enum! {
    /// `Application-Name` of a request: what to run once the call is up.
    OffnetApplication {
        Bridge = "bridge",
        Eavesdrop = "eavesdrop",
        /// Transmit the TIFF at `Application-Data` (ecallmgr runs `txfax`).
        Fax = "fax",
        Park = "park",
        Sms = "sms",
        Transfer = "transfer",
    }
}
known_value!(OffnetApplication);

kapi_enum! {
    /// `Media` of a request.
    Media {
        Process = "process",
        Bypass = "bypass",
        Auto = "auto",
    }
}
known_value!(Media);

kapi_enum! {
    /// `Mode` of an eavesdrop request.
    Mode {
        Full = "full",
        Listen = "listen",
        Whisper = "whisper",
    }
}
known_value!(Mode);

/// The call events a request may ask to receive for the B leg (`kapi_dialplan:b_leg_events_v/1`).
pub const B_LEG_EVENTS: &[&str] = &[
    "CALL_SECURE",
    "CALL_UPDATE",
    "CHANNEL_ANSWER",
    "CHANNEL_CREATE",
    "CHANNEL_DESTROY",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_EXECUTE_ERROR",
    "CHANNEL_FAX_STATUS",
    "CHANNEL_INTERCEPTED",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_REPLACED",
    "CHANNEL_TRANSFEREE",
    "CHANNEL_TRANSFEROR",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "DETECTED_TONE",
    "DTMF",
    "LEG_CREATED",
    "LEG_DESTROYED",
    "RECORD_START",
    "RECORD_STOP",
    "dialplan",
];

/// `resource`/`offnet_req`: place a call through the carriers (`fax_worker` → stepswitch). The fields the fax
/// worker sets are listed first (spec §5.4); the other optional headers of the API follow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Req {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Resource-Type", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<ResourceType>,
    #[serde(rename = "Application-Name", default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<OffnetApplication>,
    /// For a fax: the URL of the TIFF to send (`http://<host>:<port>/fax/<JobId>.tiff`).
    #[serde(rename = "Application-Data", default, skip_serializing_if = "Option::is_none")]
    pub application_data: Option<String>,
    #[serde(rename = "Outbound-Caller-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub outbound_caller_id_name: Option<String>,
    #[serde(rename = "Outbound-Caller-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub outbound_caller_id_number: Option<String>,
    #[serde(rename = "Outbound-Callee-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub outbound_callee_id_number: Option<String>,
    #[serde(rename = "Outbound-Callee-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub outbound_callee_id_name: Option<String>,
    /// The number to dial (E.164 unless `Bypass-E164`); never empty.
    #[serde(rename = "To-DID", default)]
    pub to_did: String,
    #[serde(rename = "Account-ID", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "Account-Realm", default, skip_serializing_if = "Option::is_none")]
    pub account_realm: Option<String>,
    #[serde(rename = "Hunt-Account-ID", default, skip_serializing_if = "Option::is_none")]
    pub hunt_account_id: Option<String>,
    #[serde(rename = "Fax-Identity-Number", default, skip_serializing_if = "Option::is_none")]
    pub fax_identity_number: Option<String>,
    #[serde(rename = "Fax-Identity-Name", default, skip_serializing_if = "Option::is_none")]
    pub fax_identity_name: Option<String>,
    #[serde(rename = "Fax-Timezone", default, skip_serializing_if = "Option::is_none")]
    pub fax_timezone: Option<String>,
    /// `["fax", ...job flags]`: makes stepswitch apply per-gateway T.38 settings.
    #[serde(rename = "Flags", default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    #[serde(rename = "Ignore-Early-Media", default, skip_serializing_if = "Option::is_none")]
    pub ignore_early_media: Option<Flex<bool>>,
    /// `{Authorizing-ID: JobId, Authorizing-Type: "outbound_fax", RTCP-MUX: false}` for a fax.
    #[serde(rename = "Custom-Channel-Vars", default, skip_serializing_if = "Option::is_none")]
    pub custom_channel_vars: Option<JsonMap>,
    #[serde(rename = "Export-Custom-Channel-Vars", default, skip_serializing_if = "Option::is_none")]
    pub export_custom_channel_vars: Option<Vec<String>>,
    #[serde(rename = "Custom-SIP-Headers", default, skip_serializing_if = "Option::is_none")]
    pub custom_sip_headers: Option<JsonMap>,
    /// Seconds to wait for an answer (`fax_worker` sends a string, `"40"`).
    #[serde(rename = "Timeout", default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Flex<u32>>,
    /// The Call-ID the new call gets (the worker binds its events before publishing).
    #[serde(rename = "Origination-Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub origination_call_id: Option<String>,
    #[serde(rename = "Bypass-E164", default, skip_serializing_if = "Option::is_none")]
    pub bypass_e164: Option<Flex<bool>>,
    #[serde(rename = "Fax-T38-Enabled", default, skip_serializing_if = "Option::is_none")]
    pub fax_t38_enabled: Option<Flex<bool>>,
    #[serde(rename = "Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(rename = "Control-Queue", default, skip_serializing_if = "Option::is_none")]
    pub control_queue: Option<String>,
    #[serde(rename = "Outbound-Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub outbound_call_id: Option<String>,
    #[serde(rename = "Force-Fax", default, skip_serializing_if = "Option::is_none")]
    pub force_fax: Option<Flex<bool>>,
    #[serde(rename = "Force-Outbound", default, skip_serializing_if = "Option::is_none")]
    pub force_outbound: Option<Flex<bool>>,
    #[serde(rename = "Media", default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    #[serde(rename = "Mode", default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(rename = "B-Leg-Events", default, skip_serializing_if = "Option::is_none")]
    pub b_leg_events: Option<Vec<String>>,
    #[serde(rename = "Enable-T38-Fax", default, skip_serializing_if = "Option::is_none")]
    pub enable_t38_fax: Option<Flex<bool>>,
    #[serde(rename = "Enable-T38-Fax-Request", default, skip_serializing_if = "Option::is_none")]
    pub enable_t38_fax_request: Option<Flex<bool>>,
    #[serde(rename = "Enable-T38-Passthrough", default, skip_serializing_if = "Option::is_none")]
    pub enable_t38_passthrough: Option<Flex<bool>>,
    /// `peer` or `self`.
    #[serde(rename = "Enable-T38-Gateway", default, skip_serializing_if = "Option::is_none")]
    pub enable_t38_gateway: Option<String>,
    #[serde(rename = "Custom-Application-Vars", default, skip_serializing_if = "Option::is_none")]
    pub custom_application_vars: Option<JsonMap>,
    #[serde(rename = "Requestor-Custom-Channel-Vars", default, skip_serializing_if = "Option::is_none")]
    pub requestor_custom_channel_vars: Option<JsonMap>,
    #[serde(rename = "Requestor-Custom-SIP-Headers", default, skip_serializing_if = "Option::is_none")]
    pub requestor_custom_sip_headers: Option<JsonMap>,
    #[serde(rename = "Denied-Call-Restrictions", default, skip_serializing_if = "Option::is_none")]
    pub denied_call_restrictions: Option<JsonMap>,
    #[serde(rename = "Outbound-Actions", default, skip_serializing_if = "Option::is_none")]
    pub outbound_actions: Option<JsonMap>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl Req {
    /// A fax originate: `Resource-Type=originate`, `Application-Name=fax`, the TIFF URL as `Application-Data`,
    /// with replies to `reply_queue` and `Msg-ID` = the job id (as `fax_worker` sends it).
    pub fn fax_originate(node: &str, reply_queue: &str, job_id: &str, to_did: &str, tiff_url: &str) -> Self {
        Req {
            headers: DefaultHeaders::for_message::<Self>(node).with_server_id(reply_queue).with_msg_id(job_id),
            resource_type: Some(ResourceType::Originate),
            application_name: Some(OffnetApplication::Fax),
            application_data: Some(tiff_url.to_string()),
            to_did: to_did.to_string(),
            ..Default::default()
        }
    }
}

impl KapiMessage for Req {
    const API: &'static str = "offnet_resource.req";
    const EVENT_CATEGORY: &'static str = EVENT_CATEGORY;
    const EVENT_NAME: &'static str = "offnet_req";
    const EXCHANGE: &'static str = EXCHANGE;

    fn headers(&self) -> &DefaultHeaders {
        &self.headers
    }

    fn validate_fields(&self) -> Result<(), KapiError> {
        let c = Check::new(Self::API);
        c.required_known("Application-Name", &self.application_name)?;
        c.required_known("Resource-Type", &self.resource_type)?;
        c.required("To-DID", &self.to_did)?;
        c.known("Media", &self.media)?;
        c.known("Mode", &self.mode)?;
        c.boolean("Bypass-E164", &self.bypass_e164)?;
        c.boolean("Force-Fax", &self.force_fax)?;
        c.boolean("Force-Outbound", &self.force_outbound)?;
        for event in self.b_leg_events.iter().flatten() {
            c.one_of("B-Leg-Events", event, B_LEG_EVENTS)?;
        }
        Ok(())
    }
}

impl Routed for Req {
    /// `offnet.resource.req.<Resource-Type>` (Kazoo does not encode the type when publishing).
    fn routing_key(&self) -> String {
        let kind = self.resource_type.as_ref().map(ResourceType::as_str).unwrap_or("*");
        format!("{REQ_KEY_PREFIX}.{kind}")
    }
}

/// `resource`/`offnet_resp`: the outcome of a request (stepswitch → the requester's queue on `targeted`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resp {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    /// `SUCCESS`, or the failure (`Application-Response` / `Hangup-Cause` of the call).
    #[serde(rename = "Response-Message", default)]
    pub response_message: String,
    /// `sip:<code>`.
    #[serde(rename = "Response-Code", default, skip_serializing_if = "Option::is_none")]
    pub response_code: Option<String>,
    #[serde(rename = "Error-Message", default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(rename = "Call-ID", default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The call event the outcome was read from.
    #[serde(rename = "Resource-Response", default, skip_serializing_if = "Option::is_none")]
    pub resource_response: Option<JsonMap>,
    #[serde(rename = "Control-Queue", default, skip_serializing_if = "Option::is_none")]
    pub control_queue: Option<String>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl Resp {
    /// The message stepswitch sends on success.
    pub const SUCCESS: &'static str = "SUCCESS";

    /// A response to the request `msg_id`.
    pub fn new(node: &str, msg_id: &str, response_message: &str) -> Self {
        Resp {
            headers: DefaultHeaders::for_message::<Self>(node).with_msg_id(msg_id),
            response_message: response_message.to_string(),
            ..Default::default()
        }
    }

    /// True when the call was placed.
    pub fn is_success(&self) -> bool {
        self.response_message == Self::SUCCESS
    }

    /// The SIP code of `Response-Code` (`sip:486` → 486).
    pub fn sip_code(&self) -> Option<u16> {
        let code = self.response_code.as_deref()?;
        code.strip_prefix("sip:").unwrap_or(code).parse().ok()
    }
}

impl KapiMessage for Resp {
    const API: &'static str = "offnet_resource.resp";
    const EVENT_CATEGORY: &'static str = EVENT_CATEGORY;
    const EVENT_NAME: &'static str = "offnet_resp";
    const EXCHANGE: &'static str = TARGETED_EXCHANGE;

    fn headers(&self) -> &DefaultHeaders {
        &self.headers
    }

    fn validate_fields(&self) -> Result<(), KapiError> {
        Check::new(Self::API).required("Response-Message", &self.response_message)
    }
}
