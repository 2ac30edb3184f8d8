//! Defines a fax page: a 1-bit bitmap at fax geometry, the seam between rendering and TIFF encoding, and the one
//! rule every input follows for pages longer than a fax receiver takes.
//!
//! Kazoo leaves page length to its tools: Ghostscript fits every PDF page into 1728x2200 (`-dPDFFitPage`) and
//! ImageMagick stretches TIFF pages and pictures to the same box. Here a page keeps its own proportions at the fax
//! width, and [`fit_length`] decides, for PDF pages, TIFF pages, pictures and typeset text alike, what happens to
//! a long one:
//!
//! - up to ISO B4 length (364 mm, the longest page T.30 receivers commonly print) it is kept whole;
//! - up to 1.25 times B4 length it is shrunk to B4 length, its proportions kept and centred across (a slightly
//!   long page, such as a B4 scan with margins, stays one page and loses little size);
//! - longer pages (a long scroll, a till receipt, a continuous scan) are cut into ISO A4-length (297 mm) pages,
//!   the last one holding what is left, so nothing is shrunk beyond reading.

/// The width of every fax page, in pixels (ITU-T T.4 A4/Letter at 8 pixels per mm).
pub const FAX_WIDTH: u32 = 1728;

/// Horizontal resolution of fax pages, dots per inch.
pub const X_DPI: u32 = 204;

/// Vertical resolution: fine (196 dpi, the default) or standard (98 dpi).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    #[default]
    Fine,
    Standard,
}

impl Resolution {
    /// Lines per inch.
    pub fn y_dpi(self) -> u32 {
        match self {
            Resolution::Fine => 196,
            Resolution::Standard => 98,
        }
    }

    /// Rows of a page `mm` millimetres long at this resolution.
    pub fn rows_for_mm(self, mm: f64) -> u32 {
        (mm / 25.4 * f64::from(self.y_dpi())).round() as u32
    }
}

/// ISO A4 length in millimetres: pages too long to shrink are cut into pages this long.
pub const A4_LENGTH_MM: f64 = 297.0;

/// ISO B4 length in millimetres: the longest page sent whole.
pub const B4_LENGTH_MM: f64 = 364.0;

/// Pages up to this many times B4 length are shrunk to B4 length; longer ones are cut.
pub const SHRINK_UP_TO: f64 = 1.25;

/// What the long-page rule does with one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// The page is kept at its own length.
    Whole,
    /// The page is shrunk, both ways, to `rows` rows (B4 length) and centred across.
    Shrink { rows: u32 },
    /// The page is drawn at its own length and cut into `pages` pages of `part` rows (A4 length), the last one
    /// shorter.
    Cut { part: u32, pages: usize },
}

/// The long-page rule (see the module docs) for a page `rows` long once scaled to the full fax width.
pub fn fit_length(rows: u32, resolution: Resolution) -> Fit {
    let b4 = resolution.rows_for_mm(B4_LENGTH_MM);
    if rows <= b4 {
        Fit::Whole
    } else if f64::from(rows) <= f64::from(b4) * SHRINK_UP_TO {
        Fit::Shrink { rows: b4 }
    } else {
        let part = resolution.rows_for_mm(A4_LENGTH_MM);
        Fit::Cut { part, pages: rows.div_ceil(part) as usize }
    }
}

/// One page: `height` rows of `width` pixels, each row packed 8 pixels per byte, most significant bit first,
/// 1 = black (so a blank page is all zeros), rows padded to whole bytes (`stride` bytes each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub width: u32,
    pub height: u32,
    pub resolution: Resolution,
    pub data: Vec<u8>,
}

impl Page {
    /// A blank (white) page.
    pub fn blank(width: u32, height: u32, resolution: Resolution) -> Page {
        let stride = width.div_ceil(8) as usize;
        Page { width, height, resolution, data: vec![0; stride * height as usize] }
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.width.div_ceil(8) as usize
    }

    /// Row `y` as packed bytes.
    pub fn row(&self, y: u32) -> &[u8] {
        let s = self.stride();
        &self.data[y as usize * s..(y as usize + 1) * s]
    }

    /// Row `y` as packed bytes, mutable.
    pub fn row_mut(&mut self, y: u32) -> &mut [u8] {
        let s = self.stride();
        &mut self.data[y as usize * s..(y as usize + 1) * s]
    }

    /// Whether pixel (x, y) is black.
    pub fn is_black(&self, x: u32, y: u32) -> bool {
        self.row(y)[(x / 8) as usize] & (0x80 >> (x % 8)) != 0
    }

    /// Paints pixel (x, y) black.
    pub fn set_black(&mut self, x: u32, y: u32) {
        self.row_mut(y)[(x / 8) as usize] |= 0x80 >> (x % 8);
    }

    /// Cuts the page into pages of `part` rows, the last one holding what is left.
    pub fn cut(self, part: u32) -> Vec<Page> {
        if self.height <= part || part == 0 {
            return vec![self];
        }
        let stride = self.stride();
        self.data
            .chunks(part as usize * stride)
            .map(|chunk| Page {
                width: self.width,
                height: (chunk.len() / stride) as u32,
                resolution: self.resolution,
                data: chunk.to_vec(),
            })
            .collect()
    }

    /// The page at another vertical resolution: standard to fine doubles every row, fine to standard keeps the
    /// darker of each pair of rows (so one-row lines survive).
    pub fn at_resolution(self, target: Resolution) -> Page {
        if self.resolution == target {
            return self;
        }
        let stride = self.stride();
        match target {
            Resolution::Fine => {
                let mut data = Vec::with_capacity(self.data.len() * 2);
                for row in self.data.chunks_exact(stride) {
                    data.extend_from_slice(row);
                    data.extend_from_slice(row);
                }
                Page { width: self.width, height: self.height * 2, resolution: target, data }
            }
            Resolution::Standard => {
                let height = self.height.div_ceil(2);
                let mut data = Vec::with_capacity(stride * height as usize);
                for pair in self.data.chunks(stride * 2) {
                    let (a, b) = pair.split_at(stride.min(pair.len()));
                    data.extend(a.iter().enumerate().map(|(i, &x)| x | b.get(i).copied().unwrap_or(0)));
                }
                Page { width: self.width, height, resolution: target, data }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_pack_msb_first_black_is_one() {
        let mut p = Page::blank(FAX_WIDTH, 3, Resolution::Fine);
        assert_eq!(p.stride(), 216);
        assert!(!p.is_black(0, 0));
        p.set_black(0, 1);
        p.set_black(9, 1);
        assert_eq!(p.row(1)[0], 0x80);
        assert_eq!(p.row(1)[1], 0x40);
        assert!(p.is_black(9, 1));
        assert_eq!(Resolution::Standard.y_dpi(), 98);
    }

    #[test]
    fn long_pages_are_kept_shrunk_or_cut_by_length() {
        // B4 is 2809 fine rows (1404 standard), 1.25 x B4 is 3511, A4 is 2292 (1146).
        assert_eq!(Resolution::Fine.rows_for_mm(B4_LENGTH_MM), 2809);
        assert_eq!(Resolution::Standard.rows_for_mm(A4_LENGTH_MM), 1146);
        assert_eq!(fit_length(2348, Resolution::Fine), Fit::Whole);
        assert_eq!(fit_length(2809, Resolution::Fine), Fit::Whole);
        assert_eq!(fit_length(2810, Resolution::Fine), Fit::Shrink { rows: 2809 });
        assert_eq!(fit_length(3511, Resolution::Fine), Fit::Shrink { rows: 2809 });
        assert_eq!(fit_length(3512, Resolution::Fine), Fit::Cut { part: 2292, pages: 2 });
        assert_eq!(fit_length(6000, Resolution::Fine), Fit::Cut { part: 2292, pages: 3 });
        assert_eq!(fit_length(1500, Resolution::Standard), Fit::Shrink { rows: 1404 });
        assert_eq!(fit_length(3000, Resolution::Standard), Fit::Cut { part: 1146, pages: 3 });
    }

    #[test]
    fn cutting_keeps_every_row_in_order() {
        let mut p = Page::blank(16, 6000, Resolution::Fine);
        p.set_black(1, 2291);
        p.set_black(2, 2292);
        p.set_black(3, 5999);
        let parts = p.cut(2292);
        assert_eq!(parts.iter().map(|p| p.height).collect::<Vec<_>>(), vec![2292, 2292, 1416]);
        assert!(parts[0].is_black(1, 2291) && parts[1].is_black(2, 0) && parts[2].is_black(3, 1415));
        assert_eq!(Page::blank(16, 2292, Resolution::Fine).cut(2292).len(), 1);
    }

    #[test]
    fn pages_change_resolution_without_losing_thin_lines() {
        let mut std_page = Page::blank(16, 3, Resolution::Standard);
        std_page.set_black(3, 1);
        let fine = std_page.clone().at_resolution(Resolution::Fine);
        assert_eq!(fine.height, 6);
        assert!(fine.is_black(3, 2) && fine.is_black(3, 3) && !fine.is_black(3, 4));
        let mut fine_page = Page::blank(16, 5, Resolution::Fine);
        fine_page.set_black(5, 3);
        let back = fine_page.at_resolution(Resolution::Standard);
        assert_eq!(back.height, 3);
        assert!(back.is_black(5, 1) && !back.is_black(5, 0) && !back.is_black(5, 2));
    }
}
