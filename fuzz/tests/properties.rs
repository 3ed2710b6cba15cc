//! Property tests generated from the grammars: valid inputs must be accepted and round-trip,
//! and any input must be answered without a panic. Small case counts keep `cargo test` quick;
//! the `fuzz` binary runs the same parsers for as long as wanted.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;

use mirror_registry::auth::Auth;
use mirror_registry::manifest::{self, Kind, OCI_INDEX, OCI_MANIFEST};
use mirror_registry::mirror::imageset;
use mirror_registry::reference::image::ImageRef;
use mirror_registry::reference::{Digest, Reference, RepoName, Tag};
use mirror_registry::registry::range::{self, Selection};
use mirror_registry_fuzz::{engine, targets};

const COMPONENT: &str = "[a-z0-9]{1,8}(([._]|__|-{1,3})[a-z0-9]{1,8}){0,2}";
const TAG: &str = "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,40}";

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 32).prop_map(|b| format!("sha256:{}", hex(&b))),
        proptest::collection::vec(any::<u8>(), 64).prop_map(|b| format!("sha512:{}", hex(&b))),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn repo_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(COMPONENT, 1..5).prop_map(|c| c.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn valid_names_tags_and_digests_parse_and_print_as_written(name in repo_name(), tag in TAG, digest in digest()) {
        if name.len() <= 255 {
            prop_assert_eq!(name.parse::<RepoName>().map(|n| n.to_string()), Ok(name.clone()));
        }
        prop_assert_eq!(tag.parse::<Tag>().map(|t| t.to_string()), Ok(tag.clone()));
        prop_assert_eq!(digest.parse::<Digest>().map(|d| d.to_string()), Ok(digest.clone()));
        prop_assert!(matches!(tag.parse::<Reference>(), Ok(Reference::Tag(_))));
        prop_assert!(matches!(digest.parse::<Reference>(), Ok(Reference::Digest(_))));
    }

    #[test]
    fn image_references_round_trip_through_display(
        registry in prop_oneof![Just(String::new()), "[a-z]{1,6}(\\.[a-z]{2,4}){1,2}(:[0-9]{1,5})?", Just("localhost:5000".to_string())],
        name in repo_name(),
        tag in proptest::option::of(TAG),
        digest in proptest::option::of(digest()),
    ) {
        prop_assume!(name.len() <= 200);
        // Without a registry, a first component with a '.' would be read as the registry host.
        prop_assume!(!registry.is_empty() || !name.split('/').next().unwrap_or_default().contains('.'));
        let mut text = if registry.is_empty() { name.clone() } else { format!("{registry}/{name}") };
        if let Some(t) = &tag { text = format!("{text}:{t}"); }
        if let Some(d) = &digest { text = format!("{text}@{d}"); }
        let image: ImageRef = text.parse().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(image.tag().map(ToString::to_string), tag);
        prop_assert_eq!(image.digest().map(ToString::to_string), digest);
        prop_assert_eq!(image.to_string().parse::<ImageRef>(), Ok(image));
    }

    #[test]
    fn one_byte_range_selects_exactly_what_it_names(first in 0u64..1000, len in 0u64..1000, size in 0u64..2000) {
        let last = first + len;
        let specs = range::parse_range(&format!("bytes={first}-{last}")).expect("valid range");
        let expected = if first < size { Selection::Part { first, last: last.min(size - 1) } } else { Selection::Unsatisfiable };
        prop_assert_eq!(range::select(&specs, size), expected);
        let suffix = range::parse_range(&format!("bytes=-{len}")).expect("valid suffix");
        let expected = match (len, size) {
            (0, _) => Selection::Unsatisfiable,
            (_, 0) => Selection::Whole,
            _ => Selection::Part { first: size.saturating_sub(len), last: size - 1 },
        };
        prop_assert_eq!(range::select(&suffix, size), expected);
    }

    #[test]
    fn chunk_ranges_round_trip(start in any::<u64>(), len in any::<u64>(), prefix in prop_oneof![Just(""), Just("bytes "), Just("bytes=")]) {
        let end = start.saturating_add(len);
        let parsed = range::parse_chunk_range(&format!("{prefix}{start}-{end}")).expect("valid");
        prop_assert_eq!((parsed.start, parsed.end), (start, end));
    }

    #[test]
    fn other_range_units_are_ignored(unit in "[a-zA-Z]{1,8}", spec in "[0-9]{1,4}-[0-9]{0,4}") {
        prop_assume!(!unit.eq_ignore_ascii_case("bytes"));
        prop_assert_eq!(range::parse_range(&format!("{unit}={spec}")), None);
    }

    #[test]
    fn generated_manifests_are_read_with_their_descriptors(
        layers in proptest::collection::vec((digest(), 0u64..u64::from(u32::MAX)), 0..6),
        config in (digest(), 0u64..100_000),
        index in any::<bool>(),
    ) {
        let descriptor = |(d, size): &(String, u64), media_type: &str| serde_json::json!({"mediaType": media_type, "digest": d, "size": size});
        let body = if index {
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": layers.iter().map(|l| descriptor(l, OCI_MANIFEST)).collect::<Vec<_>>()})
        } else {
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(&config, "application/vnd.oci.image.config.v1+json"),
                "layers": layers.iter().map(|l| descriptor(l, "application/vnd.oci.image.layer.v1.tar")).collect::<Vec<_>>()})
        };
        let m = manifest::parse(None, body.to_string().as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let read: Vec<(String, u64)> = if index {
            prop_assert_eq!(m.kind, Kind::Index);
            m.children.iter().map(|d| (d.digest.to_string(), d.size)).collect()
        } else {
            prop_assert_eq!(m.kind, Kind::Image);
            prop_assert_eq!((m.blobs[0].digest.to_string(), m.blobs[0].size), config.clone());
            m.blobs[1..].iter().map(|d| (d.digest.to_string(), d.size)).collect()
        };
        prop_assert_eq!(read, layers);
    }

    #[test]
    fn generated_image_set_configurations_list_their_images(names in proptest::collection::vec(repo_name(), 1..5), tag in TAG) {
        let images = names.iter().fold(String::new(), |mut s, n| {
            let _ = writeln!(s, "  - name: quay.io/{n}:{tag}");
            s
        });
        let text = format!("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n{images}");
        let set = imageset::parse(&text).map_err(|p| TestCaseError::fail(format!("{p:?}")))?;
        let listed: Vec<String> = set.content.additional_images.iter().map(|i| i.name.clone()).collect();
        let expected: Vec<String> = names.iter().map(|n| format!("quay.io/{n}:{tag}")).collect();
        prop_assert_eq!(listed, expected);
    }

    #[test]
    fn basic_credentials_with_a_user_are_accepted(user in "[^:\\s]{1,20}", password in ".{0,20}", scheme in prop_oneof![Just("Basic"), Just("basic"), Just("BASIC")]) {
        let header = format!("{scheme} {}", B64.encode(format!("{user}:{password}")));
        prop_assert!(Auth::parse_authorization(Some(&header)).is_ok(), "{header:?} refused");
    }

    /// Any text, through every fuzz target: properties hold and nothing panics.
    #[test]
    fn any_input_satisfies_every_target(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        for target in targets::TARGETS {
            if let Err(panic) = engine::execute(target, &data) {
                return Err(TestCaseError::fail(format!("{}: {panic}", target.name)));
            }
        }
    }
}
