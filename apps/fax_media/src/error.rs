//! Defines `MediaError`, the one error type of document conversion, each variant a reason a user can read.
//!
//! Kazoo's `kz_fax_converter` reports a failed conversion as the exit status of a shell command; here every way a
//! document can fail to become a fax (or a fax a PDF) has its own variant, so the job failure, the SMTP reply or the
//! notification can say why.

use thiserror::Error;

/// Why a document could not be read, converted or written.
#[derive(Debug, Error)]
pub enum MediaError {
    /// The input has no bytes at all.
    #[error("the document is empty (0 bytes)")]
    Empty,
    /// The input is a valid document without a single page.
    #[error("the document has no pages")]
    ZeroPages,
    /// The input ends before the data its own structure announces.
    #[error("the document is truncated: it ends before the data it describes")]
    Truncated,
    /// The input is protected by a password or encrypted.
    #[error("the document is password-protected or encrypted")]
    Encrypted,
    /// The input uses a format or a feature of a format that cannot be faxed.
    #[error("unsupported document: {what}")]
    Unsupported { what: String },
    /// The input is damaged in a way that stops it being read.
    #[error("the document is damaged: {reason}")]
    Corrupt { reason: String },
    /// The document has more pages than a fax may carry.
    #[error("the document has too many pages (the limit is {max})")]
    TooManyPages { max: usize },
    /// A page would need more pixels than the converter allows.
    #[error("a page is too large: {pixels} pixels (the limit is {max})")]
    TooLarge { pixels: u64, max: u64 },
    /// The conversion ran past its time limit and was stopped.
    #[error("the conversion took too long and was stopped")]
    TimedOut,
    /// A converter program this document needs is not installed.
    #[error("the converter program {tool} is not installed")]
    MissingTool { tool: String },
    /// A converter program ran but failed.
    #[error("the converter program {tool} failed: {reason}")]
    ToolFailed { tool: String, reason: String },
    /// Reading or writing a temporary file failed.
    #[error("file input/output failed: {0}")]
    Io(#[from] std::io::Error),
}

impl MediaError {
    /// A `Corrupt` error with the given reason.
    pub fn corrupt(reason: impl Into<String>) -> MediaError {
        MediaError::Corrupt { reason: reason.into() }
    }

    /// An `Unsupported` error naming what is not supported.
    pub fn unsupported(what: impl Into<String>) -> MediaError {
        MediaError::Unsupported { what: what.into() }
    }
}
