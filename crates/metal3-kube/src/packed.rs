//! Objects held packed in a watch cache: the metadata as it is (the store's key, owner
//! references, the change predicates read it), everything else as compact JSON compressed
//! with LZ4 (a simulated host's spec and status are 3.0 KB of JSON, well under half that
//! compressed, against 7.4 KiB typed).
//!
//! A typed object in memory is two to three times its JSON: every optional field takes its
//! room inline whether set or not (a `BareMetalHost` is 2.5 KiB before any string), and every
//! string is a heap block of its own. An operator caches every host and each host's
//! companions, so at fleet size this is most of its memory. A reader gets a fresh typed copy
//! ([`Packed::unpack`]); one copy per pass costs far less than holding them all.
//!
//! Packing is checked: the bytes must read back to an object equal to the one packed. One
//! that does not (a type whose serialisation drops something its reader would need) is held
//! whole, so a cache never answers with anything but the object it was given.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// What a kind must offer to be packed.
pub trait Packable:
    Resource<DynamicType = ()> + Serialize + DeserializeOwned + PartialEq + Clone
{
}

impl<K> Packable for K where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + PartialEq + Clone
{
}

/// An object of kind `K` held packed; a [`Resource`] of the same kind, so watches, stores
/// and controllers take it where they take `K`.
pub struct Packed<K> {
    metadata: ObjectMeta,
    body: Body<K>,
}

enum Body<K> {
    /// `K` without its metadata, as compact JSON compressed with LZ4 (size prepended).
    Json(Arc<[u8]>),
    /// An object whose JSON does not read back to it, held as it is.
    Whole(Arc<K>),
}

impl<K> Clone for Body<K> {
    fn clone(&self) -> Self {
        match self {
            Self::Json(j) => Self::Json(j.clone()),
            Self::Whole(k) => Self::Whole(k.clone()),
        }
    }
}

impl<K> Clone for Packed<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            body: self.body.clone(),
        }
    }
}

impl<K: Packable> Packed<K> {
    /// Packs `object`.
    pub fn pack(mut object: K) -> Self {
        let metadata = std::mem::take(object.meta_mut());
        let packed = serde_json::to_vec(&object).map(|j| lz4_flex::compress_prepend_size(&j));
        let body = match packed {
            Ok(bytes) if Self::reads_back(&bytes, &object) => Body::Json(bytes.into()),
            _ => {
                tracing::warn!(
                    kind = %K::kind(&()),
                    "an object does not read back from its JSON; it is cached unpacked"
                );
                Body::Whole(Arc::new(object))
            }
        };
        Self { metadata, body }
    }

    fn read(bytes: &[u8]) -> Result<K, String> {
        let json = lz4_flex::decompress_size_prepended(bytes).map_err(|e| e.to_string())?;
        serde_json::from_slice::<K>(&json).map_err(|e| e.to_string())
    }

    fn reads_back(bytes: &[u8], object: &K) -> bool {
        Self::read(bytes).is_ok_and(|read| read == *object)
    }

    /// The object, typed: a copy of its own.
    pub fn unpack(&self) -> K {
        let mut object = match &self.body {
            Body::Whole(object) => K::clone(object),
            // Checked when packed: the same bytes read back the same way.
            Body::Json(bytes) => match Self::read(bytes) {
                Ok(object) => object,
                Err(e) => unreachable!("packed bytes read back once and fail now: {e}"),
            },
        };
        *object.meta_mut() = self.metadata.clone();
        object
    }

    /// Bytes held besides the metadata (0 for an object held whole).
    pub fn packed_len(&self) -> usize {
        match &self.body {
            Body::Json(bytes) => bytes.len(),
            Body::Whole(_) => 0,
        }
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Packed<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn api_version(dt: &()) -> Cow<'_, str> {
        K::api_version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Reads a `K` and packs it, so a watch of `Packed<K>` never holds more than one object
/// typed at a time.
impl<'de, K: Packable> Deserialize<'de> for Packed<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        K::deserialize(d).map(Self::pack)
    }
}

impl<K: Resource<DynamicType = ()>> fmt::Debug for Packed<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packed")
            .field("kind", &K::kind(&()))
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .field("resourceVersion", &self.metadata.resource_version)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn secret() -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some("bmc".into());
        s.metadata.namespace = Some("ns".into());
        s.metadata.resource_version = Some("7".into());
        s.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "metal3.io/v1alpha1".into(),
            kind: "BareMetalHost".into(),
            name: "h".into(),
            uid: "u".into(),
            ..Default::default()
        }]);
        s.data = Some(
            [
                ("username".to_string(), ByteString(b"admin".to_vec())),
                ("password".to_string(), ByteString(b"s3cret".to_vec())),
            ]
            .into(),
        );
        s.type_ = Some("Opaque".into());
        s
    }

    #[test]
    fn unpacks_to_the_object_packed() {
        let packed = Packed::pack(secret());
        assert_eq!(packed.unpack(), secret());
        assert!(packed.packed_len() > 0, "held as JSON");
        assert_eq!(packed.meta().name.as_deref(), Some("bmc"));
        assert_eq!(Packed::<Secret>::kind(&()), "Secret");
        assert_eq!(Packed::<Secret>::plural(&()), "secrets");
    }

    #[test]
    fn the_metadata_is_not_held_twice() {
        let packed = Packed::pack(secret());
        let json = match &packed.body {
            Body::Json(bytes) => {
                let json = lz4_flex::decompress_size_prepended(bytes).expect("lz4");
                String::from_utf8(json).expect("utf-8")
            }
            Body::Whole(_) => panic!("held whole"),
        };
        assert!(!json.contains("ownerReferences"), "{json}");
        assert!(!json.contains("resourceVersion"), "{json}");
    }

    #[test]
    fn what_repeats_is_held_smaller_than_its_json() {
        let mut map = ConfigMap::default();
        map.data = Some(
            (0..50)
                .map(|i| (format!("attribute{i}"), "Enabled".to_string()))
                .collect(),
        );
        let json = serde_json::to_vec(&map).expect("json").len();
        let packed = Packed::pack(map.clone());
        assert!(
            packed.packed_len() * 2 < json,
            "{} of {json}",
            packed.packed_len()
        );
        assert_eq!(packed.unpack(), map);
    }

    #[test]
    fn reads_from_json_straight_into_the_packed_form() {
        let json = serde_json::to_string(&secret()).expect("json");
        let packed: Packed<Secret> = serde_json::from_str(&json).expect("packed");
        assert_eq!(packed.unpack(), secret());
    }

    #[test]
    fn debug_output_holds_no_data() {
        let shown = format!("{:?}", Packed::pack(secret()));
        assert!(shown.contains("bmc"), "{shown}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("czNjcmV0"),
            "{shown}"
        );
    }

    /// A kind whose JSON loses something: `ConfigMap`'s `data: Some({})` reads back the same,
    /// so this one is made to differ: a reader that needs a field its writer skips.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Lossy {
        metadata: ObjectMeta,
        #[serde(skip_serializing_if = "String::is_empty")]
        needed: String,
    }

    impl Resource for Lossy {
        type DynamicType = ();
        type Scope = k8s_openapi::NamespaceResourceScope;
        fn kind(_: &()) -> Cow<'_, str> {
            "Lossy".into()
        }
        fn group(_: &()) -> Cow<'_, str> {
            "test".into()
        }
        fn version(_: &()) -> Cow<'_, str> {
            "v1".into()
        }
        fn plural(_: &()) -> Cow<'_, str> {
            "lossies".into()
        }
        fn meta(&self) -> &ObjectMeta {
            &self.metadata
        }
        fn meta_mut(&mut self) -> &mut ObjectMeta {
            &mut self.metadata
        }
    }

    #[test]
    fn an_object_that_does_not_read_back_is_held_whole() {
        let mut lossy = Lossy::default();
        lossy.metadata.name = Some("x".into());
        let packed = Packed::pack(lossy.clone());
        assert_eq!(packed.packed_len(), 0, "held whole");
        assert_eq!(packed.unpack(), lossy);
        let fine = ConfigMap {
            data: Some(Default::default()),
            ..Default::default()
        };
        assert!(Packed::pack(fine).packed_len() > 0);
    }
}
