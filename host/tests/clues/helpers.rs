//! Reported clues for workflow tests, and the offices acting on them.

use supervise::clues::report::{self, Report};
use supervise::registry::Actor;

use crate::support::TestDb;

pub fn county() -> Actor {
    Actor {
        user: "reviewer@shangcheng".into(),
        office: "330102".into(),
    }
}

pub fn other() -> Actor {
    Actor {
        user: "reviewer@xiacheng".into(),
        office: "330103".into(),
    }
}

/// A clue reported by a grid member in `region`, with `score` and `reason`.
pub async fn reported(db: &TestDb, region: &str, score: f64, reason: &str) -> i64 {
    let r = Report {
        source: "grid_member".into(),
        reporter: "grid member Wang".into(),
        region: region.into(),
        kind: "tip".into(),
        subject_type: "person".into(),
        subject_id: "P-1".into(),
        subject_name: "Zhao".into(),
        reason: reason.into(),
        score,
    };
    report::report(&db.store, &crate::world::admin(), &r)
        .await
        .expect("report")
}
