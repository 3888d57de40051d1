//! Checks on a model's manifest and parameter values, before anything is stored or run.

use std::collections::BTreeSet;

use super::bindings::{Manifest, ParamType, Value};

fn is_id(s: &str, sep: char) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == sep)
}

/// Whether a value has the parameter type.
pub fn value_matches(ty: ParamType, v: &Value) -> bool {
    matches!(
        (ty, v),
        (ParamType::Text, Value::Text(_))
            | (ParamType::Integer, Value::Integer(_))
            | (ParamType::Decimal, Value::Decimal(_))
            | (ParamType::Date, Value::Date(_))
            | (ParamType::Boolean, Value::Boolean(_))
    )
}

/// The first problem with a manifest, if any.
pub fn validate(m: &Manifest) -> Result<(), String> {
    if !is_id(&m.id, '-') {
        return Err(format!(
            "id `{}` must be 1-64 lowercase letters, digits and dashes, starting with a letter",
            m.id
        ));
    }
    if m.name.trim().is_empty() || m.name.len() > 200 {
        return Err("name must be 1-200 bytes".into());
    }
    semver::Version::parse(&m.version)
        .map_err(|e| format!("version `{}` is not semantic versioning: {e}", m.version))?;
    if m.datasets.is_empty() {
        return Err("the model declares no dataset".into());
    }
    let mut seen = BTreeSet::new();
    for d in &m.datasets {
        if !is_id(&d.name, '_') || !seen.insert(d.name.as_str()) {
            return Err(format!(
                "dataset name `{}` is malformed or repeated",
                d.name
            ));
        }
        if d.columns.is_empty() {
            return Err(format!("dataset `{}` declares no column", d.name));
        }
        let mut cols = BTreeSet::new();
        for c in &d.columns {
            if !is_id(&c.name, '_') || !cols.insert(c.name.as_str()) {
                return Err(format!(
                    "column `{}.{}` is malformed or repeated",
                    d.name, c.name
                ));
            }
        }
    }
    let mut params = BTreeSet::new();
    for p in &m.parameters {
        if !is_id(&p.name, '_') || !params.insert(p.name.as_str()) {
            return Err(format!(
                "parameter name `{}` is malformed or repeated",
                p.name
            ));
        }
        if !value_matches(p.type_, &p.default) {
            return Err(format!(
                "parameter `{}`: default {} is not of type {}",
                p.name,
                crate::datasets::values::display(&p.default),
                p.type_
            ));
        }
    }
    if m.clue_kinds.is_empty() {
        return Err("the model declares no clue kind".into());
    }
    let mut kinds = BTreeSet::new();
    for k in &m.clue_kinds {
        if !is_id(&k.id, '-') || !kinds.insert(k.id.as_str()) {
            return Err(format!("clue kind `{}` is malformed or repeated", k.id));
        }
    }
    Ok(())
}

/// Effective parameter values: the manifest's defaults overridden by `overrides`, in manifest
/// order. Fails naming an unknown parameter or a value of the wrong type.
pub fn resolve_params(
    m: &Manifest,
    overrides: &[(String, Value)],
) -> Result<Vec<(String, Value)>, String> {
    let mut out: Vec<(String, Value)> = m
        .parameters
        .iter()
        .map(|p| (p.name.clone(), p.default.clone()))
        .collect();
    for (name, value) in overrides {
        let Some(spec) = m.parameters.iter().find(|p| &p.name == name) else {
            let known: Vec<&str> = m.parameters.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "model `{}` has no parameter `{name}` (it has: {})",
                m.id,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        if !value_matches(spec.type_, value) {
            return Err(format!("parameter `{name}` must be of type {}", spec.type_));
        }
        if let Some(slot) = out.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value.clone();
        }
    }
    Ok(out)
}
