//! Keyed look-ups over stored columns, the host side of the contract's `index` resource.
//!
//! [`KeyRows`] groups the rows of one key column by key, in row order. It depends only on the
//! column, never on a run's region, so the store keeps one per chunk and key column in its
//! block cache beside the decoded columns (a committed chunk never changes) and every later
//! run looks its keys up instead of scanning. [`PartsIndex`] answers a run's look-ups over the
//! parts in its scope (a chunk each in the store, one part for an in-memory table), leaving
//! out rows outside the run's region, and returns the matches in the order a scan would.

use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};

use hashbrown::HashTable;

use crate::runtime::bindings::{Batch, Column, ColumnType, ColumnValues};
use crate::runtime::source::{ColumnRequest, KeyIndex, SourceError};

use super::columns::{ColumnBuilder, Rows, StoredColumn};
use super::region;

/// A look-up key, borrowed from a column or from the keys a model sent: text bytes, a
/// one-word value, or a pseudonym's two words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key<'a> {
    Text(&'a [u8]),
    Word(i64),
    Pair(u64, u64),
}

/// Whether a column of type `ty` can be a key (booleans and decimals cannot).
pub fn can_be_key(ty: ColumnType) -> bool {
    !matches!(ty, ColumnType::Boolean | ColumnType::Decimal)
}

/// The key of row `i` of `values`.
fn key_at(values: &ColumnValues, i: usize) -> Key<'_> {
    match values {
        ColumnValues::Text(t) => {
            Key::Text(&t.data[t.offsets[i] as usize..t.offsets[i + 1] as usize])
        }
        ColumnValues::Integer(v) | ColumnValues::Timestamp(v) | ColumnValues::Decimal(v) => {
            Key::Word(v[i])
        }
        ColumnValues::Date(v) => Key::Word(i64::from(v[i])),
        ColumnValues::Boolean(v) => Key::Word(i64::from(v[i])),
        ColumnValues::Pseudonym(v) => Key::Pair(v[2 * i], v[2 * i + 1]),
    }
}

/// The keys a model sent, checked: text offsets must start at 0, never go back and stay
/// within the data; a pseudonym list must hold whole pairs.
fn keys_sent(values: &ColumnValues) -> Result<Vec<Key<'_>>, SourceError> {
    let bad = |what: &str| Err(SourceError::MalformedKeys(what.to_string()));
    let count = match values {
        ColumnValues::Text(t) => {
            let ordered = t.offsets.windows(2).all(|w| w[0] <= w[1]);
            let in_data = t.offsets.last().is_none_or(|&l| l as usize <= t.data.len());
            if t.offsets.first().is_some_and(|&f| f != 0) || !ordered || !in_data {
                return bad(
                    "text offsets must start at 0, never decrease and stay within the data",
                );
            }
            t.offsets.len().saturating_sub(1)
        }
        ColumnValues::Integer(v) | ColumnValues::Timestamp(v) | ColumnValues::Decimal(v) => v.len(),
        ColumnValues::Date(v) => v.len(),
        ColumnValues::Boolean(v) => v.len(),
        ColumnValues::Pseudonym(v) if v.len() % 2 != 0 => {
            return bad("a pseudonym list must hold two words per key");
        }
        ColumnValues::Pseudonym(v) => v.len() / 2,
    };
    Ok((0..count).map(|i| key_at(values, i)).collect())
}

fn type_of(values: &ColumnValues) -> ColumnType {
    match values {
        ColumnValues::Text(_) => ColumnType::Text,
        ColumnValues::Integer(_) => ColumnType::Integer,
        ColumnValues::Decimal(_) => ColumnType::Decimal,
        ColumnValues::Date(_) => ColumnType::Date,
        ColumnValues::Timestamp(_) => ColumnType::Timestamp,
        ColumnValues::Boolean(_) => ColumnType::Boolean,
        ColumnValues::Pseudonym(_) => ColumnType::Pseudonym,
    }
}

/// The name under which a pseudonym column's key rows are kept beside it: a row of
/// `chunk_columns` the import writes, and a column file when the store keeps them. No model
/// can ask for it (it is no schema column).
pub fn kept_name(column: &str) -> String {
    format!("keys:{column}")
}

/// The key rows to keep beside `column`, named `name` (see [`kept_name`]): `None` unless it
/// is a pseudonym column (see [`KeyRows::to_bytes`]).
pub fn kept(name: &str, column: &StoredColumn) -> Option<(String, Vec<u8>)> {
    if !matches!(column.values, ColumnValues::Pseudonym(_)) {
        return None;
    }
    let bytes = KeyRows::build(column).to_bytes(column)?;
    Some((kept_name(name), bytes))
}

/// No further row: the end of a key's chain.
const END: u32 = u32::MAX;

/// The first bytes of kept key rows ([`KeyRows::to_bytes`]).
const KEYS_MAGIC: &[u8; 4] = b"SVK1";

/// The rows of one key column grouped by key (see the module's docs). Null keys match nothing.
///
/// Per distinct key it keeps the key's hash, first and last row, and the key itself when it
/// is a word or a pseudonym; per row, the next row with the same key. A text key is not
/// copied: a look-up finds it by its hash and confirms it against the key column at its
/// first row, so the key rows must be given the column they were built from. Nothing is
/// allocated per key.
#[derive(Debug)]
pub struct KeyRows {
    /// Per distinct key, its entry (see [`Ends`]).
    ends: HashTable<Ends>,
    /// Per row, the next row with the same key, or [`END`].
    next: Vec<u32>,
}

/// A key's hash, its value when it is a word or a pseudonym, and its first and last row.
#[derive(Debug, Clone, Copy)]
struct Ends {
    hash: u64,
    words: [u64; 2],
    first: u32,
    last: u32,
}

impl Ends {
    /// Whether this is the entry of `key` (of hash `hash`) in `column`. A text key is
    /// confirmed against the column, so it never matches without one.
    fn holds(&self, column: Option<&StoredColumn>, key: Key<'_>, hash: u64) -> bool {
        self.hash == hash
            && match key {
                Key::Text(_) => {
                    column.is_some_and(|c| key_at(&c.values, self.first as usize) == key)
                }
                Key::Word(_) | Key::Pair(..) => self.words == words(key),
            }
    }
}

/// Hashes text and word keys: one seed per process, so that a key a model sends is hashed
/// once for every part it is looked up in.
static KEY_HASHER: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);

/// A key's hash. A pseudonym is itself a keyed hash (HMAC), its bits uniform, so its two
/// words folded together serve as is; other keys go through [`KEY_HASHER`]. (Pseudonyms that
/// are not uniform would only make the table slower, never wrong: an entry is confirmed whole.)
fn hash(key: Key<'_>) -> u64 {
    match key {
        Key::Pair(a, b) => a ^ b.rotate_left(32),
        Key::Text(_) | Key::Word(_) => KEY_HASHER.hash_one(key),
    }
}

/// A word or pseudonym key's value as two words (text: zeroes; it is read from the column).
fn words(key: Key<'_>) -> [u64; 2] {
    match key {
        Key::Text(_) => [0, 0],
        Key::Word(w) => [w as u64, 0],
        Key::Pair(a, b) => [a, b],
    }
}

impl KeyRows {
    /// Groups the rows of `column` by key, one pass over it.
    pub fn build(column: &StoredColumn) -> KeyRows {
        // One loop per kind of key, so that reading, hashing and comparing a key compile to
        // that kind's code alone instead of matching on the column's type at every row.
        match &column.values {
            ColumnValues::Pseudonym(v) => {
                Self::build_with(column, |i| Key::Pair(v[2 * i], v[2 * i + 1]))
            }
            ColumnValues::Integer(v) | ColumnValues::Timestamp(v) | ColumnValues::Decimal(v) => {
                Self::build_with(column, |i| Key::Word(v[i]))
            }
            ColumnValues::Date(v) => Self::build_with(column, |i| Key::Word(i64::from(v[i]))),
            ColumnValues::Text(_) | ColumnValues::Boolean(_) => {
                Self::build_with(column, |i| key_at(&column.values, i))
            }
        }
    }

    /// [`KeyRows::build`] with `key_of(i)` the key of row `i` of `column`.
    #[inline(always)]
    fn build_with<'c>(column: &'c StoredColumn, key_of: impl Fn(usize) -> Key<'c>) -> KeyRows {
        let rows = column.len();
        let mut ends: HashTable<Ends> = HashTable::new();
        let mut next = vec![END; rows];
        for i in 0..rows {
            if !column.is_valid(i) {
                continue;
            }
            let (row, key) = (i as u32, key_of(i));
            let hash = hash(key);
            match ends.entry(hash, |e| e.holds(Some(column), key, hash), |e| e.hash) {
                hashbrown::hash_table::Entry::Occupied(mut o) => {
                    let e = o.get_mut();
                    next[e.last as usize] = row;
                    e.last = row;
                }
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(Ends {
                        hash,
                        words: words(key),
                        first: row,
                        last: row,
                    });
                }
            }
        }
        KeyRows { ends, next }
    }

    /// The rows holding `key` (of hash `hash`, see [`hash`]) in `column` (the column these key
    /// rows were built from; needed for text keys only), in row order.
    fn rows<'a>(
        &'a self,
        column: Option<&StoredColumn>,
        key: Key<'_>,
        hash: u64,
    ) -> impl Iterator<Item = u32> + 'a {
        let first = self
            .ends
            .find(hash, |e| e.holds(column, key, hash))
            .map_or(END, |e| e.first);
        // A chain only rises within the chunk: key rows read back are used as read
        // ([`KeyRows::from_bytes`]), so one that turns back or leaves the chunk ends there.
        let len = self.next.len() as u32;
        std::iter::successors((first < len).then_some(first), move |&r| {
            let n = self.next[r as usize];
            (n > r && n < len).then_some(n)
        })
    }

    /// The key rows of a pseudonym column as bytes, to be kept beside the column and read
    /// back with [`KeyRows::from_bytes`]; `None` for other columns, whose keys are hashed with
    /// a seed of this process's own (a pseudonym is its own hash, the same in every process).
    ///
    /// Layout (little-endian): `SVK1`, rows `u32`, entries `u32`, per entry its two words
    /// `u64` and its first and last row `u32`, then per row the next row `u32`.
    pub fn to_bytes(&self, column: &StoredColumn) -> Option<Vec<u8>> {
        if !matches!(column.values, ColumnValues::Pseudonym(_)) {
            return None;
        }
        let mut out = Vec::with_capacity(12 + self.ends.len() * 24 + self.next.len() * 4);
        out.extend_from_slice(KEYS_MAGIC);
        out.extend_from_slice(&(self.next.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.ends.len() as u32).to_le_bytes());
        for e in &self.ends {
            out.extend_from_slice(&e.words[0].to_le_bytes());
            out.extend_from_slice(&e.words[1].to_le_bytes());
            out.extend_from_slice(&e.first.to_le_bytes());
            out.extend_from_slice(&e.last.to_le_bytes());
        }
        for n in &self.next {
            out.extend_from_slice(&n.to_le_bytes());
        }
        Some(out)
    }

    /// Key rows kept by [`KeyRows::to_bytes`] for a pseudonym column of `rows` rows, read
    /// without the column: a look-up through pseudonym key rows never reads it, so a run
    /// that has them need not read the key column at all.
    ///
    /// What the bytes say is trusted to be what [`KeyRows::build`] made of the column when
    /// the import wrote both (their row in the column's transaction; a column file's
    /// checksum proves the file unchanged since); what is checked here is their form (magic,
    /// row count, length, each entry's ends within the chunk, no key twice), and a look-up
    /// follows a chain only while it rises within the chunk, so whatever the bytes say it
    /// returns rows of the chunk, in row order, and ends.
    /// (Walking every chain against the column, to prove more, cost about a tenth of what a
    /// first run's reading adds to a warm run's, profiled, and needed the column read.)
    pub fn from_bytes(bytes: &[u8], rows: usize) -> Result<KeyRows, String> {
        let word = |at: usize| -> u32 {
            bytes
                .get(at..at + 4)
                .map_or(END, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        if bytes.get(..4) != Some(&KEYS_MAGIC[..]) || bytes.len() < 12 {
            return Err("not kept key rows".into());
        }
        let (kept, entries) = (word(4) as usize, word(8) as usize);
        if kept != rows {
            return Err(format!("kept for {kept} rows, the chunk has {rows}"));
        }
        let next_at = entries
            .checked_mul(24)
            .and_then(|n| n.checked_add(12))
            .filter(|&at| bytes.len() == at + rows * 4)
            .ok_or("the kept key rows are not their length")?;
        let next: Vec<u32> = bytes[next_at..]
            .as_chunks::<4>()
            .0
            .iter()
            .map(|c| u32::from_le_bytes(*c))
            .collect();
        let mut ends = HashTable::with_capacity(entries);
        for (i, e) in bytes[12..next_at].as_chunks::<24>().0.iter().enumerate() {
            let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
            let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or_default());
            let (a, b) = (u64_of(&e[..8]), u64_of(&e[8..16]));
            let (first, last) = (u32_of(&e[16..20]), u32_of(&e[20..24]));
            if first as usize >= rows || last < first || last as usize >= rows {
                return Err(format!("entry {i}'s rows are not rows of the chunk"));
            }
            let hash = hash(Key::Pair(a, b));
            match ends.entry(hash, |x: &Ends| x.words == [a, b], |x: &Ends| x.hash) {
                hashbrown::hash_table::Entry::Occupied(_) => {
                    return Err(format!("entry {i} repeats a key"));
                }
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(Ends {
                        hash,
                        words: [a, b],
                        first,
                        last,
                    });
                }
            }
        }
        Ok(KeyRows { ends, next })
    }

    /// About how much memory it holds, bytes (for the cache's budget).
    pub fn heap_bytes(&self) -> usize {
        self.next.len() * 4 + self.ends.capacity() * (std::mem::size_of::<Ends>() + 1)
    }
}

/// One part of a run's index: the returned columns of a chunk (or table), its key rows, and
/// its region column when some of its rows lie outside the run's region.
#[derive(Debug)]
pub struct Part {
    /// The requested columns, in order.
    pub columns: Vec<Arc<StoredColumn>>,
    /// The key column, which `keys` was built from: needed for text keys, whose entries
    /// are confirmed against it; `None` when the keys were read back without it.
    pub key_column: Option<Arc<StoredColumn>>,
    /// The key column's rows by key.
    pub keys: Arc<KeyRows>,
    /// The region column, to leave out rows outside the run's region; `None` when all are in.
    pub region: Option<Arc<StoredColumn>>,
}

/// A run's index over its parts (see the module's docs).
#[derive(Debug)]
pub struct PartsIndex {
    columns: Vec<ColumnRequest>,
    key_type: ColumnType,
    scope: String,
    parts: Vec<Part>,
}

impl PartsIndex {
    /// An index returning `columns` (the parts' columns, in this order), keyed by a column of
    /// type `key_type`, admitting only rows under `scope`.
    pub fn new(
        columns: Vec<ColumnRequest>,
        key_type: ColumnType,
        scope: &str,
        parts: Vec<Part>,
    ) -> Self {
        PartsIndex {
            columns,
            key_type,
            scope: scope.to_string(),
            parts,
        }
    }

    /// Per part, its matching rows in row order, each with the position of its key; `None`
    /// when more than `max_rows` match.
    #[allow(clippy::type_complexity)]
    fn matches(&self, keys: &[Key<'_>], max_rows: usize) -> Option<Vec<(Vec<u32>, Vec<u32>)>> {
        let hashes: Vec<u64> = keys.iter().map(|&k| hash(k)).collect();
        let mut found = Vec::with_capacity(self.parts.len());
        let mut total = 0;
        // One buffer for every part's hits, cleared for each and starting at a row per key,
        // instead of a vector per part grown from empty row by row (an eighth of a pension
        // look-up's time in session 36's profile).
        let mut hits: Vec<(u32, u32)> = Vec::with_capacity(keys.len());
        for part in &self.parts {
            hits.clear();
            let admits = |row: u32| {
                part.region.as_ref().is_none_or(|r| {
                    r.text_at(row as usize)
                        .is_some_and(|code| region::covers(&self.scope, code))
                })
            };
            for (at, (&key, &hash)) in keys.iter().zip(&hashes).enumerate() {
                for row in part
                    .keys
                    .rows(part.key_column.as_deref(), key, hash)
                    .filter(|&r| admits(r))
                {
                    hits.push((row, at as u32));
                }
                if total + hits.len() > max_rows {
                    return None;
                }
            }
            total += hits.len();
            hits.sort_unstable();
            found.push(hits.iter().copied().unzip());
        }
        Some(found)
    }

    /// The requested columns of the matched rows of every part, one after another.
    fn gather(&self, found: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<Column>, SourceError> {
        let used: Vec<usize> = (0..found.len())
            .filter(|&p| !found[p].0.is_empty())
            .collect();
        if let [only] = used[..] {
            let rows = Rows::List(&found[only].0);
            return Ok(self.parts[only]
                .columns
                .iter()
                .zip(&self.columns)
                .map(|(c, req)| c.gather(&req.name, &rows))
                .collect());
        }
        // None or several parts matched: the parts' rows joined into one column each.
        let mut joined: Vec<StoredColumn> = self
            .columns
            .iter()
            .map(|req| ColumnBuilder::new(req.ty).finish())
            .collect();
        for &p in &used {
            let rows = Rows::List(&found[p].0);
            for ((all, c), req) in joined
                .iter_mut()
                .zip(&self.parts[p].columns)
                .zip(&self.columns)
            {
                let part = c.gather(&req.name, &rows);
                let part = StoredColumn::from_values(req.ty, part.values, part.validity)
                    .map_err(SourceError::Backend)?;
                all.append(&part).map_err(SourceError::Backend)?;
            }
        }
        Ok(joined
            .into_iter()
            .zip(&self.columns)
            .map(|(c, req)| Column {
                name: req.name.clone(),
                values: c.values,
                validity: c.validity,
            })
            .collect())
    }
}

impl KeyIndex for PartsIndex {
    fn get_many(
        &mut self,
        keys: &ColumnValues,
        max_rows: usize,
    ) -> Result<Option<(Batch, Vec<u32>)>, SourceError> {
        if type_of(keys) != self.key_type {
            return Err(SourceError::KeyType(self.key_type));
        }
        let keys = keys_sent(keys)?;
        let Some(found) = self.matches(&keys, max_rows) else {
            return Ok(None);
        };
        let columns = self.gather(&found)?;
        let positions: Vec<u32> = found.into_iter().flat_map(|(_, at)| at).collect();
        Ok(Some((
            Batch {
                rows: positions.len() as u32,
                columns,
            },
            positions,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::pseudonym::Pseudonymizer;
    use crate::runtime::bindings::TextColumn;

    fn col(ty: ColumnType, vals: &[Option<&str>]) -> Arc<StoredColumn> {
        let p = Pseudonymizer::new(b"k");
        let mut b = ColumnBuilder::new(ty);
        for v in vals {
            match v {
                Some(v) => b.push_str(v, &p).expect("value"),
                None => b.push_null(),
            }
        }
        Arc::new(b.finish())
    }

    fn text(keys: &[&str]) -> ColumnValues {
        let mut data = Vec::new();
        let mut offsets = vec![0];
        for k in keys {
            data.extend_from_slice(k.as_bytes());
            offsets.push(data.len() as u32);
        }
        ColumnValues::Text(TextColumn { data, offsets })
    }

    fn texts(c: &Column) -> Vec<String> {
        crate::datasets::columns::texts(&c.values)
    }

    /// A part of rows `ids` keyed by `keys`, in regions `regions` (`None`: all in scope).
    fn part(ids: &[&str], keys: &[Option<&str>], regions: Option<&[&str]>) -> Part {
        let ids: Vec<Option<&str>> = ids.iter().map(|i| Some(*i)).collect();
        let key = col(ColumnType::Text, keys);
        Part {
            columns: vec![col(ColumnType::Text, &ids)],
            keys: Arc::new(KeyRows::build(&key)),
            key_column: Some(key),
            region: regions.map(|r| {
                let r: Vec<Option<&str>> = r.iter().map(|c| Some(*c)).collect();
                col(ColumnType::Text, &r)
            }),
        }
    }

    fn index(parts: Vec<Part>) -> PartsIndex {
        let id = ColumnRequest {
            name: "id".into(),
            ty: ColumnType::Text,
        };
        PartsIndex::new(vec![id], ColumnType::Text, "330102", parts)
    }

    #[test]
    fn rows_group_by_key_in_row_order_and_null_keys_match_nothing() {
        let keys = col(
            ColumnType::Text,
            &[
                Some("a"),
                Some("b"),
                Some("a"),
                None,
                Some("a"),
                Some(""),
                Some("ab"),
            ],
        );
        let rows = KeyRows::build(&keys);
        let of = |k: &str| -> Vec<u32> {
            let key = Key::Text(k.as_bytes());
            rows.rows(Some(&keys), key, hash(key)).collect()
        };
        assert_eq!(of("a"), [0, 2, 4]);
        assert_eq!(of("b"), [1]);
        assert_eq!(of("ab"), [6], "a key is confirmed whole, not by its prefix");
        // The null row holds an empty value; only the real empty key matches it.
        assert_eq!(of(""), [5]);
        assert!(of("c").is_empty());
        assert!(rows.heap_bytes() >= 6 * 4);
    }

    #[test]
    fn word_and_pseudonym_keys_match_whole() {
        let ints = col(
            ColumnType::Integer,
            &[Some("7"), Some("-7"), Some("7"), None, Some("0")],
        );
        let rows = KeyRows::build(&ints);
        let of = |k: i64| -> Vec<u32> {
            rows.rows(Some(&ints), Key::Word(k), hash(Key::Word(k)))
                .collect()
        };
        assert_eq!(of(7), [0, 2]);
        assert_eq!(of(-7), [1]);
        assert_eq!(of(0), [4], "the null row's zero is not a key");
        assert!(of(8).is_empty());

        let people = col(
            ColumnType::Pseudonym,
            &[Some("A"), Some("B"), Some("A"), None],
        );
        let rows = KeyRows::build(&people);
        let ColumnValues::Pseudonym(words) = &people.values else {
            panic!("not pseudonyms")
        };
        let a = Key::Pair(words[0], words[1]);
        assert_eq!(
            rows.rows(Some(&people), a, hash(a)).collect::<Vec<_>>(),
            [0, 2]
        );
        // Equal first word, different second: another person.
        let other = Key::Pair(words[0], words[1] ^ 1);
        assert_eq!(rows.rows(Some(&people), other, hash(other)).count(), 0);
    }

    /// Kept key rows as [`KeyRows::to_bytes`] lays them out, from their entries (two words,
    /// first and last row) and each row's next row (one per row of the chunk).
    fn kept_rows(entries: &[([u64; 2], u32, u32)], next: &[u32]) -> Vec<u8> {
        let mut out = KEYS_MAGIC.to_vec();
        out.extend_from_slice(&(next.len() as u32).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (w, first, last) in entries {
            out.extend_from_slice(&w[0].to_le_bytes());
            out.extend_from_slice(&w[1].to_le_bytes());
            out.extend_from_slice(&first.to_le_bytes());
            out.extend_from_slice(&last.to_le_bytes());
        }
        next.iter()
            .for_each(|n| out.extend_from_slice(&n.to_le_bytes()));
        out
    }

    #[test]
    fn kept_key_rows_read_back_without_the_column_and_only_when_well_formed() {
        let people = col(
            ColumnType::Pseudonym,
            &[Some("A"), Some("B"), Some("A"), None, Some("C"), Some("A")],
        );
        let built = KeyRows::build(&people);
        let bytes = built.to_bytes(&people).expect("a pseudonym column");
        let kept = KeyRows::from_bytes(&bytes, 6).expect("read back");
        let ColumnValues::Pseudonym(w) = &people.values else {
            panic!("not pseudonyms")
        };
        for row in [0, 1, 4] {
            let k = Key::Pair(w[2 * row], w[2 * row + 1]);
            assert_eq!(
                kept.rows(None, k, hash(k)).collect::<Vec<_>>(),
                built.rows(Some(&people), k, hash(k)).collect::<Vec<_>>(),
                "row {row}'s key"
            );
        }
        assert_eq!(
            kept.rows(None, Key::Pair(1, 2), hash(Key::Pair(1, 2)))
                .count(),
            0
        );

        let ints = col(ColumnType::Integer, &[Some("1")]);
        assert!(
            KeyRows::build(&ints).to_bytes(&ints).is_none(),
            "seeded hashes stay in memory"
        );
        let refused = |bytes: &[u8], rows: usize| KeyRows::from_bytes(bytes, rows).unwrap_err();
        assert!(refused(&bytes, 5).contains("rows"));
        assert!(refused(&bytes[..bytes.len() - 1], 6).contains("length"));
        assert!(refused(b"SVK0", 6).contains("not kept"));

        // Rows 0 and 2 of one key, row 1 of another; row 2 ends the chain.
        let (x, y) = ([1, 2], [3, 4]);
        let good = kept_rows(&[(x, 0, 2), (y, 1, 1)], &[2, END, END]);
        assert!(KeyRows::from_bytes(&good, 3).is_ok());
        let bad = [
            (
                kept_rows(&[(x, 0, 3), (y, 1, 1)], &[2, END, END]),
                "not rows",
            ),
            (
                kept_rows(&[(x, 3, 3), (y, 1, 1)], &[2, END, END]),
                "not rows",
            ),
            (
                kept_rows(&[(x, 2, 0), (y, 1, 1)], &[2, END, END]),
                "not rows",
            ),
            (
                kept_rows(&[(x, 0, 0), (x, 1, 1)], &[END, END, END]),
                "repeats a key",
            ),
        ];
        for (bytes, why) in bad {
            let e = refused(&bytes, 3);
            assert!(e.contains(why), "{e}");
        }
        // A chain that turns back, or leaves the chunk, ends there.
        let of = |next: &[u32]| {
            let rows = KeyRows::from_bytes(&kept_rows(&[(x, 1, 2)], next), 3).expect("well formed");
            let k = Key::Pair(x[0], x[1]);
            rows.rows(None, k, hash(k)).collect::<Vec<_>>()
        };
        assert_eq!(of(&[END, 2, END]), [1, 2]);
        assert_eq!(of(&[END, 0, END]), [1]);
        assert_eq!(of(&[END, 1, END]), [1]);
        assert_eq!(of(&[END, 7, END]), [1]);
    }

    #[test]
    fn matches_come_in_scan_order_over_parts_with_their_key_positions() {
        let mut index = index(vec![
            part(
                &["r1", "r2", "r3"],
                &[Some("x"), Some("y"), Some("x")],
                None,
            ),
            part(&["r4", "r5"], &[Some("y"), None], None),
            part(&["r6"], &[Some("z")], None),
        ]);
        let (batch, at) = index
            .get_many(&text(&["y", "x", "w", "x"]), 100)
            .expect("look-up")
            .expect("under the cap");
        // Part by part, row by row; a key asked twice matches its rows twice.
        assert_eq!(
            texts(&batch.columns[0]),
            ["r1", "r1", "r2", "r3", "r3", "r4"]
        );
        assert_eq!(at, [1, 3, 0, 1, 3, 0]);
        assert_eq!(batch.rows, 6);
        assert_eq!(batch.columns[0].name, "id");

        // One part matched: served straight from it.
        let (batch, at) = index.get_many(&text(&["z"]), 100).unwrap().unwrap();
        assert_eq!(
            (texts(&batch.columns[0]), at),
            (vec!["r6".to_string()], vec![0])
        );
        // Nothing matched: an empty batch of the right columns.
        let (batch, at) = index.get_many(&text(&["none"]), 100).unwrap().unwrap();
        assert_eq!((batch.rows, batch.columns.len(), at.len()), (0, 1, 0));
        assert!(texts(&batch.columns[0]).is_empty());
    }

    #[test]
    fn rows_outside_the_region_are_left_out() {
        let mut index = index(vec![part(
            &["in", "out", "in too"],
            &[Some("k"), Some("k"), Some("k")],
            Some(&["330102", "330103", "330102"]),
        )]);
        let (batch, _) = index.get_many(&text(&["k"]), 100).unwrap().unwrap();
        assert_eq!(texts(&batch.columns[0]), ["in", "in too"]);
    }

    #[test]
    fn too_many_rows_wrong_type_and_broken_keys_are_refused() {
        let mut index = index(vec![part(&["a", "b", "c"], &[Some("k"); 3], None)]);
        assert!(index.get_many(&text(&["k"]), 3).unwrap().is_some());
        assert!(index.get_many(&text(&["k"]), 2).unwrap().is_none());
        assert_eq!(
            index.get_many(&ColumnValues::Integer(vec![1]), 10).err(),
            Some(SourceError::KeyType(ColumnType::Text))
        );
        let broken = [
            TextColumn {
                data: b"ab".to_vec(),
                offsets: vec![0, 3],
            },
            TextColumn {
                data: b"ab".to_vec(),
                offsets: vec![0, 2, 1],
            },
            TextColumn {
                data: b"ab".to_vec(),
                offsets: vec![1, 2],
            },
        ];
        for keys in broken {
            let err = index.get_many(&ColumnValues::Text(keys.clone()), 10).err();
            assert!(
                matches!(err, Some(SourceError::MalformedKeys(_))),
                "{keys:?}: {err:?}"
            );
        }
        let mut pseudonyms = PartsIndex::new(vec![], ColumnType::Pseudonym, "33", vec![]);
        let odd = pseudonyms
            .get_many(&ColumnValues::Pseudonym(vec![1, 2, 3]), 10)
            .err();
        assert!(
            matches!(odd, Some(SourceError::MalformedKeys(_))),
            "{odd:?}"
        );
    }
}
