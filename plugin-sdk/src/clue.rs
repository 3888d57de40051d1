//! Building clues: subject, score, reason, evidence and dedup key.

use crate::bindings::supervise::model::clues as wit;
use crate::{Date, Decimal, Pseudonym, Value};

/// A supervision clue under construction, or as emitted.
///
/// ```
/// use supervise_sdk::{Clue, Date, Decimal, Evidence, Pseudonym};
/// let person = Pseudonym([1, 2]);
/// let clue = Clue::new("pension-after-death", "person", &person.to_hex())
///     .score(0.9)
///     .reason("pension paid 2 times (¥6,400.00) after death on 2024-03-02")
///     .evidence(
///         Evidence::new("death_registrations")
///             .row_key("D-1")
///             .date("death_date", Date::from_ymd(2024, 3, 2).unwrap()),
///     )
///     .dedup_key(&format!("person:{person}"));
/// assert_eq!(clue.score_value(), 0.9);
/// assert_eq!(clue.dedup_key_text(), "person:00000000000000010000000000000002");
/// assert_eq!(Clue::new("k", "company", "913301").dedup_key_text(), "company:913301");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Clue(pub(crate) wit::Clue);

impl Clue {
    /// A clue of `kind` about a subject of `subject_type` with id `subject_id`. Score 1.0,
    /// reason empty and dedup key `subject_type:subject_id` until set.
    pub fn new(kind: &str, subject_type: &str, subject_id: &str) -> Self {
        // `type:id`, joined by hand: `format!` costs more in the sandbox (session 23).
        let mut dedup_key = String::with_capacity(subject_type.len() + 1 + subject_id.len());
        dedup_key.push_str(subject_type);
        dedup_key.push(':');
        dedup_key.push_str(subject_id);
        Clue(wit::Clue {
            kind: kind.into(),
            subject: wit::Subject {
                type_: subject_type.into(),
                id: subject_id.into(),
                display_name: String::new(),
            },
            score: 1.0,
            reason: String::new(),
            evidence: Vec::new(),
            dedup_key,
        })
    }

    /// A name to show for the subject.
    pub fn display_name(mut self, name: &str) -> Self {
        self.0.subject.display_name = name.into();
        self
    }

    /// Confidence from 0.0 to 1.0.
    pub fn score(mut self, score: f64) -> Self {
        self.0.score = score;
        self
    }

    /// The one line a reviewer reads first.
    pub fn reason(mut self, reason: &str) -> Self {
        self.0.reason = reason.into();
        self
    }

    /// Adds supporting rows.
    pub fn evidence(mut self, evidence: Evidence) -> Self {
        self.0.evidence.push(evidence.0);
        self
    }

    /// The key that identifies this finding across runs.
    pub fn dedup_key(mut self, key: &str) -> Self {
        self.0.dedup_key = key.into();
        self
    }

    /// The clue kind.
    pub fn kind(&self) -> &str {
        &self.0.kind
    }

    /// The subject id.
    pub fn subject_id(&self) -> &str {
        &self.0.subject.id
    }

    /// The score.
    pub fn score_value(&self) -> f64 {
        self.0.score
    }

    /// The reason line.
    pub fn reason_text(&self) -> &str {
        &self.0.reason
    }

    /// The dedup key.
    pub fn dedup_key_text(&self) -> &str {
        &self.0.dedup_key
    }

    /// The evidence, as (dataset, row keys, fields) triples.
    pub fn evidence_rows(&self) -> impl Iterator<Item = (&str, &[String], &[wit::Field])> {
        self.0.evidence.iter().map(|e| {
            (
                e.dataset.as_str(),
                e.row_keys.as_slice(),
                e.fields.as_slice(),
            )
        })
    }

    /// Checks what the host also checks, so a model fails the same way under the test harness.
    pub(crate) fn problem(&self) -> Option<String> {
        let c = &self.0;
        if !(0.0..=1.0).contains(&c.score) {
            Some(format!("score {} is outside 0..1", c.score))
        } else if c.reason.trim().is_empty() {
            Some("reason is empty".into())
        } else if c.dedup_key.trim().is_empty() {
            Some("dedup key is empty".into())
        } else {
            None
        }
    }
}

/// Rows of one dataset supporting a clue.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence(pub(crate) wit::Evidence);

impl Evidence {
    /// Evidence from `dataset`.
    pub fn new(dataset: &str) -> Self {
        Evidence(wit::Evidence {
            dataset: dataset.into(),
            row_keys: Vec::new(),
            fields: Vec::new(),
        })
    }

    /// Adds the key of one supporting row.
    pub fn row_key(mut self, key: &str) -> Self {
        self.0.row_keys.push(key.into());
        self
    }

    /// Adds a field value that triggered the clue.
    pub fn field(mut self, name: &str, value: Value) -> Self {
        self.0.fields.push(wit::Field {
            name: name.into(),
            value,
        });
        self
    }

    /// Adds a date field.
    pub fn date(self, name: &str, date: Date) -> Self {
        self.field(name, Value::Date(date.0))
    }

    /// Adds a decimal field.
    pub fn decimal(self, name: &str, value: Decimal) -> Self {
        self.field(name, Value::Decimal(value.0))
    }

    /// Adds a text field.
    pub fn text(self, name: &str, value: &str) -> Self {
        self.field(name, Value::Text(value.into()))
    }

    /// Adds a pseudonym field; reviewers of the clue's region see it re-identified.
    pub fn pseudonym(self, name: &str, value: Pseudonym) -> Self {
        self.field(name, Value::Pseudonym((value.0[0], value.0[1])))
    }
}
