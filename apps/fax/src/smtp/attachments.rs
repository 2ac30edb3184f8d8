//! Picks the documents to fax out of an email: every allowed attachment, in the order they appear.
//!
//! Ports `fax_smtp`'s part walk and content-type check (spec §2.5): parts are walked depth first through nested
//! multiparts (and attached messages), each judged by its content type against the longest-match rule of
//! `allowed_content_types` / `denied_content_types`, and images smaller than `image_min_size` (inline logos) are
//! left out. Where Kazoo faxed only the last accepted part, every accepted part is kept, in order.
//!
//! The content type of a part is the declared one, normalised (`image/jpg` is `image/jpeg`); a generic one
//! (`application/octet-stream` and friends) is replaced by what the file signature proves ([`sniff`]), else by
//! the filename's extension, else by the Office/OpenDocument type a ZIP container reveals.
//!
//! **Effective lists.** Kazoo's default `denied_content_types` is `[{"prefix": "image/"}]`, which beats its own
//! `{"prefix": "image"}` allow entry and so refuses every PNG and JPEG: users scanning to JPEG or sending a
//! phone photo trip over it. The configuration keeps Kazoo's defaults (the schema pins them), and the check
//! reads them like this instead:
//!
//! - allowed = the configured list **plus** the types the converter handles: PDF, TIFF, PNG, JPEG, GIF, BMP,
//!   WebP, `text/plain` attachments that have a filename, and the Office and OpenDocument formats;
//! - denied = the configured list **minus** Kazoo's default entry `{"prefix": "image/"}`; whatever an operator
//!   adds beyond it still applies, and an exact entry (`"image/png"` or `{"type": "image/png"}`) beats the
//!   built-in allow entry of the same type, since an allow match must be strictly longer than the deny match.
//!
//! **Body text.** The email's own message (the first `text/plain` part that is not an attachment, else the first
//! such `text/html` part with its tags stripped), trimmed and cut to [`MAX_BODY_TEXT`] bytes, is kept for the
//! faxbox's optional cover sheet. Parts inside an attached message are not the email's message.
//!
//! [`sniff`]: super::sniff

use bytes::Bytes;
use kz_config::FaxConfig;
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use serde_json::Value;

use super::sniff;

/// How deep attached messages and multiparts may nest before the rest is ignored.
const MAX_DEPTH: usize = 32;

/// The most bytes of the email's body text kept for a cover sheet (a sheet holds far less).
pub const MAX_BODY_TEXT: usize = 4096;

/// Declared types that say nothing about the content.
const GENERIC_TYPES: &[&str] = &[
    "application/octet-stream",
    "application/x-download",
    "application/force-download",
    "application/download",
    "application/binary",
    "application/unknown",
    "application/x-unknown",
    "binary/octet-stream",
];

/// The types the fax converter handles, always allowed (see the module documentation).
const BUILT_IN_TYPES: &[&str] = &[
    "application/pdf",
    "image/tiff",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/webp",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
];

/// Type prefixes the fax converter handles, always allowed.
const BUILT_IN_PREFIXES: &[&str] =
    &["application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument."];

/// Kazoo's default deny entry, which the check leaves out (see the module documentation).
fn kazoo_default_denial() -> Value {
    serde_json::json!({"prefix": "image/"})
}

/// Content types, file extensions and the names the converter expects for them.
const EXTENSIONS: &[(&str, &str)] = &[
    ("application/pdf", "pdf"),
    ("image/tiff", "tiff"),
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("image/gif", "gif"),
    ("image/bmp", "bmp"),
    ("image/webp", "webp"),
    ("text/plain", "txt"),
    ("text/html", "html"),
    ("application/rtf", "rtf"),
    ("application/msword", "doc"),
    ("application/vnd.ms-excel", "xls"),
    ("application/vnd.ms-powerpoint", "ppt"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
    ("application/vnd.oasis.opendocument.text", "odt"),
    ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
    ("application/vnd.oasis.opendocument.presentation", "odp"),
    ("application/vnd.oasis.opendocument.graphics", "odg"),
];

/// Other spellings of the types above, from file extensions and from mail clients.
const ALIASES: &[(&str, &str)] = &[
    ("tif", "image/tiff"),
    ("jpeg", "image/jpeg"),
    ("jpe", "image/jpeg"),
    ("image/jpg", "image/jpeg"),
    ("image/pjpeg", "image/jpeg"),
    ("image/x-png", "image/png"),
    ("image/tif", "image/tiff"),
    ("image/x-tiff", "image/tiff"),
    ("image/x-tif", "image/tiff"),
    ("image/x-ms-bmp", "image/bmp"),
    ("image/x-bmp", "image/bmp"),
    ("application/x-pdf", "application/pdf"),
    ("application/acrobat", "application/pdf"),
    ("text/pdf", "application/pdf"),
    ("text/rtf", "application/rtf"),
];

/// One rule of a configured list.
#[derive(Debug, Clone, PartialEq)]
enum TypeRule {
    /// A plain string or `{"type": X}`: equality.
    Exact(String),
    /// `{"prefix": P}`: the type starts with `P`.
    Prefix(String),
}

impl TypeRule {
    fn parse(v: &Value) -> Option<TypeRule> {
        match v {
            Value::String(s) => Some(TypeRule::Exact(s.trim().to_ascii_lowercase())),
            Value::Object(o) => {
                if let Some(t) = o.get("type").and_then(Value::as_str) {
                    Some(TypeRule::Exact(t.trim().to_ascii_lowercase()))
                } else {
                    o.get("prefix").and_then(Value::as_str).map(|p| TypeRule::Prefix(p.trim().to_ascii_lowercase()))
                }
            }
            _ => None,
        }
    }

    /// The length of the match (Kazoo's measure), 0 when it does not match.
    fn matched(&self, content_type: &str) -> usize {
        match self {
            TypeRule::Exact(t) if t == content_type => t.len(),
            TypeRule::Prefix(p) if content_type.starts_with(p.as_str()) => p.len(),
            _ => 0,
        }
    }
}

/// What may be faxed, from the fax configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    allowed: Vec<TypeRule>,
    denied: Vec<TypeRule>,
    min_width: u32,
    min_height: u32,
}

impl Rules {
    pub fn from_config(fax: &FaxConfig) -> Rules {
        let kazoo_default = kazoo_default_denial();
        let (min_width, min_height) = parse_min_size(&fax.image_min_size);
        Rules {
            allowed: fax.allowed_content_types.iter().filter_map(TypeRule::parse).collect(),
            denied: fax
                .denied_content_types
                .iter()
                .filter(|v| **v != kazoo_default)
                .filter_map(TypeRule::parse)
                .collect(),
            min_width,
            min_height,
        }
    }

    /// Whether a part of this (normalised) type may be faxed: its longest allow match must be strictly longer
    /// than its longest deny match.
    pub fn allows(&self, content_type: &str, has_filename: bool) -> bool {
        let built_in = if BUILT_IN_TYPES.contains(&content_type) || (content_type == "text/plain" && has_filename) {
            content_type.len()
        } else {
            BUILT_IN_PREFIXES.iter().filter(|p| content_type.starts_with(*p)).map(|p| p.len()).max().unwrap_or(0)
        };
        let configured = self.allowed.iter().map(|r| r.matched(content_type)).max().unwrap_or(0);
        let denied = self.denied.iter().map(|r| r.matched(content_type)).max().unwrap_or(0);
        built_in.max(configured) > denied
    }
}

/// `image_min_size`: `WxH`, or one number for both; Kazoo's default `700x10` when it does not parse.
fn parse_min_size(text: &str) -> (u32, u32) {
    let text = text.trim().to_ascii_lowercase();
    let parsed = match text.split_once('x') {
        Some((w, h)) => w.trim().parse().ok().zip(h.trim().parse().ok()),
        None => text.parse().ok().map(|n| (n, n)),
    };
    parsed.unwrap_or((700, 10))
}

/// A document picked from the email.
#[derive(Debug, Clone, PartialEq)]
pub struct Picked {
    /// The content type it will be converted from.
    pub content_type: String,
    /// The file extension of that type (`pdf`, `tiff`, ...).
    pub extension: String,
    /// The sender's filename, if the part had one.
    pub filename: Option<String>,
    pub data: Bytes,
}

/// Everything the email brought.
#[derive(Debug, Clone, PartialEq)]
pub struct Picks {
    /// The documents to fax, in the order they appear in the email.
    pub documents: Vec<Picked>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// The `Date` header, in Unix seconds.
    pub date: Option<i64>,
    /// The email's message, for a cover sheet (see the module documentation); `None` when it has none.
    pub body_text: Option<String>,
    /// Parts left out, with why, for the log.
    pub skipped: Vec<String>,
}

/// Why nothing can be faxed from an email.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PickError {
    /// The message cannot be parsed at all.
    #[error("message decode failed")]
    Decode,
    /// Nothing in it may be faxed; `skipped` says what was left out and why.
    #[error("no valid attachment")]
    NoValidAttachment { skipped: Vec<String>, content_type: Option<String>, filename: Option<String> },
}

/// Reads the email `raw` and picks what to fax.
pub fn pick(raw: &[u8], rules: &Rules) -> Result<Picks, PickError> {
    let message = MessageParser::default().parse(raw).ok_or(PickError::Decode)?;
    if message.parts.is_empty() {
        return Err(PickError::Decode);
    }
    let mut walk = Walk {
        rules,
        documents: Vec::new(),
        skipped: Vec::new(),
        first_seen: None,
        attached_depth: 0,
        plain_body: None,
        html_body: None,
    };
    walk.message(&message, 0);
    if walk.documents.is_empty() {
        let (content_type, filename) = walk.first_seen.unwrap_or_default();
        return Err(PickError::NoValidAttachment {
            skipped: walk.skipped,
            content_type: Some(content_type).filter(|c| !c.is_empty()),
            filename,
        });
    }
    Ok(Picks {
        documents: walk.documents,
        subject: message.subject().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        message_id: message.message_id().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        date: message.date().map(|d| d.to_timestamp()),
        body_text: walk.plain_body.or(walk.html_body),
        skipped: walk.skipped,
    })
}

struct Walk<'r> {
    rules: &'r Rules,
    documents: Vec<Picked>,
    skipped: Vec<String>,
    /// The type and filename of the first part that looked like an attachment, for the error log.
    first_seen: Option<(String, Option<String>)>,
    /// How many attached messages the walk is inside.
    attached_depth: usize,
    /// The first `text/plain` message text, cleaned.
    plain_body: Option<String>,
    /// The first `text/html` message text, tags stripped and cleaned.
    html_body: Option<String>,
}

impl Walk<'_> {
    fn message(&mut self, message: &Message<'_>, depth: usize) {
        if !message.parts.is_empty() {
            self.part(message, 0, depth);
        }
    }

    fn part(&mut self, message: &Message<'_>, id: u32, depth: usize) {
        if depth > MAX_DEPTH {
            self.skipped.push("parts nested too deep".into());
            return;
        }
        let Some(part) = message.parts.get(id as usize) else { return };
        match &part.body {
            PartType::Multipart(children) => {
                for child in children {
                    self.part(message, *child, depth + 1);
                }
            }
            PartType::Message(inner) => {
                self.attached_depth += 1;
                self.message(inner, depth + 1);
                self.attached_depth -= 1;
            }
            PartType::Text(_) | PartType::Html(_) | PartType::Binary(_) | PartType::InlineBinary(_) => {
                if !self.document(part) {
                    self.body(part);
                }
            }
        }
    }

    /// Keeps a part that is not a document as the email's body text, when it is the first of its kind.
    fn body(&mut self, part: &MessagePart<'_>) {
        if self.attached_depth > 0 || part.attachment_name().is_some() || is_attachment(part) {
            return;
        }
        match &part.body {
            PartType::Text(text) if self.plain_body.is_none() && declared_type(part) == "text/plain" => {
                self.plain_body = clean_body(text);
            }
            PartType::Html(html) if self.html_body.is_none() => {
                self.html_body = clean_body(&mail_parser::decoders::html::html_to_text(html));
            }
            _ => {}
        }
    }

    /// Judges one part as a document to fax; true when it was picked.
    fn document(&mut self, part: &MessagePart<'_>) -> bool {
        let declared = declared_type(part);
        let filename = part.attachment_name().and_then(clean_filename);
        let looks_like_attachment = filename.is_some() || is_attachment(part) || !declared.starts_with("text/");
        let label = filename.clone().unwrap_or_else(|| declared.clone());
        if looks_like_attachment && self.first_seen.is_none() {
            self.first_seen = Some((declared.clone(), filename.clone()));
        }
        if part.is_encoding_problem {
            self.skipped.push(format!("{label}: cannot be decoded"));
            return false;
        }
        let data = part.contents();
        let content_type = effective_type(&declared, filename.as_deref(), data);
        if !self.rules.allows(&content_type, filename.is_some()) {
            if looks_like_attachment {
                self.skipped.push(format!("{label}: content type {content_type} is not allowed"));
            }
            return false;
        }
        if data.is_empty() {
            self.skipped.push(format!("{label}: empty"));
            return false;
        }
        if content_type.starts_with("image/") && content_type != "image/tiff" {
            match sniff::image_size(data) {
                None => {
                    self.skipped.push(format!("{label}: unreadable {content_type} image"));
                    return false;
                }
                Some((w, h)) if w < self.rules.min_width || h < self.rules.min_height => {
                    self.skipped.push(format!(
                        "{label}: image {w}x{h} is smaller than {}x{}",
                        self.rules.min_width, self.rules.min_height
                    ));
                    return false;
                }
                Some(_) => {}
            }
        }
        self.documents.push(Picked {
            extension: extension_of(&content_type, filename.as_deref()),
            content_type,
            filename,
            data: Bytes::copy_from_slice(data),
        });
        true
    }
}

/// Whether the part is marked `Content-Disposition: attachment`.
fn is_attachment(part: &MessagePart<'_>) -> bool {
    part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
}

/// Body text trimmed and cut to at most [`MAX_BODY_TEXT`] bytes on a character boundary; `None` when empty.
fn clean_body(text: &str) -> Option<String> {
    let text = text.trim();
    let cut = text.floor_char_boundary(MAX_BODY_TEXT.min(text.len()));
    let text = text[..cut].trim_end();
    (!text.is_empty()).then(|| text.to_string())
}

/// The declared `type/subtype`, lowercased; `text/plain` when absent (RFC 2045).
fn declared_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype().trim(), sub.trim()).to_ascii_lowercase(),
            None => ct.ctype().trim().to_ascii_lowercase(),
        },
        None => "text/plain".into(),
    }
}

/// The last path component of a filename, without control characters; `None` when nothing is left.
fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

/// The canonical spelling of a type (or of an extension's type).
fn normalise(content_type: &str) -> String {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == content_type)
        .map_or_else(|| content_type.to_string(), |(_, t)| t.to_string())
}

/// The type a file extension names, if it is one the converter knows.
fn type_of_extension(filename: &str) -> Option<String> {
    let (_, ext) = filename.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    if let Some((_, t)) = ALIASES.iter().find(|(alias, _)| *alias == ext) {
        return Some(t.to_string());
    }
    EXTENSIONS.iter().find(|(_, e)| *e == ext).map(|(t, _)| t.to_string())
}

/// The type a part is judged and converted as (see the module documentation).
fn effective_type(declared: &str, filename: Option<&str>, data: &[u8]) -> String {
    let declared = normalise(declared);
    let proven = sniff::sniff(data);
    if GENERIC_TYPES.contains(&declared.as_str()) {
        if let Some(t) = proven {
            return t.to_string();
        }
        if let Some(t) = filename.and_then(type_of_extension) {
            return t;
        }
        if let Some(t) = sniff::sniff_zip(data) {
            return t.into_owned();
        }
        return declared;
    }
    // A signature that proves another faxable format wins over a wrong label (`image/jpeg` holding a PNG,
    // `text/plain; name=scan.pdf` holding a PDF).
    match proven {
        Some(t) if t != declared => t.to_string(),
        _ => declared,
    }
}

/// The file extension for an attachment of this type: the known one, else the sender's (if short and plain),
/// else `bin`.
fn extension_of(content_type: &str, filename: Option<&str>) -> String {
    if let Some((_, ext)) = EXTENSIONS.iter().find(|(t, _)| *t == content_type) {
        return ext.to_string();
    }
    filename
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| !ext.is_empty() && ext.len() <= 5 && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::sniff::tests::{jpeg, png};
    use serde_json::json;

    fn rules() -> Rules {
        Rules::from_config(&FaxConfig::default())
    }

    #[test]
    fn default_lists_allow_what_the_converter_handles() {
        let r = rules();
        for ok in [
            "application/pdf",
            "image/tiff",
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/bmp",
            "image/webp",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.oasis.opendocument.text",
        ] {
            assert!(r.allows(ok, false), "{ok}");
        }
        assert!(r.allows("text/plain", true), "a named text attachment");
        for refused in ["text/plain", "text/html", "application/zip", "application/octet-stream"] {
            assert!(!r.allows(refused, false), "{refused}");
        }
        // Kazoo's `{"prefix": "image"}` allows any image type; those without a readable size are skipped later.
        assert!(r.allows("image/svg+xml", false));
    }

    #[test]
    fn operator_entries_beyond_kazoos_default_still_apply() {
        let fax = FaxConfig {
            allowed_content_types: vec![json!("text/html"), json!({"prefix": "image"})],
            denied_content_types: vec![json!({"prefix": "image/"}), json!("image/png"), json!({"type": "image/gif"})],
            ..FaxConfig::default()
        };
        let r = Rules::from_config(&fax);
        assert!(r.allows("text/html", false), "added by the operator");
        assert!(!r.allows("image/png", false), "an exact deny entry beats the built-in allow entry");
        assert!(!r.allows("image/gif", false));
        assert!(r.allows("image/jpeg", false), "Kazoo's default image/ denial is not applied");
        assert!(r.allows("image/svg+xml", false), "allowed by the operator's image prefix");
        let deny_pdf =
            FaxConfig { denied_content_types: vec![json!({"prefix": "application/"})], ..FaxConfig::default() };
        assert!(Rules::from_config(&deny_pdf).allows("application/pdf", false), "longer allow match wins");
        let deny_pdf = FaxConfig { denied_content_types: vec![json!("application/pdf")], ..FaxConfig::default() };
        assert!(!Rules::from_config(&deny_pdf).allows("application/pdf", false), "equal length: denied");
    }

    #[test]
    fn minimum_sizes_parse_like_kazoo() {
        assert_eq!(parse_min_size("700x10"), (700, 10));
        assert_eq!(parse_min_size("300"), (300, 300));
        assert_eq!(parse_min_size(" 20 X 30 "), (20, 30));
        assert_eq!(parse_min_size("junk"), (700, 10));
    }

    #[test]
    fn types_come_from_labels_signatures_and_names() {
        assert_eq!(effective_type("application/octet-stream", Some("x.pdf"), b"junk"), "application/pdf");
        assert_eq!(effective_type("application/octet-stream", None, b"%PDF-1.4"), "application/pdf");
        assert_eq!(
            effective_type("application/octet-stream", Some("x.docx"), b"PK\x03\x04"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert_eq!(effective_type("application/octet-stream", Some("x.TIF"), b"?"), "image/tiff");
        assert_eq!(effective_type("application/octet-stream", Some("x.zip"), b"PK"), "application/octet-stream");
        assert_eq!(effective_type("image/jpg", None, b"?"), "image/jpeg");
        assert_eq!(effective_type("image/jpeg", None, &png(1, 1)), "image/png");
        assert_eq!(effective_type("text/plain", Some("scan.pdf"), b"%PDF-1.3"), "application/pdf");
        assert_eq!(extension_of("application/pdf", Some("a.PDF")), "pdf");
        assert_eq!(extension_of("text/x-weird", Some("a.Note")), "note");
        assert_eq!(extension_of("text/x-weird", Some("a.b c")), "bin");
        assert_eq!(clean_filename("C:\\Users\\me\\scan.pdf").as_deref(), Some("scan.pdf"));
        assert_eq!(clean_filename("  "), None);
    }

    fn b64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                out.push(if i <= chunk.len() { A[(n >> (18 - 6 * i) & 0x3f) as usize] as char } else { '=' });
            }
        }
        out
    }

    #[test]
    fn every_allowed_part_is_picked_in_order_and_logos_are_skipped() {
        let pdf = b"%PDF-1.4\n%%EOF\n";
        let photo = jpeg(1200, 1600);
        let logo = png(120, 40);
        let raw = format!(
            "From: a@b.c\r\nSubject: Invoice\r\nMessage-ID: <m1@b.c>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
             --outer\r\nContent-Type: multipart/related; boundary=\"inner\"\r\n\r\n\
             --inner\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n\
             --inner\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n\
             --inner--\r\n\
             --outer\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
             --outer\r\nContent-Type: image/jpeg; name=photo.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
             --outer--\r\n",
            b64(&logo),
            b64(pdf),
            b64(&photo)
        );
        let picks = pick(raw.as_bytes(), &rules()).expect("picks");
        assert_eq!(picks.subject.as_deref(), Some("Invoice"));
        assert_eq!(picks.message_id.as_deref(), Some("m1@b.c"));
        let got: Vec<(&str, &str, Option<&str>)> = picks
            .documents
            .iter()
            .map(|d| (d.content_type.as_str(), d.extension.as_str(), d.filename.as_deref()))
            .collect();
        assert_eq!(got, vec![("application/pdf", "pdf", None), ("image/jpeg", "jpg", Some("photo.jpg"))]);
        assert_eq!(picks.documents[0].data.as_ref(), pdf);
        assert_eq!(picks.documents[1].data.as_ref(), photo.as_slice());
        assert_eq!(picks.skipped, vec!["image/png: image 120x40 is smaller than 700x10".to_string()]);
    }

    #[test]
    fn the_body_text_is_the_first_plain_part_that_is_not_an_attachment() {
        let pdf = b64(b"%PDF-1.4\n%%EOF\n");
        let raw = format!(
            "From: a@b.c\r\nSubject: Quarterly report\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
             --outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
             --alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n  Please find the report.\r\nThanks \u{e9}\r\n\r\n\
             --alt\r\nContent-Type: text/html\r\n\r\n<p>Please find the <b>report</b>.</p>\r\n\
             --alt--\r\n\
             --outer\r\nContent-Type: text/plain; name=notes.txt\r\n\r\nattached notes\r\n\
             --outer\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n\
             --outer--\r\n"
        );
        let picks = pick(raw.as_bytes(), &rules()).expect("picks");
        assert_eq!(picks.body_text.as_deref(), Some("Please find the report.\r\nThanks \u{e9}"));
        assert_eq!(picks.documents.len(), 2, "the named text part is a document, not the body");

        // Only an HTML message: its text, without the tags.
        let html = format!(
            "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/html\r\n\r\n<html><body><p>Hello <b>there</b></p></body></html>\r\n\
             --b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n\
             --b--\r\n"
        );
        let picks = pick(html.as_bytes(), &rules()).expect("picks");
        let body = picks.body_text.expect("html body");
        assert!(body.contains("Hello") && body.contains("there") && !body.contains('<'), "{body:?}");

        // No message at all, an attached one, or only blank text: none.
        let bare = format!(
            "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\n  \r\n\r\n\
             --b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y.z\r\nSubject: fwd\r\n\r\nforwarded text\r\n\
             --b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nan attachment\r\n\
             --b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n\
             --b--\r\n"
        );
        let picks = pick(bare.as_bytes(), &rules()).expect("picks");
        assert_eq!(picks.body_text, None);
    }

    #[test]
    fn long_body_text_is_cut_on_a_character_boundary() {
        let long = "\u{e9}".repeat(MAX_BODY_TEXT);
        let cut = clean_body(&format!("  {long}  ")).expect("text");
        assert_eq!(cut.len(), MAX_BODY_TEXT, "2-byte characters fill the limit exactly");
        let odd = format!("a{long}");
        let cut = clean_body(&odd).expect("text");
        assert_eq!(cut.len(), MAX_BODY_TEXT - 1, "never half a character");
        assert!(cut.ends_with('\u{e9}'));
        assert_eq!(clean_body(" \r\n\t"), None);
        assert_eq!(clean_body(" short \r\n").as_deref(), Some("short"));
    }

    #[test]
    fn a_text_only_email_has_nothing_to_fax() {
        let raw = b"From: a@b.c\r\nSubject: hello\r\n\r\nJust text.\r\n";
        assert_eq!(
            pick(raw, &rules()),
            Err(PickError::NoValidAttachment { skipped: Vec::new(), content_type: None, filename: None })
        );
        let zip = b"From: a@b.c\r\nContent-Type: application/zip; name=a.zip\r\n\r\nPK\x03\x04\r\n";
        match pick(zip, &rules()) {
            Err(PickError::NoValidAttachment { skipped, content_type, filename }) => {
                assert_eq!(skipped, vec!["a.zip: content type application/zip is not allowed".to_string()]);
                assert_eq!((content_type.as_deref(), filename.as_deref()), (Some("application/zip"), Some("a.zip")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pick(b"", &rules()), Err(PickError::Decode));
        let svg = b"From: a@b.c\r\nContent-Type: image/svg+xml; name=a.svg\r\n\r\n<svg/>\r\n";
        match pick(svg, &rules()) {
            Err(PickError::NoValidAttachment { skipped, .. }) => {
                assert_eq!(skipped, vec!["a.svg: unreadable image/svg+xml image".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }
}
