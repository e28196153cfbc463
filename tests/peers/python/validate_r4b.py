"""Structural FHIR validation with fhir.resources (R4B models; Pumpside emits R4, whose resources
used here have the same shape in R4B). Each argument is a JSON file with one resource, a JSON
array of resources, or a Bundle; every resource and every Bundle entry is validated. Prints one
line per resource and exits 1 if any is invalid. Used by Pumpside's Rust sync tests."""
import json
import sys

from fhir.resources.R4B import get_fhir_model_class


def resources(value):
    items = value if isinstance(value, list) else [value]
    for item in items:
        yield item
        if item.get("resourceType") == "Bundle":
            for entry in item.get("entry", []):
                if "resource" in entry:
                    yield from resources(entry["resource"])


failed = 0
checked = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    for r in resources(data):
        checked += 1
        name = f"{path}: {r.get('resourceType')}"
        try:
            get_fhir_model_class(r["resourceType"]).model_validate(r)
        except Exception as err:  # pydantic's ValidationError and unknown types alike
            failed += 1
            print(f"INVALID {name}: {err}".replace("\n", " | "))
print(f"checked {checked} resources, {failed} invalid")
sys.exit(1 if failed else 0)
