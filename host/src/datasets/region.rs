//! Region codes: 6-digit administrative division codes and what lies under what.

/// Administrative level of a region code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// `330000`
    Province,
    /// `330100`
    City,
    /// `330102`
    County,
}

/// Checks a region code is six digits with a valid province part, and returns its level.
pub fn level(code: &str) -> Result<Level, String> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "region code `{code}` must be 6 digits, like 330102"
        ));
    }
    if &code[..2] == "00" {
        return Err(format!("region code `{code}` has no province part"));
    }
    Ok(match (&code[2..4], &code[4..]) {
        ("00", "00") => Level::Province,
        (_, "00") => Level::City,
        _ => Level::County,
    })
}

/// The significant prefix of a valid code: `330000` → `33`, `330100` → `3301`, `330102` →
/// `330102`. A code lies under another when it starts with the other's prefix.
pub fn prefix(code: &str) -> &str {
    match level(code) {
        Ok(Level::Province) => &code[..2],
        Ok(Level::City) => &code[..4],
        _ => code,
    }
}

/// Whether `code` lies under (or is) `scope`.
pub fn covers(scope: &str, code: &str) -> bool {
    code.len() == 6 && code.starts_with(prefix(scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn province_city_and_county_scopes_nest() {
        assert!(covers("330000", "330102"));
        assert!(covers("330100", "330102"));
        assert!(covers("330102", "330102"));
        assert!(!covers("330102", "330103"));
        assert!(!covers("330100", "330203"));
        assert!(!covers("330000", "320102"));
    }

    #[test]
    fn malformed_codes_are_rejected() {
        for bad in ["33010", "3301020", "33a102", "000102", ""] {
            assert!(level(bad).is_err(), "{bad}");
        }
        assert_eq!(level("330100"), Ok(Level::City));
    }
}
