//! Professional lenders: a plaintiff who brought at least `min_cases` private-lending suits
//! against at least `min_borrowers` different defendants within any `window_days` days.
//! Courts see each suit alone; together they show lending as a business without a licence,
//! and often false litigation (inflated "loans" enforced through the court). One clue per
//! plaintiff, for the busiest window; the evidence is the suits in it.

use std::collections::BTreeMap;

use supervise_sdk::{
    Clue, ColumnType, Date, Decimal, Error, Evidence, Manifest, Model, Pseudonym, PseudonymMap,
    Result, RunContext,
};

/// Civil cases (courts).
pub const CASES: &str = "civil_judgments";
/// The parties of civil cases (courts).
pub const PARTIES: &str = "judgment_parties";
/// The clue kind.
pub const KIND: &str = "professional-lender";
/// The cause of action this model reads.
pub const PRIVATE_LENDING: &str = "private_lending";

/// The model.
pub struct ProfessionalLender;

/// A private-lending suit.
#[derive(Debug, Clone)]
struct Suit {
    case_no: String,
    filed: Date,
    amount: Decimal,
    defendants: Vec<Pseudonym>,
}

impl Model for ProfessionalLender {
    fn describe() -> Manifest {
        Manifest::new(KIND, "Professional lenders", env!("CARGO_PKG_VERSION"))
            .summary(
                "Finds plaintiffs who sue many different borrowers over private loans in a short \
                 time: unlicensed lending as a business, and the false litigation that often \
                 comes with it.",
            )
            .author_office("330102")
            .dataset(
                CASES,
                "private-lending cases with their filing dates and amounts",
                &[
                    ("case_no", ColumnType::Text),
                    ("cause", ColumnType::Text),
                    ("filed_date", ColumnType::Date),
                    ("amount", ColumnType::Decimal),
                ],
            )
            .dataset(
                PARTIES,
                "who sued whom",
                &[
                    ("case_no", ColumnType::Text),
                    ("party_id", ColumnType::Pseudonym),
                    ("role", ColumnType::Text),
                ],
            )
            .integer_param("min_cases", 5, "suits within the window that make a clue")
            .integer_param(
                "min_borrowers",
                5,
                "different defendants those suits must name",
            )
            .integer_param("window_days", 365, "how close together the suits are")
            .clue_kind(KIND, "a plaintiff suing many borrowers over private loans")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let min_cases = at_least_one(ctx.param_integer("min_cases")?, "min_cases")?;
        let min_borrowers = at_least_one(ctx.param_integer("min_borrowers")?, "min_borrowers")?;
        let window = at_least_one(ctx.param_integer("window_days")?, "window_days")?;
        let mut suits = load_suits(ctx)?;
        let plaintiffs = load_parties(ctx, &mut suits)?;
        let mut found: Vec<(Pseudonym, Vec<&Suit>)> = Vec::new();
        for (plaintiff, cases) in plaintiffs {
            let mut own: Vec<&Suit> = cases.iter().filter_map(|c| suits.get(c)).collect();
            own.sort_by(|a, b| (a.filed, &a.case_no).cmp(&(b.filed, &b.case_no)));
            if let Some(best) = busiest(&own, window, min_cases, min_borrowers) {
                found.push((plaintiff, best));
            }
        }
        found.sort_by_key(|(p, _)| *p);
        for (plaintiff, in_window) in found {
            ctx.emit(clue(plaintiff, &in_window, window))?;
        }
        Ok(())
    }
}

fn at_least_one(v: i64, name: &str) -> Result<usize> {
    usize::try_from(v)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| Error::model(format!("{name} must be at least 1, got {v}")))
}

/// Private-lending cases by case number.
fn load_suits(ctx: &mut RunContext) -> Result<BTreeMap<String, Suit>> {
    let mut suits = BTreeMap::new();
    for batch in ctx.scan(CASES, &["case_no", "cause", "filed_date", "amount"])? {
        let batch = batch?;
        let (nos, causes) = (batch.text("case_no")?, batch.text("cause")?);
        let (dates, amounts) = (batch.date("filed_date")?, batch.decimal("amount")?);
        for row in 0..batch.rows() {
            let (Some(no), Some(filed)) = (nos.get(row), dates.get(row)) else {
                continue;
            };
            if causes.get(row) != Some(PRIVATE_LENDING) {
                continue;
            }
            suits.insert(
                no.to_string(),
                Suit {
                    case_no: no.to_string(),
                    filed,
                    amount: amounts.get(row).unwrap_or(Decimal(0)),
                    defendants: Vec::new(),
                },
            );
        }
    }
    Ok(suits)
}

/// Fills in each suit's defendants; returns each plaintiff's suits.
fn load_parties(
    ctx: &mut RunContext,
    suits: &mut BTreeMap<String, Suit>,
) -> Result<PseudonymMap<Vec<String>>> {
    let mut plaintiffs: PseudonymMap<Vec<String>> = PseudonymMap::default();
    for batch in ctx.scan(PARTIES, &["case_no", "party_id", "role"])? {
        let batch = batch?;
        let (nos, parties, roles) = (
            batch.text("case_no")?,
            batch.pseudonym("party_id")?,
            batch.text("role")?,
        );
        for row in 0..batch.rows() {
            let (Some(no), Some(party)) = (nos.get(row), parties.get(row)) else {
                continue;
            };
            let Some(suit) = suits.get_mut(no) else {
                continue;
            };
            match roles.get(row) {
                Some("plaintiff") => plaintiffs.entry(party).or_default().push(no.to_string()),
                Some("defendant") => suit.defendants.push(party),
                _ => {}
            }
        }
    }
    Ok(plaintiffs)
}

/// The window of `window` days (suits sorted by filing date) holding the most suits, if it
/// holds at least `min_cases` suits naming at least `min_borrowers` different defendants.
fn busiest<'a>(
    suits: &[&'a Suit],
    window: usize,
    min_cases: usize,
    min_borrowers: usize,
) -> Option<Vec<&'a Suit>> {
    let mut best: Option<(usize, usize)> = None;
    let mut lo = 0;
    for hi in 0..suits.len() {
        while suits[hi].filed.days_since(suits[lo].filed) >= window as i32 {
            lo += 1;
        }
        let n = hi - lo + 1;
        if n < min_cases || best.is_some_and(|(b, e)| e - b >= n) {
            continue;
        }
        let mut borrowers: Vec<Pseudonym> = suits[lo..=hi]
            .iter()
            .flat_map(|s| s.defendants.iter().copied())
            .collect();
        borrowers.sort_unstable();
        borrowers.dedup();
        if borrowers.len() >= min_borrowers {
            best = Some((lo, hi + 1));
        }
    }
    best.map(|(b, e)| suits[b..e].to_vec())
}

fn clue(plaintiff: Pseudonym, suits: &[&Suit], window: usize) -> Clue {
    let mut borrowers: Vec<Pseudonym> = suits
        .iter()
        .flat_map(|s| s.defendants.iter().copied())
        .collect();
    borrowers.sort_unstable();
    borrowers.dedup();
    let mut total = Decimal(0);
    for s in suits {
        total += s.amount;
    }
    let (first, last) = (suits[0].filed, suits[suits.len() - 1].filed);
    let mut clue = Clue::new(KIND, "person", &plaintiff.to_hex())
        .score((0.3 + 0.08 * suits.len() as f64).min(1.0))
        .reason(&format!(
            "{} private-lending suits against {} borrowers (¥{}) between {first} and {last}, within {window} days",
            suits.len(),
            borrowers.len(),
            total.to_money()
        ))
        .dedup_key(&format!("plaintiff:{plaintiff}"));
    for s in suits {
        clue = clue.evidence(
            Evidence::new(CASES)
                .row_key(&s.case_no)
                .date("filed_date", s.filed)
                .decimal("amount", s.amount)
                .pseudonym("plaintiff", plaintiff),
        );
    }
    clue
}

supervise_sdk::export_model!(ProfessionalLender);

#[cfg(test)]
mod tests {
    use super::*;
    use supervise_sdk::Value;
    use supervise_sdk::testing::{Fixture, Table, pseudonym};

    /// L sues five borrowers within a year, and once more two years before; M sues five
    /// borrowers over three years; N brings five lease suits.
    fn fixture() -> Fixture {
        let cases = [
            ("c1", "private_lending", "2024-01-10", "L", "b1"),
            ("c2", "private_lending", "2024-03-01", "L", "b2"),
            ("c3", "private_lending", "2024-05-01", "L", "b3"),
            ("c4", "private_lending", "2024-08-01", "L", "b4"),
            ("c5", "private_lending", "2024-11-01", "L", "b5"),
            ("c6", "private_lending", "2022-01-01", "L", "b6"),
            ("m1", "private_lending", "2021-01-01", "M", "b1"),
            ("m2", "private_lending", "2021-09-01", "M", "b2"),
            ("m3", "private_lending", "2022-06-01", "M", "b3"),
            ("m4", "private_lending", "2023-03-01", "M", "b4"),
            ("m5", "private_lending", "2023-12-01", "M", "b5"),
            ("n1", "lease_contract", "2024-01-01", "N", "b1"),
            ("n2", "lease_contract", "2024-02-01", "N", "b2"),
            ("n3", "lease_contract", "2024-03-01", "N", "b3"),
            ("n4", "lease_contract", "2024-04-01", "N", "b4"),
            ("n5", "lease_contract", "2024-05-01", "N", "b5"),
        ];
        let n = cases.len();
        let nos: Vec<&str> = cases.iter().map(|c| c.0).collect();
        let causes: Vec<&str> = cases.iter().map(|c| c.1).collect();
        let dates: Vec<&str> = cases.iter().map(|c| c.2).collect();
        let mut party_nos = Vec::new();
        let mut party_ids = Vec::new();
        let mut roles = Vec::new();
        for c in &cases {
            party_nos.extend([c.0, c.0]);
            party_ids.extend([c.3, c.4]);
            roles.extend(["plaintiff", "defendant"]);
        }
        Fixture::new("330102", "2024-12-31")
            .table(
                Table::new(CASES)
                    .text("case_no", &nos)
                    .text("cause", &causes)
                    .date("filed_date", &dates)
                    .decimal("amount", &vec!["10000"; n])
                    .text("region_code", &vec!["330102"; n]),
            )
            .table(
                Table::new(PARTIES)
                    .text("case_no", &party_nos)
                    .pseudonym_of("party_id", &party_ids)
                    .text("role", &roles)
                    .text("region_code", &vec!["330102"; 2 * n]),
            )
    }

    #[test]
    fn finds_the_plaintiff_with_many_borrowers_in_a_year() {
        let out = fixture().run::<ProfessionalLender>().unwrap();
        assert_eq!(out.clues.len(), 1, "{:?}", out.clues);
        let c = &out.clues[0];
        assert_eq!(c.subject_id(), pseudonym("L").to_hex());
        assert!(
            c.reason_text()
                .starts_with("5 private-lending suits against 5 borrowers (¥50,000.00) between 2024-01-10 and 2024-11-01"),
            "{}",
            c.reason_text()
        );
        assert_eq!(c.evidence_rows().count(), 5);
    }

    #[test]
    fn a_wider_window_catches_the_slower_plaintiff() {
        let out = fixture()
            .param("window_days", Value::Integer(1200))
            .run::<ProfessionalLender>()
            .unwrap();
        assert_eq!(out.clues.len(), 2, "{:?}", out.clues);
    }

    #[test]
    fn fewer_borrowers_than_asked_make_no_clue() {
        let out = fixture()
            .param("min_borrowers", Value::Integer(6))
            .run::<ProfessionalLender>()
            .unwrap();
        assert!(out.clues.is_empty());
    }
}
