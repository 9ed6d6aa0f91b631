//! Writes protocol v1's types for clients in other languages, from the Rust
//! types themselves: `docs/protocol/tickertape.ts` (TypeScript, ts-rs) and
//! one JSON Schema (2020-12) per message type in `docs/protocol/schema/`
//! (utoipa, the same schemas `/api/openapi.json` serves).
//!
//!     cargo run -p app --features typescript --example protocol-types [-- <dir>]
//!
//! `<dir>` (default `docs/protocol`) lets `make lint` write a fresh copy
//! elsewhere and compare it with the checked-in one.

use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use app::protocol::{Alert, Candle, Change, ClientMsg, Quote, ServerMsg};
use serde_json::{Value, json};
use ts_rs::{TS, TypeVisitor};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

const REGENERATE: &str = "cargo run -p app --features typescript --example protocol-types";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol"),
    };
    std::fs::create_dir_all(out.join("schema"))?;
    std::fs::write(out.join("tickertape.ts"), typescript())?;
    for (file, schema) in schemas() {
        let text = serde_json::to_string_pretty(&schema)? + "\n";
        std::fs::write(out.join("schema").join(file), text)?;
    }
    Ok(())
}

/// Every declaration the roots need, each once: the roots in their order,
/// then the rest by name. (Not in the order ts-rs visits them: its derive
/// lists a type's dependencies in an order that changes from build to
/// build, and `make lint` compares this file with the checked-in one.)
fn typescript() -> String {
    // JSON numbers are JavaScript numbers: integers stay below 2^53 here
    // (milliseconds, counts), so `number`, not `bigint`.
    let config = ts_rs::Config::new().with_large_int("number");
    let mut decls = Declarations {
        config,
        seen: HashSet::new(),
        found: Vec::new(),
    };
    decls.visit::<ServerMsg>();
    decls.visit::<ClientMsg>();
    decls.visit::<Quote>();
    decls.visit::<Change>();
    decls.visit::<Candle>();
    decls.visit::<Alert>();
    let roots = [
        "ServerMsg",
        "ClientMsg",
        "Quote",
        "Change",
        "Candle",
        "Alert",
    ];
    let rank = |name: &str| roots.iter().position(|r| *r == name).unwrap_or(roots.len());
    decls
        .found
        .sort_by(|(a, _), (b, _)| (rank(a), a).cmp(&(rank(b), b)));
    let text: String = decls.found.into_iter().map(|(_, text)| text).collect();
    format!(
        "// tickertape WebSocket protocol v1 (docs/DESIGN.md), generated from\n\
         // app/src/protocol.rs. Do not edit: run `{REGENERATE}`.\n\n{text}"
    )
}

/// Collects `export type` declarations: (name, text).
struct Declarations {
    config: ts_rs::Config,
    seen: HashSet<TypeId>,
    found: Vec<(String, String)>,
}

impl TypeVisitor for Declarations {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        // Only named types are declared (not `Vec`, `Option` or tuples).
        if T::output_path().is_none() || !self.seen.insert(TypeId::of::<T>()) {
            T::visit_dependencies(self);
            return;
        }
        let docs = T::docs().unwrap_or_default();
        let text = format!("{docs}export {}\n\n", T::decl(&self.config));
        self.found.push((T::ident(&self.config), text));
        T::visit_dependencies(self);
    }
}

/// One standalone JSON Schema per message type, by file name.
fn schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("server-msg.json", standalone::<ServerMsg>()),
        ("client-msg.json", standalone::<ClientMsg>()),
        ("quote.json", standalone::<Quote>()),
        ("change.json", standalone::<Change>()),
        ("candle.json", standalone::<Candle>()),
        ("alert.json", standalone::<Alert>()),
    ]
}

/// `T`'s schema with every schema it refers to under `$defs`.
fn standalone<T: ToSchema>() -> Value {
    let mut referred: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut referred);
    let defs: BTreeMap<String, Value> = referred
        .into_iter()
        .map(|(name, schema)| (name, to_json(&schema)))
        .collect();
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": T::name(),
    });
    if let (Value::Object(head), Value::Object(body)) = (&mut schema, to_json(&T::schema())) {
        head.extend(body);
        if !defs.is_empty() {
            head.insert("$defs".into(), json!(defs));
        }
    }
    schema
}

/// A utoipa schema as JSON, its references pointing into `$defs`.
fn to_json(schema: &RefOr<Schema>) -> Value {
    let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
    point_refs_at_defs(&mut value);
    value
}

fn point_refs_at_defs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(target) if key == "$ref" => {
                        *target = target.replace("#/components/schemas/", "#/$defs/");
                    }
                    _ => point_refs_at_defs(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(point_refs_at_defs),
        _ => {}
    }
}
