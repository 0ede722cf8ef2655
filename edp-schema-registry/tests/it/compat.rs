//! The compatibility table: each row a history, a candidate, a level and the verdict
//! (compatible, or the path, the reason and the version that break).

use edp_schema_registry::compat::{self, Side};
use edp_schema_registry::{AvroSchema, Compatibility};

use Compatibility::*;

/// An `OrderPlaced` record with these fields.
fn order(fields: &str) -> String {
    named("OrderPlaced", "", fields)
}

fn named(name: &str, extra: &str, fields: &str) -> String {
    format!(
        r#"{{"type":"record","name":"{name}","namespace":"ecommerce.order"{extra},"fields":[{fields}]}}"#
    )
}

/// A record with one field `v` of this type.
fn value(ty: &str) -> String {
    order(&format!(r#"{{"name":"v","type":{ty}}}"#))
}

const ID: &str = r#"{"name":"order_id","type":"string"}"#;
const STATUS_ABC: &str =
    r#"{"type":"enum","name":"Status","symbols":["PLACED","PAID","CANCELLED"]}"#;
const STATUS_AB: &str = r#"{"type":"enum","name":"Status","symbols":["PLACED","PAID"]}"#;
const STATUS_AB_DEFAULT: &str =
    r#"{"type":"enum","name":"Status","symbols":["PLACED","PAID"],"default":"PLACED"}"#;

enum Expect {
    Compatible,
    /// The path, a piece of the message, the version named.
    Broken(&'static str, &'static str, u32),
}
use Expect::*;

struct Row {
    name: &'static str,
    level: Compatibility,
    history: Vec<String>,
    candidate: String,
    expect: Expect,
}

fn row(
    name: &'static str,
    level: Compatibility,
    history: &[&str],
    candidate: &str,
    expect: Expect,
) -> Row {
    Row {
        name,
        level,
        history: history.iter().map(|s| (*s).to_owned()).collect(),
        candidate: candidate.to_owned(),
        expect,
    }
}

fn table() -> Vec<Row> {
    let v1 = order(ID);
    let with = |field: &str| order(&format!("{ID},{field}"));
    let coupon_default = with(r#"{"name":"coupon","type":"string","default":""}"#);
    let coupon = with(r#"{"name":"coupon","type":"string"}"#);
    let note_default = with(r#"{"name":"note","type":"string","default":""}"#);
    let note = with(r#"{"name":"note","type":"string"}"#);
    let customer_id = with(r#"{"name":"customer_id","type":"string"}"#);
    let customer_aliased = with(r#"{"name":"customer","type":"string","aliases":["customer_id"]}"#);
    let customer = with(r#"{"name":"customer","type":"string"}"#);
    let lines = |line_fields: &str| {
        order(&format!(
            r#"{ID},{{"name":"items","type":{{"type":"array","items":{{"type":"record","name":"OrderLine","fields":[{line_fields}]}}}}}}"#
        ))
    };
    let opt_line = |line_fields: &str| {
        order(&format!(
            r#"{{"name":"line","type":["null",{{"type":"record","name":"OrderLine","fields":[{line_fields}]}}],"default":null}}"#
        ))
    };
    let list = |extra: &str| {
        format!(
            r#"{{"type":"record","name":"Node","fields":[{{"name":"value","type":"long"}},{{"name":"next","type":["null","Node"],"default":null}}{extra}]}}"#
        )
    };
    let (v1, coupon_default, coupon, note_default, note) = (
        v1.as_str(),
        coupon_default.as_str(),
        coupon.as_str(),
        note_default.as_str(),
        note.as_str(),
    );
    vec![
        // Fields added and removed.
        row(
            "add a field with a default, backward",
            Backward,
            &[v1],
            coupon_default,
            Compatible,
        ),
        row(
            "add a field without a default, backward",
            Backward,
            &[v1],
            coupon,
            Broken(
                "OrderPlaced.coupon",
                "field `coupon` has no default, so the new schema cannot read data written with version 1",
                1,
            ),
        ),
        row(
            "add a field without a default, forward",
            Forward,
            &[v1],
            coupon,
            Compatible,
        ),
        row(
            "add a field with a default, full",
            Full,
            &[v1],
            coupon_default,
            Compatible,
        ),
        row(
            "add a field without a default, full",
            Full,
            &[v1],
            coupon,
            Broken("OrderPlaced.coupon", "has no default", 1),
        ),
        row(
            "remove a field, backward",
            Backward,
            &[note],
            v1,
            Compatible,
        ),
        row(
            "remove a field that had no default, forward",
            Forward,
            &[note],
            v1,
            Broken(
                "OrderPlaced.note",
                "field `note` has no default, so version 1 cannot read data written with the new schema",
                1,
            ),
        ),
        row(
            "remove a field that had a default, forward",
            Forward,
            &[note_default],
            v1,
            Compatible,
        ),
        row(
            "remove a field that had a default, full",
            Full,
            &[note_default],
            v1,
            Compatible,
        ),
        // Renames.
        row(
            "rename a field with an alias, backward",
            Backward,
            &[&customer_id],
            &customer_aliased,
            Compatible,
        ),
        row(
            "rename a field without an alias, backward",
            Backward,
            &[&customer_id],
            &customer,
            Broken("OrderPlaced.customer", "field `customer` has no default", 1),
        ),
        row(
            "rename a field with an alias, forward: only the reader's aliases count",
            Forward,
            &[&customer_id],
            &customer_aliased,
            Broken(
                "OrderPlaced.customer_id",
                "field `customer_id` has no default",
                1,
            ),
        ),
        row(
            "rename a record with an alias",
            Backward,
            &[v1],
            &named("OrderSubmitted", r#","aliases":["OrderPlaced"]"#, ID),
            Compatible,
        ),
        row(
            "rename a record without an alias",
            Backward,
            &[v1],
            &named("OrderSubmitted", "", ID),
            Broken(
                "OrderSubmitted",
                "list `ecommerce.order.OrderPlaced` in its aliases",
                1,
            ),
        ),
        // Unions.
        row(
            "widen a union, backward",
            Backward,
            &[&value(r#"["null","string"]"#)],
            &value(r#"["null","string","long"]"#),
            Compatible,
        ),
        row(
            "widen a union, forward",
            Forward,
            &[&value(r#"["null","string"]"#)],
            &value(r#"["null","string","long"]"#),
            Broken(
                "OrderPlaced.v",
                "no branch of the union `[null, string]` in version 1 can read `long`, which the new schema can write",
                1,
            ),
        ),
        row(
            "narrow a union, backward",
            Backward,
            &[&value(r#"["null","string","long"]"#)],
            &value(r#"["null","string"]"#),
            Broken(
                "OrderPlaced.v",
                "no branch of the union `[null, string]` in the new schema can read `long`, which version 1 can write",
                1,
            ),
        ),
        row(
            "make a field optional, backward",
            Backward,
            &[&value(r#""string""#)],
            &value(r#"["null","string"]"#),
            Compatible,
        ),
        row(
            "make an optional field required, backward",
            Backward,
            &[&value(r#"["null","string"]"#)],
            &value(r#""string""#),
            Broken(
                "OrderPlaced.v",
                "cannot read `null`, a branch of the union `[null, string]` in version 1",
                1,
            ),
        ),
        row(
            "a record in a union breaks deeper down",
            Backward,
            &[&opt_line(r#"{"name":"sku","type":"string"}"#)],
            &opt_line(r#"{"name":"sku","type":"string"},{"name":"qty","type":"int"}"#),
            Broken("OrderPlaced.line.qty", "field `qty` has no default", 1),
        ),
        // Numeric promotions and string <-> bytes.
        row(
            "int to long",
            Backward,
            &[&value(r#""int""#)],
            &value(r#""long""#),
            Compatible,
        ),
        row(
            "long to float",
            Backward,
            &[&value(r#""long""#)],
            &value(r#""float""#),
            Compatible,
        ),
        row(
            "float to double",
            Backward,
            &[&value(r#""float""#)],
            &value(r#""double""#),
            Compatible,
        ),
        row(
            "int to double",
            Backward,
            &[&value(r#""int""#)],
            &value(r#""double""#),
            Compatible,
        ),
        row(
            "long to int",
            Backward,
            &[&value(r#""long""#)],
            &value(r#""int""#),
            Broken(
                "OrderPlaced.v",
                "the new schema reads `int` where version 1 wrote `long`, and Avro does not promote `long` to `int`",
                1,
            ),
        ),
        row(
            "int to long is not forward",
            Forward,
            &[&value(r#""int""#)],
            &value(r#""long""#),
            Broken(
                "OrderPlaced.v",
                "version 1 reads `int` where the new schema wrote `long`",
                1,
            ),
        ),
        row(
            "double to float",
            Backward,
            &[&value(r#""double""#)],
            &value(r#""float""#),
            Broken("OrderPlaced.v", "does not promote `double` to `float`", 1),
        ),
        row(
            "string to bytes",
            Backward,
            &[&value(r#""string""#)],
            &value(r#""bytes""#),
            Compatible,
        ),
        row(
            "bytes to string, full",
            Full,
            &[&value(r#""bytes""#)],
            &value(r#""string""#),
            Compatible,
        ),
        row(
            "int to string",
            Backward,
            &[&value(r#""int""#)],
            &value(r#""string""#),
            Broken("OrderPlaced.v", "does not promote `int` to `string`", 1),
        ),
        // Enums.
        row(
            "remove an enum symbol without an enum default",
            Backward,
            &[&value(STATUS_ABC)],
            &value(STATUS_AB),
            Broken(
                "OrderPlaced.v",
                "enum `ecommerce.order.Status` in the new schema lacks the symbol `CANCELLED` that version 1 can write",
                1,
            ),
        ),
        row(
            "remove an enum symbol with an enum default",
            Backward,
            &[&value(STATUS_ABC)],
            &value(STATUS_AB_DEFAULT),
            Compatible,
        ),
        row(
            "add an enum symbol, backward",
            Backward,
            &[&value(STATUS_AB)],
            &value(STATUS_ABC),
            Compatible,
        ),
        row(
            "add an enum symbol, forward, old enum without default",
            Forward,
            &[&value(STATUS_AB)],
            &value(STATUS_ABC),
            Broken("OrderPlaced.v", "lacks the symbol `CANCELLED`", 1),
        ),
        row(
            "add an enum symbol, forward, old enum with default",
            Forward,
            &[&value(STATUS_AB_DEFAULT)],
            &value(STATUS_ABC),
            Compatible,
        ),
        // Containers, fixed, recursion.
        row(
            "a field added in array items",
            Backward,
            &[&lines(r#"{"name":"product_id","type":"string"}"#)],
            &lines(r#"{"name":"product_id","type":"string"},{"name":"sku","type":"string"}"#),
            Broken("OrderPlaced.items[].sku", "field `sku` has no default", 1),
        ),
        row(
            "map values changed",
            Backward,
            &[&value(r#"{"type":"map","values":"int"}"#)],
            &value(r#"{"type":"map","values":"string"}"#),
            Broken(
                "OrderPlaced.v{}",
                "reads `string` where version 1 wrote `int`",
                1,
            ),
        ),
        row(
            "fixed resized",
            Backward,
            &[&value(r#"{"type":"fixed","name":"Md5","size":16}"#)],
            &value(r#"{"type":"fixed","name":"Md5","size":32}"#),
            Broken(
                "OrderPlaced.v",
                "fixed `ecommerce.order.Md5` has size 32 in the new schema but 16 in version 1",
                1,
            ),
        ),
        row(
            "recursive type gains a field with a default",
            Backward,
            &[&list("")],
            &list(r#",{"name":"label","type":"string","default":""}"#),
            Compatible,
        ),
        row(
            "recursive type gains a field without a default",
            Backward,
            &[&list("")],
            &list(r#",{"name":"label","type":"string"}"#),
            Broken("Node.label", "field `label` has no default", 1),
        ),
        // Transitive versus non-transitive histories.
        row(
            "backward checks the latest version only",
            Backward,
            &[v1, coupon_default],
            coupon,
            Compatible,
        ),
        row(
            "backward transitive checks every version",
            BackwardTransitive,
            &[v1, coupon_default],
            coupon,
            Broken(
                "OrderPlaced.coupon",
                "cannot read data written with version 1",
                1,
            ),
        ),
        row(
            "forward checks the latest version only",
            Forward,
            &[note, note_default],
            v1,
            Compatible,
        ),
        row(
            "forward transitive checks every version",
            ForwardTransitive,
            &[note, note_default],
            v1,
            Broken(
                "OrderPlaced.note",
                "version 1 cannot read data written with the new schema",
                1,
            ),
        ),
        row(
            "full checks the latest version only",
            Full,
            &[v1, coupon_default],
            coupon_default,
            Compatible,
        ),
        row(
            "full transitive checks every version",
            FullTransitive,
            &[coupon, coupon_default],
            v1,
            Broken("OrderPlaced.coupon", "version 1 cannot read", 1),
        ),
        row(
            "transitive names the newest version that breaks",
            BackwardTransitive,
            &[
                &value(r#""string""#),
                &value(r#""int""#),
                &value(r#""long""#),
            ],
            &value(r#""int""#),
            Broken("OrderPlaced.v", "where version 3 wrote `long`", 3),
        ),
        row(
            "none checks nothing",
            None,
            &[&value(r#""string""#)],
            &value(r#""int""#),
            Compatible,
        ),
        row(
            "nothing to break without a history",
            FullTransitive,
            &[],
            coupon,
            Compatible,
        ),
    ]
}

#[test]
fn the_compatibility_table() {
    let rows = table();
    assert!(
        rows.len() >= 25,
        "the acceptance asks for at least 25 pairs"
    );
    let mut failures = Vec::new();
    for row in rows {
        let parse = |text: &str| {
            AvroSchema::parse(text).unwrap_or_else(|e| panic!("{}: {text}: {e}", row.name))
        };
        let history: Vec<AvroSchema> = row.history.iter().map(|s| parse(s)).collect();
        let candidate = parse(&row.candidate);
        let verdict = compat::check(row.level, &candidate, &history);
        match (&row.expect, verdict) {
            (Compatible, Ok(())) => {}
            (Compatible, Err(e)) => {
                failures.push(format!("{}: expected compatible, got {e}", row.name))
            }
            (Broken(..), Ok(())) => {
                failures.push(format!("{}: expected broken, got compatible", row.name))
            }
            (Broken(path, says, version), Err(e)) => {
                let message = e.to_string();
                if e.path != *path || !message.contains(says) || e.version() != Some(*version) {
                    failures.push(format!(
                        "{}: expected `{path}` / `{says}` / version {version}, got `{}` / version {:?}: {message}",
                        row.name,
                        e.path,
                        e.version()
                    ));
                }
                assert!(
                    message.contains(&format!("(compatibility {})", row.level)),
                    "{message}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} row(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn can_read_names_the_sides_reader_and_writer() {
    let reader = AvroSchema::parse(&value(r#""int""#)).unwrap();
    let writer = AvroSchema::parse(&value(r#""long""#)).unwrap();
    let e = compat::can_read(&reader, &writer).unwrap_err();
    assert_eq!(
        (e.reader, e.writer, e.level, e.version()),
        (Side::Reader, Side::Writer, Option::None, Option::None)
    );
    assert_eq!(
        e.to_string(),
        "`OrderPlaced.v`: the reader reads `int` where the writer wrote `long`, and Avro does not promote `long` to `int`"
    );
    assert!(compat::can_read(&writer, &reader).is_ok());
}

#[test]
fn top_level_unions_and_primitives_resolve() {
    let parse = |s: &str| AvroSchema::parse(s).unwrap();
    assert!(compat::can_read(&parse(r#"["null","long"]"#), &parse(r#""int""#)).is_ok());
    let e = compat::can_read(&parse(r#""string""#), &parse(r#""int""#)).unwrap_err();
    assert_eq!(e.path, "(root)");
}

#[test]
fn levels_parse_and_print_as_confluent_names_them() {
    for level in Compatibility::ALL {
        let json = serde_json::to_string(&level).unwrap();
        assert_eq!(json, format!("\"{level}\""));
        assert_eq!(serde_json::from_str::<Compatibility>(&json).unwrap(), level);
        assert_eq!(
            level
                .as_str()
                .to_lowercase()
                .parse::<Compatibility>()
                .unwrap(),
            level
        );
    }
    assert_eq!(Compatibility::default(), Backward);
    let e = "SIDEWAYS".parse::<Compatibility>().unwrap_err();
    assert!(
        e.to_string().contains("use BACKWARD, BACKWARD_TRANSITIVE"),
        "{e}"
    );
}
