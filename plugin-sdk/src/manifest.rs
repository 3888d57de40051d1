//! Building the manifest a model returns from `describe`.

use crate::bindings::supervise::model::types as wit;
use crate::{ColumnType, Date, Decimal, ParamType, Value};

/// A model's manifest: identity, data scope, parameters and clue kinds.
///
/// ```
/// use supervise_sdk::{ColumnType, Manifest};
/// let m = Manifest::new("pension-after-death", "Pension paid after death", "1.0.0")
///     .summary("Finds pensions still paid after the recorded death.")
///     .author_office("330102")
///     .dataset("death_registrations", "who died and when", &[
///         ("id_number", ColumnType::Pseudonym),
///         ("death_date", ColumnType::Date),
///     ])
///     .integer_param("grace_days", 31, "days after death before a payment counts")
///     .clue_kind("pension-after-death", "a pension paid after the recipient died");
/// assert_eq!(m.id(), "pension-after-death");
/// ```
#[derive(Debug, Clone)]
pub struct Manifest(pub(crate) wit::Manifest);

impl Manifest {
    /// A manifest with an id (lowercase letters, digits, dashes), a name and a semver version.
    pub fn new(id: &str, name: &str, version: &str) -> Self {
        Manifest(wit::Manifest {
            id: id.into(),
            name: name.into(),
            version: version.into(),
            summary: String::new(),
            author_office: String::new(),
            datasets: Vec::new(),
            parameters: Vec::new(),
            clue_kinds: Vec::new(),
        })
    }

    /// What the model finds and why it matters, in one paragraph.
    pub fn summary(mut self, summary: &str) -> Self {
        self.0.summary = summary.into();
        self
    }

    /// The office that wrote the model.
    pub fn author_office(mut self, office: &str) -> Self {
        self.0.author_office = office.into();
        self
    }

    /// Declares a dataset the model reads, why, and the columns with the types it expects.
    pub fn dataset(mut self, name: &str, purpose: &str, columns: &[(&str, ColumnType)]) -> Self {
        self.0.datasets.push(wit::DatasetUse {
            name: name.into(),
            purpose: purpose.into(),
            columns: columns
                .iter()
                .map(|(name, ty)| wit::ColumnSpec {
                    name: (*name).into(),
                    type_: *ty,
                })
                .collect(),
        });
        self
    }

    fn param(mut self, name: &str, type_: ParamType, default: Value, description: &str) -> Self {
        self.0.parameters.push(wit::ParamSpec {
            name: name.into(),
            type_,
            default,
            description: description.into(),
        });
        self
    }

    /// Declares an integer parameter with its default.
    pub fn integer_param(self, name: &str, default: i64, description: &str) -> Self {
        self.param(
            name,
            ParamType::Integer,
            Value::Integer(default),
            description,
        )
    }

    /// Declares a decimal parameter with its default.
    pub fn decimal_param(self, name: &str, default: Decimal, description: &str) -> Self {
        self.param(
            name,
            ParamType::Decimal,
            Value::Decimal(default.0),
            description,
        )
    }

    /// Declares a text parameter with its default.
    pub fn text_param(self, name: &str, default: &str, description: &str) -> Self {
        self.param(
            name,
            ParamType::Text,
            Value::Text(default.into()),
            description,
        )
    }

    /// Declares a date parameter with its default.
    pub fn date_param(self, name: &str, default: Date, description: &str) -> Self {
        self.param(name, ParamType::Date, Value::Date(default.0), description)
    }

    /// Declares a boolean parameter with its default.
    pub fn boolean_param(self, name: &str, default: bool, description: &str) -> Self {
        self.param(
            name,
            ParamType::Boolean,
            Value::Boolean(default),
            description,
        )
    }

    /// Declares a kind of clue the model emits.
    pub fn clue_kind(mut self, id: &str, description: &str) -> Self {
        self.0.clue_kinds.push(wit::ClueKind {
            id: id.into(),
            description: description.into(),
        });
        self
    }

    /// The model id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The names of the datasets the model reads, in declaration order.
    pub fn datasets(&self) -> impl Iterator<Item = &str> {
        self.0.datasets.iter().map(|d| d.name.as_str())
    }

    /// Whether the manifest declares `column` of `dataset`.
    pub fn declares(&self, dataset: &str, column: &str) -> bool {
        self.column_type(dataset, column).is_some()
    }

    /// The type declared for `column` of `dataset`, if declared.
    pub fn column_type(&self, dataset: &str, column: &str) -> Option<ColumnType> {
        self.0
            .datasets
            .iter()
            .find(|d| d.name == dataset)?
            .columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.type_)
    }

    /// The declared parameters as (name, default) pairs.
    pub fn param_defaults(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0
            .parameters
            .iter()
            .map(|p| (p.name.as_str(), &p.default))
    }

    /// Whether a clue kind is declared.
    pub fn has_clue_kind(&self, kind: &str) -> bool {
        self.0.clue_kinds.iter().any(|k| k.id == kind)
    }
}
