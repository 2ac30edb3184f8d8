//! Accepts faxes by email: the email-to-fax SMTP server.
//!
//! Ports Kazoo's `fax_smtp` (a `gen_smtp_server` callback module, spec §2): a client sends an email to
//! `<number>@<faxbox address>`; each recipient is looked up ([`crate::registry`]), the attachments are picked
//! ([`attachments`]) and one outbound job per recipient is committed with its documents ([`job`]) before the
//! client hears `250`. Refusals carry Kazoo's texts with enhanced status codes ([`reply`]) and are reported to
//! the account and the sender ([`report`]).
//!
//! Where Kazoo lost faxes or left senders guessing, this server does otherwise, on purpose:
//!
//! - the job is stored when DATA ends, not when the session ends, and the answer waits for the commit: `451
//!   4.3.0` when the store is down, a real `554 5.6.0 <reason>` when nothing can be faxed (never `250 queued as
//!   554 ...`);
//! - every accepted recipient gets its own job, and every allowed attachment is faxed, in order;
//! - a message sent again (same Message-ID, sender, faxbox and number, within 24 h) is not queued twice;
//! - images are allowed by default (see [`attachments`] for how Kazoo's default lists are read) and inline
//!   logos are skipped by reading image headers, with no external command;
//! - the null sender is refused at RCPT and never notified ([`rcpt`]).
//!
//! The wire stages follow one file each: [`session`] (loop and limits), `ehlo`, `mail`, [`rcpt`], [`data`];
//! [`server`] is the listener and its supervised actor.

pub mod attachments;
mod conn;
mod data;
mod ehlo;
pub mod job;
mod mail;
mod rcpt;
pub mod reply;
pub mod report;
mod server;
mod session;
pub mod sniff;

use std::sync::Arc;
use std::time::Duration;

use kz_amqp::Bus;
use kz_config::Config;
use kz_data::Store;

use crate::registry::Lookup;

pub use server::{Running, SmtpArgs, SmtpMsg, SmtpServer, SmtpState, child_spec, child_spec_with};
pub use session::serve;

/// What the email-to-fax server works with.
#[derive(Clone)]
pub struct SmtpContext {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub config: Config,
    /// Finds the faxbox and number of a recipient ([`crate::registry::Registry`] on a node).
    pub lookup: Arc<dyn Lookup>,
    /// The node name, in the notifications' `Node` header.
    pub node: String,
    /// The name the server gives itself in its greeting and replies.
    pub hostname: String,
    /// Converts the documents of accepted jobs, behind the sessions ([`crate::converter`]).
    pub converter: crate::converter::Converter,
    /// What jobs copy from their faxbox's owner and account, read at most once a second per faxbox.
    pub facts: job::FactsCache,
}

impl std::fmt::Debug for SmtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpContext").field("node", &self.node).field("hostname", &self.hostname).finish()
    }
}

/// Bounds on a session: what a slow, stuck or hostile client may cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The longest wait for a command, or for the next bytes of a message.
    pub idle_timeout: Duration,
    /// The longest a session may last.
    pub session_timeout: Duration,
    /// The longest command line, line ending included (RFC 5321 asks for at least 512).
    pub max_line: usize,
    /// RCPT commands allowed in one transaction.
    pub max_recipients: usize,
    /// Refused commands (unknown, malformed, out of order) before the session is closed.
    pub max_errors: usize,
    /// How long the rest of a message past the size limit may take to arrive before the connection is closed.
    pub discard_timeout: Duration,
    /// How long sessions may run on once the server is asked to stop.
    pub drain_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(5 * 60),
            session_timeout: Duration::from_secs(30 * 60),
            max_line: 4096,
            max_recipients: 100,
            max_errors: 20,
            discard_timeout: Duration::from_secs(2 * 60),
            drain_deadline: Duration::from_secs(10),
        }
    }
}
