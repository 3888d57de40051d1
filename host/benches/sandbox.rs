//! Sandbox versus native: pension-after-death over the same in-memory source (the host's
//! `MemorySource`: the same batches and the same key index), run through the wasmtime sandbox
//! (fuel and epoch deadline on, as in production) and compiled natively into this binary
//! (same code, same hasher), the two taking turns, the ratio the median of each turn's own.
//! Also instantiation time with `InstancePre` and the pooling allocator, and cold compile
//! versus cached load.
//!
//! `cargo bench -p supervise --bench sandbox [-- --payments N --deaths N --runs N]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use pension_after_death::{DEATHS, PAYMENTS, PensionAfterDeath};
use supervise::datasets::columns::StoredColumn;
use supervise::datasets::memory::{MemorySource, MemoryTable};
use supervise::runtime::bindings as host;
use supervise::runtime::{Outcome, RunInfo, RunLimits, RunRequest, Runtime, RuntimeConfig};

mod common;
use common::arg;
use common::native::run_model;

/// Raw columns, generated once and handed to both systems.
struct Data {
    death_ids: (Vec<u8>, Vec<u32>),
    death_people: Vec<u64>,
    death_dates: Vec<i32>,
    pay_ids: (Vec<u8>, Vec<u32>),
    pay_people: Vec<u64>,
    pay_dates: Vec<i32>,
    amounts: Vec<i64>,
}

/// splitmix64: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn text(values: impl Iterator<Item = String>) -> (Vec<u8>, Vec<u32>) {
    let mut data = Vec::new();
    let mut offsets = vec![0u32];
    for v in values {
        data.extend_from_slice(v.as_bytes());
        offsets.push(data.len() as u32);
    }
    (data, offsets)
}

/// `payments` monthly payments to `payments / 10` pensioners; `deaths` deaths, 60% of them
/// pensioners who die during the ten months.
fn generate(payments: usize, deaths: usize) -> Data {
    let mut rng = Rng(42);
    let pensioners = (payments / 10).max(1);
    let people: Vec<[u64; 2]> = (0..pensioners + deaths)
        .map(|_| [rng.next(), rng.next()])
        .collect();
    let start = 19_723; // 2024-01-01
    let mut death_people = Vec::with_capacity(deaths * 2);
    let mut death_dates = Vec::with_capacity(deaths);
    for i in 0..deaths {
        let who = if i % 10 < 6 {
            people[i % pensioners]
        } else {
            people[pensioners + i]
        };
        death_people.extend(who);
        death_dates.push(start + (rng.next() % 300) as i32);
    }
    let mut pay_people = Vec::with_capacity(payments * 2);
    let mut pay_dates = Vec::with_capacity(payments);
    let mut amounts = Vec::with_capacity(payments);
    for i in 0..payments {
        let month = (i / pensioners) as i32;
        pay_people.extend(people[i % pensioners]);
        pay_dates.push(start + 14 + month * 30);
        amounts.push(20_000_000 + (rng.next() % 30_000) as i64 * 100);
    }
    Data {
        death_ids: text((0..deaths).map(|i| format!("D{i:08}"))),
        death_people,
        death_dates,
        pay_ids: text((0..payments).map(|i| format!("P{i:09}"))),
        pay_people,
        pay_dates,
        amounts,
    }
}

fn host_source(d: &Data) -> MemorySource {
    let col = |ty, v| StoredColumn::from_values(ty, v, None).expect("column");
    let txt = |t: &(Vec<u8>, Vec<u32>)| {
        host::ColumnValues::Text(host::TextColumn {
            data: t.0.clone(),
            offsets: t.1.clone(),
        })
    };
    let mut source = MemorySource::default();
    let mut deaths = MemoryTable::default();
    deaths
        .add("record_id", col(host::ColumnType::Text, txt(&d.death_ids)))
        .expect("add");
    deaths
        .add(
            "id_number",
            col(
                host::ColumnType::Pseudonym,
                host::ColumnValues::Pseudonym(d.death_people.clone()),
            ),
        )
        .expect("add");
    deaths
        .add(
            "death_date",
            col(
                host::ColumnType::Date,
                host::ColumnValues::Date(d.death_dates.clone()),
            ),
        )
        .expect("add");
    source.insert(DEATHS, deaths);
    let mut pays = MemoryTable::default();
    pays.add("payment_id", col(host::ColumnType::Text, txt(&d.pay_ids)))
        .expect("add");
    pays.add(
        "id_number",
        col(
            host::ColumnType::Pseudonym,
            host::ColumnValues::Pseudonym(d.pay_people.clone()),
        ),
    )
    .expect("add");
    pays.add(
        "pay_date",
        col(
            host::ColumnType::Date,
            host::ColumnValues::Date(d.pay_dates.clone()),
        ),
    )
    .expect("add");
    pays.add(
        "amount",
        col(
            host::ColumnType::Decimal,
            host::ColumnValues::Decimal(d.amounts.clone()),
        ),
    )
    .expect("add");
    source.insert(PAYMENTS, pays);
    source
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let payments = arg("--payments", 2_000_000);
    let deaths = arg("--deaths", 100_000);
    let runs = arg("--runs", 5).max(1);
    let rows = (payments + deaths) as f64;
    eprintln!("generating {payments} payments and {deaths} deaths…");
    let data = generate(payments, deaths);
    let source: Arc<MemorySource> = Arc::new(host_source(&data));
    drop(data);

    let cache = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let bytes = supervise_test_guests::bytes(supervise_test_guests::PENSION_AFTER_DEATH);
    let rt = Runtime::new(config.clone()).expect("runtime");
    let model = rt.load(&bytes).expect("load");
    let cold = model.load_time;
    let warm = Runtime::new(config)
        .expect("runtime")
        .load(&bytes)
        .expect("load")
        .load_time;

    // Native (the model's own code through the SDK harness) and sandbox (the component in
    // wasmtime with fuel, epoch deadline and memory cap) take turns, so that a change in the
    // machine's load during the measurement weighs on both alike.
    let mut native_times = Vec::new();
    let mut native_clues = Vec::new();
    let mut sandbox_times = Vec::new();
    let mut sandbox_clues = Vec::new();
    let mut fuel = 0;
    let mut peak = 0;
    // The first look-up builds the payments' key rows, which the source keeps: done before
    // the turns, so that neither side's first turn pays for it.
    run_model::<PensionAfterDeath>(source.clone(), "330000", 20_088, &Default::default());
    for i in 0..runs {
        let t = Instant::now();
        let rows = Default::default();
        let clues = run_model::<PensionAfterDeath>(source.clone(), "330000", 20_088, &rows);
        native_times.push(t.elapsed());
        native_clues = clues
            .iter()
            .map(|c| (c.dedup_key.clone(), c.reason.clone()))
            .collect();
        let request = RunRequest {
            info: RunInfo {
                region: "330000".into(),
                as_of: 20_088,
                run_id: format!("bench-{i}"),
            },
            params: vec![],
            scope: None,
            limits: RunLimits {
                memory_bytes: 2 << 30,
                ..RunLimits::default()
            },
            source: source.clone(),
            cancel: Default::default(),
        };
        let t = Instant::now();
        let out = rt.run(&model, request).expect("sandbox run");
        sandbox_times.push(t.elapsed());
        assert_eq!(out.outcome, Outcome::Succeeded, "{:?}", out.outcome);
        fuel = out.stats.fuel_used;
        peak = out.stats.peak_memory_bytes;
        sandbox_clues = out
            .clues
            .iter()
            .map(|c| (c.dedup_key.clone(), c.reason.clone()))
            .collect();
    }
    native_clues.sort();
    sandbox_clues.sort();
    assert_eq!(
        native_clues, sandbox_clues,
        "sandbox and native clues differ"
    );

    // Instantiation with InstancePre and the pooling allocator.
    for _ in 0..100 {
        rt.instantiate(&model).expect("instantiate");
    }
    let mut inst = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        for _ in 0..500 {
            rt.instantiate(&model).expect("instantiate");
        }
        inst.push(t.elapsed() / 500);
    }

    // Ten distinct models made ready (compile or cached load, link, describe): a cold cache
    // versus a restarted host with a warm one.
    let ten: Vec<Vec<u8>> = (0..10)
        .map(|i| supervise_test_guests::variant(&bytes, &format!("model-{i}")))
        .collect();
    let ten_dir = tempfile::tempdir().expect("tempdir");
    let ten_config = RuntimeConfig {
        cache_dir: Some(ten_dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let ready = |config: &RuntimeConfig| {
        let rt = Runtime::new(config.clone()).expect("runtime");
        let t = Instant::now();
        for b in &ten {
            rt.load(b).expect("load");
        }
        t.elapsed()
    };
    let ten_cold = ready(&ten_config);
    let ten_warm = ready(&ten_config);

    // The ratio is the median of each turn's own ratio.
    let mut ratios: Vec<f64> = native_times
        .iter()
        .zip(&sandbox_times)
        .map(|(n, s)| n.as_secs_f64() / s.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    let (n, s) = (median(native_times), median(sandbox_times));
    println!(
        "pension-after-death: {payments} payments x {deaths} deaths, {} clues, median of {runs} runs taken in turns",
        sandbox_clues.len()
    );
    println!();
    println!("| system  | seconds | rows/s      | vs native |");
    println!("|---------|---------|-------------|-----------|");
    for (name, t) in [("native", n), ("sandbox", s)] {
        println!(
            "| {name:<7} | {:>7.3} | {:>11.0} | {:>8.2}x |",
            t.as_secs_f64(),
            rows / t.as_secs_f64(),
            n.as_secs_f64() / t.as_secs_f64()
        );
    }
    println!();
    println!("| measure                               | value        |");
    println!("|---------------------------------------|--------------|");
    println!("| sandbox throughput / native (target >= 0.8) | {ratio:>12.2} |");
    println!(
        "| instantiation, InstancePre + pooling (target <= 50 us) | {:>9.1} us |",
        median(inst).as_secs_f64() * 1e6
    );
    println!(
        "| compile, cold                         | {:>9.1} ms |",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "| load from compiled cache              | {:>9.2} ms |",
        warm.as_secs_f64() * 1e3
    );
    println!(
        "| 10 models ready, cold cache           | {:>9.1} ms |",
        ten_cold.as_secs_f64() * 1e3
    );
    println!(
        "| 10 models ready, warm cache (restart) | {:>9.1} ms |",
        ten_warm.as_secs_f64() * 1e3
    );
    println!("| fuel per run                          | {fuel:>12} |");
    println!(
        "| guest peak memory                     | {:>8.1} MiB |",
        peak as f64 / (1 << 20) as f64
    );
}
