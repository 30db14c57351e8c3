//! Content-defined chunking with a Rabin fingerprint over a 64-byte window, exactly as
//! restic's chunker does it, so that the same polynomial cuts the same data at the same
//! places (512 KiB minimum, 8 MiB maximum, 1 MiB average).

use std::io::{self, Read};

pub const MIN_SIZE: usize = 512 * 1024;
pub const MAX_SIZE: usize = 8 * 1024 * 1024;
const WINDOW: usize = 64;
const AVERAGE_BITS: u32 = 20;
const READ_SIZE: usize = 512 * 1024;

/// Chunk size limits. Any sizes make a valid repository (restic reads blobs of any
/// size); only data cut with the same polynomial *and* sizes deduplicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkSizes {
    pub min: usize,
    pub max: usize,
    /// A cut where the low `average_bits` bits of the fingerprint are zero: chunks of
    /// about `min + 2^average_bits` bytes on random data.
    pub average_bits: u32,
}

impl ChunkSizes {
    /// restic's: files chunked by bunker and restic deduplicate against each other.
    pub const RESTIC: ChunkSizes = ChunkSizes {
        min: MIN_SIZE,
        max: MAX_SIZE,
        average_bits: AVERAGE_BITS,
    };
    /// For database dumps, which change in small places (a header timestamp, the rows
    /// appended at a table's end): smaller chunks store less around each change. Not
    /// smaller still, because each blob is compressed on its own and dump data
    /// compresses better in larger pieces (docs/benchmarks.md has the measurements).
    pub const DUMPS: ChunkSizes = ChunkSizes {
        min: 128 * 1024,
        max: 2 * 1024 * 1024,
        average_bits: 18,
    };
}

impl Default for ChunkSizes {
    fn default() -> Self {
        ChunkSizes::RESTIC
    }
}

/// A polynomial over GF(2), bit i is the coefficient of x^i.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polynomial(pub u64);

impl Polynomial {
    fn deg(x: u128) -> i32 {
        127 - x.leading_zeros() as i32
    }

    fn modulo(mut x: u128, d: u128) -> u128 {
        let dd = Self::deg(d);
        while Self::deg(x) >= dd {
            x ^= d << (Self::deg(x) - dd);
        }
        x
    }

    fn mul(a: u128, b: u128) -> u128 {
        let mut r = 0u128;
        for i in 0..=Self::deg(b).max(0) {
            if b & (1 << i) != 0 {
                r ^= a << i;
            }
        }
        r
    }

    fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
        Self::modulo(Self::mul(a as u128, b as u128), m as u128) as u64
    }

    fn gcd(mut a: u64, mut b: u64) -> u64 {
        while b != 0 {
            let r = Self::modulo(a as u128, b as u128) as u64;
            a = b;
            b = r;
        }
        a
    }

    /// Ben-Or's test: irreducible iff gcd(f, x^(2^i) - x mod f) = 1 for i up to deg/2.
    pub fn is_irreducible(self) -> bool {
        let f = self.0;
        let deg = Self::deg(f as u128);
        for i in 1..=deg / 2 {
            // x^(2^i) mod f by repeated squaring, then + x.
            let mut r = 2u64;
            for _ in 0..i {
                r = Self::mul_mod(r, r, f);
            }
            let q = Self::modulo((r ^ 2) as u128, f as u128) as u64;
            if Self::gcd(f, q) != 1 {
                return false;
            }
        }
        true
    }

    /// A random irreducible polynomial of degree 53, as `restic init` chooses one.
    pub fn random() -> Polynomial {
        loop {
            let f = (rand::random::<u64>() & ((1 << 54) - 1)) | (1 << 53) | 1;
            if Polynomial(f).is_irreducible() {
                return Polynomial(f);
            }
        }
    }

    pub fn to_hex(self) -> String {
        format!("{:x}", self.0)
    }
}

/// Lookup tables derived from the polynomial. Computing them costs ~16k polynomial
/// reductions, so a repository computes them once and every chunker shares them.
#[derive(Clone)]
pub struct Tables {
    out: [u64; 256],
    modt: [u64; 256],
    shift: u32,
}

impl Tables {
    pub fn new(pol: Polynomial) -> Tables {
        let p = pol.0 as u128;
        let k = Polynomial::deg(p);
        let append = |h: u64, b: u8| Polynomial::modulo(((h as u128) << 8) | b as u128, p) as u64;
        let mut out = [0u64; 256];
        let mut modt = [0u64; 256];
        for b in 0..256usize {
            let mut h = append(0, b as u8);
            for _ in 0..WINDOW - 1 {
                h = append(h, 0);
            }
            out[b] = h;
            modt[b] = (Polynomial::modulo((b as u128) << k, p) | ((b as u128) << k)) as u64;
        }
        Tables {
            out,
            modt,
            shift: (k - 8) as u32,
        }
    }
}

/// Splits a byte stream into chunks. Each call to [`Chunker::next_chunk`] returns the
/// next chunk's bytes; memory is one read buffer plus the chunk being built.
pub struct Chunker<'t, R> {
    rd: R,
    tables: &'t Tables,
    buf: Vec<u8>,
    bpos: usize,
    bmax: usize,
    eof: bool,
    window: [u8; WINDOW],
    wpos: usize,
    digest: u64,
    count: usize,
    pre: usize,
    split_mask: u64,
    sizes: ChunkSizes,
}

impl<'t, R: Read> Chunker<'t, R> {
    /// `size_hint` (the file size, when known) keeps the read buffer small for small files.
    pub fn new(rd: R, tables: &'t Tables, size_hint: Option<u64>) -> Self {
        Self::with_sizes(rd, tables, size_hint, ChunkSizes::RESTIC)
    }

    /// A chunker with other size limits than restic's.
    pub fn with_sizes(
        rd: R,
        tables: &'t Tables,
        size_hint: Option<u64>,
        sizes: ChunkSizes,
    ) -> Self {
        let buf_len = size_hint.map_or(READ_SIZE, |n| {
            (n as usize).saturating_add(1).clamp(4096, READ_SIZE)
        });
        let mut c = Chunker {
            rd,
            tables,
            buf: vec![0; buf_len],
            bpos: 0,
            bmax: 0,
            eof: false,
            window: [0; WINDOW],
            wpos: 0,
            digest: 0,
            count: 0,
            pre: 0,
            split_mask: (1 << sizes.average_bits) - 1,
            sizes,
        };
        c.reset();
        c
    }

    fn reset(&mut self) {
        self.window = [0; WINDOW];
        self.wpos = 0;
        self.count = 0;
        self.digest = 0;
        // restic slides a single 1 byte in before a chunk starts.
        self.digest = self.slide(0, 1);
        self.pre = self.sizes.min - WINDOW;
    }

    #[inline(always)]
    fn slide(&mut self, mut digest: u64, b: u8) -> u64 {
        let out = self.window[self.wpos];
        self.window[self.wpos] = b;
        digest ^= self.tables.out[out as usize];
        self.wpos = (self.wpos + 1) % WINDOW;
        let index = (digest >> self.tables.shift) as usize & 0xff;
        digest = (digest << 8) | b as u64;
        digest ^ self.tables.modt[index]
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut n = 0;
        while n < self.buf.len() {
            match self.rd.read(&mut self.buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.bpos = 0;
        self.bmax = n;
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// The next chunk, or `None` at the end of the stream. `data` is cleared and filled.
    pub fn next_chunk(&mut self, data: &mut Vec<u8>) -> io::Result<bool> {
        data.clear();
        loop {
            if self.bpos >= self.bmax {
                if self.eof {
                    return Ok(false);
                }
                self.fill()?;
                if self.eof {
                    let had = self.count > 0;
                    self.reset();
                    return Ok(had);
                }
            }
            if self.pre > 0 {
                let n = (self.bmax - self.bpos).min(self.pre);
                data.extend_from_slice(&self.buf[self.bpos..self.bpos + n]);
                self.bpos += n;
                self.count += n;
                self.pre -= n;
                continue;
            }
            let start = self.bpos;
            let mut digest = self.digest;
            let mut cut = None;
            for i in start..self.bmax {
                let b = self.buf[i];
                digest = self.slide(digest, b);
                let add = self.count + (i - start) + 1;
                if add < self.sizes.min {
                    continue;
                }
                if digest & self.split_mask == 0 || add >= self.sizes.max {
                    cut = Some(i + 1);
                    break;
                }
            }
            match cut {
                Some(end) => {
                    data.extend_from_slice(&self.buf[start..end]);
                    self.bpos = end;
                    self.reset();
                    return Ok(true);
                }
                None => {
                    data.extend_from_slice(&self.buf[start..self.bmax]);
                    self.count += self.bmax - start;
                    self.bpos = self.bmax;
                    self.digest = digest;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    #[test]
    fn restic_test_polynomial_is_irreducible() {
        // The polynomial restic's chunker tests use.
        assert!(Polynomial(0x3DA3358B4DC173).is_irreducible());
        // x^2 + 1 = (x + 1)^2 is reducible.
        assert!(!Polynomial(0b101).is_irreducible());
        let p = Polynomial::random();
        assert_eq!(63 - p.0.leading_zeros(), 53);
    }

    #[test]
    fn chunks_cover_input_within_bounds_and_are_content_defined() {
        let data = pseudo_random(20 * 1024 * 1024, 7);
        let pol = Polynomial(0x3DA3358B4DC173);
        let tables = Tables::new(pol);
        let cut = |d: &[u8]| {
            let mut c = Chunker::new(d, &tables, None);
            let mut buf = Vec::new();
            let mut out = Vec::new();
            while c.next_chunk(&mut buf).unwrap() {
                out.push(buf.clone());
            }
            out
        };
        let chunks = cut(&data);
        assert!(chunks.len() > 5);
        assert_eq!(chunks.concat(), data);
        for c in &chunks[..chunks.len() - 1] {
            assert!(c.len() >= MIN_SIZE && c.len() <= MAX_SIZE);
        }
        // Inserting bytes at the front changes only the first chunks.
        let mut shifted = b"a few new bytes".to_vec();
        shifted.extend_from_slice(&data);
        let later = cut(&shifted);
        let same = chunks.iter().filter(|c| later.contains(c)).count();
        assert!(same >= chunks.len() - 2, "{same} of {}", chunks.len());
    }

    #[test]
    fn empty_and_small_inputs() {
        let tables = Tables::new(Polynomial(0x3DA3358B4DC173));
        let mut buf = Vec::new();
        assert!(!Chunker::new(&b""[..], &tables, Some(0))
            .next_chunk(&mut buf)
            .unwrap());
        let mut c = Chunker::new(&b"tiny"[..], &tables, Some(4));
        assert!(c.next_chunk(&mut buf).unwrap());
        assert_eq!(buf, b"tiny");
        assert!(!c.next_chunk(&mut buf).unwrap());
    }
}
