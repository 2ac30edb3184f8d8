//! Renders a picture (PNG, JPEG, GIF, BMP, WebP, TIFF) onto one fax page with the `image` crate.
//!
//! Ports Kazoo's `fax.convert_image_command` (`convert $FROM -resample 200x200 -size 1728x2200 -compress group4`).
//! The picture is turned upright (EXIF orientation), put on white paper where it is transparent, scaled to the fax
//! width on a page at least A4 long (white below it), under the long-page rule (a tall picture is shrunk to B4
//! length or cut into A4 pages), then thresholded if it looks like black-on-white text or halftoned if it is a
//! photo; grey and colour TIFF pages go through the same [`scale::grey_to_pages`]. Its decoded size is checked
//! against a pixel limit before any pixel is decoded.

use std::io::Cursor;

use image::{DynamicImage, GrayImage, ImageDecoder, ImageError, ImageReader, Limits};

use super::RenderLimits;
use super::scale;
use crate::error::MediaError;
use crate::page::{A4_LENGTH_MM, Page, Resolution};

fn image_error(e: ImageError) -> MediaError {
    match e {
        ImageError::Limits(_) => MediaError::TooLarge { pixels: 0, max: 0 },
        ImageError::Unsupported(u) => MediaError::unsupported(format!("picture: {u}")),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => MediaError::Truncated,
        ImageError::Decoding(d) => {
            let text = d.to_string();
            if text.contains("end of file") || text.contains("EOF") || text.contains("unexpected end") {
                MediaError::Truncated
            } else {
                MediaError::corrupt(format!("picture cannot be decoded: {text}"))
            }
        }
        other => MediaError::corrupt(format!("picture cannot be decoded: {other}")),
    }
}

/// Decodes a picture to 8-bit grey on white paper, refusing pictures over `max_pixels` before decoding them.
pub fn decode_grey(bytes: &[u8], max_pixels: u64) -> Result<GrayImage, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    if reader.format().is_none() {
        return Err(MediaError::unsupported("a picture in an unknown format"));
    }
    let mut limits = Limits::default();
    // RGBA at 16 bits per sample is the largest a decoder may need per pixel.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (w, h) = decoder.dimensions();
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(MediaError::TooLarge { pixels, max: max_pixels });
    }
    if pixels == 0 {
        return Err(MediaError::corrupt("the picture has no pixels"));
    }
    let orientation = decoder.orientation().map_err(image_error)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(_) => MediaError::TooLarge { pixels, max: max_pixels },
        other => image_error(other),
    })?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width(), img.height());
    // Colours become greys with the same weights as TIFF pages (`scale::luma`), so a picture sent as PNG and as
    // TIFF prints the same; transparent parts show the paper.
    let grey: Vec<u8> = match img {
        DynamicImage::ImageLuma8(grey) => return Ok(grey),
        img if !img.color().has_alpha() => {
            let rgb = img.into_rgb8();
            rgb.pixels().map(|p| scale::luma(u32::from(p.0[0]), u32::from(p.0[1]), u32::from(p.0[2])) as u8).collect()
        }
        img => {
            let rgba = img.into_rgba8();
            rgba.pixels()
                .map(|p| {
                    let l = scale::luma(u32::from(p.0[0]), u32::from(p.0[1]), u32::from(p.0[2]));
                    scale::over_paper(l, u32::from(p.0[3]))
                })
                .collect()
        }
    };
    GrayImage::from_vec(w, h, grey).ok_or_else(|| MediaError::corrupt("picture buffer size"))
}

/// Scales a grey picture to the fax width on pages at least A4 long and reduces it to 1 bit.
pub fn grey_to_pages(grey: &GrayImage, resolution: Resolution, max_pages: usize) -> Result<Vec<Page>, MediaError> {
    let (w, h) = grey.dimensions();
    let rows = scale::rows_at_fax_width(w, h, 1.0, resolution);
    let paper = resolution.rows_for_mm(A4_LENGTH_MM);
    scale::grey_to_pages(grey.as_raw(), w, h, rows, resolution, paper, max_pages)
}

/// Renders one picture as fax pages: one, unless it is long enough to be cut.
pub fn render(bytes: &[u8], limits: &RenderLimits) -> Result<Vec<Page>, MediaError> {
    let grey = decode_grey(bytes, limits.max_pixels)?;
    limits.check_deadline()?;
    grey_to_pages(&grey, limits.resolution, limits.max_pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::FAX_WIDTH;

    fn one_page(grey: &GrayImage, resolution: Resolution) -> Page {
        let mut pages = grey_to_pages(grey, resolution, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pages.len(), 1);
        pages.remove(0)
    }

    #[test]
    fn a_small_picture_is_scaled_to_the_line_on_a4_paper() {
        // A 100x50 picture: black left half, white right half.
        let mut grey = GrayImage::from_pixel(100, 50, image::Luma([255]));
        for y in 0..50 {
            for x in 0..50 {
                grey.put_pixel(x, y, image::Luma([0]));
            }
        }
        let page = one_page(&grey, Resolution::Fine);
        assert_eq!((page.width, page.height), (FAX_WIDTH, 2292));
        // 1728 wide means 50 source rows become 50 * 17.28 * 196/204 = 830 rows.
        assert!(page.is_black(10, 10) && page.is_black(10, 829) && !page.is_black(10, 832));
        assert!(page.is_black(860, 10) && !page.is_black(868, 10) && !page.is_black(1700, 10));
    }

    #[test]
    fn tall_pictures_are_kept_shrunk_or_cut_by_length() {
        // At standard resolution B4 is 1404 rows and A4 1146; a 100-pixel column is 8.3 rows per source row.
        let kept = one_page(&GrayImage::from_pixel(100, 160, image::Luma([0])), Resolution::Standard);
        assert_eq!(kept.height, 1328);
        assert!(kept.is_black(0, 0) && kept.is_black(1727, 1327));
        // 1494 rows is 1.06 x B4: shrunk to B4, 1624 pixels wide, centred.
        let shrunk = one_page(&GrayImage::from_pixel(100, 180, image::Luma([0])), Resolution::Standard);
        assert_eq!(shrunk.height, 1404);
        assert!(!shrunk.is_black(50, 10) && shrunk.is_black(54, 10) && shrunk.is_black(1675, 1403));
        assert!(!shrunk.is_black(1677, 10));
        // 8301 rows: cut into A4 pages, the last one shorter, the picture whole across.
        let scroll = GrayImage::from_pixel(100, 1000, image::Luma([0]));
        let pages = grey_to_pages(&scroll, Resolution::Standard, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pages.iter().map(|p| p.height).collect::<Vec<_>>(), [1146, 1146, 1146, 1146, 1146, 1146, 1146, 279]);
        assert!(pages.iter().all(|p| p.is_black(0, 0) && p.is_black(1727, p.height - 1)));
        let refused = grey_to_pages(&scroll, Resolution::Standard, 7).err();
        assert!(matches!(refused, Some(MediaError::TooManyPages { max: 7 })), "{refused:?}");
    }

    #[test]
    fn oversized_pictures_are_refused_before_decoding() {
        let mut png = Vec::new();
        GrayImage::from_pixel(300, 200, image::Luma([0]))
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap_or_else(|e| panic!("png: {e}"));
        let err = decode_grey(&png, 50_000).err();
        assert!(matches!(err, Some(MediaError::TooLarge { pixels: 60_000, max: 50_000 })), "{err:?}");
        assert!(decode_grey(&png, 60_000).is_ok());
    }
}
