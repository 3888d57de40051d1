//! Columnar batches: typed, zero-copy access to the columns of a batch by name.

use crate::bindings::supervise::model::types::{self as wit, ColumnValues};
use crate::{Date, Decimal, Error, Pseudonym, Result};

/// A slice of rows of one dataset, column by column.
///
/// ```
/// # use supervise_sdk::{Batch, Date, testing::Table};
/// let table = Table::new("death_registrations")
///     .text("record_id", &["D1", "D2"])
///     .date("death_date", &["2024-03-02", "2024-05-01"]);
/// let batch: Batch = table.to_batch();
/// let ids = batch.text("record_id").unwrap();
/// let dates = batch.date("death_date").unwrap();
/// assert_eq!(ids.get(1), Some("D2"));
/// assert_eq!(dates.get(0), Some(Date::from_ymd(2024, 3, 2).unwrap()));
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    raw: wit::Batch,
    /// Per column, whether it is a text column whose bytes are valid UTF-8 as a whole: checked
    /// once when the batch arrives, so that reading a row need not check its text again.
    utf8: Vec<bool>,
}

impl Batch {
    /// A batch as the host sent it.
    pub(crate) fn new(raw: wit::Batch) -> Self {
        let utf8 = raw
            .columns
            .iter()
            .map(|c| match &c.values {
                ColumnValues::Text(t) => std::str::from_utf8(&t.data).is_ok(),
                _ => false,
            })
            .collect();
        Batch { raw, utf8 }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.raw.rows as usize
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.raw.rows == 0
    }

    fn position(&self, name: &str) -> Result<usize> {
        self.raw
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::NotFound(format!("column `{name}` is not in this batch")))
    }

    fn column(&self, name: &str) -> Result<&wit::Column> {
        Ok(&self.raw.columns[self.position(name)?])
    }

    fn typed<'a, T>(
        &'a self,
        name: &str,
        want: &str,
        pick: impl FnOnce(&'a ColumnValues) -> Option<&'a [T]>,
    ) -> Result<Column<'a, T>> {
        let col = self.column(name)?;
        let values = pick(&col.values).ok_or_else(|| {
            Error::InvalidArgument(format!("column `{name}` is not of type {want}"))
        })?;
        Ok(Column {
            values,
            validity: col.validity.as_deref(),
        })
    }

    /// An `integer` column.
    pub fn integer(&self, name: &str) -> Result<Column<'_, i64>> {
        self.typed(name, "integer", |v| match v {
            ColumnValues::Integer(v) => Some(v),
            _ => None,
        })
    }

    /// A `timestamp` column, in microseconds since the Unix epoch.
    pub fn timestamp(&self, name: &str) -> Result<Column<'_, i64>> {
        self.typed(name, "timestamp", |v| match v {
            ColumnValues::Timestamp(v) => Some(v),
            _ => None,
        })
    }

    /// A `boolean` column, as bytes 0 or 1.
    pub fn boolean(&self, name: &str) -> Result<Column<'_, u8>> {
        self.typed(name, "boolean", |v| match v {
            ColumnValues::Boolean(v) => Some(v),
            _ => None,
        })
    }

    /// A `date` column.
    pub fn date(&self, name: &str) -> Result<Column<'_, Date>> {
        self.typed(name, "date", |v| match v {
            // SAFETY: `Date` is `repr(transparent)` over `i32`.
            ColumnValues::Date(v) => Some(unsafe { cast_slice::<i32, Date>(v) }),
            _ => None,
        })
    }

    /// A `decimal` column.
    pub fn decimal(&self, name: &str) -> Result<Column<'_, Decimal>> {
        self.typed(name, "decimal", |v| match v {
            // SAFETY: `Decimal` is `repr(transparent)` over `i64`.
            ColumnValues::Decimal(v) => Some(unsafe { cast_slice::<i64, Decimal>(v) }),
            _ => None,
        })
    }

    /// A `pseudonym` column.
    pub fn pseudonym(&self, name: &str) -> Result<Column<'_, Pseudonym>> {
        self.typed(name, "pseudonym", |v| match v {
            ColumnValues::Pseudonym(v) => {
                let (pairs, _) = v.as_chunks::<2>();
                // SAFETY: `Pseudonym` is `repr(transparent)` over `[u64; 2]`.
                Some(unsafe { cast_slice::<[u64; 2], Pseudonym>(pairs) })
            }
            _ => None,
        })
    }

    /// A `text` column.
    pub fn text(&self, name: &str) -> Result<TextColumn<'_>> {
        let at = self.position(name)?;
        let col = &self.raw.columns[at];
        match &col.values {
            ColumnValues::Text(t) => Ok(TextColumn {
                data: &t.data,
                // SAFETY: `Batch::new` checked that these bytes are valid UTF-8, and a batch
                // never changes them.
                text: self.utf8[at].then(|| unsafe { std::str::from_utf8_unchecked(&t.data) }),
                offsets: &t.offsets,
                validity: col.validity.as_deref(),
            }),
            _ => Err(Error::InvalidArgument(format!(
                "column `{name}` is not of type text"
            ))),
        }
    }
}

/// Reinterprets a slice of one type as a slice of a `repr(transparent)` wrapper of it.
///
/// # Safety
/// `U` must be `repr(transparent)` over `T`.
unsafe fn cast_slice<T, U>(s: &[T]) -> &[U] {
    debug_assert_eq!(size_of::<T>(), size_of::<U>());
    debug_assert_eq!(align_of::<T>(), align_of::<U>());
    // SAFETY: same size, alignment and validity, per the caller's guarantee.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<U>(), s.len()) }
}

fn bit_set(validity: Option<&[u8]>, row: usize) -> bool {
    validity.is_none_or(|bits| bits.get(row / 8).is_some_and(|b| b & (1 << (row % 8)) != 0))
}

/// A fixed-width column of a batch: the values as a slice, and which rows are null.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a, T> {
    values: &'a [T],
    validity: Option<&'a [u8]>,
}

impl<'a, T: Copy> Column<'a, T> {
    /// All values, nulls included (a null row holds zero). Fastest for tight loops over
    /// columns without nulls: check [`Column::has_nulls`] first.
    pub fn values(&self) -> &'a [T] {
        self.values
    }

    /// Whether any row may be null.
    pub fn has_nulls(&self) -> bool {
        self.validity.is_some()
    }

    /// Whether row `row` holds a value.
    pub fn is_valid(&self, row: usize) -> bool {
        row < self.values.len() && bit_set(self.validity, row)
    }

    /// The value of row `row`, `None` when it is null or out of range.
    pub fn get(&self, row: usize) -> Option<T> {
        if self.is_valid(row) {
            Some(self.values[row])
        } else {
            None
        }
    }

    /// Every row, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<T>> + 'a {
        let validity = self.validity;
        self.values
            .iter()
            .enumerate()
            .map(move |(i, v)| bit_set(validity, i).then_some(*v))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A text column of a batch: one byte buffer plus offsets.
#[derive(Debug, Clone, Copy)]
pub struct TextColumn<'a> {
    data: &'a [u8],
    /// `data` as text, when all of it is valid UTF-8 (the usual case): a row is then sliced
    /// out of it without checking its bytes again.
    text: Option<&'a str>,
    offsets: &'a [u32],
    validity: Option<&'a [u8]>,
}

impl<'a> TextColumn<'a> {
    /// The text of row `row`, `None` when it is null, out of range or not valid UTF-8.
    pub fn get(&self, row: usize) -> Option<&'a str> {
        if !bit_set(self.validity, row) {
            return None;
        }
        let start = *self.offsets.get(row)? as usize;
        let end = *self.offsets.get(row + 1)? as usize;
        match self.text {
            // `get` refuses a range that splits a character, as checking the bytes would.
            Some(text) => text.get(start..end),
            None => std::str::from_utf8(self.data.get(start..end)?).ok(),
        }
    }

    /// Every row, `None` for nulls.
    pub fn iter(&self) -> impl Iterator<Item = Option<&'a str>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_batch(data: &[u8], offsets: &[u32], validity: Option<u8>) -> Batch {
        Batch::new(wit::Batch {
            rows: offsets.len() as u32 - 1,
            columns: vec![wit::Column {
                name: "t".into(),
                values: ColumnValues::Text(wit::TextColumn {
                    data: data.to_vec(),
                    offsets: offsets.to_vec(),
                }),
                validity: validity.map(|bits| vec![bits]),
            }],
        })
    }

    #[test]
    fn text_rows_read_as_the_bytes_say() {
        // Valid as a whole: each row sliced out; a null row is none.
        let b = text_batch("a王b".as_bytes(), &[0, 1, 4, 5], Some(0b101));
        let t = b.text("t").unwrap();
        assert_eq!(
            (t.get(0), t.get(1), t.get(2), t.get(3)),
            (Some("a"), None, Some("b"), None)
        );
        // Offsets that split a character give none, as the bytes alone would.
        let b = text_batch("王b".as_bytes(), &[0, 2, 4], None);
        let t = b.text("t").unwrap();
        assert_eq!((t.get(0), t.get(1)), (None, None));
        // One row of bad bytes: that row is none, the others still read.
        let b = text_batch(&[b'a', 0xff, b'b'], &[0, 1, 2, 3], None);
        let t = b.text("t").unwrap();
        assert_eq!((t.get(0), t.get(1), t.get(2)), (Some("a"), None, Some("b")));
    }
}
