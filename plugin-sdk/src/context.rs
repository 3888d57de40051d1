//! What a running model talks to: its scope, parameters, data scans, look-ups, clue output
//! and log. The same `RunContext` drives the model in the sandbox and in the native harness.

use crate::bindings::supervise::model::types::{self as wit, ColumnValues};
use crate::{Batch, Clue, Date, Decimal, Error, Level, Result, Value};

/// Rows per batch that scans ask for unless told otherwise.
pub const DEFAULT_BATCH_ROWS: u32 = 16_384;

/// Keys per look-up in [`Index::for_each_pseudonym_match`] and
/// [`Index::for_each_text_match`] before any split.
const LOOKUP_KEYS: usize = 1024;

/// How many clues are buffered before they are sent to the host in one call.
const EMIT_BUFFER: usize = 256;

/// The platform behind a [`RunContext`]: the sandbox's imports, or the native harness.
#[doc(hidden)]
pub trait Backend {
    /// The run's region, as-of date and id.
    fn run_info(&mut self) -> RunInfo;
    /// Every parameter's effective value.
    fn params(&mut self) -> Vec<(String, Value)>;
    /// Opens a scan.
    fn open_scan(&mut self, dataset: &str, columns: &[String]) -> Result<Box<dyn ScanSource>>;
    /// Opens an index.
    fn open_index(
        &mut self,
        dataset: &str,
        key_column: &str,
        columns: &[String],
    ) -> Result<Box<dyn IndexSource>>;
    /// Emits clues.
    fn emit(&mut self, clues: &[crate::bindings::supervise::model::clues::Clue]) -> Result<()>;
    /// Logs a message.
    fn log(&mut self, level: Level, message: &str);
}

/// The source of a scan's batches.
#[doc(hidden)]
pub trait ScanSource {
    /// The next batch, `None` at the end.
    fn next_batch(&mut self, max_rows: u32) -> Result<Option<wit::Batch>>;
}

/// The source of an index's look-ups.
#[doc(hidden)]
pub trait IndexSource {
    /// Matching rows and, per row, the position of its key.
    fn get_many(&mut self, keys: &ColumnValues) -> Result<(wit::Batch, Vec<u32>)>;
}

/// The facts of a run.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// 6-digit region code.
    pub region: String,
    /// As-of date.
    pub as_of: Date,
    /// Run id.
    pub run_id: String,
}

/// Everything a model's `run` can do. Passed to [`crate::Model::run`].
pub struct RunContext<'a> {
    backend: &'a mut dyn Backend,
    info: RunInfo,
    params: Vec<(String, Value)>,
    pending: Vec<crate::bindings::supervise::model::clues::Clue>,
}

impl<'a> RunContext<'a> {
    #[doc(hidden)]
    pub fn new(backend: &'a mut dyn Backend) -> Self {
        let info = backend.run_info();
        let params = backend.params();
        RunContext {
            backend,
            info,
            params,
            pending: Vec::new(),
        }
    }

    /// The 6-digit administrative division code this run covers.
    pub fn region(&self) -> &str {
        &self.info.region
    }

    /// The date the data is current at.
    pub fn as_of(&self) -> Date {
        self.info.as_of
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.info.run_id
    }

    /// A parameter's effective value.
    pub fn param(&self, name: &str) -> Result<&Value> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| Error::NotFound(format!("parameter `{name}` is not declared")))
    }

    fn typed_param<T>(
        &self,
        name: &str,
        want: &str,
        pick: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<T> {
        let v = self.param(name)?;
        pick(v).ok_or_else(|| Error::InvalidArgument(format!("parameter `{name}` is not {want}")))
    }

    /// An integer parameter.
    pub fn param_integer(&self, name: &str) -> Result<i64> {
        self.typed_param(name, "an integer", |v| match v {
            Value::Integer(i) => Some(*i),
            _ => None,
        })
    }

    /// A decimal parameter.
    pub fn param_decimal(&self, name: &str) -> Result<Decimal> {
        self.typed_param(name, "a decimal", |v| match v {
            Value::Decimal(d) => Some(Decimal(*d)),
            _ => None,
        })
    }

    /// A date parameter.
    pub fn param_date(&self, name: &str) -> Result<Date> {
        self.typed_param(name, "a date", |v| match v {
            Value::Date(d) => Some(Date(*d)),
            _ => None,
        })
    }

    /// A text parameter.
    pub fn param_text(&self, name: &str) -> Result<String> {
        self.typed_param(name, "text", |v| match v {
            Value::Text(t) => Some(t.clone()),
            _ => None,
        })
    }

    /// A boolean parameter.
    pub fn param_boolean(&self, name: &str) -> Result<bool> {
        self.typed_param(name, "a boolean", |v| match v {
            Value::Boolean(b) => Some(*b),
            _ => None,
        })
    }

    /// Scans `dataset`, returning `columns` in that order, in batches of
    /// [`DEFAULT_BATCH_ROWS`]. Fails with [`Error::NotDeclared`] for anything outside the
    /// approved scope.
    pub fn scan(&mut self, dataset: &str, columns: &[&str]) -> Result<Scan> {
        let columns: Vec<String> = columns.iter().map(|c| (*c).to_string()).collect();
        let source = self.backend.open_scan(dataset, &columns)?;
        Ok(Scan {
            source,
            batch_rows: DEFAULT_BATCH_ROWS,
            done: false,
        })
    }

    /// An index of `dataset` on `key_column`, returning `columns` for matched rows.
    pub fn index(&mut self, dataset: &str, key_column: &str, columns: &[&str]) -> Result<Index> {
        let columns: Vec<String> = columns.iter().map(|c| (*c).to_string()).collect();
        let source = self.backend.open_index(dataset, key_column, &columns)?;
        Ok(Index { source })
    }

    /// Emits a clue. Clues are buffered and sent in batches; the buffer is flushed when the
    /// run returns. Fails with [`Error::InvalidArgument`] for a malformed clue.
    pub fn emit(&mut self, clue: Clue) -> Result<()> {
        if let Some(problem) = clue.problem() {
            return Err(Error::InvalidArgument(format!(
                "clue `{}`: {problem}",
                clue.0.dedup_key
            )));
        }
        self.pending.push(clue.0);
        if self.pending.len() >= EMIT_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends buffered clues to the host now.
    pub fn flush(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.backend.emit(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes to the run log.
    pub fn log(&mut self, level: Level, message: &str) {
        self.backend.log(level, message);
    }

    /// Writes an `info` message to the run log.
    pub fn info(&mut self, message: &str) {
        self.log(Level::Info, message);
    }
}

/// A forward-only scan over one dataset; an iterator of batches.
///
/// ```no_run
/// # fn f(ctx: &mut supervise_sdk::RunContext) -> supervise_sdk::Result<()> {
/// for batch in ctx.scan("death_registrations", &["id_number", "death_date"])? {
///     let batch = batch?;
///     let dates = batch.date("death_date")?;
///     # let _ = dates;
/// }
/// # Ok(()) }
/// ```
pub struct Scan {
    source: Box<dyn ScanSource>,
    batch_rows: u32,
    done: bool,
}

impl Scan {
    /// Asks for batches of `rows` rows (the host may cap it).
    pub fn batch_rows(mut self, rows: u32) -> Self {
        self.batch_rows = rows.max(1);
        self
    }
}

impl Iterator for Scan {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.source.next_batch(self.batch_rows) {
            Ok(Some(b)) => Some(Ok(Batch::new(b))),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A host-side index for batched keyed look-ups.
pub struct Index {
    source: Box<dyn IndexSource>,
}

impl Index {
    /// Looks up many text keys: the matched rows, and for each the position of its key.
    pub fn get_text(&mut self, keys: &[&str]) -> Result<(Batch, Vec<u32>)> {
        let mut data = Vec::new();
        let mut offsets = Vec::with_capacity(keys.len() + 1);
        offsets.push(0u32);
        for k in keys {
            data.extend_from_slice(k.as_bytes());
            offsets.push(
                u32::try_from(data.len()).map_err(|_| {
                    Error::LimitExceeded("look-up keys exceed 4 GiB of text".into())
                })?,
            );
        }
        self.get(ColumnValues::Text(wit::TextColumn { data, offsets }))
    }

    /// Looks up many pseudonym keys.
    pub fn get_pseudonyms(&mut self, keys: &[crate::Pseudonym]) -> Result<(Batch, Vec<u32>)> {
        let flat = keys.iter().flat_map(|p| p.0).collect();
        self.get(ColumnValues::Pseudonym(flat))
    }

    /// Looks up every pseudonym of `keys`, however many, in groups small enough for the
    /// host's cap on a look-up's rows: calls `f` with each group's matched rows (in the order
    /// a scan returns them) and, per row, the index in `keys` of the key it matched. A group
    /// that matches too many rows is split in half until it fits; one key matching more rows
    /// than the cap fails with [`Error::LimitExceeded`].
    ///
    /// ```no_run
    /// # fn f(ctx: &mut supervise_sdk::RunContext, dead: &[supervise_sdk::Pseudonym]) -> supervise_sdk::Result<()> {
    /// let mut payments = ctx.index("pension_payments", "id_number", &["pay_date"])?;
    /// payments.for_each_pseudonym_match(dead, |batch, at| {
    ///     let dates = batch.date("pay_date")?;
    ///     for row in 0..batch.rows() {
    ///         let _who = dead[at[row] as usize];
    ///         let _paid = dates.get(row);
    ///     }
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn for_each_pseudonym_match(
        &mut self,
        keys: &[crate::Pseudonym],
        f: impl FnMut(&Batch, &[u32]) -> Result<()>,
    ) -> Result<()> {
        self.for_each_match(
            keys.len(),
            |index, group| index.get_pseudonyms(&keys[group]),
            f,
        )
    }

    /// Looks up every text key of `keys`, however many, as
    /// [`for_each_pseudonym_match`](Self::for_each_pseudonym_match) does pseudonyms: the host
    /// compares the keys natively, so a model joining on a code (a company's credit code, say)
    /// hashes and compares no text itself.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut supervise_sdk::RunContext, codes: &[&str]) -> supervise_sdk::Result<()> {
    /// let mut tax = ctx.index("tax_declarations", "credit_code", &["tax_amount"])?;
    /// tax.for_each_text_match(codes, |batch, at| {
    ///     let amounts = batch.decimal("tax_amount")?;
    ///     for row in 0..batch.rows() {
    ///         let _company = codes[at[row] as usize];
    ///         let _paid = amounts.get(row);
    ///     }
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn for_each_text_match(
        &mut self,
        keys: &[&str],
        f: impl FnMut(&Batch, &[u32]) -> Result<()>,
    ) -> Result<()> {
        self.for_each_match(keys.len(), |index, group| index.get_text(&keys[group]), f)
    }

    /// Looks up `count` keys in groups of at most [`LOOKUP_KEYS`], `get` looking up one group
    /// (a range of the keys), halving a group that matches more rows than the host's cap, and
    /// calls `f` with each group's rows and, per row, its key's index among all the keys.
    fn for_each_match(
        &mut self,
        count: usize,
        mut get: impl FnMut(&mut Self, std::ops::Range<usize>) -> Result<(Batch, Vec<u32>)>,
        mut f: impl FnMut(&Batch, &[u32]) -> Result<()>,
    ) -> Result<()> {
        let mut todo: Vec<std::ops::Range<usize>> = (0..count)
            .step_by(LOOKUP_KEYS)
            .rev()
            .map(|start| start..(start + LOOKUP_KEYS).min(count))
            .collect();
        while let Some(group) = todo.pop() {
            match get(self, group.clone()) {
                Ok((batch, positions)) => {
                    let at: Vec<u32> = positions.iter().map(|p| p + group.start as u32).collect();
                    f(&batch, &at)?;
                }
                Err(Error::LimitExceeded(_)) if group.len() > 1 => {
                    let mid = group.start + group.len() / 2;
                    todo.push(mid..group.end);
                    todo.push(group.start..mid);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Looks up many integer keys.
    pub fn get_integers(&mut self, keys: &[i64]) -> Result<(Batch, Vec<u32>)> {
        self.get(ColumnValues::Integer(keys.to_vec()))
    }

    fn get(&mut self, keys: ColumnValues) -> Result<(Batch, Vec<u32>)> {
        let (batch, positions) = self.source.get_many(&keys)?;
        Ok((Batch::new(batch), positions))
    }
}
