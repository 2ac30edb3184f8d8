//! Renders a picture (PNG, JPEG, GIF, BMP, WebP, TIFF) onto one fax page with the `image` crate.
//!
//! Ports Kazoo's `fax.convert_image_command` (`convert $FROM -resample 200x200 -size 1728x2200 -compress group4`).
//! The picture is turned upright (EXIF orientation), put on white paper where it is transparent, scaled to fit an A4
//! page at fax resolution (centred across, from the top down), then thresholded if it looks like black-on-white
//! text or halftoned if it is a photo. Its decoded size is checked against a pixel limit before any pixel is decoded.

use std::io::Cursor;

use image::imageops::{FilterType, resize};
use image::{DynamicImage, GrayImage, ImageDecoder, ImageError, ImageReader, Limits};

use super::halftone::{classify_luma, pack_luma_row};
use super::{A4_LENGTH_INCHES, RenderLimits, rows_for_inches, y_ratio};
use crate::error::MediaError;
use crate::page::{FAX_WIDTH, Page, Resolution};

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
    if !img.color().has_alpha() {
        return Ok(img.into_luma8());
    }
    // Transparent parts show the paper.
    let la = img.into_luma_alpha8();
    let (w, h) = la.dimensions();
    let grey = la.pixels().map(|p| {
        let (l, a) = (u32::from(p.0[0]), u32::from(p.0[1]));
        (255 - (a * (255 - l) + 127) / 255) as u8
    });
    GrayImage::from_vec(w, h, grey.collect()).ok_or_else(|| MediaError::corrupt("picture buffer size"))
}

/// Scales a grey picture to fit an A4 fax page and reduces it to 1 bit.
pub fn grey_to_page(grey: &GrayImage, resolution: Resolution) -> Page {
    let page_rows = rows_for_inches(A4_LENGTH_INCHES, resolution);
    let (w, h) = (f64::from(grey.width()), f64::from(grey.height()));
    let ratio = y_ratio(resolution);
    let s = (f64::from(FAX_WIDTH) / w).min(f64::from(page_rows) / (h * ratio));
    let tw = ((w * s).round() as u32).clamp(1, FAX_WIDTH);
    let th = ((h * s * ratio).round() as u32).clamp(1, page_rows);
    let scaled = if (tw, th) == grey.dimensions() { grey.clone() } else { resize(grey, tw, th, FilterType::Triangle) };
    let tone = classify_luma(scaled.as_raw());
    let x_off = ((FAX_WIDTH - tw) / 2) as usize;
    let mut page = Page::blank(FAX_WIDTH, page_rows, resolution);
    let mut line = vec![255u8; FAX_WIDTH as usize];
    for (y, src) in scaled.as_raw().chunks_exact(tw as usize).enumerate() {
        line[x_off..x_off + tw as usize].copy_from_slice(src);
        pack_luma_row(&line, y, tone, page.row_mut(y as u32));
    }
    page
}

/// Renders one picture as one fax page.
pub fn render(bytes: &[u8], limits: &RenderLimits) -> Result<Vec<Page>, MediaError> {
    let grey = decode_grey(bytes, limits.max_pixels)?;
    limits.check_deadline()?;
    Ok(vec![grey_to_page(&grey, limits.resolution)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_picture_is_scaled_to_the_line_and_centred() {
        // A 100x50 picture: black left half, white right half.
        let mut grey = GrayImage::from_pixel(100, 50, image::Luma([255]));
        for y in 0..50 {
            for x in 0..50 {
                grey.put_pixel(x, y, image::Luma([0]));
            }
        }
        let page = grey_to_page(&grey, Resolution::Fine);
        assert_eq!((page.width, page.height), (FAX_WIDTH, rows_for_inches(A4_LENGTH_INCHES, Resolution::Fine)));
        // 1728 wide means 50 source rows become 50 * 17.28 * 196/204 = 830 rows.
        assert!(page.is_black(10, 10) && page.is_black(10, 829) && !page.is_black(10, 832));
        assert!(!page.is_black(1700, 10));
    }

    #[test]
    fn a_tall_picture_fits_the_length_and_is_centred_across() {
        let grey = GrayImage::from_pixel(100, 1000, image::Luma([0]));
        let page = grey_to_page(&grey, Resolution::Standard);
        assert_eq!(page.height, 1146);
        assert!(!page.is_black(10, 10) && page.is_black(864, 10) && page.is_black(864, 1145));
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
