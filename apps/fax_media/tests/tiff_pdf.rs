//! Checks fax TIFF to PDF: the CCITT data is embedded unchanged (decoded back with the `fax` crate), and poppler's
//! `pdftoppm` renders every page to the chart's pixels, for G4, Group 3 1D and 2D, LSB-first fax-receiver files,
//! multi-strip pages and converted (LZW) pages.

mod tiff_util;

use std::path::Path;
use std::time::Instant;

use fax_media::page::Page;
use fax_media::tiff;
use tiff_util::{
    agreement, assert_same_pixels, fax_crate_decode, itu, itu_dir, raw_g4_pages, read_pbm, reference_charts, run,
    tiffcp,
};

/// An image XObject found in a PDF: its stream bytes and dictionary text.
struct PdfImage {
    dict: String,
    data: Vec<u8>,
}

impl PdfImage {
    /// An integer entry of the dictionary (or its DecodeParms).
    fn int(&self, key: &str) -> Option<i64> {
        let at = self.dict.find(&format!("/{key} "))? + key.len() + 2;
        let rest = &self.dict[at..];
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
        rest[..end].parse().ok()
    }

    fn flag(&self, key: &str) -> Option<bool> {
        let at = self.dict.find(&format!("/{key} "))? + key.len() + 2;
        Some(self.dict[at..].starts_with("true"))
    }
}

/// Finds every image XObject of a PDF written by this crate, in file order.
fn pdf_images(pdf: &[u8]) -> Vec<PdfImage> {
    let text = String::from_utf8_lossy(pdf);
    let mut images = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("/Subtype /Image") {
        let at = from + found;
        let dict_start = text[..at].rfind(" obj").unwrap();
        let stream = at + text[at..].find("stream\n").unwrap();
        let dict = text[dict_start..stream].to_string();
        let mut image = PdfImage { dict, data: Vec::new() };
        let len = image.int("Length").unwrap() as usize;
        // The text is a lossy view; slice the stream from the original bytes at the same offset.
        let start = byte_offset(pdf, &text, stream + "stream\n".len());
        image.data = pdf[start..start + len].to_vec();
        images.push(image);
        from = stream + 7;
    }
    images
}

/// Maps an offset in the lossy UTF-8 view back to the byte offset (binary streams may contain invalid UTF-8).
fn byte_offset(pdf: &[u8], text: &str, text_offset: usize) -> usize {
    // Search for the same marker in the bytes: the n-th "stream\n" that ends at this text position.
    let marker = b"stream\n";
    let nth = text[..text_offset].matches("stream\n").count();
    let mut seen = 0;
    let mut i = 0;
    while i + marker.len() <= pdf.len() {
        if &pdf[i..i + marker.len()] == marker {
            seen += 1;
            if seen == nth {
                return i + marker.len();
            }
        }
        i += 1;
    }
    panic!("stream marker not found")
}

/// The first page's media box width and height, rounded to 1/100 point.
fn media_box(pdf: &[u8]) -> (f64, f64) {
    let text = String::from_utf8_lossy(pdf);
    let at = text.find("/MediaBox [").expect("a media box") + "/MediaBox [".len();
    let end = at + text[at..].find(']').unwrap();
    let v: Vec<f64> = text[at..end].split_whitespace().map(|n| n.parse().unwrap()).collect();
    ((v[2] * 100.0).round() / 100.0, (v[3] * 100.0).round() / 100.0)
}

/// The page count poppler's `pdfinfo` reports (which also checks the file parses).
fn pages_in(pdf: &[u8]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("count.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = run("pdfinfo", &[path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("Pages:")).expect("pdfinfo prints the page count");
    line["Pages:".len()..].trim().parse().unwrap()
}

/// Renders a PDF with poppler, returning one page of 1728 x `rows` pixels per PDF page.
///
/// Poppler resamples images even at exactly one device pixel per image pixel, moving some edges by a pixel; so
/// the page is rendered at four times that size and each pixel is the majority of its 4x4 block.
fn render(dir: &Path, pdf: &[u8], rows: u32, last: u32, name: &str) -> Vec<Page> {
    let out = dir.join(format!("render-{name}"));
    std::fs::create_dir(&out).unwrap();
    let path = out.join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let prefix = out.join("page");
    let (x, y) = ((4 * 1728).to_string(), (4 * rows).to_string());
    let (input, output, last) = (path.to_str().unwrap(), prefix.to_str().unwrap(), last.to_string());
    run("pdftoppm", &["-mono", "-l", &last, "-scale-to-x", &x, "-scale-to-y", &y, input, output]);
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pbm"))
        .collect();
    files.sort_by_key(|p| {
        let f = p.file_stem().unwrap().to_string_lossy().into_owned();
        f.rsplit('-').next().unwrap().parse::<u32>().unwrap()
    });
    files.iter().map(|p| downsample4(&read_pbm(&std::fs::read(p).unwrap()))).collect()
}

/// Each pixel black when at least half of its 4x4 block is.
fn downsample4(big: &Page) -> Page {
    let mut out = Page::blank(big.width / 4, big.height / 4, big.resolution);
    let mut counts = vec![0u32; out.width as usize];
    for y in 0..out.height {
        counts.fill(0);
        for r in 0..4 {
            let row = big.row(4 * y + r);
            for (x, c) in counts.iter_mut().enumerate() {
                let nibble = if x % 2 == 0 { row[x / 2] >> 4 } else { row[x / 2] & 15 };
                *c += nibble.count_ones();
            }
        }
        for (x, &c) in counts.iter().enumerate() {
            if c >= 8 {
                out.set_black(x as u32, y);
            }
        }
    }
    out
}

/// Compares a rendering with the source page.
fn rendered_agreement(rendered: &Page, source: &Page) -> f64 {
    agreement(rendered, &Page { resolution: rendered.resolution, ..source.clone() })
}

#[test]
fn g4_charts_are_embedded_unchanged_and_decode_to_the_same_pixels() {
    let reference = reference_charts();
    let source = itu("itutests.tif");
    let t = Instant::now();
    let pdf = tiff::to_pdf(&source).unwrap();
    eprintln!("to_pdf (G4, decode check + embed): {:.2} ms/page", t.elapsed().as_secs_f64() * 1000.0 / 8.0);
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(pages_in(&pdf), 8);
    let strips = raw_g4_pages(&source);
    let images = pdf_images(&pdf);
    assert_eq!(images.len(), 8);
    for (i, (image, (w, h, strip))) in images.iter().zip(&strips).enumerate() {
        assert!(image.dict.contains("/Filter /CCITTFaxDecode"), "{}", image.dict);
        assert_eq!((image.int("K"), image.int("Columns"), image.int("Rows")), (Some(-1), Some(1728), Some(2376)));
        assert!(image.data == *strip, "page {}: the CCITT data was not embedded unchanged", i + 1);
        let pixels = Page {
            width: *w,
            height: *h,
            resolution: reference[i].resolution,
            data: fax_crate_decode(&image.data, *w, *h),
        };
        assert_same_pixels(&pixels, &reference[i], &format!("PDF page {}", i + 1));
    }
    // Page size: 1728 / 204 inches by 2376 / 196 inches.
    assert_eq!(media_box(&pdf), (609.88, 872.82));
}

#[test]
fn group3_one_dimensional_data_is_embedded_and_decodes_with_the_fax_crate() {
    let reference = reference_charts();
    let dir = tempfile::tempdir().unwrap();
    let g3 = tiffcp(dir.path(), &itu_dir().join("itu2.tif"), &["-c", "g3"], "g3.tif");
    let pdf = tiff::to_pdf(&g3).unwrap();
    let images = pdf_images(&pdf);
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].int("K"), Some(0));
    assert_eq!(images[0].flag("EndOfLine"), Some(true));
    // The fax crate's G3 decoder only emits a row once the next EOL is read; a TIFF strip has no RTC, so end the
    // stream with one (six EOLs), as a fax line would.
    let mut stream = images[0].data.clone();
    stream.extend_from_slice(&[0x00, 0x10, 0x01, 0x00, 0x10, 0x01, 0x00, 0x10, 0x01]);
    let mut rows = Vec::new();
    let done = fax34::decoder::decode_g3(stream.iter().copied(), |t| rows.push(t.to_vec()));
    assert!(done.is_some(), "the fax crate stopped after {} rows", rows.len());
    assert_eq!(rows.len(), 2376);
    let mut page = Page::blank(1728, 2376, reference[1].resolution);
    for (y, t) in rows.iter().take(2376).enumerate() {
        for (x, c) in fax34::decoder::pels(t, 1728).enumerate() {
            if c == fax34::Color::Black {
                page.set_black(x as u32, y as u32);
            }
        }
    }
    assert_same_pixels(&page, &reference[1], "G3 1D PDF stream");
}

#[test]
fn poppler_renders_every_kind_of_fax_tiff_to_the_chart_pixels() {
    let reference = reference_charts();
    let dir = tempfile::tempdir().unwrap();
    let input = itu_dir().join("itutests.tif");
    let written = dir.path().join("ours.tif");
    std::fs::write(&written, tiff::write_fax_tiff(&reference)).unwrap();
    // Every page of the main kinds, the first three of the others (rendering at 4x costs about half a second a page).
    let cases: &[(&str, &Path, &[&str], u32)] = &[
        ("g4", &input, &["-c", "g4"], 8),
        ("ours", &written, &[], 8),
        ("g3-2d-fill-lsb", &input, &["-c", "g3:2d:fill", "-f", "lsb2msb"], 8),
        ("g3-1d", &input, &["-c", "g3"], 3),
        ("g3-2d", &input, &["-c", "g3:2d"], 3),
        ("g4-lsb-strips", &input, &["-c", "g4", "-f", "lsb2msb", "-r", "300"], 3),
        ("lzw", &input, &["-c", "lzw"], 3),
    ];
    for (name, path, options, pages) in cases {
        let bytes = if options.is_empty() {
            std::fs::read(path).unwrap()
        } else {
            tiffcp(dir.path(), path, options, &format!("{name}.tif"))
        };
        let pdf = tiff::to_pdf(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pages_in(&pdf), 8, "{name}: PDF pages");
        let rendered = render(dir.path(), &pdf, 2376, *pages, name);
        assert_eq!(rendered.len(), *pages as usize, "{name}: rendered pages");
        for (i, (got, want)) in rendered.iter().zip(&reference).enumerate() {
            let a = rendered_agreement(got, want);
            assert!(a >= 0.999, "{name} page {}: only {:.4}% of pixels agree", i + 1, a * 100.0);
        }
        // Only the LZW file is re-encoded; the others keep their coding.
        let images = pdf_images(&pdf);
        let k = images[0].int("K");
        let expected_k = match *name {
            "g3-1d" => Some(0),
            "g3-2d" | "g3-2d-fill-lsb" => Some(4),
            _ => Some(-1),
        };
        assert_eq!(k, expected_k, "{name}: K");
        assert_eq!(
            images[0].flag("EncodedByteAlign"),
            if *name == "g3-2d-fill-lsb" {
                Some(true)
            } else {
                match *name {
                    "g3-1d" | "g3-2d" => Some(false),
                    _ => None,
                }
            },
            "{name}: EncodedByteAlign"
        );
        if *name == "g4-lsb-strips" {
            assert_eq!(images.len(), 8 * 8, "one image per strip");
        }
    }
}

#[test]
fn black_is_zero_fax_pages_render_the_right_way_round() {
    let reference = reference_charts();
    let dir = tempfile::tempdir().unwrap();
    // The chart with PhotometricInterpretation 1: the same CCITT data now means inverted pixels.
    let mut bytes = tiff::write_fax_tiff(&reference[..1]);
    let ifd = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes([bytes[ifd], bytes[ifd + 1]]) as usize;
    let entry = (0..n).map(|i| ifd + 2 + 12 * i).find(|&e| bytes[e] == 0x06 && bytes[e + 1] == 0x01).unwrap();
    bytes[entry + 8] = 1;
    let mut inverted = reference[0].clone();
    inverted.data.iter_mut().for_each(|b| *b = !*b);
    assert_same_pixels(&tiff::read_pages(&bytes).unwrap()[0], &inverted, "black-is-zero read");
    let pdf = tiff::to_pdf(&bytes).unwrap();
    assert_eq!(pdf_images(&pdf)[0].flag("BlackIs1"), Some(true));
    let pages = render(dir.path(), &pdf, 2376, 1, "inverted");
    assert!(rendered_agreement(&pages[0], &inverted) >= 0.999);
}

#[test]
fn standard_resolution_pages_keep_their_size() {
    let reference = reference_charts();
    let dir = tempfile::tempdir().unwrap();
    let mut page = reference[2].clone();
    page.resolution = fax_media::page::Resolution::Standard;
    page.height = 1188;
    page.data.truncate(216 * 1188);
    let pdf = tiff::to_pdf(&tiff::write_fax_tiff(std::slice::from_ref(&page))).unwrap();
    // 1188 rows at 98 lpi is the same 872.82 points as 2376 rows at 196.
    assert_eq!(media_box(&pdf), (609.88, 872.82));
    let pages = render(dir.path(), &pdf, 1188, 1, "standard");
    assert!(rendered_agreement(&pages[0], &page) >= 0.999);
}
