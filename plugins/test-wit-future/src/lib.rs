//! Test-only guest: built against `supervise:model@0.2.0`, a contract version the host does
//! not bind, to prove such a component is rejected at load with the version named.

supervise_sdk::wit_bindgen::generate!({
    inline: "
        package supervise:model@0.2.0;

        interface log {
            log: func(message: string);
        }

        world model {
            import log;
            export describe: func() -> string;
            export run: func() -> result;
        }
    ",
    runtime_path: "supervise_sdk::wit_bindgen::rt",
});

struct Future;

impl Guest for Future {
    fn describe() -> String {
        supervise::model::log::log("describe");
        "future".into()
    }

    fn run() -> Result<(), ()> {
        Ok(())
    }
}

export!(Future);
