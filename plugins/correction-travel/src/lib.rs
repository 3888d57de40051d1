//! Community correction, unapproved travel: a person serving community correction may not
//! leave the city where they are supervised without an approval. This model collides the
//! correction roster with travel records (rail, coach and air) and the approvals granted,
//! and flags every trip during the correction period to another city that no approval
//! covers. One clue per trip; the evidence is the roster entry and the travel record.

use supervise_sdk::{
    Clue, ColumnType, Date, Evidence, Manifest, Model, PseudonymMap, Result, RunContext,
};

/// The community-correction roster (justice bureau).
pub const ROSTER: &str = "correction_roster";
/// Travel records (transport).
pub const TRAVEL: &str = "travel_records";
/// Approved absences (justice bureau).
pub const APPROVALS: &str = "travel_approvals";
/// The clue kind.
pub const KIND: &str = "correction-travel";

/// The model.
pub struct CorrectionTravel;

/// A correction period and where it is supervised.
struct Period {
    record_id: String,
    start: Date,
    end: Date,
    city: String,
}

/// An approved absence.
struct Approval {
    from: Date,
    to: Date,
    city: String,
}

/// The city of a 6-digit division code (its first four digits).
fn city(code: &str) -> &str {
    code.get(..4).unwrap_or(code)
}

impl Model for CorrectionTravel {
    fn describe() -> Manifest {
        Manifest::new(
            KIND,
            "Community correction: unapproved travel",
            env!("CARGO_PKG_VERSION"),
        )
        .summary(
            "Finds people under community correction who travelled out of the city where \
                 they are supervised without an approval covering the trip.",
        )
        .author_office("330102")
        .dataset(
            ROSTER,
            "who is under correction, when, and where supervised",
            &[
                ("record_id", ColumnType::Text),
                ("id_number", ColumnType::Pseudonym),
                ("start_date", ColumnType::Date),
                ("end_date", ColumnType::Date),
                ("region_code", ColumnType::Text),
            ],
        )
        .dataset(
            TRAVEL,
            "their journeys and destinations",
            &[
                ("record_id", ColumnType::Text),
                ("id_number", ColumnType::Pseudonym),
                ("travel_date", ColumnType::Date),
                ("destination_code", ColumnType::Text),
            ],
        )
        .dataset(
            APPROVALS,
            "the absences that were approved",
            &[
                ("id_number", ColumnType::Pseudonym),
                ("from_date", ColumnType::Date),
                ("to_date", ColumnType::Date),
                ("destination_code", ColumnType::Text),
            ],
        )
        .clue_kind(KIND, "a trip out of the supervising city without approval")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let periods = load_roster(ctx)?;
        let approvals = load_approvals(ctx, &periods)?;
        let mut trips = Vec::new();
        let columns = ["record_id", "id_number", "travel_date", "destination_code"];
        for batch in ctx.scan(TRAVEL, &columns)? {
            let batch = batch?;
            let (ids, people) = (batch.text("record_id")?, batch.pseudonym("id_number")?);
            let (dates, dests) = (batch.date("travel_date")?, batch.text("destination_code")?);
            for row in 0..batch.rows() {
                let (Some(person), Some(date), Some(dest)) =
                    (people.get(row), dates.get(row), dests.get(row))
                else {
                    continue;
                };
                let Some(period) = periods.get(&person).and_then(|ps| {
                    ps.iter()
                        .find(|p| p.start <= date && date <= p.end && city(dest) != p.city)
                }) else {
                    continue;
                };
                let approved = approvals.get(&person).is_some_and(|a| {
                    a.iter()
                        .any(|a| a.from <= date && date <= a.to && a.city == city(dest))
                });
                if !approved {
                    let record = ids.get(row).unwrap_or_default().to_string();
                    trips.push((record, person, date, dest.to_string(), period));
                }
            }
        }
        trips.sort_by(|a, b| a.0.cmp(&b.0));
        for (record, person, date, dest, period) in trips {
            ctx.emit(
                Clue::new(KIND, "person", &person.to_hex())
                    .score(0.8)
                    .reason(&format!(
                        "left the supervising city for {dest} on {date} without an approval, during correction from {} to {}",
                        period.start, period.end
                    ))
                    .evidence(
                        Evidence::new(ROSTER)
                            .row_key(&period.record_id)
                            .pseudonym("id_number", person)
                            .date("start_date", period.start)
                            .date("end_date", period.end),
                    )
                    .evidence(
                        Evidence::new(TRAVEL)
                            .row_key(&record)
                            .date("travel_date", date)
                            .text("destination_code", &dest),
                    )
                    .dedup_key(&format!("trip:{record}")),
            )?;
        }
        Ok(())
    }
}

/// Correction periods per person.
fn load_roster(ctx: &mut RunContext) -> Result<PseudonymMap<Vec<Period>>> {
    let mut periods: PseudonymMap<Vec<Period>> = PseudonymMap::default();
    let columns = [
        "record_id",
        "id_number",
        "start_date",
        "end_date",
        "region_code",
    ];
    for batch in ctx.scan(ROSTER, &columns)? {
        let batch = batch?;
        let (ids, people) = (batch.text("record_id")?, batch.pseudonym("id_number")?);
        let (starts, ends) = (batch.date("start_date")?, batch.date("end_date")?);
        let regions = batch.text("region_code")?;
        for row in 0..batch.rows() {
            let (Some(person), Some(start), Some(end), Some(region)) = (
                people.get(row),
                starts.get(row),
                ends.get(row),
                regions.get(row),
            ) else {
                continue;
            };
            periods.entry(person).or_default().push(Period {
                record_id: ids.get(row).unwrap_or_default().to_string(),
                start,
                end,
                city: city(region).to_string(),
            });
        }
    }
    Ok(periods)
}

/// Approvals of the people on the roster.
fn load_approvals(
    ctx: &mut RunContext,
    periods: &PseudonymMap<Vec<Period>>,
) -> Result<PseudonymMap<Vec<Approval>>> {
    let mut approvals: PseudonymMap<Vec<Approval>> = PseudonymMap::default();
    let columns = ["id_number", "from_date", "to_date", "destination_code"];
    for batch in ctx.scan(APPROVALS, &columns)? {
        let batch = batch?;
        let people = batch.pseudonym("id_number")?;
        let (froms, tos) = (batch.date("from_date")?, batch.date("to_date")?);
        let dests = batch.text("destination_code")?;
        for row in 0..batch.rows() {
            let (Some(person), Some(from), Some(to), Some(dest)) = (
                people.get(row),
                froms.get(row),
                tos.get(row),
                dests.get(row),
            ) else {
                continue;
            };
            if periods.contains_key(&person) {
                approvals.entry(person).or_default().push(Approval {
                    from,
                    to,
                    city: city(dest).to_string(),
                });
            }
        }
    }
    Ok(approvals)
}

supervise_sdk::export_model!(CorrectionTravel);

#[cfg(test)]
mod tests {
    use super::*;
    use supervise_sdk::testing::{Fixture, Table, pseudonym};

    /// A is under correction in Hangzhou (3301) through 2024: trips t1 within Hangzhou, t2 to
    /// Ningbo approved, t3 to Wenzhou unapproved (a clue), t4 to Wenzhou before the period.
    /// B is not on the roster and travels anywhere.
    fn fixture() -> Fixture {
        Fixture::new("330102", "2024-12-31")
            .table(
                Table::new(ROSTER)
                    .text("record_id", &["r1"])
                    .pseudonym_of("id_number", &["A"])
                    .date("start_date", &["2024-01-01"])
                    .date("end_date", &["2024-12-31"])
                    .text("region_code", &["330102"]),
            )
            .table(
                Table::new(TRAVEL)
                    .text("record_id", &["t1", "t2", "t3", "t4", "t5"])
                    .pseudonym_of("id_number", &["A", "A", "A", "A", "B"])
                    .date(
                        "travel_date",
                        &[
                            "2024-02-01",
                            "2024-03-01",
                            "2024-04-01",
                            "2023-12-01",
                            "2024-04-01",
                        ],
                    )
                    .text(
                        "destination_code",
                        &["330106", "330203", "330302", "330302", "330302"],
                    )
                    .text("region_code", &["330102"; 5]),
            )
            .table(
                Table::new(APPROVALS)
                    .pseudonym_of("id_number", &["A"])
                    .date("from_date", &["2024-02-28"])
                    .date("to_date", &["2024-03-05"])
                    .text("destination_code", &["330205"])
                    .text("region_code", &["330102"]),
            )
    }

    #[test]
    fn an_unapproved_trip_out_of_the_city_is_a_clue() {
        let out = fixture().run::<CorrectionTravel>().unwrap();
        assert_eq!(out.clues.len(), 1, "{:?}", out.clues);
        let c = &out.clues[0];
        assert_eq!(c.subject_id(), pseudonym("A").to_hex());
        assert_eq!(c.dedup_key_text(), "trip:t3");
        assert_eq!(
            c.reason_text(),
            "left the supervising city for 330302 on 2024-04-01 without an approval, during correction from 2024-01-01 to 2024-12-31"
        );
    }
}
