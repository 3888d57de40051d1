//! The on-disk form of imported rows: a chunk of up to [`CHUNK_ROWS`] rows, stored column by
//! column, so a scan decodes whole columns with bulk copies instead of decoding rows. Each
//! column of a chunk is stored apart, as a chunk of that one column ([`encode_apart`]; a row
//! of `chunk_columns` each), so a scan reads only the columns it asks for. Chunks imported
//! before migration 0010 are stored whole, every column in one blob; [`decode`] reads both.
//!
//! Layout (little-endian): `SVC1`, rows `u32`, column count `u16`, then per column: name
//! length `u16`, name, type tag `u8`, validity flag `u8`, payload length `u32`, payload
//! (validity bitmap if flagged, then the values: text as `rows + 1` offsets `u32`, data length
//! `u32` and data; fixed-width values back to back).

use crate::runtime::bindings::{ColumnType, ColumnValues, TextColumn};

use super::columns::StoredColumn;

/// Rows per chunk.
pub const CHUNK_ROWS: usize = 65_536;

/// The prefix of the columns holding a personal-identifier column's raw values, kept beside
/// its pseudonyms for re-identification only: no model can ask for them.
pub const RAW_PREFIX: &str = "raw:";

const MAGIC: &[u8; 4] = b"SVC1";

fn tag(ty: ColumnType) -> u8 {
    match ty {
        ColumnType::Text => 0,
        ColumnType::Integer => 1,
        ColumnType::Decimal => 2,
        ColumnType::Date => 3,
        ColumnType::Timestamp => 4,
        ColumnType::Boolean => 5,
        ColumnType::Pseudonym => 6,
    }
}

fn untag(t: u8) -> Option<ColumnType> {
    Some(match t {
        0 => ColumnType::Text,
        1 => ColumnType::Integer,
        2 => ColumnType::Decimal,
        3 => ColumnType::Date,
        4 => ColumnType::Timestamp,
        5 => ColumnType::Boolean,
        6 => ColumnType::Pseudonym,
        _ => return None,
    })
}

/// Encodes named columns of equal length into one chunk.
pub fn encode(rows: usize, columns: &[(&str, &StoredColumn)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + rows * 8 * columns.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(rows as u32).to_le_bytes());
    out.extend_from_slice(&(columns.len() as u16).to_le_bytes());
    for (name, col) in columns {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(tag(col.ty));
        out.push(u8::from(col.validity.is_some()));
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        if let Some(v) = &col.validity {
            out.extend_from_slice(v);
        }
        match &col.values {
            ColumnValues::Text(t) => {
                t.offsets
                    .iter()
                    .for_each(|o| out.extend_from_slice(&o.to_le_bytes()));
                out.extend_from_slice(&(t.data.len() as u32).to_le_bytes());
                out.extend_from_slice(&t.data);
            }
            ColumnValues::Integer(v) | ColumnValues::Decimal(v) | ColumnValues::Timestamp(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            ColumnValues::Date(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            ColumnValues::Boolean(v) => out.extend_from_slice(v),
            ColumnValues::Pseudonym(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
        let len = (out.len() - len_at - 4) as u32;
        out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    }
    out
}

/// Encodes each named column as a chunk of its own, the form stored: (name, chunk).
pub fn encode_apart(rows: usize, columns: &[(&str, &StoredColumn)]) -> Vec<(String, Vec<u8>)> {
    columns
        .iter()
        .map(|&(name, col)| (name.to_string(), encode(rows, &[(name, col)])))
        .collect()
}

/// Reads from a chunk, failing on truncation.
struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err("chunk is truncated".into());
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u16(&mut self) -> Result<usize, String> {
        Ok(u16::from_le_bytes(self.array()?) as usize)
    }

    fn u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }
}

/// The little-endian words of `b`, each read with `f`. `f` is a type parameter, not a function
/// pointer, so that it is inlined into the loop (as a pointer it was an indirect call per
/// value).
fn words<const N: usize, T>(b: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    let (chunks, _) = b.as_chunks::<N>();
    chunks.iter().map(|c| f(*c)).collect()
}

fn decode_values(ty: ColumnType, rows: usize, p: &mut Cursor<'_>) -> Result<ColumnValues, String> {
    Ok(match ty {
        ColumnType::Text => {
            let offsets = words(p.take((rows + 1) * 4)?, u32::from_le_bytes);
            let len = p.u32()?;
            let data = p.take(len)?.to_vec();
            if offsets.windows(2).any(|w| w[0] > w[1])
                || offsets.last().is_some_and(|&o| o as usize != len)
            {
                return Err("text offsets are inconsistent".into());
            }
            ColumnValues::Text(TextColumn { data, offsets })
        }
        ColumnType::Integer => ColumnValues::Integer(words(p.take(rows * 8)?, i64::from_le_bytes)),
        ColumnType::Decimal => ColumnValues::Decimal(words(p.take(rows * 8)?, i64::from_le_bytes)),
        ColumnType::Timestamp => {
            ColumnValues::Timestamp(words(p.take(rows * 8)?, i64::from_le_bytes))
        }
        ColumnType::Date => ColumnValues::Date(words(p.take(rows * 4)?, i32::from_le_bytes)),
        ColumnType::Boolean => ColumnValues::Boolean(p.take(rows)?.to_vec()),
        ColumnType::Pseudonym => {
            ColumnValues::Pseudonym(words(p.take(rows * 16)?, u64::from_le_bytes))
        }
    })
}

/// The type of a one-column chunk's column ([`encode_apart`]), read from its header; `None`
/// when the bytes are not such a chunk.
pub fn type_of(bytes: &[u8]) -> Option<ColumnType> {
    let mut c = Cursor { b: bytes };
    if c.take(4).ok()? != MAGIC || c.u32().is_err() || c.u16().ok()? != 1 {
        return None;
    }
    let name_len = c.u16().ok()?;
    c.take(name_len).ok()?;
    untag(c.take(1).ok()?[0])
}

/// Decodes the named columns of a chunk, in the order asked; a name not in the chunk is
/// `None`. Fails on a corrupt chunk.
pub fn decode(bytes: &[u8], wanted: &[&str]) -> Result<(usize, Vec<Option<StoredColumn>>), String> {
    let mut c = Cursor { b: bytes };
    if c.take(4)? != MAGIC {
        return Err("not a column chunk".into());
    }
    let rows = c.u32()?;
    let ncols = c.u16()?;
    let mut out: Vec<Option<StoredColumn>> = vec![None; wanted.len()];
    for _ in 0..ncols {
        let name_len = c.u16()?;
        let name =
            std::str::from_utf8(c.take(name_len)?).map_err(|_| "column name is not UTF-8")?;
        let ty = untag(c.take(1)?[0]).ok_or("unknown column type tag")?;
        let has_validity = c.take(1)?[0] == 1;
        let len = c.u32()?;
        let payload = c.take(len)?;
        let Some(slot) = wanted.iter().position(|w| *w == name) else {
            continue;
        };
        let mut p = Cursor { b: payload };
        let validity = if has_validity {
            Some(p.take(rows.div_ceil(8))?.to_vec())
        } else {
            None
        };
        let values = decode_values(ty, rows, &mut p)?;
        out[slot] = Some(StoredColumn::from_values(ty, values, validity)?);
    }
    Ok((rows, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::columns::ColumnBuilder;
    use crate::datasets::pseudonym::Pseudonymizer;

    #[test]
    fn chunks_round_trip_only_the_columns_asked_for() {
        let p = Pseudonymizer::new(b"k");
        let build = |ty, vals: &[&str]| {
            let mut b = ColumnBuilder::new(ty);
            for v in vals {
                if v.is_empty() {
                    b.push_null()
                } else {
                    b.push_str(v, &p).unwrap()
                }
            }
            b.finish()
        };
        let text = build(ColumnType::Text, &["a", "", "ccc"]);
        let date = build(ColumnType::Date, &["2024-01-01", "2024-01-02", ""]);
        let ids = build(ColumnType::Pseudonym, &["X", "Y", "Z"]);
        let blob = encode(3, &[("t", &text), ("d", &date), ("p", &ids)]);
        let (rows, cols) = decode(&blob, &["p", "missing", "t"]).unwrap();
        assert_eq!(rows, 3);
        assert!(cols[1].is_none());
        let (p2, t2) = (cols[0].as_ref().unwrap(), cols[2].as_ref().unwrap());
        assert_eq!(p2.values, ids.values);
        assert_eq!(t2.values, text.values);
        assert_eq!(t2.validity, text.validity);
        assert!(decode(&blob[..blob.len() - 3], &["p"]).is_err());
    }
}
