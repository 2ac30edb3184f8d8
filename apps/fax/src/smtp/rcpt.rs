//! Answers RCPT TO: finds the faxbox and number of each recipient, or refuses that recipient alone.
//!
//! Ports `fax_smtp:handle_RCPT` and its `check_faxbox` through the [`Lookup`](crate::registry::Lookup) seam.
//! Unlike Kazoo, where the last recipient won, each accepted recipient becomes its own job, and a refused one
//! does not end the session: the client goes on with the others. A refusal of a known account is reported
//! ([`super::report`]) before the answer.
//!
//! **Null sender.** `MAIL FROM:<>` is what bounces and delivery reports use. Nobody can be notified of a fax to
//! such a message and no permission rule can match it, so every recipient is refused with `554 5.7.1 not
//! allowed`, without a lookup, a log document or a notification.

use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, info, warn};

use super::reply;
use super::report::{self, Failure};
use super::session::{Accepted, Session};
use crate::registry::LookupError;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<'_, S> {
    pub(super) async fn rcpt(&mut self, to: String) {
        let max = self.limits.max_recipients;
        let Some(tx) = self.tx.as_mut() else {
            return self.refuse(reply::need_mail());
        };
        if tx.rcpt_count >= max {
            return self.say(reply::too_many_recipients());
        }
        tx.rcpt_count += 1;
        let from = tx.from.clone();
        if from.is_empty() {
            debug!(session = %self.id, to = %to, "recipient refused for the null sender");
            return self.say(reply::not_allowed());
        }
        let (answer, failure) = match self.ctx.lookup.lookup(&to, &from).await {
            Ok(route) => {
                debug!(
                    session = %self.id, to = %to, faxbox_id = %route.faxbox_id, number = %route.number,
                    "recipient accepted"
                );
                if let Some(tx) = self.tx.as_mut() {
                    tx.accepted.push(Accepted { to, route });
                }
                return self.say(reply::recipient_ok());
            }
            Err(LookupError::NotFound { reason, context }) => (
                reply::not_found(),
                Failure { from, to, context: *context, errors: vec![reason], ..Failure::default() },
            ),
            Err(LookupError::NotAllowed { reason, context }) => (
                reply::not_allowed(),
                Failure { from, to, context: *context, errors: vec![reason], ..Failure::default() },
            ),
            Err(LookupError::Unavailable(e)) => {
                warn!(session = %self.id, to = %to, error = %e, "recipient lookup unavailable");
                return self.say(reply::unavailable());
            }
        };
        info!(
            session = %self.id, from = %failure.from, to = %failure.to, reason = %failure.errors.join("; "),
            "email-to-fax recipient refused"
        );
        report::report(self.ctx, &self.fax, &failure).await;
        self.say(answer);
    }
}
