//! Data as models see it: dataset schemas and the catalogue, validated imports into columnar
//! chunks, regions and region scoping, pseudonyms, snapshots, and the sources that feed the
//! sandbox (the store-backed feed and the in-memory one for fixture files).

pub mod catalog;
pub mod chunk;
pub mod columns;
pub mod failures;
pub mod feed;
pub mod files;
pub mod fixtures;
pub mod identify;
pub mod import;
pub mod keys;
pub mod memory;
mod parts;
mod pending;
pub mod pseudonym;
pub mod region;
pub mod regions;
pub mod schema;
pub mod snapshot;
pub mod values;
