//! Regions: loaded from CSV, malformed or orphaned codes rejected with nothing written.

use supervise::datasets::region::Level;
use supervise::datasets::regions::{self, RegionError};

use crate::support::*;

async fn loads_nests_and_rejects(db: &TestDb) {
    load_regions(db).await;
    let list = regions::list(&db.store).await.expect("list");
    assert_eq!(list.len(), 6);
    let shangcheng = list.iter().find(|r| r.code == "330102").expect("county");
    assert_eq!(shangcheng.level, Level::County);
    assert_eq!(shangcheng.parent.as_deref(), Some("330100"));

    let bad = "code,name,level\n33010,Short,county\n330300,Wenzhou,county\n330301,Orphan,\n33a102,Letters,\n";
    let err = regions::load_csv(&db.store, &file(db, "bad.csv", bad), "test")
        .await
        .expect_err("rejected");
    let RegionError::Invalid { problems, .. } = &err else {
        panic!("{err}")
    };
    let text = problems.join("\n");
    assert!(
        text.contains("line 2: region code `33010` must be 6 digits"),
        "{text}"
    );
    assert!(
        text.contains("line 3: 330300 is a city code, not a county"),
        "{text}"
    );
    assert!(
        text.contains("line 5: region code `33a102` must be 6 digits"),
        "{text}"
    );
    assert_eq!(
        regions::list(&db.store).await.expect("list").len(),
        6,
        "nothing written"
    );

    let orphan = "code,name\n330401,Orphan\n";
    let err = regions::load_csv(&db.store, &file(db, "orphan.csv", orphan), "test")
        .await
        .expect_err("rejected");
    assert!(
        err.to_string()
            .contains("parent 330400 of 330401 is neither in the file nor loaded"),
        "{err}"
    );
}
both!(loads_nests_and_rejects);
