//! Typed values from text: the one parser for dates, timestamps, decimals and booleans used
//! by fixture files, parameters on the command line and (later) imports.

use chrono::{NaiveDate, NaiveDateTime};

use crate::runtime::bindings::{ParamType, Value};

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// `YYYY-MM-DD` as days since 1970-01-01.
pub fn parse_date(s: &str) -> Result<i32, String> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))?;
    i32::try_from((d - EPOCH).num_days()).map_err(|_| format!("`{s}` is out of range"))
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    EPOCH
        .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
        .map_or_else(
            || format!("day {days}"),
            |d| d.format("%Y-%m-%d").to_string(),
        )
}

/// `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS[Z]` (UTC) as microseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let t = s.trim().trim_end_matches('Z');
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .map(|dt| dt.and_utc().timestamp_micros())
        .ok_or_else(|| format!("`{s}` is not a timestamp (YYYY-MM-DD HH:MM:SS)"))
}

/// A decimal with at most four fraction digits as ten-thousandths.
pub fn parse_decimal(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a decimal with at most 4 fraction digits");
    let t = s.trim();
    let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || frac.len() > 4 || !digits(int) || !digits(frac) {
        return Err(bad());
    }
    let int: i64 = int.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<4}").parse().map_err(|_| bad())?;
    let v = int
        .checked_mul(10_000)
        .and_then(|v| v.checked_add(frac))
        .ok_or_else(bad)?;
    Ok(if neg { -v } else { v })
}

/// Ten-thousandths as a decimal string without trailing zeros.
pub fn format_decimal(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let (int, frac) = (v.unsigned_abs() / 10_000, v.unsigned_abs() % 10_000);
    if frac == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{}", format!("{frac:04}").trim_end_matches('0'))
    }
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, `t`/`f` (any case).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "f" | "n" => Ok(false),
        _ => Err(format!("`{s}` is not a boolean (true or false)")),
    }
}

/// A parameter value of the given type from text.
pub fn parse_param(ty: ParamType, s: &str) -> Result<Value, String> {
    Ok(match ty {
        ParamType::Text => Value::Text(s.to_string()),
        ParamType::Integer => Value::Integer(
            s.trim()
                .parse()
                .map_err(|_| format!("`{s}` is not an integer"))?,
        ),
        ParamType::Decimal => Value::Decimal(parse_decimal(s)?),
        ParamType::Date => Value::Date(parse_date(s)?),
        ParamType::Boolean => Value::Boolean(parse_bool(s)?),
    })
}

/// A value as text for people: dates as dates, decimals as decimals, pseudonyms in hex.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => "∅".into(),
        Value::Text(t) => t.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Decimal(d) => format_decimal(*d),
        Value::Date(d) => format_date(*d),
        Value::Timestamp(t) => chrono::DateTime::from_timestamp_micros(*t).map_or_else(
            || t.to_string(),
            |dt| dt.format("%Y-%m-%d %H:%M:%S").to_string(),
        ),
        Value::Boolean(b) => b.to_string(),
        Value::Pseudonym((hi, lo)) => super::pseudonym::to_hex([*hi, *lo]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_decimals_round_trip() {
        assert_eq!(parse_date("1970-01-02"), Ok(1));
        assert_eq!(format_date(parse_date("2024-02-29").unwrap()), "2024-02-29");
        assert!(parse_date("2023-02-29").is_err());
        assert_eq!(parse_decimal("3200.5"), Ok(32_005_000));
        assert_eq!(format_decimal(-15_000), "-1.5");
        assert!(parse_decimal("1.00001").is_err());
        assert!(parse_decimal("").is_err());
    }

    #[test]
    fn timestamps_accept_both_separators() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Ok(1_000_000));
        assert!(parse_timestamp("yesterday").is_err());
    }
}
