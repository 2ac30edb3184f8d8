//! Answers DATA: reads the message, picks its documents and queues one job per accepted recipient.
//!
//! Ports `fax_smtp:handle_DATA` and the end-of-session work of `handle_message` (spec §2.2, §2.5-§2.7), moved
//! to where the client still waits for the answer: the reply to DATA is `250 2.0.0 queued as <job id>` only once
//! every job is committed with its original documents (`attaching files`; the conversion to a fax
//! TIFF follows on the blocking pool, [`crate::converter`]), `451 4.3.0` when the store cannot commit (the client keeps the
//! message and retries), and a real `554 5.6.0 <reason>` when the message holds nothing to fax (Kazoo answered
//! `250 queued as 554 ...` and dropped it). The body is held in memory up to `smtp_max_msg_size` and no
//! further; MIME parsing runs off the async threads.

use std::collections::HashSet;

use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{info, warn};

use crate::converter::Sender;

use super::attachments::{self, PickError, Picks, Rules};
use super::conn::Body;
use super::job::{self, QueueError, Queued};
use super::reply::{self, Reply};
use super::report::{self, Failure};
use super::session::{Flow, Session, Transaction};

/// The largest body ever held, whatever `smtp_max_msg_size` says.
const HARD_MAX_MESSAGE: u64 = 1 << 30;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<'_, S> {
    pub(super) async fn data(&mut self) -> Flow {
        match &self.tx {
            None => {
                self.refuse(reply::need_mail());
                return Flow::Continue;
            }
            Some(tx) if tx.accepted.is_empty() => {
                self.refuse(reply::need_rcpt());
                return Flow::Continue;
            }
            Some(_) => {}
        }
        self.say(reply::start_data());
        let max = self.fax.smtp_max_msg_size.min(HARD_MAX_MESSAGE) as usize;
        let (idle, discard) = (self.limits.idle_timeout, self.limits.discard_timeout);
        let body = self.conn.read_body(max, idle, discard, self.deadline).await;
        // The transaction ends here, whatever the outcome.
        let Some(tx) = self.tx.take() else { return Flow::Continue };
        match body {
            Err(e) => {
                warn!(session = %self.id, error = %e, "smtp connection failed during data");
                Flow::Close
            }
            Ok(Body::Closed) => Flow::Close,
            Ok(Body::TimedOut) => {
                self.say(reply::timed_out(&self.ctx.hostname));
                Flow::Close
            }
            Ok(Body::GaveUp) => {
                self.fail(&tx, vec!["message too large".into()], None, None).await;
                self.say(reply::too_large());
                Flow::Close
            }
            Ok(Body::TooLarge) => {
                self.fail(&tx, vec!["message too large".into()], None, None).await;
                self.say(reply::too_large());
                Flow::Continue
            }
            Ok(Body::Message(raw)) if raw.is_empty() => {
                self.say(reply::too_small());
                Flow::Continue
            }
            Ok(Body::Message(raw)) => {
                let answer = self.deliver(&tx, raw).await;
                self.say(answer);
                Flow::Continue
            }
        }
    }

    /// Picks the documents of `raw` and queues a job for every accepted recipient.
    async fn deliver(&mut self, tx: &Transaction, raw: Vec<u8>) -> Reply {
        let rules = Rules::from_config(&self.fax);
        let picked = tokio::task::spawn_blocking(move || attachments::pick(&raw, &rules)).await;
        let picks = match picked {
            Ok(Ok(picks)) => picks,
            Ok(Err(PickError::Decode)) => {
                self.fail(tx, vec!["message decode failed".into()], None, None).await;
                return reply::decode_failed();
            }
            Ok(Err(PickError::NoValidAttachment { skipped, content_type, filename })) => {
                let mut errors = vec!["no valid attachment".to_string()];
                errors.extend(skipped);
                self.fail(tx, errors, content_type, filename).await;
                return reply::rejected("no valid attachment");
            }
            Err(e) => {
                warn!(session = %self.id, error = %e, "message parsing failed");
                self.fail(tx, vec!["message decode failed".into()], None, None).await;
                return reply::decode_failed();
            }
        };
        self.queue_all(tx, &picks).await
    }

    /// Queues one job per distinct (faxbox, number) of the transaction.
    async fn queue_all(&mut self, tx: &Transaction, picks: &Picks) -> Reply {
        let mut seen = HashSet::new();
        let mut first_id: Option<String> = None;
        let mut outage: Option<QueueError> = None;
        let mut converted = Vec::new();
        for accepted in &tx.accepted {
            let route = &accepted.route;
            if !seen.insert((route.faxbox_id.clone(), route.number.clone())) {
                continue;
            }
            match job::queue(self.ctx, route, &tx.from, picks).await {
                Ok(queued) => {
                    let duplicate = matches!(queued, Queued::Duplicate(_));
                    info!(
                        session = %self.id, from = %tx.from, to = %accepted.to, job_id = queued.id(),
                        account_id = %route.account_id, faxbox_id = %route.faxbox_id, number = %route.number,
                        documents = picks.documents.len(), duplicate, "email-to-fax job queued"
                    );
                    first_id.get_or_insert_with(|| queued.id().to_string());
                    if let Queued::New(id) = queued {
                        let sender = Sender {
                            from: tx.from.clone(),
                            to: accepted.to.clone(),
                            context: report::context_of(route),
                        };
                        converted.push((id, sender));
                    }
                }
                Err(e) => {
                    warn!(session = %self.id, to = %accepted.to, error = %e, "email-to-fax job not stored");
                    // A refused document wins over an outage: retrying will not help it.
                    if !matches!(outage, Some(QueueError::Refused(_))) {
                        outage = Some(e);
                    }
                }
            }
        }
        // Committed jobs are converted whatever the answer: each is durable and will be sent.
        for (id, sender) in converted {
            self.ctx.converter.submit(id, Some(sender));
        }
        match (outage, first_id) {
            (None, Some(id)) => reply::queued(&id),
            (Some(QueueError::Refused(_)), _) => reply::store_refused(),
            (Some(QueueError::Unavailable(_)), _) | (None, None) => reply::unavailable(),
        }
    }

    /// Reports a failure of the message to every accepted recipient's account.
    async fn fail(
        &mut self,
        tx: &Transaction,
        errors: Vec<String>,
        content_type: Option<String>,
        filename: Option<String>,
    ) {
        info!(session = %self.id, from = %tx.from, reason = %errors.join("; "), "email-to-fax message refused");
        for accepted in &tx.accepted {
            let failure = Failure {
                from: tx.from.clone(),
                to: accepted.to.clone(),
                context: report::context_of(&accepted.route),
                errors: errors.clone(),
                content_type: content_type.clone(),
                filename: filename.clone(),
            };
            report::report(self.ctx, &self.fax, &failure).await;
        }
    }
}
