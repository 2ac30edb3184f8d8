//! Shared helpers of the TIFF tests: the ITU-T charts, the external tools that make and check real files, and an
//! independent reference decoding of the charts with the `fax` crate.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fax_media::page::{Page, Resolution};
use fax34::Color;

/// The directory of the ITU-T test charts (itu1.tif .. itu8.tif, itutests.tif).
pub fn itu_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/itu")
}

pub fn itu(name: &str) -> Vec<u8> {
    std::fs::read(itu_dir().join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// An external program the test needs; fails with an install hint when it is missing.
pub fn tool(name: &str) -> PathBuf {
    // ImageMagick: insist on the real program, not a stand-in earlier on PATH.
    if name == "convert" {
        let real = PathBuf::from("/usr/bin/convert");
        let path = if real.exists() { real } else { PathBuf::from("convert") };
        let out = Command::new(&path).arg("-version").output();
        let version = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        assert!(
            version.starts_with("Version: ImageMagick"),
            "ImageMagick's convert is needed: run `bash tests/services/deps.sh test` (Debian package imagemagick)"
        );
        return path;
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
        .unwrap_or_default();
    found.unwrap_or_else(|| {
        let package = match name {
            "pdftoppm" | "pdfinfo" => "poppler-utils",
            _ => "libtiff-tools",
        };
        panic!("{name} is needed: run `bash tests/services/deps.sh test` (Debian package {package})")
    })
}

/// Runs a tool and fails the test unless it exits 0.
pub fn run(name: &str, args: &[&str]) -> Output {
    let out = Command::new(tool(name)).args(args).output().unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(out.status.success(), "{name} {args:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs ImageMagick's `convert` with `args` and the path of `name` in `dir` last; returns that path.
pub fn magick(dir: &Path, args: &[&str], name: &str) -> PathBuf {
    let out = dir.join(name);
    let out_arg = out.to_string_lossy().into_owned();
    let mut all: Vec<&str> = args.to_vec();
    all.push(&out_arg);
    run("convert", &all);
    out
}

/// Runs `tiffcp` with `options` on `input`, returning the new file's bytes.
pub fn tiffcp(dir: &Path, input: &Path, options: &[&str], name: &str) -> Vec<u8> {
    let out = dir.join(name);
    let mut args: Vec<&str> = options.to_vec();
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    args.push(i);
    args.push(o);
    run("tiffcp", &args);
    std::fs::read(&out).unwrap()
}

/// The strips of every page of a little-endian, one-strip-per-page TIFF, with width and length: a deliberately
/// separate, minimal parser so the reference does not depend on the reader under test.
pub fn raw_g4_pages(tiff: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
    let u16_at = |p: usize| u16::from_le_bytes([tiff[p], tiff[p + 1]]);
    let u32_at = |p: usize| u32::from_le_bytes(tiff[p..p + 4].try_into().unwrap());
    assert_eq!(&tiff[..4], b"II*\0");
    let mut out = Vec::new();
    let mut ifd = u32_at(4) as usize;
    while ifd != 0 {
        let n = u16_at(ifd) as usize;
        let (mut w, mut h, mut off, mut len) = (0, 0, 0, 0);
        for i in 0..n {
            let e = ifd + 2 + 12 * i;
            let typ = u16_at(e + 2);
            let v = if typ == 3 { u32::from(u16_at(e + 8)) } else { u32_at(e + 8) };
            match u16_at(e) {
                256 => w = v,
                257 => h = v,
                259 => assert_eq!(v, 4, "the reference charts are G4"),
                273 => off = v as usize,
                279 => len = v as usize,
                _ => {}
            }
        }
        out.push((w, h, tiff[off..off + len].to_vec()));
        ifd = u32_at(ifd + 2 + 12 * n) as usize;
    }
    out
}

/// Sets `tag` to the LONG `value` in every directory of a little-endian TIFF (the tag must be present).
pub fn patch_tag(tiff: &mut [u8], tag: u16, value: u32) {
    let u16_at = |t: &[u8], p: usize| u16::from_le_bytes([t[p], t[p + 1]]);
    let u32_at = |t: &[u8], p: usize| u32::from_le_bytes(t[p..p + 4].try_into().unwrap());
    assert_eq!(&tiff[..4], b"II*\0");
    let mut ifd = u32_at(tiff, 4) as usize;
    while ifd != 0 {
        let n = u16_at(tiff, ifd) as usize;
        let e = (0..n).map(|i| ifd + 2 + 12 * i).find(|&e| u16_at(tiff, e) == tag).expect("the tag is present");
        tiff[e + 2..e + 4].copy_from_slice(&4u16.to_le_bytes());
        tiff[e + 4..e + 8].copy_from_slice(&1u32.to_le_bytes());
        tiff[e + 8..e + 12].copy_from_slice(&value.to_le_bytes());
        ifd = u32_at(tiff, ifd + 2 + 12 * n) as usize;
    }
}

/// Decodes G4 data with the `fax` crate into packed rows (1 = black).
pub fn fax_crate_decode(data: &[u8], width: u32, height: u32) -> Vec<u8> {
    let stride = width.div_ceil(8) as usize;
    let mut out = vec![0u8; stride * height as usize];
    let mut y = 0usize;
    let done = fax34::decoder::decode_g4(data.iter().copied(), width, Some(height), |transitions| {
        if y < height as usize {
            for (x, c) in fax34::decoder::pels(transitions, width).enumerate() {
                if c == Color::Black {
                    out[y * stride + x / 8] |= 0x80 >> (x % 8);
                }
            }
        }
        y += 1;
    });
    assert!(done.is_some(), "the fax crate could not decode the data");
    out
}

/// Encodes packed rows with the `fax` crate's G4 encoder.
pub fn fax_crate_encode(page: &Page) -> Vec<u8> {
    let mut enc = fax34::encoder::Encoder::new(fax34::VecWriter::new());
    for y in 0..page.height {
        let row = page.row(y);
        let pels = (0..page.width as usize)
            .map(|x| if row[x / 8] & (0x80 >> (x % 8)) != 0 { Color::Black } else { Color::White });
        enc.encode_line(pels, page.width).unwrap();
    }
    enc.finish().unwrap().finish()
}

/// The eight ITU-T charts as pages, decoded by the `fax` crate (the reference for every comparison).
pub fn reference_charts() -> Vec<Page> {
    raw_g4_pages(&itu("itutests.tif"))
        .into_iter()
        .map(|(w, h, data)| Page {
            width: w,
            height: h,
            resolution: Resolution::Fine,
            data: fax_crate_decode(&data, w, h),
        })
        .collect()
}

/// Fraction of pixels that agree between two pages of the same size.
pub fn agreement(a: &Page, b: &Page) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "page sizes differ");
    let full = a.width as usize / 8;
    let tail = 0xFFu8 << ((8 - a.width % 8) % 8);
    let mut differ = 0u64;
    for y in 0..a.height {
        let (ra, rb) = (a.row(y), b.row(y));
        differ += ra[..full].iter().zip(&rb[..full]).map(|(x, y)| u64::from((x ^ y).count_ones())).sum::<u64>();
        if !a.width.is_multiple_of(8) {
            differ += u64::from(((ra[full] ^ rb[full]) & tail).count_ones());
        }
    }
    1.0 - differ as f64 / (u64::from(a.width) * u64::from(a.height)) as f64
}

/// Asserts two pages are pixel-identical, naming the first difference.
pub fn assert_same_pixels(got: &Page, want: &Page, what: &str) {
    assert_eq!((got.width, got.height), (want.width, want.height), "{what}: size");
    for y in 0..want.height {
        if got.row(y) != want.row(y) {
            let x = (0..want.width).find(|&x| got.is_black(x, y) != want.is_black(x, y)).unwrap_or(0);
            panic!("{what}: pixels differ first at row {y}, column {x}");
        }
    }
}

/// Reads a binary PBM (P4) file, as `pdftoppm -mono` writes it.
pub fn read_pbm(bytes: &[u8]) -> Page {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 3 {
        while bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes[i] == b'#' {
            while bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
    }
    assert_eq!(fields[0], "P4", "not a binary PBM");
    let (w, h): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let data = bytes[i + 1..].to_vec();
    assert_eq!(data.len(), (w.div_ceil(8) * h) as usize);
    Page { width: w, height: h, resolution: Resolution::Fine, data }
}

/// A 32-bit xorshift generator, so the random tests repeat.
pub struct Rng(pub u32);

impl Rng {
    pub fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() as usize) % n.max(1)
    }
}
