//! The framing shared by log segments and the hard-state file.
//!
//! A record is
//!
//! ```text
//! offset 0  u32 little-endian  payload length
//! offset 4  u32 little-endian  CRC-32 of the length bytes followed by the payload
//! offset 8  payload
//! ```
//!
//! The checksum covers the length too, so a damaged length field is caught rather than
//! sending the reader off to a wrong boundary that happens to hold plausible bytes.
//! Zero-filled bytes, which a crash can leave where a file was extended but not yet
//! written, never form an intact record: the CRC-32 of four zero bytes is not zero.

use std::io;

use super::crc32::crc32;

pub(super) const HEADER_BYTES: usize = 8;

/// A record that passed its checks.
pub(super) struct Record<'a> {
    pub payload: &'a [u8],
    /// Offset of the byte after the record.
    pub end: usize,
}

/// Appends the record framing `payload` to `out`.
pub(super) fn encode(payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let length = u32::try_from(payload.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a record payload may not exceed 4 GiB",
        )
    })?;
    let length = length.to_le_bytes();
    out.extend_from_slice(&length);
    out.extend_from_slice(&crc32(&[&length, payload]).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Reads the record starting at `at`, or says why there is no intact one there.
pub(super) fn parse(bytes: &[u8], at: usize) -> Result<Record<'_>, &'static str> {
    let rest = &bytes[at..];
    if rest.len() < HEADER_BYTES {
        return Err("incomplete record header");
    }
    let length_bytes = &rest[0..4];
    let length = u32::from_le_bytes(length_bytes.try_into().expect("4 bytes")) as usize;
    let checksum = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if rest.len() - HEADER_BYTES < length {
        return Err("record runs past the end of the file");
    }
    let payload = &rest[HEADER_BYTES..HEADER_BYTES + length];
    if crc32(&[length_bytes, payload]) != checksum {
        return Err("record checksum mismatch");
    }
    Ok(Record {
        payload,
        end: at + HEADER_BYTES + length,
    })
}

/// The first offset at or after `from` where an intact record starts, if any.
///
/// Used after a damaged record to tell a torn tail (nothing intact follows) from damage
/// in the middle. Trying every offset is quadratic at worst, but it runs only on recovery
/// and only over the bytes after a damaged record; a random length field almost always
/// points past the end of the file and is rejected without checksumming. A false match
/// needs a 32-bit checksum collision.
pub(super) fn find_intact(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&at| parse(bytes, at).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode(payload, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn round_trip() {
        let mut bytes = framed(b"first");
        bytes.extend(framed(b""));
        let first = parse(&bytes, 0).unwrap();
        assert_eq!(first.payload, b"first");
        let second = parse(&bytes, first.end).unwrap();
        assert_eq!(second.payload, b"");
        assert_eq!(second.end, bytes.len());
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = framed(b"{\"term\":1}");
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[at] ^= 1 << bit;
                assert!(parse(&damaged, 0).is_err(), "flip of bit {bit} at {at}");
            }
        }
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let bytes = framed(b"payload");
        for cut in 0..bytes.len() {
            assert!(parse(&bytes[..cut], 0).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn zeros_are_not_a_record() {
        assert!(parse(&[0; 64], 0).is_err());
        assert_eq!(find_intact(&[0; 64], 0), None);
    }

    #[test]
    fn find_intact_skips_damage() {
        let mut bytes = framed(b"damaged");
        let second = bytes.len();
        bytes.extend(framed(b"intact"));
        bytes[HEADER_BYTES] ^= 0xFF;
        assert_eq!(find_intact(&bytes, 1), Some(second));
        assert_eq!(find_intact(&bytes, second + 1), None);
    }
}
