//! Draws an optional cover sheet (sender, recipient, subject, page count, a message) as the fax's first page.
//!
//! Kazoo 4.3 sends documents as they are; a cover sheet is what fax users and email-to-fax gateways commonly add.
//! The sheet is laid out as a generated PDF with standard fonts and rendered like any other PDF page, so it looks
//! the same on the line as the documents behind it.

use super::text::{A4, Font, Mark, paginate, write_pdf};

/// What the cover sheet says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cover {
    /// Who sends the fax (a name, a number, or both).
    pub sender: String,
    /// Who the fax is for.
    pub recipient: String,
    /// One line saying what the fax is about.
    pub subject: String,
    /// A free-text message; it is cut off when it does not fit on the page.
    pub body: String,
}

const MARGIN: f32 = 56.0;
const LABEL_WIDTH: f32 = 90.0;
const VALUE_SIZE: f32 = 12.0;
const BODY_SIZE: f32 = 11.0;
/// Courier's advance, as a share of the font size.
const COURIER_ADVANCE: f32 = 0.6;

/// The cover sheet as a one-page PDF; `total_pages` counts the cover sheet itself.
pub fn to_pdf(cover: &Cover, total_pages: usize) -> Vec<u8> {
    let mut marks = Vec::new();
    let width = A4.0 - 2.0 * MARGIN;
    let mut y = A4.1 - MARGIN - 40.0;
    marks.push(Mark::Text { font: Font::HelveticaBold, size: 40.0, x: MARGIN, y, text: "FAX".to_owned() });
    y -= 18.0;
    marks.push(Mark::Rule { x: MARGIN, y, width, thickness: 2.0 });
    y -= 30.0;
    let value_columns = ((width - LABEL_WIDTH) / (VALUE_SIZE * COURIER_ADVANCE)) as usize;
    let pages = total_pages.to_string();
    for (label, value) in [
        ("To:", cover.recipient.as_str()),
        ("From:", cover.sender.as_str()),
        ("Subject:", cover.subject.as_str()),
        ("Pages:", &pages),
    ] {
        marks.push(Mark::Text { font: Font::HelveticaBold, size: VALUE_SIZE, x: MARGIN, y, text: label.to_owned() });
        // A long value wraps onto at most three lines.
        let lines = paginate(value, value_columns, 3).into_iter().next().unwrap_or_default();
        let count = lines.len().max(1);
        for (i, line) in lines.into_iter().enumerate() {
            marks.push(Mark::Text {
                font: Font::Courier,
                size: VALUE_SIZE,
                x: MARGIN + LABEL_WIDTH,
                y: y - i as f32 * VALUE_SIZE * 1.25,
                text: line,
            });
        }
        y -= count as f32 * VALUE_SIZE * 1.25 + 10.0;
    }
    y -= 6.0;
    marks.push(Mark::Rule { x: MARGIN, y, width, thickness: 1.0 });
    y -= 28.0;
    let leading = BODY_SIZE * 1.3;
    let body_columns = (width / (BODY_SIZE * COURIER_ADVANCE)) as usize;
    let body_lines = ((y - MARGIN) / leading).max(0.0) as usize + 1;
    let body = paginate(&cover.body, body_columns, body_lines).into_iter().next().unwrap_or_default();
    for (i, line) in body.into_iter().enumerate() {
        if !line.is_empty() {
            marks.push(Mark::Text {
                font: Font::Courier,
                size: BODY_SIZE,
                x: MARGIN,
                y: y - i as f32 * leading,
                text: line,
            });
        }
    }
    write_pdf(&[marks])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sheet_names_everyone_and_counts_pages() {
        let cover = Cover {
            sender: "Acme Ltd +1 555 0100".into(),
            recipient: "Dr. Mueller".into(),
            subject: "Invoice 42".into(),
            body: "Please find the invoice attached.\nRegards".into(),
        };
        let pdf = to_pdf(&cover, 3);
        let text = String::from_utf8_lossy(&pdf);
        for needle in ["(FAX)", "(Dr. Mueller)", "(Acme Ltd +1 555 0100)", "(Invoice 42)", "(3)", "(Regards)"] {
            assert!(text.contains(needle), "{needle} missing");
        }
    }
}
