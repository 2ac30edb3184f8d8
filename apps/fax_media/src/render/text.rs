//! Lays plain text out as a PDF in the standard Courier font, to be rendered like any other PDF.
//!
//! Kazoo has no text route of its own (a text body reaches `kz_fax_converter` only as an attachment it cannot
//! convert); here a plain-text document is typeset the way a typewriter fax would be: Courier 10 pt, 80 columns by
//! 60 lines on an A4 page, long lines wrapped at a space, tabs every 8 columns, a form feed starting a new page.
//! The PDF names the standard-14 font without embedding it; the renderer supplies its outlines.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use crate::error::MediaError;

/// A4 in points.
pub const A4: (f32, f32) = (595.28, 841.89);
/// Columns per line.
pub const COLUMNS: usize = 80;
/// Lines per page.
pub const LINES: usize = 60;
const FONT_SIZE: f32 = 10.0;
const LEADING: f32 = 12.0;
/// Courier advances 600/1000 em per character.
const CHAR_WIDTH: f32 = FONT_SIZE * 0.6;

/// A standard-14 font a generated page may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Courier,
    CourierBold,
    Helvetica,
    HelveticaBold,
}

impl Font {
    const ALL: [Font; 4] = [Font::Courier, Font::CourierBold, Font::Helvetica, Font::HelveticaBold];

    fn base_name(self) -> &'static [u8] {
        match self {
            Font::Courier => b"Courier",
            Font::CourierBold => b"Courier-Bold",
            Font::Helvetica => b"Helvetica",
            Font::HelveticaBold => b"Helvetica-Bold",
        }
    }

    fn resource(self) -> &'static [u8] {
        match self {
            Font::Courier => b"F1",
            Font::CourierBold => b"F2",
            Font::Helvetica => b"F3",
            Font::HelveticaBold => b"F4",
        }
    }
}

/// One drawing instruction on a generated page, in points from the bottom-left corner.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// A line of text starting at (x, y) on its baseline.
    Text { font: Font, size: f32, x: f32, y: f32, text: String },
    /// A horizontal rule.
    Rule { x: f32, y: f32, width: f32, thickness: f32 },
}

/// Writes a PDF of A4 pages, each a list of marks. Text is encoded in WinAnsi; characters outside it print as `?`.
pub fn write_pdf(pages: &[Vec<Mark>]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let first_font = 3;
    let first_page = first_font + Font::ALL.len() as i32;
    let page_ids: Vec<Ref> = (0..pages.len() as i32).map(|i| Ref::new(first_page + 2 * i)).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(pages.len() as i32);
    for (i, font) in Font::ALL.iter().enumerate() {
        pdf.type1_font(Ref::new(first_font + i as i32))
            .base_font(Name(font.base_name()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (marks, &id) in pages.iter().zip(&page_ids) {
        let contents = Ref::new(id.get() + 1);
        let mut page = pdf.page(id);
        page.parent(tree).media_box(Rect::new(0.0, 0.0, A4.0, A4.1)).contents(contents);
        let mut resources = page.resources();
        let mut fonts = resources.fonts();
        for (i, font) in Font::ALL.iter().enumerate() {
            fonts.pair(Name(font.resource()), Ref::new(first_font + i as i32));
        }
        fonts.finish();
        resources.finish();
        page.finish();
        let mut content = Content::new();
        for mark in marks {
            match mark {
                Mark::Text { font, size, x, y, text } => {
                    content.begin_text();
                    content.set_font(Name(font.resource()), *size);
                    content.next_line(*x, *y);
                    content.show(Str(&win_ansi(text)));
                    content.end_text();
                }
                Mark::Rule { x, y, width, thickness } => {
                    content.rect(*x, *y, *width, *thickness);
                    content.fill_nonzero();
                }
            }
        }
        pdf.stream(contents, &content.finish());
    }
    pdf.finish()
}

/// Encodes text in Windows-1252 (PDF's WinAnsiEncoding); unmappable characters become `?`.
pub fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            _ => b'?',
        })
        .collect()
}

/// Decodes a text file: UTF-16 with a byte-order mark, UTF-8 (a byte-order mark is dropped), else Latin-1, one
/// byte a character.
pub fn decode(bytes: &[u8]) -> String {
    let utf16 = |rest: &[u8], big: bool| {
        let units = rest
            .chunks_exact(2)
            .map(|p| if big { u16::from_be_bytes([p[0], p[1]]) } else { u16::from_le_bytes([p[0], p[1]]) });
        char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect::<String>()
    };
    if let Some(rest) = bytes.strip_prefix(b"\xff\xfe") {
        return utf16(rest, false);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xfe\xff") {
        return utf16(rest, true);
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Splits text into pages of at most `LINES` lines of at most `width` columns.
pub fn paginate(text: &str, width: usize, lines_per_page: usize) -> Vec<Vec<String>> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut pages: Vec<Vec<String>> = vec![Vec::new()];
    for (n, chunk) in text.split('\x0c').enumerate() {
        if n > 0 {
            pages.push(Vec::new());
        }
        let mut lines: Vec<&str> = chunk.split('\n').collect();
        // A trailing newline ends the last line; it does not start another one.
        if lines.last() == Some(&"") {
            lines.pop();
        }
        for line in lines {
            for wrapped in wrap(&expand_tabs(line), width) {
                if pages.last().is_some_and(|p| p.len() >= lines_per_page) {
                    pages.push(Vec::new());
                }
                if let Some(page) = pages.last_mut() {
                    page.push(wrapped);
                }
            }
        }
    }
    // Drop trailing blank pages (a final form feed) but keep at least one.
    while pages.len() > 1 && pages.last().is_some_and(|p| p.iter().all(|l| l.trim().is_empty())) {
        pages.pop();
    }
    pages
}

fn expand_tabs(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut col = 0;
    for c in line.chars() {
        match c {
            '\t' => {
                let n = 8 - col % 8;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            c if c.is_control() => {}
            c => {
                out.push(c);
                col += 1;
            }
        }
    }
    out.trim_end().to_owned()
}

/// Wraps one line at `width` columns, breaking after the last space that fits when there is one.
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= width {
        return vec![line.to_owned()];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while chars.len() - start > width {
        let window = &chars[start..start + width];
        let cut = match window.iter().rposition(|&c| c == ' ') {
            Some(p) if p > 0 => start + p,
            _ => start + width,
        };
        out.push(chars[start..cut].iter().collect::<String>().trim_end().to_owned());
        start = cut;
        while start < chars.len() && chars[start] == ' ' {
            start += 1;
        }
    }
    if start < chars.len() {
        out.push(chars[start..].iter().collect());
    }
    out
}

/// Typesets plain text as a PDF. Text without a single visible character has no pages.
pub fn to_pdf(bytes: &[u8]) -> Result<Vec<u8>, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let text = decode(bytes);
    if text.chars().all(char::is_whitespace) {
        return Err(MediaError::ZeroPages);
    }
    let left = (A4.0 - COLUMNS as f32 * CHAR_WIDTH) / 2.0;
    let top = A4.1 - (A4.1 - LINES as f32 * LEADING) / 2.0;
    let pages: Vec<Vec<Mark>> = paginate(&text, COLUMNS, LINES)
        .into_iter()
        .map(|lines| {
            lines
                .into_iter()
                .enumerate()
                .filter(|(_, l)| !l.is_empty())
                .map(|(i, text)| Mark::Text {
                    font: Font::Courier,
                    size: FONT_SIZE,
                    x: left,
                    y: top - FONT_SIZE - i as f32 * LEADING,
                    text,
                })
                .collect()
        })
        .collect();
    Ok(write_pdf(&pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_break_at_sixty_lines_and_form_feeds() {
        let text: String = (1..=130).map(|i| format!("line {i}\n")).collect();
        let pages = paginate(&text, COLUMNS, LINES);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [60, 60, 10]);
        assert_eq!(pages[2][0], "line 121");
        let pages = paginate("one\x0ctwo\r\nthree\x0c", COLUMNS, LINES);
        assert_eq!(pages, [vec!["one".to_owned()], vec!["two".to_owned(), "three".to_owned()]]);
    }

    #[test]
    fn long_lines_wrap_at_spaces_and_tabs_expand() {
        let words = "lorem ipsum ".repeat(10);
        let wrapped = wrap(words.trim_end(), 30);
        assert!(wrapped.iter().all(|l| l.chars().count() <= 30), "{wrapped:?}");
        assert_eq!(wrapped[0], "lorem ipsum lorem ipsum lorem");
        assert_eq!(wrap(&"x".repeat(85), 80).iter().map(String::len).collect::<Vec<_>>(), [80, 5]);
        assert_eq!(expand_tabs("a\tb"), "a       b");
    }

    #[test]
    fn text_is_decoded_and_encoded_for_winansi() {
        assert_eq!(decode(b"caf\xe9"), "café");
        assert_eq!(decode("\u{feff}naïve".as_bytes()), "naïve");
        assert_eq!(decode(b"\xff\xfeh\0\xe9\0"), "hé");
        assert_eq!(win_ansi("é€✓"), [0xe9, 0x80, b'?']);
        assert!(matches!(to_pdf(b" \n\t "), Err(MediaError::ZeroPages)));
        assert!(matches!(to_pdf(b""), Err(MediaError::Empty)));
        let pdf = to_pdf(b"hello").unwrap_or_default();
        assert!(pdf.starts_with(b"%PDF-") && pdf.windows(7).any(|w| w == b"Courier"));
    }
}
