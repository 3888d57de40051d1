//! Dataset schemas: the province's standard description of a dataset (typed columns, which
//! column holds the region code, which hold personal identifiers, the key), read from TOML.
//!
//! ```toml
//! name = "death_registrations"
//! description = "Deaths registered by civil affairs"
//! owner_office = "330000"
//! region_column = "region_code"
//! key = ["record_id"]
//!
//! [[columns]]
//! name = "record_id"
//! type = "text"
//!
//! [[columns]]
//! name = "id_number"
//! type = "text"
//! pii = true
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::runtime::bindings::ColumnType;

/// Column types of a stored dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredType {
    /// UTF-8 text.
    Text,
    /// 64-bit integer.
    Integer,
    /// Decimal with at most four fraction digits.
    Decimal,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    Timestamp,
    /// `true`/`false`.
    Bool,
}

/// One column of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDef {
    /// Standard column name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: StoredType,
    /// Whether a row may leave it empty.
    #[serde(default)]
    pub nullable: bool,
    /// Whether it holds a personal identifier: models only ever see its pseudonym.
    #[serde(default)]
    pub pii: bool,
    /// What it means.
    #[serde(default)]
    pub description: String,
}

impl ColumnDef {
    /// The type a model sees: pseudonym for personal identifiers.
    pub fn model_type(&self) -> ColumnType {
        if self.pii {
            return ColumnType::Pseudonym;
        }
        match self.ty {
            StoredType::Text => ColumnType::Text,
            StoredType::Integer => ColumnType::Integer,
            StoredType::Decimal => ColumnType::Decimal,
            StoredType::Date => ColumnType::Date,
            StoredType::Timestamp => ColumnType::Timestamp,
            StoredType::Bool => ColumnType::Boolean,
        }
    }
}

/// A dataset's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSchema {
    /// Standard dataset name.
    pub name: String,
    /// What it holds.
    #[serde(default)]
    pub description: String,
    /// The office that provides it.
    pub owner_office: String,
    /// The column with each row's 6-digit region code.
    pub region_column: String,
    /// Columns that together identify a row.
    pub key: Vec<String>,
    /// The columns, in file order.
    pub columns: Vec<ColumnDef>,
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some('a'..='z'))
        && s.len() <= 64
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl DatasetSchema {
    /// Parses and validates a TOML schema.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let schema: DatasetSchema = toml::from_str(text).map_err(|e| e.to_string())?;
        schema.validate()?;
        Ok(schema)
    }

    /// The first problem with the schema, if any.
    pub fn validate(&self) -> Result<(), String> {
        if !is_name(&self.name) {
            return Err(format!(
                "dataset name `{}` must be lowercase letters, digits and underscores",
                self.name
            ));
        }
        if self.owner_office.trim().is_empty() {
            return Err("owner_office is empty".into());
        }
        if self.columns.is_empty() {
            return Err("no columns".into());
        }
        let mut seen = BTreeSet::new();
        for c in &self.columns {
            if !is_name(&c.name) || !seen.insert(c.name.as_str()) {
                return Err(format!("column name `{}` is malformed or repeated", c.name));
            }
            if c.pii && c.ty != StoredType::Text {
                return Err(format!("column `{}`: only text columns can be pii", c.name));
            }
        }
        let region = self
            .column(&self.region_column)
            .ok_or_else(|| format!("region_column `{}` is not a column", self.region_column))?;
        if region.ty != StoredType::Text || region.nullable || region.pii {
            return Err(format!(
                "region column `{}` must be text, required and not pii",
                region.name
            ));
        }
        if self.key.is_empty() {
            return Err("key names no column".into());
        }
        for k in &self.key {
            let c = self
                .column(k)
                .ok_or_else(|| format!("key column `{k}` is not a column"))?;
            if c.nullable {
                return Err(format!("key column `{k}` cannot be nullable"));
            }
        }
        Ok(())
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        name = "deaths"
        owner_office = "330000"
        region_column = "region_code"
        key = ["record_id"]
        [[columns]]
        name = "record_id"
        type = "text"
        [[columns]]
        name = "id_number"
        type = "text"
        pii = true
        [[columns]]
        name = "region_code"
        type = "text"
    "#;

    #[test]
    fn pii_columns_are_pseudonyms_to_models() {
        let s = DatasetSchema::from_toml(GOOD).unwrap();
        assert_eq!(
            s.column("id_number").unwrap().model_type(),
            ColumnType::Pseudonym
        );
        assert_eq!(
            s.column("record_id").unwrap().model_type(),
            ColumnType::Text
        );
    }

    #[test]
    fn bad_schemas_say_what_is_wrong() {
        let cases = [
            (
                GOOD.replace(
                    "region_column = \"region_code\"",
                    "region_column = \"nope\"",
                ),
                "region_column",
            ),
            (
                GOOD.replace("key = [\"record_id\"]", "key = [\"x\"]"),
                "key column `x`",
            ),
            (
                GOOD.replace(
                    "type = \"text\"\n        pii",
                    "type = \"integer\"\n        pii",
                ),
                "only text columns can be pii",
            ),
            (GOOD.replace("owner_office", "owner"), "unknown field"),
            (
                GOOD.replace("type = \"text\"", "type = \"blob\""),
                "unknown variant",
            ),
        ];
        for (text, want) in cases {
            let err = DatasetSchema::from_toml(&text).unwrap_err();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
