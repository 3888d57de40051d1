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

use std::io::Read;

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

/// The next `n` bytes of chunk bytes `b`, which move past them; fails on truncation.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    let (head, tail) = b.split_at_checked(n).ok_or("chunk is truncated")?;
    *b = tail;
    Ok(head)
}

/// The type of a one-column chunk's column ([`encode_apart`]), read from its header; `None`
/// when the bytes are not such a chunk.
pub fn type_of(bytes: &[u8]) -> Option<ColumnType> {
    let mut b = bytes;
    if read_array::<4>(&mut b).ok()? != *MAGIC
        || read_u32(&mut b).is_err()
        || read_u16(&mut b).ok()? != 1
    {
        return None;
    }
    let name_len = read_u16(&mut b).ok()?;
    take(&mut b, name_len).ok()?;
    untag(read_array::<1>(&mut b).ok()?[0])
}

/// Reads exactly `buf.len()` bytes of a chunk from `r`.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> Result<(), String> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => "chunk is truncated".to_string(),
        _ => format!("chunk cannot be read: {e}"),
    })
}

fn read_array<const N: usize>(r: &mut dyn Read) -> Result<[u8; N], String> {
    let mut a = [0u8; N];
    fill(r, &mut a)?;
    Ok(a)
}

fn read_u16(r: &mut dyn Read) -> Result<usize, String> {
    Ok(u16::from_le_bytes(read_array(r)?) as usize)
}

fn read_u32(r: &mut dyn Read) -> Result<usize, String> {
    Ok(u32::from_le_bytes(read_array(r)?) as usize)
}

/// `n` bytes of a chunk, read into a buffer of their own.
fn read_bytes(r: &mut dyn Read, n: usize) -> Result<Vec<u8>, String> {
    let mut v = vec![0u8; n];
    fill(r, &mut v)?;
    Ok(v)
}

/// `n` little-endian values of a chunk, read straight into the buffer that keeps them: on a
/// little-endian machine the values are used as they lie, with no second copy.
fn read_words<T: bytemuck::Pod + Default>(
    r: &mut dyn Read,
    n: usize,
    from_le: impl Fn(T) -> T,
) -> Result<Vec<T>, String> {
    let mut v = vec![T::default(); n];
    fill(r, bytemuck::cast_slice_mut(&mut v))?;
    if cfg!(target_endian = "big") {
        v.iter_mut().for_each(|x| *x = from_le(*x));
    }
    Ok(v)
}

/// The values of a column of `rows` rows and type `ty` whose payload has `payload` bytes
/// after its validity bitmap, read from `r`. Fails when the payload's length is not the one
/// those rows take.
fn read_values(
    r: &mut dyn Read,
    ty: ColumnType,
    rows: usize,
    payload: usize,
) -> Result<ColumnValues, String> {
    let fixed = |width: usize| -> Result<(), String> {
        match rows.checked_mul(width) {
            Some(n) if n == payload => Ok(()),
            _ => Err(format!(
                "{rows} values of {width} bytes do not fill {payload} bytes"
            )),
        }
    };
    Ok(match ty {
        ColumnType::Text => {
            let heads = (rows + 1) * 4 + 4;
            if payload < heads {
                return Err("text offsets are truncated".into());
            }
            let offsets = read_words(r, rows + 1, u32::from_le)?;
            let len = read_u32(r)?;
            if heads + len != payload
                || offsets.windows(2).any(|w| w[0] > w[1])
                || offsets.last().is_some_and(|&o| o as usize != len)
            {
                return Err("text offsets are inconsistent".into());
            }
            let data = read_bytes(r, len)?;
            ColumnValues::Text(TextColumn { data, offsets })
        }
        ColumnType::Integer | ColumnType::Decimal | ColumnType::Timestamp => {
            fixed(8)?;
            let v = read_words(r, rows, i64::from_le)?;
            match ty {
                ColumnType::Integer => ColumnValues::Integer(v),
                ColumnType::Decimal => ColumnValues::Decimal(v),
                _ => ColumnValues::Timestamp(v),
            }
        }
        ColumnType::Date => {
            fixed(4)?;
            ColumnValues::Date(read_words(r, rows, i32::from_le)?)
        }
        ColumnType::Boolean => {
            fixed(1)?;
            ColumnValues::Boolean(read_bytes(r, rows)?)
        }
        ColumnType::Pseudonym => {
            fixed(16)?;
            ColumnValues::Pseudonym(read_words(r, rows * 2, u64::from_le)?)
        }
    })
}

/// A column's payload of `len` bytes read from `r`: its validity bitmap when it has one,
/// and its values.
fn read_payload(
    r: &mut dyn Read,
    ty: ColumnType,
    rows: usize,
    has_validity: bool,
    len: usize,
) -> Result<(Option<Vec<u8>>, ColumnValues), String> {
    let bitmap = if has_validity { rows.div_ceil(8) } else { 0 };
    let values_len = len.checked_sub(bitmap).ok_or("validity is truncated")?;
    let validity = has_validity.then(|| read_bytes(r, bitmap)).transpose()?;
    Ok((validity, read_values(r, ty, rows, values_len)?))
}

/// Reads column `name` from `r`, which holds a one-column chunk ([`encode_apart`]) of `len`
/// bytes, each part straight into the buffer the decoded column keeps (no copy of the whole
/// chunk first, as [`decode`] needs). Returns the chunk's rows and the column. Fails on a
/// chunk of another column or of several, on a corrupt one, and on one whose parts do not
/// fit in `len` bytes; nothing is allocated beyond what `len` bytes can hold.
pub fn decode_column(
    r: &mut dyn Read,
    len: usize,
    name: &str,
) -> Result<(usize, StoredColumn), String> {
    if read_array::<4>(r)? != *MAGIC {
        return Err("not a column chunk".into());
    }
    let rows = read_u32(r)?;
    if read_u16(r)? != 1 {
        return Err("not a chunk of one column".into());
    }
    let name_len = read_u16(r)?;
    if name_len != name.len() || read_bytes(r, name_len)? != name.as_bytes() {
        return Err(format!("not a chunk of column `{name}`"));
    }
    let ty = untag(read_array::<1>(r)?[0]).ok_or("unknown column type tag")?;
    let has_validity = read_array::<1>(r)?[0] == 1;
    let payload = read_u32(r)?;
    let header = 4 + 4 + 2 + 2 + name_len + 1 + 1 + 4;
    if header + payload != len {
        return Err(format!(
            "its column's {payload} bytes do not fill the chunk's {len}"
        ));
    }
    let (validity, values) = read_payload(r, ty, rows, has_validity, payload)?;
    Ok((rows, StoredColumn::from_values(ty, values, validity)?))
}

/// Decodes the named columns of a chunk, in the order asked; a name not in the chunk is
/// `None`. Fails on a corrupt chunk.
pub fn decode(bytes: &[u8], wanted: &[&str]) -> Result<(usize, Vec<Option<StoredColumn>>), String> {
    let mut b = bytes;
    if read_array::<4>(&mut b)? != *MAGIC {
        return Err("not a column chunk".into());
    }
    let rows = read_u32(&mut b)?;
    let ncols = read_u16(&mut b)?;
    let mut out: Vec<Option<StoredColumn>> = vec![None; wanted.len()];
    for _ in 0..ncols {
        let name_len = read_u16(&mut b)?;
        let name =
            std::str::from_utf8(take(&mut b, name_len)?).map_err(|_| "column name is not UTF-8")?;
        let ty = untag(read_array::<1>(&mut b)?[0]).ok_or("unknown column type tag")?;
        let has_validity = read_array::<1>(&mut b)?[0] == 1;
        let len = read_u32(&mut b)?;
        let payload = take(&mut b, len)?;
        let Some(slot) = wanted.iter().position(|w| *w == name) else {
            continue;
        };
        let (validity, values) = read_payload(&mut { payload }, ty, rows, has_validity, len)?;
        out[slot] = Some(StoredColumn::from_values(ty, values, validity)?);
    }
    Ok((rows, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::columns::ColumnBuilder;
    use crate::datasets::pseudonym::Pseudonymizer;

    /// A column of type `ty` holding `vals` as imported (an empty value is null).
    fn build(ty: ColumnType, vals: &[&str]) -> StoredColumn {
        let p = Pseudonymizer::new(b"k");
        let mut b = ColumnBuilder::new(ty);
        for v in vals {
            if v.is_empty() {
                b.push_null()
            } else {
                b.push_str(v, &p).unwrap()
            }
        }
        b.finish()
    }

    #[test]
    fn chunks_round_trip_only_the_columns_asked_for() {
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

    #[test]
    fn a_column_read_straight_from_its_chunk_equals_the_decoded_one() {
        let columns = [
            ("t", build(ColumnType::Text, &["a", "", "ccc"])),
            (
                "d",
                build(ColumnType::Date, &["2024-01-01", "2024-01-02", ""]),
            ),
            ("p", build(ColumnType::Pseudonym, &["X", "Y", "Z"])),
            ("m", build(ColumnType::Decimal, &["1.5", "-2", "3"])),
            ("i", build(ColumnType::Integer, &["1", "", "3"])),
            ("b", build(ColumnType::Boolean, &["true", "false", ""])),
        ];
        for (name, col) in &columns {
            let blob = encode(3, &[(name, col)]);
            let (rows, read) =
                decode_column(&mut std::io::Cursor::new(&blob), blob.len(), name).unwrap();
            assert_eq!(rows, 3);
            assert_eq!(read.values, col.values, "{name}");
            assert_eq!(read.validity, col.validity, "{name}");
        }
    }

    #[test]
    fn a_column_read_straight_refuses_what_is_not_its_chunk() {
        let date = build(ColumnType::Date, &["2024-01-01", "2024-01-02"]);
        let blob = encode(2, &[("d", &date)]);
        let read = |bytes: &[u8], len: usize, name: &str| {
            decode_column(&mut std::io::Cursor::new(bytes), len, name).map(|_| ())
        };
        assert_eq!(read(&blob, blob.len(), "d"), Ok(()));
        let err = read(&blob, blob.len(), "e").unwrap_err();
        assert!(err.contains("not a chunk of column `e`"), "{err}");
        let err = read(&blob[..blob.len() - 1], blob.len(), "d").unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        let err = read(&blob, blob.len() + 8, "d").unwrap_err();
        assert!(err.contains("do not fill"), "{err}");
        // A header claiming more rows than its payload holds allocates nothing for them.
        let mut lying = blob.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = read(&lying, lying.len(), "d").unwrap_err();
        assert!(err.contains("do not fill"), "{err}");
        let two = encode(2, &[("d", &date), ("e", &date)]);
        let err = read(&two, two.len(), "d").unwrap_err();
        assert!(err.contains("one column"), "{err}");
        let err = read(b"SVC2", 4, "d").unwrap_err();
        assert!(err.contains("not a column chunk"), "{err}");
    }
}
