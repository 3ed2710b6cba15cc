//! One FBC document decoded into the model as it streams past: only the keys and property
//! types the model reads are kept; everything else (icons, `olm.bundle.object` blobs, unknown
//! schemas) is skipped by serde without being stored. Checks that need only the document
//! itself (required fields, the bundle's version) fail here, so that serde gives them the
//! document's position.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{Bundle, Channel, Entry, Gvk, RelatedImage};
use crate::mirror::version::{Range, Version};

/// One document as the model reads it.
pub(super) enum Document {
    Package {
        name: String,
        default_channel: String,
    },
    Channel {
        package: String,
        channel: Channel,
    },
    // Boxed: a bundle is several times the size of the other variants.
    Bundle(Box<Bundle>),
    /// A schema the model does not read (`olm.deprecations`, custom schemas).
    Other,
    /// An empty YAML document or a JSON `null`.
    Empty,
}

/// The schemas the model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    Package,
    Channel,
    Bundle,
    Other,
}

impl Schema {
    fn of(schema: &str) -> Schema {
        match schema {
            "olm.package" => Schema::Package,
            "olm.channel" => Schema::Channel,
            "olm.bundle" => Schema::Bundle,
            _ => Schema::Other,
        }
    }

    fn reads(self, field: Field) -> bool {
        match self {
            Schema::Package => matches!(field, Field::Name | Field::DefaultChannel),
            Schema::Channel => matches!(field, Field::Name | Field::Package | Field::Entries),
            Schema::Bundle => {
                matches!(field, Field::Name | Field::Package | Field::Image | Field::Properties | Field::RelatedImages)
            }
            Schema::Other => false,
        }
    }
}

/// The document keys the model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Package,
    DefaultChannel,
    Entries,
    Image,
    Properties,
    RelatedImages,
}

impl Field {
    fn of(key: &str) -> Option<Field> {
        Some(match key {
            "name" => Field::Name,
            "package" => Field::Package,
            "defaultChannel" => Field::DefaultChannel,
            "entries" => Field::Entries,
            "image" => Field::Image,
            "properties" => Field::Properties,
            "relatedImages" => Field::RelatedImages,
            _ => return None,
        })
    }
}

/// The values of the keys read so far. `null` counts as absent.
#[derive(Default)]
struct Fields {
    name: Option<String>,
    package: Option<String>,
    default_channel: Option<String>,
    entries: Option<Vec<RawEntry>>,
    image: Option<String>,
    properties: Option<Vec<Property>>,
    related_images: Option<Vec<RawRelatedImage>>,
}

impl Fields {
    fn read<'de, D: Deserializer<'de>>(&mut self, field: Field, value: D) -> Result<(), D::Error> {
        match field {
            Field::Name => self.name = Option::deserialize(value)?,
            Field::Package => self.package = Option::deserialize(value)?,
            Field::DefaultChannel => self.default_channel = Option::deserialize(value)?,
            Field::Entries => self.entries = Option::deserialize(value)?,
            Field::Image => self.image = Option::deserialize(value)?,
            Field::Properties => self.properties = Option::deserialize(value)?,
            Field::RelatedImages => self.related_images = Option::deserialize(value)?,
        }
        Ok(())
    }

    /// The document these fields make for `schema`, or what is wrong with it.
    fn into_document<E: de::Error>(self, schema: Schema) -> Result<Document, E> {
        let name = || self.name.clone().ok_or_else(|| E::missing_field("name"));
        let package = || self.package.clone().ok_or_else(|| E::missing_field("package"));
        Ok(match schema {
            Schema::Package => {
                Document::Package { name: name()?, default_channel: self.default_channel.unwrap_or_default() }
            }
            Schema::Channel => {
                let entries = self.entries.unwrap_or_default().into_iter().map(Entry::from).collect();
                Document::Channel { package: package()?, channel: Channel { name: name()?, entries } }
            }
            Schema::Bundle => Document::Bundle(Box::new(self.into_bundle()?)),
            Schema::Other => Document::Other,
        })
    }

    fn into_bundle<E: de::Error>(self) -> Result<Bundle, E> {
        let name = self.name.ok_or_else(|| E::missing_field("name"))?;
        let package = self.package.ok_or_else(|| E::missing_field("package"))?;
        let mut version = None;
        let mut required_packages = Vec::new();
        let mut required_gvks = Vec::new();
        let mut provided_gvks = Vec::new();
        let mut display_name = None;
        for property in self.properties.unwrap_or_default() {
            match property {
                Property::Package { package_name, version: v } => {
                    if version.is_some() {
                        return Err(E::custom(format!("bundle {name:?} has more than one olm.package property")));
                    }
                    if package_name != package {
                        return Err(E::custom(format!(
                            "bundle {name:?}: its olm.package property names package {package_name:?}, but the bundle belongs to {package:?}"
                        )));
                    }
                    version = Some(v);
                }
                Property::PackageRequired { package_name, range } => required_packages.push((package_name, range)),
                Property::Gvk(gvk) => provided_gvks.push(gvk),
                Property::GvkRequired(gvk) => required_gvks.push(gvk),
                Property::CsvMetadata { display_name: d } => display_name = d,
                Property::Other => {}
            }
        }
        let Some(version) = version else {
            return Err(E::custom(format!("bundle {name:?} has no olm.package property with its version")));
        };
        let related_images = self
            .related_images
            .unwrap_or_default()
            .into_iter()
            .map(|r| RelatedImage { name: r.name.unwrap_or_default(), image: r.image })
            .collect();
        Ok(Bundle {
            name,
            package,
            image: self.image.unwrap_or_default(),
            version,
            related_images,
            required_packages,
            required_gvks,
            provided_gvks,
            display_name,
        })
    }
}

/// Reads one value into [`Fields`] straight from the stream.
struct FieldSeed<'a> {
    field: Field,
    fields: &'a mut Fields,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, value: D) -> Result<(), D::Error> {
        self.fields.read(self.field, value)
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Document, D::Error> {
        // `any` rather than `map`, so that an empty YAML document (or JSON `null`) is not
        // refused before it reaches the visitor.
        deserializer.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an FBC document (an object with a `schema` field)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Document, E> {
        Ok(Document::Empty)
    }

    fn visit_none<E: de::Error>(self) -> Result<Document, E> {
        Ok(Document::Empty)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut schema = None;
        let mut fields = Fields::default();
        // Values that came before `schema`, which say how to read them. opm writes `schema`
        // first, so this stays empty for rendered catalogs; hand-written YAML may differ.
        let mut early: Vec<(Field, serde_json::Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), Field::of(&key), schema) {
                ("schema", _, _) => schema = Some(Schema::of(&map.next_value::<String>()?)),
                (_, Some(field), None) => early.push((field, map.next_value()?)),
                (_, Some(field), Some(s)) if s.reads(field) => {
                    map.next_value_seed(FieldSeed { field, fields: &mut fields })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let schema = schema.ok_or_else(|| de::Error::missing_field("schema"))?;
        for (field, value) in early {
            if schema.reads(field) {
                fields.read(field, value).map_err(de::Error::custom)?;
            }
        }
        fields.into_document(schema)
    }
}

/// A channel entry as written.
#[derive(Deserialize)]
struct RawEntry {
    name: String,
    #[serde(default)]
    replaces: Option<String>,
    #[serde(default)]
    skips: Option<Vec<String>>,
    #[serde(default, rename = "skipRange")]
    skip_range: Option<String>,
}

impl From<RawEntry> for Entry {
    fn from(raw: RawEntry) -> Entry {
        Entry {
            name: raw.name,
            replaces: raw.replaces,
            skips: raw.skips.unwrap_or_default(),
            skip_range: raw.skip_range,
        }
    }
}

/// A `relatedImages` item as written.
#[derive(Deserialize)]
struct RawRelatedImage {
    #[serde(default)]
    name: Option<String>,
    image: String,
}

/// One bundle property, read as far as the model needs it. Values of other types (notably
/// `olm.bundle.object`, whose base64 `data` can be megabytes) are skipped, not stored.
enum Property {
    Package { package_name: String, version: Version },
    PackageRequired { package_name: String, range: Range },
    Gvk(Gvk),
    GvkRequired(Gvk),
    CsvMetadata { display_name: Option<String> },
    Other,
}

#[derive(Deserialize)]
struct PackageValue {
    #[serde(rename = "packageName")]
    package_name: String,
    version: String,
}

#[derive(Deserialize)]
struct PackageRequiredValue {
    #[serde(rename = "packageName")]
    package_name: String,
    #[serde(rename = "versionRange")]
    version_range: String,
}

#[derive(Deserialize)]
struct GvkValue {
    group: String,
    version: String,
    kind: String,
}

impl From<GvkValue> for Gvk {
    fn from(v: GvkValue) -> Gvk {
        Gvk { group: v.group, version: v.version, kind: v.kind }
    }
}

#[derive(Deserialize)]
struct CsvMetadataValue {
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
}

/// Whether a property of this type is read rather than skipped.
fn is_read_property(kind: &str) -> bool {
    matches!(kind, "olm.package" | "olm.package.required" | "olm.gvk" | "olm.gvk.required" | "olm.csv.metadata")
}

/// Reads the `value` of a property of type `kind`.
fn read_property<'de, D: Deserializer<'de>>(kind: &str, value: D) -> Result<Property, D::Error> {
    Ok(match kind {
        "olm.package" => {
            let v = PackageValue::deserialize(value)?;
            let version = v.version.parse().map_err(|e| de::Error::custom(format!("olm.package property: {e}")))?;
            Property::Package { package_name: v.package_name, version }
        }
        "olm.package.required" => {
            let v = PackageRequiredValue::deserialize(value)?;
            // A range OLM itself could not read must not make the whole catalog unreadable:
            // the requirement is left out of dependency resolution, and said so.
            match v.version_range.parse() {
                Ok(range) => Property::PackageRequired { package_name: v.package_name, range },
                Err(e) => {
                    tracing::warn!(
                        "olm.package.required of package {:?}: {e}; this requirement is ignored",
                        v.package_name
                    );
                    Property::Other
                }
            }
        }
        "olm.gvk" => Property::Gvk(GvkValue::deserialize(value)?.into()),
        "olm.gvk.required" => Property::GvkRequired(GvkValue::deserialize(value)?.into()),
        "olm.csv.metadata" => {
            Property::CsvMetadata { display_name: CsvMetadataValue::deserialize(value)?.display_name }
        }
        _ => {
            IgnoredAny::deserialize(value)?;
            Property::Other
        }
    })
}

struct PropertySeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for PropertySeed<'_> {
    type Value = Property;

    fn deserialize<D: Deserializer<'de>>(self, value: D) -> Result<Property, D::Error> {
        read_property(self.0, value)
    }
}

impl<'de> Deserialize<'de> for Property {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Property, D::Error> {
        deserializer.deserialize_map(PropertyVisitor)
    }
}

struct PropertyVisitor;

impl<'de> Visitor<'de> for PropertyVisitor {
    type Value = Property;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bundle property (an object with `type` and `value`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Property, A::Error> {
        let mut kind: Option<String> = None;
        let mut property = None;
        // A value met before its `type` is kept until the type is known; opm writes `type`
        // first, so big `olm.bundle.object` values are normally skipped without being kept.
        let mut early = None;
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), &kind) {
                ("type", _) => kind = Some(map.next_value()?),
                ("value", Some(k)) => property = Some(map.next_value_seed(PropertySeed(k))?),
                ("value", None) => early = Some(map.next_value::<serde_json::Value>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        if let Some(value) = early {
            property = Some(read_property(&kind, value).map_err(de::Error::custom)?);
        }
        match property {
            Some(property) => Ok(property),
            None if is_read_property(&kind) => {
                Err(de::Error::custom(format!("property of type {kind:?} has no value")))
            }
            None => Ok(Property::Other),
        }
    }
}
