//! Writes the synthetic province: every dataset as CSV, its regions, its schemas, and the
//! ground truth (every planted anomaly, by model and county). Each row is derived from its
//! own random stream (seed, kind, index), so the files are written in one streaming pass each
//! with flat memory, and the same seed, scale and as-of date give the same bytes.
//!
//! What is planted, and the clean look-alikes that must not be flagged:
//! - pension after death: payments that go on 2 to 4 months after a recorded death (clean:
//!   payments stop at the death; some deaths are of people with no pension);
//! - shell companies: groups of 3 to 6 companies in one county with no staff and only nil
//!   tax returns that share an address or a legal representative (clean: dormant companies
//!   on their own, dormant pairs sharing an address, busy companies sharing a building);
//! - professional lenders: a plaintiff with 6 to 9 private-lending suits against as many
//!   borrowers within 300 days (clean: 4 suits in a year; 6 suits spread over four years;
//!   many suits of another cause);
//! - drunk driving: a licence still valid after a drunk-driving conviction (clean: revoked
//!   after the conviction; a valid licence after a lesser drink-driving conviction);
//! - community correction: a trip out of the supervising city without an approval during
//!   the correction period (clean: trips within the city, approved trips, trips before the
//!   period began).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate};

use super::ids::{credit_code, resident_id};
use super::province::{County, counties, regions_csv};
use super::rng::Rng;

/// The schema files of the province's standard datasets, as `schemas/` holds them.
pub const SCHEMAS: [(&str, &str); 13] = [
    ("residents", include_str!("../../../schemas/residents.toml")),
    (
        "death_registrations",
        include_str!("../../../schemas/death_registrations.toml"),
    ),
    (
        "pension_payments",
        include_str!("../../../schemas/pension_payments.toml"),
    ),
    (
        "company_registry",
        include_str!("../../../schemas/company_registry.toml"),
    ),
    (
        "tax_filings",
        include_str!("../../../schemas/tax_filings.toml"),
    ),
    (
        "social_insurance",
        include_str!("../../../schemas/social_insurance.toml"),
    ),
    (
        "civil_judgments",
        include_str!("../../../schemas/civil_judgments.toml"),
    ),
    (
        "judgment_parties",
        include_str!("../../../schemas/judgment_parties.toml"),
    ),
    (
        "drunk_driving_convictions",
        include_str!("../../../schemas/drunk_driving_convictions.toml"),
    ),
    (
        "driving_licences",
        include_str!("../../../schemas/driving_licences.toml"),
    ),
    (
        "correction_roster",
        include_str!("../../../schemas/correction_roster.toml"),
    ),
    (
        "travel_records",
        include_str!("../../../schemas/travel_records.toml"),
    ),
    (
        "travel_approvals",
        include_str!("../../../schemas/travel_approvals.toml"),
    ),
];

/// The smallest scale: below it the planted rates leave some models nothing to find.
pub const MIN_SCALE: u64 = 10_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed: the same seed, scale and as-of date give the same bytes.
    pub seed: u64,
    /// Residents; the other datasets follow (about 5 rows per resident in all).
    pub scale: u64,
    /// The day the data is current to (the day runs look back from).
    pub as_of: NaiveDate,
    /// The directory to write (created; files already there are replaced).
    pub out: PathBuf,
    /// Show a progress bar.
    pub progress: bool,
}

/// Why generating failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The options make no sense.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    /// Rows per dataset.
    pub rows: BTreeMap<String, u64>,
    /// Planted anomalies per model.
    pub planted: BTreeMap<String, u64>,
}

/// A planted anomaly: what the model must find.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Truth {
    /// The model that must find it.
    pub model: String,
    /// The county whose run finds it.
    pub county: String,
    /// `person` or `company-cluster`.
    pub subject_type: String,
    /// The subject's natural identifier (an ID number, or the cluster's smallest credit code).
    pub subject: String,
    /// What identifies the finding itself (the trip's record id for travel; else the subject).
    pub key: String,
}

/// A CSV file being written under a temporary name; renamed into place when finished, so a
/// failed run never leaves a half-written file under the real name.
struct Sink {
    path: PathBuf,
    partial: PathBuf,
    w: csv::Writer<BufWriter<File>>,
    rows: u64,
}

impl Sink {
    fn new(dir: &Path, name: &str, header: &[&str]) -> Result<Sink, DemoError> {
        let path = dir.join(format!("{name}.csv"));
        let partial = dir.join(format!("{name}.csv.partial"));
        let file = File::create(&partial).map_err(|source| io(&partial, source))?;
        let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
        w.write_record(header).map_err(|e| csv_err(&partial, e))?;
        Ok(Sink {
            path,
            partial,
            w,
            rows: 0,
        })
    }

    fn row<I, T>(&mut self, fields: I) -> Result<(), DemoError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.rows += 1;
        let partial = &self.partial;
        self.w.write_record(fields).map_err(|e| csv_err(partial, e))
    }

    fn finish(self, summary: &mut Summary) -> Result<(), DemoError> {
        let Sink {
            path,
            partial,
            w,
            rows,
        } = self;
        let mut inner = w.into_inner().map_err(|e| io(&partial, e.into_error()))?;
        inner.flush().map_err(|source| io(&partial, source))?;
        drop(inner);
        std::fs::rename(&partial, &path).map_err(|source| io(&path, source))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        summary.rows.insert(name, rows);
        Ok(())
    }
}

fn io(path: &Path, source: std::io::Error) -> DemoError {
    DemoError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn csv_err(path: &Path, e: csv::Error) -> DemoError {
    io(path, std::io::Error::other(e.to_string()))
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Cents of `y` yuan.
fn yuan(y: i64) -> i64 {
    y * 100
}

fn money(yuan_cents: i64) -> String {
    format!("{}.{:02}", yuan_cents / 100, yuan_cents % 100)
}

/// The first day of the month `back` months before `d`'s month.
fn month_start(d: NaiveDate, back: i32) -> NaiveDate {
    let months = d.year() * 12 + d.month0() as i32 - back;
    NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1).unwrap_or(d)
}

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高",
];
const GIVEN: [&str; 30] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "建", "国", "文", "红", "玉", "兰",
];

/// One resident, derived from their index alone.
struct Person {
    id: String,
    name: String,
    male: bool,
    birth: NaiveDate,
    county: usize,
}

/// Birth dates span 80 years from this day.
const BIRTH_DAYS: u64 = 29_220;
/// Consecutive residents of a county are born this many days apart (mod [`BIRTH_DAYS`]); it
/// shares no factor with it, so the first 29,220 residents of a county have 29,220 distinct
/// birthdays spread over all 80 years, whatever the scale.
const BIRTH_STRIDE: u64 = 7_919;

fn person(seed: u64, i: u64, all: &[County]) -> Person {
    let n = all.len() as u64;
    let county = (i % n) as usize;
    let j = i / n;
    let base = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap_or_default();
    let birth = base + Duration::days((j * BIRTH_STRIDE % BIRTH_DAYS) as i64);
    let seq = (j / BIRTH_DAYS) as u32;
    let mut r = Rng::of(seed, "name", i);
    let name = format!(
        "{}{}{}",
        r.pick(&SURNAMES),
        r.pick(&GIVEN),
        if r.chance(0.6) { *r.pick(&GIVEN) } else { "" }
    );
    Person {
        id: resident_id(&all[county].code, &birth.format("%Y%m%d").to_string(), seq),
        name,
        male: seq % 2 == 1,
        birth,
        county,
    }
}

/// Writes the province into `o.out`.
pub fn generate(o: &Options) -> Result<Summary, DemoError> {
    if o.scale < MIN_SCALE {
        return Err(DemoError::Invalid(format!(
            "--scale {}: at least {MIN_SCALE} residents, so that every model has cases to find",
            o.scale
        )));
    }
    if o.scale > 90 * BIRTH_DAYS * 1000 {
        return Err(DemoError::Invalid(format!(
            "--scale {} is more residents than identity numbers can tell apart",
            o.scale
        )));
    }
    std::fs::create_dir_all(o.out.join("schemas")).map_err(|source| io(&o.out, source))?;
    for (name, text) in SCHEMAS {
        let path = o.out.join("schemas").join(format!("{name}.toml"));
        std::fs::write(&path, text).map_err(|source| io(&path, source))?;
    }
    let regions = o.out.join("regions.csv");
    std::fs::write(&regions, regions_csv()).map_err(|source| io(&regions, source))?;
    let all = counties();
    let mut g = Gen {
        o,
        all: &all,
        summary: Summary::default(),
        truth: Vec::new(),
    };
    let bar = if o.progress {
        indicatif::ProgressBar::new(o.scale)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:<44} {bar:30} {pos}/{len} residents")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("residents, deaths, pensions, licences, correction");
    g.people(&bar)?;
    bar.set_message("companies, tax filings, social insurance");
    g.companies()?;
    bar.set_message("civil judgments and their parties");
    g.judgments()?;
    g.write_truth()?;
    bar.finish_and_clear();
    Ok(g.summary)
}

struct Gen<'a> {
    o: &'a Options,
    all: &'a [County],
    summary: Summary,
    truth: Vec<Truth>,
}

impl Gen<'_> {
    fn sink(&self, name: &str, header: &[&str]) -> Result<Sink, DemoError> {
        Sink::new(&self.o.out, name, header)
    }

    fn plant(&mut self, model: &str, county: usize, subject_type: &str, subject: &str, key: &str) {
        *self.summary.planted.entry(model.to_string()).or_default() += 1;
        self.truth.push(Truth {
            model: model.into(),
            county: self.all[county].code.clone(),
            subject_type: subject_type.into(),
            subject: subject.into(),
            key: key.into(),
        });
    }

    /// Residents and everything that hangs on one person: deaths and pensions, drink-driving
    /// convictions and licences, the correction roster with travel and approvals.
    fn people(&mut self, bar: &indicatif::ProgressBar) -> Result<(), DemoError> {
        let (seed, as_of) = (self.o.seed, self.o.as_of);
        let mut residents = self.sink(
            "residents",
            &["id_number", "name", "sex", "birth_date", "region_code"],
        )?;
        let mut deaths = self.sink(
            "death_registrations",
            &[
                "record_id",
                "id_number",
                "name",
                "death_date",
                "region_code",
            ],
        )?;
        let mut payments = self.sink(
            "pension_payments",
            &[
                "payment_id",
                "id_number",
                "pay_date",
                "amount",
                "region_code",
            ],
        )?;
        let mut convictions = self.sink(
            "drunk_driving_convictions",
            &[
                "case_no",
                "id_number",
                "offence",
                "conviction_date",
                "region_code",
            ],
        )?;
        let mut licences = self.sink(
            "driving_licences",
            &[
                "licence_no",
                "id_number",
                "class",
                "status",
                "status_date",
                "region_code",
            ],
        )?;
        let mut roster = self.sink(
            "correction_roster",
            &[
                "record_id",
                "id_number",
                "start_date",
                "end_date",
                "region_code",
            ],
        )?;
        let mut travel = self.sink(
            "travel_records",
            &[
                "record_id",
                "id_number",
                "travel_date",
                "destination_code",
                "mode",
                "region_code",
            ],
        )?;
        let mut approvals = self.sink(
            "travel_approvals",
            &[
                "approval_id",
                "id_number",
                "from_date",
                "to_date",
                "destination_code",
                "region_code",
            ],
        )?;
        let step = (self.o.scale / 200).max(1);
        for i in 0..self.o.scale {
            if i % step == 0 {
                bar.set_position(i);
            }
            let p = person(seed, i, self.all);
            let region = self.all[p.county].code.clone();
            let mut r = Rng::of(seed, "person", i);
            residents.row([
                p.id.as_str(),
                &p.name,
                if p.male { "male" } else { "female" },
                &day(p.birth),
                &region,
            ])?;
            // Another agency's export writes the check letter in lower case: the platform
            // normalises identifiers before pseudonymising, so the records still join.
            let other_agency_id = if r.chance(0.3) {
                p.id.to_ascii_lowercase()
            } else {
                p.id.clone()
            };
            let age = as_of.year() - p.birth.year();
            let retired = age >= 60;
            let dies = r.chance(if retired { 0.03 } else { 0.002 });
            let death = as_of - Duration::days(r.between(20, 330));
            if dies {
                deaths.row([
                    format!("D{region}{i:010}").as_str(),
                    &other_agency_id,
                    &p.name,
                    &day(death),
                    &region,
                ])?;
            }
            if retired {
                let planted = dies && death <= as_of - Duration::days(75) && r.chance(0.2);
                let extra = r.between(2, 4) as i32;
                let amount = r.between(yuan(1500), yuan(6000));
                let paid_until = if planted {
                    month_start(death, -extra) + Duration::days(20)
                } else if dies {
                    death
                } else {
                    as_of
                };
                for back in (0..12).rev() {
                    let pay = month_start(as_of, back) + Duration::days(14);
                    if pay > as_of || pay > paid_until {
                        continue;
                    }
                    payments.row([
                        format!("P{i:010}{back:02}").as_str(),
                        &p.id,
                        &day(pay),
                        &money(amount),
                        &region,
                    ])?;
                }
                if planted {
                    self.plant("pension-after-death", p.county, "person", &p.id, &p.id);
                }
            }
            self.driving(i, &p, &mut r, &mut convictions, &mut licences)?;
            self.correction(i, &p, &mut roster, &mut travel, &mut approvals)?;
        }
        for s in [
            residents,
            deaths,
            payments,
            convictions,
            licences,
            roster,
            travel,
            approvals,
        ] {
            s.finish(&mut self.summary)?;
        }
        Ok(())
    }

    /// One person in 200 was convicted of driving after drinking (four in five of them of
    /// drunk driving, and of those, three in ten still hold a valid licence: planted); 40% of
    /// the others hold a licence.
    fn driving(
        &mut self,
        i: u64,
        p: &Person,
        r: &mut Rng,
        convictions: &mut Sink,
        licences: &mut Sink,
    ) -> Result<(), DemoError> {
        let as_of = self.o.as_of;
        let region = self.all[p.county].code.clone();
        let convicted = i % 200 == 101;
        if !convicted && !r.chance(0.4) {
            return Ok(());
        }
        let issued = as_of - Duration::days(r.between(800, 9000));
        let licence = format!("{}{:08}", &region, i % 100_000_000);
        if !convicted {
            return licences.row([
                licence.as_str(),
                &p.id,
                "C1",
                "valid",
                &day(issued),
                &region,
            ]);
        }
        let drunk = r.chance(0.8);
        let date = as_of - Duration::days(r.between(60, 700));
        convictions.row([
            format!("({})浙{}刑初{}号", date.year(), &region[2..], i / 200).as_str(),
            &p.id,
            if drunk { "drunk" } else { "drink" },
            &day(date),
            &region,
        ])?;
        let planted = drunk && r.chance(0.3);
        if drunk && !planted {
            let revoked = date + Duration::days(r.between(1, 20));
            licences.row([
                licence.as_str(),
                &p.id,
                "C1",
                "revoked",
                &day(revoked),
                &region,
            ])
        } else {
            licences.row([
                licence.as_str(),
                &p.id,
                "C1",
                "valid",
                &day(issued),
                &region,
            ])?;
            if planted {
                self.plant("drunk-driving-licence", p.county, "person", &p.id, &p.id);
            }
            Ok(())
        }
    }

    /// One person in 1,000 is under community correction, with trips and approvals.
    fn correction(
        &mut self,
        i: u64,
        p: &Person,
        roster: &mut Sink,
        travel: &mut Sink,
        approvals: &mut Sink,
    ) -> Result<(), DemoError> {
        if i % 1000 != 503 {
            return Ok(());
        }
        let (seed, as_of, all) = (self.o.seed, self.o.as_of, self.all);
        let home = &all[p.county];
        let region = home.code.clone();
        let mut r = Rng::of(seed, "correction", i);
        let start = as_of - Duration::days(r.between(120, 500));
        let end = start + Duration::days(r.between(365, 900));
        roster.row([
            format!("J{region}{i:010}").as_str(),
            &p.id,
            &day(start),
            &day(end),
            &region,
        ])?;
        let same_city: Vec<&County> = all
            .iter()
            .filter(|c| c.city_prefix() == home.city_prefix())
            .collect();
        let elsewhere: Vec<&County> = all
            .iter()
            .filter(|c| c.city_prefix() != home.city_prefix())
            .collect();
        let trips = r.between(6, 12);
        let planted_trip = if r.chance(0.4) {
            r.between(0, trips - 1)
        } else {
            -1
        };
        for t in 0..trips {
            let record = format!("T{region}{i:010}{t:02}");
            let last = end.min(as_of);
            let mut date = start + Duration::days(r.between(0, (last - start).num_days()));
            let dest;
            if t == planted_trip {
                dest = *r.pick(&elsewhere);
                self.plant("correction-travel", p.county, "person", &p.id, &record);
            } else {
                match r.below(3) {
                    0 => {
                        dest = *r.pick(&elsewhere);
                        let (from, to) = (date - Duration::days(2), date + Duration::days(5));
                        approvals.row([
                            format!("A{region}{i:010}{t:02}").as_str(),
                            &p.id,
                            &day(from),
                            &day(to),
                            &dest.code,
                            &region,
                        ])?;
                    }
                    1 => {
                        // Before the correction began: free to travel.
                        dest = *r.pick(&elsewhere);
                        date = start - Duration::days(r.between(1, 30));
                    }
                    _ => dest = *r.pick(&same_city),
                }
            }
            travel.row([
                record.as_str(),
                &p.id,
                &day(date),
                &dest.code,
                *r.pick(&["rail", "coach", "air"]),
                &region,
            ])?;
        }
        Ok(())
    }

    /// Companies in blocks of 50 per county: busy ones, dormant ones on their own, dormant
    /// pairs at one address, busy ones sharing a building, and planted shell clusters.
    fn companies(&mut self) -> Result<(), DemoError> {
        let (seed, as_of, all, scale) = (self.o.seed, self.o.as_of, self.all, self.o.scale);
        let mut registry = self.sink(
            "company_registry",
            &[
                "credit_code",
                "name",
                "legal_rep_id",
                "address",
                "registered_date",
                "status",
                "region_code",
            ],
        )?;
        let mut tax = self.sink(
            "tax_filings",
            &[
                "filing_id",
                "credit_code",
                "period_start",
                "tax_amount",
                "region_code",
            ],
        )?;
        let mut insurance = self.sink(
            "social_insurance",
            &[
                "record_id",
                "credit_code",
                "month",
                "insured_count",
                "region_code",
            ],
        )?;
        let total = self.o.scale / 20;
        const BLOCK: u64 = 50;
        const WORDS: [&str; 12] = [
            "恒信", "鼎盛", "华茂", "瑞丰", "宏达", "金源", "中宇", "博远", "汇通", "佳禾", "新锐",
            "广润",
        ];
        for b in 0..total.div_ceil(BLOCK) {
            let mut plan = Rng::of(seed, "company-block", b);
            let county = plan.below(all.len() as u64) as usize;
            let region = all[county].code.clone();
            let cluster = if plan.chance(0.5) {
                plan.between(3, 6) as u64
            } else {
                0
            };
            let by_rep = plan.chance(0.5);
            let pair = if plan.chance(0.3) { 2 } else { 0 };
            let building = if plan.chance(0.3) { 5 } else { 0 };
            let first = b * BLOCK;
            let code_of = |k: u64| credit_code(&region, 10_000_000 + k);
            let address_of = |k: u64| {
                format!(
                    "{}{}{}路{}号",
                    all[county].name,
                    WORDS[(k % 12) as usize],
                    ["东", "西", "南", "北"][(k % 4) as usize],
                    k % 997 + 1
                ) + &format!("{}室", k)
            };
            let rep_of = |k: u64| person(seed, (k * 20 + 7) % scale, all).id;
            let mut members = Vec::new();
            for k in first..(first + BLOCK).min(total) {
                let o = k - first;
                let mut r = Rng::of(seed, "company", k);
                let in_cluster = o < cluster;
                let in_pair = o >= cluster && o < cluster + pair;
                let in_building = o >= cluster + pair && o < cluster + pair + building;
                let dormant = in_cluster || in_pair || (!in_building && r.chance(0.1));
                let address = if in_cluster && !by_rep {
                    address_of(first)
                } else if in_pair {
                    address_of(first + cluster)
                } else if in_building {
                    address_of(first + cluster + pair)
                } else {
                    address_of(k)
                };
                let rep = if in_cluster && by_rep {
                    rep_of(first)
                } else {
                    rep_of(k)
                };
                let code = code_of(k);
                let registered = as_of - Duration::days(r.between(400, 3000));
                registry.row([
                    code.as_str(),
                    &format!(
                        "{}{}{}有限公司",
                        all[county].name.trim_end_matches('区'),
                        WORDS[r.below(12) as usize],
                        ["贸易", "科技", "咨询", "实业", "商务"][r.below(5) as usize]
                    ),
                    &rep,
                    &address,
                    &day(registered),
                    "active",
                    &region,
                ])?;
                for q in 0..4 {
                    let period = month_start(as_of, 3 * q + 3);
                    let amount = if dormant {
                        0
                    } else {
                        r.between(yuan(2000), yuan(500000))
                    };
                    tax.row([
                        format!("S{k:09}{q}").as_str(),
                        &code,
                        &day(period),
                        &money(amount),
                        &region,
                    ])?;
                }
                if !dormant {
                    let staff = r.between(1, 200);
                    for m in 1..=12 {
                        insurance.row([
                            format!("I{k:09}{m:02}").as_str(),
                            &code,
                            &day(month_start(as_of, m)),
                            &staff.to_string(),
                            &region,
                        ])?;
                    }
                }
                if in_cluster {
                    members.push(code);
                }
            }
            // A cluster cut short by the last, partial block is not a cluster.
            if members.len() >= 3
                && let Some(min) = members.iter().min().cloned()
            {
                self.plant("shell-company", county, "company-cluster", &min, &min);
            }
        }
        registry.finish(&mut self.summary)?;
        tax.finish(&mut self.summary)?;
        insurance.finish(&mut self.summary)
    }

    /// Civil cases in blocks of 20 per county court: ordinary suits, planted professional
    /// lenders, and the look-alikes.
    fn judgments(&mut self) -> Result<(), DemoError> {
        let (seed, as_of, scale, all) = (self.o.seed, self.o.as_of, self.o.scale, self.all);
        let mut cases = self.sink(
            "civil_judgments",
            &["case_no", "cause", "filed_date", "amount", "region_code"],
        )?;
        let mut parties = self.sink(
            "judgment_parties",
            &["case_no", "party_id", "role", "region_code"],
        )?;
        let blocks = (scale / 400).max(1);
        for b in 0..blocks {
            let mut plan = Rng::of(seed, "case-block", b);
            let county = plan.below(all.len() as u64) as usize;
            let region = all[county].code.clone();
            let case_no =
                |n: u64, year: i32| format!("({year})浙{}民初{}号", &region[2..], b * 100 + n);
            // (plaintiff index, defendant index, cause, days before as-of)
            let mut suits: Vec<(u64, u64, &str, i64)> = Vec::new();
            let who = |k: u64| (k * 20 + 13) % scale;
            for n in 0..12 {
                let k = b * 20 + n;
                let cause = if plan.chance(0.6) {
                    "private_lending"
                } else {
                    "labour"
                };
                suits.push((who(k), (k * 20 + 17) % scale, cause, plan.between(1, 700)));
            }
            let lender = who(b * 20 + 12);
            let borrowers = |from: u64, n: u64| (0..n).map(move |d| (from * 20 + 1 + d) % scale);
            match plan.below(5) {
                0 | 1 => {
                    // Planted: 6 to 9 suits against as many borrowers within 300 days.
                    let n = plan.between(6, 9) as u64;
                    let last = plan.between(1, 300);
                    for d in borrowers(b * 20 + 12, n) {
                        suits.push((lender, d, "private_lending", last + plan.between(0, 300)));
                    }
                    let id = person(seed, lender, all).id;
                    self.plant("professional-lender", county, "person", &id, &id);
                }
                2 => {
                    // Four suits in a year: below the threshold.
                    for d in borrowers(b * 20 + 12, 4) {
                        suits.push((lender, d, "private_lending", plan.between(1, 365)));
                    }
                }
                3 => {
                    // Six suits, but 300 days apart: never five within a year.
                    for (x, d) in borrowers(b * 20 + 12, 6).enumerate() {
                        suits.push((lender, d, "private_lending", 10 + 300 * x as i64));
                    }
                }
                _ => {
                    // Many suits, of another cause (a landlord, say).
                    for d in borrowers(b * 20 + 12, 7) {
                        suits.push((lender, d, "lease_contract", plan.between(1, 300)));
                    }
                }
            }
            for (n, (plaintiff, defendant, cause, ago)) in suits.into_iter().enumerate() {
                let filed = as_of - Duration::days(ago);
                let no = case_no(n as u64, filed.year());
                cases.row([
                    no.as_str(),
                    cause,
                    &day(filed),
                    &money(plan.between(yuan(5000), yuan(800000))),
                    &region,
                ])?;
                for (who, role) in [(plaintiff, "plaintiff"), (defendant, "defendant")] {
                    parties.row([no.as_str(), &person(seed, who, all).id, role, &region])?;
                }
            }
        }
        cases.finish(&mut self.summary)?;
        parties.finish(&mut self.summary)
    }

    fn write_truth(&mut self) -> Result<(), DemoError> {
        let path = self.o.out.join("ground_truth.jsonl");
        let partial = self.o.out.join("ground_truth.jsonl.partial");
        let mut text = String::new();
        self.truth
            .sort_by(|a, b| (&a.model, &a.county, &a.key).cmp(&(&b.model, &b.county, &b.key)));
        for t in &self.truth {
            text.push_str(&serde_json::to_string(t).unwrap_or_default());
            text.push('\n');
        }
        std::fs::write(&partial, text).map_err(|source| io(&partial, source))?;
        std::fs::rename(&partial, &path).map_err(|source| io(&path, source))?;
        let manifest = serde_json::json!({
            "seed": self.o.seed,
            "scale": self.o.scale,
            "as_of": day(self.o.as_of),
            "rows": self.summary.rows,
            "planted": self.summary.planted,
        });
        let path = self.o.out.join("manifest.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&manifest).unwrap_or_default(),
        )
        .map_err(|source| io(&path, source))
    }
}
