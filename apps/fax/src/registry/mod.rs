//! Answers which faxbox an email-to-fax recipient reaches and whether the sender may use it.
//!
//! Ports `fax_smtp`'s `check_faxbox`, `check_number` and `check_permissions` (spec §2.3, §2.4) and the
//! `fax_cache` they read through. [`Registry::lookup`] follows Kazoo's order: the faxbox address (view
//! `faxbox/email_address` in `faxes`), then the account realm with the sender as a user owning one faxbox, then
//! the account's permission rules; then the number (digits of the local part, reconciled and normalised to
//! E.164) and the sender's permission. Reasons are Kazoo's error texts and outcomes Kazoo's classes, with these
//! fixes:
//!
//! - matching ignores case everywhere: addresses, domains, permission entries (exact or regex) and the owner's
//!   email (KAZOO-5901, HELP-39529);
//! - a permission entry that is not a valid regex never matches (Kazoo's `re:run` error counted as a match);
//! - deleted faxboxes, users and accounts never match, and a stale `faxes` copy of a faxbox is ignored;
//! - a store that cannot answer gives [`LookupError::Unavailable`] (a temporary failure), never "not found";
//! - the route's faxbox is always the account-database document, and its owner is the faxbox's owner
//!   (Kazoo's rules path left the owner unset, or set to a sender owning several faxboxes).
//!
//! Kazoo's behaviour kept on purpose: a realm that matches with a sender that is neither a user owning one
//! faxbox nor allowed by a rule is `NotFound` (Kazoo's documentation says "not allowed", its code "Not Found").
//!
//! Answers (routes and refusals, not store failures) are cached for at most [`CACHE_TTL`]; [`actor`] flushes the
//! cache on every faxbox, user or account change announced on the `configuration` exchange.

pub mod actor;
mod cache;
mod resolve;
mod rules;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use kz_config::Config;
use kz_data::{Doc, Store};

pub use actor::{RegistryActor, child_spec};

use cache::TtlCache;
use rules::{NumberRulesCache, Patterns};

/// Where an accepted recipient leads: the faxbox, its account and owner, and the number to dial.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub account_id: String,
    pub faxbox_id: String,
    /// The faxbox document (as stored in the account database).
    pub faxbox: Doc,
    pub owner_id: Option<String>,
    pub owner_email: Option<String>,
    /// The local part of the recipient address, as given (lowercased).
    pub original_number: String,
    /// The number to dial: digits of the local part, normalised to E.164 by the reconcile rules.
    pub number: String,
    /// The domain part of the recipient address.
    pub faxbox_domain: String,
}

/// What is known about a rejected recipient, for the `fax_smtp_log` document and the sender's notification.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LookupContext {
    pub account_id: Option<String>,
    pub faxbox_id: Option<String>,
    pub faxbox: Option<Doc>,
    pub owner_id: Option<String>,
    pub owner_email: Option<String>,
    pub original_number: String,
    pub number: String,
    pub faxbox_domain: String,
}

/// Why a recipient is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LookupError {
    /// No faxbox, or an invalid number: SMTP `554 5.1.1 Not Found`. `reason` is Kazoo's error text.
    #[error("not found: {reason}")]
    NotFound { reason: String, context: Box<LookupContext> },
    /// The sender may not use the faxbox: SMTP `554 5.7.1 not allowed`.
    #[error("not allowed: {reason}")]
    NotAllowed { reason: String, context: Box<LookupContext> },
    /// The store could not answer: SMTP `451 4.3.0`, try again later.
    #[error("lookup unavailable: {0}")]
    Unavailable(String),
}

/// Finds the route of an email-to-fax recipient. [`Registry`] is the implementation the node runs; the SMTP
/// server only needs this.
#[async_trait::async_trait]
pub trait Lookup: Send + Sync + 'static {
    /// The route of recipient `rcpt` (`<number>@<domain>`) for sender `from` (both as given in the envelope;
    /// matching is case-insensitive).
    async fn lookup(&self, rcpt: &str, from: &str) -> Result<Route, LookupError>;
}

/// How long an answer may be served from the cache: the longest a change that was not announced on the bus
/// (written straight into the store, or by a node that does not publish) goes unseen.
pub const CACHE_TTL: Duration = Duration::from_secs(1);

/// How many answers the cache holds at most; past that, expired then oldest entries make room.
pub const CACHE_MAX_ENTRIES: usize = 10_000;

/// A cached answer: a route or a refusal (store failures are never cached).
type Answer = Result<Route, LookupError>;

/// The faxbox registry: recipient lookups over the store, through a shared cache. Cheap to clone; clones share
/// the cache.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("backend", &self.inner.store.backend()).finish()
    }
}

struct Inner {
    store: Arc<dyn Store>,
    config: Config,
    cache: RwLock<TtlCache<(String, String), Answer>>,
    /// Bumped by every flush, so that an answer computed before a flush is not stored after it.
    epoch: AtomicU64,
    patterns: Patterns,
    number_rules: NumberRulesCache,
}

impl Registry {
    /// A registry over `store`, reading `system_config` through `config`, with the default cache limits.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Registry {
        Registry::with_cache_limits(store, config, CACHE_TTL, CACHE_MAX_ENTRIES)
    }

    /// A registry whose answers live at most `ttl`, `max_entries` of them at most.
    pub fn with_cache_limits(store: Arc<dyn Store>, config: Config, ttl: Duration, max_entries: usize) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                store,
                config,
                cache: RwLock::new(TtlCache::new(ttl, max_entries)),
                epoch: AtomicU64::new(0),
                patterns: Patterns::default(),
                number_rules: NumberRulesCache::default(),
            }),
        }
    }

    /// Forgets every cached answer (Kazoo's `fax_maintenance:flush`).
    pub fn flush(&self) {
        let mut cache = self.inner.cache.write().unwrap_or_else(PoisonError::into_inner);
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        cache.clear();
    }

    /// How many answers are cached right now (expired ones included until they are pushed out).
    pub fn cached(&self) -> usize {
        self.inner.cache.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn cached_answer(&self, key: &(String, String)) -> Option<Answer> {
        self.inner.cache.read().unwrap_or_else(PoisonError::into_inner).get(key, Instant::now())
    }

    /// Stores an answer unless the cache was flushed since `epoch` (the answer may predate the change).
    fn remember(&self, key: (String, String), answer: &Answer, epoch: u64) {
        if matches!(answer, Err(LookupError::Unavailable(_))) {
            return;
        }
        let mut cache = self.inner.cache.write().unwrap_or_else(PoisonError::into_inner);
        if self.inner.epoch.load(Ordering::SeqCst) == epoch {
            cache.insert(key, answer.clone(), Instant::now());
        }
    }
}

#[async_trait::async_trait]
impl Lookup for Registry {
    async fn lookup(&self, rcpt: &str, from: &str) -> Result<Route, LookupError> {
        let key = (rcpt.trim().to_lowercase(), from.trim().to_lowercase());
        if let Some(answer) = self.cached_answer(&key) {
            return answer;
        }
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        let answer = self.inner.resolve(&key.0, &key.1).await;
        self.remember(key, &answer, epoch);
        answer
    }
}
