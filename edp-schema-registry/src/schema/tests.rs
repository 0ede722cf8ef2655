use super::*;

fn parse(text: &str) -> AvroSchema {
    AvroSchema::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn error(text: &str) -> String {
    match AvroSchema::parse(text) {
        Ok(_) => panic!("{text} parsed, but should not"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn canonical_form_follows_the_spec() {
    // PRIMITIVES, FULLNAMES, STRIP, ORDER, WHITESPACE; a named type is written in full
    // once, then by name.
    let schema = parse(
        r#"{
          "doc": "x", "fields": [
            {"type": {"type": "int"}, "name": "a", "default": 1, "doc": "d"},
            {"name": "line", "type": {"type": "record", "name": "Line", "fields": [
               {"name": "kind", "type": {"type": "enum", "name": "Kind", "namespace": "other", "symbols": ["A", "B"]}}
            ]}},
            {"name": "again", "type": ["null", "Line", "other.Kind"]},
            {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "m", "type": {"type": "map", "values": {"type": "array", "items": "bytes"}}},
            {"name": "f", "type": {"type": "fixed", "name": "Md5", "size": 16}}
          ],
          "namespace": "n", "name": "R", "type": "record", "aliases": ["Old"]
        }"#,
    );
    assert_eq!(
        schema.canonical_form(),
        concat!(
            r#"{"name":"n.R","type":"record","fields":["#,
            r#"{"name":"a","type":"int"},"#,
            r#"{"name":"line","type":{"name":"n.Line","type":"record","fields":[{"name":"kind","type":{"name":"other.Kind","type":"enum","symbols":["A","B"]}}]}},"#,
            r#"{"name":"again","type":["null","n.Line","other.Kind"]},"#,
            r#"{"name":"ts","type":"long"},"#,
            r#"{"name":"m","type":{"type":"map","values":{"type":"array","items":"bytes"}}},"#,
            r#"{"name":"f","type":{"name":"n.Md5","type":"fixed","size":16}}]}"#
        )
    );
    // The identity keeps what a reader uses: defaults, aliases, logical types.
    assert!(
        schema
            .identity()
            .contains(r#"{"name":"a","type":"int","default":1}"#)
    );
    assert!(schema.identity().contains(r#""aliases":["n.Old"]"#));
    assert!(
        schema
            .identity()
            .contains(r#"{"type":"long","logicalType":"timestamp-millis"}"#)
    );
    assert_eq!(schema.name(), Some("n.R"));
}

#[test]
fn the_same_schema_written_differently_has_one_canonical_form() {
    let a = parse(r#"{"type":"record","name":"a.B","fields":[{"name":"x","type":"string"}]}"#);
    let b = parse(
        r#"{ "fields" : [ { "type" : { "type" : "string" }, "name" : "x", "doc": "y" } ],
             "name" : "B", "namespace" : "a", "type" : "record" }"#,
    );
    assert_eq!(a.canonical_form(), b.canonical_form());
    assert_eq!(a.identity(), b.identity());
    let with_default = parse(
        r#"{"type":"record","name":"a.B","fields":[{"name":"x","type":"string","default":""}]}"#,
    );
    assert_eq!(a.canonical_form(), with_default.canonical_form());
    assert_ne!(a.identity(), with_default.identity());
}

#[test]
fn recursive_types_parse() {
    let list = parse(
        r#"{"type":"record","name":"Node","fields":[
            {"name":"value","type":"long"},
            {"name":"next","type":["null","Node"],"default":null}]}"#,
    );
    assert_eq!(
        list.canonical_form(),
        r#"{"name":"Node","type":"record","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","Node"]}]}"#
    );
}

#[test]
fn top_level_primitives_and_unions_parse() {
    assert_eq!(parse(r#""string""#).canonical_form(), r#""string""#);
    assert_eq!(parse(r#"{"type":"bytes"}"#).canonical_form(), r#""bytes""#);
    assert_eq!(
        parse(r#"["null","int"]"#).canonical_form(),
        r#"["null","int"]"#
    );
    assert_eq!(parse(r#""string""#).name(), None);
}

#[test]
fn invalid_schemas_are_rejected_with_the_place_and_the_reason() {
    let cases = [
        ("{", "not JSON"),
        ("42", "expected a type name"),
        (r#""Missing""#, "unknown type `Missing`"),
        (r#"{"type":"record","fields":[]}"#, "needs a string `name`"),
        (r#"{"type":"record","name":"R"}"#, "needs a `fields` array"),
        (
            r#"{"type":"record","name":"1R","fields":[]}"#,
            "not a valid name",
        ),
        (
            r#"{"type":"record","name":"int","fields":[]}"#,
            "cannot be redefined",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#,
            "field `a` is defined twice",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"R","fields":[]}}]}"#,
            "`R` is defined twice",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
            "default `\"x\"` is not a value of the field's type `int`",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":3000000000}]}"#,
            "is not a value of the field's type `int`",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","string"],"default":1}]}"#,
            "is not a value",
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
            "appears twice",
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#,
            "not one of its symbols",
        ),
        (r#"{"type":"enum","name":"E"}"#, "needs a `symbols` array"),
        (
            r#"{"type":"fixed","name":"F","size":-1}"#,
            "non-negative integer `size`",
        ),
        (r#"["null",["int"]]"#, "may not contain a union"),
        (r#"["string","string"]"#, "two branches of type `string`"),
        (r#"{"type":"array"}"#, "needs `items`"),
        (r#"{"type":"map","values":"nope"}"#, "unknown type `nope`"),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#,
            "needs a `type`",
        ),
    ];
    for (text, expected) in cases {
        let message = error(text);
        assert!(
            message.contains(expected),
            "{text}: `{message}` lacks `{expected}`"
        );
    }
    let nested = error(
        r#"{"type":"record","name":"R","fields":[{"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"x","type":"Nope"}]}}]}"#,
    );
    assert!(nested.contains("at `R.inner.I.x`"), "{nested}");
}

#[test]
fn defaults_of_every_kind_are_checked() {
    let ok = parse(
        r#"{"type":"record","name":"R","fields":[
          {"name":"b","type":"boolean","default":true},
          {"name":"l","type":"long","default":-5},
          {"name":"d","type":"double","default":"NaN"},
          {"name":"s","type":"bytes","default":"\u00ff"},
          {"name":"a","type":{"type":"array","items":"int"},"default":[1,2]},
          {"name":"m","type":{"type":"map","values":"string"},"default":{"k":"v"}},
          {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]},"default":"Y"},
          {"name":"f","type":{"type":"fixed","name":"F","size":2},"default":"ab"},
          {"name":"r","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"},{"name":"y","type":"int","default":0}]},"default":{"x":1}},
          {"name":"u","type":["null","string"],"default":null}
        ]}"#,
    );
    assert_eq!(ok.name(), Some("R"));
    assert!(
        error(r#"{"type":"record","name":"R","fields":[{"name":"r","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]},"default":{}}]}"#)
            .contains("is not a value")
    );
    assert!(
        error(r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":2},"default":"abc"}]}"#)
            .contains("is not a value")
    );
}

#[test]
fn paths_join_with_dots_except_for_containers() {
    let segments: Vec<String> = ["OrderPlaced", "items", "[]", "sku"]
        .map(String::from)
        .into();
    assert_eq!(join_path(&segments), "OrderPlaced.items[].sku");
    assert_eq!(join_path(&["[]".to_owned(), "x".to_owned()]), "[].x");
}
