//! Small building blocks of the simulation: a deterministic PRNG (splitmix64 seeding a
//! xoshiro256**), UTC calendar arithmetic without chrono on the hot path, the time renderings
//! each log family prints, UUIDs and the unpadded base64 that dCache session ids use.

use std::fmt::Write as _;

/// xoshiro256** seeded through splitmix64: fast, small, and identical on every platform.
#[derive(Debug, Clone)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// A generator whose whole future is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut mix = seed;
        let mut next = || {
            mix = mix.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = mix;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            state: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform in `0..n` (`n > 0`); the tiny modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.next_u64() % n
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        debug_assert!(high >= low);
        low + self.below((high - low + 1) as u64) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An exponential inter-arrival time in milliseconds with the given mean.
    pub fn exp_ms(&mut self, mean_ms: f64) -> i64 {
        let u = 1.0 - self.unit();
        ((-u.ln()) * mean_ms).max(1.0) as i64
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A random version-4 UUID in its canonical lower-case form.
    pub fn uuid(&mut self) -> String {
        let mut out = String::with_capacity(36);
        self.write_uuid(&mut out);
        out
    }

    /// Appends a random version-4 UUID to `out`.
    pub fn write_uuid(&mut self, out: &mut String) {
        let high = self.next_u64();
        let low = self.next_u64();
        let a = (high >> 32) as u32;
        let b = (high >> 16) as u16;
        let c = (high as u16 & 0x0fff) | 0x4000;
        let d = ((low >> 48) as u16 & 0x3fff) | 0x8000;
        let e = low & 0xffff_ffff_ffff;
        let _ = write!(out, "{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}");
    }

    /// `n` random lower-case hex digits appended to `out`.
    pub fn write_hex(&mut self, out: &mut String, n: usize) {
        let mut left = n;
        while left > 0 {
            let take = left.min(16);
            let value = self.next_u64() >> (64 - 4 * take as u32);
            let _ = write!(out, "{value:0width$x}", width = take);
            left -= take;
        }
    }

    /// `n` random lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n);
        self.write_hex(&mut out, n);
        out
    }
}

/// Milliseconds since the Unix epoch, UTC.
pub type Ms = i64;

/// One minute, hour, day in milliseconds.
pub const MINUTE: Ms = 60_000;
/// One hour in milliseconds.
pub const HOUR: Ms = 60 * MINUTE;
/// One day in milliseconds.
pub const DAY: Ms = 24 * HOUR;

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tm {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
}

impl Tm {
    /// Breaks `ms` down (Howard Hinnant's days-to-civil).
    pub fn from_ms(ms: Ms) -> Tm {
        let days = ms.div_euclid(DAY);
        let rest = ms.rem_euclid(DAY);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Tm {
            year,
            month,
            day,
            hour: (rest / HOUR) as u32,
            minute: (rest % HOUR / MINUTE) as u32,
            second: (rest % MINUTE / 1000) as u32,
            milli: (rest % 1000) as u32,
        }
    }

    /// `2025-03-14 09:12:03` (ARC, HTCondor ISO_DATE event log).
    pub fn date_time(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
    }

    /// `2025-03-14 09:12:03.396` (Spring Boot / IAM).
    pub fn iam(&self, out: &mut String) {
        self.date_time(out);
        let _ = write!(out, ".{:03}", self.milli);
    }

    /// `2025-03-14 09:12:03,396` (Keycloak).
    pub fn keycloak(&self, out: &mut String) {
        self.date_time(out);
        let _ = write!(out, ",{:03}", self.milli);
    }

    /// `03/14/25 09:12:03` (HTCondor daemon logs).
    pub fn condor(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}/{:02}/{:02} {:02}:{:02}:{:02}",
            self.month,
            self.day,
            self.year % 100,
            self.hour,
            self.minute,
            self.second
        );
    }

    /// `2025-03-14T09:12:03.396+0000` (dCache access log, zone without colon).
    pub fn dcache(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.milli
        );
    }

    /// `03.14 09:12:03` (dCache billing, no year).
    pub fn billing(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}.{:02} {:02}:{:02}:{:02}",
            self.month, self.day, self.hour, self.minute, self.second
        );
    }

    /// `250314 09:12:03` (XRootD).
    pub fn xrootd(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}{:02}{:02} {:02}:{:02}:{:02}",
            self.year % 100,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second
        );
    }

    /// `2025-03-14T09:12:03.396Z` (StoRM, truth file).
    pub fn iso_z_ms(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.milli
        );
    }

    /// `20250314091203Z` (ARC MDSTime).
    pub fn mds(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
    }
}

/// RFC 3339 UTC with milliseconds, as the truth file and the JSON API print times.
pub fn rfc3339(ms: Ms) -> String {
    let mut out = String::with_capacity(24);
    Tm::from_ms(ms).iso_z_ms(&mut out);
    out
}

/// Standard base64 without padding, as dCache renders its 8-byte session counters.
pub fn base64_unpadded(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaks_down_epoch_milliseconds() {
        // 2025-03-14 09:12:03.396 UTC, the IAM example's timestamp.
        let tm = Tm::from_ms(1_741_943_523_396);
        let mut s = String::new();
        tm.iam(&mut s);
        assert_eq!(s, "2025-03-14 09:12:03.396");
        s.clear();
        tm.condor(&mut s);
        assert_eq!(s, "03/14/25 09:12:03");
        s.clear();
        tm.xrootd(&mut s);
        assert_eq!(s, "250314 09:12:03");
    }

    #[test]
    fn encodes_dcache_session_counter() {
        let mut s = String::new();
        base64_unpadded(&0x0006_1AB0_2B40_2BC0u64.to_be_bytes(), &mut s);
        assert_eq!(s, "AAYasCtAK8A");
    }

    #[test]
    fn rng_is_deterministic_and_uuids_are_v4() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let id = a.uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
