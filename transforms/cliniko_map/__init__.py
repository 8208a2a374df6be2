"""The Cliniko -> Pipedrive map: a reviewable YAML file plus the pure functions it names.

`Map.load()` reads and checks the packaged `cliniko.yaml` (or a copy); `Map.apply(stream,
record)` turns one tap-cliniko record into target-pipedrive contract records.
"""

from cliniko_map.evaluate import MapRuntimeError
from cliniko_map.mapper import Map, MapResult, default_map_path
from cliniko_map.yamlload import MapError

__all__ = ["Map", "MapError", "MapResult", "MapRuntimeError", "default_map_path"]
