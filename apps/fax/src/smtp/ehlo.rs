//! Answers HELO and EHLO.
//!
//! Ports gen_smtp's greeting stage as `fax_smtp` configures it: `HELO` gets `250 <host>`; `EHLO` lists `SIZE`
//! (Kazoo's `smtp_max_msg_size`), `8BITMIME`, `PIPELINING` and `ENHANCEDSTATUSCODES`, and never AUTH or STARTTLS.
//! Either one starts over: a transaction under way is dropped.

use tokio::io::{AsyncRead, AsyncWrite};

use super::reply;
use super::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<'_, S> {
    pub(super) fn ehlo(&mut self, host: String) {
        self.helo = Some(host);
        self.reset();
        let text = reply::ehlo(&self.ctx.hostname, self.fax.smtp_max_msg_size);
        self.conn.reply_raw(&text);
    }

    pub(super) fn helo(&mut self, host: String) {
        self.helo = Some(host);
        self.reset();
        let answer = reply::helo(&self.ctx.hostname);
        self.say(answer);
    }
}
