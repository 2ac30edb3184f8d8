//! Frames an SMTP connection: command lines in, replies out, and the DATA body with its dot-unstuffing.
//!
//! This is the transport half of `gen_smtp_server_session` (which Kazoo's `fax_smtp` runs under). Replies are
//! queued and written when the server is about to wait for input, so a pipelining client gets all the answers to
//! its batch in one write (RFC 2920). Memory stays bounded: a command line longer than the limit is read and
//! dropped, and a message body is kept only up to the size limit, the rest read and dropped up to a deadline.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::reply::Reply;

/// How much is read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// What reading a command line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, with its line ending.
    Command(Vec<u8>),
    /// A line longer than the limit; it was read to its end and dropped.
    TooLong,
    /// The client closed the connection.
    Closed,
}

/// What reading a message body gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    /// The whole message, unstuffed, without the final `.` line.
    Message(Vec<u8>),
    /// The message was larger than the limit; it was read to its end and dropped.
    TooLarge,
    /// The message was larger than the limit and its rest did not arrive within the discard deadline.
    GaveUp,
    /// The client sent nothing for the idle timeout before the end of the message.
    TimedOut,
    /// The client closed the connection before the end of the message.
    Closed,
}

/// A connection: the stream, what was read but not used yet, and the replies not written yet.
pub struct Conn<S> {
    stream: S,
    input: BytesMut,
    output: Vec<u8>,
    /// Dropping the rest of a line that went past the limit.
    discarding: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Conn<S> {
        Conn { stream, input: BytesMut::with_capacity(READ_CHUNK), output: Vec::with_capacity(512), discarding: false }
    }

    /// Queues a reply.
    pub fn reply(&mut self, reply: &Reply) {
        self.output.extend_from_slice(reply.to_string().as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    /// Queues text already in wire form (the multi-line EHLO answer).
    pub fn reply_raw(&mut self, text: &str) {
        self.output.extend_from_slice(text.as_bytes());
    }

    /// Writes the queued replies.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output).await?;
            self.output.clear();
        }
        self.stream.flush().await
    }

    /// Writes the queued replies and closes the sending side.
    pub async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.stream.shutdown().await
    }

    /// Reads more input, writing the queued replies first: the client may be waiting for them.
    async fn fill(&mut self) -> io::Result<usize> {
        self.flush().await?;
        self.input.reserve(READ_CHUNK);
        self.stream.read_buf(&mut self.input).await
    }

    /// Reads one command line of at most `max` bytes (line ending included).
    pub async fn read_line(&mut self, max: usize) -> io::Result<Line> {
        loop {
            if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let line = self.input.split_to(end + 1);
                if self.discarding || line.len() > max {
                    self.discarding = false;
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Command(line.to_vec()));
            }
            if self.discarding || self.input.len() > max {
                self.discarding = true;
                self.input.clear();
            }
            if self.fill().await? == 0 {
                return Ok(Line::Closed);
            }
        }
    }

    /// Reads a message body after `354`, up to the `<CRLF>.<CRLF>` that ends it. At most `max` bytes are kept;
    /// each read may wait `idle` (and never past `session_end`), and once the body is known to be too large its
    /// rest must arrive within `discard`.
    pub async fn read_body(
        &mut self,
        max: usize,
        idle: Duration,
        discard: Duration,
        session_end: Instant,
    ) -> io::Result<Body> {
        let mut body = Unstuffer::new(max);
        let mut deadline: Option<Instant> = None;
        loop {
            let (used, done) = body.feed(&self.input);
            let _ = self.input.split_to(used);
            if done {
                return Ok(if body.overflow { Body::TooLarge } else { Body::Message(body.data) });
            }
            if body.overflow && deadline.is_none() {
                deadline = Some(Instant::now() + discard);
            }
            let wait = match deadline {
                Some(d) => d.min(Instant::now() + idle),
                None => Instant::now() + idle,
            }
            .min(session_end);
            match tokio::time::timeout_at(wait, self.fill()).await {
                Ok(Ok(0)) => return Ok(Body::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(Body::GaveUp),
                Err(_) => return Ok(Body::TimedOut),
            }
        }
    }
}

/// Where the unstuffer is within a line of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// At the start of a line.
    LineStart,
    /// After a `.` that starts a line.
    Dot,
    /// After `.` and CR at the start of a line.
    DotCr,
    /// Inside a line.
    Mid,
    /// After a CR inside a line.
    Cr,
}

/// Undoes SMTP's dot-stuffing (RFC 5321 §4.5.2) and finds the end of the body, keeping at most `max` bytes.
///
/// Only `<CRLF>.<CRLF>` ends the body (a bare LF never does, which closes the door to SMTP smuggling); the
/// first line starts right after the `354`, so an empty message (`.` alone) ends at once.
struct Unstuffer {
    at: At,
    data: Vec<u8>,
    max: usize,
    overflow: bool,
}

impl Unstuffer {
    fn new(max: usize) -> Unstuffer {
        Unstuffer { at: At::LineStart, data: Vec::new(), max, overflow: false }
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        if self.data.len() + bytes.len() > self.max {
            self.overflow = true;
            // What was kept is of no use any more: give the memory back now.
            self.data = Vec::new();
            return;
        }
        if self.data.capacity() - self.data.len() < bytes.len() {
            // Grow by doubling, but never past the limit.
            let want = (self.data.capacity() * 2).max(self.data.len() + bytes.len()).max(4096).min(self.max);
            self.data.reserve_exact(want - self.data.len());
        }
        self.data.extend_from_slice(bytes);
    }

    /// Takes bytes of input; returns how many were used and whether the end of the body was reached (the bytes
    /// after it belong to the next command).
    ///
    /// Inside a line, everything up to the next `<CRLF>.` is data and is copied in one go; only the bytes around
    /// a line starting with a dot, and the last two bytes of the input (which may begin such a sequence), go
    /// through the byte-by-byte states.
    fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            if self.at == At::LineStart && input[i] != b'.' {
                self.at = At::Mid;
            }
            if self.at == At::Mid && input.len() - i >= 3 {
                match memchr::memmem::find(&input[i..], b"\r\n.") {
                    Some(p) => {
                        self.emit(&input[i..i + p + 2]);
                        i += p + 3;
                        self.at = At::Dot;
                    }
                    None => {
                        // The last two bytes may be the start of a `<CRLF>.`: they go through the states.
                        let safe = input.len() - 2;
                        self.emit(&input[i..safe]);
                        i = safe;
                        self.at = At::Mid;
                        for &b in &input[i..] {
                            self.at = self.step(b);
                        }
                        i = input.len();
                    }
                }
                continue;
            }
            let b = input[i];
            i += 1;
            if (self.at, b) == (At::DotCr, b'\n') {
                return (i, true);
            }
            self.at = self.step(b);
        }
        (i, false)
    }

    /// Takes one byte in the current state (the end of the body, `.` CR LF at a line start, is checked by the
    /// caller) and returns the next state.
    fn step(&mut self, b: u8) -> At {
        match (self.at, b) {
            (At::LineStart, b'.') => At::Dot,
            (At::Dot, b'\r') => At::DotCr,
            (At::DotCr, b'\r') => {
                self.emit(b"\r\r");
                At::Cr
            }
            (At::DotCr, _) => {
                self.emit(&[b'\r', b]);
                At::Mid
            }
            (At::Cr, b'\n') => {
                self.emit(b"\n");
                At::LineStart
            }
            (_, b'\r') => {
                self.emit(b"\r");
                At::Cr
            }
            _ => {
                self.emit(&[b]);
                At::Mid
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unstuff(input: &[u8], max: usize) -> (Vec<u8>, bool, usize, bool) {
        let mut u = Unstuffer::new(max);
        let (used, done) = u.feed(input);
        (u.data, u.overflow, used, done)
    }

    #[test]
    fn dot_stuffing_is_undone_and_the_end_found() {
        let (data, overflow, used, done) = unstuff(b"Subject: x\r\n\r\n..hidden\r\n.\r\nQUIT\r\n", 1000);
        assert_eq!(data, b"Subject: x\r\n\r\n.hidden\r\n");
        assert!(!overflow && done);
        assert_eq!(used, 27, "QUIT is left for the command reader");
        // An empty message ends at once, without a body.
        assert_eq!(unstuff(b".\r\n", 10), (Vec::new(), false, 3, true));
        // A lone LF never ends the message.
        let (data, _, _, done) = unstuff(b"a\n.\nb\r\n", 100);
        assert_eq!((data.as_slice(), done), (&b"a\n.\nb\r\n"[..], false));
        // CRs that are data stay data.
        let (data, _, _, done) = unstuff(b"a\r\r\n.\rx\r\n.\r\n", 100);
        assert_eq!((data.as_slice(), done), (&b"a\r\r\n\rx\r\n"[..], true));
    }

    #[test]
    fn input_split_anywhere_gives_the_same_body() {
        let input = b"From: a\r\n\r\n.line\r\n..two\r\nend.\r\n.\r\n";
        let whole = unstuff(input, 1000).0;
        for split in 0..input.len() {
            let mut u = Unstuffer::new(1000);
            let (a, done_a) = u.feed(&input[..split]);
            assert!(!done_a && a == split, "split {split}");
            let (_, done) = u.feed(&input[split..]);
            assert!(done, "split {split}");
            assert_eq!(u.data, whole, "split {split}");
        }
    }

    /// RFC 5321's rule, written plainly: the body ends at the first CRLF "." CRLF (or at a "." CRLF that starts
    /// the data), and a line starting with a dot loses that dot.
    fn reference(input: &[u8]) -> Option<(Vec<u8>, usize)> {
        let mut out = Vec::new();
        let mut line_start = true;
        let mut i = 0;
        while i < input.len() {
            if line_start && input[i..].starts_with(b".\r\n") {
                return Some((out, i + 3));
            }
            if line_start && input[i] == b'.' {
                i += 1;
                line_start = false;
                continue;
            }
            line_start = input[i..].starts_with(b"\r\n");
            if line_start {
                out.extend_from_slice(b"\r\n");
                i += 2;
            } else {
                out.push(input[i]);
                i += 1;
            }
        }
        None
    }

    #[test]
    fn any_mix_of_dots_crs_and_lfs_unstuffs_like_the_plain_rule() {
        // A small deterministic generator: bodies made of the bytes that matter, fed in pieces of every size.
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let mut body: Vec<u8> = (0..len).map(|_| [b'.', b'\r', b'\n', b'a'][(next() % 4) as usize]).collect();
            body.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
            let want = reference(&body).expect("the body ends");
            let piece = 1 + (next() % 8) as usize;
            let mut u = Unstuffer::new(1000);
            let mut used = 0;
            let mut done = false;
            for chunk in body.chunks(piece) {
                let (n, end) = u.feed(chunk);
                used += n;
                if end {
                    done = true;
                    break;
                }
            }
            assert!(done, "{body:?}");
            assert_eq!((u.data.clone(), used), want, "{body:?} in pieces of {piece}");
        }
    }

    #[test]
    fn bodies_past_the_limit_are_dropped_but_read_to_the_end() {
        let (data, overflow, _, done) = unstuff(b"0123456789\r\n.\r\n", 11);
        assert!(overflow && done && data.is_empty());
        let (data, overflow, _, _) = unstuff(b"0123456789\r\n.\r\n", 12);
        assert!(!overflow);
        assert_eq!(data, b"0123456789\r\n");
    }

    #[tokio::test]
    async fn long_lines_are_dropped_whole() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut conn = Conn::new(server);
        let mut client = client;
        let long = vec![b'x'; 10_000];
        client.write_all(&long).await.unwrap();
        client.write_all(b"\r\nNOOP\r\n").await.unwrap();
        assert_eq!(conn.read_line(4096).await.unwrap(), Line::TooLong);
        assert_eq!(conn.read_line(4096).await.unwrap(), Line::Command(b"NOOP\r\n".to_vec()));
        drop(client);
        assert_eq!(conn.read_line(4096).await.unwrap(), Line::Closed);
    }
}
