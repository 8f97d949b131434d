//! Schema transforms for markers kube-derive and schemars cannot express as attributes.

/// An integer without `format` (upstream's Go `int` fields carry none).
pub(crate) fn plain_integer(schema: &mut schemars::Schema) {
    schema.remove("format");
}

/// A field whose Rust default exists only so that partial documents decode: no `default`.
pub(crate) fn no_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// A list of conditions merged by `type` (server-side apply), at most 32 of them, as CAPI's
/// v1beta2 condition lists are.
pub(crate) fn conditions(schema: &mut schemars::Schema) {
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema.insert("maxItems".into(), 32.into());
}

/// Any JSON value, kept as is by the API server (`apiextensionsv1.JSON` maps).
pub(crate) fn any_json(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// A JSON object kept as is by the API server.
pub(crate) fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// Serde helper: skip `false` booleans.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// Serde helper: skip values equal to their type's default (Go's `omitzero`).
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn describe_items(schema: &mut schemars::Schema, text: &str) {
    if let Some(items) = schema
        .get_mut("items")
        .and_then(serde_json::Value::as_object_mut)
    {
        items.insert("description".into(), text.into());
    }
}

/// Items of a list of IPv4 addresses.
pub(crate) fn ipv4_items(schema: &mut schemars::Schema) {
    describe_items(schema, "An IPv4 address.");
}

/// Items of a list of IPv6 addresses.
pub(crate) fn ipv6_items(schema: &mut schemars::Schema) {
    describe_items(schema, "An IPv6 address.");
}

/// Items of a list of IPv4 or IPv6 addresses.
pub(crate) fn ip_items(schema: &mut schemars::Schema) {
    describe_items(schema, "An IPv4 or IPv6 address.");
}
