//! Defines the fax app's own messages: start_account, start_job, status, query_status and fax_req.
//!
//! This ports Kazoo 4.3's `kapi_fax`. Start and status messages go on the `faxes` topic exchange:
//! `fax.start.account.<AccountId>`, `fax.start.job.<JobId>` and `fax.status.<AccountId>.<FaxId>` (the ids
//! encoded by `kz_amqp_util:encode/1`, except the account id of a status key, which Kazoo leaves as is; `*` when
//! missing). The same status shape answers on `targeted` as a control reply, and query_status goes to a
//! worker's queue on `targeted`. fax_req goes on `callmgr` with the key `fax.req`.

use serde::{Deserialize, Serialize};

use super::call::{CallInfo, FaxData};
use super::{Check, DefaultHeaders, Flex, JsonMap, KapiError, KapiMessage, Routed, kapi_enum, key_word, known_value};

/// The fax exchange (topic).
pub const EXCHANGE: &str = "faxes";
/// The call manager exchange (topic), where `fax_req` goes.
pub const CALLMGR_EXCHANGE: &str = "callmgr";
/// The routing key of `fax_req`.
pub const REQ_ROUTING_KEY: &str = "fax.req";

/// The binding for start messages of one id (`*` for any): `fax.start.*.<id>`.
pub fn start_binding(id: Option<&str>) -> String {
    format!("fax.start.*.{}", key_word(id))
}

/// The binding (and routing key) for status messages of an account and a fax (`*` for any).
pub fn status_binding(account_id: Option<&str>, fax_id: Option<&str>) -> String {
    let account = match account_id {
        Some(a) if !a.is_empty() => a,
        _ => "*",
    };
    format!("fax.status.{account}.{}", key_word(fax_id))
}

kapi_enum! {
    /// `Fax-State` of a status message.
    FaxState {
        Start = "start",
        Prepare = "prepare",
        Send = "send",
        Receive = "receive",
        End = "end",
        Error = "error",
    }
}
known_value!(FaxState);

kapi_enum! {
    /// `Direction` of a status message.
    Direction {
        Incoming = "incoming",
        Outgoing = "outgoing",
    }
}
known_value!(Direction);

kapi_enum! {
    /// `Action` of a `fax_req`.
    FaxAction {
        Receive = "receive",
        Transmit = "transmit",
    }
}
known_value!(FaxAction);

/// `start`/`account`: a node should run the job queue of this account (`fax_monitor` → `fax_jobs_sup`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartAccount {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Account-ID", default)]
    pub account_id: String,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl StartAccount {
    pub fn new(node: &str, account_id: &str) -> Self {
        StartAccount {
            headers: DefaultHeaders::for_message::<Self>(node),
            account_id: account_id.to_string(),
            ..Default::default()
        }
    }
}

impl KapiMessage for StartAccount {
    const API: &'static str = "fax.start_account";
    const EVENT_CATEGORY: &'static str = "start";
    const EVENT_NAME: &'static str = "account";
    const EXCHANGE: &'static str = EXCHANGE;

    fn headers(&self) -> &DefaultHeaders {
        &self.headers
    }

    fn validate_fields(&self) -> Result<(), KapiError> {
        Check::new(Self::API).required("Account-ID", &self.account_id)
    }
}

impl Routed for StartAccount {
    fn routing_key(&self) -> String {
        format!("fax.start.account.{}", key_word(Some(&self.account_id)))
    }
}

/// `start`/`job`: a node should send this job (`fax_jobs` → `fax_worker_sup`). The worker answers on
/// `Control-Queue` with status messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartJob {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Job-ID", default)]
    pub job_id: String,
    #[serde(rename = "Account-ID", default)]
    pub account_id: String,
    #[serde(rename = "To-Number", default)]
    pub to_number: String,
    /// The `fax_jobs` queue the worker reports to (required in 4.3, though Kazoo's schema omits it).
    #[serde(rename = "Control-Queue", default)]
    pub control_queue: String,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl StartJob {
    pub fn new(node: &str, job_id: &str, account_id: &str, to_number: &str, control_queue: &str) -> Self {
        StartJob {
            headers: DefaultHeaders::for_message::<Self>(node),
            job_id: job_id.to_string(),
            account_id: account_id.to_string(),
            to_number: to_number.to_string(),
            control_queue: control_queue.to_string(),
            ..Default::default()
        }
    }
}

impl KapiMessage for StartJob {
    const API: &'static str = "fax.start_job";
    const EVENT_CATEGORY: &'static str = "start";
    const EVENT_NAME: &'static str = "job";
    const EXCHANGE: &'static str = EXCHANGE;

    fn headers(&self) -> &DefaultHeaders {
        &self.headers
    }

    fn validate_fields(&self) -> Result<(), KapiError> {
        let c = Check::new(Self::API);
        c.required("Job-ID", &self.job_id)?;
        c.required("Account-ID", &self.account_id)?;
        c.required("To-Number", &self.to_number)?;
        c.required("Control-Queue", &self.control_queue)
    }
}

impl Routed for StartJob {
    fn routing_key(&self) -> String {
        format!("fax.start.job.{}", key_word(Some(&self.job_id)))
    }
}

/// `fax`/`status`: progress of a job (published on `faxes`), or a control/query reply (sent on `targeted`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Job-ID", default)]
    pub job_id: String,
    /// Free text ("Sent Page 2 of 3").
    #[serde(rename = "Status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "FaxBox-ID", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_id: Option<String>,
    #[serde(rename = "Account-ID", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The last fax event's `Fax-*` data (an object on Kazoo's wire, though its schema says string).
    #[serde(rename = "Fax-Info", default, skip_serializing_if = "Option::is_none")]
    pub fax_info: Option<FaxData>,
    #[serde(rename = "Cloud-Job-ID", default, skip_serializing_if = "Option::is_none")]
    pub cloud_job_id: Option<String>,
    #[serde(rename = "Cloud-Printer-ID", default, skip_serializing_if = "Option::is_none")]
    pub cloud_printer_id: Option<String>,
    #[serde(rename = "Fax-State", default, skip_serializing_if = "Option::is_none")]
    pub fax_state: Option<FaxState>,
    #[serde(rename = "Direction", default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Pages done so far (`fax_worker` sends an integer).
    #[serde(rename = "Page", default, skip_serializing_if = "Option::is_none")]
    pub page: Option<Flex<u32>>,
    /// The worker's stage (`acquire`, `originate` ...), in control replies.
    #[serde(rename = "Stage", default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(rename = "Caller-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    #[serde(rename = "Caller-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
    #[serde(rename = "Callee-ID-Number", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_number: Option<String>,
    #[serde(rename = "Callee-ID-Name", default, skip_serializing_if = "Option::is_none")]
    pub callee_id_name: Option<String>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl Status {
    pub fn new(node: &str, job_id: &str) -> Self {
        Status { headers: DefaultHeaders::for_message::<Self>(node), job_id: job_id.to_string(), ..Default::default() }
    }
}

impl KapiMessage for Status {
    const API: &'static str = "fax.status";
    const EVENT_CATEGORY: &'static str = "fax";
    const EVENT_NAME: &'static str = "status";
    const EXCHANGE: &'static str = EXCHANGE;

    fn headers(&self) -> &DefaultHeaders {
        &self.headers
    }

    fn validate_fields(&self) -> Result<(), KapiError> {
        let c = Check::new(Self::API);
        c.required("Job-ID", &self.job_id)?;
        c.known("Fax-State", &self.fax_state)?;
        c.known("Direction", &self.direction)
    }
}

impl Routed for Status {
    /// `fax.status.<Account-ID>.<Fax-ID or Job-ID>`, as `kapi_fax:publish_status/2` forms it.
    fn routing_key(&self) -> String {
        let fax_id = match self.extra.get("Fax-ID").and_then(|v| v.as_str()) {
            Some(id) => id,
            None => &self.job_id,
        };
        status_binding(self.account_id.as_deref(), Some(fax_id))
    }
}

/// `fax`/`query_status`: asks the worker owning a job for its status (crossbar → the worker's queue on
/// `targeted`); the answer is a [`Status`] sent to this message's `Server-ID`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryStatus {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    #[serde(rename = "Job-ID", default)]
    pub job_id: String,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl QueryStatus {
    /// A query for `job_id`; the reply goes to `reply_queue`.
    pub fn new(node: &str, job_id: &str, reply_queue: &str) -> Self {
        QueryStatus {
            headers: DefaultHeaders::for_message::<Self>(node).with_server_id(reply_queue),
            job_id: job_id.to_string(),
            ..Default::default()
        }
    }
}

impl KapiMessage for QueryStatus {
    const API: &'static str = "fax.query_status";
    const EVENT_CATEGORY: &'static str = "fax";
    const EVENT_NAME: &'static str = "query_status";
    const EXCHANGE: &'static str = super::TARGETED_EXCHANGE;

    fn headers(&self) -> &DefaultHeaders {
        &self.headers
    }

    fn validate_fields(&self) -> Result<(), KapiError> {
        Check::new(Self::API).required("Job-ID", &self.job_id)
    }
}

/// `dialplan`/`fax_req`: an inbound call should be received as a fax (callflow → `fax_request`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaxReq {
    #[serde(flatten)]
    pub headers: DefaultHeaders,
    /// The call, as `kapps_call:to_json/1` writes it.
    #[serde(rename = "Call", default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallInfo>,
    #[serde(rename = "Action", default, skip_serializing_if = "Option::is_none")]
    pub action: Option<FaxAction>,
    #[serde(rename = "Owner-ID", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    #[serde(rename = "FaxBox-ID", default, skip_serializing_if = "Option::is_none")]
    pub faxbox_id: Option<String>,
    /// The caller-side T.38 flag: a boolean (or its text), or `"auto"`.
    #[serde(rename = "Fax-T38-Option", default, skip_serializing_if = "Option::is_none")]
    pub fax_t38_option: Option<Flex<bool>>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl FaxReq {
    pub fn new(node: &str, call: CallInfo, action: FaxAction) -> Self {
        FaxReq {
            headers: DefaultHeaders::for_message::<Self>(node),
            call: Some(call),
            action: Some(action),
            ..Default::default()
        }
    }

    /// The caller's T.38 flag; `"auto"` counts as true, as `fax_request` reads it.
    pub fn t38_option(&self) -> Option<bool> {
        match &self.fax_t38_option {
            Some(Flex::Text(t)) if t.eq_ignore_ascii_case("auto") => Some(true),
            Some(f) => f.get(),
            None => None,
        }
    }
}

impl KapiMessage for FaxReq {
    const API: &'static str = "fax.req";
    const EVENT_CATEGORY: &'static str = "dialplan";
    const EVENT_NAME: &'static str = "fax_req";
    const EXCHANGE: &'static str = CALLMGR_EXCHANGE;

    fn headers(&self) -> &DefaultHeaders {
        &self.headers
    }

    fn validate_fields(&self) -> Result<(), KapiError> {
        let c = Check::new(Self::API);
        c.present("Call", &self.call)?;
        c.required_known("Action", &self.action)
    }
}

impl Routed for FaxReq {
    fn routing_key(&self) -> String {
        REQ_ROUTING_KEY.to_string()
    }
}
