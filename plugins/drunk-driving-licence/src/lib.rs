//! Drunk driving, licence not revoked: a conviction for drunk driving (blood alcohol of
//! 80 mg/100 ml or more) requires the driving licence to be revoked; a licence still valid
//! more than `grace_days` after the conviction means the traffic police never acted on the
//! court's judgment, and a convicted drunk driver may still drive legally. Convictions for
//! the lesser offence of drink driving (suspension, not revocation) are not counted. One clue
//! per person; the evidence is the conviction and the licence.

use supervise_sdk::{
    Clue, ColumnType, Date, Error, Evidence, Manifest, Model, PseudonymMap, Result, RunContext,
};

/// Drink- and drunk-driving convictions (courts, public security).
pub const CONVICTIONS: &str = "drunk_driving_convictions";
/// Driving licences (traffic police).
pub const LICENCES: &str = "driving_licences";
/// The clue kind.
pub const KIND: &str = "drunk-driving-licence";
/// The offence that requires revocation.
pub const DRUNK: &str = "drunk";

/// The model.
pub struct DrunkDrivingLicence;

struct Conviction {
    case_no: String,
    date: Date,
}

impl Model for DrunkDrivingLicence {
    fn describe() -> Manifest {
        Manifest::new(
            KIND,
            "Drunk driving, licence not revoked",
            env!("CARGO_PKG_VERSION"),
        )
        .summary(
            "Finds driving licences still valid after their holder was convicted of drunk \
                 driving, which requires revocation: the judgment was never carried out.",
        )
        .author_office("330102")
        .dataset(
            CONVICTIONS,
            "who was convicted of drunk driving, and when",
            &[
                ("case_no", ColumnType::Text),
                ("id_number", ColumnType::Pseudonym),
                ("offence", ColumnType::Text),
                ("conviction_date", ColumnType::Date),
            ],
        )
        .dataset(
            LICENCES,
            "the current status of their licences",
            &[
                ("licence_no", ColumnType::Text),
                ("id_number", ColumnType::Pseudonym),
                ("status", ColumnType::Text),
                ("status_date", ColumnType::Date),
            ],
        )
        .integer_param(
            "grace_days",
            30,
            "days the traffic police have to revoke a licence after the conviction",
        )
        .clue_kind(
            KIND,
            "a licence still valid after a drunk-driving conviction",
        )
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let grace = ctx.param_integer("grace_days")?;
        let grace = i32::try_from(grace)
            .ok()
            .filter(|g| *g >= 0)
            .ok_or_else(|| Error::model(format!("grace_days must be 0 or more, got {grace}")))?;
        let as_of = ctx.as_of();
        // The latest drunk-driving conviction per person, past the grace period.
        let mut convicted: PseudonymMap<Conviction> = PseudonymMap::default();
        let columns = ["case_no", "id_number", "offence", "conviction_date"];
        for batch in ctx.scan(CONVICTIONS, &columns)? {
            let batch = batch?;
            let (nos, people) = (batch.text("case_no")?, batch.pseudonym("id_number")?);
            let (offences, dates) = (batch.text("offence")?, batch.date("conviction_date")?);
            for row in 0..batch.rows() {
                let (Some(person), Some(date)) = (people.get(row), dates.get(row)) else {
                    continue;
                };
                if offences.get(row) != Some(DRUNK) || as_of.days_since(date) <= grace {
                    continue;
                }
                let case_no = nos.get(row).unwrap_or_default().to_string();
                convicted
                    .entry(person)
                    .and_modify(|c| {
                        if date > c.date {
                            *c = Conviction {
                                case_no: case_no.clone(),
                                date,
                            };
                        }
                    })
                    .or_insert(Conviction { case_no, date });
            }
        }
        let mut found = Vec::new();
        let columns = ["licence_no", "id_number", "status", "status_date"];
        for batch in ctx.scan(LICENCES, &columns)? {
            let batch = batch?;
            let (nos, people) = (batch.text("licence_no")?, batch.pseudonym("id_number")?);
            let (statuses, dates) = (batch.text("status")?, batch.date("status_date")?);
            for row in 0..batch.rows() {
                let Some(person) = people.get(row) else {
                    continue;
                };
                let Some(c) = convicted.get(&person) else {
                    continue;
                };
                // Valid now, and not a licence issued anew after the conviction.
                let since = dates.get(row);
                if statuses.get(row) == Some("valid") && since.is_none_or(|d| d <= c.date) {
                    let licence = nos.get(row).unwrap_or_default().to_string();
                    found.push((person, licence, since));
                }
            }
        }
        found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        found.dedup_by(|a, b| a.0 == b.0);
        for (person, licence, since) in found {
            let c = &convicted[&person];
            let mut licence_evidence = Evidence::new(LICENCES)
                .row_key(&licence)
                .text("status", "valid");
            if let Some(d) = since {
                licence_evidence = licence_evidence.date("status_date", d);
            }
            ctx.emit(
                Clue::new(KIND, "person", &person.to_hex())
                    .score(0.9)
                    .reason(&format!(
                        "licence {licence} still valid {} days after a drunk-driving conviction on {}",
                        as_of.days_since(c.date),
                        c.date
                    ))
                    .evidence(
                        Evidence::new(CONVICTIONS)
                            .row_key(&c.case_no)
                            .pseudonym("id_number", person)
                            .text("offence", DRUNK)
                            .date("conviction_date", c.date),
                    )
                    .evidence(licence_evidence)
                    .dedup_key(&format!("person:{person}")),
            )?;
        }
        Ok(())
    }
}

supervise_sdk::export_model!(DrunkDrivingLicence);

#[cfg(test)]
mod tests {
    use super::*;
    use supervise_sdk::Value;
    use supervise_sdk::testing::{Fixture, Table, pseudonym};

    /// A: drunk, licence valid (a clue). B: drunk, revoked. C: drink, valid. D: drunk a week
    /// ago, still valid (within grace). E: drunk, then a new licence after the ban.
    fn fixture() -> Fixture {
        Fixture::new("330102", "2024-12-31")
            .table(
                Table::new(CONVICTIONS)
                    .text("case_no", &["k1", "k2", "k3", "k4", "k5"])
                    .pseudonym_of("id_number", &["A", "B", "C", "D", "E"])
                    .text("offence", &["drunk", "drunk", "drink", "drunk", "drunk"])
                    .date(
                        "conviction_date",
                        &[
                            "2024-03-01",
                            "2024-03-01",
                            "2024-03-01",
                            "2024-12-24",
                            "2018-01-01",
                        ],
                    )
                    .text("region_code", &["330102"; 5]),
            )
            .table(
                Table::new(LICENCES)
                    .text("licence_no", &["l1", "l2", "l3", "l4", "l5"])
                    .pseudonym_of("id_number", &["A", "B", "C", "D", "E"])
                    .text("status", &["valid", "revoked", "valid", "valid", "valid"])
                    .date(
                        "status_date",
                        &[
                            "2015-06-01",
                            "2024-03-10",
                            "2015-06-01",
                            "2015-06-01",
                            "2023-06-01",
                        ],
                    )
                    .text("region_code", &["330102"; 5]),
            )
    }

    #[test]
    fn a_valid_licence_after_a_drunk_driving_conviction_is_a_clue() {
        let out = fixture().run::<DrunkDrivingLicence>().unwrap();
        assert_eq!(out.clues.len(), 1, "{:?}", out.clues);
        assert_eq!(out.clues[0].subject_id(), pseudonym("A").to_hex());
        assert_eq!(
            out.clues[0].reason_text(),
            "licence l1 still valid 305 days after a drunk-driving conviction on 2024-03-01"
        );
    }

    #[test]
    fn no_grace_counts_last_weeks_conviction_too() {
        let out = fixture()
            .param("grace_days", Value::Integer(0))
            .run::<DrunkDrivingLicence>()
            .unwrap();
        assert_eq!(out.clues.len(), 2, "{:?}", out.clues);
    }
}
