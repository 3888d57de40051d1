//! Bindings generated from `wit/` by `wit-bindgen`. Model code should not need these: the
//! crate's typed wrappers cover them.

wit_bindgen::generate!({
    path: "../wit",
    world: "supervise:model/model@0.1.0",
    pub_export_macro: true,
    export_macro_name: "__export_model_world",
    default_bindings_module: "supervise_sdk::bindings",
    generate_all,
    additional_derives: [PartialEq],
});
