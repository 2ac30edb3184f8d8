//! Defines a fax page: a 1-bit bitmap at fax geometry, the seam between rendering and TIFF encoding.

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
}
