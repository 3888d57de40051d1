//! Columns held by the host: built value by value from text, then served to models as
//! slices or gathers of rows in the contract's columnar layout.

use std::ops::Range;

use crate::runtime::bindings::{Column, ColumnType, ColumnValues, TextColumn};

use super::pseudonym::Pseudonymizer;
use super::values;

/// A column of one dataset, in the contract's layout, with a validity bitmap when it has nulls.
#[derive(Debug, Clone)]
pub struct StoredColumn {
    /// The type as models see it.
    pub ty: ColumnType,
    /// The values.
    pub values: ColumnValues,
    /// Bit `i` set when row `i` is present; `None` when no row is null.
    pub validity: Option<Vec<u8>>,
    len: usize,
}

/// Which rows to serve.
#[derive(Debug, Clone)]
pub enum Rows<'a> {
    /// A contiguous range.
    Range(Range<usize>),
    /// Given rows, in order.
    List(&'a [u32]),
}

impl Rows<'_> {
    fn len(&self) -> usize {
        match self {
            Rows::Range(r) => r.len(),
            Rows::List(l) => l.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(usize)) {
        match self {
            Rows::Range(r) => r.clone().for_each(f),
            Rows::List(l) => l.iter().for_each(|&i| f(i as usize)),
        }
    }
}

fn pick<T: Copy>(v: &[T], rows: &Rows<'_>, width: usize) -> Vec<T> {
    match rows {
        Rows::Range(r) => v[r.start * width..r.end * width].to_vec(),
        Rows::List(l) => {
            let mut out = Vec::with_capacity(l.len() * width);
            for &i in *l {
                let i = i as usize * width;
                out.extend_from_slice(&v[i..i + width]);
            }
            out
        }
    }
}

impl StoredColumn {
    /// A column from values already in the contract's layout. Fails when the values do not
    /// have type `ty` or the validity bitmap is too short.
    pub fn from_values(
        ty: ColumnType,
        values: ColumnValues,
        validity: Option<Vec<u8>>,
    ) -> Result<Self, String> {
        let len = match (&values, ty) {
            (ColumnValues::Text(t), ColumnType::Text) => t.offsets.len().saturating_sub(1),
            (ColumnValues::Integer(v), ColumnType::Integer)
            | (ColumnValues::Decimal(v), ColumnType::Decimal)
            | (ColumnValues::Timestamp(v), ColumnType::Timestamp) => v.len(),
            (ColumnValues::Date(v), ColumnType::Date) => v.len(),
            (ColumnValues::Boolean(v), ColumnType::Boolean) => v.len(),
            (ColumnValues::Pseudonym(v), ColumnType::Pseudonym) if v.len() % 2 == 0 => v.len() / 2,
            _ => return Err(format!("values do not have type {ty}")),
        };
        if validity.as_ref().is_some_and(|v| v.len() < len.div_ceil(8)) {
            return Err("validity bitmap is shorter than the column".into());
        }
        Ok(StoredColumn {
            ty,
            values,
            validity,
            len,
        })
    }

    /// Appends the rows of `other`, a column of the same type.
    pub fn append(&mut self, other: &StoredColumn) -> Result<(), String> {
        let before = self.len;
        match (&mut self.values, &other.values) {
            (ColumnValues::Text(a), ColumnValues::Text(b)) => {
                let base = a.data.len() as u32;
                a.data.extend_from_slice(&b.data);
                a.offsets.extend(b.offsets.iter().skip(1).map(|o| o + base));
            }
            (ColumnValues::Integer(a), ColumnValues::Integer(b))
            | (ColumnValues::Decimal(a), ColumnValues::Decimal(b))
            | (ColumnValues::Timestamp(a), ColumnValues::Timestamp(b)) => a.extend_from_slice(b),
            (ColumnValues::Date(a), ColumnValues::Date(b)) => a.extend_from_slice(b),
            (ColumnValues::Boolean(a), ColumnValues::Boolean(b)) => a.extend_from_slice(b),
            (ColumnValues::Pseudonym(a), ColumnValues::Pseudonym(b)) => a.extend_from_slice(b),
            _ => {
                return Err(format!(
                    "cannot append a column of another type to a {} column",
                    self.ty
                ));
            }
        }
        self.len += other.len;
        if self.validity.is_some() || other.validity.is_some() {
            let mut bits = vec![0u8; self.len.div_ceil(8)];
            for i in 0..self.len {
                let valid = if i < before {
                    self.is_valid_before(i)
                } else {
                    other.is_valid(i - before)
                };
                if valid {
                    bits[i / 8] |= 1 << (i % 8);
                }
            }
            self.validity = Some(bits);
        }
        Ok(())
    }

    fn is_valid_before(&self, i: usize) -> bool {
        self.validity
            .as_ref()
            .is_none_or(|v| v.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes its values and validity bitmap take.
    pub fn heap_bytes(&self) -> usize {
        let values = match &self.values {
            ColumnValues::Text(t) => t.data.len() + t.offsets.len() * 4,
            ColumnValues::Integer(v) | ColumnValues::Decimal(v) | ColumnValues::Timestamp(v) => {
                v.len() * 8
            }
            ColumnValues::Date(v) => v.len() * 4,
            ColumnValues::Boolean(v) => v.len(),
            ColumnValues::Pseudonym(v) => v.len() * 8,
        };
        values + self.validity.as_ref().map_or(0, Vec::len)
    }

    /// Whether row `i` holds a value.
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity
            .as_ref()
            .is_none_or(|v| v[i / 8] & (1 << (i % 8)) != 0)
    }

    /// The text of row `i` of a text column.
    pub fn text_at(&self, i: usize) -> Option<&str> {
        match &self.values {
            ColumnValues::Text(t) => {
                let bytes = &t.data[t.offsets[i] as usize..t.offsets[i + 1] as usize];
                std::str::from_utf8(bytes).ok()
            }
            _ => None,
        }
    }

    /// The given rows as a column named `name` of a batch.
    pub fn gather(&self, name: &str, rows: &Rows<'_>) -> Column {
        let values = match &self.values {
            ColumnValues::Text(t) => {
                let mut offsets = Vec::with_capacity(rows.len() + 1);
                offsets.push(0u32);
                let data = match rows {
                    Rows::Range(r) if !r.is_empty() => {
                        let (s, e) = (t.offsets[r.start], t.offsets[r.end]);
                        offsets.extend(t.offsets[r.start + 1..=r.end].iter().map(|o| o - s));
                        t.data[s as usize..e as usize].to_vec()
                    }
                    _ => {
                        let at = |i: usize| t.offsets[i] as usize..t.offsets[i + 1] as usize;
                        // Sized first, so that the rows' bytes are copied once.
                        let mut bytes = 0;
                        rows.for_each(|i| bytes += at(i).len());
                        let mut data = Vec::with_capacity(bytes);
                        rows.for_each(|i| {
                            data.extend_from_slice(&t.data[at(i)]);
                            offsets.push(data.len() as u32);
                        });
                        data
                    }
                };
                ColumnValues::Text(TextColumn { data, offsets })
            }
            ColumnValues::Integer(v) => ColumnValues::Integer(pick(v, rows, 1)),
            ColumnValues::Decimal(v) => ColumnValues::Decimal(pick(v, rows, 1)),
            ColumnValues::Timestamp(v) => ColumnValues::Timestamp(pick(v, rows, 1)),
            ColumnValues::Date(v) => ColumnValues::Date(pick(v, rows, 1)),
            ColumnValues::Boolean(v) => ColumnValues::Boolean(pick(v, rows, 1)),
            ColumnValues::Pseudonym(v) => ColumnValues::Pseudonym(pick(v, rows, 2)),
        };
        let validity = self.validity.as_ref().map(|_| {
            let mut bits = vec![0u8; rows.len().div_ceil(8)];
            let mut out = 0;
            rows.for_each(|i| {
                if self.is_valid(i) {
                    bits[out / 8] |= 1 << (out % 8);
                }
                out += 1;
            });
            bits
        });
        Column {
            name: name.to_string(),
            values,
            validity,
        }
    }
}

/// Builds a [`StoredColumn`] from text values.
#[derive(Debug)]
pub struct ColumnBuilder {
    col: StoredColumn,
    nulls: Vec<u8>,
    any_null: bool,
}

impl ColumnBuilder {
    /// An empty column of type `ty`.
    pub fn new(ty: ColumnType) -> Self {
        let values = match ty {
            ColumnType::Text => ColumnValues::Text(TextColumn {
                data: Vec::new(),
                offsets: vec![0],
            }),
            ColumnType::Integer => ColumnValues::Integer(Vec::new()),
            ColumnType::Decimal => ColumnValues::Decimal(Vec::new()),
            ColumnType::Date => ColumnValues::Date(Vec::new()),
            ColumnType::Timestamp => ColumnValues::Timestamp(Vec::new()),
            ColumnType::Boolean => ColumnValues::Boolean(Vec::new()),
            ColumnType::Pseudonym => ColumnValues::Pseudonym(Vec::new()),
        };
        ColumnBuilder {
            col: StoredColumn {
                ty,
                values,
                validity: None,
                len: 0,
            },
            nulls: Vec::new(),
            any_null: false,
        }
    }

    fn mark(&mut self, valid: bool) {
        let i = self.col.len;
        if i.is_multiple_of(8) {
            self.nulls.push(0);
        }
        if valid {
            self.nulls[i / 8] |= 1 << (i % 8);
        } else {
            self.any_null = true;
        }
        self.col.len += 1;
    }

    /// Appends a null.
    pub fn push_null(&mut self) {
        match &mut self.col.values {
            ColumnValues::Text(t) => t.offsets.push(t.data.len() as u32),
            ColumnValues::Integer(v) | ColumnValues::Decimal(v) | ColumnValues::Timestamp(v) => {
                v.push(0)
            }
            ColumnValues::Date(v) => v.push(0),
            ColumnValues::Boolean(v) => v.push(0),
            ColumnValues::Pseudonym(v) => v.extend([0, 0]),
        }
        self.mark(false);
    }

    /// Parses and appends a value; pseudonym columns take the raw identifier.
    pub fn push_str(&mut self, raw: &str, pseudo: &Pseudonymizer) -> Result<(), String> {
        match &mut self.col.values {
            ColumnValues::Text(t) => {
                t.data.extend_from_slice(raw.as_bytes());
                let end = u32::try_from(t.data.len())
                    .map_err(|_| "text column exceeds 4 GiB".to_string())?;
                t.offsets.push(end);
            }
            ColumnValues::Integer(v) => v.push(
                raw.trim()
                    .parse()
                    .map_err(|_| format!("`{raw}` is not an integer"))?,
            ),
            ColumnValues::Decimal(v) => v.push(values::parse_decimal(raw)?),
            ColumnValues::Timestamp(v) => v.push(values::parse_timestamp(raw)?),
            ColumnValues::Date(v) => v.push(values::parse_date(raw)?),
            ColumnValues::Boolean(v) => v.push(u8::from(values::parse_bool(raw)?)),
            ColumnValues::Pseudonym(v) => {
                if raw.trim().is_empty() {
                    return Err("empty identifier".into());
                }
                v.extend(pseudo.pseudonym(raw))
            }
        }
        self.mark(true);
        Ok(())
    }

    /// The finished column.
    pub fn finish(mut self) -> StoredColumn {
        if self.any_null {
            self.col.validity = Some(self.nulls);
        }
        self.col
    }
}

/// The values of a text column as strings (tests only); panics on another type.
#[cfg(test)]
pub(crate) fn texts(values: &ColumnValues) -> Vec<String> {
    let ColumnValues::Text(t) = values else {
        panic!("not text: {values:?}")
    };
    t.offsets
        .windows(2)
        .map(|w| String::from_utf8_lossy(&t.data[w[0] as usize..w[1] as usize]).into())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: ColumnType, vals: &[Option<&str>]) -> StoredColumn {
        let p = Pseudonymizer::new(b"k");
        let mut b = ColumnBuilder::new(ty);
        for v in vals {
            match v {
                Some(v) => b.push_str(v, &p).unwrap(),
                None => b.push_null(),
            }
        }
        b.finish()
    }

    #[test]
    fn gathers_ranges_and_lists_with_nulls() {
        let c = col(
            ColumnType::Text,
            &[Some("a"), None, Some("ccc"), Some("dd")],
        );
        let g = c.gather("t", &Rows::Range(1..4));
        let ColumnValues::Text(t) = &g.values else {
            panic!()
        };
        assert_eq!(t.offsets, vec![0, 0, 3, 5]);
        assert_eq!(g.validity, Some(vec![0b110]));
        let g = c.gather("t", &Rows::List(&[3, 0]));
        let ColumnValues::Text(t) = &g.values else {
            panic!()
        };
        assert_eq!(t.data, b"dda");
        assert_eq!(g.validity, Some(vec![0b11]));
    }

    #[test]
    fn fixed_width_and_pseudonym_columns_gather_by_width() {
        let c = col(ColumnType::Pseudonym, &[Some("A"), Some("B"), Some("C")]);
        let g = c.gather("p", &Rows::List(&[2]));
        let ColumnValues::Pseudonym(v) = g.values else {
            panic!()
        };
        let ColumnValues::Pseudonym(all) = &c.values else {
            panic!()
        };
        assert_eq!(v, all[4..6].to_vec());
        assert!(g.validity.is_none());
    }
}
