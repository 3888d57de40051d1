//! `supervise:model/clues`: validates emitted clues and enforces the clue and evidence caps.

use crate::runtime::bindings::supervise::model::clues::Host;
use crate::runtime::bindings::{Clue, Value, WitError};
use crate::runtime::limits::LimitExceeded;
use crate::runtime::state::RunState;

/// Longest reason line, in bytes.
const MAX_REASON: usize = 500;
/// Longest dedup key, subject id or type, in bytes.
const MAX_KEY: usize = 256;

/// What is wrong with a clue, if anything.
fn problem(clue: &Clue, kinds: &std::collections::BTreeSet<String>) -> Option<String> {
    let short = |s: &str, max| !s.trim().is_empty() && s.len() <= max;
    if !kinds.contains(&clue.kind) {
        Some(format!(
            "kind `{}` is not declared in the manifest",
            clue.kind
        ))
    } else if !(0.0..=1.0).contains(&clue.score) {
        Some(format!("score {} is outside 0..1", clue.score))
    } else if !short(&clue.reason, MAX_REASON) || clue.reason.contains('\n') {
        Some(format!(
            "reason must be one non-empty line of at most {MAX_REASON} bytes"
        ))
    } else if !short(&clue.dedup_key, MAX_KEY) {
        Some(format!(
            "dedup key must be non-empty and at most {MAX_KEY} bytes"
        ))
    } else if !short(&clue.subject.type_, MAX_KEY) || !short(&clue.subject.id, MAX_KEY) {
        Some(format!(
            "subject type and id must be non-empty and at most {MAX_KEY} bytes"
        ))
    } else if [
        &clue.kind,
        &clue.dedup_key,
        &clue.subject.type_,
        &clue.subject.id,
        &clue.subject.display_name,
        &clue.reason,
    ]
    .iter()
    .any(|s| s.contains('\0'))
    {
        // PostgreSQL's text cannot hold it: the run's clues would fail to be stored.
        Some("kind, dedup key, subject and reason must not contain NUL characters".into())
    } else {
        None
    }
}

/// A fair estimate of a clue's evidence size, for the evidence cap.
fn evidence_bytes(clue: &Clue) -> u64 {
    let value = |v: &Value| match v {
        Value::Text(t) => t.len(),
        Value::Null => 1,
        _ => 16,
    };
    clue.evidence
        .iter()
        .map(|e| {
            e.dataset.len()
                + e.row_keys.iter().map(|k| k.len() + 4).sum::<usize>()
                + e.fields
                    .iter()
                    .map(|f| f.name.len() + value(&f.value))
                    .sum::<usize>()
        })
        .sum::<usize>() as u64
}

impl Host for RunState {
    fn emit(&mut self, clues: Vec<Clue>) -> wasmtime::Result<Result<(), WitError>> {
        let kinds = &self.scope()?.clue_kinds;
        for (i, clue) in clues.iter().enumerate() {
            if let Some(p) = problem(clue, kinds) {
                return Ok(Err(WitError::InvalidArgument(format!(
                    "clue {i} of this batch (dedup key `{}`): {p}",
                    clue.dedup_key
                ))));
            }
        }
        let limits = &self.limits;
        if self.out.clues.len() as u64 + clues.len() as u64 > limits.max_clues {
            return Err(wasmtime::Error::new(LimitExceeded::Clues {
                cap: limits.max_clues,
            }));
        }
        let bytes: u64 = clues.iter().map(evidence_bytes).sum();
        if self.out.evidence_bytes + bytes > limits.max_evidence_bytes {
            return Err(wasmtime::Error::new(LimitExceeded::Evidence {
                cap: limits.max_evidence_bytes,
            }));
        }
        self.out.evidence_bytes += bytes;
        self.out.clues.extend(clues);
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::problem;
    use crate::runtime::bindings::{Clue, Subject};

    fn clue() -> Clue {
        Clue {
            kind: "pension-after-death".into(),
            subject: Subject {
                type_: "person".into(),
                id: "p1".into(),
                display_name: "王小明".into(),
            },
            score: 0.9,
            reason: "paid after death".into(),
            evidence: vec![],
            dedup_key: "person:p1".into(),
        }
    }

    /// Makes a good clue bad in one way.
    type Break = fn(&mut Clue);

    #[test]
    fn each_field_is_checked() {
        let kinds = ["pension-after-death".to_string()].into_iter().collect();
        assert_eq!(problem(&clue(), &kinds), None);
        let broken: [(&str, Break); 9] = [
            ("not declared", |c| c.kind = "other".into()),
            ("outside 0..1", |c| c.score = 1.5),
            ("outside 0..1", |c| c.score = f64::NAN),
            ("one non-empty line", |c| c.reason = "two\nlines".into()),
            ("dedup key", |c| c.dedup_key = " ".into()),
            ("subject type and id", |c| c.subject.id = "x".repeat(257)),
            ("NUL", |c| c.reason = "a\0b".into()),
            ("NUL", |c| c.subject.display_name = "\0".into()),
            ("NUL", |c| c.dedup_key = "person:\0".into()),
        ];
        for (want, break_it) in broken {
            let mut c = clue();
            break_it(&mut c);
            let got = problem(&c, &kinds).unwrap_or_default();
            assert!(got.contains(want), "{c:?}: {got:?} should say {want:?}");
        }
    }
}
