//! Feeds broken TIFFs to every public function: empty, foreign, truncated, looping and damaged files must give a
//! specific error a user can read, never a panic, and in bounded time.

mod tiff_util;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use fax_media::MediaError;
use fax_media::tiff::{self, Limits};
use tiff_util::{Rng, itu, itu_dir, tiffcp};

#[test]
fn empty_and_foreign_files_are_named_as_such() {
    assert!(matches!(tiff::read_pages(b""), Err(MediaError::Empty)));
    assert!(matches!(tiff::to_pdf(b""), Err(MediaError::Empty)));
    assert!(matches!(tiff::page_count(b""), Err(MediaError::Empty)));
    assert!(!tiff::is_fax_ready(b""));
    match tiff::read_pages(b"%PDF-1.7\n") {
        Err(MediaError::Unsupported { what }) => assert_eq!(what, "the file is not a TIFF image"),
        other => panic!("{other:?}"),
    }
    assert!(!tiff::is_tiff(b"%PDF-1.7\n"));
    assert!(tiff::is_tiff(&itu("itu1.tif")));
    // BigTIFF.
    match tiff::read_pages(b"II+\0\x08\0\0\0\0\0\0\0\x10\0\0\0") {
        Err(MediaError::Unsupported { what }) => assert!(what.contains("BigTIFF"), "{what}"),
        other => panic!("{other:?}"),
    }
    // A header whose first directory offset is 0: a TIFF without pages.
    assert!(matches!(tiff::read_pages(b"II*\0\0\0\0\0"), Err(MediaError::ZeroPages)));
    assert_eq!(MediaError::ZeroPages.to_string(), "the document has no pages", "messages are for users");
    // Writing no pages gives a file every reader refuses for that reason.
    assert!(matches!(tiff::page_count(&tiff::write_fax_tiff(&[])), Err(MediaError::ZeroPages)));
}

#[test]
fn truncated_files_say_so() {
    let chart = itu("itu1.tif");
    // Cut inside the directory at the end of the file.
    assert!(matches!(tiff::read_pages(&chart[..chart.len() - 10]), Err(MediaError::Truncated)));
    // Cut before the directory: its offset points past the end.
    assert!(matches!(tiff::read_pages(&chart[..chart.len() / 2]), Err(MediaError::Truncated)));
    assert!(matches!(tiff::read_pages(&chart[..6]), Err(MediaError::Truncated)));
    // A multi-page file cut after its third page: the chain breaks.
    let all = itu("itutests.tif");
    assert!(matches!(tiff::page_count(&all[..all.len() * 3 / 8]), Err(MediaError::Truncated)));
    assert!(matches!(tiff::to_pdf(&all[..all.len() * 3 / 8]), Err(MediaError::Truncated)));
    assert_eq!(MediaError::Truncated.to_string(), "the document is truncated: it ends before the data it describes");
}

/// The offset of chart 1's directory and its number of entries.
fn directory(tiff: &[u8]) -> (usize, usize) {
    let ifd = u32::from_le_bytes(tiff[4..8].try_into().unwrap()) as usize;
    (ifd, u16::from_le_bytes([tiff[ifd], tiff[ifd + 1]]) as usize)
}

#[test]
fn damaged_structure_and_data_give_corrupt_with_a_reason() {
    let chart = itu("itu1.tif");
    let (ifd, n) = directory(&chart);
    // The next-directory link pointing back at the directory itself.
    let mut looped = chart.clone();
    looped[ifd + 2 + 12 * n..ifd + 6 + 12 * n].copy_from_slice(&(ifd as u32).to_le_bytes());
    match tiff::read_pages(&looped) {
        Err(MediaError::Corrupt { reason }) => assert!(reason.contains("loops"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Garbage in the middle of the G4 data.
    let mut damaged = chart.clone();
    for b in &mut damaged[6000..6040] {
        *b = 0x00;
    }
    match tiff::read_pages(&damaged) {
        Err(MediaError::Corrupt { reason }) => {
            assert!(reason.starts_with("page 1: invalid fax coding at row "), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(tiff::to_pdf(&damaged), Err(MediaError::Corrupt { .. })));
    // to_fax_tiff decodes a fax-ready file before reusing it, so the damage is caught there too.
    assert!(tiff::is_fax_ready(&damaged), "the tags alone look fine");
    assert!(matches!(tiff::to_fax_tiff(&damaged), Err(MediaError::Corrupt { .. })));
    // A missing width.
    let mut no_width = chart.clone();
    let width_entry = (0..n).map(|i| ifd + 2 + 12 * i).find(|&e| chart[e] == 0 && chart[e + 1] == 1).unwrap();
    no_width[width_entry] = 0x99;
    match tiff::read_pages(&no_width) {
        Err(MediaError::Corrupt { reason }) => assert_eq!(reason, "page 1: the ImageWidth tag is missing"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        MediaError::corrupt("page 1: the ImageWidth tag is missing").to_string(),
        "the document is damaged: page 1: the ImageWidth tag is missing"
    );
}

#[test]
fn limits_on_pages_and_pixels_are_enforced() {
    let all = itu("itutests.tif");
    let few = Limits { max_pages: 3, ..Limits::default() };
    assert!(matches!(tiff::read_pages_with(&all, &few), Err(MediaError::TooManyPages { max: 3 })));
    assert!(matches!(tiff::to_pdf_with(&all, &few), Err(MediaError::TooManyPages { max: 3 })));
    let small = Limits { max_pixels: 1_000_000, ..Limits::default() };
    match tiff::read_pages_with(&all, &small) {
        Err(e @ MediaError::TooLarge { pixels: 4_105_728, max: 1_000_000 }) => {
            assert_eq!(e.to_string(), "a page is too large: 4105728 pixels (the limit is 1000000)")
        }
        other => panic!("{other:?}"),
    }
    // A width and height whose product overflows 32 bits.
    let chart = itu("itu1.tif");
    let (ifd, n) = directory(&chart);
    let mut huge = chart.clone();
    for i in 0..n {
        let e = ifd + 2 + 12 * i;
        if chart[e + 1] == 1 && (chart[e] == 0 || chart[e] == 1) {
            huge[e + 2..e + 4].copy_from_slice(&4u16.to_le_bytes());
            huge[e + 8..e + 12].copy_from_slice(&0x4000_0000u32.to_le_bytes());
        }
    }
    assert!(matches!(tiff::read_pages(&huge), Err(MediaError::TooLarge { .. })));
}

/// A public function under test, its result dropped.
type Call = dyn Fn(&[u8]);

/// Runs every public function on `bytes`, failing on a panic or a call slower than `budget`; returns what
/// `read_pages` said, in short.
fn survive(bytes: &[u8], what: &str, budget: Duration) -> &'static str {
    let calls: [(&str, &Call); 5] = [
        ("read_pages", &|b| drop(tiff::read_pages(b))),
        ("to_pdf", &|b| drop(tiff::to_pdf(b))),
        ("to_fax_tiff", &|b| drop(tiff::to_fax_tiff(b))),
        ("page_count", &|b| drop(tiff::page_count(b))),
        ("is_fax_ready", &|b| {
            let _ = tiff::is_fax_ready(b);
        }),
    ];
    for (name, call) in calls {
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| call(bytes)));
        assert!(outcome.is_ok(), "{name} panicked on {what}");
        assert!(t.elapsed() < budget, "{name} took {:?} on {what}", t.elapsed());
    }
    match tiff::read_pages(bytes) {
        Ok(_) => "ok",
        Err(MediaError::Empty) => "empty",
        Err(MediaError::Truncated) => "truncated",
        Err(MediaError::Corrupt { .. }) => "corrupt",
        Err(MediaError::Unsupported { .. }) => "unsupported",
        Err(MediaError::ZeroPages) => "no pages",
        Err(MediaError::TooLarge { .. }) => "too large",
        Err(MediaError::TooManyPages { .. }) => "too many pages",
        Err(_) => "other",
    }
}

#[test]
fn truncations_and_random_damage_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let g4 = itu("itu2.tif");
    let g3 =
        tiffcp(dir.path(), &itu_dir().join("itu2.tif"), &["-c", "g3:2d:fill", "-f", "lsb2msb", "-r", "500"], "g3.tif");
    let lzw = tiffcp(dir.path(), &itu_dir().join("itu2.tif"), &["-c", "lzw", "-r", "64"], "lzw.tif");
    let big_endian = tiffcp(dir.path(), &itu_dir().join("itu2.tif"), &["-B", "-c", "g4"], "be.tif");
    let budget = Duration::from_secs(3);
    let started = Instant::now();
    let mut rng = Rng(0xDEAD_BEEF);
    let mut outcomes = std::collections::BTreeMap::new();
    for (name, file) in [("g4", &g4), ("g3-2d", &g3), ("lzw", &lzw), ("big-endian", &big_endian)] {
        // Truncations: every length near the start and the end, and a spread in between.
        let len = file.len();
        let cuts = (0..64).chain(len.saturating_sub(400)..len).chain((0..40).map(|i| i * len / 40));
        for cut in cuts {
            *outcomes.entry(survive(&file[..cut.min(len)], &format!("{name} cut at {cut}"), budget)).or_insert(0) += 1;
        }
        // Random damage: one to eight bytes changed, half of them in the header and directories.
        let (ifd, _) = if name == "big-endian" { (len - 300, 0) } else { directory(file) };
        for round in 0..150 {
            let mut damaged = file.clone();
            for _ in 0..1 + rng.below(8) {
                let at = if rng.below(2) == 0 {
                    if rng.below(4) == 0 { rng.below(8) } else { ifd.min(len - 1) + rng.below(len - ifd.min(len - 1)) }
                } else {
                    rng.below(len)
                };
                damaged[at] = rng.next() as u8;
            }
            *outcomes.entry(survive(&damaged, &format!("{name} damage round {round}"), budget)).or_insert(0) += 1;
        }
    }
    eprintln!("damaged files survived in {:?}; read_pages said: {outcomes:?}", started.elapsed());
    // The damage reached past the header checks: some files still read, others failed deep in the data.
    assert!(outcomes.get("ok").is_some_and(|&n| n > 10) && outcomes.get("corrupt").is_some_and(|&n| n > 10));
}
