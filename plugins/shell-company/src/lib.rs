//! Shell companies: companies that existed through the whole look-back window yet had no
//! insured staff and declared no tax in it ("dormant"), and that share a registered address or
//! a legal representative with other dormant companies. Such clusters are how invoices are
//! sold, loans obtained and money moved; one dormant company alone is usually just dormant.
//! One clue per cluster of at least `min_cluster` companies, keyed by its smallest credit
//! code; the evidence is each company's registration.

use std::collections::BTreeMap;

use supervise_sdk::{
    Clue, ColumnType, Date, Error, Evidence, Manifest, Model, Pseudonym, PseudonymMap, Result,
    RunContext, TextMap,
};

/// Company registrations (market supervision).
pub const REGISTRY: &str = "company_registry";
/// Quarterly tax filings (tax).
pub const TAX: &str = "tax_filings";
/// Monthly social-insurance enrolment (human resources and social security).
pub const INSURANCE: &str = "social_insurance";
/// The clue kind.
pub const KIND: &str = "shell-company";

/// The model.
pub struct ShellCompany;

/// A company registered before the window, and what links it to others.
struct Company {
    code: String,
    rep: Option<Pseudonym>,
    address: String,
    active: bool,
}

impl Model for ShellCompany {
    fn describe() -> Manifest {
        Manifest::new(KIND, "Shell companies", env!("CARGO_PKG_VERSION"))
            .summary(
                "Finds groups of companies with no insured staff and no tax for a year that \
                 share an address or a legal representative: the usual shape of invoice mills \
                 and fronts for moving money.",
            )
            .author_office("330102")
            .dataset(
                REGISTRY,
                "active companies, their addresses and legal representatives",
                &[
                    ("credit_code", ColumnType::Text),
                    ("legal_rep_id", ColumnType::Pseudonym),
                    ("address", ColumnType::Text),
                    ("registered_date", ColumnType::Date),
                    ("status", ColumnType::Text),
                ],
            )
            .dataset(
                TAX,
                "whether a company declared any tax in the window",
                &[
                    ("credit_code", ColumnType::Text),
                    ("period_start", ColumnType::Date),
                    ("tax_amount", ColumnType::Decimal),
                ],
            )
            .dataset(
                INSURANCE,
                "whether a company insured any staff in the window",
                &[
                    ("credit_code", ColumnType::Text),
                    ("month", ColumnType::Date),
                    ("insured_count", ColumnType::Integer),
                ],
            )
            .integer_param(
                "window_days",
                365,
                "the look-back window: no staff and no tax in all of it makes a company dormant",
            )
            .integer_param(
                "min_cluster",
                3,
                "dormant companies linked by address or representative that make a clue",
            )
            .clue_kind(
                KIND,
                "a cluster of dormant companies sharing an address or a representative",
            )
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let window = positive(ctx.param_integer("window_days")?, "window_days")?;
        let min_cluster = positive(ctx.param_integer("min_cluster")?, "min_cluster")?.max(2);
        let as_of = ctx.as_of();
        let start = as_of.add_days(-i32::try_from(window).unwrap_or(i32::MAX));
        let mut companies = load_companies(ctx, start)?;
        let active = active_in_window(ctx, &companies, start, as_of)?;
        for (company, active) in companies.iter_mut().zip(active) {
            company.active = active;
        }
        for (members, link) in clusters(&companies, min_cluster as usize) {
            ctx.emit(clue(&companies, &members, link, window))?;
        }
        Ok(())
    }
}

fn positive(v: i64, name: &str) -> Result<i64> {
    if v < 1 {
        return Err(Error::model(format!("{name} must be at least 1, got {v}")));
    }
    Ok(v)
}

/// Addresses compare without spaces and case, as registries write them differently.
fn normalise(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    for c in address.chars().filter(|c| !c.is_whitespace()) {
        // Most of an address is CJK ideographs, which have no case: they skip the search of
        // the case tables that `to_lowercase` makes for every other character.
        if c.is_ascii() || ('\u{3400}'..='\u{9fff}').contains(&c) {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Active companies registered before the window began.
fn load_companies(ctx: &mut RunContext, start: Date) -> Result<Vec<Company>> {
    let mut out = Vec::new();
    let columns = [
        "credit_code",
        "legal_rep_id",
        "address",
        "registered_date",
        "status",
    ];
    for batch in ctx.scan(REGISTRY, &columns)? {
        let batch = batch?;
        let codes = batch.text("credit_code")?;
        let reps = batch.pseudonym("legal_rep_id")?;
        let addresses = batch.text("address")?;
        let registered = batch.date("registered_date")?;
        let status = batch.text("status")?;
        for row in 0..batch.rows() {
            let (Some(code), Some(date)) = (codes.get(row), registered.get(row)) else {
                continue;
            };
            if date > start || status.get(row) != Some("active") {
                continue;
            }
            out.push(Company {
                code: code.to_string(),
                rep: reps.get(row),
                address: normalise(addresses.get(row).unwrap_or_default()),
                active: false,
            });
        }
    }
    Ok(out)
}

/// Per company, whether it declared tax or insured staff in the window. The filings and
/// enrolments of the companies' credit codes are looked up in the host's index, which
/// compares the codes natively; the rows of companies not in `companies` are never read.
fn active_in_window(
    ctx: &mut RunContext,
    companies: &[Company],
    start: Date,
    as_of: Date,
) -> Result<Vec<bool>> {
    let codes: Vec<&str> = companies.iter().map(|c| c.code.as_str()).collect();
    let mut active = vec![false; companies.len()];
    let in_window = |d: Option<Date>| d.is_some_and(|d| d >= start && d <= as_of);
    let mut tax = ctx.index(TAX, "credit_code", &["period_start", "tax_amount"])?;
    tax.for_each_text_match(&codes, |batch, at| {
        let (dates, amounts) = (batch.date("period_start")?, batch.decimal("tax_amount")?);
        for row in 0..batch.rows() {
            if in_window(dates.get(row)) && amounts.get(row).is_some_and(|a| a.0 > 0) {
                active[at[row] as usize] = true;
            }
        }
        Ok(())
    })?;
    let mut insurance = ctx.index(INSURANCE, "credit_code", &["month", "insured_count"])?;
    insurance.for_each_text_match(&codes, |batch, at| {
        let (months, counts) = (batch.date("month")?, batch.integer("insured_count")?);
        for row in 0..batch.rows() {
            if in_window(months.get(row)) && counts.get(row).is_some_and(|n| n > 0) {
                active[at[row] as usize] = true;
            }
        }
        Ok(())
    })?;
    Ok(active)
}

/// What ties a cluster together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Address,
    Representative,
    Both,
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Dormant companies joined by a shared address or representative, in clusters of at least
/// `min` (members by index, sorted by credit code).
fn clusters(companies: &[Company], min: usize) -> Vec<(Vec<usize>, Link)> {
    let dormant: Vec<usize> = (0..companies.len())
        .filter(|&i| !companies[i].active)
        .collect();
    let mut parent: Vec<usize> = (0..companies.len()).collect();
    let mut by_address: TextMap<&str, usize> = TextMap::default();
    let mut by_rep: PseudonymMap<usize> = PseudonymMap::default();
    let (mut address_links, mut rep_links) = (Vec::new(), Vec::new());
    for &i in &dormant {
        let c = &companies[i];
        if !c.address.is_empty() {
            if let Some(&j) = by_address.get(c.address.as_str()) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
                address_links.push(i);
            } else {
                by_address.insert(&c.address, i);
            }
        }
        if let Some(rep) = c.rep {
            if let Some(&j) = by_rep.get(&rep) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
                rep_links.push(i);
            } else {
                by_rep.insert(rep, i);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in &dormant {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    let linked_by = |members: &[usize], links: &[usize]| members.iter().any(|m| links.contains(m));
    let mut out: Vec<(Vec<usize>, Link)> = groups
        .into_values()
        .filter(|m| m.len() >= min)
        .map(|mut m| {
            m.sort_by(|a, b| companies[*a].code.cmp(&companies[*b].code));
            let link = match (linked_by(&m, &address_links), linked_by(&m, &rep_links)) {
                (true, true) => Link::Both,
                (true, false) => Link::Address,
                _ => Link::Representative,
            };
            (m, link)
        })
        .collect();
    out.sort_by(|a, b| companies[a.0[0]].code.cmp(&companies[b.0[0]].code));
    out
}

fn clue(companies: &[Company], members: &[usize], link: Link, window: i64) -> Clue {
    let first = &companies[members[0]].code;
    let shared = match link {
        Link::Address => "an address",
        Link::Representative => "a legal representative",
        Link::Both => "addresses and legal representatives",
    };
    let n = members.len();
    let mut clue = Clue::new(KIND, "company-cluster", first)
        .display_name(&format!("{n} companies around {first}"))
        .score((0.4 + 0.1 * n as f64).min(1.0))
        .reason(&format!(
            "{n} companies with no insured staff and no tax for {window} days share {shared}"
        ))
        .dedup_key(&format!("cluster:{first}"));
    for &m in members {
        let c = &companies[m];
        let mut e = Evidence::new(REGISTRY)
            .row_key(&c.code)
            .text("address", &c.address);
        if let Some(rep) = c.rep {
            e = e.pseudonym("legal_rep_id", rep);
        }
        clue = clue.evidence(e);
    }
    clue
}

supervise_sdk::export_model!(ShellCompany);

#[cfg(test)]
mod tests {
    use super::*;
    use supervise_sdk::Value;
    use supervise_sdk::testing::{Fixture, Table};

    #[test]
    fn addresses_normalise_as_unicode_lowercase_without_spaces() {
        let reference = |a: &str| -> String {
            a.chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect()
        };
        for a in [
            "杭州市 上城区东路12号 1203室",
            "ＡＢ路１号 Room A",
            "ΣΟΦΙΑ İstanbul ǅ",
            "\u{3400}\u{33ff}\u{9fff}\u{a000}\u{3000}x",
            "",
        ] {
            assert_eq!(normalise(a), reference(a), "{a:?}");
        }
        assert_eq!(normalise("ＡＢ路 Room A"), "ａｂ路rooma");
    }

    /// Six companies: A, B, C dormant at one address (a cluster); D dormant with the same
    /// representative as E, which is busy (not a cluster); F busy at A's address. Z, which
    /// filed tax, is not registered in the county.
    fn fixture() -> Fixture {
        let codes = ["A", "B", "C", "D", "E", "F"];
        Fixture::new("330102", "2024-12-31")
            .table(
                Table::new(REGISTRY)
                    .text("credit_code", &codes)
                    .pseudonym_of("legal_rep_id", &["p1", "p2", "p3", "p4", "p4", "p6"])
                    .text(
                        "address",
                        &[
                            "1 Main St",
                            "1 main st",
                            "1 Main  St",
                            "2 Side St",
                            "3 Side St",
                            "1 Main St",
                        ],
                    )
                    .date("registered_date", &["2020-01-01"; 6])
                    .text("status", &["active"; 6])
                    .text("region_code", &["330102"; 6]),
            )
            .table(
                Table::new(TAX)
                    .text("credit_code", &["A", "B", "E", "F", "Z"])
                    .date(
                        "period_start",
                        &[
                            "2024-04-01",
                            "2024-07-01",
                            "2024-07-01",
                            "2024-07-01",
                            "2024-07-01",
                        ],
                    )
                    .decimal("tax_amount", &["0", "0", "1200", "50", "10"])
                    .text("region_code", &["330102"; 5]),
            )
            .table(
                Table::new(INSURANCE)
                    .text("credit_code", &["C", "F"])
                    .date("month", &["2023-06-01", "2024-08-01"])
                    .integer("insured_count", &[4, 12])
                    .text("region_code", &["330102"; 2]),
            )
    }

    #[test]
    fn one_clue_per_cluster_of_dormant_companies() {
        let out = fixture().run::<ShellCompany>().unwrap();
        assert_eq!(out.clues.len(), 1, "{:?}", out.clues);
        let c = &out.clues[0];
        assert_eq!(c.subject_id(), "A");
        assert_eq!(c.dedup_key_text(), "cluster:A");
        assert_eq!(
            c.reason_text(),
            "3 companies with no insured staff and no tax for 365 days share an address"
        );
        assert_eq!(c.evidence_rows().count(), 3);
        // Only the registered companies' filings are read: not Z's.
        assert_eq!(out.rows_read[TAX], 4);
        assert_eq!(out.rows_read[INSURANCE], 2);
    }

    #[test]
    fn a_larger_minimum_finds_nothing() {
        let out = fixture()
            .param("min_cluster", Value::Integer(4))
            .run::<ShellCompany>()
            .unwrap();
        assert!(out.clues.is_empty());
    }

    #[test]
    fn staff_in_the_window_makes_a_company_active() {
        // C's staff were insured before the window; a window of two years includes them.
        let out = fixture()
            .param("window_days", Value::Integer(730))
            .run::<ShellCompany>()
            .unwrap();
        assert!(out.clues.is_empty(), "{:?}", out.clues);
    }
}
