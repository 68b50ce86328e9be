//! A small PNG encoder: 8-bit RGB, no interlacing, one IDAT chunk.
//!
//! The zlib stream is a single fixed-Huffman deflate block whose only back-references
//! repeat the previous pixel. Plots are mostly long runs of one colour, so this alone
//! turns a 1.5 MB raw image into a few tens of KB, with none of the hash chains a general
//! LZ77 matcher needs.

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
const BYTES_PER_PIXEL: usize = 3;

/// Encodes `rgb` (row-major, three bytes a pixel) as a PNG file.
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    assert!(width > 0 && height > 0, "PNG images cannot be empty");
    assert_eq!(
        rgb.len(),
        width as usize * height as usize * BYTES_PER_PIXEL
    );
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);

    let mut png = SIGNATURE.to_vec();
    write_chunk(&mut png, b"IHDR", &header);
    write_chunk(&mut png, b"IDAT", &zlib(&scanlines(width, rgb)));
    write_chunk(&mut png, b"IEND", &[]);
    png
}

/// Prefixes each row with filter type 0 (none): the run-length matcher below does the
/// work a Sub or Up filter would otherwise do.
fn scanlines(width: u32, rgb: &[u8]) -> Vec<u8> {
    let stride = width as usize * BYTES_PER_PIXEL;
    let mut raw = Vec::with_capacity(rgb.len() + rgb.len() / stride);
    for row in rgb.chunks(stride) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    raw
}

fn write_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (IEEE, reflected, polynomial 0xEDB88320) as PNG chunks use it; computed bit
/// by bit because a few hundred KB per plot does not justify a table.
pub(super) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub(super) fn adler32(bytes: &[u8]) -> u32 {
    const MODULUS: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % MODULUS;
        b = (b + a) % MODULUS;
    }
    (b << 16) | a
}

fn zlib(data: &[u8]) -> Vec<u8> {
    // CMF 0x78: deflate with a 32 KiB window; FLG 0x01 makes the header a multiple of 31.
    let mut out = vec![0x78, 0x01];
    out.extend_from_slice(&deflate(data));
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// Deflate match lengths: the base length of codes 257..=285 and their extra bits.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA_BITS: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
const END_OF_BLOCK: u16 = 256;

/// One final fixed-Huffman block. At each position it either repeats the bytes one pixel
/// back (distance 3) for as long as they match, or emits a literal.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut bits = BitWriter::default();
    bits.write(1, 1); // BFINAL
    bits.write(1, 2); // BTYPE 01: fixed Huffman codes
    let mut at = 0;
    while at < data.len() {
        let run = if at >= BYTES_PER_PIXEL {
            data[at..]
                .iter()
                .zip(&data[at - BYTES_PER_PIXEL..])
                .take(MAX_MATCH)
                .take_while(|(next, back)| next == back)
                .count()
        } else {
            0
        };
        if run >= MIN_MATCH {
            let code = LENGTH_BASE
                .iter()
                .rposition(|&base| base as usize <= run)
                .unwrap();
            bits.symbol(257 + code as u16);
            let extra = (run - LENGTH_BASE[code] as usize) as u32;
            bits.write(extra, LENGTH_EXTRA_BITS[code].into());
            // Distance codes 0..=3 stand for distances 1..=4 with no extra bits.
            bits.huffman(BYTES_PER_PIXEL as u32 - 1, 5);
            at += run;
        } else {
            bits.symbol(data[at].into());
            at += 1;
        }
    }
    bits.symbol(END_OF_BLOCK);
    bits.finish()
}

/// Packs bits least-significant first, as deflate requires.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    pending: u32,
    pending_bits: u32,
}

impl BitWriter {
    fn write(&mut self, value: u32, count: u32) {
        for bit in 0..count {
            self.pending |= ((value >> bit) & 1) << self.pending_bits;
            self.pending_bits += 1;
            if self.pending_bits == 8 {
                self.out.push(self.pending as u8);
                self.pending = 0;
                self.pending_bits = 0;
            }
        }
    }

    /// Huffman codes go out most-significant bit first, unlike every other field.
    fn huffman(&mut self, code: u32, length: u32) {
        for bit in (0..length).rev() {
            self.write((code >> bit) & 1, 1);
        }
    }

    /// A literal/length symbol in the fixed code of RFC 1951 section 3.2.6.
    fn symbol(&mut self, symbol: u16) {
        let symbol = u32::from(symbol);
        match symbol {
            0..=143 => self.huffman(0x30 + symbol, 8),
            144..=255 => self.huffman(0x190 + symbol - 144, 9),
            256..=279 => self.huffman(symbol - 256, 7),
            _ => self.huffman(0xC0 + symbol - 280, 8),
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.pending_bits > 0 {
            self.out.push(self.pending as u8);
        }
        self.out
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A decoded PNG: what the IHDR says and the raw scanlines the IDAT inflates to.
    pub struct Decoded {
        pub width: u32,
        pub height: u32,
        pub color_type: u8,
        pub idat: Vec<u8>,
        pub scanlines: Vec<u8>,
    }

    /// Parses a PNG as this encoder writes it, checking the signature, every chunk's CRC,
    /// the zlib header and the Adler-32 of the inflated data.
    pub fn decode(png: &[u8]) -> Decoded {
        assert_eq!(png[..8], SIGNATURE, "PNG signature");
        let mut at = 8;
        let mut chunks = Vec::new();
        while at < png.len() {
            let length = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let body = &png[at + 4..at + 8 + length];
            let stored_crc =
                u32::from_be_bytes(png[at + 8 + length..at + 12 + length].try_into().unwrap());
            assert_eq!(
                crc32(body),
                stored_crc,
                "CRC of chunk {:?}",
                String::from_utf8_lossy(&body[..4])
            );
            chunks.push((body[..4].to_vec(), body[4..].to_vec()));
            at += 12 + length;
        }
        let kinds: Vec<&[u8]> = chunks.iter().map(|(kind, _)| kind.as_slice()).collect();
        assert_eq!(kinds, [b"IHDR".as_slice(), b"IDAT", b"IEND"]);
        let header = &chunks[0].1;
        let idat = chunks[1].1.clone();
        assert_eq!(idat[..2], [0x78, 0x01], "zlib header");
        let scanlines = inflate(&idat[2..idat.len() - 4]);
        assert_eq!(
            idat[idat.len() - 4..],
            adler32(&scanlines).to_be_bytes(),
            "Adler-32"
        );
        Decoded {
            width: u32::from_be_bytes(header[0..4].try_into().unwrap()),
            height: u32::from_be_bytes(header[4..8].try_into().unwrap()),
            color_type: header[9],
            idat,
            scanlines,
        }
    }

    /// Inflates fixed-Huffman blocks: enough to read back what `deflate` writes,
    /// written from RFC 1951 rather than from the encoder so a shared misreading shows.
    fn inflate(stream: &[u8]) -> Vec<u8> {
        const DISTANCE_BASE: [usize; 30] = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        let mut position = 0usize; // in bits
        let bit = |position: &mut usize| {
            let value = (stream[*position / 8] >> (*position % 8)) & 1;
            *position += 1;
            u32::from(value)
        };
        let mut out = Vec::new();
        loop {
            let last = bit(&mut position) == 1;
            let kind = bit(&mut position) | bit(&mut position) << 1;
            match kind {
                1 => loop {
                    let mut code = 0u32;
                    let mut length = 0;
                    let symbol = loop {
                        code = code << 1 | bit(&mut position);
                        length += 1;
                        match (length, code) {
                            (7, 0..=0x17) => break code + 256,
                            (8, 0x30..=0xBF) => break code - 0x30,
                            (8, 0xC0..=0xC7) => break code - 0xC0 + 280,
                            (9, 0x190..=0x1FF) => break code - 0x190 + 144,
                            (9, _) => panic!("invalid fixed Huffman code {code:#x}"),
                            _ => {}
                        }
                    };
                    let read = |count: u32, position: &mut usize| {
                        (0..count).map(|i| bit(position) << i).sum::<u32>() as usize
                    };
                    match symbol {
                        0..=255 => out.push(symbol as u8),
                        256 => break,
                        _ => {
                            let index = (symbol - 257) as usize;
                            let extra = read(LENGTH_EXTRA_BITS[index].into(), &mut position);
                            let length = LENGTH_BASE[index] as usize + extra;
                            let code =
                                (0..5).fold(0, |code, _| code << 1 | bit(&mut position)) as usize;
                            let extra_bits = if code < 4 { 0 } else { code as u32 / 2 - 1 };
                            let distance = DISTANCE_BASE[code] + read(extra_bits, &mut position);
                            assert!(distance <= out.len(), "distance reaches before the start");
                            for _ in 0..length {
                                out.push(out[out.len() - distance]);
                            }
                        }
                    }
                },
                _ => panic!("unexpected block type {kind}"),
            }
            if last {
                return out;
            }
        }
    }

    fn gradient(width: u32, height: u32) -> Vec<u8> {
        // Runs of equal pixels (exercising matches of every length) mixed with changes.
        (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                [
                    (x / 7) as u8,
                    (y * 3) as u8,
                    if x % 50 < 40 { 200 } else { (x ^ y) as u8 },
                ]
            })
            .collect()
    }

    #[test]
    fn checksums_match_known_values() {
        // Reference values from zlib's crc32/adler32.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(&[]), 1);
    }

    #[test]
    fn png_has_signature_header_and_valid_chunk_crcs() {
        let png = encode_rgb(640, 3, &gradient(640, 3));
        let decoded = decode(&png);
        assert_eq!(
            (decoded.width, decoded.height, decoded.color_type),
            (640, 3, 2)
        );
    }

    #[test]
    fn corrupted_chunk_fails_its_crc() {
        let mut png = encode_rgb(4, 4, &gradient(4, 4));
        png[16] ^= 1; // inside the IHDR width
        let result = std::panic::catch_unwind(|| decode(&png));
        assert!(result.is_err());
    }

    #[test]
    fn pixels_round_trip_through_deflate() {
        for (width, height) in [(1, 1), (2, 1), (300, 200), (1000, 4)] {
            let rgb = gradient(width, height);
            let decoded = decode(&encode_rgb(width, height, &rgb));
            assert_eq!(
                decoded.scanlines,
                scanlines(width, &rgb),
                "{width}x{height}"
            );
        }
    }

    #[test]
    fn flat_images_compress_well() {
        let white = vec![255; 1000 * 500 * 3];
        let png = encode_rgb(1000, 500, &white);
        assert!(png.len() < 20_000, "{} bytes", png.len());
        assert_eq!(decode(&png).scanlines, scanlines(1000, &white));
    }

    /// An independent inflater: Python's zlib, when python3 is installed.
    #[test]
    fn python_zlib_inflates_the_idat_stream() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let rgb = gradient(300, 200);
        let idat = decode(&encode_rgb(300, 200, &rgb)).idat;
        let script =
            "import sys, zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))";
        let Ok(mut python) = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        else {
            eprintln!("python3 not available; skipping the cross-check");
            return;
        };
        python.stdin.take().unwrap().write_all(&idat).unwrap();
        let output = python.wait_with_output().unwrap();
        assert!(output.status.success(), "python's zlib rejected the stream");
        assert_eq!(output.stdout, scanlines(300, &rgb));
    }
}
