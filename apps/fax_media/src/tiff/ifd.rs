//! Parses a TIFF's structure: the header, the chain of image file directories (IFDs) and their tag values.
//!
//! This is what Kazoo's converter reads with `tiffinfo` before deciding whether a TIFF needs resampling. Both byte
//! orders are accepted; every offset is checked against the file so that a damaged or truncated file gives an
//! error, never a panic, and a directory chain that loops back is caught.

use std::collections::HashSet;

use crate::error::MediaError;

/// One directory entry: a tag, its field type and count, and where its 4-byte value field sits in the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub tag: u16,
    pub typ: u16,
    pub count: u32,
    pub field: usize,
}

/// One image file directory.
#[derive(Debug, Clone)]
pub(crate) struct Ifd {
    pub entries: Vec<Entry>,
}

impl Ifd {
    pub fn get(&self, tag: u16) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }
}

/// A parsed TIFF: its bytes, byte order and directories in file order.
#[derive(Debug)]
pub(crate) struct Tiff<'a> {
    pub data: &'a [u8],
    pub little_endian: bool,
    pub ifds: Vec<Ifd>,
}

/// Bytes per value of each TIFF field type (0 for unknown types).
fn type_size(typ: u16) -> usize {
    match typ {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => 0,
    }
}

/// Whether the bytes start like a TIFF file (either byte order, classic or BigTIFF).
pub(crate) fn looks_like_tiff(data: &[u8]) -> bool {
    matches!(data.get(..4), Some([b'I', b'I', 42 | 43, 0]) | Some([b'M', b'M', 0, 42 | 43]))
}

impl<'a> Tiff<'a> {
    /// Parses the header and follows the directory chain, reading at most `max_ifds` directories.
    pub fn parse(data: &'a [u8], max_ifds: usize) -> Result<Tiff<'a>, MediaError> {
        if data.is_empty() {
            return Err(MediaError::Empty);
        }
        let little_endian = match data.get(..2) {
            Some(b"II") => true,
            Some(b"MM") => false,
            _ => return Err(MediaError::unsupported("the file is not a TIFF image")),
        };
        let mut tiff = Tiff { data, little_endian, ifds: Vec::new() };
        match tiff.u16_at(2)? {
            42 => {}
            43 => return Err(MediaError::unsupported("BigTIFF files (over 4 GB) cannot be faxed")),
            _ => return Err(MediaError::unsupported("the file is not a TIFF image")),
        }
        let mut next = tiff.u32_at(4)? as usize;
        if next == 0 {
            return Err(MediaError::ZeroPages);
        }
        let mut seen = HashSet::new();
        while next != 0 {
            if !seen.insert(next) {
                return Err(MediaError::corrupt("the TIFF directory chain loops back on itself"));
            }
            if tiff.ifds.len() >= max_ifds {
                return Err(MediaError::TooManyPages { max: max_ifds });
            }
            let count = tiff.u16_at(next)? as usize;
            if count == 0 {
                return Err(MediaError::corrupt(format!("TIFF directory {} is empty", tiff.ifds.len() + 1)));
            }
            let end = next + 2 + 12 * count;
            if end + 4 > data.len() {
                return Err(MediaError::Truncated);
            }
            let mut entries = Vec::with_capacity(count);
            for i in 0..count {
                let at = next + 2 + 12 * i;
                entries.push(Entry {
                    tag: tiff.u16_at(at)?,
                    typ: tiff.u16_at(at + 2)?,
                    count: tiff.u32_at(at + 4)?,
                    field: at + 8,
                });
            }
            tiff.ifds.push(Ifd { entries });
            next = tiff.u32_at(end)? as usize;
        }
        Ok(tiff)
    }

    fn bytes<const N: usize>(&self, at: usize) -> Result<[u8; N], MediaError> {
        let slice = self.data.get(at..at.checked_add(N).ok_or(MediaError::Truncated)?).ok_or(MediaError::Truncated)?;
        let mut b = [0u8; N];
        b.copy_from_slice(slice);
        Ok(b)
    }

    pub fn u16_at(&self, at: usize) -> Result<u16, MediaError> {
        let b = self.bytes::<2>(at)?;
        Ok(if self.little_endian { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    }

    pub fn u32_at(&self, at: usize) -> Result<u32, MediaError> {
        let b = self.bytes::<4>(at)?;
        Ok(if self.little_endian { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn u64_at(&self, at: usize) -> Result<u64, MediaError> {
        let b = self.bytes::<8>(at)?;
        Ok(if self.little_endian { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) })
    }

    /// Where an entry's values start in the file (inline in the entry when they fit in 4 bytes).
    fn value_offset(&self, e: &Entry) -> Result<(usize, usize), MediaError> {
        let size = type_size(e.typ);
        if size == 0 {
            return Err(MediaError::corrupt(format!("TIFF tag {} has an unknown field type {}", e.tag, e.typ)));
        }
        let len = (e.count as usize).checked_mul(size).ok_or(MediaError::Truncated)?;
        let at = if len <= 4 { e.field } else { self.u32_at(e.field)? as usize };
        if at.checked_add(len).is_none_or(|end| end > self.data.len()) {
            return Err(MediaError::Truncated);
        }
        Ok((at, size))
    }

    /// The values of an integer-typed entry (BYTE, SHORT, LONG, LONG8 and their signed twins read as unsigned).
    pub fn ints(&self, e: &Entry) -> Result<Vec<u64>, MediaError> {
        let (at, size) = self.value_offset(e)?;
        (0..e.count as usize).map(|i| self.int_at(e, at + i * size)).collect()
    }

    /// The first value of an integer entry.
    pub fn int(&self, e: &Entry) -> Result<u64, MediaError> {
        if e.count == 0 {
            return Err(MediaError::corrupt(format!("TIFF tag {} has no value", e.tag)));
        }
        let (at, _) = self.value_offset(e)?;
        self.int_at(e, at)
    }

    fn int_at(&self, e: &Entry, at: usize) -> Result<u64, MediaError> {
        Ok(match e.typ {
            1 | 6 | 7 => u64::from(self.bytes::<1>(at)?[0]),
            3 | 8 => u64::from(self.u16_at(at)?),
            4 | 9 | 13 => u64::from(self.u32_at(at)?),
            16..=18 => self.u64_at(at)?,
            _ => {
                return Err(MediaError::corrupt(format!(
                    "TIFF tag {} should hold integers but has field type {}",
                    e.tag, e.typ
                )));
            }
        })
    }

    /// The first value of a RATIONAL (or integer) entry as a number.
    pub fn number(&self, e: &Entry) -> Result<f64, MediaError> {
        match e.typ {
            5 | 10 => {
                let (at, _) = self.value_offset(e)?;
                if e.count == 0 {
                    return Err(MediaError::corrupt(format!("TIFF tag {} has no value", e.tag)));
                }
                let (n, d) = (self.u32_at(at)?, self.u32_at(at + 4)?);
                Ok(if d == 0 { 0.0 } else { f64::from(n) / f64::from(d) })
            }
            11 => {
                let (at, _) = self.value_offset(e)?;
                Ok(f64::from(f32::from_bits(self.u32_at(at)?)))
            }
            12 => {
                let (at, _) = self.value_offset(e)?;
                Ok(f64::from_bits(self.u64_at(at)?))
            }
            _ => Ok(self.int(e)? as f64),
        }
    }
}
