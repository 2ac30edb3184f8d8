//! Faxbox registry lookups over the embedded store with Kazoo-shaped accounts, users and faxboxes.
//!
//! Every path of spec §2.3 (faxbox address, custom address, realm + sender user, realm + permission rules) and
//! every outcome of §2.4, with uppercase variants of addresses and rules, number normalisation, deleted and
//! stale documents, store failures, and cache invalidation by document-change messages and by expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fax::registry::{Lookup, LookupError, Registry, Route, child_spec};
use kz_amqp::Bus;
use kz_amqp::kapi::conf::DocEdited;
use kz_amqp::local::LocalBus;
use kz_config::Config;
use kz_core::db::{self, account_db};
use kz_core::supervisor::{Intensity, Supervisor, SupervisorSpec};
use kz_data::couch::CouchStore;
use kz_data::embedded::EmbeddedStore;
use kz_data::{Doc, Store};
use ractor::Actor;
use serde_json::{Value, json};

const ACCT_A: &str = "a391d64a083b99232f6d2633c47432e3";
const ACCT_B: &str = "b0000000000000000000000000000002";
const ACCT_C: &str = "c0000000000000000000000000000003";
const ACCT_D: &str = "d0000000000000000000000000000004";
const ACCT_E: &str = "e0000000000000000000000000000005";
const ACCT_F: &str = "e0000000000000000000000000000006";

const USER_JOHN: &str = "bd1683a4a288c4f0b8a34a02906d3520";
const USER_MARY: &str = "0e000000000000000000000000000001";
const USER_ZED: &str = "0e000000000000000000000000000002";

const FB_JOHN: &str = "f0000000000000000000000000000001";
const FB_SALES: &str = "f0000000000000000000000000000002";
const FB_MARY1: &str = "f0000000000000000000000000000003";
const FB_MARY2: &str = "f0000000000000000000000000000004";
const FB_OPEN: &str = "f0000000000000000000000000000005";
const FB_DELETED: &str = "f0000000000000000000000000000006";
const FB_STALE: &str = "f0000000000000000000000000000007";
const FB_C: &str = "f0000000000000000000000000000008";
const FB_ZED: &str = "f0000000000000000000000000000009";

const JOHN_ADDR: &str = "1a2b3c4d.fax.kazoo.io";
const SALES_ADDR: &str = "5e6f7a8b.fax.kazoo.io";
const SALES_CUSTOM: &str = "Fax.Acme-Corp.COM";
const OPEN_ADDR: &str = "0be00000.fax.kazoo.io";

const GREG_2024: i64 = 63_871_286_400;

fn doc(v: Value) -> Doc {
    v.as_object().cloned().expect("fixture is an object")
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    config: Config,
}

impl Fixture {
    fn registry(&self) -> Registry {
        Registry::new(self.store.clone(), self.config.clone())
    }

    async fn save(&self, dbname: &str, d: Doc) {
        self.store.save(dbname, d).await.expect("save fixture");
    }

    async fn account(&self, id: &str, realm: &str, deleted: bool) {
        let mut a = json!({
            "_id": id, "name": format!("Account {realm}"), "realm": realm, "pvt_type": "account",
            "pvt_account_id": id, "pvt_account_db": account_db(id), "pvt_tree": ["11111111111111111111111111111111"],
            "pvt_reseller_id": "11111111111111111111111111111111", "pvt_enabled": true, "timezone": "America/Los_Angeles",
            "pvt_created": GREG_2024, "pvt_modified": GREG_2024, "pvt_vsn": "1"
        });
        if deleted {
            a["pvt_deleted"] = json!(true);
        }
        self.save(db::ACCOUNTS, doc(a.clone())).await;
        if self.store.db_exists(&account_db(id)).await.expect("db exists") {
            self.save(&account_db(id), doc(a)).await;
        }
    }

    async fn user(&self, account: &str, id: &str, email: &str, deleted: bool) {
        let mut u = json!({
            "_id": id, "email": email, "username": email, "first_name": "First", "last_name": "Last",
            "enabled": true, "priv_level": "user", "timezone": "America/Los_Angeles", "pvt_type": "user",
            "pvt_account_id": account, "pvt_account_db": account_db(account), "pvt_created": GREG_2024,
            "pvt_modified": GREG_2024, "pvt_vsn": "1"
        });
        if deleted {
            u["pvt_deleted"] = json!(true);
        }
        self.save(&account_db(account), doc(u)).await;
    }

    /// A faxbox as the API stores it: in its account database, and a copy with `pvt_account_db = faxes`.
    async fn faxbox(&self, account: &str, id: &str, extra: Value) {
        let d = faxbox_doc(account, id, extra);
        let mut copy = d.clone();
        copy.insert("pvt_account_db".into(), json!(db::FAXES));
        self.save(&account_db(account), d).await;
        self.save(db::FAXES, copy).await;
    }

    /// Reads a faxbox, changes it with `f`, and writes both copies straight into the store.
    async fn edit_faxbox(&self, account: &str, id: &str, f: impl Fn(&mut Doc)) {
        for dbname in [account_db(account), db::FAXES.to_string()] {
            let mut d = self.store.get(&dbname, id).await.expect("faxbox");
            f(&mut d);
            self.save(&dbname, d).await;
        }
    }
}

fn faxbox_doc(account: &str, id: &str, extra: Value) -> Doc {
    let mut d = doc(json!({
        "_id": id, "name": format!("Faxbox {id}"), "caller_name": "Acme Fax", "caller_id": "+14155550000",
        "fax_header": "Acme Fax Printer", "fax_identity": "+1 (415) 555-0000", "fax_timezone": "inherit",
        "retries": 1, "smtp_permission_list": [], "media": {}, "notifications": {"outbound": {"email": {"send_to": []}}},
        "pvt_type": "faxbox", "pvt_account_id": account, "pvt_account_db": account_db(account),
        "pvt_reseller_id": "11111111111111111111111111111111", "pvt_created": GREG_2024, "pvt_modified": GREG_2024,
        "pvt_vsn": "1"
    }));
    if let Value::Object(m) = extra {
        d.extend(m);
    }
    d
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open store"));
    for account in [ACCT_A, ACCT_B, ACCT_C] {
        store.db_create(&account_db(account)).await.expect("account db");
    }
    kz_data::design::refresh_views(store.as_ref()).await.expect("refresh views");
    let config = Config::new(store.clone(), "faxd@test", None);
    let f = Fixture { _dir: dir, store, config };

    f.account(ACCT_A, "Acme.Example.com", false).await;
    f.account(ACCT_B, "empty.example.com", false).await;
    f.account(ACCT_C, "gone.example.com", true).await;
    f.account(ACCT_E, "twin.example.com", false).await;
    f.account(ACCT_F, "twin.example.com", false).await;

    f.user(ACCT_A, USER_JOHN, "John.Doe@Acme.Example.com", false).await;
    f.user(ACCT_A, USER_MARY, "mary@acme.example.com", false).await;
    f.user(ACCT_A, USER_ZED, "zed@acme.example.com", true).await;

    f.faxbox(ACCT_A, FB_JOHN, json!({"owner_id": USER_JOHN, "pvt_smtp_email_address": JOHN_ADDR})).await;
    f.faxbox(
        ACCT_A,
        FB_SALES,
        json!({
            "pvt_smtp_email_address": SALES_ADDR,
            "custom_smtp_email_address": SALES_CUSTOM,
            "smtp_permission_list": [
                "Boss@Partner.COM",
                "^[a-z]+@trusted\\.example$",
                "^OPS-[0-9]+@Trusted\\.Example$",
                "^\\S+@escape\\.example$",
                "*@broken.example"
            ]
        }),
    )
    .await;
    f.faxbox(ACCT_A, FB_MARY1, json!({"owner_id": USER_MARY, "pvt_smtp_email_address": "3a000001.fax.kazoo.io"})).await;
    f.faxbox(
        ACCT_A,
        FB_MARY2,
        json!({
            "owner_id": USER_MARY, "pvt_smtp_email_address": "3a000002.fax.kazoo.io",
            "smtp_permission_list": ["Mary@Acme.Example.COM"]
        }),
    )
    .await;
    f.faxbox(ACCT_A, FB_OPEN, json!({"pvt_smtp_email_address": OPEN_ADDR})).await;
    f.faxbox(
        ACCT_A,
        FB_DELETED,
        json!({"pvt_smtp_email_address": "dead0000.fax.kazoo.io", "smtp_permission_list": ["x@y.z"], "pvt_deleted": true}),
    )
    .await;
    // A copy left in `faxes` after its faxbox was removed from the account database.
    f.save(db::FAXES, faxbox_doc(ACCT_A, FB_STALE, json!({"pvt_smtp_email_address": "57a1e000.fax.kazoo.io", "pvt_account_db": "faxes", "smtp_permission_list": ["x@y.z"]}))).await;
    f.faxbox(ACCT_A, FB_ZED, json!({"owner_id": USER_ZED, "pvt_smtp_email_address": "2ed00000.fax.kazoo.io"})).await;
    f.faxbox(
        ACCT_C,
        FB_C,
        json!({"pvt_smtp_email_address": "c0000000.fax.kazoo.io", "smtp_permission_list": ["x@y.z"]}),
    )
    .await;
    f
}

/// An answer reduced to what a test compares: the outcome class and the faxbox id or the reason.
fn outcome(answer: &Result<Route, LookupError>) -> (&'static str, String) {
    match answer {
        Ok(route) => ("route", route.faxbox_id.clone()),
        Err(LookupError::NotFound { reason, .. }) => ("not_found", reason.clone()),
        Err(LookupError::NotAllowed { reason, .. }) => ("not_allowed", reason.clone()),
        Err(LookupError::Unavailable(e)) => ("unavailable", e.clone()),
    }
}

fn route(id: &str) -> (&'static str, String) {
    ("route", id.to_string())
}

fn not_found(reason: &str) -> (&'static str, String) {
    ("not_found", reason.to_string())
}

fn not_allowed(reason: &str) -> (&'static str, String) {
    ("not_allowed", reason.to_string())
}

async fn account_doc(f: &Fixture, id: &str) -> Doc {
    f.store.get(&account_db(ACCT_A), id).await.expect("account-db faxbox")
}

#[tokio::test]
async fn faxbox_address_finds_the_faxbox_and_its_owner() {
    let f = fixture().await;
    let reg = f.registry();
    let r = reg.lookup("4155551212@1a2b3c4d.fax.kazoo.io", "john.doe@acme.example.com").await.expect("route");
    assert_eq!(
        r,
        Route {
            account_id: ACCT_A.into(),
            faxbox_id: FB_JOHN.into(),
            faxbox: account_doc(&f, FB_JOHN).await,
            owner_id: Some(USER_JOHN.into()),
            owner_email: Some("John.Doe@Acme.Example.com".into()),
            original_number: "4155551212".into(),
            number: "+14155551212".into(),
            faxbox_domain: JOHN_ADDR.into(),
        }
    );
    // The route carries the account-database document, never the `faxes` copy.
    assert_eq!(r.faxbox["pvt_account_db"], json!(account_db(ACCT_A)));

    // Uppercase recipient and sender: same route.
    let upper = reg.lookup("4155551212@1A2B3C4D.FAX.KAZOO.IO", "JOHN.DOE@ACME.EXAMPLE.COM").await;
    assert_eq!(outcome(&upper), route(FB_JOHN));
    assert_eq!(upper.expect("route").faxbox_domain, JOHN_ADDR);
}

#[tokio::test]
async fn custom_address_with_permission_list() {
    let f = fixture().await;
    let reg = f.registry();
    for (rcpt, from) in [
        ("4155551212@fax.acme-corp.com", "boss@partner.com"),
        ("4155551212@FAX.ACME-CORP.COM", "BOSS@PARTNER.COM"),
        ("4155551212@Fax.Acme-Corp.COM", "alice@trusted.example"),
        ("4155551212@fax.acme-corp.com", "ALICE@TRUSTED.EXAMPLE"),
        // An entry written in uppercase used as a regex.
        ("4155551212@fax.acme-corp.com", "ops-7@trusted.example"),
        ("4155551212@fax.acme-corp.com", "OPS-7@TRUSTED.EXAMPLE"),
        // The generated address reaches the same faxbox.
        ("4155551212@5e6f7a8b.fax.kazoo.io", "boss@partner.com"),
    ] {
        let r = reg.lookup(rcpt, from).await;
        assert_eq!(outcome(&r), route(FB_SALES), "{rcpt} from {from}");
        let r = r.expect("route");
        assert_eq!((r.owner_id, r.owner_email), (None, None));
        assert_eq!(r.faxbox_domain, rcpt.split_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default());
    }
    let refused = reg.lookup("4155551212@fax.acme-corp.com", "Eve@Evil.example").await;
    assert_eq!(
        outcome(&refused),
        not_allowed(&format!("address eve@evil.example is not allowed on faxbox {FB_SALES}"))
    );
    // An entry that is not a valid regex never lets anyone in.
    let refused = reg.lookup("4155551212@fax.acme-corp.com", "mallory@broken.example").await;
    assert_eq!(outcome(&refused).0, "not_allowed");
    match refused {
        Err(LookupError::NotAllowed { context, .. }) => {
            assert_eq!(context.faxbox_id.as_deref(), Some(FB_SALES));
            assert_eq!(context.account_id.as_deref(), Some(ACCT_A));
            assert_eq!(context.number, "+14155551212");
            assert_eq!(context.faxbox.as_ref().map(|d| d["_id"].clone()), Some(json!(FB_SALES)));
        }
        other => panic!("expected not allowed, got {other:?}"),
    }
}

#[tokio::test]
async fn realm_and_sender_user_with_one_faxbox() {
    let f = fixture().await;
    let reg = f.registry();
    for (rcpt, from) in [
        ("+1 (415) 555-1212@acme.example.com", "john.doe@acme.example.com"),
        ("4155551212@ACME.EXAMPLE.COM", "John.Doe@ACME.example.com"),
    ] {
        let r = reg.lookup(rcpt, from).await.expect("route");
        assert_eq!(r.faxbox_id, FB_JOHN);
        assert_eq!(r.account_id, ACCT_A);
        assert_eq!(r.owner_id.as_deref(), Some(USER_JOHN));
        assert_eq!(r.owner_email.as_deref(), Some("john.doe@acme.example.com"));
        assert_eq!(r.number, "+14155551212");
        assert_eq!(r.faxbox_domain, "acme.example.com");
        assert_eq!(r.faxbox, account_doc(&f, FB_JOHN).await);
    }
}

#[tokio::test]
async fn realm_and_permission_rules() {
    let f = fixture().await;
    let reg = f.registry();
    for from in [
        "boss@partner.com",
        "Boss@Partner.Com",
        "alice@trusted.example",
        "ALICE@Trusted.Example",
        "ops-42@trusted.example",
        "first.last@escape.example",
    ] {
        let r = reg.lookup("4155551212@acme.example.com", from).await;
        assert_eq!(outcome(&r), route(FB_SALES), "from {from}");
        let r = r.expect("route");
        assert_eq!(r.account_id, ACCT_A);
        assert_eq!(r.owner_id, None);
        assert_eq!(r.faxbox, account_doc(&f, FB_SALES).await);
    }
}

#[tokio::test]
async fn realm_user_with_several_faxboxes_falls_back_to_rules() {
    let f = fixture().await;
    let reg = f.registry();
    // Mary owns two faxboxes; the rule on the second names her.
    for from in ["mary@acme.example.com", "MARY@ACME.EXAMPLE.COM"] {
        let r = reg.lookup("4155551212@acme.example.com", from).await.expect("route");
        assert_eq!(r.faxbox_id, FB_MARY2);
        assert_eq!(r.owner_id.as_deref(), Some(USER_MARY));
        assert_eq!(r.owner_email.as_deref(), Some("mary@acme.example.com"));
    }
    // Without the rule, the sender has no single faxbox and no rule: Kazoo's code answers Not Found.
    f.edit_faxbox(ACCT_A, FB_MARY2, |d| {
        d.insert("smtp_permission_list".into(), json!([]));
    })
    .await;
    let r = f.registry().lookup("4155551212@acme.example.com", "mary@acme.example.com").await;
    assert_eq!(outcome(&r), not_found(&format!("no matching rules in account {ACCT_A} for mary@acme.example.com")));
    match r {
        Err(LookupError::NotFound { context, .. }) => {
            assert_eq!(context.account_id.as_deref(), Some(ACCT_A));
            assert_eq!(context.owner_id.as_deref(), Some(USER_MARY));
            assert_eq!(context.faxbox_id, None);
        }
        other => panic!("expected not found, got {other:?}"),
    }
}

#[tokio::test]
async fn realm_failures() {
    let f = fixture().await;
    let reg = f.registry();
    let unknown = reg.lookup("4155551212@Nowhere.Example", "john.doe@acme.example.com").await;
    assert_eq!(outcome(&unknown), not_found("realm nowhere.example not found in accounts db"));
    match unknown {
        Err(LookupError::NotFound { context, .. }) => {
            assert_eq!(context.faxbox_domain, "nowhere.example");
            assert_eq!(context.original_number, "4155551212");
            assert_eq!(context.number, "4155551212");
            assert_eq!(context.account_id, None);
        }
        other => panic!("expected not found, got {other:?}"),
    }
    let empty = reg.lookup("4155551212@empty.example.com", "someone@empty.example.com").await;
    assert_eq!(outcome(&empty), not_found(&format!("no faxboxes for account {ACCT_B}")));
    // A realm matched with a sender that is neither a user nor allowed by a rule: Not Found (Kazoo's code).
    for from in ["stranger@elsewhere.example", "STRANGER@Elsewhere.Example"] {
        let r = reg.lookup("4155551212@acme.example.com", from).await;
        assert_eq!(
            outcome(&r),
            not_found(&format!("no matching rules in account {ACCT_A} for stranger@elsewhere.example"))
        );
    }
    let twins = reg.lookup("4155551212@twin.example.com", "a@b.c").await;
    assert_eq!(outcome(&twins), not_found("accounts query by realm twin.example.com return more than one document"));
    let invalid = reg.lookup("no-at-sign", "a@b.c").await;
    assert_eq!(outcome(&invalid), not_found("invalid address"));
}

#[tokio::test]
async fn numbers_are_normalised_or_refused() {
    let f = fixture().await;
    let reg = f.registry();
    let from = "john.doe@acme.example.com";
    for (local, number) in [
        ("+1 (415) 555-1212", "+14155551212"),
        ("14155551212", "+14155551212"),
        ("4155551212", "+14155551212"),
        // No converter applies (the exchange starts with 1), but the reconcile regex accepts it as is.
        ("15551234567", "15551234567"),
        ("011442071234567", "+442071234567"),
    ] {
        let r = reg.lookup(&format!("{local}@{JOHN_ADDR}"), from).await.expect("route");
        assert_eq!((r.original_number.as_str(), r.number.as_str()), (local, number));
    }
    let r = reg.lookup(&format!("Fax-Me@{JOHN_ADDR}"), from).await;
    assert_eq!(outcome(&r), not_found("fax number fax-me is empty"));
    let r = reg.lookup(&format!("@{JOHN_ADDR}"), from).await;
    assert_eq!(outcome(&r), not_found("fax number  is empty"));
    let r = reg.lookup(&format!("12-34@{JOHN_ADDR}"), from).await;
    assert_eq!(outcome(&r), not_found("fax number 1234 is invalid"));
    match r {
        Err(LookupError::NotFound { context, .. }) => {
            assert_eq!(context.faxbox_id.as_deref(), Some(FB_JOHN));
            assert_eq!((context.original_number.as_str(), context.number.as_str()), ("12-34", "1234"));
        }
        other => panic!("expected not found, got {other:?}"),
    }
    let r = reg.lookup("abc@nowhere.example", from).await;
    assert_eq!(outcome(&r), not_found("fax number abc is empty, no faxbox to report to"));

    // The reconcile rules come from system_config/number_manager when set there.
    f.config
        .set_default("number_manager", "reconcile_regex", json!("^\\+?\\d{4}$"))
        .await
        .expect("set reconcile regex");
    f.config
        .set_default("number_manager", "e164_converters", json!({"^(\\d{4})$": {"prefix": "+", "suffix": ""}}))
        .await
        .expect("set converters");
    let reg = f.registry();
    let r = reg.lookup(&format!("1234@{JOHN_ADDR}"), from).await.expect("route");
    assert_eq!(r.number, "+1234");
    let r = reg.lookup(&format!("4155551212@{JOHN_ADDR}"), from).await;
    assert_eq!(outcome(&r), not_found("fax number 4155551212 is invalid"));
}

#[tokio::test]
async fn permission_outcomes() {
    let f = fixture().await;
    let reg = f.registry();
    // The owner's email, in any case.
    assert_eq!(
        outcome(&reg.lookup(&format!("4155551212@{JOHN_ADDR}"), "JOHN.DOE@acme.example.com").await),
        route(FB_JOHN)
    );
    assert_eq!(
        outcome(&reg.lookup(&format!("4155551212@{JOHN_ADDR}"), "mary@acme.example.com").await),
        not_allowed(&format!("address mary@acme.example.com is not allowed on faxbox {FB_JOHN}"))
    );
    // No list and no owner: the policy decides (default false).
    let open = format!("4155551212@{OPEN_ADDR}");
    assert_eq!(
        outcome(&reg.lookup(&open, "anyone@example.org").await),
        not_allowed("faxbox permissions is empty and policy doesn't allow it")
    );
    // The default was written back into system_config/fax, as Kazoo does.
    assert_eq!(f.config.get("fax", "allow_all_addresses_when_empty").await.expect("config"), Some(json!(false)));
    f.config.set_default("fax", "allow_all_addresses_when_empty", json!(true)).await.expect("set policy");
    reg.flush();
    let r = reg.lookup(&open, "anyone@example.org").await.expect("allowed by policy");
    assert_eq!((r.faxbox_id.as_str(), r.owner_id.as_deref()), (FB_OPEN, None));
    // A list, even with the policy on, admits only what it names.
    assert_eq!(outcome(&reg.lookup("4155551212@fax.acme-corp.com", "anyone@example.org").await).0, "not_allowed");
}

#[tokio::test]
async fn deleted_and_stale_documents_never_match() {
    let f = fixture().await;
    let reg = f.registry();
    // A soft-deleted faxbox is out of the address view: its domain is then tried as a realm.
    assert_eq!(
        outcome(&reg.lookup("4155551212@dead0000.fax.kazoo.io", "x@y.z").await),
        not_found("realm dead0000.fax.kazoo.io not found in accounts db")
    );
    // A `faxes` copy whose faxbox is gone from the account database.
    assert_eq!(
        outcome(&reg.lookup("4155551212@57a1e000.fax.kazoo.io", "x@y.z").await),
        not_found("realm 57a1e000.fax.kazoo.io not found in accounts db")
    );
    // A faxbox of a deleted account.
    assert_eq!(
        outcome(&reg.lookup("4155551212@c0000000.fax.kazoo.io", "x@y.z").await),
        not_found("realm c0000000.fax.kazoo.io not found in accounts db")
    );
    assert_eq!(
        outcome(&reg.lookup("4155551212@gone.example.com", "x@y.z").await),
        not_found("realm gone.example.com not found in accounts db")
    );
    // A deleted owner gives no owner email: the faxbox falls back to the (empty) permission list.
    let r = reg.lookup("4155551212@2ed00000.fax.kazoo.io", "zed@acme.example.com").await;
    assert_eq!(outcome(&r), not_allowed("faxbox permissions is empty and policy doesn't allow it"));
    // A deleted user is not found by email on the realm either.
    assert_eq!(
        outcome(&reg.lookup("4155551212@acme.example.com", "zed@acme.example.com").await),
        not_found(&format!("no matching rules in account {ACCT_A} for zed@acme.example.com"))
    );
    // Deleting a faxbox (soft, both copies) takes it out of every path.
    f.edit_faxbox(ACCT_A, FB_SALES, |d| {
        d.insert("pvt_deleted".into(), json!(true));
    })
    .await;
    let reg = f.registry();
    assert_eq!(
        outcome(&reg.lookup("4155551212@fax.acme-corp.com", "boss@partner.com").await),
        not_found("realm fax.acme-corp.com not found in accounts db")
    );
    assert_eq!(
        outcome(&reg.lookup("4155551212@acme.example.com", "boss@partner.com").await),
        not_found(&format!("no matching rules in account {ACCT_A} for boss@partner.com"))
    );
}

#[tokio::test]
async fn store_failures_are_unavailable() {
    // Nothing listens on this port.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let store: Arc<dyn Store> = Arc::new(CouchStore::new(&format!("http://127.0.0.1:{port}")).expect("client"));
    let config = Config::new(store.clone(), "faxd@test", None);
    let reg = Registry::new(store, config);
    for _ in 0..2 {
        let r = reg.lookup("4155551212@1a2b3c4d.fax.kazoo.io", "john.doe@acme.example.com").await;
        assert_eq!(outcome(&r).0, "unavailable", "{r:?}");
    }
    assert_eq!(reg.cached(), 0, "store failures are not cached");

    // An account database without its design documents cannot answer either: unavailable, not "not found".
    let f = fixture().await;
    f.store.db_create(&account_db(ACCT_D)).await.expect("db");
    f.account(ACCT_D, "noviews.example.com", false).await;
    let r = f.registry().lookup("4155551212@noviews.example.com", "a@b.c").await;
    assert_eq!(outcome(&r).0, "unavailable", "{r:?}");
}

#[tokio::test]
async fn a_published_change_flushes_at_once() {
    let f = fixture().await;
    // Entries would live a minute: only the change message can make the new answer visible.
    let reg = Registry::with_cache_limits(f.store.clone(), f.config.clone(), Duration::from_secs(60), 100);
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
    let spec = SupervisorSpec { children: vec![child_spec(reg.clone(), bus.clone())], intensity: Intensity::default() };
    let (sup, _) = Actor::spawn(None, Supervisor, spec).await.expect("supervisor");

    let (rcpt, from) = ("4155551212@fax.acme-corp.com", "newcomer@example.org");
    assert_eq!(outcome(&reg.lookup(rcpt, from).await).0, "not_allowed");
    assert_eq!(reg.cached(), 1);
    f.edit_faxbox(ACCT_A, FB_SALES, |d| {
        d.insert("smtp_permission_list".into(), json!(["newcomer@example.org"]));
    })
    .await;
    assert_eq!(outcome(&reg.lookup(rcpt, from).await).0, "not_allowed", "the refusal is cached");

    // A change of a type the registry does not watch leaves the cache alone.
    let fax_change = DocEdited::new("faxd@test", db::FAXES, "fax", "0123456789abcdef0123456789abcdef");
    kz_amqp::kapi::publish(bus.as_ref(), &fax_change).await.expect("publish");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reg.cached(), 1);

    let change = DocEdited::new("faxd@test", &account_db(ACCT_A), "faxbox", FB_SALES);
    kz_amqp::kapi::publish(bus.as_ref(), &change).await.expect("publish");
    let start = Instant::now();
    let mut answer = reg.lookup(rcpt, from).await;
    while answer.is_err() && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        answer = reg.lookup(rcpt, from).await;
    }
    assert_eq!(outcome(&answer), route(FB_SALES));

    // User and account changes flush too.
    for (doc_type, id) in [("user", USER_JOHN), ("account", ACCT_A)] {
        assert_eq!(reg.cached(), 1);
        let change = DocEdited::new("faxd@test", &account_db(ACCT_A), doc_type, id);
        kz_amqp::kapi::publish(bus.as_ref(), &change).await.expect("publish");
        let start = Instant::now();
        while reg.cached() > 0 && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(reg.cached(), 0, "{doc_type} change flushes");
        reg.lookup(rcpt, from).await.expect("route");
    }
    sup.stop_and_wait(None, Some(Duration::from_secs(5))).await.expect("stop");
}

#[tokio::test]
async fn a_change_written_straight_into_the_store_is_seen_within_a_second() {
    let f = fixture().await;
    let reg = f.registry();
    let (rcpt, from) = ("4155551212@fax.acme-corp.com", "newcomer@example.org");
    assert_eq!(outcome(&reg.lookup(rcpt, from).await).0, "not_allowed");
    let cached_at = Instant::now();
    f.edit_faxbox(ACCT_A, FB_SALES, |d| {
        d.insert("smtp_permission_list".into(), json!(["newcomer@example.org"]));
    })
    .await;
    let written_at = Instant::now();
    if cached_at.elapsed() < Duration::from_millis(500) {
        assert_eq!(outcome(&reg.lookup(rcpt, from).await).0, "not_allowed", "the refusal is served from cache");
    }
    let mut answer = reg.lookup(rcpt, from).await;
    while answer.is_err() && written_at.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = reg.lookup(rcpt, from).await;
    }
    assert_eq!(outcome(&answer), route(FB_SALES));
    assert!(written_at.elapsed() <= Duration::from_millis(1200), "seen after {:?}", written_at.elapsed());
}
