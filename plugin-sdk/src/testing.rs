//! A native test harness: runs a model's own code against in-memory fixture tables, no Wasm
//! involved, with the same scope checks the platform makes (undeclared datasets and columns
//! are refused, rows are limited to the run's region through the `region_code` column).
//!
//! ```
//! use supervise_sdk::testing::{Fixture, Table};
//! # use supervise_sdk::*;
//! # struct Nop;
//! # impl Model for Nop {
//! #   fn describe() -> Manifest { Manifest::new("nop", "Nop", "0.1.0")
//! #       .dataset("d", "", &[("k", ColumnType::Text)]) }
//! #   fn run(ctx: &mut RunContext) -> Result<()> {
//! #       let rows: usize = ctx.scan("d", &["k"])?.map(|b| b.map(|b| b.rows())).sum::<Result<_>>()?;
//! #       ctx.info(&format!("{rows} rows")); Ok(()) }
//! # }
//! let outcome = Fixture::new("330102", "2024-06-30")
//!     .table(Table::new("d")
//!         .text("k", &["a", "b", "c"])
//!         .text("region_code", &["330102", "330103", "330102"]))
//!     .run::<Nop>()
//!     .unwrap();
//! assert_eq!(outcome.rows_read["d"], 2); // the 330103 row is out of scope
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::bindings::supervise::model::clues as wit_clues;
use crate::bindings::supervise::model::types::{self as wit, ColumnValues};
use crate::context::{Backend, IndexSource, RunInfo, ScanSource};
use crate::{
    Batch, Clue, ColumnType, Date, Decimal, Error, Level, Manifest, Model, Pseudonym, Result,
    RunContext, Value,
};

/// The column holding each row's region code, by the province's naming standard.
pub const REGION_COLUMN: &str = "region_code";

/// The most rows the platform returns from one look-up by default (its `max-batch-rows`).
const HOST_BATCH_CAP: usize = 65_536;

/// A test pseudonym for an identifier: normalised (trimmed, upper-case) and hashed with a
/// fixed, public function. It is stable and collision-resistant enough for fixtures but is
/// **not** the platform's keyed hash, which only the host can compute.
pub fn pseudonym(identifier: &str) -> Pseudonym {
    let norm = identifier.trim().to_uppercase();
    let fnv = |seed: u64| {
        let mut h = seed;
        for b in norm.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        // splitmix64 finaliser
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    };
    Pseudonym([fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4)])
}

/// An in-memory dataset built column by column.
///
/// Builder methods panic on malformed fixture values (a bad date, a column of another length)
/// with a message naming the column: fixtures are test code.
#[derive(Debug, Clone)]
pub struct Table {
    name: String,
    rows: Option<usize>,
    columns: Vec<Rc<wit::Column>>,
}

impl Table {
    /// An empty table for `dataset`.
    pub fn new(dataset: &str) -> Self {
        Table {
            name: dataset.into(),
            rows: None,
            columns: Vec::new(),
        }
    }

    /// The dataset name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of rows (0 before the first column).
    pub fn rows(&self) -> usize {
        self.rows.unwrap_or(0)
    }

    /// Adds a column of raw values. `len` is its row count.
    pub fn column(mut self, name: &str, values: ColumnValues, len: usize) -> Self {
        match self.rows {
            Some(n) if n != len => panic!(
                "fixture table `{}`: column `{name}` has {len} rows, earlier columns {n}",
                self.name
            ),
            _ => self.rows = Some(len),
        }
        self.columns.retain(|c| c.name != name);
        self.columns.push(Rc::new(wit::Column {
            name: name.into(),
            values,
            validity: None,
        }));
        self
    }

    /// Adds a text column.
    pub fn text(self, name: &str, values: &[&str]) -> Self {
        let mut data = Vec::new();
        let mut offsets = vec![0u32];
        for v in values {
            data.extend_from_slice(v.as_bytes());
            offsets.push(data.len() as u32);
        }
        self.column(
            name,
            ColumnValues::Text(wit::TextColumn { data, offsets }),
            values.len(),
        )
    }

    /// Adds an integer column.
    pub fn integer(self, name: &str, values: &[i64]) -> Self {
        self.column(name, ColumnValues::Integer(values.to_vec()), values.len())
    }

    /// Adds a boolean column.
    pub fn boolean(self, name: &str, values: &[bool]) -> Self {
        let bytes = values.iter().map(|b| u8::from(*b)).collect();
        self.column(name, ColumnValues::Boolean(bytes), values.len())
    }

    /// Adds a date column from `YYYY-MM-DD` strings.
    pub fn date(self, name: &str, values: &[&str]) -> Self {
        let days = values.iter().map(|v| parse::<Date>(name, v).0).collect();
        self.column(name, ColumnValues::Date(days), values.len())
    }

    /// Adds a decimal column from strings like `3200.50`.
    pub fn decimal(self, name: &str, values: &[&str]) -> Self {
        let units = values.iter().map(|v| parse::<Decimal>(name, v).0).collect();
        self.column(name, ColumnValues::Decimal(units), values.len())
    }

    /// Adds a pseudonym column from raw identifiers, hashed with [`pseudonym`].
    pub fn pseudonym_of(self, name: &str, identifiers: &[&str]) -> Self {
        let ps: Vec<Pseudonym> = identifiers.iter().map(|i| pseudonym(i)).collect();
        self.pseudonyms(name, &ps)
    }

    /// Adds a pseudonym column of given pseudonyms.
    pub fn pseudonyms(self, name: &str, values: &[Pseudonym]) -> Self {
        let flat = values.iter().flat_map(|p| p.0).collect();
        self.column(name, ColumnValues::Pseudonym(flat), values.len())
    }

    /// Marks rows of column `name` as null.
    pub fn nulls(mut self, name: &str, rows: &[usize]) -> Self {
        let n = self.rows();
        let table = self.name.clone();
        let Some(col) = self.columns.iter_mut().find(|c| c.name == name) else {
            panic!("fixture table `{table}`: no column `{name}` to mark nulls in");
        };
        let bits = Rc::make_mut(col)
            .validity
            .get_or_insert_with(|| vec![0xff; n.div_ceil(8)]);
        for &r in rows {
            assert!(
                r < n,
                "fixture table `{table}`: null row {r} is past the end"
            );
            bits[r / 8] &= !(1 << (r % 8));
        }
        self
    }

    /// The whole table as one batch.
    pub fn to_batch(&self) -> Batch {
        Batch::new(wit::Batch {
            rows: self.rows() as u32,
            columns: self.columns.iter().map(|c| (**c).clone()).collect(),
        })
    }

    fn find(&self, name: &str) -> Option<&Rc<wit::Column>> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Rows whose region code lies under `region`; `None` when every row is in scope.
    fn rows_in(&self, region: &str) -> Option<Vec<u32>> {
        let col = self.find(REGION_COLUMN)?;
        let ColumnValues::Text(t) = &col.values else {
            return None;
        };
        let prefix = region_prefix(region);
        let rows: Vec<u32> = (0..self.rows())
            .filter(|&i| {
                let (s, e) = (t.offsets[i] as usize, t.offsets[i + 1] as usize);
                t.data[s..e].starts_with(prefix.as_bytes())
            })
            .map(|i| i as u32)
            .collect();
        // Every row in scope: serve contiguous slices.
        (rows.len() < self.rows()).then_some(rows)
    }
}

fn parse<T: std::str::FromStr<Err = String>>(column: &str, v: &str) -> T {
    v.parse()
        .unwrap_or_else(|e| panic!("fixture column `{column}`: {e}"))
}

/// The significant prefix of a region code: `330000` → `33`, `330100` → `3301`.
fn region_prefix(code: &str) -> &str {
    let trimmed = code.trim_end_matches("00");
    if trimmed.len() < 2 {
        &code[..code.len().min(2)]
    } else {
        trimmed
    }
}

/// What a harness run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The clues emitted, in order.
    pub clues: Vec<Clue>,
    /// The log messages.
    pub log: Vec<(Level, String)>,
    /// Rows read per dataset (scans and look-ups).
    pub rows_read: BTreeMap<String, u64>,
}

/// A run set-up: region, as-of date, parameter values and tables.
#[derive(Debug, Clone)]
pub struct Fixture {
    region: String,
    as_of: Date,
    params: Vec<(String, Value)>,
    tables: Vec<Rc<Table>>,
}

impl Fixture {
    /// A fixture for a run over `region` as of `as_of` (`YYYY-MM-DD`).
    pub fn new(region: &str, as_of: &str) -> Self {
        Fixture {
            region: region.into(),
            as_of: parse("as_of", as_of),
            params: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Adds a dataset.
    pub fn table(mut self, table: Table) -> Self {
        self.tables.push(Rc::new(table));
        self
    }

    /// Sets a parameter, overriding its default.
    pub fn param(mut self, name: &str, value: Value) -> Self {
        self.params.push((name.into(), value));
        self
    }

    /// Runs model `M` and returns what it emitted. Fails with the model's error, or with
    /// [`Error::InvalidArgument`] for a parameter the manifest does not declare.
    pub fn run<M: Model>(&self) -> Result<Outcome> {
        let manifest = M::describe();
        let mut params: Vec<(String, Value)> = manifest
            .param_defaults()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        for (name, value) in &self.params {
            let Some(slot) = params.iter_mut().find(|(n, _)| n == name) else {
                return Err(Error::InvalidArgument(format!(
                    "parameter `{name}` is not declared by model `{}`",
                    manifest.id()
                )));
            };
            slot.1 = value.clone();
        }
        let mut backend = Harness {
            fixture: self,
            manifest,
            params,
            out: Rc::new(RefCell::new(Outcome::default())),
        };
        {
            let mut ctx = RunContext::new(&mut backend);
            M::run(&mut ctx)?;
            ctx.flush()?;
        }
        let out = Rc::try_unwrap(backend.out)
            .map(RefCell::into_inner)
            .unwrap_or_default();
        Ok(out)
    }
}

/// Projected columns and the rows in the run's region (`None`: all rows).
type Opened = (Vec<Rc<wit::Column>>, Option<Vec<u32>>);

struct Harness<'f> {
    fixture: &'f Fixture,
    manifest: Manifest,
    params: Vec<(String, Value)>,
    out: Rc<RefCell<Outcome>>,
}

impl Harness<'_> {
    /// Checks scope and types, then returns the table, the projected columns and the rows in
    /// the run's region.
    fn open(&self, dataset: &str, columns: &[String]) -> Result<Opened> {
        if columns.is_empty() {
            return Err(Error::InvalidArgument("no columns requested".into()));
        }
        for c in columns {
            if !self.manifest.declares(dataset, c) {
                return Err(Error::NotDeclared(format!("{dataset}.{c}")));
            }
        }
        let table = self
            .fixture
            .tables
            .iter()
            .find(|t| t.name == dataset)
            .ok_or_else(|| Error::NotFound(format!("no fixture table for dataset `{dataset}`")))?;
        let mut projected = Vec::with_capacity(columns.len());
        for c in columns {
            let col = table.find(c).ok_or_else(|| {
                Error::NotFound(format!("fixture table `{dataset}` has no `{c}`"))
            })?;
            let want = self.manifest.column_type(dataset, c);
            if want != Some(type_of(&col.values)) {
                return Err(Error::InvalidArgument(format!(
                    "fixture column `{dataset}.{c}` is {:?}, the manifest declares {want:?}",
                    type_of(&col.values)
                )));
            }
            projected.push(col.clone());
        }
        Ok((projected, table.rows_in(&self.fixture.region)))
    }
}

fn type_of(v: &ColumnValues) -> ColumnType {
    match v {
        ColumnValues::Text(_) => ColumnType::Text,
        ColumnValues::Integer(_) => ColumnType::Integer,
        ColumnValues::Decimal(_) => ColumnType::Decimal,
        ColumnValues::Date(_) => ColumnType::Date,
        ColumnValues::Timestamp(_) => ColumnType::Timestamp,
        ColumnValues::Boolean(_) => ColumnType::Boolean,
        ColumnValues::Pseudonym(_) => ColumnType::Pseudonym,
    }
}

impl Backend for Harness<'_> {
    fn run_info(&mut self) -> RunInfo {
        RunInfo {
            region: self.fixture.region.clone(),
            as_of: self.fixture.as_of,
            run_id: "harness".into(),
        }
    }

    fn params(&mut self) -> Vec<(String, Value)> {
        self.params.clone()
    }

    fn open_scan(&mut self, dataset: &str, columns: &[String]) -> Result<Box<dyn ScanSource>> {
        let (columns, selection) = self.open(dataset, columns)?;
        let total = columns.first().map_or(0, |c| len_of(&c.values));
        Ok(Box::new(HarnessScan {
            dataset: dataset.into(),
            columns,
            selection,
            total,
            pos: 0,
            out: self.out.clone(),
        }))
    }

    fn open_index(
        &mut self,
        dataset: &str,
        key_column: &str,
        columns: &[String],
    ) -> Result<Box<dyn IndexSource>> {
        let mut wanted = columns.to_vec();
        wanted.push(key_column.to_string());
        let (mut projected, selection) = self.open(dataset, &wanted)?;
        let Some(key) = projected.pop() else {
            return Err(Error::InvalidArgument("no key column".into()));
        };
        if matches!(
            key.values,
            ColumnValues::Boolean(_) | ColumnValues::Decimal(_)
        ) {
            return Err(Error::InvalidArgument(format!(
                "`{dataset}.{key_column}` cannot be a key"
            )));
        }
        let rows: Vec<u32> = selection.unwrap_or_else(|| (0..len_of(&key.values) as u32).collect());
        let mut map: HashMap<Key, Vec<u32>> = HashMap::new();
        // As on the host, a null key matches nothing.
        let valid = |r: u32| validity_of(&key, &[r]).first().is_some_and(|b| b & 1 != 0);
        for r in rows.into_iter().filter(|&r| valid(r)) {
            map.entry(key_at(&key.values, r as usize))
                .or_default()
                .push(r);
        }
        Ok(Box::new(HarnessIndex {
            dataset: dataset.into(),
            columns: projected,
            map,
            out: self.out.clone(),
        }))
    }

    fn emit(&mut self, clues: &[wit_clues::Clue]) -> Result<()> {
        for c in clues {
            if !self.manifest.has_clue_kind(&c.kind) {
                return Err(Error::InvalidArgument(format!(
                    "clue kind `{}` is not declared",
                    c.kind
                )));
            }
            self.out.borrow_mut().clues.push(Clue(c.clone()));
        }
        Ok(())
    }

    fn log(&mut self, level: Level, message: &str) {
        self.out.borrow_mut().log.push((level, message.to_string()));
    }
}

struct HarnessScan {
    dataset: String,
    columns: Vec<Rc<wit::Column>>,
    selection: Option<Vec<u32>>,
    total: usize,
    pos: usize,
    out: Rc<RefCell<Outcome>>,
}

impl ScanSource for HarnessScan {
    fn next_batch(&mut self, max_rows: u32) -> Result<Option<wit::Batch>> {
        if max_rows == 0 {
            return Err(Error::InvalidArgument("max-rows must be at least 1".into()));
        }
        let end_of = |n: usize| (self.pos + max_rows as usize).min(n);
        let columns: Vec<wit::Column> = match &self.selection {
            None => {
                let end = end_of(self.total);
                if self.pos >= end {
                    return Ok(None);
                }
                let cols = self
                    .columns
                    .iter()
                    .map(|c| slice(c, self.pos, end))
                    .collect();
                self.pos = end;
                cols
            }
            Some(sel) => {
                let end = end_of(sel.len());
                if self.pos >= end {
                    return Ok(None);
                }
                let rows = &sel[self.pos..end];
                self.pos = end;
                self.columns.iter().map(|c| take(c, rows)).collect()
            }
        };
        let rows = columns.first().map_or(0, |c| len_of(&c.values));
        count_rows(&self.out, &self.dataset, rows);
        Ok(Some(wit::Batch {
            rows: rows as u32,
            columns,
        }))
    }
}

struct HarnessIndex {
    dataset: String,
    columns: Vec<Rc<wit::Column>>,
    map: HashMap<Key, Vec<u32>>,
    out: Rc<RefCell<Outcome>>,
}

fn count_rows(out: &Rc<RefCell<Outcome>>, dataset: &str, rows: usize) {
    *out.borrow_mut()
        .rows_read
        .entry(dataset.to_string())
        .or_default() += rows as u64;
}

impl IndexSource for HarnessIndex {
    fn get_many(&mut self, keys: &ColumnValues) -> Result<(wit::Batch, Vec<u32>)> {
        let mut hits: Vec<(u32, u32)> = Vec::new();
        for i in 0..len_of(keys) {
            if let Some(rows) = self.map.get(&key_at(keys, i)) {
                hits.extend(rows.iter().map(|&r| (r, i as u32)));
            }
        }
        if hits.len() > HOST_BATCH_CAP {
            return Err(Error::LimitExceeded(format!(
                "look-up matched more than {HOST_BATCH_CAP} rows: ask for fewer keys at a time"
            )));
        }
        // In the order a scan returns them, as on the host.
        hits.sort_unstable();
        let (rows, positions): (Vec<u32>, Vec<u32>) = hits.into_iter().unzip();
        count_rows(&self.out, &self.dataset, rows.len());
        let columns = self.columns.iter().map(|c| take(c, &rows)).collect();
        Ok((
            wit::Batch {
                rows: rows.len() as u32,
                columns,
            },
            positions,
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Text(Vec<u8>),
    Int(i64),
    Pair([u64; 2]),
}

fn key_at(v: &ColumnValues, i: usize) -> Key {
    match v {
        ColumnValues::Text(t) => {
            Key::Text(t.data[t.offsets[i] as usize..t.offsets[i + 1] as usize].to_vec())
        }
        ColumnValues::Integer(x) | ColumnValues::Decimal(x) | ColumnValues::Timestamp(x) => {
            Key::Int(x[i])
        }
        ColumnValues::Date(x) => Key::Int(i64::from(x[i])),
        ColumnValues::Boolean(x) => Key::Int(i64::from(x[i])),
        ColumnValues::Pseudonym(x) => Key::Pair([x[2 * i], x[2 * i + 1]]),
    }
}

fn len_of(v: &ColumnValues) -> usize {
    match v {
        ColumnValues::Text(t) => t.offsets.len().saturating_sub(1),
        ColumnValues::Integer(x) | ColumnValues::Decimal(x) | ColumnValues::Timestamp(x) => x.len(),
        ColumnValues::Date(x) => x.len(),
        ColumnValues::Boolean(x) => x.len(),
        ColumnValues::Pseudonym(x) => x.len() / 2,
    }
}

/// Rows `start..end` of a column.
fn slice(c: &wit::Column, start: usize, end: usize) -> wit::Column {
    let values = match &c.values {
        ColumnValues::Text(t) => {
            let base = t.offsets[start];
            ColumnValues::Text(wit::TextColumn {
                data: t.data[base as usize..t.offsets[end] as usize].to_vec(),
                offsets: t.offsets[start..=end].iter().map(|o| o - base).collect(),
            })
        }
        ColumnValues::Integer(x) => ColumnValues::Integer(x[start..end].to_vec()),
        ColumnValues::Decimal(x) => ColumnValues::Decimal(x[start..end].to_vec()),
        ColumnValues::Timestamp(x) => ColumnValues::Timestamp(x[start..end].to_vec()),
        ColumnValues::Date(x) => ColumnValues::Date(x[start..end].to_vec()),
        ColumnValues::Boolean(x) => ColumnValues::Boolean(x[start..end].to_vec()),
        ColumnValues::Pseudonym(x) => ColumnValues::Pseudonym(x[2 * start..2 * end].to_vec()),
    };
    let validity = c.validity.as_ref().map(|_| {
        let rows: Vec<u32> = (start as u32..end as u32).collect();
        validity_of(c, &rows)
    });
    wit::Column {
        name: c.name.clone(),
        values,
        validity,
    }
}

fn validity_of(c: &wit::Column, rows: &[u32]) -> Vec<u8> {
    let mut bits = vec![0u8; rows.len().div_ceil(8)];
    for (i, &r) in rows.iter().enumerate() {
        let r = r as usize;
        let valid = c
            .validity
            .as_ref()
            .is_none_or(|v| v[r / 8] & (1 << (r % 8)) != 0);
        if valid {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    bits
}

/// The given rows of a column, in order.
fn take(c: &wit::Column, rows: &[u32]) -> wit::Column {
    fn pick<T: Copy>(x: &[T], rows: &[u32]) -> Vec<T> {
        rows.iter().map(|&r| x[r as usize]).collect()
    }
    let values = match &c.values {
        ColumnValues::Text(t) => {
            let mut data = Vec::new();
            let mut offsets = Vec::with_capacity(rows.len() + 1);
            offsets.push(0u32);
            for &r in rows {
                let r = r as usize;
                data.extend_from_slice(&t.data[t.offsets[r] as usize..t.offsets[r + 1] as usize]);
                offsets.push(data.len() as u32);
            }
            ColumnValues::Text(wit::TextColumn { data, offsets })
        }
        ColumnValues::Integer(x) => ColumnValues::Integer(pick(x, rows)),
        ColumnValues::Decimal(x) => ColumnValues::Decimal(pick(x, rows)),
        ColumnValues::Timestamp(x) => ColumnValues::Timestamp(pick(x, rows)),
        ColumnValues::Date(x) => ColumnValues::Date(pick(x, rows)),
        ColumnValues::Boolean(x) => ColumnValues::Boolean(pick(x, rows)),
        ColumnValues::Pseudonym(x) => ColumnValues::Pseudonym(
            rows.iter()
                .flat_map(|&r| [x[2 * r as usize], x[2 * r as usize + 1]])
                .collect(),
        ),
    };
    wit::Column {
        name: c.name.clone(),
        values,
        validity: c.validity.as_ref().map(|_| validity_of(c, rows)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_prefixes_follow_the_division_levels() {
        assert_eq!(region_prefix("330000"), "33");
        assert_eq!(region_prefix("330100"), "3301");
        assert_eq!(region_prefix("330102"), "330102");
    }

    /// Looks up payments by person in groups: reports per call (rows, first key index) and
    /// the persons each row matched, in `found`.
    struct Lookups;

    thread_local! {
        static FOUND: RefCell<Vec<(usize, Vec<u32>)>> = const { RefCell::new(Vec::new()) };
        static KEYS: RefCell<Vec<Pseudonym>> = const { RefCell::new(Vec::new()) };
    }

    impl Model for Lookups {
        fn describe() -> Manifest {
            Manifest::new("lookups", "Look-ups", "0.1.0")
                .dataset(
                    "payments",
                    "",
                    &[
                        ("person", ColumnType::Pseudonym),
                        ("n", ColumnType::Integer),
                    ],
                )
                .clue_kind("k", "k")
        }

        fn run(ctx: &mut RunContext) -> Result<()> {
            let keys = KEYS.with(|k| k.borrow().clone());
            let mut index = ctx.index("payments", "person", &["n"])?;
            index.for_each_pseudonym_match(&keys, |batch, at| {
                FOUND.with(|f| f.borrow_mut().push((batch.rows(), at.to_vec())));
                Ok(())
            })
        }
    }

    #[test]
    fn look_ups_split_groups_that_match_more_rows_than_the_cap() {
        // Two people with 40,000 payments each: asked together they pass the cap of 65,536.
        let (a, b, c) = (pseudonym("A"), pseudonym("B"), pseudonym("C"));
        let n = 40_000;
        let people: Vec<Pseudonym> = (0..2 * n).map(|i| if i % 2 == 0 { a } else { b }).collect();
        let counts: Vec<i64> = (0..2 * n as i64).collect();
        let fixture = Fixture::new("330102", "2024-06-30").table(
            Table::new("payments")
                .pseudonyms("person", &people)
                .integer("n", &counts),
        );
        KEYS.with(|k| *k.borrow_mut() = vec![c, a, b]);
        FOUND.with(|f| f.borrow_mut().clear());
        let out = fixture.run::<Lookups>().expect("run");
        let found = FOUND.with(|f| f.borrow().clone());
        // The group of three was split into [C] and [A, B], then [A, B] into [A] and [B].
        let rows: Vec<usize> = found.iter().map(|(r, _)| *r).collect();
        assert_eq!(rows, [0, n, n], "{rows:?}");
        assert!(found[1].1.iter().all(|&k| k == 1), "A's rows name key 1");
        assert!(found[2].1.iter().all(|&k| k == 2), "B's rows name key 2");
        assert_eq!(out.rows_read["payments"], 2 * n as u64);

        // One key alone past the cap cannot be split: the model is told.
        let people = vec![a; 70_000];
        let fixture = Fixture::new("330102", "2024-06-30").table(
            Table::new("payments")
                .pseudonyms("person", &people)
                .integer("n", &vec![0; 70_000]),
        );
        KEYS.with(|k| *k.borrow_mut() = vec![a]);
        let err = fixture.run::<Lookups>().expect_err("over the cap");
        assert!(matches!(err, Error::LimitExceeded(_)), "{err}");
    }

    #[test]
    fn pseudonyms_normalise_before_hashing() {
        assert_eq!(
            pseudonym(" 11010519491231002x "),
            pseudonym("11010519491231002X")
        );
        assert_ne!(pseudonym("A"), pseudonym("B"));
    }
}
