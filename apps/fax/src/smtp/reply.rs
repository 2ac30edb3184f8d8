//! Spells every reply the email-to-fax server sends, in one place.
//!
//! The texts are those of Kazoo's `fax_smtp` and of the `gen_smtp` version it pins (spec §2.1), with RFC 3463
//! enhanced status codes added, since the server advertises `ENHANCEDSTATUSCODES`. As RFC 2034 asks, the
//! greeting, the HELO/EHLO answers and the 354 go out without one.

use std::fmt;

/// One SMTP reply line: a code, an enhanced status code (`None` where RFC 2034 leaves it out), and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: Option<&'static str>,
    pub text: String,
}

impl Reply {
    fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply { code, status: Some(status), text: text.into() }
    }

    fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply { code, status: None, text: text.into() }
    }

    /// Whether the reply refuses the command (4xx or 5xx).
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} {status} {}", self.code, self.text),
            None => write!(f, "{} {}", self.code, self.text),
        }
    }
}

/// `220 <host> Kazoo Email to Fax Server`
pub fn greeting(host: &str) -> Reply {
    Reply::plain(220, format!("{host} Kazoo Email to Fax Server"))
}

/// More sessions than `smtp_sessions`: sent, then the connection is closed.
pub fn too_busy(host: &str) -> Reply {
    Reply::new(421, "4.3.2", format!("{host} is too busy to accept mail right now"))
}

/// The server is stopping: sent to new connections and to idle sessions, then the connection is closed.
pub fn shutting_down() -> Reply {
    Reply::new(421, "4.3.2", "service shutting down")
}

/// No command within the idle timeout, or the session lasted too long.
pub fn timed_out(host: &str) -> Reply {
    Reply::new(421, "4.4.2", format!("{host} Error: timeout exceeded"))
}

/// Too many refused commands in one session.
pub fn too_many_errors(host: &str) -> Reply {
    Reply::new(421, "4.7.0", format!("{host} Error: too many errors"))
}

/// `HELO`: `250 <host>`.
pub fn helo(host: &str) -> Reply {
    Reply::plain(250, host.to_string())
}

/// The multi-line `EHLO` answer: no AUTH, no STARTTLS (Kazoo never enables them), `SIZE` from
/// `smtp_max_msg_size`. Returned as wire text, CRLF included.
pub fn ehlo(host: &str, max_size: u64) -> String {
    format!("250-{host}\r\n250-SIZE {max_size}\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n")
}

pub fn ok() -> Reply {
    Reply::new(250, "2.0.0", "Ok")
}

pub fn sender_ok() -> Reply {
    Reply::new(250, "2.1.0", "sender Ok")
}

pub fn recipient_ok() -> Reply {
    Reply::new(250, "2.1.5", "recipient Ok")
}

/// After DATA, once the job and its documents are committed.
pub fn queued(reference: &str) -> Reply {
    Reply::new(250, "2.0.0", format!("queued as {reference}"))
}

pub fn start_data() -> Reply {
    Reply::plain(354, "enter mail, end with line containing only '.'")
}

pub fn bye() -> Reply {
    Reply::new(221, "2.0.0", "Bye")
}

pub fn vrfy() -> Reply {
    Reply::new(252, "2.5.0", "VRFY disabled by policy, just send some mail")
}

/// An unknown verb, shown uppercased as gen_smtp does (at most 32 printable characters of it).
pub fn unknown_command(verb: &str) -> Reply {
    let verb: String = verb.chars().filter(|c| c.is_ascii_graphic()).take(32).collect::<String>().to_uppercase();
    Reply::new(500, "5.5.1", format!("Error: command not recognized : '{verb}'"))
}

/// A command line longer than the limit (the whole line is read and dropped).
pub fn line_too_long() -> Reply {
    Reply::new(500, "5.5.2", "line too long")
}

/// A verb known to SMTP that this server does not offer (HELP, EXPN, ETRN, BDAT, STARTTLS...).
pub fn not_implemented() -> Reply {
    Reply::new(502, "5.5.1", "Error: command not implemented")
}

/// AUTH is never offered.
pub fn auth_refused() -> Reply {
    Reply::new(502, "5.5.1", "Error: AUTH not implemented")
}

pub fn need_helo() -> Reply {
    Reply::new(503, "5.5.1", "Error: send HELO/EHLO first")
}

pub fn need_mail() -> Reply {
    Reply::new(503, "5.5.1", "Error: need MAIL command")
}

pub fn need_rcpt() -> Reply {
    Reply::new(503, "5.5.1", "Error: need RCPT command")
}

pub fn nested_mail() -> Reply {
    Reply::new(503, "5.5.1", "Error: nested MAIL command")
}

pub fn bad_sender() -> Reply {
    Reply::new(501, "5.1.7", "Bad sender address syntax")
}

pub fn bad_recipient() -> Reply {
    Reply::new(501, "5.1.3", "Bad recipient address syntax")
}

/// A command whose arguments do not parse; `usage` is the expected form.
pub fn syntax(usage: &str) -> Reply {
    Reply::new(501, "5.5.4", format!("Syntax: {usage}"))
}

/// A MAIL or RCPT parameter with a bad value.
pub fn bad_parameter(param: &str) -> Reply {
    Reply::new(501, "5.5.4", format!("Invalid parameter: {param}"))
}

/// A MAIL or RCPT extension this server does not know (gen_smtp's 555).
pub fn unsupported_option(param: &str) -> Reply {
    let param: String = param.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
    Reply::new(555, "5.5.4", format!("Unsupported option: {param}"))
}

/// MAIL FROM with a `SIZE=` above `smtp_max_msg_size`.
pub fn size_exceeded(estimated: usize, limit: u64) -> Reply {
    Reply::new(552, "5.3.4", format!("Estimated message length {estimated} exceeds limit of {limit}"))
}

/// DATA past `smtp_max_msg_size`.
pub fn too_large() -> Reply {
    Reply::new(552, "5.3.4", "Message too large")
}

/// DATA with nothing in it.
pub fn too_small() -> Reply {
    Reply::new(552, "5.6.0", "Message too small")
}

pub fn too_many_recipients() -> Reply {
    Reply::new(452, "4.5.3", "too many recipients")
}

/// No faxbox for the recipient, or an invalid number.
pub fn not_found() -> Reply {
    Reply::new(554, "5.1.1", "Not Found")
}

/// The sender may not use the faxbox (and a null sender never may).
pub fn not_allowed() -> Reply {
    Reply::new(554, "5.7.1", "not allowed")
}

/// The store cannot answer or commit: the client keeps the message and tries again later.
pub fn unavailable() -> Reply {
    Reply::new(451, "4.3.0", "Error: temporary failure, try again later")
}

/// The message cannot be parsed as MIME.
pub fn decode_failed() -> Reply {
    Reply::new(554, "5.6.0", "Message decode failed")
}

/// The message was read but holds nothing to fax (Kazoo answered `250 queued as 554 <reason>`).
pub fn rejected(reason: &str) -> Reply {
    Reply::new(554, "5.6.0", reason.to_string())
}

/// The store refused the job document as malformed: not worth retrying.
pub fn store_refused() -> Reply {
    Reply::new(554, "5.3.0", "Error: the fax job could not be stored")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_render_with_enhanced_codes_where_rfc_2034_wants_them() {
        assert_eq!(greeting("fax.test").to_string(), "220 fax.test Kazoo Email to Fax Server");
        assert_eq!(helo("fax.test").to_string(), "250 fax.test");
        assert_eq!(sender_ok().to_string(), "250 2.1.0 sender Ok");
        assert_eq!(size_exceeded(20, 10).to_string(), "552 5.3.4 Estimated message length 20 exceeds limit of 10");
        assert_eq!(unknown_command("foo\u{7}").to_string(), "500 5.5.1 Error: command not recognized : 'FOO'");
        assert_eq!(
            ehlo("h", 5),
            "250-h\r\n250-SIZE 5\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
        );
        assert!(not_found().is_error() && !ok().is_error());
    }
}
