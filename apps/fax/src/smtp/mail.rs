//! Answers MAIL FROM: opens a transaction for a sender.
//!
//! Ports gen_smtp's MAIL handling under `fax_smtp`: HELO/EHLO must come first, one transaction at a time, and a
//! `SIZE=` above `smtp_max_msg_size` is refused at once with gen_smtp's `552` text. The sender is kept
//! lowercased (Kazoo matched senders case-sensitively, which refused valid users: KAZOO-5901). The null sender
//! `<>` is accepted here; every recipient is then refused (see [`super::rcpt`]).

use smtp_proto::MailFrom;
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use super::reply;
use super::session::{Session, Transaction};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<'_, S> {
    pub(super) fn mail(&mut self, from: MailFrom<String>) {
        if self.helo.is_none() {
            return self.refuse(reply::need_helo());
        }
        if self.tx.is_some() {
            return self.refuse(reply::nested_mail());
        }
        let limit = self.fax.smtp_max_msg_size;
        if from.size as u64 > limit {
            debug!(session = %self.id, size = from.size, limit, "smtp message announced too large");
            return self.say(reply::size_exceeded(from.size, limit));
        }
        self.tx = Some(Transaction { from: from.address.trim().to_lowercase(), ..Transaction::default() });
        self.say(reply::sender_ok());
    }
}
