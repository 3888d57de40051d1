//! A model's own Rust code run natively over any of the host's data sources, through the
//! SDK's `Backend`: the same scans and look-ups (region filter, pseudonyms, batches, the
//! host's key index and its cap) as the sandbox gets, without the sandbox.

use std::sync::{Arc, Mutex};

use supervise::runtime::RunLimits;
use supervise::runtime::bindings as host;
use supervise::runtime::source::{
    BatchReader, ColumnRequest, DataSource, KeyIndex, ScanRequest, SourceError,
};
use supervise_sdk::bindings::supervise::model::clues as wit_clues;
use supervise_sdk::bindings::supervise::model::types as wit;
use supervise_sdk::{
    Backend, Date, Error, IndexSource, Level, Manifest, Model, RunContext, RunInfo, ScanSource,
    Value,
};

fn host_type(t: wit::ColumnType) -> host::ColumnType {
    match t {
        wit::ColumnType::Text => host::ColumnType::Text,
        wit::ColumnType::Integer => host::ColumnType::Integer,
        wit::ColumnType::Decimal => host::ColumnType::Decimal,
        wit::ColumnType::Date => host::ColumnType::Date,
        wit::ColumnType::Timestamp => host::ColumnType::Timestamp,
        wit::ColumnType::Boolean => host::ColumnType::Boolean,
        wit::ColumnType::Pseudonym => host::ColumnType::Pseudonym,
    }
}

/// Moves a host batch into the guest's type (the vectors move; nothing is copied).
fn guest_batch(b: host::Batch) -> wit::Batch {
    wit::Batch {
        rows: b.rows,
        columns: b
            .columns
            .into_iter()
            .map(|c| wit::Column {
                name: c.name,
                values: guest_values(c.values),
                validity: c.validity,
            })
            .collect(),
    }
}

fn guest_values(v: host::ColumnValues) -> wit::ColumnValues {
    use host::ColumnValues as H;
    match v {
        H::Text(t) => wit::ColumnValues::Text(wit::TextColumn {
            data: t.data,
            offsets: t.offsets,
        }),
        H::Integer(v) => wit::ColumnValues::Integer(v),
        H::Decimal(v) => wit::ColumnValues::Decimal(v),
        H::Date(v) => wit::ColumnValues::Date(v),
        H::Timestamp(v) => wit::ColumnValues::Timestamp(v),
        H::Boolean(v) => wit::ColumnValues::Boolean(v),
        H::Pseudonym(v) => wit::ColumnValues::Pseudonym(v),
    }
}

fn host_values(v: &wit::ColumnValues) -> host::ColumnValues {
    use wit::ColumnValues as W;
    match v {
        W::Text(t) => host::ColumnValues::Text(host::TextColumn {
            data: t.data.clone(),
            offsets: t.offsets.clone(),
        }),
        W::Integer(v) => host::ColumnValues::Integer(v.clone()),
        W::Decimal(v) => host::ColumnValues::Decimal(v.clone()),
        W::Date(v) => host::ColumnValues::Date(v.clone()),
        W::Timestamp(v) => host::ColumnValues::Timestamp(v.clone()),
        W::Boolean(v) => host::ColumnValues::Boolean(v.clone()),
        W::Pseudonym(v) => host::ColumnValues::Pseudonym(v.clone()),
    }
}

fn host_value(v: &wit::Value) -> host::Value {
    use wit::Value as W;
    match v {
        W::Null => host::Value::Null,
        W::Text(s) => host::Value::Text(s.clone()),
        W::Integer(i) => host::Value::Integer(*i),
        W::Decimal(d) => host::Value::Decimal(*d),
        W::Date(d) => host::Value::Date(*d),
        W::Timestamp(t) => host::Value::Timestamp(*t),
        W::Boolean(b) => host::Value::Boolean(*b),
        W::Pseudonym(p) => host::Value::Pseudonym(*p),
    }
}

fn host_clue(c: &wit_clues::Clue) -> host::Clue {
    host::Clue {
        kind: c.kind.clone(),
        subject: host::Subject {
            type_: c.subject.type_.clone(),
            id: c.subject.id.clone(),
            display_name: c.subject.display_name.clone(),
        },
        score: c.score,
        reason: c.reason.clone(),
        evidence: c
            .evidence
            .iter()
            .map(|e| host::Evidence {
                dataset: e.dataset.clone(),
                row_keys: e.row_keys.clone(),
                fields: e
                    .fields
                    .iter()
                    .map(|f| host::Field {
                        name: f.name.clone(),
                        value: host_value(&f.value),
                    })
                    .collect(),
            })
            .collect(),
        dedup_key: c.dedup_key.clone(),
    }
}

fn failed(e: SourceError) -> Error {
    Error::NotFound(e.to_string())
}

/// The run's side of the SDK's `Backend`, over a data source.
struct Native {
    source: Arc<dyn DataSource>,
    manifest: Manifest,
    region: String,
    as_of: i32,
    clues: Vec<host::Clue>,
    rows: Arc<Mutex<u64>>,
}

impl Native {
    fn request(&self, dataset: &str, columns: &[String]) -> Result<ScanRequest, Error> {
        let columns = columns
            .iter()
            .map(|c| {
                let ty = self
                    .manifest
                    .column_type(dataset, c)
                    .ok_or_else(|| Error::NotDeclared(format!("{dataset}.{c}")))?;
                Ok(ColumnRequest {
                    name: c.clone(),
                    ty: host_type(ty),
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(ScanRequest {
            dataset: dataset.into(),
            columns,
            region: self.region.clone(),
        })
    }
}

struct Scan {
    reader: Box<dyn BatchReader>,
    rows: Arc<Mutex<u64>>,
}

impl ScanSource for Scan {
    fn next_batch(&mut self, max_rows: u32) -> supervise_sdk::Result<Option<wit::Batch>> {
        let batch = self.reader.next_batch(max_rows as usize).map_err(failed)?;
        if let Some(b) = &batch {
            *self.rows.lock().expect("rows") += u64::from(b.rows);
        }
        Ok(batch.map(guest_batch))
    }
}

struct Index {
    index: Box<dyn KeyIndex>,
    rows: Arc<Mutex<u64>>,
}

impl IndexSource for Index {
    fn get_many(
        &mut self,
        keys: &wit::ColumnValues,
    ) -> supervise_sdk::Result<(wit::Batch, Vec<u32>)> {
        let (batch, at) = self
            .index
            .get_many(
                &host_values(keys),
                RunLimits::default().max_batch_rows as usize,
            )
            .map_err(failed)?
            .ok_or_else(|| Error::LimitExceeded("look-up".into()))?;
        *self.rows.lock().expect("rows") += u64::from(batch.rows);
        Ok((guest_batch(batch), at))
    }
}

impl Backend for Native {
    fn run_info(&mut self) -> RunInfo {
        RunInfo {
            region: self.region.clone(),
            as_of: Date(self.as_of),
            run_id: "native".into(),
        }
    }

    fn params(&mut self) -> Vec<(String, Value)> {
        self.manifest
            .param_defaults()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect()
    }

    fn open_scan(
        &mut self,
        dataset: &str,
        columns: &[String],
    ) -> supervise_sdk::Result<Box<dyn ScanSource>> {
        let reader = self
            .source
            .scan(&self.request(dataset, columns)?)
            .map_err(failed)?;
        Ok(Box::new(Scan {
            reader,
            rows: self.rows.clone(),
        }))
    }

    fn open_index(
        &mut self,
        dataset: &str,
        key_column: &str,
        columns: &[String],
    ) -> supervise_sdk::Result<Box<dyn IndexSource>> {
        let request = self.request(dataset, columns)?;
        let key = self
            .request(dataset, &[key_column.to_string()])?
            .columns
            .remove(0);
        let index = self.source.index(&request, &key).map_err(failed)?;
        Ok(Box::new(Index {
            index,
            rows: self.rows.clone(),
        }))
    }

    fn emit(&mut self, clues: &[wit_clues::Clue]) -> supervise_sdk::Result<()> {
        self.clues.extend(clues.iter().map(host_clue));
        Ok(())
    }

    fn log(&mut self, _level: Level, _message: &str) {}
}

/// Runs model `M` natively over `source` for `region` as of `as_of` (days since 1970), with
/// its parameters' defaults; its clues, and the rows it read added to `rows`.
pub fn run_model<M: Model>(
    source: Arc<dyn DataSource>,
    region: &str,
    as_of: i32,
    rows: &Arc<Mutex<u64>>,
) -> Vec<host::Clue> {
    let mut backend = Native {
        source,
        manifest: M::describe(),
        region: region.to_string(),
        as_of,
        clues: Vec::new(),
        rows: rows.clone(),
    };
    {
        let mut ctx = RunContext::new(&mut backend);
        M::run(&mut ctx).expect("native run");
        ctx.flush().expect("flush");
    }
    backend.clues
}
