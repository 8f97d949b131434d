//! Schema markers kube-derive and schemars cannot express as attributes, and the address
//! patterns upstream's CRDs carry.

/// An IPv4 address in dotted decimal, or an IPv6 address in hexadecimal groups (no embedded
/// IPv4 form), as upstream's CRDs constrain every address field.
pub(crate) const IP_PATTERN: &str = concat!(
    r"((^((([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}",
    r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))$)|",
    r"(^(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|",
    r"([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|",
    r"([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|",
    r"([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|",
    r":((:[0-9a-fA-F]{1,4}){1,7}|:))$))"
);

/// A subnet in CIDR notation: an address as in [`IP_PATTERN`], `/` and a prefix length (up to
/// 32 for IPv4, 128 for IPv6).
pub(crate) const SUBNET_PATTERN: &str = concat!(
    r"((^((([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}",
    r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))/([0-9]|[1-2][0-9]|3[0-2])$)|",
    r"(^(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|",
    r"([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|",
    r"([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|",
    r"([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|",
    r":((:[0-9a-fA-F]{1,4}){1,7}|:))/([0-9]|[0-9][0-9]|1[0-1][0-9]|12[0-8])$))"
);

/// A string matching [`IP_PATTERN`].
pub(crate) fn ip_pattern(schema: &mut schemars::Schema) {
    schema.insert("pattern".into(), IP_PATTERN.into());
}

/// A string matching [`SUBNET_PATTERN`].
pub(crate) fn subnet_pattern(schema: &mut schemars::Schema) {
    schema.insert("pattern".into(), SUBNET_PATTERN.into());
}

/// An integer without `format` (upstream's Go `int` fields carry none).
pub(crate) fn plain_integer(schema: &mut schemars::Schema) {
    schema.remove("format");
}

/// An object replaced as a whole by server-side apply (`x-kubernetes-map-type: atomic`).
pub(crate) fn atomic(schema: &mut schemars::Schema) {
    schema.insert("x-kubernetes-map-type".into(), "atomic".into());
}

/// Serde helper: skip values equal to their type's default (Go's `omitempty` on numbers).
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
