//! The one `bindgen!` of the host: Rust types and traits generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "supervise:model/model@0.1.0",
    imports: { default: trappable },
    with: {
        "supervise:model/data.scan": crate::runtime::host_impl::data::ScanHandle,
        "supervise:model/data.index": crate::runtime::host_impl::data::IndexHandle,
    },
    additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
});

pub use self::supervise::model::clues::{Clue, Evidence, Field, Subject};
pub use self::supervise::model::log::Level;
pub use self::supervise::model::types::{
    Batch, ClueKind, Column, ColumnSpec, ColumnType, ColumnValues, DatasetUse, Error as WitError,
    ParamSpec, ParamType, TextColumn, Value,
};

/// The contract versions this host binds. A component built against any other version is
/// rejected at load with the version it asked for.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0"];

/// The WIT package every model imports from.
pub const WIT_PACKAGE: &str = "supervise:model";

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Decimal => "decimal",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Boolean => "boolean",
            ColumnType::Pseudonym => "pseudonym",
        })
    }
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParamType::Text => "text",
            ParamType::Integer => "integer",
            ParamType::Decimal => "decimal",
            ParamType::Date => "date",
            ParamType::Boolean => "boolean",
        })
    }
}
