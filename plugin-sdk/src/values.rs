//! Typed scalar values as models see them: dates, fixed-point decimals and pseudonyms, and a
//! hash map keyed by pseudonyms.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A calendar date, stored as days since 1970-01-01 like the contract's `date` columns.
///
/// ```
/// use supervise_sdk::Date;
/// let d = Date::from_ymd(2024, 3, 2).unwrap();
/// assert_eq!(d.to_string(), "2024-03-02");
/// assert_eq!(d.add_days(31).to_string(), "2024-04-02");
/// assert_eq!("2024-03-02".parse::<Date>().unwrap(), d);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Date(pub i32);

impl Date {
    /// The date for a year, month (1–12) and day (1–31); `None` when it does not exist.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Days from civil, after H. Hinnant's public-domain algorithm.
        let y = i64::from(year) - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        i32::try_from(era * 146_097 + doe - 719_468).ok().map(Date)
    }

    /// The (year, month, day) of this date.
    pub fn ymd(self) -> (i32, u32, u32) {
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        (year, month, day)
    }

    /// This date moved by `days` (negative moves back).
    pub fn add_days(self, days: i32) -> Date {
        Date(self.0.saturating_add(days))
    }

    /// Whole days from `earlier` to this date (negative when `earlier` is later).
    pub fn days_since(self, earlier: Date) -> i32 {
        self.0 - earlier.0
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        // Years 0–9999 (every real one) are written digit by digit: in the sandbox the
        // formatting machinery's calls cost more than the date's arithmetic (session 23).
        match u32::try_from(y) {
            Ok(year) if year <= 9999 => {
                let mut out = *b"0000-00-00";
                put_digits(&mut out[..4], year);
                put_digits(&mut out[5..7], m);
                put_digits(&mut out[8..], d);
                // The buffer holds ASCII digits and dashes only.
                f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
            }
            _ => write!(f, "{y:04}-{m:02}-{d:02}"),
        }
    }
}

/// Writes `value`'s last `out.len()` decimal digits into `out`, zero-padded.
fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl std::str::FromStr for Date {
    type Err = String;

    /// Parses `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a date in YYYY-MM-DD form");
        let mut parts = s.trim().splitn(3, '-');
        let mut next = || parts.next().ok_or_else(bad);
        let (y, m, d) = (next()?, next()?, next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let y = y.parse().map_err(|_| bad())?;
        let m = m.parse().map_err(|_| bad())?;
        let d = d.parse().map_err(|_| bad())?;
        Date::from_ymd(y, m, d).ok_or_else(bad)
    }
}

/// A fixed-point decimal: a count of ten-thousandths, like the contract's `decimal` columns,
/// so that sums of money are exact.
///
/// ```
/// use supervise_sdk::Decimal;
/// let total = Decimal::from_units(3_200) + Decimal::from_units(9_600);
/// assert_eq!(total.to_money(), "12,800.00");
/// assert_eq!("3200.5".parse::<Decimal>().unwrap(), Decimal(32_005_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Decimal(pub i64);

impl Decimal {
    /// Ten-thousandths in one unit.
    pub const SCALE: i64 = 10_000;

    /// A whole number of units (yuan, for money).
    pub fn from_units(units: i64) -> Decimal {
        Decimal(units.saturating_mul(Self::SCALE))
    }

    /// The value as a float, for scores and ratios (not for sums).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / Self::SCALE as f64
    }

    /// Two decimals with thousands separators: `12,800.00`.
    pub fn to_money(self) -> String {
        let cents = (i128::from(self.0) + if self.0 < 0 { -50 } else { 50 }) / 100;
        let (sign, cents) = if cents < 0 {
            ("-", -cents)
        } else {
            ("", cents)
        };
        // Built by hand rather than through `format!`, whose calls cost more in the
        // sandbox than the digits do (session 23).
        let mut digits = [0u8; 40];
        let mut n = digits.len();
        let mut units = cents / 100;
        loop {
            n -= 1;
            digits[n] = b'0' + (units % 10) as u8;
            units /= 10;
            if units == 0 {
                break;
            }
        }
        let units = &digits[n..];
        let mut out = String::with_capacity(sign.len() + units.len() * 4 / 3 + 3);
        out.push_str(sign);
        for (i, &c) in units.iter().enumerate() {
            if i > 0 && (units.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(char::from(c));
        }
        let fraction = (cents % 100) as u8;
        out.push('.');
        out.push(char::from(b'0' + fraction / 10));
        out.push(char::from(b'0' + fraction % 10));
        out
    }
}

impl std::ops::Add for Decimal {
    type Output = Decimal;
    fn add(self, rhs: Decimal) -> Decimal {
        Decimal(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::AddAssign for Decimal {
    fn add_assign(&mut self, rhs: Decimal) {
        *self = *self + rhs;
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (units, frac) = (abs / Self::SCALE as u64, abs % Self::SCALE as u64);
        if frac == 0 {
            write!(f, "{sign}{units}")
        } else {
            let frac = format!("{frac:04}");
            write!(f, "{sign}{units}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl std::str::FromStr for Decimal {
    type Err = String;

    /// Parses `-123.4567`: at most four decimals.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a decimal with at most 4 decimals");
        let t = s.trim();
        let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || frac.len() > 4 || !all_digits(int) || !all_digits(frac) {
            return Err(bad());
        }
        let int: i64 = int.parse().map_err(|_| bad())?;
        let frac: i64 = format!("{frac:0<4}").parse().map_err(|_| bad())?;
        let v = int
            .checked_mul(Self::SCALE)
            .and_then(|v| v.checked_add(frac))
            .ok_or_else(bad)?;
        Ok(Decimal(if neg { -v } else { v }))
    }
}

/// A pseudonymised personal identifier: the host's 128-bit keyed hash of the normalised
/// identifier, as (high, low) words. Equal identifiers give equal pseudonyms in every dataset,
/// so models join on them; only the dashboard can turn one back into a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Pseudonym(pub [u64; 2]);

impl Pseudonym {
    /// The 32 hex digits, high word first: the form used in subject ids and dedup keys.
    pub fn to_hex(self) -> String {
        // The digits are ASCII, so the check passes; it is one pass over 32 bytes, where
        // pushing them as chars one by one costs several times that in the sandbox.
        String::from_utf8(self.hex_digits().to_vec()).unwrap_or_default()
    }

    /// The 32 hex digits as bytes, written from a table: in the sandbox `format!`'s calls
    /// cost several times the digits' work (session 23).
    fn hex_digits(self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (word, half) in self.0.iter().zip(out.chunks_exact_mut(16)) {
            for (i, slot) in half.iter_mut().enumerate() {
                *slot = DIGITS[((word >> (60 - 4 * i)) & 0xf) as usize];
            }
        }
        out
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex_digits();
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl Hash for Pseudonym {
    /// Pseudonyms are keyed hashes already, uniformly distributed: one word is a perfect hash.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[1]);
    }
}

/// A hasher for keys that are already uniformly distributed (pseudonyms): it passes the
/// last `u64` written through, and falls back to FNV-1a for anything else.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A `HashMap` keyed by pseudonyms, with the pass-through hasher: the fast way to join.
pub type PseudonymMap<V> = HashMap<Pseudonym, V, BuildHasherDefault<PassThroughHasher>>;

/// A `HashSet` of pseudonyms, with the pass-through hasher.
pub type PseudonymSet = HashSet<Pseudonym, BuildHasherDefault<PassThroughHasher>>;

/// A quick "certainly not" in front of a [`PseudonymMap`] or [`PseudonymSet`] when most
/// look-ups miss (scanning every payment for the few people who died): one bit per slot of a
/// bitmap indexed by the pseudonym's low bits, so a miss costs one memory read instead of a
/// probe of the map. [`PseudonymFilter::may_contain`] is true for every pseudonym inserted and
/// false for nearly all others (about one in 16 false positives at most); check the map on
/// true.
///
/// ```
/// # use supervise_sdk::{Pseudonym, PseudonymFilter};
/// let dead = [Pseudonym([1, 2]), Pseudonym([3, 4])];
/// let filter: PseudonymFilter = dead.iter().copied().collect();
/// assert!(filter.may_contain(Pseudonym([3, 4])));
/// ```
#[derive(Debug, Clone)]
pub struct PseudonymFilter {
    bits: Vec<u64>,
    mask: u64,
}

impl PseudonymFilter {
    /// A filter sized for `n` pseudonyms: 16 bits each (at least 4,096 bits).
    pub fn with_capacity(n: usize) -> Self {
        let slots = (n.saturating_mul(16)).next_power_of_two().max(4096);
        PseudonymFilter {
            bits: vec![0; slots / 64],
            mask: slots as u64 - 1,
        }
    }

    fn slot(&self, p: Pseudonym) -> (usize, u64) {
        // The low word is a keyed hash already: its low bits are uniform.
        let i = p.0[1] & self.mask;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Adds a pseudonym.
    pub fn insert(&mut self, p: Pseudonym) {
        let (word, bit) = self.slot(p);
        self.bits[word] |= bit;
    }

    /// False when `p` was certainly never inserted.
    #[inline]
    pub fn may_contain(&self, p: Pseudonym) -> bool {
        let (word, bit) = self.slot(p);
        self.bits[word] & bit != 0
    }
}

impl FromIterator<Pseudonym> for PseudonymFilter {
    fn from_iter<I: IntoIterator<Item = Pseudonym>>(iter: I) -> Self {
        let all: Vec<Pseudonym> = iter.into_iter().collect();
        let mut filter = PseudonymFilter::with_capacity(all.len());
        all.into_iter().for_each(|p| filter.insert(p));
        filter
    }
}

/// A fast hasher for short text keys (codes, numbers, normalised addresses): eight bytes
/// at a time, rotate, xor and multiply (the Fx scheme rustc uses for its own tables). In the
/// sandbox, a `BTreeMap<String, _>` compares keys byte by byte with no vector instructions; a
/// hash map over this does one pass of word arithmetic per look-up. Not resistant to chosen
/// collisions: a dataset built to collide only slows its own run, which fuel and the deadline
/// bound.
#[derive(Debug, Default, Clone, Copy)]
pub struct TextHasher(u64);

impl TextHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for TextHasher {
    fn finish(&self) -> u64 {
        // The table takes its bucket from the low bits, which the multiplies leave poorly
        // mixed: fold the full 128-bit product so that every bit reaches them.
        let full = u128::from(self.0).wrapping_mul(u128::from(Self::K));
        (full as u64) ^ ((full >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            self.add(u64::from_le_bytes(a));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut a = [0u8; 8];
            a[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(a) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A `HashMap` keyed by text (`String` or a borrowed `&str`, looked up by `&str`), with
/// [`TextHasher`].
pub type TextMap<K, V> = HashMap<K, V, BuildHasherDefault<TextHasher>>;

/// A `HashSet` of text, with [`TextHasher`].
pub type TextSet<K> = HashSet<K, BuildHasherDefault<TextHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64, for values spread over the whole range.
    fn spread(n: u64) -> impl Iterator<Item = u64> {
        (1..=n).map(|i| {
            let mut z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    }

    #[test]
    fn hand_written_text_equals_the_formatting_machinery() {
        let edges = [0, 1, u64::MAX, 1 << 63, 0xf, 0xf << 60];
        for (high, low) in spread(2_000)
            .zip(spread(2_001).skip(1))
            .chain(edges.map(|e| (e, !e)))
        {
            let p = Pseudonym([high, low]);
            let expected = format!("{high:016x}{low:016x}");
            assert_eq!(p.to_hex(), expected);
            assert_eq!(p.to_string(), expected);
        }
        // Every seventh day of years 0 to 9999 is written by hand; beyond them, by `write!`.
        let first = Date::from_ymd(0, 1, 1).unwrap().0;
        let last = Date::from_ymd(9999, 12, 31).unwrap().0;
        for days in (first - 800..=last + 800)
            .step_by(7)
            .chain([first, last, i32::MIN, i32::MAX])
        {
            let (y, m, d) = Date(days).ymd();
            assert_eq!(
                Date(days).to_string(),
                format!("{y:04}-{m:02}-{d:02}"),
                "{days}"
            );
        }
        let money = |v: i64| {
            let cents = (i128::from(v) + if v < 0 { -50 } else { 50 }) / 100;
            let (sign, cents) = if cents < 0 {
                ("-", -cents)
            } else {
                ("", cents)
            };
            let units = (cents / 100).to_string();
            let mut grouped = String::new();
            for (i, c) in units.chars().enumerate() {
                if i > 0 && (units.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            format!("{sign}{grouped}.{:02}", cents % 100)
        };
        let edges = [
            0,
            49,
            50,
            -49,
            -50,
            9_999,
            10_000,
            999_999_950,
            i64::MAX,
            i64::MIN,
            -1,
        ];
        for v in spread(5_000)
            .flat_map(|x| [x as i64, (x >> 20) as i64, -((x >> 30) as i64)])
            .chain(edges)
        {
            assert_eq!(Decimal(v).to_money(), money(v), "{v}");
        }
        assert_eq!(Decimal(-1_234_567_895_000).to_money(), "-123,456,789.50");
    }

    #[test]
    fn a_pseudonym_filter_never_misses_and_rarely_lets_others_through() {
        // Pseudonyms are uniform; a multiplicative sequence stands in for them.
        let p = |i: u64| Pseudonym([i, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)]);
        let filter: PseudonymFilter = (0..1000).map(p).collect();
        assert!((0..1000).all(|i| filter.may_contain(p(i))));
        let through = (1000..101_000)
            .filter(|&i| filter.may_contain(p(i)))
            .count();
        assert!(
            through < 100_000 / 16,
            "{through} of 100,000 others let through"
        );
    }

    #[test]
    fn text_keys_hash_apart_and_find_their_values() {
        let mut map: TextMap<String, usize> = TextMap::default();
        let codes: Vec<String> = (0..10_000).map(|i| format!("91330102MA{i:08}")).collect();
        for (i, c) in codes.iter().enumerate() {
            map.insert(c.clone(), i);
        }
        assert_eq!(map.len(), codes.len());
        assert!(
            codes
                .iter()
                .enumerate()
                .all(|(i, c)| map.get(c.as_str()) == Some(&i))
        );
        assert_eq!(
            map.get("91330102MA0001000"),
            None,
            "a prefix is another key"
        );
        let hash = |s: &str| {
            let mut h = TextHasher::default();
            s.hash(&mut h);
            h.finish()
        };
        assert_ne!(hash("ab"), hash("ab\0"), "trailing zero bytes count");
        assert_ne!(hash(""), hash("\0"));
        let buckets: HashSet<u64> = codes.iter().map(|c| hash(c) & 0xfff).collect();
        assert!(
            buckets.len() > 3_500,
            "low bits spread: {} of 4096",
            buckets.len()
        );
    }

    #[test]
    fn dates_round_trip_across_eras_and_leap_days() {
        for (y, m, d, days) in [(1970, 1, 1, 0), (2000, 2, 29, 11_016), (1969, 12, 31, -1)] {
            let date = Date::from_ymd(y, m, d).unwrap();
            assert_eq!(date.0, days);
            assert_eq!(date.ymd(), (y, m, d));
        }
        assert!(Date::from_ymd(2023, 2, 29).is_none());
        assert!("2024-13-01".parse::<Date>().is_err());
    }

    #[test]
    fn decimals_parse_and_format_exactly() {
        assert_eq!("0.0001".parse::<Decimal>().unwrap(), Decimal(1));
        assert_eq!("-2.5".parse::<Decimal>().unwrap().to_string(), "-2.5");
        assert!("1.23456".parse::<Decimal>().is_err());
        assert!("1e5".parse::<Decimal>().is_err());
        assert_eq!(Decimal::from_units(1_234_567).to_money(), "1,234,567.00");
        assert_eq!(Decimal(-15_000).to_money(), "-1.50");
    }
}
