//! Values held packed in memory ([`Blob`]: compact JSON compressed with LZ4), and objects held
//! packed in a watch cache ([`Packed`]: the metadata as it is, since the store's key, owner
//! references and the change predicates read it; everything else a [`Blob`]). A simulated
//! host's spec and status are 3.0 KB of JSON, well under half that compressed, against
//! 7.4 KiB typed.
//!
//! A typed object in memory is two to three times its JSON: every optional field takes its
//! room inline whether set or not (a `BareMetalHost` is 2.5 KiB before any string), and every
//! string is a heap block of its own. An operator caches every host and each host's
//! companions, so at fleet size this is most of its memory. A reader gets a fresh typed copy
//! ([`Packed::unpack`]); one copy per pass costs far less than holding them all.
//!
//! Values of one type can be packed against a dictionary the type shares
//! ([`Blob::pack_alike`]), so that what objects of a kind repeat (field names, owner
//! references, what a fleet has in common) is held once: the packed bodies of 1,000
//! simulated hosts took 0.37× the heap they took packed alone.
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

/// What a value must offer to be held as a [`Blob`].
pub trait Compressible: Serialize + DeserializeOwned + PartialEq + Clone {}

impl<T> Compressible for T where T: Serialize + DeserializeOwned + PartialEq + Clone {}

/// What a kind must offer to be packed.
pub trait Packable: Resource<DynamicType = ()> + Compressible + 'static {}

impl<K> Packable for K where K: Resource<DynamicType = ()> + Compressible + 'static {}

/// A value held as compact JSON compressed with LZ4, or whole when its JSON does not read back
/// to it. Cloning shares the bytes.
pub struct Blob<T>(Body<T>);

enum Body<T> {
    /// Compact JSON compressed with LZ4 (size prepended).
    Json(Arc<[u8]>),
    /// Compact JSON compressed with LZ4 against a dictionary shared with values of its type.
    Alike {
        bytes: Arc<[u8]>,
        dictionary: Arc<[u8]>,
    },
    /// A value whose JSON does not read back to it, held as it is.
    Whole(Arc<T>),
}

impl<T> Clone for Blob<T> {
    fn clone(&self) -> Self {
        Self(match &self.0 {
            Body::Json(j) => Body::Json(j.clone()),
            Body::Alike { bytes, dictionary } => Body::Alike {
                bytes: bytes.clone(),
                dictionary: dictionary.clone(),
            },
            Body::Whole(k) => Body::Whole(k.clone()),
        })
    }
}

impl<T: Compressible> Blob<T> {
    /// Packs `value` on its own (cloned only when it is held whole).
    pub fn pack(value: &T) -> Self {
        Self::pack_with(value, |json| {
            let bytes = lz4_flex::compress_prepend_size(json);
            Body::Json(bytes.into())
        })
    }

    /// Packs `value` against a dictionary shared with the other values of its type packed
    /// this way: what objects of one kind repeat (field names, owner references, the
    /// values a fleet has in common) is then held once, not once per object. The dictionary
    /// is the JSON of a value packed before (see `dictionary` below), so values that must not
    /// outlive their object in memory, credentials above all, are packed with [`Blob::pack`].
    pub fn pack_alike(value: &T) -> Self
    where
        T: 'static,
    {
        Self::pack_with(value, |json| {
            let dictionary = dictionary::<T>(json);
            let bytes = lz4_flex::block::compress_prepend_size_with_dict(json, &dictionary);
            Body::Alike {
                bytes: bytes.into(),
                dictionary,
            }
        })
    }

    fn pack_with(value: &T, compress: impl FnOnce(&[u8]) -> Body<T>) -> Self {
        let packed = serde_json::to_vec(value).map(|json| compress(&json));
        match packed {
            Ok(body) if Self::read(&body).is_ok_and(|read| read == *value) => Self(body),
            _ => {
                tracing::warn!(
                    kind = std::any::type_name::<T>(),
                    "a value does not read back from its JSON; it is held unpacked"
                );
                Self(Body::Whole(Arc::new(value.clone())))
            }
        }
    }

    fn read(body: &Body<T>) -> Result<T, String> {
        let json = match body {
            Body::Json(bytes) => lz4_flex::decompress_size_prepended(bytes),
            Body::Alike { bytes, dictionary } => {
                lz4_flex::block::decompress_size_prepended_with_dict(bytes, dictionary)
            }
            Body::Whole(value) => return Ok(T::clone(value)),
        };
        let json = json.map_err(|e| e.to_string())?;
        serde_json::from_slice::<T>(&json).map_err(|e| e.to_string())
    }

    /// The value: a copy of its own.
    pub fn unpack(&self) -> T {
        match Self::read(&self.0) {
            Ok(value) => value,
            // Checked when packed: the same bytes read back the same way.
            Err(e) => unreachable!("packed bytes read back once and fail now: {e}"),
        }
    }

    /// Whether the value was packed against its type's shared dictionary.
    pub fn shares_dictionary(&self) -> bool {
        matches!(self.0, Body::Alike { .. })
    }

    /// Bytes held, the shared dictionary not counted (0 for a value held whole).
    pub fn packed_len(&self) -> usize {
        match &self.0 {
            Body::Json(bytes) | Body::Alike { bytes, .. } => bytes.len(),
            Body::Whole(_) => 0,
        }
    }
}

/// Largest dictionary: LZ4 looks back 64 KiB at most.
const DICTIONARY_MAX: usize = 64 * 1024;

/// The dictionary of type `T` to pack `json` against: the JSON of the largest value of the
/// type packed so far, replaced whenever one half as large again comes by (so it follows a
/// kind from its first, bare objects to objects with their status filled in, and changes a
/// handful of times at most). Values keep the dictionary they were packed against.
fn dictionary<T: 'static>(json: &[u8]) -> Arc<[u8]> {
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static DICTIONARIES: LazyLock<Mutex<HashMap<TypeId, Arc<[u8]>>>> =
        LazyLock::new(Default::default);
    let mut dictionaries = DICTIONARIES.lock().unwrap_or_else(|e| e.into_inner());
    let current = dictionaries
        .entry(TypeId::of::<T>())
        .or_insert_with(|| Arc::from(&[][..]));
    if current.len() < DICTIONARY_MAX && json.len() > current.len() + current.len() / 2 {
        *current = Arc::from(&json[..json.len().min(DICTIONARY_MAX)]);
    }
    current.clone()
}

impl<T> fmt::Debug for Blob<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Body::Json(bytes) | Body::Alike { bytes, .. } => {
                write!(f, "Blob({} bytes)", bytes.len())
            }
            Body::Whole(_) => f.write_str("Blob(whole)"),
        }
    }
}

/// An object of kind `K` held packed; a [`Resource`] of the same kind, so watches, stores
/// and controllers take it where they take `K`.
pub struct Packed<K> {
    metadata: ObjectMeta,
    /// `K` without its metadata.
    body: Blob<K>,
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
    /// Packs `object` against the dictionary of its kind ([`Blob::pack_alike`]: not for kinds
    /// that hold credentials).
    pub fn pack(mut object: K) -> Self {
        let metadata = std::mem::take(object.meta_mut());
        let body = Blob::pack_alike(&object);
        Self { metadata, body }
    }

    /// The object, typed: a copy of its own.
    pub fn unpack(&self) -> K {
        let mut object = self.body.unpack();
        *object.meta_mut() = self.metadata.clone();
        object
    }

    /// Bytes held besides the metadata (0 for an object held whole).
    pub fn packed_len(&self) -> usize {
        self.body.packed_len()
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
        let json = match &packed.body.0 {
            Body::Alike { bytes, dictionary } => {
                let json = lz4_flex::block::decompress_size_prepended_with_dict(bytes, dictionary)
                    .expect("lz4");
                String::from_utf8(json).expect("utf-8")
            }
            _ => panic!("not packed against the kind's dictionary"),
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
    fn a_blob_holds_any_value_and_shows_no_data() {
        let blob = Blob::pack(&secret());
        assert_eq!(blob.unpack(), secret());
        assert!(blob.packed_len() > 0);
        let shown = format!("{blob:?}");
        assert!(
            shown.starts_with("Blob(") && !shown.contains("s3cret"),
            "{shown}"
        );
        let meta = Blob::pack(&secret().metadata);
        assert_eq!(meta.unpack(), secret().metadata);
    }

    #[test]
    fn values_alike_share_what_they_repeat() {
        // A type of its own: dictionaries are per type, and tests run side by side.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        struct Server {
            name: String,
            attributes: std::collections::BTreeMap<String, String>,
            serial: String,
        }
        let map = |i: usize| Server {
            name: format!("host-{i}"),
            attributes: (0..40)
                .map(|a| (format!("Attribute{a}"), format!("Value{}", a % 3)))
                .collect(),
            serial: format!("SN{i:08}"),
        };
        let alone = Blob::pack(&map(1));
        assert!(!alone.shares_dictionary());
        let alone = alone.packed_len();
        // The first packs against nothing but itself; the next ones against it.
        let first = Blob::pack_alike(&map(0));
        let alike: Vec<_> = (1..5).map(|i| Blob::pack_alike(&map(i))).collect();
        assert_eq!(first.unpack(), map(0));
        for (i, blob) in alike.iter().enumerate() {
            assert!(blob.shares_dictionary());
            assert_eq!(blob.unpack(), map(i + 1));
            assert!(
                blob.packed_len() * 4 < alone,
                "{} against {alone} alone",
                blob.packed_len()
            );
        }
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
