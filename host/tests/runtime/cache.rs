//! The compiled cache: a second load deserialises instead of compiling.

use supervise::runtime::CacheStatus;
use supervise_test_guests::PENSION_AFTER_DEATH;

use crate::support::*;

#[test]
fn second_load_comes_from_the_cache_even_in_a_new_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = load(&runtime(Some(dir.path())), PENSION_AFTER_DEATH);
    assert_eq!(first.cache, CacheStatus::Compiled);
    let entries = std::fs::read_dir(dir.path()).expect("cache dir").count();
    assert_eq!(entries, 1, "one compiled artifact stored");

    let rt = runtime(Some(dir.path()));
    let second = load(&rt, PENSION_AFTER_DEATH);
    assert_eq!(second.cache, CacheStatus::Cached);
    assert_eq!(second.sha256, first.sha256);
    assert!(
        second.load_time < first.load_time,
        "{:?} vs {:?}",
        second.load_time,
        first.load_time
    );
}

#[test]
fn a_corrupt_cache_entry_is_recompiled_not_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    load(&runtime(Some(dir.path())), PENSION_AFTER_DEATH);
    let entry = std::fs::read_dir(dir.path())
        .expect("dir")
        .next()
        .expect("entry")
        .expect("entry")
        .path();
    std::fs::write(&entry, b"not a compiled component").expect("corrupt");
    let again = load(&runtime(Some(dir.path())), PENSION_AFTER_DEATH);
    assert_eq!(again.cache, CacheStatus::Compiled);
    assert_eq!(again.manifest.id, "pension-after-death");
}
