//! Recognises document types from their first bytes and reads image sizes from their headers.
//!
//! Kazoo trusted the declared MIME type and ran ImageMagick's `identify` (`image_size_cmd_format`) on every image
//! to measure it. Mail clients often send PDFs and scans as `application/octet-stream`, so the email-to-fax
//! server recognises the formats it can fax from their signatures here, and reads the width and height of PNG,
//! JPEG, GIF, BMP and WebP images straight from their headers: no external command, no full decode, a bounded
//! amount of work whatever the input.

use std::borrow::Cow;

/// How far into a file `%PDF-` may start (the PDF specification lets readers accept leading junk this long).
const PDF_HEADER_WINDOW: usize = 1024;

/// The content type that the signature at the start of `data` proves, for the formats that have an unambiguous
/// one: PDF, TIFF, PNG, JPEG, GIF, BMP and WebP.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    let head = &data[..data.len().min(PDF_HEADER_WINDOW)];
    if data.starts_with(b"II*\0") || data.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if is_bmp(data) {
        Some("image/bmp")
    } else if data.len() >= 12 && data.starts_with(b"RIFF") && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else if find(head, b"%PDF-").is_some() {
        Some("application/pdf")
    } else {
        None
    }
}

/// The OpenDocument or Office Open XML type of a ZIP container, found from its `mimetype` entry (OpenDocument
/// stores it first and uncompressed) or the name of its main part (`word/document.xml`...).
pub fn sniff_zip(data: &[u8]) -> Option<Cow<'static, str>> {
    if !data.starts_with(b"PK\x03\x04") {
        return None;
    }
    // Local file header: name length at 26, extra length at 28, name at 30; the stored data follows.
    if data.len() > 38 && &data[30..38] == b"mimetype" && u16_le(data, 26) == Some(8) {
        let start = 38 + usize::from(u16_le(data, 28)?);
        let size = u32_le(data, 18)? as usize;
        let value = data.get(start..start.checked_add(size)?)?;
        let value = std::str::from_utf8(value).ok()?;
        if value.starts_with("application/vnd.oasis.opendocument.") && value.bytes().all(|b| b.is_ascii_graphic()) {
            return Some(Cow::Owned(value.to_string()));
        }
    }
    const OOXML: &[(&[u8], &str)] = &[
        (b"word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b"xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (b"ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ];
    OOXML.iter().find(|(part, _)| find(data, part).is_some()).map(|(_, ct)| Cow::Borrowed(*ct))
}

/// The width and height of a PNG, JPEG, GIF, BMP or WebP image, from its header; `None` for anything else or a
/// header that does not parse.
pub fn image_size(data: &[u8]) -> Option<(u32, u32)> {
    match sniff(data)? {
        "image/png" => {
            if data.get(12..16)? != b"IHDR" {
                return None;
            }
            Some((u32_be(data, 16)?, u32_be(data, 20)?))
        }
        "image/gif" => Some((u32::from(u16_le(data, 6)?), u32::from(u16_le(data, 8)?))),
        "image/bmp" => {
            if u32_le(data, 14)? == 12 {
                Some((u32::from(u16_le(data, 18)?), u32::from(u16_le(data, 20)?)))
            } else {
                let w = i32::from_le_bytes(data.get(18..22)?.try_into().ok()?);
                let h = i32::from_le_bytes(data.get(22..26)?.try_into().ok()?);
                Some((w.unsigned_abs(), h.unsigned_abs()))
            }
        }
        "image/jpeg" => jpeg_size(data),
        "image/webp" => webp_size(data),
        _ => None,
    }
}

fn is_bmp(data: &[u8]) -> bool {
    // "BM", then the DIB header size at 14: one of the known header versions.
    data.starts_with(b"BM") && matches!(u32_le(data, 14), Some(12 | 40 | 52 | 56 | 64 | 108 | 124))
}

/// Walks the JPEG markers to the first start-of-frame, which holds the size.
fn jpeg_size(data: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        if *data.get(i)? != 0xff {
            return None;
        }
        // Fill bytes may pad a marker.
        while *data.get(i)? == 0xff {
            i += 1;
        }
        let marker = *data.get(i)?;
        i += 1;
        match marker {
            // Markers without a length.
            0x01 | 0xd0..=0xd7 => continue,
            // Start of scan or end of image before any frame: no size.
            0xd9 | 0xda => return None,
            // Start of frame (all but DHT, JPG and DAC, which share the range): length, precision, height, width.
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                let h = u16_be(data, i + 3)?;
                let w = u16_be(data, i + 5)?;
                return Some((u32::from(w), u32::from(h)));
            }
            _ => {
                let len = usize::from(u16_be(data, i)?);
                if len < 2 {
                    return None;
                }
                i += len;
            }
        }
    }
}

fn webp_size(data: &[u8]) -> Option<(u32, u32)> {
    match data.get(12..16)? {
        // Lossy: a key frame starts with a 3-byte tag and the start code 9d 01 2a, then 14-bit sizes.
        b"VP8 " => {
            if data.get(23..26)? != [0x9d, 0x01, 0x2a] {
                return None;
            }
            Some((u32::from(u16_le(data, 26)? & 0x3fff), u32::from(u16_le(data, 28)? & 0x3fff)))
        }
        // Lossless: signature 0x2f, then 14 bits of width - 1 and 14 bits of height - 1.
        b"VP8L" => {
            if *data.get(20)? != 0x2f {
                return None;
            }
            let bits = u32_le(data, 21)?;
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        // Extended: 24-bit canvas width - 1 and height - 1.
        b"VP8X" => {
            let w = u32_le(&[*data.get(24)?, *data.get(25)?, *data.get(26)?, 0], 0)? + 1;
            let h = u32_le(&[*data.get(27)?, *data.get(28)?, *data.get(29)?, 0], 0)? + 1;
            Some((w, h))
        }
        _ => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn u16_le(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u16_be(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u32_be(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal PNG header of the given size (signature and IHDR; enough for the sniffer).
    pub fn png(w: u32, h: u32) -> Vec<u8> {
        let mut d = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        d.extend_from_slice(&w.to_be_bytes());
        d.extend_from_slice(&h.to_be_bytes());
        d.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        d
    }

    /// A minimal baseline JPEG header (SOI, an APP0 segment, SOF0) of the given size.
    pub fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut d = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        d.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        d.extend_from_slice(&[0xff, 0xff, 0xc0, 0x00, 0x11, 0x08]);
        d.extend_from_slice(&h.to_be_bytes());
        d.extend_from_slice(&w.to_be_bytes());
        d.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9]);
        d
    }

    #[test]
    fn signatures_name_their_formats() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        let mut junk_then_pdf = vec![b' '; 500];
        junk_then_pdf.extend_from_slice(b"%PDF-1.4");
        assert_eq!(sniff(&junk_then_pdf), Some("application/pdf"));
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some("image/tiff"));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some("image/tiff"));
        assert_eq!(sniff(&png(1, 1)), Some("image/png"));
        assert_eq!(sniff(&jpeg(1, 1)), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"BM is not enough"), None);
        assert_eq!(sniff(b"Hello, world"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), None, "OLE: the extension must tell");
    }

    #[test]
    fn image_sizes_come_from_headers() {
        assert_eq!(image_size(&png(1728, 2200)), Some((1728, 2200)));
        assert_eq!(image_size(&jpeg(640, 480)), Some((640, 480)));
        assert_eq!(image_size(b"GIF89a\x20\x03\x58\x02"), Some((800, 600)));
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 12]);
        bmp.extend_from_slice(&40u32.to_le_bytes());
        bmp.extend_from_slice(&1000i32.to_le_bytes());
        bmp.extend_from_slice(&(-50i32).to_le_bytes());
        assert_eq!(image_size(&bmp), Some((1000, 50)));
        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        vp8x.extend_from_slice(&[10, 0, 0, 0, 0, 0, 0, 0]);
        vp8x.extend_from_slice(&[0xbf, 0x06, 0x00, 0x97, 0x08, 0x00]);
        assert_eq!(image_size(&vp8x), Some((1728, 2200)));
        let mut vp8l = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let bits: u32 = 99 | (49 << 14);
        vp8l.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(image_size(&vp8l), Some((100, 50)));
        let mut vp8 = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
        vp8.extend_from_slice(&[0x20, 0x03, 0x58, 0x02]);
        assert_eq!(image_size(&vp8), Some((800, 600)));
        // Truncated or foreign data never panics and gives no size.
        assert_eq!(image_size(&png(5, 5)[..18]), None);
        assert_eq!(image_size(&jpeg(5, 5)[..12]), None);
        assert_eq!(image_size(b"%PDF-1.4"), None);
        assert_eq!(image_size(b"\xff\xd8\xff\xda"), None);
    }

    #[test]
    fn zip_containers_tell_their_office_type() {
        let mut odt = b"PK\x03\x04".to_vec();
        odt.extend_from_slice(&[0; 14]);
        let mime = b"application/vnd.oasis.opendocument.text";
        odt.extend_from_slice(&(mime.len() as u32).to_le_bytes());
        odt.extend_from_slice(&(mime.len() as u32).to_le_bytes());
        odt.extend_from_slice(&8u16.to_le_bytes());
        odt.extend_from_slice(&0u16.to_le_bytes());
        odt.extend_from_slice(b"mimetype");
        odt.extend_from_slice(mime);
        assert_eq!(sniff_zip(&odt).as_deref(), Some("application/vnd.oasis.opendocument.text"));
        let docx = b"PK\x03\x04....[Content_Types].xml....word/document.xml....".to_vec();
        assert_eq!(
            sniff_zip(&docx).as_deref(),
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        );
        assert_eq!(sniff_zip(b"PK\x03\x04 just a zip"), None);
        assert_eq!(sniff_zip(b"%PDF-"), None);
    }
}
