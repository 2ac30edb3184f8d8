//! Answers the fax app's CouchDB views without JavaScript: one Rust twin per map function in `priv/couchdb`.
//!
//! CouchDB runs the design documents' JavaScript map functions (`couch_mrview`, `couchjs`); the embedded store
//! cannot, so each map function has a twin here that emits the same (key, value) rows, JavaScript quirks
//! included: a missing field is omitted from an emitted object and becomes `null` inside an emitted array or as
//! a key or value; `||` falls back on every falsy value (`0`, `""`, `false`, `null`); `!=` is JavaScript's loose
//! inequality; `+` concatenates as soon as one side is a string; `toLowerCase()` on anything but a string throws,
//! and a map function that throws emits nothing for that document, as in `couchjs`.
//!
//! A twin is registered by (database class, `design/view`) and bound to the exact JavaScript text it reproduces:
//! a stored design document gets a twin for a view only when its `map` source is the one in `priv/couchdb`.
//! Changing a map function there therefore needs its twin changed here (and [`TWINS_REVISION`] bumped), which
//! the tests below enforce.

use std::collections::HashMap;
use std::sync::OnceLock;

use kz_core::db::DbClass;
use serde_json::{Map, Number, Value};

use crate::Doc;

/// The rows a map function emits for one document, as (key, value).
pub type Emits = Vec<(Value, Value)>;

/// A map function's twin.
pub type MapFn = fn(&Doc) -> Emits;

/// Bumped whenever a twin's behaviour changes, so stored view rows are rebuilt when the store opens.
pub const TWINS_REVISION: i64 = 1;

/// Every twin, by (class, `design/view`).
pub const TWINS: &[(DbClass, &str, MapFn)] = &[
    (DbClass::Account, "callflows/listing_by_number", callflows_listing_by_number),
    (DbClass::Account, "faxbox/cloud", faxbox_cloud),
    (DbClass::Account, "faxbox/crossbar_listing", account_faxbox_crossbar_listing),
    (DbClass::Account, "faxbox/email_address", faxbox_email_address),
    (DbClass::Account, "faxbox/email_permissions", account_faxbox_email_permissions),
    (DbClass::Account, "faxbox/list_by_ownerid", account_faxbox_list_by_ownerid),
    (DbClass::Account, "faxes/crossbar_listing", account_faxes_crossbar_listing),
    (DbClass::Account, "faxes/list_by_faxbox", account_faxes_list_by_faxbox),
    (DbClass::Account, "faxes/list_by_ownerid", account_faxes_list_by_ownerid),
    (DbClass::Account, "users/creds_by_md5", users_creds_by_md5),
    (DbClass::Account, "users/creds_by_sha", users_creds_by_sha),
    (DbClass::Account, "users/list_by_email", users_list_by_email),
    (DbClass::Account, "users/list_by_username", users_list_by_username),
    (DbClass::Accounts, "accounts/listing_by_realm", accounts_listing_by_realm),
    (DbClass::Accounts, "accounts/listing_by_name", accounts_listing_by_name),
    (DbClass::Accounts, "accounts/listing_by_id", accounts_listing_by_id),
    (DbClass::Faxes, "faxbox/cloud", faxbox_cloud),
    (DbClass::Faxes, "faxbox/crossbar_listing", faxes_faxbox_crossbar_listing),
    (DbClass::Faxes, "faxbox/email_address", faxbox_email_address),
    (DbClass::Faxes, "faxbox/email_permissions", faxes_faxbox_email_permissions),
    (DbClass::Faxes, "faxes/crossbar_listing", faxes_crossbar_listing),
    (DbClass::Faxes, "faxes/jobs", faxes_jobs),
    (DbClass::Faxes, "faxes/jobs_by_account", faxes_jobs_by_account),
    (DbClass::Faxes, "faxes/list_by_account", faxes_list_by_account),
    (DbClass::Faxes, "faxes/list_by_account_state", faxes_list_by_account_state),
    (DbClass::Faxes, "faxes/list_by_faxbox", faxes_list_by_faxbox),
    (DbClass::Faxes, "faxes/list_by_faxbox_state", faxes_list_by_faxbox_state),
    (DbClass::Faxes, "faxes/list_by_owner", faxes_list_by_owner),
    (DbClass::Faxes, "faxes/locked_jobs_by_account", faxes_locked_jobs_by_account),
    (DbClass::Faxes, "faxes/processing_by_node", faxes_processing_by_node),
    (DbClass::Faxes, "faxes/schedule_accounts", faxes_schedule_accounts),
    (DbClass::Modb, "faxes/crossbar_listing", modb_crossbar_listing),
    (DbClass::Modb, "faxes/list_by_faxbox", modb_list_by_faxbox),
    (DbClass::Modb, "faxes/list_by_folder", modb_list_by_folder),
    (DbClass::Modb, "faxes/list_by_ownerid", modb_list_by_ownerid),
    (DbClass::Modb, "faxes/smtp_log", modb_smtp_log),
];

/// The twin of the map function with JavaScript source `map`, if one was written for it.
///
/// The source identifies the function, not the database: a database of another class (a test database, say)
/// holding one of these design documents gets the same twins.
pub fn twin_for_source(map: &str) -> Option<MapFn> {
    static BY_SOURCE: OnceLock<HashMap<String, MapFn>> = OnceLock::new();
    BY_SOURCE
        .get_or_init(|| {
            let mut by_source = HashMap::new();
            for (class, doc) in crate::design::all_design_docs() {
                let design = doc.get("_id").and_then(Value::as_str).unwrap_or_default();
                let design = design.strip_prefix("_design/").unwrap_or(design);
                let Some(views) = doc.get("views").and_then(Value::as_object) else { continue };
                for (view, def) in views {
                    let name = format!("{design}/{view}");
                    let twin = TWINS.iter().find(|(c, n, _)| *c == class && *n == name);
                    if let (Some((_, _, f)), Some(src)) = (twin, def.get("map").and_then(Value::as_str)) {
                        by_source.insert(src.to_string(), *f);
                    }
                }
            }
            by_source
        })
        .get(map)
        .copied()
}

// ---------------------------------------------------------------------------------------------------------------
// A little of JavaScript's semantics over JSON values. `None` is `undefined`.

/// A JavaScript exception: the map function stops and the document emits nothing for the view.
struct Thrown;

type Js<'a> = Option<&'a Value>;

/// Runs a map function body, discarding its rows if it throws (as `couchjs` does).
fn run(body: impl FnOnce(&mut Emits) -> Result<(), Thrown>) -> Emits {
    let mut out = Vec::new();
    match body(&mut out) {
        Ok(()) => out,
        Err(Thrown) => Vec::new(),
    }
}

/// `doc.field`.
fn get<'a>(doc: &'a Doc, field: &str) -> Js<'a> {
    doc.get(field)
}

/// JavaScript truthiness.
fn truthy(v: Js<'_>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// `a || b`.
fn or<'a>(a: Js<'a>, b: &'a Value) -> &'a Value {
    match a {
        Some(v) if truthy(a) => v,
        _ => b,
    }
}

/// `v == 'literal'` with JavaScript's loose equality.
fn loose_eq(v: Js<'_>, literal: &str) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => s == literal,
        Some(Value::Number(n)) => n.as_f64() == Some(string_to_number(literal)),
        Some(Value::Bool(b)) => f64::from(u8::from(*b)) == string_to_number(literal),
        Some(other) => to_js_string(other) == literal,
    }
}

/// `doc.pvt_type == type && !doc.pvt_deleted`: the guard every map function opens with.
fn live_of_type(doc: &Doc, pvt_type: &str) -> bool {
    loose_eq(get(doc, "pvt_type"), pvt_type) && !truthy(get(doc, "pvt_deleted"))
}

/// `v.toLowerCase()`: only strings have it.
fn lower(v: Js<'_>) -> Result<Value, Thrown> {
    match v {
        Some(Value::String(s)) => Ok(Value::String(s.to_lowercase())),
        _ => Err(Thrown),
    }
}

/// An emitted key or bare value: `undefined` serialises as `null`, numbers as JavaScript doubles.
fn val(v: Js<'_>) -> Value {
    v.map(js_json).unwrap_or(Value::Null)
}

/// An object literal `{'a': x, ...}` as `JSON.stringify` writes it: `undefined` members are left out.
fn obj(fields: &[(&str, Js<'_>)]) -> Value {
    let mut m = Map::with_capacity(fields.len());
    for (name, v) in fields {
        if let Some(v) = v {
            m.insert((*name).to_string(), js_json(v));
        }
    }
    Value::Object(m)
}

/// An array literal `[x, y]`: `undefined` elements serialise as `null`.
fn arr(items: &[Js<'_>]) -> Value {
    Value::Array(items.iter().map(|v| val(*v)).collect())
}

/// A JSON value after a trip through a JavaScript engine: every number becomes a double, written back as an
/// integer when it is one.
fn js_json(v: &Value) -> Value {
    match v {
        Value::Number(n)
            if n.is_f64() || n.as_u64().is_some_and(|u| u > 1 << 53) || n.as_i64().is_some_and(|i| i < -(1 << 53)) =>
        {
            number_value(n.as_f64().unwrap_or(f64::NAN))
        }
        Value::Array(items) => Value::Array(items.iter().map(js_json).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), js_json(v))).collect()),
        other => other.clone(),
    }
}

/// A double as JSON: an integer when integral, `null` for NaN and infinities (as `JSON.stringify` does).
fn number_value(f: f64) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f >= i64::MIN as f64 && f < i64::MAX as f64 {
            return Value::from(f as i64);
        }
        if f >= 0.0 && f < u64::MAX as f64 {
            return Value::from(f as u64);
        }
    }
    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// `ToNumber` of a string literal (enough for the literals the map functions compare with).
fn string_to_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    if t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return t.parse().unwrap_or(f64::NAN);
    }
    f64::NAN
}

/// `ToNumber` of a primitive.
fn to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => string_to_number(s),
        _ => f64::NAN,
    }
}

/// `String(v)`.
fn to_js_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| if item.is_null() { String::new() } else { to_js_string(item) })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// `Number.prototype.toString()`: the shortest digits that read back, laid out as ECMAScript specifies.
fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    if x < 0.0 {
        return format!("-{}", number_to_string(-x));
    }
    // Rust writes the shortest round-trip digits too: `d.ddde±x`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    let n = exp.parse::<i32>().unwrap_or(0) + 1;
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let sign = if e >= 0 { '+' } else { '-' };
        let head = &digits[..1];
        let tail = &digits[1..];
        if tail.is_empty() { format!("{head}e{sign}{}", e.abs()) } else { format!("{head}.{tail}e{sign}{}", e.abs()) }
    }
}

/// `ToPrimitive` for `+`: arrays and objects become their strings.
fn to_primitive(v: &Value) -> Value {
    match v {
        Value::Array(_) | Value::Object(_) => Value::String(to_js_string(v)),
        other => other.clone(),
    }
}

/// `a + b`.
fn add(a: &Value, b: &Value) -> Value {
    let (pa, pb) = (to_primitive(a), to_primitive(b));
    if pa.is_string() || pb.is_string() {
        return Value::String(format!("{}{}", to_js_string(&pa), to_js_string(&pb)));
    }
    number_value(to_number(&pa) + to_number(&pb))
}

/// The UTF-16 code units of a string, each as a one-unit string (`s[i]`); a lone surrogate half, which JSON text
/// cannot hold here, becomes U+FFFD.
fn utf16_units(s: &str) -> Vec<Value> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if c.len_utf16() == 1 {
            out.push(Value::String(c.to_string()));
        } else {
            out.push(Value::String('\u{FFFD}'.to_string()));
            out.push(Value::String('\u{FFFD}'.to_string()));
        }
    }
    out
}

/// The longest `for (i = 0; i < v.length; i++)` loop a twin runs before giving up as `couchjs` would time out.
const MAX_LOOP: f64 = 1_000_000.0;

/// `v[0] .. v[v.length - 1]` as a `for` loop over `v.length` sees them (`None` for `undefined` items).
fn items(v: &Value) -> Result<Vec<Option<Value>>, Thrown> {
    match v {
        Value::Array(a) => Ok(a.iter().cloned().map(Some).collect()),
        Value::String(s) => Ok(utf16_units(s).into_iter().map(Some).collect()),
        Value::Object(m) => {
            let Some(length) = m.get("length") else { return Ok(Vec::new()) };
            let length = to_number(&to_primitive(length));
            if length > MAX_LOOP {
                return Err(Thrown);
            }
            let mut out = Vec::new();
            let mut i = 0u32;
            while f64::from(i) < length {
                out.push(m.get(&i.to_string()).cloned());
                i += 1;
            }
            Ok(out)
        }
        _ => Ok(Vec::new()),
    }
}

/// `v[0]`.
fn first(v: &Value) -> Option<Value> {
    match v {
        Value::Array(a) => a.first().cloned(),
        Value::String(s) => utf16_units(s).into_iter().next(),
        Value::Object(m) => m.get("0").cloned(),
        _ => None,
    }
}

/// `typeof v == 'string' && v.length > 0`.
fn nonempty_string(v: &Option<Value>) -> bool {
    matches!(v, Some(Value::String(s)) if !s.is_empty())
}

fn empty_array() -> &'static Value {
    static EMPTY: OnceLock<Value> = OnceLock::new();
    EMPTY.get_or_init(|| Value::Array(Vec::new()))
}

fn zero() -> &'static Value {
    static ZERO: OnceLock<Value> = OnceLock::new();
    ZERO.get_or_init(|| Value::from(0))
}

fn inbox() -> &'static Value {
    static INBOX: OnceLock<Value> = OnceLock::new();
    INBOX.get_or_init(|| Value::from("inbox"))
}

// ---------------------------------------------------------------------------------------------------------------
// account/callflows.json

fn callflows_listing_by_number(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "callflow") {
            return Ok(());
        }
        for n in items(or(get(d, "numbers"), empty_array()))? {
            e.push((val(n.as_ref()), obj(&[("id", get(d, "_id")), ("name", get(d, "name"))])));
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------------------
// account/faxbox.json and faxes/faxbox.json

fn faxbox_cloud(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "faxbox") || !truthy(get(d, "pvt_cloud_printer_id")) {
            return Ok(());
        }
        e.push((
            val(get(d, "pvt_cloud_printer_id")),
            obj(&[
                ("faxbox_id", get(d, "_id")),
                ("account_id", get(d, "pvt_account_id")),
                ("cloud_printer_id", get(d, "pvt_cloud_printer_id")),
                ("state", get(d, "pvt_cloud_state")),
                ("xmpp_jid", get(d, "pvt_cloud_xmpp_jid")),
            ]),
        ));
        Ok(())
    })
}

fn account_faxbox_crossbar_listing(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "faxbox") {
            return Ok(());
        }
        e.push((
            val(get(d, "_id")),
            obj(&[
                ("id", get(d, "_id")),
                ("name", get(d, "name")),
                ("created", get(d, "pvt_created")),
                ("flags", get(d, "flags")),
            ]),
        ));
        Ok(())
    })
}

fn faxes_faxbox_crossbar_listing(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "faxbox") {
            return Ok(());
        }
        e.push((
            val(get(d, "_id")),
            obj(&[("id", get(d, "_id")), ("name", get(d, "name")), ("created", get(d, "pvt_created"))]),
        ));
        Ok(())
    })
}

fn faxbox_email_address(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "faxbox") {
            return Ok(());
        }
        for field in ["pvt_smtp_email_address", "custom_smtp_email_address"] {
            if truthy(get(d, field)) {
                e.push((lower(get(d, field))?, val(get(d, "pvt_account_id"))));
            }
        }
        Ok(())
    })
}

/// Both `email_permissions` views; they differ only in the value emitted (`null` or `1`).
fn email_permissions(d: &Doc, value: Value) -> Emits {
    run(|e| {
        if !live_of_type(d, "faxbox") {
            return Ok(());
        }
        for entry in items(or(get(d, "smtp_permission_list"), empty_array()))? {
            if nonempty_string(&entry) {
                e.push((lower(entry.as_ref())?, value.clone()));
            }
        }
        Ok(())
    })
}

fn account_faxbox_email_permissions(d: &Doc) -> Emits {
    email_permissions(d, Value::Null)
}

fn faxes_faxbox_email_permissions(d: &Doc) -> Emits {
    email_permissions(d, Value::from(1))
}

fn account_faxbox_list_by_ownerid(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "faxbox") || !truthy(get(d, "owner_id")) {
            return Ok(());
        }
        e.push((val(get(d, "owner_id")), obj(&[("id", get(d, "_id")), ("name", get(d, "name"))])));
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------------------
// account/faxes.json

fn account_faxes_crossbar_listing(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") {
            return Ok(());
        }
        e.push((
            arr(&[get(d, "pvt_created"), get(d, "_id")]),
            obj(&[
                ("id", get(d, "_id")),
                ("status", get(d, "pvt_job_status")),
                ("to", get(d, "to_number")),
                ("from", get(d, "from_number")),
                ("created", get(d, "pvt_created")),
            ]),
        ));
        Ok(())
    })
}

/// `account/faxes` `list_by_faxbox` and `list_by_ownerid`: keyed by `[doc[field], created]`.
fn account_faxes_by(d: &Doc, field: &str) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") || !truthy(get(d, field)) {
            return Ok(());
        }
        e.push((
            arr(&[get(d, field), get(d, "pvt_created")]),
            obj(&[("id", get(d, "_id")), ("status", get(d, "pvt_job_status")), ("created", get(d, "pvt_created"))]),
        ));
        Ok(())
    })
}

fn account_faxes_list_by_faxbox(d: &Doc) -> Emits {
    account_faxes_by(d, "faxbox_id")
}

fn account_faxes_list_by_ownerid(d: &Doc) -> Emits {
    account_faxes_by(d, "owner_id")
}

// ---------------------------------------------------------------------------------------------------------------
// account/users.json

/// `creds_by_md5` and `creds_by_sha`: an enabled user's stored hash of `username:password`, as it is.
fn users_creds_by(d: &Doc, field: &str) -> Emits {
    run(|e| {
        if !live_of_type(d, "user") || !truthy(get(d, "enabled")) || !truthy(get(d, field)) {
            return Ok(());
        }
        e.push((val(get(d, field)), obj(&[("owner_id", get(d, "_id")), ("account_id", get(d, "pvt_account_id"))])));
        Ok(())
    })
}

fn users_creds_by_md5(d: &Doc) -> Emits {
    users_creds_by(d, "pvt_md5_auth")
}

fn users_creds_by_sha(d: &Doc) -> Emits {
    users_creds_by(d, "pvt_sha1_auth")
}

fn users_list_by_email(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "user") || !truthy(get(d, "email")) {
            return Ok(());
        }
        e.push((lower(get(d, "email"))?, obj(&[("id", get(d, "_id")), ("username", get(d, "username"))])));
        Ok(())
    })
}

fn users_list_by_username(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "user") || !truthy(get(d, "username")) {
            return Ok(());
        }
        e.push((lower(get(d, "username"))?, obj(&[("id", get(d, "_id")), ("email", get(d, "email"))])));
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------------------
// accounts/accounts.json

/// `listing_by_realm` and `listing_by_name`: keyed by `doc[field].toLowerCase()`.
fn accounts_listing_lower(d: &Doc, field: &str) -> Emits {
    run(|e| {
        if !live_of_type(d, "account") || !truthy(get(d, field)) {
            return Ok(());
        }
        e.push((
            lower(get(d, field))?,
            obj(&[
                ("account_id", get(d, "_id")),
                ("account_name", get(d, "name")),
                ("account_db", get(d, "pvt_account_db")),
            ]),
        ));
        Ok(())
    })
}

fn accounts_listing_by_realm(d: &Doc) -> Emits {
    accounts_listing_lower(d, "realm")
}

fn accounts_listing_by_name(d: &Doc) -> Emits {
    accounts_listing_lower(d, "name")
}

fn accounts_listing_by_id(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "account") {
            return Ok(());
        }
        e.push((
            val(get(d, "_id")),
            obj(&[
                ("account_id", get(d, "_id")),
                ("account_name", get(d, "name")),
                ("realm", get(d, "realm")),
                ("tree", get(d, "pvt_tree")),
            ]),
        ));
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------------------
// faxes/faxes.json

fn faxes_crossbar_listing(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") {
            return Ok(());
        }
        e.push((val(get(d, "_id")), obj(&[("modified", get(d, "pvt_modified"))])));
        Ok(())
    })
}

/// `var due = (doc.pvt_modified || 0) + (doc.retry_after || 0)`.
fn due(d: &Doc) -> Value {
    add(or(get(d, "pvt_modified"), zero()), or(get(d, "retry_after"), zero()))
}

fn status_is(d: &Doc, status: &str) -> bool {
    loose_eq(get(d, "pvt_job_status"), status)
}

fn faxes_jobs(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") || (!status_is(d, "pending") && !status_is(d, "locked")) {
            return Ok(());
        }
        let due = due(d);
        // `(doc.attempts || 0) + '/' + (doc.retries || 0)`
        let tries = Value::String(format!(
            "{}/{}",
            to_js_string(&to_primitive(or(get(d, "attempts"), zero()))),
            to_js_string(&to_primitive(or(get(d, "retries"), zero())))
        ));
        e.push((
            due,
            obj(&[
                ("id", get(d, "_id")),
                ("account_id", get(d, "pvt_account_id")),
                ("faxbox_id", get(d, "faxbox_id")),
                ("to", get(d, "to_number")),
                ("from", get(d, "from_number")),
                ("modified", get(d, "pvt_modified")),
                ("retry_after", get(d, "retry_after")),
                ("tries", Some(&tries)),
            ]),
        ));
        Ok(())
    })
}

fn faxes_jobs_by_account(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") || !status_is(d, "pending") {
            return Ok(());
        }
        let due = due(d);
        e.push((
            arr(&[get(d, "pvt_account_id"), Some(&due)]),
            obj(&[
                ("id", get(d, "_id")),
                ("account_id", get(d, "pvt_account_id")),
                ("faxbox_id", get(d, "faxbox_id")),
                ("to", get(d, "to_number")),
                ("from", get(d, "from_number")),
                ("modified", get(d, "pvt_modified")),
                ("retry_after", get(d, "retry_after")),
            ]),
        ));
        Ok(())
    })
}

fn faxes_list_by_account(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") {
            return Ok(());
        }
        e.push((
            arr(&[get(d, "pvt_account_id"), get(d, "pvt_created")]),
            obj(&[
                ("id", get(d, "_id")),
                ("faxbox_id", get(d, "faxbox_id")),
                ("status", get(d, "pvt_job_status")),
                ("to", get(d, "to_number")),
                ("from", get(d, "from_number")),
                ("attempts", get(d, "attempts")),
                ("created", get(d, "pvt_created")),
            ]),
        ));
        Ok(())
    })
}

/// The value of `list_by_account_state` and `list_by_faxbox_state`.
fn job_state_value(d: &Doc) -> Value {
    obj(&[
        ("id", get(d, "_id")),
        ("account_id", get(d, "pvt_account_id")),
        ("faxbox_id", get(d, "faxbox_id")),
        ("status", get(d, "pvt_job_status")),
        ("to", get(d, "to_number")),
        ("from", get(d, "from_number")),
        ("from_name", get(d, "from_name")),
        ("created", get(d, "pvt_created")),
        ("modified", get(d, "pvt_modified")),
    ])
}

fn faxes_list_by_account_state(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") {
            return Ok(());
        }
        e.push((arr(&[get(d, "pvt_account_id"), get(d, "pvt_job_status"), get(d, "pvt_created")]), job_state_value(d)));
        Ok(())
    })
}

fn faxes_list_by_faxbox_state(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") || !truthy(get(d, "faxbox_id")) {
            return Ok(());
        }
        e.push((arr(&[get(d, "faxbox_id"), get(d, "pvt_job_status"), get(d, "pvt_created")]), job_state_value(d)));
        Ok(())
    })
}

/// `faxes/faxes` `list_by_faxbox` and `list_by_owner`: keyed by `[doc[field], created]`.
fn faxes_by(d: &Doc, field: &str) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") || !truthy(get(d, field)) {
            return Ok(());
        }
        e.push((
            arr(&[get(d, field), get(d, "pvt_created")]),
            obj(&[
                ("id", get(d, "_id")),
                ("account_id", get(d, "pvt_account_id")),
                ("faxbox_id", get(d, "faxbox_id")),
                ("status", get(d, "pvt_job_status")),
                ("to", get(d, "to_number")),
                ("from", get(d, "from_number")),
                ("created", get(d, "pvt_created")),
            ]),
        ));
        Ok(())
    })
}

fn faxes_list_by_faxbox(d: &Doc) -> Emits {
    faxes_by(d, "faxbox_id")
}

fn faxes_list_by_owner(d: &Doc) -> Emits {
    faxes_by(d, "owner_id")
}

fn faxes_locked_jobs_by_account(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") || !status_is(d, "locked") {
            return Ok(());
        }
        e.push((val(get(d, "pvt_account_id")), obj(&[("id", get(d, "_id")), ("modified", get(d, "pvt_modified"))])));
        Ok(())
    })
}

fn faxes_processing_by_node(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") || !status_is(d, "processing") {
            return Ok(());
        }
        e.push((
            val(get(d, "pvt_job_node")),
            obj(&[
                ("node", get(d, "pvt_job_node")),
                ("id", get(d, "_id")),
                ("account_id", get(d, "pvt_account_id")),
                ("faxbox_id", get(d, "faxbox_id")),
                ("to", get(d, "to_number")),
                ("from", get(d, "from_number")),
                ("modified", get(d, "pvt_modified")),
            ]),
        ));
        Ok(())
    })
}

fn faxes_schedule_accounts(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") || (!status_is(d, "pending") && !status_is(d, "locked")) {
            return Ok(());
        }
        e.push((val(get(d, "pvt_account_id")), Value::from(1)));
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------------------
// modb/faxes.json

/// The value every MODB fax view emits, with `folder` already defaulted.
fn modb_value(d: &Doc, folder: &Value) -> Value {
    obj(&[
        ("id", get(d, "_id")),
        ("folder", Some(folder)),
        ("status", get(d, "pvt_job_status")),
        ("to", get(d, "to_number")),
        ("from", get(d, "from_number")),
        ("created", get(d, "pvt_created")),
    ])
}

fn modb_crossbar_listing(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") {
            return Ok(());
        }
        let folder = or(get(d, "folder"), inbox());
        e.push((arr(&[get(d, "pvt_created"), get(d, "_id")]), modb_value(d, folder)));
        Ok(())
    })
}

/// `list_by_faxbox` and `list_by_ownerid`: keyed by `[doc[field], folder, created]`.
fn modb_by(d: &Doc, field: &str) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") {
            return Ok(());
        }
        let folder = or(get(d, "folder"), inbox());
        if !truthy(get(d, field)) {
            return Ok(());
        }
        e.push((arr(&[get(d, field), Some(folder), get(d, "pvt_created")]), modb_value(d, folder)));
        Ok(())
    })
}

fn modb_list_by_faxbox(d: &Doc) -> Emits {
    modb_by(d, "faxbox_id")
}

fn modb_list_by_ownerid(d: &Doc) -> Emits {
    modb_by(d, "owner_id")
}

fn modb_list_by_folder(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax") {
            return Ok(());
        }
        let folder = or(get(d, "folder"), inbox());
        e.push((arr(&[Some(folder), get(d, "pvt_created"), get(d, "_id")]), modb_value(d, folder)));
        Ok(())
    })
}

fn modb_smtp_log(d: &Doc) -> Emits {
    run(|e| {
        if !live_of_type(d, "fax_smtp_log") {
            return Ok(());
        }
        let error = first(or(get(d, "errors"), empty_array()));
        e.push((
            val(get(d, "pvt_created")),
            obj(&[
                ("id", get(d, "_id")),
                ("from", get(d, "from")),
                ("to", get(d, "to")),
                ("error", error.as_ref()),
                ("created", get(d, "pvt_created")),
            ]),
        ));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Doc {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// The twin registered for `class` and `name`, checked to be the one its JavaScript source resolves to.
    fn twin(class: DbClass, name: &str) -> MapFn {
        let (_, _, f) = TWINS.iter().find(|(c, n, _)| *c == class && *n == name).expect("twin registered");
        *f
    }

    /// Asserts the rows, comparing their JSON text so field order counts too.
    fn check(class: DbClass, view: &str, d: &Value, want: Value) {
        let got = twin(class, view)(&doc(d.clone()));
        let got = Value::Array(got.into_iter().map(|(k, v)| json!([k, v])).collect());
        assert_eq!(got.to_string(), want.to_string(), "{class:?} {view} of {d}");
    }

    #[test]
    fn every_view_in_priv_couchdb_has_a_twin_bound_to_its_source() {
        let mut seen = 0;
        for (class, design) in crate::design::all_design_docs() {
            let id = design["_id"].as_str().unwrap_or_default();
            let name = id.trim_start_matches("_design/");
            for (view, def) in design["views"].as_object().expect("views") {
                let full = format!("{name}/{view}");
                let registered = TWINS.iter().filter(|(c, n, _)| *c == class && *n == full).count();
                assert_eq!(registered, 1, "{class:?} {full} needs exactly one twin");
                let map = def["map"].as_str().unwrap_or_default();
                assert!(twin_for_source(map).is_some(), "{class:?} {full} resolves by source");
                seen += 1;
            }
        }
        assert_eq!(seen, TWINS.len(), "every twin matches a view in priv/couchdb");
        assert!(twin_for_source("function(doc) { emit(doc._id, null); }").is_none());
    }

    fn fax_job() -> Value {
        json!({
            "_id": "job1", "pvt_type": "fax", "pvt_job_status": "pending", "pvt_account_id": "acct1",
            "faxbox_id": "fb1", "owner_id": "u1", "to_number": "+15551230000", "from_number": "+15559870000",
            "from_name": "Alice", "pvt_created": 63_800_000_000_u64, "pvt_modified": 63_800_000_100_u64,
            "retry_after": 60, "attempts": 1, "retries": 3
        })
    }

    #[test]
    fn faxes_views_of_a_full_pending_job() {
        let d = fax_job();
        let f = DbClass::Faxes;
        let (created, modified, due) = (63_800_000_000_u64, 63_800_000_100_u64, 63_800_000_160_u64);
        let to = "+15551230000";
        let from = "+15559870000";
        check(f, "faxes/crossbar_listing", &d, json!([["job1", {"modified": modified}]]));
        check(
            f,
            "faxes/jobs",
            &d,
            json!([[due, {"id": "job1", "account_id": "acct1", "faxbox_id": "fb1", "to": to, "from": from,
                "modified": modified, "retry_after": 60, "tries": "1/3"}]]),
        );
        check(
            f,
            "faxes/jobs_by_account",
            &d,
            json!([[["acct1", due], {"id": "job1", "account_id": "acct1", "faxbox_id": "fb1", "to": to,
                "from": from, "modified": modified, "retry_after": 60}]]),
        );
        check(
            f,
            "faxes/list_by_account",
            &d,
            json!([[["acct1", created], {"id": "job1", "faxbox_id": "fb1", "status": "pending", "to": to,
                "from": from, "attempts": 1, "created": created}]]),
        );
        let state_value = json!({"id": "job1", "account_id": "acct1", "faxbox_id": "fb1", "status": "pending",
            "to": to, "from": from, "from_name": "Alice", "created": created, "modified": modified});
        check(f, "faxes/list_by_account_state", &d, json!([[["acct1", "pending", created], state_value]]));
        check(f, "faxes/list_by_faxbox_state", &d, json!([[["fb1", "pending", created], state_value]]));
        let by_value = json!({"id": "job1", "account_id": "acct1", "faxbox_id": "fb1", "status": "pending",
            "to": to, "from": from, "created": created});
        check(f, "faxes/list_by_faxbox", &d, json!([[["fb1", created], by_value]]));
        check(f, "faxes/list_by_owner", &d, json!([[["u1", created], by_value]]));
        check(f, "faxes/locked_jobs_by_account", &d, json!([]));
        check(f, "faxes/processing_by_node", &d, json!([]));
        check(f, "faxes/schedule_accounts", &d, json!([["acct1", 1]]));
    }

    #[test]
    fn faxes_views_of_a_bare_locked_job_omit_or_null_missing_fields() {
        let d = json!({"_id": "job2", "pvt_type": "fax", "pvt_job_status": "locked"});
        let f = DbClass::Faxes;
        check(f, "faxes/crossbar_listing", &d, json!([["job2", {}]]));
        check(f, "faxes/jobs", &d, json!([[0, {"id": "job2", "tries": "0/0"}]]));
        check(f, "faxes/jobs_by_account", &d, json!([]));
        check(f, "faxes/list_by_account", &d, json!([[[null, null], {"id": "job2", "status": "locked"}]]));
        check(
            f,
            "faxes/list_by_account_state",
            &d,
            json!([[[null, "locked", null], {"id": "job2", "status": "locked"}]]),
        );
        check(f, "faxes/list_by_faxbox", &d, json!([]));
        check(f, "faxes/list_by_faxbox_state", &d, json!([]));
        check(f, "faxes/list_by_owner", &d, json!([]));
        check(f, "faxes/locked_jobs_by_account", &d, json!([[null, {"id": "job2"}]]));
        check(f, "faxes/schedule_accounts", &d, json!([[null, 1]]));
        let processing = json!({"_id": "job3", "pvt_type": "fax", "pvt_job_status": "processing",
            "pvt_job_node": "faxd@h1", "pvt_account_id": "acct2", "pvt_modified": 7});
        check(
            f,
            "faxes/processing_by_node",
            &processing,
            json!([["faxd@h1", {"node": "faxd@h1", "id": "job3", "account_id": "acct2", "modified": 7}]]),
        );
        check(f, "faxes/jobs", &processing, json!([]));
        check(f, "faxes/schedule_accounts", &processing, json!([]));
    }

    #[test]
    fn deleted_and_foreign_documents_emit_nothing() {
        let mut deleted = fax_job();
        deleted["pvt_deleted"] = json!(true);
        let mut faxbox = fax_job();
        faxbox["pvt_type"] = json!("faxbox");
        let untyped = json!({"_id": "x"});
        for (class, name, _) in TWINS {
            for d in [&deleted, &untyped] {
                check(*class, name, d, json!([]));
            }
            if name.starts_with("faxes/") {
                check(*class, name, &faxbox, json!([]));
            }
        }
        // `pvt_deleted` counts when truthy only.
        let mut zero = fax_job();
        zero["pvt_deleted"] = json!(0);
        check(DbClass::Faxes, "faxes/schedule_accounts", &zero, json!([["acct1", 1]]));
    }

    fn faxbox_doc() -> Value {
        json!({
            "_id": "fb1", "pvt_type": "faxbox", "name": "Office", "pvt_account_id": "acct1", "pvt_created": 5,
            "owner_id": "u1", "flags": ["a"], "pvt_smtp_email_address": "Fb1@Fax.Example.com",
            "custom_smtp_email_address": "Office@Example.COM",
            "smtp_permission_list": ["Boss@Example.com", "", 5, null, "*@PARTNER.com"],
            "pvt_cloud_printer_id": "printer1", "pvt_cloud_state": "claimed", "pvt_cloud_xmpp_jid": "jid@x"
        })
    }

    #[test]
    fn faxbox_views_in_both_database_classes() {
        let d = faxbox_doc();
        for class in [DbClass::Account, DbClass::Faxes] {
            check(
                class,
                "faxbox/cloud",
                &d,
                json!([["printer1", {"faxbox_id": "fb1", "account_id": "acct1", "cloud_printer_id": "printer1",
                    "state": "claimed", "xmpp_jid": "jid@x"}]]),
            );
            check(
                class,
                "faxbox/email_address",
                &d,
                json!([["fb1@fax.example.com", "acct1"], ["office@example.com", "acct1"]]),
            );
        }
        check(
            DbClass::Account,
            "faxbox/crossbar_listing",
            &d,
            json!([["fb1", {"id": "fb1", "name": "Office", "created": 5, "flags": ["a"]}]]),
        );
        check(
            DbClass::Faxes,
            "faxbox/crossbar_listing",
            &d,
            json!([["fb1", {"id": "fb1", "name": "Office", "created": 5}]]),
        );
        check(
            DbClass::Account,
            "faxbox/email_permissions",
            &d,
            json!([["boss@example.com", null], ["*@partner.com", null]]),
        );
        check(DbClass::Faxes, "faxbox/email_permissions", &d, json!([["boss@example.com", 1], ["*@partner.com", 1]]));
        check(DbClass::Account, "faxbox/list_by_ownerid", &d, json!([["u1", {"id": "fb1", "name": "Office"}]]));
        // No cloud printer, no owner, no addresses: those views stay silent; a missing account id is null.
        let bare = json!({"_id": "fb2", "pvt_type": "faxbox", "custom_smtp_email_address": "X@y"});
        check(DbClass::Faxes, "faxbox/cloud", &bare, json!([]));
        check(DbClass::Account, "faxbox/list_by_ownerid", &bare, json!([]));
        check(DbClass::Faxes, "faxbox/email_address", &bare, json!([["x@y", null]]));
        check(DbClass::Faxes, "faxbox/email_permissions", &bare, json!([]));
    }

    #[test]
    fn account_database_views() {
        let job = fax_job();
        let a = DbClass::Account;
        let created = 63_800_000_000_u64;
        check(
            a,
            "faxes/crossbar_listing",
            &job,
            json!([[[created, "job1"], {"id": "job1", "status": "pending", "to": "+15551230000",
                "from": "+15559870000", "created": created}]]),
        );
        let short = json!({"id": "job1", "status": "pending", "created": created});
        check(a, "faxes/list_by_faxbox", &job, json!([[["fb1", created], short]]));
        check(a, "faxes/list_by_ownerid", &job, json!([[["u1", created], short]]));
        let callflow =
            json!({"_id": "cf1", "pvt_type": "callflow", "numbers": ["+15551230000", "2000"], "name": "Main"});
        check(
            a,
            "callflows/listing_by_number",
            &callflow,
            json!([["+15551230000", {"id": "cf1", "name": "Main"}], ["2000", {"id": "cf1", "name": "Main"}]]),
        );
        check(a, "callflows/listing_by_number", &json!({"_id": "cf2", "pvt_type": "callflow"}), json!([]));
        let user = json!({"_id": "u1", "pvt_type": "user", "email": "Alice@Example.COM", "username": "ALICE"});
        check(a, "users/list_by_email", &user, json!([["alice@example.com", {"id": "u1", "username": "ALICE"}]]));
        check(a, "users/list_by_username", &user, json!([["alice", {"id": "u1", "email": "Alice@Example.COM"}]]));
        let no_email = json!({"_id": "u2", "pvt_type": "user", "username": "bob"});
        check(a, "users/list_by_email", &no_email, json!([]));
        check(a, "users/list_by_username", &no_email, json!([["bob", {"id": "u2"}]]));
    }

    #[test]
    fn credential_views_list_enabled_users_by_their_stored_hash() {
        let a = DbClass::Account;
        let user = |extra: Value| {
            let mut d = json!({"_id": "u1", "pvt_type": "user", "pvt_account_id": "acct1", "enabled": true,
                "pvt_md5_auth": "8cabadefda4d85960f04ff2f1c1de866",
                "pvt_sha1_auth": "21098cc8977cc68d58a47ed87d71ecea0a468609"});
            for (k, v) in extra.as_object().into_iter().flatten() {
                d[k] = v.clone();
            }
            d
        };
        let value = json!({"owner_id": "u1", "account_id": "acct1"});
        check(a, "users/creds_by_md5", &user(json!({})), json!([["8cabadefda4d85960f04ff2f1c1de866", value]]));
        check(a, "users/creds_by_sha", &user(json!({})), json!([["21098cc8977cc68d58a47ed87d71ecea0a468609", value]]));
        // The hash is the key as stored (no case folding); a missing account id is left out of the value.
        check(
            a,
            "users/creds_by_md5",
            &user(json!({"pvt_md5_auth": "ABC", "pvt_account_id": null})),
            json!([["ABC", {"owner_id": "u1", "account_id": null}]]),
        );
        check(
            a,
            "users/creds_by_md5",
            &json!({"_id": "u3", "pvt_type": "user", "enabled": 1, "pvt_md5_auth": 5}),
            json!([[5, {"owner_id": "u3"}]]),
        );
        // `!doc.enabled`: a user without `enabled`, or with a falsy one, cannot log in; so neither can one
        // without a hash, a deleted one or another type of document.
        for extra in [
            json!({"enabled": null}),
            json!({"enabled": false}),
            json!({"enabled": 0}),
            json!({"enabled": ""}),
            json!({"pvt_md5_auth": "", "pvt_sha1_auth": null}),
            json!({"pvt_deleted": true}),
            json!({"pvt_type": "device"}),
        ] {
            check(a, "users/creds_by_md5", &user(extra.clone()), json!([]));
            check(a, "users/creds_by_sha", &user(extra), json!([]));
        }
        let mut bare = user(json!({}));
        bare.as_object_mut().expect("object").remove("enabled");
        check(a, "users/creds_by_md5", &bare, json!([]));
        // A truthy non-boolean `enabled` counts, as in JavaScript.
        check(
            a,
            "users/creds_by_sha",
            &user(json!({"enabled": "false"})),
            json!([["21098cc8977cc68d58a47ed87d71ecea0a468609", value]]),
        );
    }

    #[test]
    fn accounts_database_views() {
        let acct = json!({"_id": "acct1", "pvt_type": "account", "name": "Acme Corp", "realm": "Acme.Sip.Example.com",
            "pvt_account_db": "account%2Fac%2Fct%2F1", "pvt_tree": ["root"]});
        let c = DbClass::Accounts;
        let listing =
            json!({"account_id": "acct1", "account_name": "Acme Corp", "account_db": "account%2Fac%2Fct%2F1"});
        check(c, "accounts/listing_by_realm", &acct, json!([["acme.sip.example.com", listing]]));
        check(c, "accounts/listing_by_name", &acct, json!([["acme corp", listing]]));
        check(
            c,
            "accounts/listing_by_id",
            &acct,
            json!([["acct1", {"account_id": "acct1", "account_name": "Acme Corp", "realm": "Acme.Sip.Example.com",
                "tree": ["root"]}]]),
        );
        // A realm that is not a string makes toLowerCase() throw: that view skips the document, others do not.
        let odd = json!({"_id": "acct2", "pvt_type": "account", "realm": 5, "name": "B"});
        check(c, "accounts/listing_by_realm", &odd, json!([]));
        check(c, "accounts/listing_by_name", &odd, json!([["b", {"account_id": "acct2", "account_name": "B"}]]));
        check(
            c,
            "accounts/listing_by_id",
            &odd,
            json!([["acct2", {"account_id": "acct2", "account_name": "B", "realm": 5}]]),
        );
    }

    #[test]
    fn modb_views_default_the_folder_to_inbox() {
        let d = json!({"_id": "202401-j1", "pvt_type": "fax", "pvt_job_status": "completed", "faxbox_id": "fb1",
            "owner_id": "u1", "to_number": "1", "from_number": "2", "pvt_created": 10, "folder": ""});
        let m = DbClass::Modb;
        let value = json!({"id": "202401-j1", "folder": "inbox", "status": "completed", "to": "1", "from": "2",
            "created": 10});
        check(m, "faxes/crossbar_listing", &d, json!([[[10, "202401-j1"], value]]));
        check(m, "faxes/list_by_faxbox", &d, json!([[["fb1", "inbox", 10], value]]));
        check(m, "faxes/list_by_folder", &d, json!([[["inbox", 10, "202401-j1"], value]]));
        check(m, "faxes/list_by_ownerid", &d, json!([[["u1", "inbox", 10], value]]));
        check(m, "faxes/smtp_log", &d, json!([]));
        let outbox = json!({"_id": "o", "pvt_type": "fax", "folder": "outbox"});
        check(m, "faxes/list_by_folder", &outbox, json!([[["outbox", null, "o"], {"id": "o", "folder": "outbox"}]]));
        check(m, "faxes/list_by_faxbox", &outbox, json!([]));
    }

    #[test]
    fn smtp_log_takes_the_first_error_like_javascript() {
        let m = DbClass::Modb;
        let log = |errors: Value| {
            json!({"_id": "l1", "pvt_type": "fax_smtp_log", "from": "a@b", "to": "c@d", "errors": errors,
                "pvt_created": 5})
        };
        let row = |error: Value| {
            let mut v = json!({"id": "l1", "from": "a@b", "to": "c@d"});
            if !error.is_null() {
                v["error"] = error;
            }
            v["created"] = json!(5);
            json!([[5, v]])
        };
        check(m, "faxes/smtp_log", &log(json!(["bad", "worse"])), row(json!("bad")));
        check(m, "faxes/smtp_log", &log(json!([])), row(Value::Null));
        check(m, "faxes/smtp_log", &log(json!(null)), row(Value::Null));
        check(m, "faxes/smtp_log", &log(json!("xyz")), row(json!("x")));
        check(m, "faxes/smtp_log", &log(json!({"0": "zero"})), row(json!("zero")));
        check(m, "faxes/smtp_log", &log(json!(7)), row(Value::Null));
    }

    #[test]
    fn javascript_quirks_are_reproduced() {
        let f = DbClass::Faxes;
        let job = |extra: Value| {
            let mut d = json!({"_id": "j", "pvt_type": "fax", "pvt_job_status": "pending", "pvt_account_id": "a"});
            for (k, v) in extra.as_object().into_iter().flatten() {
                d[k] = v.clone();
            }
            d
        };
        let due = |extra: Value| twin(f, "faxes/jobs")(&doc(job(extra))).first().map(|(k, _)| k.clone());
        // `+` concatenates with a string, adds numbers, and `||` replaces every falsy value.
        assert_eq!(due(json!({"pvt_modified": "100", "retry_after": 5})), Some(json!("1005")));
        assert_eq!(due(json!({"pvt_modified": 100, "retry_after": 5})), Some(json!(105)));
        assert_eq!(due(json!({"pvt_modified": 1.5})), Some(json!(1.5)));
        assert_eq!(due(json!({"pvt_modified": 0, "retry_after": ""})), Some(json!(0)));
        assert_eq!(due(json!({"pvt_modified": true, "retry_after": 1})), Some(json!(2)));
        assert_eq!(due(json!({"pvt_modified": [1, 2], "retry_after": 3})), Some(json!("1,23")));
        assert_eq!(due(json!({"pvt_modified": {"a": 1}})), Some(json!("[object Object]0")));
        let tries = |extra: Value| twin(f, "faxes/jobs")(&doc(job(extra)))[0].1["tries"].clone();
        assert_eq!(tries(json!({"attempts": 2.5, "retries": 1e21})), json!("2.5/1e+21"));
        assert_eq!(tries(json!({"attempts": true, "retries": [1, null, 2]})), json!("true/1,,2"));
        // Loose equality: an array holding the type string equals it; a number never equals a word.
        let rows = |extra: Value| twin(f, "faxes/schedule_accounts")(&doc(job(extra))).len();
        assert_eq!(rows(json!({"pvt_type": ["fax"]})), 1);
        assert_eq!(rows(json!({"pvt_type": "Fax"})), 0);
        assert_eq!(rows(json!({"pvt_job_status": ["pending"]})), 1);
        // Numbers come back as JavaScript writes them: 10.0 is 10.
        let created = |v: Value| twin(f, "faxes/list_by_account")(&doc(job(json!({"pvt_created": v}))))[0].0.clone();
        assert_eq!(created(json!(10.0)).to_string(), r#"["a",10]"#);
        assert_eq!(created(json!(0.5)).to_string(), r#"["a",0.5]"#);
        // A string list is iterated by character; toLowerCase() on a non-string throws and drops the document.
        let fb = |extra: Value| {
            let mut d = json!({"_id": "fb", "pvt_type": "faxbox"});
            for (k, v) in extra.as_object().into_iter().flatten() {
                d[k] = v.clone();
            }
            doc(d)
        };
        let perms = twin(f, "faxbox/email_permissions")(&fb(json!({"smtp_permission_list": "Ab"})));
        assert_eq!(perms, vec![(json!("a"), json!(1)), (json!("b"), json!(1))]);
        let addresses = twin(f, "faxbox/email_address")(&fb(json!({"pvt_smtp_email_address": "A@b",
            "custom_smtp_email_address": 5})));
        assert!(addresses.is_empty());
        let numbers = twin(DbClass::Account, "callflows/listing_by_number");
        let cf = |numbers: Value| doc(json!({"_id": "c", "pvt_type": "callflow", "numbers": numbers}));
        assert_eq!(numbers(&cf(json!("12"))).len(), 2);
        assert_eq!(
            numbers(&cf(json!({"length": 2, "0": "x"}))),
            vec![(json!("x"), json!({"id": "c"})), (json!(null), json!({"id": "c"}))]
        );
        assert!(numbers(&cf(json!(12))).is_empty());
        assert!(numbers(&cf(json!({"length": 1e9}))).is_empty());
    }

    #[test]
    fn numbers_print_like_javascript() {
        for (x, s) in [
            (0.0, "0"),
            (-5.0, "-5"),
            (123.456, "123.456"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e300, "1.5e+300"),
            (-2.5e-10, "-2.5e-10"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(number_to_string(x), s, "{x}");
        }
    }
}
