//! `metal3 validate`: lint manifests as `kubectl apply` would have them judged — first as the
//! API server decodes them (required fields, types, enum values, and fields the schema does
//! not know, which `kubectl apply`'s strict field validation refuses), then, if the API server
//! would have let them through, by the admission webhook's rules. An object without a
//! namespace is judged in namespace `default`, where `kubectl apply` puts it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use metal3_admission::{Findings, Verdict, validate_value};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The objects as they were before (multi-document YAML): objects of the same kind,
    /// namespace and name are checked with the update rules, their `status` included.
    #[arg(long, value_name = "OLD.yaml")]
    old: Option<PathBuf>,
    /// Report fields the schema does not know as warnings, as an API server that prunes them
    /// (`kubectl apply --validate=false`, or a client without strict field validation) would
    /// accept them; by default they are errors, as `kubectl apply` refuses them.
    #[arg(long)]
    lenient: bool,
    /// Manifests to check (multi-document YAML or JSON); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Identity of an object in the messages and for matching `--old`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ObjectKey {
    kind: String,
    namespace: String,
    name: String,
}

impl ObjectKey {
    fn of(object: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        let metadata = &object["metadata"];
        let namespace = metadata["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = match metadata["name"].as_str() {
            Some(name) => name.to_string(),
            None => format!("{}*", text(&metadata["generateName"])),
        };
        Self {
            kind: text(&object["kind"]),
            namespace,
            name,
        }
    }
}

/// `object` with `metadata.namespace` set to `default` when it has none, as `kubectl apply`
/// without `-n` creates it there.
fn in_default_namespace(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
        && metadata
            .get("namespace")
            .is_none_or(|n| n.is_null() || n == "")
    {
        metadata.insert("namespace".into(), Value::from("default"));
    }
    object
}

/// What `metal3 validate` says about one object: errors (it would be refused) and warnings.
fn judge(findings: Findings, lenient: bool) -> (Vec<String>, Vec<String>) {
    let unknown = findings.unknown_fields.iter().map(ToString::to_string);
    let (mut errors, mut warnings): (Vec<String>, Vec<String>) = match lenient {
        true => (Vec::new(), unknown.collect()),
        false => (unknown.collect(), Vec::new()),
    };
    errors.extend(findings.schema_errors.iter().map(ToString::to_string));
    // The API server refused it before any webhook was asked.
    if errors.is_empty() {
        errors.extend(findings.errors.iter().map(ToString::to_string));
        warnings.extend(findings.warnings);
    }
    (errors, warnings)
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

fn read_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    // Fleet manifests run to tens of thousands of documents: lift the size limits (the alias
    // and depth protections stay).
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1_000_000,
            max_events: 100_000_000,
            max_nodes: 50_000_000,
        },
    };
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(&text, options)
        .with_context(|| format!("{}: not valid YAML", path.display()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let old: HashMap<ObjectKey, Value> = match &args.old {
        Some(path) => read_documents(path)?
            .into_iter()
            .map(in_default_namespace)
            .map(|o| (ObjectKey::of(&o), o))
            .collect(),
        None => HashMap::new(),
    };
    let mut invalid = false;
    for path in &args.files {
        for object in read_documents(path)?.into_iter().map(in_default_namespace) {
            let key = ObjectKey::of(&object);
            if let Verdict::Checked(findings) = validate_value(&object, old.get(&key)) {
                let (errors, warnings) = judge(findings, args.lenient);
                for warning in &warnings {
                    println!("{key}: warning: {warning}");
                }
                for error in &errors {
                    println!("{key}: {error}");
                }
                invalid |= !errors.is_empty();
            }
        }
    }
    Ok(if invalid {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
