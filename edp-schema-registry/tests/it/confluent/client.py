"""Drives edp-schema-registry with Confluent's own Python client (confluent-kafka).

Usage: python client.py URL
Prints one line per step; exits non-zero (with a traceback) on the first surprise.
"""

import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

V1 = json.dumps({
    "type": "record", "name": "OrderPlaced", "namespace": "ecommerce.order",
    "fields": [{"name": "order_id", "type": "string"},
               {"name": "total_cents", "type": "long"}],
})
V2 = json.dumps({
    "type": "record", "name": "OrderPlaced", "namespace": "ecommerce.order",
    "fields": [{"name": "order_id", "type": "string"},
               {"name": "total_cents", "type": "long"},
               {"name": "note", "type": "string", "default": ""}],
})
BREAKS = json.dumps({
    "type": "record", "name": "OrderPlaced", "namespace": "ecommerce.order",
    "fields": [{"name": "order_id", "type": "string"},
               {"name": "total_cents", "type": "long"},
               {"name": "coupon", "type": "string"}],
})


def fresh(url):
    # A client per step where its cache would hide the server's answer.
    return SchemaRegistryClient({"url": url})


def main(url):
    client = fresh(url)
    first = client.register_schema("orders-value", Schema(V1, "AVRO"))
    assert first == 1, first
    print("registered", first)
    assert fresh(url).register_schema("archive-value", Schema(V1, "AVRO")) == first
    print("same schema, same id under another subject")

    fetched = fresh(url).get_schema(first)
    assert json.loads(fetched.schema_str) == json.loads(V1), fetched
    assert fetched.schema_type == "AVRO", fetched.schema_type
    print("get_schema", fetched.schema_type)

    second = client.register_schema("orders-value", Schema(V2, "AVRO"))
    latest = fresh(url).get_latest_version("orders-value")
    assert (latest.schema_id, latest.version, latest.subject) == (second, 2, "orders-value"), latest
    assert fresh(url).get_version("orders-value", 1).schema_id == first
    assert fresh(url).get_versions("orders-value") == [1, 2]
    assert sorted(fresh(url).get_subjects()) == ["archive-value", "orders-value"]
    found = fresh(url).lookup_schema("orders-value", Schema(V1, "AVRO"))
    assert (found.schema_id, found.version) == (first, 1), found
    print("versions, subjects, lookup")

    assert fresh(url).set_compatibility("orders-value", "BACKWARD_TRANSITIVE") == {"compatibility": "BACKWARD_TRANSITIVE"}
    assert fresh(url).get_compatibility("orders-value") == "BACKWARD_TRANSITIVE"
    assert fresh(url).get_compatibility() == "BACKWARD"
    print("compatibility config")

    assert fresh(url).test_compatibility("orders-value", Schema(V2, "AVRO")) is True
    assert fresh(url).test_compatibility("orders-value", Schema(BREAKS, "AVRO")) is False
    try:
        fresh(url).register_schema("orders-value", Schema(BREAKS, "AVRO"))
        raise AssertionError("an incompatible schema was registered")
    except SchemaRegistryError as e:
        assert (e.http_status_code, e.error_code) == (409, 409), e
        assert "OrderPlaced.coupon" in e.error_message, e.error_message
        print("409:", e.error_message)
    try:
        fresh(url).get_latest_version("nobody")
        raise AssertionError("a missing subject was found")
    except SchemaRegistryError as e:
        assert (e.http_status_code, e.error_code) == (404, 40401), e
        print("40401:", e.error_message)

    # The serializers: register on first use, Confluent wire format, read back by id.
    serializer = AvroSerializer(fresh(url), V2)
    context = SerializationContext("payments", MessageField.VALUE)
    data = serializer({"order_id": "o-1", "total_cents": 1200, "note": "gift"}, context)
    assert data[0] == 0, data  # the magic byte, then the schema id
    schema_id = int.from_bytes(data[1:5], "big")
    assert schema_id == second, schema_id
    assert fresh(url).get_latest_version("payments-value").schema_id == second
    back = AvroDeserializer(fresh(url))(data, context)
    assert back == {"order_id": "o-1", "total_cents": 1200, "note": "gift"}, back
    print("serializer round trip with schema id", schema_id)

    assert fresh(url).delete_subject("archive-value") == [1]
    assert fresh(url).get_schema(first).schema_str == V1  # ids outlive their subjects
    print("delete_subject")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
