//! A province with offices and keys, ready to publish.

use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use supervise::registry::publish::{self, Published, Submission};
use supervise::registry::{Actor, Office, RegistryError, keys};
use supervise::runtime::{Runtime, RuntimeConfig};

use crate::support::*;

pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

pub fn admin() -> Actor {
    Actor {
        user: "admin@province".into(),
        office: "330000".into(),
    }
}

pub fn author() -> Actor {
    Actor {
        user: "author@shangcheng".into(),
        office: "330102".into(),
    }
}

pub fn other_county() -> Actor {
    Actor {
        user: "author@xiacheng".into(),
        office: "330103".into(),
    }
}

/// Offices for the province and two counties, each with a registered key.
pub struct World {
    pub province_key: SigningKey,
    pub author_key: SigningKey,
    pub other_key: SigningKey,
}

pub async fn world(db: &TestDb) -> World {
    load_regions(db).await;
    for (id, name) in [
        ("330000", "Provincial procuratorate"),
        ("330102", "Shangcheng procuratorate"),
        ("330103", "Xiacheng procuratorate"),
    ] {
        let office = Office {
            id: id.into(),
            name: name.into(),
            region: id.into(),
        };
        keys::add_office(&db.store, &admin(), &office)
            .await
            .expect("office");
    }
    let key_dir = db.dir.path().join("keys");
    std::fs::create_dir_all(&key_dir).expect("key dir");
    let mut made = Vec::new();
    for office in ["330000", "330102", "330103"] {
        let path = key_dir.join(format!("{office}.key"));
        let public = keys::generate(&path).expect("generate");
        keys::register(&db.store, &admin(), office, &public)
            .await
            .expect("register");
        made.push(keys::read_signing_key(&path).expect("read key"));
    }
    let mut it = made.into_iter();
    let (province_key, author_key, other_key) = (
        it.next().expect("k"),
        it.next().expect("k"),
        it.next().expect("k"),
    );
    World {
        province_key,
        author_key,
        other_key,
    }
}

/// Signs and publishes `bytes` with `key`.
pub async fn publish_with(
    db: &TestDb,
    key: &SigningKey,
    actor: &Actor,
    bytes: &[u8],
) -> Result<Published, RegistryError> {
    let sub = Submission {
        bytes,
        signature: keys::sign(key, bytes),
        public_key: key.verifying_key(),
    };
    publish::publish(&db.store, runtime(), actor, &sub).await
}
