//! A clue's evidence as JSON, written by hand byte for byte as `serde_json` writes it, for the
//! two forms a run's record needs of every clue: the stored evidence (`serde_json::to_string`
//! of the evidence list: its fields in declaration order) and the evidence part of the content
//! hash (object keys sorted, see [`super::dedup::content_sha256`]).
//!
//! Through `serde_json` these cost a pension clue about 5 µs, most of it in its string
//! escaping, which looks at every byte of every short string on its own; a 10 M province
//! keys some 2,000 clues per batch before its record may start (session 34). Here a string
//! with nothing to escape (dataset and column names, row keys, hex: nearly all of them) is
//! copied as it is, and anything else is left to `serde_json`, so the bytes cannot differ;
//! the tests compare both writers over awkward values.

use crate::runtime::bindings::{Evidence, Field, Value};

/// Whether `serde_json` writes `s` with no escapes: no quote, backslash or control character.
/// Looks at every byte, without a branch per byte: the strings are short and nearly all plain.
fn plain(s: &str) -> bool {
    !s.bytes().fold(false, |seen, b| {
        seen | (b == b'"') | (b == b'\\') | (b < 0x20)
    })
}

/// Writes `s` as a JSON string.
pub(crate) fn string(buf: &mut String, s: &str) {
    if plain(s) {
        buf.push('"');
        buf.push_str(s);
        buf.push('"');
    } else {
        // Serialising a string cannot fail.
        buf.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

/// Writes `,"key":` and `value` as a JSON string: a member after the first of an object.
/// `key` is one of this crate's names, with nothing to escape.
pub(crate) fn text_member(buf: &mut String, key: &str, value: &str) {
    buf.push_str(",\"");
    buf.push_str(key);
    buf.push_str("\":");
    string(buf, value);
}

/// Writes an integer as `serde_json` does, through the same `itoa`.
fn number(buf: &mut String, n: impl itoa::Integer) {
    buf.push_str(itoa::Buffer::new().format(n));
}

/// Writes a float as `serde_json` does: its shortest text, or `null` when not finite.
pub(crate) fn score(buf: &mut String, x: f64) {
    // Serialising a float cannot fail.
    buf.push_str(&serde_json::to_string(&x).unwrap_or_else(|_| "null".into()));
}

/// Writes a value as its derived `Serialize` does: the unit variant as its name, the others
/// as a one-key object `{"Variant":…}`.
fn value(buf: &mut String, v: &Value) {
    fn open(buf: &mut String, tag: &str) {
        buf.push_str("{\"");
        buf.push_str(tag);
        buf.push_str("\":");
    }
    fn int(buf: &mut String, tag: &str, n: i64) {
        open(buf, tag);
        number(buf, n);
    }
    match v {
        Value::Null => {
            buf.push_str("\"Null\"");
            return;
        }
        Value::Text(s) => {
            open(buf, "Text");
            string(buf, s);
        }
        Value::Integer(n) => int(buf, "Integer", *n),
        Value::Decimal(n) => int(buf, "Decimal", *n),
        Value::Date(n) => int(buf, "Date", i64::from(*n)),
        Value::Timestamp(n) => int(buf, "Timestamp", *n),
        Value::Boolean(b) => {
            open(buf, "Boolean");
            buf.push_str(if *b { "true" } else { "false" });
        }
        Value::Pseudonym((hi, lo)) => {
            open(buf, "Pseudonym");
            buf.push('[');
            number(buf, *hi);
            buf.push(',');
            number(buf, *lo);
            buf.push(']');
        }
    }
    buf.push('}');
}

/// Writes `items` as a JSON array, each by `each`.
fn array<T>(buf: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    buf.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        each(buf, item);
    }
    buf.push(']');
}

/// Writes a field: `{"name":…,"value":…}` (its keys in declaration order are sorted too).
fn field(buf: &mut String, f: &Field) {
    buf.push_str("{\"name\":");
    string(buf, &f.name);
    buf.push_str(",\"value\":");
    value(buf, &f.value);
    buf.push('}');
}

/// Writes the evidence list as `serde_json::to_string` does: each item's keys in declaration
/// order, `{"dataset":…,"row_keys":[…],"fields":[…]}`. What the clue store keeps.
pub(crate) fn evidence(list: &[Evidence]) -> String {
    let mut buf = String::new();
    evidence_in(&mut buf, list, false);
    buf
}

/// Writes the evidence list with each item's keys sorted, as a JSON tree of it would be
/// written: `{"dataset":…,"fields":[…],"row_keys":[…]}`. What the content hash covers.
pub(crate) fn evidence_sorted(buf: &mut String, list: &[Evidence]) {
    evidence_in(buf, list, true);
}

/// Writes the evidence list, each item's row keys after its fields when `sorted`, else
/// before them.
fn evidence_in(buf: &mut String, list: &[Evidence], sorted: bool) {
    let row_keys = |buf: &mut String, e: &Evidence| {
        buf.push_str(",\"row_keys\":");
        array(buf, &e.row_keys, |buf, k| string(buf, k));
    };
    array(buf, list, |buf, e| {
        buf.push_str("{\"dataset\":");
        string(buf, &e.dataset);
        if !sorted {
            row_keys(buf, e);
        }
        buf.push_str(",\"fields\":");
        array(buf, &e.fields, field);
        if sorted {
            row_keys(buf, e);
        }
        buf.push('}');
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text that needs every kind of escape `serde_json` makes, and text that needs none.
    const AWKWARD: [&str; 11] = [
        "",
        "\u{1f}",
        "x\u{7f}\u{80}",
        "plain_name",
        "王\"小\"明",
        "a\\b",
        "\n\r\t\u{8}\u{c}",
        "\u{0}\u{1f}\u{7f}",
        "é😀 ",
        "</script>",
        "\"",
    ];

    fn every_value(text: &str) -> Vec<Value> {
        vec![
            Value::Null,
            Value::Text(text.into()),
            Value::Integer(i64::MIN),
            Value::Integer(0),
            Value::Decimal(-125_000),
            Value::Decimal(i64::MAX),
            Value::Date(-3),
            Value::Date(i32::MAX),
            Value::Timestamp(1_700_000_000_000_000),
            Value::Boolean(true),
            Value::Boolean(false),
            Value::Pseudonym((u64::MAX, 7)),
            Value::Pseudonym((0, 0)),
        ]
    }

    fn evidence_of(text: &str) -> Vec<Evidence> {
        let fields = every_value(text)
            .into_iter()
            .map(|value| Field {
                name: text.into(),
                value,
            })
            .collect();
        vec![
            Evidence {
                dataset: text.into(),
                row_keys: vec![text.into(), "K1".into()],
                fields,
            },
            Evidence {
                dataset: "pension_payments".into(),
                row_keys: vec![],
                fields: vec![],
            },
        ]
    }

    fn sorted(list: &[Evidence]) -> String {
        let mut buf = String::new();
        evidence_sorted(&mut buf, list);
        buf
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in AWKWARD {
            let mut buf = String::new();
            string(&mut buf, s);
            assert_eq!(buf, serde_json::to_string(s).expect("json"), "{s:?}");
        }
    }

    #[test]
    fn the_stored_evidence_is_what_serde_json_writes() {
        for s in AWKWARD {
            let list = evidence_of(s);
            assert_eq!(
                evidence(&list),
                serde_json::to_string(&list).expect("json"),
                "{s:?}"
            );
        }
        assert_eq!(evidence(&[]), "[]");
    }

    #[test]
    fn the_hashed_evidence_is_a_json_tree_of_it() {
        for s in AWKWARD {
            let list = evidence_of(s);
            let tree = serde_json::to_value(&list).expect("tree");
            assert_eq!(sorted(&list), tree.to_string(), "{s:?}");
        }
    }
}
