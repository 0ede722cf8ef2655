//! The build-time evolution check: over the repository's real `schemas/`, and over
//! scratch directories with histories that break.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use edp_schema_registry::Compatibility;
use edp_schema_registry::evolution::{self, EvolutionError};

/// The repository's `schemas/` directory. The runner's manifest dir, not the compiled-in
/// one: a test binary built from another checkout sharing the target directory must
/// read this checkout.
pub(crate) fn repo_schemas() -> PathBuf {
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    Path::new(&manifest).join("../schemas")
}

/// A scratch directory of schema files, removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(files: &[(&str, &str)]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "edp-schemas-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn order(fields: &str) -> String {
    format!(
        r#"{{"type":"record","name":"OrderPlaced","namespace":"ecommerce.order","fields":[{{"name":"order_id","type":"string"}}{fields}]}}"#
    )
}

pub(crate) const COUPON: &str = r#",{"name":"coupon","type":"string"}"#;
const COUPON_DEFAULT: &str = r#",{"name":"coupon","type":"string","default":""}"#;

#[test]
fn the_committed_schemas_evolve_compatibly() {
    let schemas = repo_schemas();
    let report = evolution::check_dir(&schemas, None).unwrap_or_else(|e| panic!("{e}"));
    let events: Vec<&str> = report.events.iter().map(|e| e.event.as_str()).collect();
    for expected in [
        "ecommerce/order.placed",
        "ecommerce/order.confirmed",
        "ecommerce/order.cancelled",
        "ecommerce/payment.succeeded",
        "ecommerce/payment.failed",
    ] {
        assert!(events.contains(&expected), "{expected} not in {events:?}");
    }
    for event in &report.events {
        assert_eq!(event.versions.first(), Some(&1), "{}", event.event);
    }
    // And the contract as it stands passes as a candidate for its own next version.
    let v1 = std::fs::read_to_string(schemas.join("ecommerce/order.placed.v1.avsc")).unwrap();
    let checked = evolution::check_candidate(&schemas, "order.placed", &v1, None).unwrap();
    assert_eq!(checked.event, "ecommerce/order.placed");
}

#[test]
fn a_breaking_version_is_named_by_file_and_field() {
    let dir = Scratch::new(&[
        ("ecommerce/order.placed.v1.avsc", &order("")),
        ("ecommerce/order.placed.v2.avsc", &order(COUPON)),
        ("ecommerce/order.cancelled.v1.avsc", &order("")),
    ]);
    let error = evolution::check_dir(&dir.0, None).unwrap_err();
    let EvolutionError::Incompatible(broken) = &error else {
        panic!("expected Incompatible, got {error}");
    };
    assert_eq!(broken.len(), 1);
    assert!(broken[0].candidate.ends_with("order.placed.v2.avsc"));
    assert!(
        broken[0]
            .against
            .as_ref()
            .unwrap()
            .ends_with("ecommerce/order.placed.v1.avsc")
    );
    assert_eq!(broken[0].incompatibility.path, "OrderPlaced.coupon");
    let message = error.to_string();
    assert!(
        message.contains("order.placed.v2.avsc against"),
        "{message}"
    );
    assert!(
        message.contains("`OrderPlaced.coupon`: field `coupon` has no default"),
        "{message}"
    );
    assert!(message.contains("BACKWARD_TRANSITIVE"), "{message}");
}

#[test]
fn the_level_comes_from_the_caller_then_a_compatibility_file_then_the_default() {
    // v3 drops the default v2 gave: fine with v2 (latest), breaks with v1.
    let files = [
        ("ecommerce/order.placed.v1.avsc", order("")),
        ("ecommerce/order.placed.v2.avsc", order(COUPON_DEFAULT)),
        ("ecommerce/order.placed.v3.avsc", order(COUPON)),
    ];
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let dir = Scratch::new(&borrowed);
    let error = evolution::check_dir(&dir.0, None).unwrap_err().to_string();
    assert!(
        error.contains("order.placed.v3.avsc against") && error.contains("version 1"),
        "{error}"
    );
    let report = evolution::check_dir(&dir.0, Some(Compatibility::Backward)).unwrap();
    assert_eq!(report.events[0].versions, vec![1, 2, 3]);
    assert_eq!(report.events[0].level, Compatibility::Backward);

    std::fs::write(
        dir.0.join("compatibility"),
        "# the level for these schemas\nBACKWARD\n",
    )
    .unwrap();
    assert!(evolution::check_dir(&dir.0, None).is_ok());
    // The nearest file wins.
    std::fs::write(dir.0.join("ecommerce/compatibility"), "full_transitive").unwrap();
    let error = evolution::check_dir(&dir.0, None).unwrap_err().to_string();
    assert!(error.contains("FULL_TRANSITIVE"), "{error}");
    std::fs::write(dir.0.join("ecommerce/compatibility"), "SOMETIMES").unwrap();
    let error = evolution::check_dir(&dir.0, None).unwrap_err();
    assert!(matches!(error, EvolutionError::Level { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("unknown compatibility level `SOMETIMES`")
    );
}

#[test]
fn a_candidate_is_checked_against_the_committed_versions() {
    let dir = Scratch::new(&[
        ("ecommerce/order.placed.v1.avsc", &order("")),
        ("ecommerce/order.placed.v2.avsc", &order(COUPON_DEFAULT)),
    ]);
    let ok =
        evolution::check_candidate(&dir.0, "order.placed", &order(COUPON_DEFAULT), None).unwrap();
    assert_eq!(
        (ok.event.as_str(), ok.versions.as_slice()),
        ("ecommerce/order.placed", &[1, 2][..])
    );
    let error = evolution::check_candidate(&dir.0, "ecommerce/order.placed", &order(COUPON), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the candidate schema of `ecommerce/order.placed` against"),
        "{error}"
    );
    assert!(
        error.contains("order.placed.v1.avsc: `OrderPlaced.coupon`"),
        "{error}"
    );
    // A new event has nothing to break.
    let new = evolution::check_candidate(&dir.0, "order.shipped", &order(""), None).unwrap();
    assert!(new.versions.is_empty());
    let invalid = evolution::check_candidate(&dir.0, "order.placed", "{}", None).unwrap_err();
    assert!(
        matches!(invalid, EvolutionError::InvalidSchema { .. }),
        "{invalid}"
    );
}

#[test]
fn bad_directories_say_what_to_fix() {
    let gap = Scratch::new(&[
        ("ecommerce/order.placed.v1.avsc", &order("")),
        ("ecommerce/order.placed.v3.avsc", &order("")),
    ]);
    let error = evolution::check_dir(&gap.0, None).unwrap_err().to_string();
    assert!(
        error.contains("`ecommerce/order.placed` has no version 2"),
        "{error}"
    );

    let misnamed = Scratch::new(&[("ecommerce/order.placed.avsc", &order(""))]);
    let error = evolution::check_dir(&misnamed.0, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("is not named `<event name>.v<N>.avsc`"),
        "{error}"
    );

    let invalid = Scratch::new(&[("ecommerce/order.placed.v1.avsc", "{\"type\":\"record\"}")]);
    let error = evolution::check_dir(&invalid.0, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("order.placed.v1.avsc: invalid Avro schema"),
        "{error}"
    );

    let missing = evolution::check_dir("/nonexistent/schemas", None).unwrap_err();
    assert!(matches!(missing, EvolutionError::Read { .. }), "{missing}");

    let twice = Scratch::new(&[
        ("a/order.placed.v1.avsc", &order("")),
        ("b/order.placed.v1.avsc", &order("")),
    ]);
    let error = evolution::check_candidate(&twice.0, "order.placed", &order(""), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("name the event with its directory"),
        "{error}"
    );
}
