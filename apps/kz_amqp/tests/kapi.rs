//! Checks the typed Kazoo APIs against Kazoo-shaped payloads and Kazoo 4.3's own JSON schemas.
//!
//! Each message: a payload shaped like the one Kazoo's producer sends (from the spec and the `kapi_*`
//! definitions, with one field this crate does not know) decodes, re-encodes to the same JSON, validates
//! against `kapi.<API>.json` from `shared/kazoo-schemas`, and fails validation with the field named when a
//! required header is missing or an enumerated one is wrong. Routing keys are asserted exactly.

use std::fmt::Debug;
use std::path::PathBuf;

use kz_amqp::kapi::call::{CallInfo, ChannelDestroy, ChannelFaxStatus, FaxData, FaxEvent};
use kz_amqp::kapi::conf::{self, DocCreated, DocDeleted, DocEdited};
use kz_amqp::kapi::dialplan::{self, Answer, Hangup, InsertAt, ReceiveFax, Set, StoreFax};
use kz_amqp::kapi::fax::{self, Direction, FaxAction, FaxReq, FaxState, QueryStatus, StartAccount, StartJob, Status};
use kz_amqp::kapi::notifications::{
    self, AlertDetails, FaxNotifications, InboundFax, InboundFaxError, OutboundFax, OutboundFaxError,
    OutboundSmtpFaxError, SystemAlert,
};
use kz_amqp::kapi::offnet_resource::{self, OffnetApplication, Req, ResourceType, Resp};
use kz_amqp::kapi::{self, DefaultHeaders, Flex, JsonMap, KapiError, KapiMessage, OneOrMany, Routed};
use serde_json::{Value, json};

const NODE: &str = "fax@fax1.example.com";
const ACCOUNT: &str = "3a8b45b0e0d24e1a9d0b7a3c9f3c2b11";
const JOB: &str = "8d5e0f3a1b2c4d5e6f708192a3b4c5d6";
const FAXBOX: &str = "f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6";
const CALL_ID: &str = "7a1c0e4b-93f2-4d1e-8a55-0b6f2c9d3e10@10.1.2.3";
const ENCODED_CALL_ID: &str = "7a1c0e4b-93f2-4d1e-8a55-0b6f2c9d3e10%4010%2E1%2E2%2E3";

// ---------------------------------------------------------------------------------------------------------
// helpers

/// Kazoo's default headers for a message from `app`.
fn kazoo_headers(category: &str, name: &str, app: &str, server_id: Option<&str>) -> Value {
    let mut h = json!({
        "Event-Category": category,
        "Event-Name": name,
        "App-Name": app,
        "App-Version": "4.0.0",
        "Node": format!("{app}@kz1.example.com"),
        "Msg-ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    });
    if let Some(q) = server_id {
        h["Server-ID"] = json!(q);
    }
    h
}

/// `base` with the fields of `more` added.
fn merge(base: Value, more: Value) -> Value {
    let mut out = base;
    let target = out.as_object_mut().expect("object");
    for (k, v) in more.as_object().expect("object") {
        target.insert(k.clone(), v.clone());
    }
    out
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

/// Decodes `payload`, re-encodes it and checks nothing changed, field by field.
fn round_trip<M: KapiMessage + Debug>(payload: &Value) -> M {
    let msg = M::decode(&bytes(payload)).unwrap_or_else(|e| panic!("{} did not decode: {e}", M::API));
    let out: Value = serde_json::from_slice(&msg.encode().expect("encode")).expect("encoded json");
    let (got, want) = (out.as_object().expect("object"), payload.as_object().expect("object"));
    for (k, v) in want {
        assert_eq!(got.get(k), Some(v), "{}: field {k} changed on a round trip", M::API);
    }
    for k in got.keys() {
        assert!(want.contains_key(k), "{}: field {k} appeared on a round trip", M::API);
    }
    assert_eq!(&out, payload);
    msg
}

/// Removing `field` makes decoding fail with a missing-field error naming it.
fn assert_missing<M: KapiMessage + Debug>(payload: &Value, field: &str) {
    let mut p = payload.clone();
    p.as_object_mut().expect("object").remove(field);
    assert_rejected_as_missing::<M>(&p, field);
}

fn assert_rejected_as_missing<M: KapiMessage + Debug>(payload: &Value, field: &str) {
    match M::decode(&bytes(payload)) {
        Err(err @ KapiError::Missing { .. }) => {
            assert_eq!(err.field(), Some(field), "{}: {err}", M::API);
            assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
        }
        other => panic!("{}: expected a missing `{field}`, got {other:?}", M::API),
    }
}

/// Setting `field` to `bad` makes decoding fail with an invalid-value error naming it.
fn assert_invalid<M: KapiMessage + Debug>(payload: &Value, field: &str, bad: Value) {
    let mut p = payload.clone();
    p[field] = bad.clone();
    match M::decode(&bytes(&p)) {
        Err(err @ KapiError::Invalid { .. }) => {
            assert_eq!(err.field(), Some(field), "{}: {err}", M::API);
            let shown = bad.as_str().map(str::to_string).unwrap_or_else(|| bad.to_string());
            assert!(err.to_string().contains(&shown), "{err}");
        }
        other => panic!("{}: expected `{field}` = {bad} to be rejected, got {other:?}", M::API),
    }
}

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kazoo-schemas")
}

/// Properties that Kazoo's schema generator typed with its `"string"` default although Kazoo 4.3 itself
/// sends another JSON type (the `kapi_*` definitions declare no type for them, or a non-string one):
/// - `Fax-Info`, `Fax-Notifications`: JSON objects built by `fax_worker:notify_fields/2`, `fax_request` and
///   `fax_worker:send_status/4`;
/// - `Page`: the worker's integer page counter (`fax_worker:send_status/4`);
/// - `Errors`: a non-empty list (`kapi_notifications` types it with `is_list`; `fax_smtp` sends the list);
/// - `Timestamp`, `Fax-Timestamp`: `kz_time:now_s()` integers (`fax_smtp`, `fax_request`);
/// - `Ignore-Early-Media`, `Fax-T38-Enabled`: the atoms `true`/`false` in `fax_worker:send_fax/4`;
/// - `Enable-T38-Fax`, `-Request`, `-Passthrough`: booleans from `kapps_call_command:get_inbound_t38_settings`;
/// - `Resource-Response`: the call event object stepswitch embeds (`stepswitch_originate`).
///
/// The test patches only these, and only where the schema has the generated `"string"`; every other
/// constraint (required, enums, other types, minLength) is checked as Kazoo wrote it.
const WIRE_TYPES: &[(&str, &str)] = &[
    ("Fax-Info", r#"{"type": "object"}"#),
    ("Fax-Notifications", r#"{"type": "object"}"#),
    ("Page", r#"{"type": ["integer", "string"]}"#),
    ("Errors", r#"{"type": "array", "items": {"type": "string"}, "minItems": 1}"#),
    ("Timestamp", r#"{"type": ["integer", "string"]}"#),
    ("Fax-Timestamp", r#"{"type": ["integer", "string"]}"#),
    ("Ignore-Early-Media", r#"{"type": ["boolean", "string"]}"#),
    ("Fax-T38-Enabled", r#"{"type": ["boolean", "string"]}"#),
    ("Enable-T38-Fax", r#"{"type": ["boolean", "string"]}"#),
    ("Enable-T38-Fax-Request", r#"{"type": ["boolean", "string"]}"#),
    ("Enable-T38-Passthrough", r#"{"type": ["boolean", "string"]}"#),
    ("Resource-Response", r#"{"type": "object"}"#),
];

fn raw_schema(api: &str) -> Value {
    let path = schema_dir().join(format!("kapi.{api}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("schema json")
}

fn wire_schema(api: &str) -> Value {
    let mut schema = raw_schema(api);
    let props = schema["properties"].as_object_mut().expect("properties");
    for (name, replacement) in WIRE_TYPES {
        if let Some(prop) = props.get_mut(*name) {
            assert_eq!(prop["type"], "string", "kapi.{api}: `{name}` is not the generated string placeholder");
            *prop = serde_json::from_str(replacement).expect("replacement");
        }
    }
    schema
}

fn schema_errors(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::draft4::new(schema).expect("schema compiles");
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// The encoded message validates against Kazoo's schema for its API.
fn assert_schema_valid<M: KapiMessage>(msg: &M) {
    let instance: Value = serde_json::from_slice(&msg.encode().expect("encode")).expect("json");
    let errors = schema_errors(&wire_schema(M::API), &instance);
    assert!(errors.is_empty(), "kapi.{}.json rejects {instance}: {errors:?}", M::API);
}

// ---------------------------------------------------------------------------------------------------------
// kapi_fax

fn start_account_payload() -> Value {
    merge(kazoo_headers("start", "account", "fax", None), json!({"Account-ID": ACCOUNT, "X-Trace-ID": "t-1"}))
}

#[test]
fn start_account_round_trips_validates_and_routes() {
    let p = start_account_payload();
    let m: StartAccount = round_trip(&p);
    assert_eq!(m.account_id, ACCOUNT);
    assert_eq!(m.extra["X-Trace-ID"], "t-1");
    assert_eq!(m.routing_key(), format!("fax.start.account.{ACCOUNT}"));
    assert_eq!(m.exchange(), "faxes");
    assert_schema_valid(&m);
    assert_missing::<StartAccount>(&p, "Account-ID");
    assert_invalid::<StartAccount>(&p, "Event-Name", json!("job"));

    let built = StartAccount::new(NODE, "a.b*c");
    assert_eq!(built.routing_key(), "fax.start.account.a%2Eb%2Ac");
    assert_schema_valid(&built);
}

fn start_job_payload() -> Value {
    merge(
        kazoo_headers("start", "job", "fax", Some("fax_jobs-3a8b45b0-q")),
        json!({
            "Job-ID": JOB,
            "Account-ID": ACCOUNT,
            "To-Number": "+14155550100",
            "Control-Queue": "fax_jobs-3a8b45b0-q",
            "X-Trace-ID": "t-2",
        }),
    )
}

#[test]
fn start_job_round_trips_validates_and_routes() {
    let p = start_job_payload();
    let m: StartJob = round_trip(&p);
    assert_eq!((m.job_id.as_str(), m.to_number.as_str()), (JOB, "+14155550100"));
    assert_eq!(m.headers.server_id.as_deref(), Some("fax_jobs-3a8b45b0-q"));
    assert_eq!(m.routing_key(), format!("fax.start.job.{JOB}"));
    assert_schema_valid(&m);
    for field in ["Job-ID", "Account-ID", "To-Number", "Control-Queue"] {
        assert_missing::<StartJob>(&p, field);
    }
    assert_invalid::<StartJob>(&p, "Event-Category", json!("fax"));
    assert_rejected_as_missing::<StartJob>(&merge(p.clone(), json!({"Job-ID": ""})), "Job-ID");

    let built = StartJob::new(NODE, JOB, ACCOUNT, "+14155550100", "q1");
    assert_schema_valid(&built);
    assert_eq!(fax::start_binding(None), "fax.start.*.*");
    assert_eq!(fax::start_binding(Some(JOB)), format!("fax.start.*.{JOB}"));
}

fn status_payload() -> Value {
    merge(
        kazoo_headers("fax", "status", "fax", None),
        json!({
            "Job-ID": JOB,
            "FaxBox-ID": FAXBOX,
            "Account-ID": ACCOUNT,
            "Status": "Sent Page 1 of 2",
            "Fax-State": "send",
            "Fax-Info": {
                "Fax-Transferred-Pages": "1",
                "Fax-Total-Pages": "2",
                "Fax-Transfer-Rate": "14400",
                "Fax-ECM-Used": true,
                "Fax-Remote-Station-ID": "+1 415 555 0100",
                "Fax-Vendor-Extension": "kept",
            },
            "Direction": "outgoing",
            "Page": 1,
            "Cloud-Job-ID": "cj-1",
            "X-Trace-ID": "t-3",
        }),
    )
}

#[test]
fn status_round_trips_validates_and_routes() {
    let p = status_payload();
    let m: Status = round_trip(&p);
    assert_eq!(m.fax_state, Some(FaxState::Send));
    assert_eq!(m.direction, Some(Direction::Outgoing));
    assert_eq!(m.page, Some(Flex::Value(1)));
    let info = m.fax_info.clone().expect("fax info");
    assert_eq!(info.transferred_pages.as_ref().and_then(Flex::get), Some(1));
    assert_eq!(info.transfer_rate.as_ref().and_then(Flex::get), Some(14400));
    assert_eq!(info.extra["Fax-Vendor-Extension"], "kept");
    assert_eq!(m.routing_key(), format!("fax.status.{ACCOUNT}.{JOB}"));
    assert_schema_valid(&m);
    assert_missing::<Status>(&p, "Job-ID");
    assert_invalid::<Status>(&p, "Fax-State", json!("sending"));
    assert_invalid::<Status>(&p, "Direction", json!("sideways"));

    // a control reply: no account, a stage, sent to the control queue on `targeted`
    let reply = merge(
        kazoo_headers("fax", "status", "fax", Some("fax_worker-q")),
        json!({"Job-ID": JOB, "Fax-State": "start", "Stage": "acquire"}),
    );
    let r: Status = round_trip(&reply);
    assert_eq!(r.routing_key(), format!("fax.status.*.{JOB}"));
    assert_schema_valid(&r);

    // `Fax-ID` (when a producer sets one) names the fax in the key, as in `kapi_fax:publish_status/2`
    let with_fax_id: Status = round_trip(&merge(reply, json!({"Fax-ID": "202401-abc.def"})));
    assert_eq!(with_fax_id.routing_key(), "fax.status.*.202401-abc%2Edef");
    assert_eq!(fax::status_binding(Some(ACCOUNT), None), format!("fax.status.{ACCOUNT}.*"));
}

#[test]
fn the_raw_kazoo_schema_is_honoured_where_kazoo_sends_strings() {
    // Without the object-valued fields, a status validates against the unpatched schema...
    let mut status = Status::new(NODE, JOB);
    status.account_id = Some(ACCOUNT.into());
    status.fax_state = Some(FaxState::End);
    status.page = Some(Flex::Text("2".into()));
    let instance: Value = serde_json::from_slice(&status.encode().expect("encode")).expect("json");
    assert_eq!(schema_errors(&raw_schema("fax.status"), &instance), Vec::<String>::new());
    // ...and the schema check can fail: a bad state that bypasses `validate` is caught by the schema too.
    let mut bad = instance.clone();
    bad["Fax-State"] = json!("sending");
    assert_eq!(schema_errors(&wire_schema("fax.status"), &bad).len(), 1);
    let mut no_job = instance;
    no_job.as_object_mut().expect("object").remove("Job-ID");
    assert!(!schema_errors(&wire_schema("fax.status"), &no_job).is_empty());
}

#[test]
fn query_status_round_trips_and_validates() {
    let p = merge(kazoo_headers("fax", "query_status", "crossbar", Some("crossbar-q")), json!({"Job-ID": JOB, "X": 1}));
    let m: QueryStatus = round_trip(&p);
    assert_eq!(m.exchange(), "targeted");
    assert_schema_valid(&m);
    assert_missing::<QueryStatus>(&p, "Job-ID");
    assert_invalid::<QueryStatus>(&p, "Event-Name", json!("status"));
    let built = QueryStatus::new(NODE, JOB, "reply-q");
    assert_eq!(built.headers.server_id.as_deref(), Some("reply-q"));
    assert_schema_valid(&built);
}

fn call_json() -> Value {
    json!({
        "Account-ID": ACCOUNT,
        "Account-DB": "account%2F3a%2F8b%2F45b0e0d24e1a9d0b7a3c9f3c2b11",
        "Call-ID": CALL_ID,
        "Call-Direction": "inbound",
        "Caller-ID-Name": "Remote Fax",
        "Caller-ID-Number": "+14155550100",
        "Control-Queue": "ecallmgr_call_control-abc",
        "Controller-Queue": "callflow-q",
        "Custom-Channel-Vars": {"Resource-Fax-Option": "true", "Account-ID": ACCOUNT},
        "From": "+14155550100@carrier.example.net",
        "From-Realm": "carrier.example.net",
        "From-User": "+14155550100",
        "Key-Value-Store": {"Fax-Doc-ID": "202401-abc"},
        "Request": "+14155550199@acme.example.com",
        "To": "+14155550199@acme.example.com",
        "To-Realm": "acme.example.com",
        "To-User": "+14155550199",
        "Switch-Hostname": "fs1.example.com",
    })
}

fn fax_req_payload() -> Value {
    merge(
        kazoo_headers("dialplan", "fax_req", "callflow", None),
        json!({"Call": call_json(), "Action": "receive", "FaxBox-ID": FAXBOX, "Fax-T38-Option": "auto", "X": "y"}),
    )
}

#[test]
fn fax_req_round_trips_validates_and_routes() {
    let p = fax_req_payload();
    let m: FaxReq = round_trip(&p);
    let call = m.call.clone().expect("call");
    assert_eq!(call.control_queue.as_deref(), Some("ecallmgr_call_control-abc"));
    assert_eq!(call.to_user.as_deref(), Some("+14155550199"));
    assert_eq!(call.extra["Switch-Hostname"], "fs1.example.com");
    assert_eq!(m.action, Some(FaxAction::Receive));
    assert_eq!(m.t38_option(), Some(true));
    assert_eq!((m.exchange(), m.routing_key().as_str()), ("callmgr", "fax.req"));
    assert_schema_valid(&m);
    assert_missing::<FaxReq>(&p, "Call");
    assert_missing::<FaxReq>(&p, "Action");
    assert_invalid::<FaxReq>(&p, "Action", json!("forward"));

    let built = FaxReq::new(NODE, CallInfo { call_id: Some(CALL_ID.into()), ..Default::default() }, FaxAction::Receive);
    assert_schema_valid(&built);
}

// ---------------------------------------------------------------------------------------------------------
// kapi_offnet_resource

fn offnet_req_payload() -> Value {
    let mut h = kazoo_headers("resource", "offnet_req", "fax", Some("fax_worker-q"));
    h["Msg-ID"] = json!(JOB);
    merge(
        h,
        json!({
            "Outbound-Caller-ID-Name": "Acme Fax",
            "Outbound-Caller-ID-Number": "+14155550199",
            "Outbound-Callee-ID-Number": "+14155550100",
            "Outbound-Callee-ID-Name": "+14155550100",
            "Account-ID": ACCOUNT,
            "Account-Realm": "acme.example.com",
            "To-DID": "+14155550100",
            "Fax-Identity-Number": "+14155550199",
            "Fax-Identity-Name": "ACME",
            "Fax-Timezone": "America/Los_Angeles",
            "Flags": ["fax"],
            "Resource-Type": "originate",
            "Hunt-Account-ID": ACCOUNT,
            "Ignore-Early-Media": true,
            "Custom-Channel-Vars": {"Authorizing-ID": JOB, "Authorizing-Type": "outbound_fax", "RTCP-MUX": false},
            "Export-Custom-Channel-Vars": ["Account-ID"],
            "Custom-SIP-Headers": {"X-Fax-Job": JOB},
            "Application-Name": "fax",
            "Timeout": "40",
            "Application-Data": format!("http://fax1.example.com:30950/fax/{JOB}.tiff"),
            "Origination-Call-ID": CALL_ID,
            "Bypass-E164": false,
            "Fax-T38-Enabled": false,
            "X-Trace-ID": "t-4",
        }),
    )
}

#[test]
fn offnet_req_round_trips_validates_and_routes() {
    let p = offnet_req_payload();
    let m: Req = round_trip(&p);
    assert_eq!(m.resource_type, Some(ResourceType::Originate));
    assert_eq!(m.application_name, Some(OffnetApplication::Fax));
    assert_eq!(m.timeout.as_ref().and_then(Flex::get), Some(40));
    assert_eq!(m.timeout, Some(Flex::Text("40".into())));
    assert_eq!(m.ignore_early_media, Some(Flex::Value(true)));
    assert_eq!(m.custom_channel_vars.as_ref().expect("ccvs")["Authorizing-Type"], "outbound_fax");
    assert_eq!(m.headers.msg_id, JOB);
    assert_eq!((m.exchange(), m.routing_key().as_str()), ("resources", "offnet.resource.req.originate"));
    assert_schema_valid(&m);
    for field in ["Application-Name", "Resource-Type", "To-DID"] {
        assert_missing::<Req>(&p, field);
    }
    assert_rejected_as_missing::<Req>(&merge(p.clone(), json!({"To-DID": ""})), "To-DID");
    assert_invalid::<Req>(&p, "Resource-Type", json!("fax"));
    assert_invalid::<Req>(&p, "Application-Name", json!("txfax"));
    assert_invalid::<Req>(&p, "Media", json!("relay"));
    assert_invalid::<Req>(&p, "Bypass-E164", json!("perhaps"));
    let bad_events = merge(p.clone(), json!({"B-Leg-Events": ["CHANNEL_ANSWER", "NOT_AN_EVENT"]}));
    let err = Req::decode(&bytes(&bad_events)).unwrap_err();
    assert_eq!(err.field(), Some("B-Leg-Events"));
    assert!(err.to_string().contains("`NOT_AN_EVENT`"), "{err}");
    let _: Req = round_trip(&merge(p.clone(), json!({"B-Leg-Events": ["CHANNEL_ANSWER", "CHANNEL_DESTROY"]})));

    let built = Req::fax_originate(NODE, "fax_worker-q", JOB, "+14155550100", "http://h:30950/fax/x.tiff");
    assert_eq!(built.headers.msg_id, JOB);
    assert_schema_valid(&built);
    assert_eq!(offnet_resource::req_binding("*"), "offnet.resource.req.*");
}

#[test]
fn offnet_resp_round_trips_and_validates() {
    let ok = merge(
        kazoo_headers("resource", "offnet_resp", "stepswitch", None),
        json!({
            "Call-ID": CALL_ID,
            "Response-Message": "SUCCESS",
            "Response-Code": "sip:200",
            "Resource-Response": {"Event-Category": "call_event", "Event-Name": "CHANNEL_ANSWER", "Call-ID": CALL_ID},
            "X": true,
        }),
    );
    let m: Resp = round_trip(&ok);
    assert!(m.is_success());
    assert_eq!(m.sip_code(), Some(200));
    assert_eq!(m.exchange(), "targeted");
    assert_schema_valid(&m);
    assert_missing::<Resp>(&ok, "Response-Message");
    assert_invalid::<Resp>(&ok, "Event-Name", json!("offnet_req"));

    let busy = merge(
        kazoo_headers("resource", "offnet_resp", "stepswitch", None),
        json!({"Response-Message": "USER_BUSY", "Response-Code": "sip:486", "Error-Message": "busy"}),
    );
    let m: Resp = round_trip(&busy);
    assert!(!m.is_success());
    assert_eq!(m.sip_code(), Some(486));
    assert_schema_valid(&Resp::new(NODE, JOB, "SUCCESS"));
}

// ---------------------------------------------------------------------------------------------------------
// kapi_call

fn fax_status_event(event: &str, data: Value) -> Value {
    merge(
        kazoo_headers("call_event", "CHANNEL_FAX_STATUS", "ecallmgr", None),
        json!({
            "Call-ID": CALL_ID,
            "Application-Name": "send_fax",
            "Application-Event": event,
            "Application-Data": data,
            "Custom-Channel-Vars": {"Authorizing-ID": JOB, "Authorizing-Type": "outbound_fax"},
            "Channel-Call-State": "ACTIVE",
            "Timestamp": 63871234567_u64,
        }),
    )
}

#[test]
fn channel_fax_status_round_trips_validates_and_routes() {
    let page = fax_status_event(
        "pageresult",
        json!({
            "Fax-Transferred-Pages": "1",
            "Fax-Total-Pages": "2",
            "Fax-Bad-Rows": "0",
            "Fax-Transfer-Rate": "14400",
            "Fax-ECM-Used": true,
            "Fax-Image-Resolution": "204x196",
            "Fax-Image-Size": "23456",
            "Fax-Encoding": "4",
            "Fax-Encoding-Name": "T.6",
            "Fax-Remote-Station-ID": "+1 415 555 0100",
            "Fax-Local-Station-ID": "+1 415 555 0199",
            "Fax-Unlisted-Variable": "kept",
        }),
    );
    let m: ChannelFaxStatus = round_trip(&page);
    assert_eq!(m.application_event, Some(FaxEvent::PageResult));
    let data = m.data();
    assert_eq!(data.transferred_pages.as_ref().and_then(Flex::get), Some(1));
    assert_eq!(data.image_size.as_ref().and_then(Flex::get), Some(23456));
    assert_eq!(data.encoding_name.as_deref(), Some("T.6"));
    assert_eq!(data.extra["Fax-Unlisted-Variable"], "kept");
    assert_eq!(m.extra["Channel-Call-State"], "ACTIVE");
    assert!(!data.is_success());
    assert_eq!(m.routing_key(), format!("call.CHANNEL_FAX_STATUS.{ENCODED_CALL_ID}"));
    assert_eq!(m.exchange(), "callevt");

    let result = fax_status_event(
        "result",
        json!({
            "Fax-Success": true,
            "Fax-Result-Code": "0",
            "Fax-Result-Text": "OK",
            "Fax-T38-Used": "false",
            "Fax-Transferred-Pages": "2",
            "Fax-Total-Pages": "2",
        }),
    );
    let r: ChannelFaxStatus = round_trip(&result);
    assert!(r.data().is_success());
    assert_eq!(r.data().t38_used.as_ref().and_then(Flex::get), Some(false));
    assert_eq!(r.data().result_code.as_ref().and_then(Flex::get), Some(0));

    let nego: ChannelFaxStatus = round_trip(&fax_status_event("negociateresult", json!({"Fax-Transfer-Rate": 9600})));
    assert_eq!(nego.data().transfer_rate, Some(Flex::Value(9600)));

    assert_missing::<ChannelFaxStatus>(&page, "Call-ID");
    assert_missing::<ChannelFaxStatus>(&page, "Application-Event");
    assert_invalid::<ChannelFaxStatus>(&page, "Application-Event", json!("faxresult"));
    let bad_number = merge(page.clone(), json!({"Application-Data": {"Fax-Total-Pages": [2]}}));
    assert!(matches!(ChannelFaxStatus::decode(&bytes(&bad_number)), Err(KapiError::Json(_))));

    let built = ChannelFaxStatus::new(NODE, CALL_ID, FaxEvent::Result, FaxData::default());
    assert_eq!(built.routing_key(), format!("call.CHANNEL_FAX_STATUS.{ENCODED_CALL_ID}"));
    built.validate().expect("valid");
    assert_eq!(kapi::call::event_routing_key("CHANNEL_DESTROY", "*"), "call.CHANNEL_DESTROY.*");
}

#[test]
fn channel_destroy_round_trips_validates_and_routes() {
    let p = merge(
        kazoo_headers("call_event", "CHANNEL_DESTROY", "ecallmgr", None),
        json!({
            "Call-ID": CALL_ID,
            "Hangup-Cause": "NORMAL_CLEARING",
            "Hangup-Code": "sip:200",
            "Disposition": "SUCCESS",
            "Call-Direction": "inbound",
            "Custom-Channel-Vars": {"Account-ID": ACCOUNT},
            "Duration-Seconds": "42",
        }),
    );
    let m: ChannelDestroy = round_trip(&p);
    assert_eq!(m.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
    assert_eq!(m.extra["Duration-Seconds"], "42");
    assert_eq!(m.routing_key(), format!("call.CHANNEL_DESTROY.{ENCODED_CALL_ID}"));
    assert_missing::<ChannelDestroy>(&p, "Call-ID");
    // a fax status event is not a destroy
    let other = fax_status_event("result", json!({}));
    match ChannelDestroy::decode(&bytes(&other)) {
        Err(err) => assert_eq!(err.field(), Some("Event-Name"), "{err}"),
        Ok(m) => panic!("decoded {m:?}"),
    }
    ChannelDestroy::new(NODE, CALL_ID, "NORMAL_CLEARING").validate().expect("valid");
}

// ---------------------------------------------------------------------------------------------------------
// kapi_dialplan

fn command(app: &str, more: Value) -> Value {
    merge(
        kazoo_headers("call", "command", "fax", Some("fax_request-q")),
        merge(json!({"Application-Name": app, "Call-ID": CALL_ID, "X-Trace-ID": "t-5"}), more),
    )
}

#[test]
fn answer_round_trips_and_validates() {
    let p = command("answer", json!({}));
    let m: Answer = round_trip(&p);
    assert_eq!(m.exchange(), "callctl");
    assert_missing::<Answer>(&p, "Call-ID");
    assert_missing::<Answer>(&p, "Application-Name");
    assert_invalid::<Answer>(&p, "Application-Name", json!("hangup"));
    assert_invalid::<Answer>(&p, "Insert-At", json!("later"));
    Answer::for_call(NODE, CALL_ID, "q").validate().expect("valid");
}

#[test]
fn receive_fax_round_trips_and_validates() {
    let p = command(
        "receive_fax",
        json!({
            "Fax-Local-Filename": "/tmp/received_file_202401-abc.tiff",
            "Enable-T38-Fax": true,
            "Enable-T38-Fax-Request": true,
            "Enable-T38-Gateway": "peer",
        }),
    );
    let m: ReceiveFax = round_trip(&p);
    assert_eq!(m.enable_t38_fax.as_ref().and_then(Flex::get), Some(true));
    assert_eq!(m.enable_t38_gateway.as_deref(), Some("peer"));
    assert_schema_valid(&m);
    assert_missing::<ReceiveFax>(&p, "Call-ID");
    assert_invalid::<ReceiveFax>(&p, "Insert-At", json!("soon"));
    let mut built = ReceiveFax::for_call(NODE, CALL_ID, "q");
    built.fax_local_filename = Some("/tmp/x.tiff".into());
    assert_schema_valid(&built);
}

#[test]
fn hangup_round_trips_and_validates() {
    let p = command("hangup", json!({"Insert-At": "now"}));
    let m: Hangup = round_trip(&p);
    assert_eq!(m.insert_at, Some(InsertAt::Now));
    assert_missing::<Hangup>(&p, "Call-ID");
    assert_invalid::<Hangup>(&p, "Other-Leg-Only", json!("sometimes"));
}

#[test]
fn set_round_trips_and_validates() {
    let p = command(
        "set",
        json!({
            "Insert-At": "now",
            "Custom-Channel-Vars": {
                "Fax-Identity-Number": "+14155550199",
                "Fax-Identity-Name": "ACME",
                "Fax-Timezone": "America/Los_Angeles",
                "Callee-ID-Name": "Acme Inbox",
                "Callee-ID-Number": "+14155550199",
                "Fax-Doc-ID": "202401-abc",
                "Fax-Doc-DB": "account%2F3a%2F8b%2F45b0e0d24e1a9d0b7a3c9f3c2b11-202401",
                "RTCP-MUX": false,
                "Origination-Call-ID": CALL_ID,
            },
            "Custom-Call-Vars": {},
        }),
    );
    let m: Set = round_trip(&p);
    assert_eq!(m.custom_channel_vars.as_ref().expect("ccvs")["RTCP-MUX"], false);
    assert_missing::<Set>(&p, "Custom-Call-Vars");
    assert_missing::<Set>(&p, "Custom-Channel-Vars");
    assert_invalid::<Set>(&p, "Insert-At", json!("whenever"));
    let mut vars = JsonMap::new();
    vars.insert("Fax-Doc-ID".into(), json!("202401-abc"));
    let built = Set::vars(NODE, CALL_ID, "q", vars, JsonMap::new());
    assert_eq!(built.insert_at, Some(InsertAt::Now));
    built.validate().expect("valid");
}

#[test]
fn store_fax_round_trips_and_validates() {
    let p = command(
        "store_fax",
        json!({
            "Media-Transfer-Method": "put",
            "Media-Transfer-Destination": "http://media.example.com:24517/store/faxes/202401-abc/received_file.tiff",
            "Fax-Local-Filename": "/tmp/received_file_202401-abc.tiff",
            "Additional-Headers": ["X-Account-ID: 3a8b"],
        }),
    );
    let m: StoreFax = round_trip(&p);
    assert_schema_valid(&m);
    assert_missing::<StoreFax>(&p, "Media-Transfer-Destination");
    assert_missing::<StoreFax>(&p, "Media-Transfer-Method");
    assert_invalid::<StoreFax>(&p, "Media-Transfer-Method", json!("post"));
}

// ---------------------------------------------------------------------------------------------------------
// kapi_notifications

fn fax_info() -> Value {
    json!({
        "Fax-Success": true,
        "Fax-Result-Code": "0",
        "Fax-Result-Text": "OK",
        "Fax-Transferred-Pages": "2",
        "Fax-Total-Pages": "2",
        "Fax-Transfer-Rate": "14400",
        "Fax-Hangup-Code": 200,
        "Fax-Hangup-Cause": "NORMAL_CLEARING",
    })
}

fn notification(name: &str, more: Value) -> Value {
    merge(kazoo_headers("notification", name, "fax", None), merge(json!({"X-Trace-ID": "t-6"}), more))
}

fn inbound_payload(name: &str) -> Value {
    notification(
        name,
        json!({
            "Account-ID": ACCOUNT,
            "Account-DB": "account%2F3a%2F8b%2F45b0e0d24e1a9d0b7a3c9f3c2b11-202401",
            "Fax-ID": "202401-0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
            "Owner-ID": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "FaxBox-ID": FAXBOX,
            "Fax-Notifications": {"email": {"send_to": ["owner@acme.example.com"]}},
            "From-User": "+14155550100",
            "From-Realm": "carrier.example.net",
            "To-User": "+14155550199",
            "To-Realm": "acme.example.com",
            "Fax-Info": fax_info(),
            "Caller-ID-Number": "+14155550100",
            "Caller-ID-Name": "Remote Fax",
            "Callee-ID-Number": "+14155550199",
            "Callee-ID-Name": "Acme Inbox",
            "Call-ID": CALL_ID,
            "Fax-Timestamp": 63871234567_i64,
        }),
    )
}

#[test]
fn inbound_fax_round_trips_validates_and_routes() {
    let p = inbound_payload("inbound_fax");
    let m: InboundFax = round_trip(&p);
    assert_eq!(m.fax_notifications.as_ref().expect("notify").send_to(), vec!["owner@acme.example.com"]);
    assert_eq!(m.notify.account_db.as_deref(), Some("account%2F3a%2F8b%2F45b0e0d24e1a9d0b7a3c9f3c2b11-202401"));
    assert_eq!(m.fax_info.as_ref().expect("info").hangup_code, Some(Flex::Value(200)));
    assert_eq!((m.exchange(), m.routing_key().as_str()), ("notifications", "notifications.fax.inbound"));
    assert_schema_valid(&m);
    for field in ["Account-ID", "Fax-ID", "From-Realm", "From-User", "To-Realm", "To-User"] {
        assert_missing::<InboundFax>(&p, field);
    }
    assert_invalid::<InboundFax>(&p, "Event-Category", json!("fax"));
}

#[test]
fn inbound_fax_error_round_trips_validates_and_routes() {
    let p =
        merge(inbound_payload("inbound_fax_error"), json!({"Fax-Error": "no pages received", "Fax-Result-Code": "49"}));
    let m: InboundFaxError = round_trip(&p);
    assert_eq!(m.fax_result_code.as_ref().and_then(Flex::get), Some(49));
    assert_eq!(m.routing_key(), "notifications.fax.inbound_error");
    assert_schema_valid(&m);
    for field in ["Account-ID", "From-Realm", "From-User", "To-Realm", "To-User"] {
        assert_missing::<InboundFaxError>(&p, field);
    }
    assert_invalid::<InboundFaxError>(&p, "Event-Name", json!("inbound_fax"));
    // `Fax-ID` is optional for the error
    let mut no_fax = p.clone();
    no_fax.as_object_mut().expect("object").remove("Fax-ID");
    let _: InboundFaxError = round_trip(&no_fax);
}

fn outbound_payload(name: &str) -> Value {
    notification(
        name,
        json!({
            "Caller-ID-Name": "Acme Fax",
            "Caller-ID-Number": "+14155550199",
            "Callee-ID-Number": "+14155550100",
            "Callee-ID-Name": "+14155550100",
            "Account-ID": ACCOUNT,
            "Account-DB": "account%2F3a%2F8b%2F45b0e0d24e1a9d0b7a3c9f3c2b11",
            "Fax-JobId": JOB,
            "Fax-ID": JOB,
            "FaxBox-ID": FAXBOX,
            "Fax-Notifications": {"email": {"send_to": ["sender@acme.example.com", "owner@acme.example.com"]}},
            "Fax-Info": fax_info(),
            "Call-ID": CALL_ID,
        }),
    )
}

#[test]
fn outbound_fax_round_trips_validates_and_routes() {
    let p = outbound_payload("outbound_fax");
    let m: OutboundFax = round_trip(&p);
    assert!(m.fax_info.as_ref().expect("info").is_success());
    assert_eq!(m.routing_key(), "notifications.fax.outbound");
    assert_schema_valid(&m);
    for field in ["Account-ID", "Callee-ID-Number", "Caller-ID-Number", "Fax-ID", "Fax-JobId"] {
        assert_missing::<OutboundFax>(&p, field);
    }
    assert_invalid::<OutboundFax>(&p, "Event-Name", json!("outbound_fax_error"));
    let mut built = OutboundFax::new(NODE, ACCOUNT, JOB, "+14155550199", "+14155550100");
    built.fax_notifications = Some(FaxNotifications::email_to(vec!["a@example.com".into()]));
    built.fax_info = Some(FaxData { success: Some(Flex::Value(true)), ..Default::default() });
    assert_schema_valid(&built);
}

#[test]
fn outbound_fax_error_round_trips_validates_and_routes() {
    let p = merge(outbound_payload("outbound_fax_error"), json!({"Fax-Error": "Far end hung up"}));
    let m: OutboundFaxError = round_trip(&p);
    assert_eq!(m.fax_error.as_deref(), Some("Far end hung up"));
    assert_eq!(m.routing_key(), "notifications.fax.outbound_error");
    assert_schema_valid(&m);
    assert_missing::<OutboundFaxError>(&p, "Fax-ID");
    assert_missing::<OutboundFaxError>(&p, "Fax-JobId");
    assert_invalid::<OutboundFaxError>(&p, "Event-Category", json!("fax"));
    // `Account-ID` is optional for the error
    let mut no_account = p.clone();
    no_account.as_object_mut().expect("object").remove("Account-ID");
    let _: OutboundFaxError = round_trip(&no_account);
    assert_schema_valid(&OutboundFaxError::new(NODE, JOB));
}

#[test]
fn outbound_smtp_fax_error_round_trips_validates_and_routes() {
    let p = notification(
        "outbound_smtp_fax_error",
        json!({
            "Account-ID": ACCOUNT,
            "Fax-From-Email": "sender@acme.example.com",
            "Fax-To-Email": "14155550100@fax.acme.example.com",
            "Errors": ["no fax attachment to save", "invalid fax number"],
            "Original-Number": "14155550100",
            "Owner-ID": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "Number": "+14155550100",
            "Timestamp": 63871234567_i64,
            "FaxBox-ID": FAXBOX,
            "FaxBox-Name": "Acme outbox",
            "FaxBox-Timezone": "America/Los_Angeles",
        }),
    );
    let m: OutboundSmtpFaxError = round_trip(&p);
    assert_eq!(m.errors.len(), 2);
    assert_eq!(m.timestamp.as_ref().and_then(Flex::get), Some(63871234567));
    assert_eq!(m.routing_key(), "notifications.fax.outbound_smtp_error");
    assert_schema_valid(&m);
    for field in ["Account-ID", "Fax-From-Email", "Errors", "Timestamp"] {
        assert_missing::<OutboundSmtpFaxError>(&p, field);
    }
    assert_invalid::<OutboundSmtpFaxError>(&p, "Event-Name", json!("outbound_fax_error"));
    assert_rejected_as_missing::<OutboundSmtpFaxError>(&merge(p.clone(), json!({"Errors": []})), "Errors");
    let built = OutboundSmtpFaxError::new(NODE, ACCOUNT, "a@b.example", vec!["invalid fax number".into()], 1);
    assert_schema_valid(&built);
}

/// A system alert as `fax_smtp:system_report/1` publishes it: the failure's fields as `Details`.
fn system_alert_payload() -> Value {
    notification(
        "system_alert",
        json!({
            "Subject": "System Alert: Fax SMTP Error",
            "Message": "fax number 12 is invalid",
            "Account-ID": ACCOUNT,
            "Details": {
                "To": "12@fax.acme.example.com",
                "From": "sender@acme.example.com",
                "Original-Number": "12",
                "Translated-Number": "12",
                "FaxBox-Domain": "fax.acme.example.com",
                "Errors": ["fax number 12 is invalid"],
                "Account-ID": ACCOUNT,
                "FaxBox-ID": FAXBOX,
            },
        }),
    )
}

#[test]
fn system_alert_round_trips_validates_and_routes() {
    let p = system_alert_payload();
    let m: SystemAlert = round_trip(&p);
    assert_eq!(m.subject, "System Alert: Fax SMTP Error");
    assert_eq!(m.account_id.as_deref(), Some(ACCOUNT));
    match &m.details {
        Some(AlertDetails::Fields(d)) => assert_eq!(d["FaxBox-ID"], json!(FAXBOX)),
        other => panic!("details as fields expected, got {other:?}"),
    }
    assert_eq!((m.exchange(), m.routing_key().as_str()), ("notifications", "notifications.system.alert"));
    // Kazoo's definition requires these two, and the event pair
    for field in ["Message", "Subject"] {
        assert_missing::<SystemAlert>(&p, field);
    }
    assert_rejected_as_missing::<SystemAlert>(&merge(p.clone(), json!({"Message": ""})), "Message");
    assert_invalid::<SystemAlert>(&p, "Event-Name", json!("outbound_smtp_fax_error"));
    assert_invalid::<SystemAlert>(&p, "Event-Category", json!("fax"));
    // `Details` may be a text (`kz_notify:system_alert/3` callers), and every optional header may be absent
    let text = merge(p.clone(), json!({"Details": "a plain description"}));
    let m: SystemAlert = round_trip(&text);
    assert_eq!(m.details, Some(AlertDetails::Text("a plain description".into())));
    let mut bare = p.clone();
    for field in ["Details", "Account-ID", "X-Trace-ID"] {
        bare.as_object_mut().expect("object").remove(field);
    }
    let _: SystemAlert = round_trip(&bare);
    // the generic notification headers other than `Subject` are kept as they came
    let generic = merge(p, json!({"To": ["ops@example.com"], "Reply-To": "noc@example.com", "Section": "fax"}));
    let m: SystemAlert = round_trip(&generic);
    assert_eq!(m.section.as_deref(), Some("fax"));
    assert_eq!(m.extra["To"], json!(["ops@example.com"]));

    let built = SystemAlert::new(NODE, "Fax SMTP Error", "realm nowhere.test not found in accounts db");
    assert_eq!(built.subject, "System Alert: Fax SMTP Error");
    let wire: Value = serde_json::from_slice(&built.encode().expect("encode")).expect("json");
    assert_eq!(wire["Event-Category"], json!("notification"));
    assert_eq!(wire["Event-Name"], json!("system_alert"));
    assert_eq!(wire["App-Name"], json!("fax"));
    assert!(wire.get("Details").is_none() && wire.get("Account-ID").is_none(), "{wire}");
}

#[test]
fn generic_notification_headers_keep_their_form() {
    let p = merge(
        outbound_payload("outbound_fax"),
        json!({
            "To": ["a@example.com", "b@example.com"],
            "Cc": "c@example.com",
            "Subject": "Preview",
            "HTML": "PGI+aGk8L2I+",
            "Preview": true,
            "Attachment-URL": "http://example.com/a.pdf",
        }),
    );
    let m: OutboundFax = round_trip(&p);
    assert_eq!(m.notify.to, Some(OneOrMany::Many(vec!["a@example.com".into(), "b@example.com".into()])));
    assert_eq!(m.notify.cc.as_ref().map(OneOrMany::to_vec), Some(vec!["c@example.com".to_string()]));
    assert_eq!(m.notify.preview.as_ref().and_then(Flex::get), Some(true));
    assert_eq!(notifications::EXCHANGE, "notifications");
}

// ---------------------------------------------------------------------------------------------------------
// kapi_conf

fn doc_change(name: &str, id: &str) -> Value {
    merge(
        kazoo_headers("configuration", name, "kazoo_data", None),
        json!({
            "ID": id,
            "Origin-Cache": "kazoo_data_cache",
            "Type": "faxbox",
            "Database": "faxes",
            "Rev": "3-8a7d6c5b4a3928170615f4e3d2c1b0a9",
            "Account-ID": ACCOUNT,
            "Date-Modified": 63870000000_i64,
            "Date-Created": 63870000100_i64,
            "Is-Soft-Deleted": false,
            "Doc": {"name": "Acme outbox"},
            "Version": "1",
        }),
    )
}

#[test]
fn doc_changes_round_trip_validate_and_route() {
    let edited = doc_change("doc_edited", FAXBOX);
    let m: DocEdited = round_trip(&edited);
    assert_eq!(m.doc_type.as_deref(), Some("faxbox"));
    assert_eq!(m.date_created.as_ref().and_then(Flex::get), Some(63870000100));
    assert_eq!(m.extra["Version"], "1");
    assert_eq!((m.exchange(), m.routing_key()), ("configuration", format!("doc_edited.faxes.faxbox.{FAXBOX}")));
    assert_missing::<DocEdited>(&edited, "ID");
    assert_missing::<DocEdited>(&edited, "Database");
    assert_invalid::<DocEdited>(&edited, "Is-Soft-Deleted", json!("perhaps"));

    let created: DocCreated = round_trip(&doc_change("doc_created", "a.b"));
    assert_eq!(created.routing_key(), "doc_created.faxes.faxbox.a%2Eb");
    let deleted: DocDeleted = round_trip(&doc_change("doc_deleted", FAXBOX));
    assert_eq!(deleted.routing_key(), format!("doc_deleted.faxes.faxbox.{FAXBOX}"));

    // the event name picks the type: a deletion does not decode as an edit
    match DocEdited::decode(&bytes(&doc_change("doc_deleted", FAXBOX))) {
        Err(err) => assert_eq!(err.field(), Some("Event-Name"), "{err}"),
        Ok(m) => panic!("decoded {m:?}"),
    }

    // an account database keeps its encoded name in the key
    let db = "account%2F3a%2F8b%2F45b0e0d24e1a9d0b7a3c9f3c2b11";
    let built = DocCreated::new(NODE, db, "fax", JOB);
    assert_eq!(built.routing_key(), format!("doc_created.{db}.fax.{JOB}"));
    built.validate().expect("valid");

    assert_eq!(conf::binding(Some("doc_edited"), Some("faxes"), Some("faxbox"), None), "doc_edited.faxes.faxbox.*");
    assert_eq!(conf::binding(None, Some("faxes"), Some("faxbox"), Some("x.y")), "*.faxes.faxbox.x%2Ey");
    assert_eq!(conf::binding(None, None, None, None), "#");
}

// ---------------------------------------------------------------------------------------------------------
// across APIs

#[test]
fn encode_refuses_an_invalid_message_and_names_the_field() {
    let mut job = StartJob::new(NODE, JOB, ACCOUNT, "+14155550100", "q");
    job.control_queue.clear();
    let err = job.encode().unwrap_err();
    assert_eq!(err.field(), Some("Control-Queue"));
    assert_eq!(err.to_string(), "fax.start_job: missing required field `Control-Queue`");

    let mut status = Status::new(NODE, JOB);
    status.fax_state = Some(FaxState::parse("sending"));
    let err = status.encode().unwrap_err();
    assert_eq!(
        err.to_string(),
        "fax.status: field `Fax-State` is `sending`, expected one of start, prepare, send, receive, end, error"
    );

    let mut headers_gone = StartAccount::new(NODE, ACCOUNT);
    headers_gone.headers = DefaultHeaders::default();
    assert_eq!(headers_gone.encode().unwrap_err().field(), Some("App-Name"));
}

#[test]
fn built_messages_carry_the_fax_app_headers() {
    let m = StartAccount::new(NODE, ACCOUNT);
    let v: Value = serde_json::from_slice(&m.encode().expect("encode")).expect("json");
    assert_eq!(v["App-Name"], "fax");
    assert_eq!(v["App-Version"], "4.0.0");
    assert_eq!(v["Node"], NODE);
    assert_eq!((v["Event-Category"].as_str(), v["Event-Name"].as_str()), (Some("start"), Some("account")));
    assert!(kz_core::ids::is_id(v["Msg-ID"].as_str().expect("msg id")));
    assert!(v.get("Server-ID").is_none());
}

#[test]
fn every_api_with_a_kazoo_schema_is_checked_against_it() {
    // The schemas Kazoo ships for the fax app's messages; each is exercised by a test above. The commands and
    // events without a file here (answer, hangup, set, call events, conf) have no Kazoo schema.
    let checked = [
        StartAccount::API,
        StartJob::API,
        Status::API,
        QueryStatus::API,
        FaxReq::API,
        Req::API,
        Resp::API,
        ReceiveFax::API,
        StoreFax::API,
        InboundFax::API,
        InboundFaxError::API,
        OutboundFax::API,
        OutboundFaxError::API,
        OutboundSmtpFaxError::API,
    ];
    let mut shipped: Vec<String> = std::fs::read_dir(schema_dir())
        .expect("schema dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("kapi.")?.strip_suffix(".json").map(str::to_string))
        .collect();
    shipped.sort();
    let mut expected: Vec<String> = checked.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(shipped, expected);
    for api in [Answer::API, Hangup::API, Set::API, ChannelFaxStatus::API, ChannelDestroy::API, DocEdited::API] {
        assert!(!schema_dir().join(format!("kapi.{api}.json")).exists(), "{api} has a schema: check it");
    }
    assert_eq!(dialplan::EXCHANGE, "callctl");
}

// ---------------------------------------------------------------------------------------------------------
// through the in-process bus

#[tokio::test]
async fn messages_reach_their_bindings_through_the_bus() {
    use futures::StreamExt;
    use kz_amqp::local::LocalBus;
    use kz_amqp::{Bus, QueueOptions};
    use std::time::Duration;

    let bus = LocalBus::new();
    kapi::declare_exchanges(&bus).await.expect("declare");
    kapi::declare_exchanges(&bus).await.expect("declare again");

    // a shared start listener (fax_global_shared_listener binds `fax.start.*.*`)
    let starts = bus.declare_queue("", QueueOptions::exclusive()).await.expect("queue");
    bus.bind(&starts, fax::EXCHANGE, &fax::start_binding(None)).await.expect("bind");
    // a worker queue: targeted by name, and the call events of its call
    let worker = bus.declare_queue("", QueueOptions::exclusive()).await.expect("queue");
    bus.bind(&worker, kapi::TARGETED_EXCHANGE, &worker).await.expect("bind");
    let fax_events = kapi::call::event_routing_key("CHANNEL_FAX_STATUS", CALL_ID);
    bus.bind(&worker, kapi::call::EXCHANGE, &fax_events).await.expect("bind");
    // a call's control queue
    let control = bus.declare_queue("", QueueOptions::exclusive()).await.expect("queue");
    bus.bind(&control, dialplan::EXCHANGE, &control).await.expect("bind");

    let job = StartJob::new(NODE, JOB, ACCOUNT, "+14155550100", &worker);
    kapi::publish(&bus, &job).await.expect("publish start");
    kapi::publish(&bus, &StartAccount::new(NODE, ACCOUNT)).await.expect("publish start account");
    let query = QueryStatus::new(NODE, JOB, "crossbar-q");
    kapi::publish_targeted(&bus, &worker, &query).await.expect("publish query");
    let event = ChannelFaxStatus::new(NODE, CALL_ID, FaxEvent::Result, FaxData::default());
    kapi::publish(&bus, &event).await.expect("publish event");
    let other_call = ChannelFaxStatus::new(NODE, "another-call", FaxEvent::Result, FaxData::default());
    kapi::publish(&bus, &other_call).await.expect("publish other event");
    let answer = Answer::for_call(NODE, CALL_ID, &worker);
    dialplan::publish_command(&bus, &control, &answer).await.expect("publish command");

    let next = |queue: String| {
        let bus = bus.clone();
        async move {
            let mut stream = bus.consume(&queue, 10).await.expect("consume");
            let mut got = Vec::new();
            while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
                got.push((d.exchange.clone(), d.routing_key.clone(), d.message.body.to_vec()));
                d.ack().await.expect("ack");
            }
            got
        }
    };

    let got = next(starts).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].1, format!("fax.start.job.{JOB}"));
    assert_eq!(kapi::peek_event(&got[0].2).expect("peek"), ("start".to_string(), "job".to_string()));
    assert_eq!(StartJob::decode(&got[0].2).expect("decode"), job);
    assert_eq!(got[1].1, format!("fax.start.account.{ACCOUNT}"));
    StartAccount::decode(&got[1].2).expect("decode");

    let got = next(worker).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "targeted");
    assert_eq!(QueryStatus::decode(&got[0].2).expect("decode"), query);
    assert_eq!(got[1].1, format!("call.CHANNEL_FAX_STATUS.{ENCODED_CALL_ID}"));
    assert_eq!(ChannelFaxStatus::decode(&got[1].2).expect("decode"), event);

    let got = next(control).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "callctl");
    assert_eq!(Answer::decode(&got[0].2).expect("decode"), answer);

    // an invalid message is refused before it reaches the bus
    let mut bad = StartJob::new(NODE, JOB, ACCOUNT, "", "q");
    bad.to_number.clear();
    let err = kapi::publish(&bus, &bad).await.unwrap_err();
    assert_eq!(err.field(), Some("To-Number"));
}
