//! Hostile input for property tests of every parser that reads outside input (BMCs' Redfish,
//! Ironic's answers, the agent's inventory, manifests, admission and conversion reviews): JSON
//! values of any shape whose objects are mostly keyed by the members the parser reads, so that
//! each member turns up missing, null, of the wrong type or nested in the wrong place; numbers
//! at the edges; and nesting deeper than any decoder should follow.

use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

/// Numbers at the edges: any i64, u64 and finite f64, negative zero, the largest double.
pub fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(-0.0)),
        Just(json!(1e308)),
    ]
    .boxed()
}

/// Strings a parser is likely to look at: the `members` themselves, or anything short.
pub fn strings(members: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        proptest::sample::select(members).prop_map(str::to_string),
        ".{0,16}",
    ]
    .boxed()
}

/// Any JSON value (up to 6 levels, ~128 nodes), objects keyed mostly by `members`, strings
/// drawn from `strings`.
pub fn json_with(
    members: &'static [&'static str],
    strings: BoxedStrategy<String>,
) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        strings.prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 128, 8, move |inner| {
        let key = prop_oneof![
            4 => proptest::sample::select(members).prop_map(str::to_string),
            1 => ".{0,12}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..10)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// [`json_with`] with [`strings`] of the same `members`.
pub fn json(members: &'static [&'static str]) -> BoxedStrategy<Value> {
    json_with(members, strings(members))
}

/// JSON text of `depth` arrays (or objects keyed `member`) nested in one another: no decoder
/// may follow it down the stack.
pub fn nested_text(depth: usize, member: Option<&str>) -> String {
    match member {
        None => format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
        Some(m) => format!(
            "{}1{}",
            format!("{{\"{m}\":").repeat(depth),
            "}".repeat(depth)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn objects_are_keyed_by_the_members_given() {
        let mut runner = TestRunner::deterministic();
        let strategy = json(&["Alpha", "Beta"]);
        let mut keyed = 0;
        for _ in 0..200 {
            let value = strategy.new_tree(&mut runner).expect("a value").current();
            if let Value::Object(m) = &value {
                keyed += m.keys().filter(|k| *k == "Alpha" || *k == "Beta").count();
            }
        }
        assert!(keyed > 0);
    }

    #[test]
    fn nested_text_is_that_deep() {
        let text = nested_text(3, None);
        assert_eq!(text, "[[[1]]]");
        assert_eq!(nested_text(2, Some("a")), r#"{"a":{"a":1}}"#);
        let err = serde_json::from_str::<Value>(&nested_text(200_000, Some("x")))
            .expect_err("past serde_json's recursion limit");
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
