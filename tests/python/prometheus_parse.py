"""Parses a Prometheus exposition read on stdin with the prometheus_client library, an
independent parser, and prints what it understood as JSON.

Usage: prometheus_parse.py openmetrics|classic < exposition
The OpenMetrics parser rejects anything the format forbids (a missing `# EOF`, unsorted or
non-cumulative buckets, a bad exemplar); the classic parser reads the Prometheus text format.
"""

import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as classic_families


def main():
    mode = sys.argv[1]
    text = sys.stdin.read()
    parse = openmetrics_families if mode == "openmetrics" else classic_families
    families = []
    for family in parse(text):
        samples = []
        for sample in family.samples:
            exemplar = None
            if sample.exemplar is not None:
                exemplar = {
                    "labels": dict(sample.exemplar.labels),
                    "value": sample.exemplar.value,
                    "timestamp": (
                        None
                        if sample.exemplar.timestamp is None
                        else float(sample.exemplar.timestamp)
                    ),
                }
            samples.append(
                {
                    "name": sample.name,
                    "labels": dict(sample.labels),
                    "value": sample.value,
                    "exemplar": exemplar,
                }
            )
        families.append(
            {
                "name": family.name,
                "type": family.type,
                "unit": getattr(family, "unit", ""),
                "samples": samples,
            }
        )
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
