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

/// Largest manifest file read, in bytes: far above a fleet's manifests (10,000 hosts with
/// their Secrets are under 10 MiB), far below what would exhaust the machine.
const MAX_INPUT: u64 = 256 << 20;

fn read_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_INPUT + 1)
            .read_to_string(&mut text)
            .context("cannot read standard input")?
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_INPUT + 1).read_to_string(&mut text))
            .with_context(|| format!("cannot read {}", path.display()))?
    };
    anyhow::ensure!(
        read as u64 <= MAX_INPUT,
        "{}: larger than {} MiB; split the manifests into several files",
        path.display(),
        MAX_INPUT >> 20
    );
    parse_documents(&text).map_err(|e| {
        if e.to_string().contains("budget breached") {
            anyhow::anyhow!(
                "{}: refused: the YAML expands past the reader's limits (aliases expanding \
                 too far, nesting deeper than 64 or more nodes than the text could hold): {e}",
                path.display()
            )
        } else {
            anyhow::anyhow!("{}: not valid YAML: {e}", path.display())
        }
    })
}

/// The documents of a multi-document YAML (or JSON) text, empty ones dropped. Alias
/// expansion ("billion laughs"), nesting depth and scalar sizes stay bounded by the parser's
/// budget; only the counts a fleet's manifests reach are lifted.
fn parse_documents(text: &str) -> Result<Vec<Value>, serde_saphyr::Error> {
    // Fleet manifests run to tens of thousands of documents: the counts grow with the text
    // (an event or a node takes at least a byte or two of YAML), so that only aliases could
    // go past them, and the alias and depth protections stay.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1_000_000,
            max_events: (2 * text.len()).max(1_000_000),
            max_nodes: text.len().max(250_000),
        },
    };
    let docs: Vec<Value> = serde_saphyr::from_str_multiple_with_options(text, options)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse_documents(&text).expect_err("10^10 nodes are refused");
        assert!(err.to_string().contains("budget breached"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowing_the_stack() {
        let text = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_documents(&text).is_err());
        let text = (0..10_000).fold(String::new(), |mut t, i| {
            t.push_str(&" ".repeat(i));
            t.push_str("k:\n");
            t
        });
        assert!(parse_documents(&text).is_err());
    }

    #[test]
    fn many_documents_and_ordinary_aliases_are_read() {
        let text = "a: &x {b: 1}\nc: *x\n---\n---\nkind: Secret\n---\n".repeat(5_000);
        let docs = parse_documents(&text).expect("a fleet's worth of documents");
        assert_eq!(docs.len(), 10_000);
        assert_eq!(docs[0]["c"]["b"], 1);
    }
}
