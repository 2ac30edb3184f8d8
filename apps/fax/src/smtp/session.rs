//! Runs one SMTP session: the greeting, the command loop with its limits, and the dispatch to each stage.
//!
//! Ports the session side of `gen_smtp_server_session` with Kazoo's `fax_smtp` callbacks: commands are parsed
//! by `smtp-proto`, answered with Kazoo's texts ([`super::reply`]), and handed to one file per stage
//! (`ehlo`, `mail`, `rcpt`, `data`). A session ends on QUIT, when the client leaves, after the idle or total
//! timeout, after too many refused commands, or when the server shuts down while the session waits for a
//! command (a transaction under way is finished first).

use kz_config::FaxConfig;
use smtp_proto::{Error as ParseError, Request};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::conn::{Conn, Line};
use super::reply::{self, Reply};
use super::{Limits, SmtpContext};
use crate::registry::Route;

/// Whether the session goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Close,
}

/// An accepted recipient.
#[derive(Debug, Clone)]
pub(super) struct Accepted {
    pub to: String,
    pub route: Route,
}

/// A mail transaction: from MAIL to the end of DATA (or RSET).
#[derive(Debug, Clone, Default)]
pub(super) struct Transaction {
    /// The envelope sender, lowercased; empty for the null sender `<>`.
    pub from: String,
    pub accepted: Vec<Accepted>,
    /// RCPT commands seen, accepted or not.
    pub rcpt_count: usize,
}

pub(super) struct Session<'a, S> {
    pub conn: Conn<S>,
    pub ctx: &'a SmtpContext,
    pub limits: &'a Limits,
    /// The fax configuration as it was when the session started.
    pub fax: FaxConfig,
    /// 32 hex, for the logs.
    pub id: String,
    pub peer: String,
    pub helo: Option<String>,
    pub tx: Option<Transaction>,
    /// Refused commands so far.
    pub errors: usize,
    /// When the session must end, whatever it is doing.
    pub deadline: Instant,
}

/// Serves one SMTP connection until it ends. `peer` names the client in logs; `shutdown` asks the session to
/// end at its next command.
pub async fn serve<S>(stream: S, peer: &str, ctx: &SmtpContext, limits: &Limits, shutdown: &CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let fax = match ctx.config.fax().await {
        Ok(fax) => fax,
        Err(e) => {
            warn!(error = %e, "fax configuration unreadable, the session uses the defaults");
            FaxConfig::default()
        }
    };
    let mut session = Session {
        conn: Conn::new(stream),
        ctx,
        limits,
        fax,
        id: kz_core::ids::new_id(),
        peer: peer.to_string(),
        helo: None,
        tx: None,
        errors: 0,
        deadline: Instant::now() + limits.session_timeout,
    };
    debug!(session = %session.id, peer, "smtp session started");
    session.run(shutdown).await;
    debug!(session = %session.id, peer, "smtp session ended");
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<'_, S> {
    async fn run(&mut self, shutdown: &CancellationToken) {
        let host = self.ctx.hostname.clone();
        self.conn.reply(&reply::greeting(&host));
        loop {
            let idle_deadline = (Instant::now() + self.limits.idle_timeout).min(self.deadline);
            let read = tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    self.conn.reply(&reply::shutting_down());
                    break;
                }
                read = tokio::time::timeout_at(idle_deadline, self.conn.read_line(self.limits.max_line)) => read,
            };
            let line = match read {
                Err(_) => {
                    debug!(session = %self.id, "smtp session timed out");
                    self.conn.reply(&reply::timed_out(&host));
                    break;
                }
                Ok(Err(e)) => {
                    debug!(session = %self.id, error = %e, "smtp connection failed");
                    return;
                }
                Ok(Ok(Line::Closed)) => break,
                Ok(Ok(Line::TooLong)) => {
                    self.refuse(reply::line_too_long());
                    None
                }
                Ok(Ok(Line::Command(line))) => Some(line),
            };
            if let Some(line) = line
                && self.command(&line).await == Flow::Close
            {
                break;
            }
            if self.errors >= self.limits.max_errors {
                info!(session = %self.id, peer = %self.peer, "smtp session closed after too many errors");
                self.conn.reply(&reply::too_many_errors(&host));
                break;
            }
        }
        if tokio::time::timeout(self.limits.idle_timeout, self.conn.close()).await.is_err() {
            debug!(session = %self.id, "smtp client did not read the last replies");
        }
    }

    /// Queues a reply.
    pub(super) fn say(&mut self, reply: Reply) {
        self.conn.reply(&reply);
    }

    /// Queues a reply that refuses a malformed or out-of-order command, and counts it.
    pub(super) fn refuse(&mut self, reply: Reply) {
        self.errors += 1;
        self.conn.reply(&reply);
    }

    /// Ends the current transaction (RSET, a new EHLO, the end of DATA).
    pub(super) fn reset(&mut self) {
        self.tx = None;
    }

    async fn command(&mut self, line: &[u8]) -> Flow {
        // HAProxy's `send-proxy` header: consumed silently, as Kazoo does.
        if line.starts_with(b"PROXY ") {
            debug!(session = %self.id, "proxy header ignored");
            return Flow::Continue;
        }
        let verb: String =
            String::from_utf8_lossy(line.split(|b| b.is_ascii_whitespace()).next().unwrap_or_default()).into_owned();
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request.into_owned(),
            Err(e) => {
                let reply = match e {
                    ParseError::UnknownCommand => reply::unknown_command(&verb),
                    ParseError::InvalidSenderAddress => reply::bad_sender(),
                    ParseError::InvalidRecipientAddress => reply::bad_recipient(),
                    ParseError::SyntaxError { syntax } => reply::syntax(syntax),
                    ParseError::InvalidParameter { param } => reply::bad_parameter(param),
                    ParseError::UnsupportedParameter { param } => reply::unsupported_option(&param),
                    ParseError::ResponseTooLong => reply::line_too_long(),
                    ParseError::NeedsMoreData { .. } | ParseError::InvalidResponse { .. } => {
                        reply::syntax("a command line ending with CRLF")
                    }
                };
                self.refuse(reply);
                return Flow::Continue;
            }
        };
        match request {
            Request::Ehlo { host } => self.ehlo(host),
            Request::Helo { host } => self.helo(host),
            Request::Mail { from } => self.mail(from),
            Request::Rcpt { to } => self.rcpt(to.address).await,
            Request::Data => return self.data().await,
            Request::Rset => {
                self.reset();
                self.say(reply::ok());
            }
            Request::Noop { .. } => self.say(reply::ok()),
            Request::Vrfy { .. } => self.say(reply::vrfy()),
            Request::Quit => {
                self.say(reply::bye());
                return Flow::Close;
            }
            Request::Auth { .. } => self.refuse(reply::auth_refused()),
            Request::Lhlo { .. } => self.refuse(reply::unknown_command(&verb)),
            Request::Expn { .. }
            | Request::Help { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::Bdat { .. }
            | Request::StartTls => self.refuse(reply::not_implemented()),
        }
        Flow::Continue
    }
}
