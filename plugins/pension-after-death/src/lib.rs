//! Pension paid after death: collides death registrations with pension payments and flags
//! every person whose pension kept being paid more than `grace_days` after the recorded
//! death. One clue per person; the evidence is the death record and the payments after it.

use supervise_sdk::{
    Clue, ColumnType, Date, Decimal, Error, Evidence, Manifest, Model, Pseudonym, PseudonymMap,
    Result, RunContext,
};

/// The dataset of death registrations (civil affairs).
pub const DEATHS: &str = "death_registrations";
/// The dataset of monthly pension payments (human resources and social security).
pub const PAYMENTS: &str = "pension_payments";
/// The clue kind this model emits.
pub const KIND: &str = "pension-after-death";

/// The model.
pub struct PensionAfterDeath;

struct Death {
    record_id: String,
    date: Date,
}

#[derive(Default)]
struct Hit {
    count: u32,
    total: Decimal,
    /// (payment id, pay date, amount), the first `max_evidence_payments` found.
    payments: Vec<(String, Date, Decimal)>,
}

impl Model for PensionAfterDeath {
    fn describe() -> Manifest {
        Manifest::new(KIND, "Pension paid after death", env!("CARGO_PKG_VERSION"))
            .summary(
                "Finds pensions still paid more than a grace period after the recipient's \
                 recorded death: money the fund should recover, and possibly fraud by whoever \
                 kept collecting it.",
            )
            .author_office("330102")
            .dataset(
                DEATHS,
                "who died and on which date",
                &[
                    ("record_id", ColumnType::Text),
                    ("id_number", ColumnType::Pseudonym),
                    ("death_date", ColumnType::Date),
                ],
            )
            .dataset(
                PAYMENTS,
                "pension payments to compare with the death dates",
                &[
                    ("payment_id", ColumnType::Text),
                    ("id_number", ColumnType::Pseudonym),
                    ("pay_date", ColumnType::Date),
                    ("amount", ColumnType::Decimal),
                ],
            )
            .integer_param(
                "grace_days",
                31,
                "days after the death during which a payment is still normal (already in the \
                 pipeline when the death was registered)",
            )
            .integer_param(
                "max_evidence_payments",
                24,
                "at most this many payments are listed as evidence per person",
            )
            .clue_kind(KIND, "a pension paid after the recipient's recorded death")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let grace = ctx.param_integer("grace_days")?;
        let grace = i32::try_from(grace)
            .ok()
            .filter(|g| *g >= 0)
            .ok_or_else(|| Error::model(format!("grace_days must be 0 or more, got {grace}")))?;
        let max_evidence = usize::try_from(ctx.param_integer("max_evidence_payments")?)
            .map_err(|_| Error::model("max_evidence_payments must be 0 or more"))?;

        let deaths = load_deaths(ctx)?;
        let hits = collide(ctx, &deaths, grace, max_evidence)?;

        let mut people: Vec<(&Pseudonym, &Hit)> = hits.iter().collect();
        people.sort_unstable_by_key(|(p, _)| **p);
        for (person, hit) in people {
            let death = &deaths[person];
            ctx.emit(clue(*person, death, hit))?;
        }
        Ok(())
    }
}

/// Death date per person; a person registered twice keeps the earliest date.
fn load_deaths(ctx: &mut RunContext) -> Result<PseudonymMap<Death>> {
    let mut deaths = PseudonymMap::default();
    for batch in ctx.scan(DEATHS, &["record_id", "id_number", "death_date"])? {
        let batch = batch?;
        let ids = batch.text("record_id")?;
        let people = batch.pseudonym("id_number")?;
        let dates = batch.date("death_date")?;
        for row in 0..batch.rows() {
            let (Some(person), Some(date)) = (people.get(row), dates.get(row)) else {
                continue;
            };
            let record_id = ids.get(row).unwrap_or_default();
            deaths
                .entry(person)
                .and_modify(|d: &mut Death| {
                    if date < d.date {
                        *d = Death {
                            record_id: record_id.into(),
                            date,
                        };
                    }
                })
                .or_insert_with(|| Death {
                    record_id: record_id.into(),
                    date,
                });
        }
    }
    Ok(deaths)
}

/// Payments made after death plus the grace period, per person. Only the payments of the
/// people who died are read: the host looks them up by person in its index of the payments.
fn collide(
    ctx: &mut RunContext,
    deaths: &PseudonymMap<Death>,
    grace: i32,
    max_evidence: usize,
) -> Result<PseudonymMap<Hit>> {
    let mut hits: PseudonymMap<Hit> = PseudonymMap::default();
    let dead: Vec<Pseudonym> = deaths.keys().copied().collect();
    let mut payments = ctx.index(PAYMENTS, "id_number", &["payment_id", "pay_date", "amount"])?;
    payments.for_each_pseudonym_match(&dead, |batch, at| {
        let dates = batch.date("pay_date")?;
        let amounts = batch.decimal("amount")?;
        let ids = batch.text("payment_id")?;
        for row in 0..batch.rows() {
            let person = dead[at[row] as usize];
            let Some(date) = dates.get(row) else {
                continue;
            };
            if date.days_since(deaths[&person].date) <= grace {
                continue;
            }
            let amount = amounts.get(row).unwrap_or(Decimal(0));
            let hit = hits.entry(person).or_default();
            hit.count += 1;
            hit.total += amount;
            if hit.payments.len() < max_evidence {
                let id = ids.get(row).unwrap_or_default().to_string();
                hit.payments.push((id, date, amount));
            }
        }
        Ok(())
    })?;
    Ok(hits)
}

fn clue(person: Pseudonym, death: &Death, hit: &Hit) -> Clue {
    let times = if hit.count == 1 {
        "once".to_string()
    } else {
        format!("{} times", hit.count)
    };
    let mut clue = Clue::new(KIND, "person", &person.to_hex())
        .score((0.6 + 0.1 * f64::from(hit.count)).min(1.0))
        .reason(&format!(
            "pension paid {times} (¥{}) after death on {}",
            hit.total.to_money(),
            death.date
        ))
        .evidence(
            Evidence::new(DEATHS)
                .row_key(&death.record_id)
                .pseudonym("id_number", person)
                .date("death_date", death.date),
        )
        .dedup_key(&format!("person:{person}"));
    let mut payments = hit.payments.clone();
    payments.sort();
    for (id, date, amount) in &payments {
        clue = clue.evidence(
            Evidence::new(PAYMENTS)
                .row_key(id)
                .date("pay_date", *date)
                .decimal("amount", *amount),
        );
    }
    clue
}

supervise_sdk::export_model!(PensionAfterDeath);

#[cfg(test)]
mod tests {
    use super::*;
    use supervise_sdk::Value;
    use supervise_sdk::testing::{Fixture, Table, pseudonym};

    fn fixture() -> Fixture {
        Fixture::new("330102", "2024-06-30")
            .table(
                Table::new(DEATHS)
                    .text("record_id", &["D1", "D2"])
                    .pseudonym_of("id_number", &["A", "B"])
                    .date("death_date", &["2024-03-02", "2024-05-20"])
                    .text("region_code", &["330102", "330102"]),
            )
            .table(
                Table::new(PAYMENTS)
                    .text("payment_id", &["P1", "P2", "P3", "P4", "P5", "P6"])
                    .pseudonym_of("id_number", &["A", "A", "A", "B", "C", "A"])
                    .date(
                        "pay_date",
                        &[
                            "2024-03-01",
                            "2024-03-15",
                            "2024-04-15",
                            "2024-06-15",
                            "2024-06-15",
                            "2024-05-15",
                        ],
                    )
                    .decimal("amount", &["3200", "3200", "3200", "2100", "1000", "3200"])
                    .text("region_code", &["330102"; 6]),
            )
    }

    #[test]
    fn flags_payments_after_death_and_grace_once_per_person() {
        let out = fixture().run::<PensionAfterDeath>().unwrap();
        assert_eq!(out.clues.len(), 1, "{:?}", out.clues);
        let c = &out.clues[0];
        assert_eq!(c.subject_id(), pseudonym("A").to_hex());
        assert_eq!(
            c.reason_text(),
            "pension paid 2 times (¥6,400.00) after death on 2024-03-02"
        );
        // Only the payments of the two people who died are read (not C's).
        assert_eq!(out.rows_read[PAYMENTS], 5);
    }

    #[test]
    fn grace_days_parameter_changes_what_counts() {
        let out = fixture()
            .param("grace_days", Value::Integer(0))
            .run::<PensionAfterDeath>()
            .unwrap();
        let reasons: Vec<_> = out
            .clues
            .iter()
            .map(|c| c.reason_text().to_string())
            .collect();
        assert_eq!(out.clues.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("3 times") || reasons[1].contains("3 times"));
    }

    #[test]
    fn negative_grace_is_refused() {
        let err = fixture()
            .param("grace_days", Value::Integer(-1))
            .run::<PensionAfterDeath>()
            .unwrap_err();
        assert!(err.to_string().contains("grace_days"), "{err}");
    }
}
